package podworker

import (
	"errors"
	"fmt"
	"strings"
	"testing"

	v1 "k8s.io/api/core/v1"

	"github.com/minikubelet/minikubelet/runtime"
)

// The termination messages of a pod's containers share 12 KiB evenly, in
// the state and in the last state alike (kubelet's normalizeStatus).
func TestTerminationMessagesShareTwelveKiB(t *testing.T) {
	for _, n := range []int{1, 3, 4, 7} {
		t.Run(fmt.Sprintf("%d containers", n), func(t *testing.T) {
			var names []string
			for i := range n {
				names = append(names, fmt.Sprintf("c%d", i))
			}
			pod := testPod(v1.RestartPolicyAlways, names[:1], names[1:]...)
			if n == 1 {
				pod = testPod(v1.RestartPolicyAlways, nil, names...)
			}
			ps := runtime.PodState{Sandboxes: []runtime.Sandbox{readySandbox}}
			for i, name := range names {
				kind := runtime.KindApp
				if n > 1 && i == 0 {
					kind = runtime.KindInit
				}
				for attempt := range 2 { // a current and a previous instance
					c := ctr(name, kind, runtime.StateExited, 1)
					c.ID = fmt.Sprintf("%s-%d", name, attempt)
					c.Message = strings.Repeat("m", 4096+i)
					ps.Containers = append(ps.Containers, c)
				}
			}
			reasons := map[string]waitReason{names[n-1]: {Reason: "CrashLoopBackOff"}}
			initSt, appSt := containerStatuses(pod, &ps, reasons)
			share := 12 << 10 / n
			total := 0
			for _, st := range append(initSt, appSt...) {
				for _, term := range []*v1.ContainerStateTerminated{st.State.Terminated, st.LastTerminationState.Terminated} {
					if term == nil {
						continue
					}
					if want := min(share, len(ps.Containers[0].Message)); len(term.Message) > share || len(term.Message) < want {
						t.Errorf("%s: message of %d bytes, want %d", st.Name, len(term.Message), want)
					}
					total += len(term.Message)
				}
			}
			if total == 0 {
				t.Fatal("no terminated states")
			}
		})
	}
}

func TestStartFailure(t *testing.T) {
	wrap := func(err error) error { return fmt.Errorf("start container \"c\" of pod default/p: %w", err) }
	subPath := errors.New("error SubPath `/tmp` must not be an absolute path")
	tests := []struct {
		name string
		ctr  runtime.Container
		err  error
		want waitReason
	}{
		{"config", runtime.Container{}, wrap(fmt.Errorf("container \"c\": volumeMount \"v\" at /logs: %w", &runtime.ConfigError{Err: subPath})),
			waitReason{"CreateContainerConfigError", "error SubPath `/tmp` must not be an absolute path"}},
		{"start error", runtime.Container{ID: "abc", Message: "failed to create containerd task: boom"}, wrap(errors.New("failed to create containerd task: boom")),
			waitReason{"RunContainerError", "failed to create containerd task: boom"}},
		{"start error without a message", runtime.Container{ID: "abc"}, wrap(errors.New("boom")),
			waitReason{"RunContainerError", "start container \"c\" of pod default/p: boom"}},
		{"create error", runtime.Container{}, wrap(errors.New("create container: snapshot exists")),
			waitReason{"CreateContainerError", "start container \"c\" of pod default/p: create container: snapshot exists"}},
	}
	for _, tt := range tests {
		if got := startFailure(tt.ctr, tt.err); got != tt.want {
			t.Errorf("%s: got %+v, want %+v", tt.name, got, tt.want)
		}
	}
}
