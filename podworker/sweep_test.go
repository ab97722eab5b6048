package podworker

import (
	"context"
	"slices"
	"testing"
	"time"

	v1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/types"
)

// sweepPod is a pod of one container whose name is its UID; its
// termination grace is long enough for the fake's holdStop.
func sweepPod(uid string) *v1.Pod {
	p := testPod(v1.RestartPolicyAlways, nil, "app")
	p.Name, p.UID = uid, types.UID(uid)
	grace := int64(120)
	p.Spec.TerminationGracePeriodSeconds = &grace
	return p
}

func sweepPods(uids []string) []*v1.Pod {
	var out []*v1.Pod
	for _, uid := range uids {
		out = append(out, sweepPod(uid))
	}
	return out
}

// waitSwept waits for the sweep the first SetPods started.
func (h *harness) waitSwept() {
	h.t.Helper()
	h.m.mu.Lock()
	done := h.m.sweepDone
	h.m.mu.Unlock()
	if done == nil {
		h.t.Fatal("SetPods started no sweep of pod directories")
	}
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		h.t.Fatalf("the sweep of pod directories did not end; calls: %v", h.rt.Calls())
	}
}

// Once the first desired set is known, the directories of pods that are
// neither desired, nor in containerd, nor a worker's are cleaned up: those
// a termination cut short by the agent's stop left. A desired pod without
// containers (after a reboot) keeps its directory, and so does a pod
// whose worker is terminating it, or whose worker started while the
// directories were being listed.
func TestManagerSweepsOrphanedPodDirs(t *testing.T) {
	for _, tc := range []struct {
		name string
		// inContainerd run in containerd at the start; dirsOnly have
		// directories and nothing in containerd.
		inContainerd, dirsOnly []string
		// desired is the first desired set, later the one a second
		// SetPods hands over while the sweep lists the directories.
		desired, later []string
		want           []string
	}{{
		name:     "orphans beside a desired pod after a reboot",
		dirsOnly: []string{"rebooted", "orphan-a", "orphan-b"},
		desired:  []string{"rebooted"},
		want:     []string{"orphan-a", "orphan-b"},
	}, {
		name:         "adopted pods, desired or terminated",
		inContainerd: []string{"adopted", "adopted-orphan"},
		dirsOnly:     []string{"orphan"},
		desired:      []string{"adopted"},
		want:         []string{"orphan"},
	}, {
		name:     "a worker started during the listing",
		dirsOnly: []string{"orphan"},
		desired:  []string{"first"},
		later:    []string{"first", "added"},
		want:     []string{"orphan"},
	}, {
		name:         "nothing orphaned",
		inContainerd: []string{"adopted"},
		desired:      []string{"adopted", "new"},
	}} {
		t.Run(tc.name, func(t *testing.T) {
			rt := newFakeRuntime()
			// A terminated pod's containers ignore SIGTERM: its worker
			// never reaches its own CleanupPod during the test.
			rt.holdStop = time.Minute
			hold := make(chan struct{})
			rt.holdDirs = hold
			ctx := context.Background()
			for _, p := range sweepPods(tc.inContainerd) {
				sb, _ := rt.RunSandbox(ctx, p, 0)
				if _, err := rt.StartContainer(ctx, sb, p, &p.Spec.Containers[0], runtimeOpts()); err != nil {
					t.Fatal(err)
				}
			}
			for _, uid := range tc.dirsOnly {
				rt.dirs[types.UID(uid)] = true
			}

			h := newHarness(t, rt, Config{})
			h.m.SetPods(sweepPods(tc.desired))
			if tc.later != nil {
				h.m.SetPods(sweepPods(tc.later))
				for _, uid := range tc.later {
					h.waitFor("directory of "+uid, func() bool {
						rt.mu.Lock()
						defer rt.mu.Unlock()
						return rt.dirs[types.UID(uid)]
					})
				}
			}
			close(hold)
			h.waitSwept()

			rt.mu.Lock()
			var got []string
			for uid := range rt.cleaned {
				got = append(got, string(uid))
			}
			rt.mu.Unlock()
			slices.Sort(got)
			if !slices.Equal(got, tc.want) {
				t.Errorf("cleaned up %v, want %v; calls: %v", got, tc.want, rt.Calls())
			}
		})
	}
}

// A pod whose directories the sweep is removing may be desired again
// meanwhile (its manifest came back): its worker waits for the removal
// before its sandbox writes them again, or the sweep would take them from
// under the running pod.
func TestManagerPodBackDuringSweepWaitsForIt(t *testing.T) {
	rt := newFakeRuntime()
	hold := make(chan struct{})
	rt.holdCleanup = hold
	pod := sweepPod("back")
	rt.dirs[pod.UID] = true

	h := newHarness(t, rt, Config{})
	h.m.SetPods(nil)
	h.waitFor("the sweep cleaning up the pod", func() bool { return slices.Contains(rt.Calls(), "CleanupPod back") })
	h.m.SetPods([]*v1.Pod{pod})
	// Whether the worker would reach its sandbox before the release below
	// is a race; that it waits is not.
	h.m.mu.Lock()
	after := h.m.workers[pod.UID].after
	h.m.mu.Unlock()
	if after == nil {
		t.Fatal("the pod's worker does not wait for the sweep's cleanup of its directories")
	}
	select {
	case <-after:
		t.Fatal("the pod's worker went ahead during the sweep's cleanup of its directories")
	default:
	}
	rt.mu.Lock()
	rt.holdCleanup = nil // the worker's own, should it terminate, runs through
	rt.mu.Unlock()
	close(hold)
	h.waitSwept()
	h.waitFor("the pod running", func() bool { return running(h.containerState(pod.UID, "app")) })
	calls := rt.Calls()
	if c, s := slices.Index(calls, "CleanupPod back"), slices.Index(calls, "RunSandbox back 0"); s < c {
		t.Errorf("the sandbox ran before the sweep's cleanup ended: %v", calls)
	}
	rt.mu.Lock()
	defer rt.mu.Unlock()
	if !rt.dirs[pod.UID] {
		t.Error("the running pod's directories are gone")
	}
}
