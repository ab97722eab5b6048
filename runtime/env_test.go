package runtime

import (
	"slices"
	"testing"

	v1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

func TestContainerEnv(t *testing.T) {
	pod := &v1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: "web", Namespace: "lab", UID: "u-1",
			Labels: map[string]string{"app": "web"}, Annotations: map[string]string{"note": "hi"}},
		Spec: v1.PodSpec{ServiceAccountName: "sa"},
	}
	opt := true
	c := &v1.Container{
		Name: "c",
		Resources: v1.ResourceRequirements{
			Limits:   v1.ResourceList{v1.ResourceMemory: resource.MustParse("64Mi")},
			Requests: v1.ResourceList{v1.ResourceCPU: resource.MustParse("250m")},
		},
		Env: []v1.EnvVar{
			{Name: "GREETING", Value: "hello"},
			{Name: "MSG", Value: "$(GREETING) $(LATER) $$(GREETING)"},
			{Name: "LATER", Value: "late"},
			{Name: "POD", ValueFrom: &v1.EnvVarSource{FieldRef: &v1.ObjectFieldSelector{FieldPath: "metadata.name"}}},
			{Name: "NS", ValueFrom: &v1.EnvVarSource{FieldRef: &v1.ObjectFieldSelector{FieldPath: "metadata.namespace"}}},
			{Name: "UID", ValueFrom: &v1.EnvVarSource{FieldRef: &v1.ObjectFieldSelector{FieldPath: "metadata.uid"}}},
			{Name: "IP", ValueFrom: &v1.EnvVarSource{FieldRef: &v1.ObjectFieldSelector{FieldPath: "status.podIP"}}},
			{Name: "NODE", ValueFrom: &v1.EnvVarSource{FieldRef: &v1.ObjectFieldSelector{FieldPath: "spec.nodeName"}}},
			{Name: "HOST", ValueFrom: &v1.EnvVarSource{FieldRef: &v1.ObjectFieldSelector{FieldPath: "status.hostIP"}}},
			{Name: "APP", ValueFrom: &v1.EnvVarSource{FieldRef: &v1.ObjectFieldSelector{FieldPath: "metadata.labels['app']"}}},
			{Name: "NOTE", ValueFrom: &v1.EnvVarSource{FieldRef: &v1.ObjectFieldSelector{FieldPath: "metadata.annotations['note']"}}},
			{Name: "SA", ValueFrom: &v1.EnvVarSource{FieldRef: &v1.ObjectFieldSelector{FieldPath: "spec.serviceAccountName"}}},
			{Name: "MEM", ValueFrom: &v1.EnvVarSource{ResourceFieldRef: &v1.ResourceFieldSelector{Resource: "limits.memory", Divisor: resource.MustParse("1Mi")}}},
			{Name: "CPU", ValueFrom: &v1.EnvVarSource{ResourceFieldRef: &v1.ResourceFieldSelector{Resource: "requests.cpu"}}},
			{Name: "CPULIM", ValueFrom: &v1.EnvVarSource{ResourceFieldRef: &v1.ResourceFieldSelector{Resource: "limits.cpu"}}},
			{Name: "OPT", ValueFrom: &v1.EnvVarSource{ConfigMapKeyRef: &v1.ConfigMapKeySelector{Key: "k", Optional: &opt}}},
			{Name: "VERBATIM", ValueFrom: &v1.EnvVarSource{FieldRef: &v1.ObjectFieldSelector{FieldPath: "metadata.annotations['missing']"}}},
			{Name: "GREETING", Value: "again"},
		},
	}
	got, err := containerEnv(pod, c, envContext{NodeName: "node1", NodeIP: "192.0.2.1", PodIPs: []string{"10.1.0.5"},
		NodeCPU: resource.MustParse("2"), NodeMemory: resource.MustParse("1Gi")}, nil)
	if err != nil {
		t.Fatal(err)
	}
	want := []string{
		"GREETING=again",
		"MSG=hello $(LATER) $(GREETING)",
		"LATER=late",
		"POD=web", "NS=lab", "UID=u-1", "IP=10.1.0.5", "NODE=node1", "HOST=192.0.2.1", "APP=web", "NOTE=hi", "SA=sa",
		"MEM=64", "CPU=1", "CPULIM=2",
		"VERBATIM=",
	}
	if !slices.Equal(got, want) {
		t.Errorf("env\n got %q\nwant %q", got, want)
	}
}

