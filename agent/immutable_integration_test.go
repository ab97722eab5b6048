//go:build integration

package agent

import (
	"testing"
	"time"

	"github.com/minikubelet/minikubelet/internal/testenv"
)

// A hand edit of an immutable ConfigMap is refused as the API server
// refuses the update: the warning names the file and field, and the pod's
// volume keeps the accepted content.
func TestImmutableConfigMapHandEditRefused(t *testing.T) {
	env := testenv.New(t)
	a := startAgent(t, testConfig(t, env))
	manifest := func(v string) string {
		return "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: imm}\nimmutable: true\ndata: {k: " + v + "}\n"
	}
	a.write("imm.yaml", manifest("one"))
	a.write("reader.yaml", pod("reader", "Always", "  - {name: c, image: busybox, command: [sleep, '3600'], volumeMounts: [{name: v, mountPath: /v}]}\n")+
		"  volumes: [{name: v, configMap: {name: imm}}]\n")
	a.waitPod("reader", "Running", 2*time.Minute, statusIs("Running"))
	if code, out := a.exec("reader", "c", "cat", "/v/k"); code != 0 || out != "one" {
		t.Fatalf("cat /v/k: exit %d, %q", code, out)
	}

	a.write("imm.yaml", manifest("two"))
	want := "imm.yaml: ConfigMap \"imm\" is invalid: data: Forbidden: field is immutable when `immutable` is set" +
		"; the last accepted version stays (delete the file, then create it again, to replace it)"
	if warnings, ok := a.waitWarnings([]string{want}, time.Minute); !ok {
		t.Fatalf("no warning %q in %q", want, warnings)
	}
	if code, out := a.exec("reader", "c", "cat", "/v/k"); code != 0 || out != "one" {
		t.Errorf("after the refused edit cat /v/k: exit %d, %q", code, out)
	}
}
