package source

import (
	"context"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	v1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/validation/field"
	"k8s.io/utils/ptr"
)

func TestParseConfigMapsAndSecrets(t *testing.T) {
	const keyMsg = `a valid config key must consist of alphanumeric characters, '-', '_' or '.' (e.g. 'key.name',  or 'KEY_NAME',  or 'key-name', regex used for validation is '[-._a-zA-Z0-9]+')`
	for _, tc := range []struct {
		name     string
		manifest string
		// cms and secrets are "namespace/name k=v,k=v" (keys sorted);
		// secrets carry their type first.
		cms, secrets []string
		errs         []string // without the "f.yaml: " prefix
	}{
		{name: "configmap",
			manifest: "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: cfg}\ndata: {mode: fast}\nbinaryData: {blob: AAE=}\n",
			cms:      []string{"default/cfg blob=\x00\x01,mode=fast"}},
		{name: "secret: stringData over data, type Opaque",
			manifest: "apiVersion: v1\nkind: Secret\nmetadata: {name: s, namespace: lab}\ndata: {user: YWRtaW4=, pass: b2xk}\nstringData: {pass: new}\n",
			secrets:  []string{"lab/s Opaque pass=new,user=admin"}},
		{name: "one broken object leaves the others",
			manifest: "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: bad}\ndata: {'a b': x}\n---\napiVersion: v1\nkind: ConfigMap\nmetadata: {name: good}\ndata: {a: x}\n---\napiVersion: v1\nkind: Secret\nmetadata: {name: s}\ndata: {a: '!!'}\n",
			cms:      []string{"default/good a=x"},
			errs: []string{
				`document 1: ConfigMap "bad" is invalid: data[a b]: Invalid value: "a b": ` + keyMsg,
				`document 3: illegal base64 data at input byte 0`},
		},
		{name: "key in data and binaryData",
			manifest: "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: c}\ndata: {a: x}\nbinaryData: {a: AA==}\n",
			errs:     []string{`ConfigMap "c" is invalid: data[a]: Invalid value: "a": duplicate of key present in binaryData`}},
		{name: "unknown field",
			manifest: "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: c}\ndatta: {a: x}\n",
			errs:     []string{`strict decoding error: unknown field "datta"`}},
		{name: "name",
			manifest: "apiVersion: v1\nkind: Secret\nmetadata: {name: S_1}\n",
			errs:     []string{`Secret "S_1" is invalid: metadata.name: Invalid value: "S_1": ` + dns1123SubdomainMsg}},
		{name: "tls secret needs its keys",
			manifest: "apiVersion: v1\nkind: Secret\nmetadata: {name: t}\ntype: kubernetes.io/tls\nstringData: {tls.crt: x}\n",
			errs:     []string{`Secret "t" is invalid: data[tls.key]: Required value`}},
		{name: "dockerconfigjson must be JSON",
			manifest: "apiVersion: v1\nkind: Secret\nmetadata: {name: d}\ntype: kubernetes.io/dockerconfigjson\nstringData: {.dockerconfigjson: nope}\n",
			errs:     []string{`Secret "d" is invalid: data[.dockerconfigjson]: Invalid value: "<secret contents redacted>": invalid character`}},
		{name: "too large",
			manifest: "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: big}\ndata: {a: " + strings.Repeat("x", MaxConfigSize+1) + "}\n",
			errs:     []string{`ConfigMap "big" is invalid: []: Too long: may not be more than 1048576 bytes`}},
		{name: "duplicate in a file",
			manifest: "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: c}\n---\napiVersion: v1\nkind: ConfigMap\nmetadata: {name: c}\n",
			cms:      []string{"default/c "},
			errs:     []string{`document 2: duplicate configmap "default/c": already defined in f.yaml (document 1)`}},
		{name: "wrong version",
			manifest: "apiVersion: v2\nkind: ConfigMap\nmetadata: {name: c}\n",
			errs:     []string{`no matches for kind "ConfigMap" in version "v2"`}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			objs := Parse("f.yaml", []byte(tc.manifest), "node1")
			var cms, secrets []string
			for _, cm := range objs.ConfigMaps {
				var kv []string
				for _, k := range sortedKeys(cm.Data) {
					kv = append(kv, k+"="+cm.Data[k])
				}
				for _, k := range sortedKeys(cm.BinaryData) {
					kv = append(kv, k+"="+string(cm.BinaryData[k]))
				}
				slices.Sort(kv)
				cms = append(cms, cm.Namespace+"/"+cm.Name+" "+strings.Join(kv, ","))
				if cm.UID == "" || cm.Kind != "ConfigMap" {
					t.Errorf("configmap %s: UID %q kind %q", cm.Name, cm.UID, cm.Kind)
				}
			}
			for _, s := range objs.Secrets {
				var kv []string
				for _, k := range sortedKeys(s.Data) {
					kv = append(kv, k+"="+string(s.Data[k]))
				}
				secrets = append(secrets, s.Namespace+"/"+s.Name+" "+string(s.Type)+" "+strings.Join(kv, ","))
				if s.StringData != nil {
					t.Errorf("secret %s keeps stringData", s.Name)
				}
			}
			if !slices.Equal(cms, tc.cms) {
				t.Errorf("configmaps %q, want %q", cms, tc.cms)
			}
			if !slices.Equal(secrets, tc.secrets) {
				t.Errorf("secrets %q, want %q", secrets, tc.secrets)
			}
			if len(objs.Errors) != len(tc.errs) {
				t.Fatalf("errors %q, want %q", objs.Errors, tc.errs)
			}
			for i, e := range objs.Errors {
				if e.File != "f.yaml" || !strings.HasPrefix(e.Err.Error(), tc.errs[i]) {
					t.Errorf("error %d: %q, want prefix %q", i, e.Error(), tc.errs[i])
				}
			}
		})
	}
}

