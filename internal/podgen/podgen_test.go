package podgen

import (
	"encoding/json"
	"testing"

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
	for _, pod := range pods {
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
}
