//go:build integration

package agent

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/minikubelet/minikubelet/api"
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
	want := "imm.yaml: ConfigMap \"imm\" is invalid: data: Forbidden: field is immutable when `immutable` is set"
	var warnings []string
	a.client.OnWarning = func(text string) { warnings = append(warnings, text) }
	deadline := time.Now().Add(time.Minute)
	for found := false; !found; {
		warnings = nil
		if _, err := a.client.ListPods(context.Background(), "default", api.ListOptions{}); err != nil {
			t.Fatal(err)
		}
		for _, w := range warnings {
			found = found || strings.Contains(w, want)
		}
		if !found && time.Now().After(deadline) {
			t.Fatalf("no warning %q in %q", want, warnings)
		}
		time.Sleep(200 * time.Millisecond)
	}
	if code, out := a.exec("reader", "c", "cat", "/v/k"); code != 0 || out != "one" {
		t.Errorf("after the refused edit cat /v/k: exit %d, %q", code, out)
	}
}