func TestConfigUpdateImmutable(t *testing.T) {
	cm := func(immutable *bool, v string) *v1.ConfigMap {
		return &v1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: "c", Namespace: "default"}, Immutable: immutable, Data: map[string]string{"a": v}}
	}
	sec := func(immutable *bool, typ v1.SecretType, v string) *v1.Secret {
		return &v1.Secret{ObjectMeta: metav1.ObjectMeta{Name: "s", Namespace: "default"}, Immutable: immutable, Type: typ, Data: map[string][]byte{"a": []byte(v)}}
	}
	for _, tc := range []struct {
		name string
		got  []string
		want []string
	}{
		{"mutable configmap changes", fieldErrStrings(ValidateConfigMapUpdate(cm(nil, "2"), cm(nil, "1"))), nil},
		{"made immutable", fieldErrStrings(ValidateConfigMapUpdate(cm(ptr.To(true), "1"), cm(nil, "1"))), nil},
		{"immutable configmap keeps its data", fieldErrStrings(ValidateConfigMapUpdate(cm(ptr.To(true), "2"), cm(ptr.To(true), "1"))),
			[]string{"data: Forbidden: field is immutable when `immutable` is set"}},
		{"immutable stays", fieldErrStrings(ValidateConfigMapUpdate(cm(ptr.To(false), "1"), cm(ptr.To(true), "1"))),
			[]string{"immutable: Forbidden: field is immutable when `immutable` is set"}},
		{"immutable secret", fieldErrStrings(ValidateSecretUpdate(sec(ptr.To(true), v1.SecretTypeOpaque, "2"), sec(ptr.To(true), v1.SecretTypeOpaque, "1"))),
			[]string{"data: Forbidden: field is immutable when `immutable` is set"}},
		{"secret type", fieldErrStrings(ValidateSecretUpdate(sec(nil, "x/y", "1"), sec(nil, v1.SecretTypeOpaque, "1"))),
			[]string{`type: Invalid value: "x/y": field is immutable`}},
	} {
		if !slices.Equal(tc.got, tc.want) {
			t.Errorf("%s: %q, want %q", tc.name, tc.got, tc.want)
		}
	}
}

func fieldErrStrings(errs field.ErrorList) []string {
	var out []string
	for _, e := range errs {
		out = append(out, e.Error())
	}
	return out
}

