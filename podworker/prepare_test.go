package podworker

import (
	"context"
	"slices"
	"testing"

	v1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/types"
)

// preparedCounts reads the fake's prepared containers and how many were made and
// started.
func (f *fakeRuntime) preparedCounts(uid types.UID) (left, made, started int) {
	f.mu.Lock()
	defer f.mu.Unlock()
	for _, pod := range f.prepared {
		if pod == uid {
			left++
		}
	}
	return left, f.prepares, f.preparedStarts
}

func TestWorkerPreparesNextContainers(t *testing.T) {
	rt := newFakeRuntime()
	h := newHarness(t, rt, Config{})
	pod := testPod(v1.RestartPolicyAlways, []string{"init-a", "init-b", "init-c"}, "app")
	h.m.SetPods([]*v1.Pod{pod})

	h.waitFor("init-a running, init-b prepared", func() bool {
		left, _, _ := rt.preparedCounts(pod.UID)
		return running(h.containerState(pod.UID, "init-a")) && left == 1
	})
	if s := h.containerState(pod.UID, "init-b"); s.State.Waiting == nil || s.State.Waiting.Reason != "PodInitializing" || s.RestartCount != 0 {
		t.Fatalf("a prepared init-b must show waiting, PodInitializing, 0 restarts: %+v", s)
	}
	rt.exit(pod.UID, "init-a", 0)
	h.waitFor("init-b running", func() bool { return running(h.containerState(pod.UID, "init-b")) })
	rt.exit(pod.UID, "init-b", 0)
	h.waitFor("init-c running", func() bool { return running(h.containerState(pod.UID, "init-c")) })
	rt.exit(pod.UID, "init-c", 0)
	h.waitFor("app running", func() bool { return running(h.containerState(pod.UID, "app")) })

	left, made, started := rt.preparedCounts(pod.UID)
	// init-b, init-c, and the app while init-c ran.
	if left != 0 || made != 3 || started != 3 {
		t.Fatalf("prepared containers: %d left, %d made, %d started; want 0, 3, 3", left, made, started)
	}
	want := []string{"RunSandbox p 0", "StartContainer init-a 0", "StartContainer init-b 0", "StartContainer init-c 0", "StartContainer app 0"}
	if got := rt.Calls(); !slices.Equal(got, want) {
		t.Fatalf("calls = %v, want %v", got, want)
	}
	for _, name := range []string{"init-b", "init-c"} {
		if n := countEvents(h, name, "Created"); n != 1 {
			t.Fatalf("%s: %d Created events, want 1", name, n)
		}
	}
}

func countEvents(h *harness, container, reason string) int {
	n := 0
	for _, e := range h.ev.List("default", "p") {
		if e.Reason == reason && e.InvolvedObject.FieldPath == "spec.initContainers{"+container+"}" {
			n += int(max(e.Count, 1))
		}
	}
	return n
}

func TestWorkerPreparedInitOnFailure(t *testing.T) {
	for _, policy := range []v1.RestartPolicy{v1.RestartPolicyAlways, v1.RestartPolicyOnFailure, v1.RestartPolicyNever} {
		t.Run(string(policy), func(t *testing.T) {
			rt := newFakeRuntime()
			h := newHarness(t, rt, Config{})
			pod := testPod(policy, []string{"init-a", "init-b"}, "app")
			h.m.SetPods([]*v1.Pod{pod})
			h.waitFor("init-b prepared", func() bool {
				left, _, _ := rt.preparedCounts(pod.UID)
				return running(h.containerState(pod.UID, "init-a")) && left == 1
			})
			rt.exit(pod.UID, "init-a", 1)
			if policy == v1.RestartPolicyNever {
				h.waitFor("pod failed, nothing prepared left", func() bool {
					left, _, _ := rt.preparedCounts(pod.UID)
					return h.pod(pod.UID).Status.Phase == v1.PodFailed && left == 0
				})
				return
			}
			h.waitFor("init-a restarted", func() bool {
				s := h.containerState(pod.UID, "init-a")
				return running(s) && s.RestartCount == 1
			})
			rt.exit(pod.UID, "init-a", 0)
			h.waitFor("init-b running", func() bool { return running(h.containerState(pod.UID, "init-b")) })
			if s := h.containerState(pod.UID, "init-b"); s.RestartCount != 0 {
				t.Fatalf("init-b restart count %d, want 0", s.RestartCount)
			}
			rt.exit(pod.UID, "init-b", 0)
			h.waitFor("app running", func() bool { return running(h.containerState(pod.UID, "app")) })
			left, made, started := rt.preparedCounts(pod.UID)
			if left != 0 || started != 2 || made < 2 { // init-b, then the app
				t.Fatalf("prepared containers: %d left, %d made, %d started", left, made, started)
			}
		})
	}
}

func TestWorkerRemovesPreparedInit(t *testing.T) {
	rt := newFakeRuntime()
	pod := testPod(v1.RestartPolicyAlways, []string{"init-a", "init-b"}, "app")
	// An earlier agent's: init-a running, init-b prepared.
	ctx := context.Background()
	sb, _ := rt.RunSandbox(ctx, pod, 0)
	if _, err := rt.StartContainer(ctx, sb, pod, &pod.Spec.InitContainers[0], runtimeOpts()); err != nil {
		t.Fatal(err)
	}
	stale, _ := rt.PrepareContainer(ctx, sb, pod, &pod.Spec.InitContainers[1], runtimeOpts())

	h := newHarness(t, rt, Config{})
	h.m.SetPods([]*v1.Pod{pod})
	h.waitFor("the earlier agent's prepared container removed, a new one made", func() bool {
		rt.mu.Lock()
		defer rt.mu.Unlock()
		_, there := rt.prepared[stale]
		return !there && len(rt.prepared) == 1
	})
	if s := h.containerState(pod.UID, "init-b"); s.ContainerID != "" || s.RestartCount != 0 {
		t.Fatalf("a prepared container is no instance: %+v", s)
	}
	h.m.SetPods(nil)
	h.waitFor("pod gone", func() bool { return h.pod(pod.UID) == nil })
	if left, _, started := rt.preparedCounts(pod.UID); left != 0 || started != 0 {
		t.Fatalf("after deletion: %d prepared left, %d started", left, started)
	}
}