// The Services' variables come after the container's own, which take
// precedence and may refer to them.
func TestContainerEnvServices(t *testing.T) {
	c := &v1.Container{Name: "c", Env: []v1.EnvVar{
		{Name: "API", Value: "https://$(KUBERNETES_SERVICE_HOST):$(KUBERNETES_SERVICE_PORT)"},
		{Name: "KUBERNETES_SERVICE_PORT", Value: "mine"},
	}}
	svc := []v1.EnvVar{{Name: "KUBERNETES_SERVICE_HOST", Value: "10.96.0.1"}, {Name: "KUBERNETES_SERVICE_PORT", Value: "443"},
		{Name: "KUBERNETES_PORT", Value: "tcp://10.96.0.1:443"}}
	got, err := containerEnv(&v1.Pod{}, c, envContext{}, svc)
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"API=https://10.96.0.1:443", "KUBERNETES_SERVICE_PORT=mine", "KUBERNETES_SERVICE_HOST=10.96.0.1", "KUBERNETES_PORT=tcp://10.96.0.1:443"}
	if !slices.Equal(got, want) {
		t.Errorf("env\n got %q\nwant %q", got, want)
	}
}

func TestContainerEnvErrors(t *testing.T) {
	pod := &v1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "p"}}
	for name, c := range map[string]*v1.Container{
		"configmap": {Name: "c", Env: []v1.EnvVar{{Name: "X", ValueFrom: &v1.EnvVarSource{ConfigMapKeyRef: &v1.ConfigMapKeySelector{Key: "k"}}}}},
		"secret":    {Name: "c", Env: []v1.EnvVar{{Name: "X", ValueFrom: &v1.EnvVarSource{SecretKeyRef: &v1.SecretKeySelector{Key: "k"}}}}},
		"field":     {Name: "c", Env: []v1.EnvVar{{Name: "X", ValueFrom: &v1.EnvVarSource{FieldRef: &v1.ObjectFieldSelector{FieldPath: "spec.bogus"}}}}},
		"envFrom":   {Name: "c", EnvFrom: []v1.EnvFromSource{{SecretRef: &v1.SecretEnvSource{}}}},
	} {
		if _, err := containerEnv(pod, c, envContext{}, nil); err == nil {
			t.Errorf("%s: expected an error", name)
		}
	}
}

func TestProcessArgs(t *testing.T) {
	env := []string{"WHO=world", "N=3"}
	entry, cmd := []string{"/entry"}, []string{"default", "cmd"}
	for _, tc := range []struct {
		name          string
		command, args []string
		entry, cmd    []string
		want          []string
		wantErr       bool
	}{
		{name: "image only", entry: entry, cmd: cmd, want: []string{"/entry", "default", "cmd"}},
		{name: "command drops image cmd", command: []string{"sh", "-c"}, entry: entry, cmd: cmd, want: []string{"sh", "-c"}},
		{name: "command and args", command: []string{"echo"}, args: []string{"hello $(WHO)", "$$(WHO)", "$(NOPE)"}, entry: entry, cmd: cmd,
			want: []string{"echo", "hello world", "$(WHO)", "$(NOPE)"}},
		{name: "args replace cmd", args: []string{"x$(N)"}, entry: entry, cmd: cmd, want: []string{"/entry", "x3"}},
		{name: "args without entrypoint", args: []string{"ls"}, cmd: cmd, want: []string{"ls"}},
		{name: "nothing", wantErr: true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := processArgs(tc.entry, tc.cmd, &v1.Container{Name: "c", Command: tc.command, Args: tc.args}, env)
			if (err != nil) != tc.wantErr {
				t.Fatalf("err = %v", err)
			}
			if !slices.Equal(got, tc.want) {
				t.Errorf("got %q, want %q", got, tc.want)
			}
		})
	}
}

// fakeObjects is a ConfigObjects over maps keyed by namespace/name.
type fakeObjects struct {
	cms     map[string]*v1.ConfigMap
	secrets map[string]*v1.Secret
}

func (f fakeObjects) ConfigMap(ns, name string) (*v1.ConfigMap, bool) {
	cm, ok := f.cms[ns+"/"+name]
	return cm, ok
}

func (f fakeObjects) Secret(ns, name string) (*v1.Secret, bool) {
	s, ok := f.secrets[ns+"/"+name]
	return s, ok
}

