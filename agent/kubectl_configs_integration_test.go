//go:build integration

package agent

import (
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"
)

// ConfigMaps and Secrets through the real kubectl: create (from literals),
// apply -f, get with the API server's columns (NAME DATA AGE; NAME TYPE DATA
// AGE), describe (a Secret's values as sizes only), patch (reaching a
// running pod's volume), the API server's refusals (immutable, invalid key)
// and delete, every write a file of the manifests directory.
func TestKubectlConfigMapsAndSecrets(t *testing.T) {
	_, a, k := startWithKubectl(t)

	if out := k.ok("create", "configmap", "app", "--from-literal=mode=fast", "--from-literal=level=3"); out != "configmap/app created\n" {
		t.Errorf("create configmap: %q", out)
	}
	if out := k.ok("create", "secret", "generic", "db", "--from-literal=user=admin", "--from-literal=pass=s3cret"); out != "secret/db created\n" {
		t.Errorf("create secret: %q", out)
	}
	out, errOut, code := k.run("apiVersion: v1\nkind: ConfigMap\nmetadata: {name: web}\ndata: {index.html: hi}\nbinaryData: {logo: AAE=}\n", "apply", "-f", "-")
	if code != 0 || out != "configmap/web created\n" {
		t.Errorf("apply: %d %q %q", code, out, errOut)
	}
	for name, mode := range map[string]os.FileMode{"configmap_default_app.yaml": 0o644, "secret_default_db.yaml": 0o600, "configmap_default_web.yaml": 0o644} {
		if m := fileMode(t, filepath.Join(a.cfg.Manifests, name)); m != mode {
			t.Errorf("%s: mode %o, want %o", name, m, mode)
		}
	}

	// Each write is visible once the agent has read the file back.
	var got string
	eventually(t, "configmap/web", func() bool { got = k.ok("get", "cm,secret"); return strings.Contains(got, "configmap/web") })
	for _, want := range []string{
		`(?m)^NAME\s+DATA\s+AGE$`, `(?m)^configmap/app\s+2\s+\S+$`, `(?m)^configmap/web\s+2\s+\S+$`, `(?m)^configmap/kube-root-ca\.crt\s+1\s+\S+$`,
		`(?m)^NAME\s+TYPE\s+DATA\s+AGE$`, `(?m)^secret/db\s+Opaque\s+2\s+\S+$`,
	} {
		if !regexp.MustCompile(want).MatchString(got) {
			t.Errorf("get cm,secret lacks %s:\n%s", want, got)
		}
	}
	if got := k.ok("get", "configmap", "app", "-o", "jsonpath={.data.mode}"); got != "fast" {
		t.Errorf("jsonpath: %q", got)
	}
	desc := k.ok("describe", "secret", "db")
	if !regexp.MustCompile(`(?m)^pass:\s+6 bytes$`).MatchString(desc) || !regexp.MustCompile(`(?m)^user:\s+5 bytes$`).MatchString(desc) ||
		strings.Contains(desc, "s3cret") {
		t.Errorf("describe secret:\n%s", desc)
	}

	// A pod reading both; a patch of the ConfigMap reaches its volume.
	out, errOut, code = k.run(`apiVersion: v1
kind: Pod
metadata: {name: reader}
spec:
  terminationGracePeriodSeconds: 1
  volumes: [{name: cfg, configMap: {name: app}}]
  containers:
  - name: c
    image: busybox
    command: [sleep, '3600']
    envFrom: [{secretRef: {name: db}}]
    volumeMounts: [{name: cfg, mountPath: /cfg}]
`, "apply", "-f", "-")
	if code != 0 {
		t.Fatalf("apply pod: %q %q", out, errOut)
	}
	a.waitPod("reader", "Running", 2*time.Minute, statusIs("Running"))
	if got := k.ok("exec", "reader", "--", "sh", "-c", "echo $user; cat /cfg/mode"); got != "admin\nfast" {
		t.Errorf("exec: %q", got)
	}
	if out := k.ok("patch", "configmap", "app", "-p", `{"data":{"mode":"slow"}}`); out != "configmap/app patched\n" {
		t.Errorf("patch: %q", out)
	}
	eventually(t, "the patched value in the pod's volume", func() bool { return k.ok("exec", "reader", "--", "cat", "/cfg/mode") == "slow" })

	// The API server's refusals.
	k.run("apiVersion: v1\nkind: ConfigMap\nmetadata: {name: frozen}\nimmutable: true\ndata: {a: '1'}\n", "apply", "-f", "-")
	eventually(t, "configmap/frozen", func() bool { return strings.Contains(k.ok("get", "cm", "-o", "name"), "configmap/frozen") })
	_, errOut, code = k.run("", "patch", "cm", "frozen", "-p", `{"data":{"a":"2"}}`)
	if code != 1 || !strings.Contains(errOut, "The ConfigMap \"frozen\" is invalid: data: Forbidden: field is immutable when `immutable` is set") {
		t.Errorf("patch of an immutable ConfigMap: %d %q", code, errOut)
	}
	_, errOut, code = k.run("apiVersion: v1\nkind: ConfigMap\nmetadata: {name: bad}\ndata: {'a b': x}\n", "apply", "-f", "-")
	if code != 1 || !strings.Contains(errOut, `data[a b]: Invalid value: "a b": a valid config key must consist of alphanumeric characters`) {
		t.Errorf("apply of an invalid key: %d %q", code, errOut)
	}

	if out := k.ok("delete", "configmap", "web"); !isDeleted(out, `configmap "web"`) {
		t.Errorf("delete: %q", out)
	}
	if out := k.ok("delete", "secret", "db"); !isDeleted(out, `secret "db"`) {
		t.Errorf("delete: %q", out)
	}
	for _, name := range []string{"configmap_default_web.yaml", "secret_default_db.yaml"} {
		if _, err := os.Stat(filepath.Join(a.cfg.Manifests, name)); !os.IsNotExist(err) {
			t.Errorf("%s still there: %v", name, err)
		}
	}
	eventually(t, "secret db gone", func() bool { _, errOut, code = k.run("", "get", "secret", "db"); return code != 0 })
	if want := `Error from server (NotFound): secrets "db" not found`; code != 1 || strings.TrimSpace(errOut) != want {
		t.Errorf("get deleted secret: %d %q, want %q", code, errOut, want)
	}
}
