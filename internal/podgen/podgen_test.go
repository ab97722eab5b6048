package podgen

import (
	"encoding/json"
	"fmt"
	"testing"

	v1 "k8s.io/api/core/v1"

	"github.com/minikubelet/minikubelet/source"
)

// TestPodsAreValid runs every generated pod through the manifest parser:
// the shapes the other tests feed their code must be ones a user can write.
func TestPodsAreValid(t *testing.T) {
	pods := Pods(Small)
	// 69 init/sidecar interleavings × 3 app counts × 16 probe patterns.
	if len(pods) != 69*3*16 {
		t.Fatalf("%d pods, want %d", len(pods), 69*3*16)
	}
	seen := map[string]bool{}
	// kind (I, S, A) + hook mask + whether it mounts the emptyDir
	extras := map[string]bool{}
	for _, pod := range pods {
		for i := range pod.Spec.InitContainers {
			kind := "I"
			if c := &pod.Spec.InitContainers[i]; c.RestartPolicy != nil {
				kind = "S"
			}
			extras[extrasOf(kind, &pod.Spec.InitContainers[i])] = true
		}
		for i := range pod.Spec.Containers {
			extras[extrasOf("A", &pod.Spec.Containers[i])] = true
		}
		p := pod.DeepCopy()
		p.APIVersion, p.Kind = "v1", "Pod"
		p.UID = ""
		data, err := json.Marshal(p)
		if err != nil {
			t.Fatal(err)
		}
		if errs := source.Parse(pod.Name+".json", data, "node").Errors; len(errs) > 0 {
			t.Fatalf("%s (%s) is not valid: %v", pod.Name, Describe(pod), errs)
		}
		seen[Describe(pod)] = true
	}
	for _, shape := range []string{"I S | A", "S[lrs] I | A A[l]", "I I I S S S | A A A", "S[l] | A[r] A[lr]", "I S[s] I | A[s]"} {
		if !seen[shape] {
			t.Errorf("shape %q not generated", shape)
		}
	}
	for _, kind := range []string{"S", "A"} {
		for hooks := range allHooks {
			for _, mount := range []bool{false, true} {
				if e := fmt.Sprintf("%s hooks=%d mount=%v", kind, hooks, mount); !extras[e] {
					t.Errorf("no container %s", e)
				}
			}
		}
	}
	for _, mount := range []bool{false, true} {
		if e := fmt.Sprintf("I hooks=0 mount=%v", mount); !extras[e] {
			t.Errorf("no container %s", e)
		}
	}
}

// extrasOf describes a container's hooks and emptyDir mount.
func extrasOf(kind string, c *v1.Container) string {
	hooks := 0
	if c.Lifecycle != nil && c.Lifecycle.PostStart != nil {
		hooks |= PostStart
	}
	if c.Lifecycle != nil && c.Lifecycle.PreStop != nil {
		hooks |= PreStop
	}
	return fmt.Sprintf("%s hooks=%d mount=%v", kind, hooks, len(c.VolumeMounts) > 0)
}
