package controllers

import (
	"os"
	"regexp"
	"strings"
	"testing"

	"github.com/minikubelet/minikubelet/source"
)

// The expected values were computed by upstream's own code, Kubernetes
// v1.34.2: the Deployment decoded and defaulted by the API scheme
// (k8s.io/kubernetes/pkg/apis/apps/install, legacyscheme.Scheme.Default),
// then k8s.io/kubernetes/pkg/controller.ComputeHash of spec.template with
// no collision count and with a collision count of 1. They check our
// defaulting of the template as much as the hash itself.
func TestComputeHashMatchesUpstream(t *testing.T) {
	for _, tc := range []struct {
		file            string
		want, collision string
	}{
		{"testdata/hash-lab.yaml", "7685689ddb", "7fb4585659"},
		{"testdata/hash-full.yaml", "669dd864f6", "7fff4fc8d9"},
	} {
		data, err := os.ReadFile(tc.file)
		if err != nil {
			t.Fatal(err)
		}
		objs := source.Parse(tc.file, data, "node1")
		if len(objs.Errors) > 0 || len(objs.Deployments) != 1 {
			t.Fatalf("%s: %v", tc.file, objs.Errors)
		}
		tmpl := &objs.Deployments[0].Spec.Template
		if got := ComputeHash(tmpl, nil); got != tc.want {
			t.Errorf("%s: hash %s, upstream %s", tc.file, got, tc.want)
		}
		one := int32(1)
		if got := ComputeHash(tmpl, &one); got != tc.collision {
			t.Errorf("%s: hash with collisionCount 1 %s, upstream %s", tc.file, got, tc.collision)
		}
	}
}

func TestGenerateName(t *testing.T) {
	alphabet := regexp.MustCompile(`^[bcdfghjklmnpqrstvwxz2456789]{5}$`)
	seen := map[string]bool{}
	for i := 0; i < 100; i++ {
		n := generateName("deployment-example-7685689ddb-")
		suffix, ok := strings.CutPrefix(n, "deployment-example-7685689ddb-")
		if !ok || !alphabet.MatchString(suffix) {
			t.Fatalf("generated %q", n)
		}
		seen[n] = true
	}
	if len(seen) < 95 {
		t.Errorf("only %d distinct names in 100", len(seen))
	}
	long := strings.Repeat("a", 70) + "-"
	if n := generateName(long); len(n) != 63 || !strings.HasPrefix(n, strings.Repeat("a", 58)) {
		t.Errorf("long base gives %q (%d)", n, len(n))
	}
	if got := replicaSetName(strings.Repeat("d", 260), "7685689ddb"); len(got) != 253 || !strings.HasSuffix(got, "-7685689ddb") {
		t.Errorf("replica set name of a long deployment: %d chars", len(got))
	}
}