// Across files, the first file in sorted order holds a name (the others are
// reported); an edit keeps the UID and the first-seen creationTimestamp and
// is a new snapshot; the store hands the snapshot's objects out.
func TestConfigsInSnapshots(t *testing.T) {
	dir := t.TempDir()
	s, clock := newTestSource(t, dir)
	write := func(name, content string) {
		t.Helper()
		if err := os.WriteFile(filepath.Join(dir, name), []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	out := make(chan Update, 10)
	step := func() Update {
		t.Helper()
		s.rescan(context.Background())
		if err := s.emit(context.Background(), out); err != nil {
			t.Fatal(err)
		}
		return s.snapshot()
	}
	write("a.yaml", "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: cfg}\ndata: {k: a}\n")
	write("b.yaml", "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: cfg}\ndata: {k: b}\n---\napiVersion: v1\nkind: Secret\nmetadata: {name: s, namespace: lab}\nstringData: {k: v}\n")
	u := step()
	if len(u.ConfigMaps) != 1 || u.ConfigMaps[0].Data["k"] != "a" || len(u.Secrets) != 1 || string(u.Secrets[0].Data["k"]) != "v" {
		t.Fatalf("configmaps %v secrets %v", u.ConfigMaps, u.Secrets)
	}
	if got := errStrings(u.Errors); !slices.Equal(got, []string{filepath.Join(dir, "b.yaml") + `: duplicate configmap "default/cfg": already defined in ` + filepath.Join(dir, "a.yaml")}) {
		t.Errorf("errors %q", got)
	}
	uid, created := u.ConfigMaps[0].UID, u.ConfigMaps[0].CreationTimestamp

	store := NewConfigStore()
	changed := store.Changed()
	if !store.Set(u.ConfigMaps, u.Secrets) {
		t.Error("first Set reported no change")
	}
	select {
	case <-changed:
	default:
		t.Error("Changed not closed by a change")
	}
	if store.Set(u.ConfigMaps, u.Secrets) {
		t.Error("the same content reported as a change")
	}
	if sec, ok := store.Secret("lab", "s"); !ok || string(sec.Data["k"]) != "v" {
		t.Errorf("Secret lab/s: %v %v", sec, ok)
	}
	if _, ok := store.ConfigMap("lab", "cfg"); ok {
		t.Error("a ConfigMap found in another namespace")
	}
	if got := store.ListSecrets("default"); len(got) != 0 {
		t.Errorf("secrets of default: %v", got)
	}

	*clock = clock.Add(time.Minute)
	write("a.yaml", "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: cfg}\ndata: {k: a2}\n")
	sent := len(out)
	u = step()
	if len(out) != sent+1 {
		t.Error("an edited ConfigMap made no new snapshot")
	}
	cm := u.ConfigMaps[0]
	if cm.Data["k"] != "a2" || cm.UID != uid || !cm.CreationTimestamp.Equal(&created) {
		t.Errorf("after the edit: data %v uid %s (was %s) created %v (was %v)", cm.Data, cm.UID, uid, cm.CreationTimestamp, created)
	}
	if !store.Set(u.ConfigMaps, u.Secrets) {
		t.Error("an edit not reported as a change")
	}
	if got, _ := store.ConfigMap("default", "cfg"); got.Data["k"] != "a2" {
		t.Errorf("store has %v", got.Data)
	}
}

// A hand edit that the API server would refuse as an update (an immutable
// object's data, a Secret's type) keeps the last accepted object and names
// the file and field; removing the file and creating it again replaces it.
func TestImmutableConfigEditKeepsLastVersion(t *testing.T) {
	for _, tc := range []struct {
		name, first, edited, field string
		value                      func(Update) string
	}{
		{"immutable configmap data", "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: c}\nimmutable: true\ndata: {k: one}\n",
			"apiVersion: v1\nkind: ConfigMap\nmetadata: {name: c}\nimmutable: true\ndata: {k: two}\n", "data",
			func(u Update) string { return u.ConfigMaps[0].Data["k"] }},
		{"immutable configmap made mutable", "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: c}\nimmutable: true\ndata: {k: one}\n",
			"apiVersion: v1\nkind: ConfigMap\nmetadata: {name: c}\ndata: {k: two}\n", "immutable",
			func(u Update) string { return u.ConfigMaps[0].Data["k"] }},
		{"immutable secret data", "apiVersion: v1\nkind: Secret\nmetadata: {name: c}\nimmutable: true\nstringData: {k: one}\n",
			"apiVersion: v1\nkind: Secret\nmetadata: {name: c}\nimmutable: true\nstringData: {k: two}\n", "data",
			func(u Update) string { return string(u.Secrets[0].Data["k"]) }},
		{"secret type", "apiVersion: v1\nkind: Secret\nmetadata: {name: c}\nstringData: {k: one}\n",
			"apiVersion: v1\nkind: Secret\nmetadata: {name: c}\ntype: example.com/x\nstringData: {k: two}\n", "type",
			func(u Update) string { return string(u.Secrets[0].Data["k"]) }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			s, _ := newTestSource(t, dir)
			path := filepath.Join(dir, "c.yaml")
			step := func(content string) Update {
				t.Helper()
				if content == "" {
					if err := os.Remove(path); err != nil {
						t.Fatal(err)
					}
				} else if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
					t.Fatal(err)
				}
				s.rescan(context.Background())
				return s.snapshot()
			}
			step(tc.first)
			u := step(tc.edited)
			if got := tc.value(u); got != "one" {
				t.Errorf("after the refused edit the object has %q, want the last accepted \"one\"", got)
			}
			named := false
			for _, e := range u.Errors {
				named = named || e.File == path && strings.Contains(e.Error(), ` "c" is invalid: `+tc.field+`: `)
			}
			if !named {
				t.Errorf("errors %q, want one for %s naming %s", errStrings(u.Errors), path, tc.field)
			}
			if u := step(tc.edited); tc.value(u) != "one" {
				t.Error("a second look at the same edit accepted it")
			}
			step("")
			if u := step(tc.edited); tc.value(u) != "two" || len(u.Errors) != 0 {
				t.Errorf("recreated: %q, errors %q", tc.value(u), errStrings(u.Errors))
			}
		})
	}
}