func TestContainerEnvConfigRefs(t *testing.T) {
	pod := &v1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "p", Namespace: "lab"}}
	objs := fakeObjects{
		cms: map[string]*v1.ConfigMap{
			"lab/cfg":   {Data: map[string]string{"mode": "fast", "level": "3"}},
			"lab/other": {Data: map[string]string{"mode": "slow"}},
			"lab/odd":   {Data: map[string]string{"ok": "1", "=bad": "2"}},
		},
		secrets: map[string]*v1.Secret{"lab/creds": {Data: map[string][]byte{"user": []byte("admin"), "pass": []byte("s3cret")}}},
	}
	yes, no := true, false
	cmKey := func(name, key string, opt *bool) *v1.EnvVarSource {
		return &v1.EnvVarSource{ConfigMapKeyRef: &v1.ConfigMapKeySelector{LocalObjectReference: v1.LocalObjectReference{Name: name}, Key: key, Optional: opt}}
	}
	secKey := func(name, key string, opt *bool) *v1.EnvVarSource {
		return &v1.EnvVarSource{SecretKeyRef: &v1.SecretKeySelector{LocalObjectReference: v1.LocalObjectReference{Name: name}, Key: key, Optional: opt}}
	}
	cmFrom := func(name, prefix string, opt *bool) v1.EnvFromSource {
		return v1.EnvFromSource{Prefix: prefix, ConfigMapRef: &v1.ConfigMapEnvSource{LocalObjectReference: v1.LocalObjectReference{Name: name}, Optional: opt}}
	}
	secFrom := func(name, prefix string, opt *bool) v1.EnvFromSource {
		return v1.EnvFromSource{Prefix: prefix, SecretRef: &v1.SecretEnvSource{LocalObjectReference: v1.LocalObjectReference{Name: name}, Optional: opt}}
	}
	for _, tc := range []struct {
		name     string
		env      []v1.EnvVar
		envFrom  []v1.EnvFromSource
		want     []string
		wantErr  string
		wantWarn string
	}{
		{name: "configMapKeyRef", env: []v1.EnvVar{{Name: "MODE", ValueFrom: cmKey("cfg", "mode", nil)}}, want: []string{"MODE=fast"}},
		{name: "secretKeyRef", env: []v1.EnvVar{{Name: "PASS", ValueFrom: secKey("creds", "pass", &no)}}, want: []string{"PASS=s3cret"}},
		{name: "missing configmap", env: []v1.EnvVar{{Name: "X", ValueFrom: cmKey("nope", "k", nil)}}, wantErr: `configmap "nope" not found`},
		{name: "missing secret", env: []v1.EnvVar{{Name: "X", ValueFrom: secKey("nope", "k", &no)}}, wantErr: `secret "nope" not found`},
		{name: "missing key", env: []v1.EnvVar{{Name: "X", ValueFrom: cmKey("cfg", "k", nil)}}, wantErr: `couldn't find key k in ConfigMap lab/cfg`},
		{name: "missing secret key", env: []v1.EnvVar{{Name: "X", ValueFrom: secKey("creds", "k", nil)}}, wantErr: `couldn't find key k in Secret lab/creds`},
		{name: "optional missing configmap and key", env: []v1.EnvVar{
			{Name: "A", ValueFrom: cmKey("nope", "k", &yes)}, {Name: "B", ValueFrom: cmKey("cfg", "k", &yes)},
			{Name: "C", ValueFrom: secKey("nope", "k", &yes)}, {Name: "D", Value: "d"}}, want: []string{"D=d"}},
		{name: "envFrom with prefix, later source wins, env wins over both",
			envFrom: []v1.EnvFromSource{cmFrom("cfg", "", nil), cmFrom("other", "", nil), secFrom("creds", "DB_", nil)},
			env:     []v1.EnvVar{{Name: "level", Value: "9"}, {Name: "URL", Value: "$(DB_user)@$(mode)"}},
			want:    []string{"level=9", "mode=slow", "DB_pass=s3cret", "DB_user=admin", "URL=admin@slow"}},
		{name: "envFrom missing", envFrom: []v1.EnvFromSource{cmFrom("nope", "", nil)}, wantErr: `configmap "nope" not found`},
		{name: "envFrom missing secret", envFrom: []v1.EnvFromSource{secFrom("nope", "", &no)}, wantErr: `secret "nope" not found`},
		{name: "envFrom optional missing", envFrom: []v1.EnvFromSource{cmFrom("nope", "", &yes), secFrom("nope", "", &yes)}, want: []string{}},
		{name: "envFrom invalid names skipped with an event", envFrom: []v1.EnvFromSource{cmFrom("odd", "", nil)}, want: []string{"ok=1"},
			wantWarn: "InvalidEnvironmentVariableNames: Keys [=bad] from the EnvFrom configMap lab/odd were skipped since they are considered invalid environment variable names."},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var warned []string
			ec := envContext{Objects: objs, Warn: func(reason, msg string) { warned = append(warned, reason+": "+msg) }}
			got, err := containerEnv(pod, &v1.Container{Name: "c", Env: tc.env, EnvFrom: tc.envFrom}, ec, nil)
			if tc.wantErr != "" {
				if err == nil || err.Error() != tc.wantErr {
					t.Fatalf("err = %v, want %q", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if !slices.Equal(got, tc.want) {
				t.Errorf("env\n got %q\nwant %q", got, tc.want)
			}
			var wantWarn []string
			if tc.wantWarn != "" {
				wantWarn = []string{tc.wantWarn}
			}
			if !slices.Equal(warned, wantWarn) {
				t.Errorf("warnings %q, want %q", warned, wantWarn)
			}
		})
	}
}
