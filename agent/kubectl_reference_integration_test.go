//go:build integration

package agent

import (
	"encoding/json"
	"os"
	"regexp"
	"strings"
	"testing"
)

// referenceKubectl is kubeapi/testdata/reference/kubectl.json: kubectl
// commands that scripts/reference-apiserver ran, in order, against the
// real kube-apiserver, with what kubectl printed and its exit code.
const referenceKubectl = "../kubeapi/testdata/reference/kubectl.json"

// deletedFrom is the namespace that kubectl 1.34 and later add to a delete's
// line ("deleted from default namespace"): a client's wording, not the
// server's answer, so it is taken out of both sides.
var deletedFrom = regexp.MustCompile(`(?m) deleted from \S+ namespace$`)

// The real kubectl prints for the agent what it printed for kube-apiserver:
// each recorded command (not found, created twice, an unknown field under
// apply's strict validation, an invalid pod, apply twice, label, a stale
// replace, delete) is run again, in order, against a real agent, and its
// stdout, stderr and exit code must be the same.
func TestKubectlReference(t *testing.T) {
	data, err := os.ReadFile(referenceKubectl)
	if err != nil {
		t.Fatalf("golden (recorded by scripts/reference-apiserver): %v", err)
	}
	var golden struct {
		Kubectl string
		Steps   []struct {
			Args                  []string
			Stdin, Stdout, Stderr string
			Exit                  int
		}
	}
	if err := json.Unmarshal(data, &golden); err != nil {
		t.Fatal(err)
	}
	if len(golden.Steps) < 10 {
		t.Fatalf("%s has %d steps", referenceKubectl, len(golden.Steps))
	}
	_, _, k := startWithKubectl(t)
	norm := func(s string) string { return deletedFrom.ReplaceAllString(s, " deleted") }
	for _, s := range golden.Steps {
		out, errOut, code := k.run(s.Stdin, s.Args...)
		if norm(out) != norm(s.Stdout) || norm(errOut) != norm(s.Stderr) || code != s.Exit {
			t.Errorf("kubectl %s:\n got exit %d, stdout %q, stderr %q\nwant exit %d, stdout %q, stderr %q (kube-apiserver, with %s)",
				strings.Join(s.Args, " "), code, out, errOut, s.Exit, s.Stdout, s.Stderr, golden.Kubectl)
		}
	}
}
