//go:build integration

package agent

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	v1 "k8s.io/api/core/v1"
)

// kubectl reads only the OpenAPI v3 documents: explain, and apply's and
// edit's check that the server validates fields itself (the fieldValidation
// parameter in the v3 document), so no command falls back to /openapi/v2,
// which is not served. Each command's requests, logged at -v=6, are held
// to that.
func TestKubectlUsesOpenAPIV3Only(t *testing.T) {
	_, a, k := startWithKubectl(t)
	manifest := filepath.Join(t.TempDir(), "pod.yaml")
	pod := "apiVersion: v1\nkind: Pod\nmetadata:\n  name: v3\nspec:\n  containers:\n  - name: c\n    image: busybox\n    command: [sleep, '3600']\n"
	if err := os.WriteFile(manifest, []byte(pod), 0o644); err != nil {
		t.Fatal(err)
	}
	editor := filepath.Join(t.TempDir(), "editor")
	// An editor that adds a label, so that edit sends its patch.
	if err := os.WriteFile(editor, []byte("#!/bin/sh\nsed -i 's/^  name: v3$/  name: v3\\n  labels: {edited: \"yes\"}/' \"$1\"\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	k.env = append(k.env, "KUBE_EDITOR="+editor)
	steps := []struct {
		args []string
		want string // in stdout
	}{
		{[]string{"explain", "pod.spec.containers"}, "FIELD: containers <[]Container>"},
		{[]string{"explain", "deployment.spec.strategy.rollingUpdate.maxSurge"}, "FIELD: maxSurge <IntOrString>"},
		{[]string{"apply", "-f", manifest}, "pod/v3 created"},
		{[]string{"apply", "--validate=strict", "-f", manifest}, "pod/v3 unchanged"},
		{[]string{"create", "--dry-run=server", "-f", filepath.Join("..", "manifests", "service.yml")}, "created (server dry run)"},
		{[]string{"edit", "pod", "v3"}, "pod/v3 edited"},
	}
	for i, s := range steps {
		out, errOut, code := k.run("", append([]string{"-v=6"}, s.args...)...)
		if i == 0 && !strings.Contains(errOut, "/openapi/v3/api/v1?hash=") {
			t.Errorf("explain did not read the v3 document of api/v1 (or -v=6 no longer logs requests):\n%s", errOut)
		}
		if code != 0 || !strings.Contains(out, s.want) {
			t.Errorf("kubectl %s: exit %d, want %q in\n%s\n%s", strings.Join(s.args, " "), code, s.want, out, errOut)
		}
		if strings.Contains(errOut, "/openapi/v2") {
			t.Errorf("kubectl %s asked for /openapi/v2:\n%s", strings.Join(s.args, " "), errOut)
		}
	}
	if p := a.waitPod("v3", "the edit's label", time.Minute, func(p *v1.Pod) bool { return p.Labels["edited"] == "yes" }); p == nil {
		t.Fatal("no pod")
	}
}
