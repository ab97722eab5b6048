package main

import (
	"os/exec"
	"strings"
	"testing"
)

// The agent binary links no test code: not the testing package, nor the
// packages that exist for tests and benchmarks.
func TestBinaryLinksNoTestCode(t *testing.T) {
	out, err := exec.Command("go", "list", "-deps", ".").Output()
	if err != nil {
		t.Fatalf("go list -deps: %v", err)
	}
	if !strings.Contains(string(out), "github.com/minikubelet/minikubelet/agent\n") {
		t.Fatalf("go list -deps does not list the agent package:\n%s", out)
	}
	forbidden := map[string]bool{"testing": true}
	for _, p := range []string{"dockerarchive", "gobuild", "podgen", "portmaptest", "testenv", "testhost", "testnet", "testreport"} {
		forbidden["github.com/minikubelet/minikubelet/internal/"+p] = true
	}
	for _, dep := range strings.Fields(string(out)) {
		if forbidden[dep] || strings.HasSuffix(dep, "/testing") || strings.Contains(dep, "/testutil") {
			t.Errorf("the agent links %s", dep)
		}
	}
}
