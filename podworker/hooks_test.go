package podworker

import (
	"context"
	"errors"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	v1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// fakeHooks records each hook into the fake runtime's calls, so their order
// against starts and stops shows. A hook blocks on block (when set) until
// released or cut by ctx; containers named in fail fail their hooks.
type fakeHooks struct {
	rt    *fakeRuntime
	block chan struct{}
	fail  map[string]bool
}

func (f *fakeHooks) Run(ctx context.Context, pod *v1.Pod, c *v1.Container, id, ip string, h *v1.LifecycleHandler) (string, error) {
	kind := "PostStart"
	if h == c.Lifecycle.PreStop {
		kind = "PreStop"
	}
	f.rt.mu.Lock()
	f.rt.record("%s %s %s", kind, c.Name, ip)
	f.rt.mu.Unlock()
	if f.block != nil {
		select {
		case <-f.block:
		case <-ctx.Done():
			return "cut", ctx.Err()
		}
	}
	if f.fail[c.Name] {
		return "hook of " + c.Name + " failed", errors.New("exit 1")
	}
	return "", nil
}

func withHooks(c *v1.Container, postStart, preStop bool) {
	c.Lifecycle = &v1.Lifecycle{}
	if postStart {
		c.Lifecycle.PostStart = &v1.LifecycleHandler{Exec: &v1.ExecAction{Command: []string{"true"}}}
	}
	if preStop {
		c.Lifecycle.PreStop = &v1.LifecycleHandler{Exec: &v1.ExecAction{Command: []string{"true"}}}
	}
}

func grace(s int64) *int64 { return &s }

func hasEvent(evs []v1.Event, reason, message string) bool {
	return slices.ContainsFunc(evs, func(e v1.Event) bool { return e.Reason == reason && e.Message == message })
}

// The container counts as running, and the next one starts, only once its
// postStart hook has returned.
func TestWorkerPostStartBlocksTheNextContainer(t *testing.T) {
	rt := newFakeRuntime()
	hooks := &fakeHooks{rt: rt, block: make(chan struct{})}
	h := newHarness(t, rt, Config{Hooks: hooks})
	pod := testPod(v1.RestartPolicyAlways, nil, "a", "b")
	withHooks(&pod.Spec.Containers[0], true, false)
	h.m.SetPods([]*v1.Pod{pod})

	h.waitFor("hook running", func() bool { return slices.Contains(rt.Calls(), "PostStart a 10.0.0.9") })
	if slices.Contains(rt.Calls(), "StartContainer b 0") || running(h.containerState(pod.UID, "a")) {
		t.Fatalf("b started or a published running while a's postStart runs: %v", rt.Calls())
	}
	close(hooks.block)
	h.waitFor("both running", func() bool {
		return running(h.containerState(pod.UID, "a")) && running(h.containerState(pod.UID, "b"))
	})
	want := []string{"RunSandbox p 0", "StartContainer a 0", "PostStart a 10.0.0.9", "StartContainer b 0"}
	if got := rt.Calls(); !slices.Equal(got, want) {
		t.Fatalf("calls = %v, want %v", got, want)
	}
}

func TestWorkerFailedPostStartKillsAndRestarts(t *testing.T) {
	rt := newFakeRuntime()
	hooks := &fakeHooks{rt: rt, fail: map[string]bool{"app": true}}
	h := newHarness(t, rt, Config{Hooks: hooks, BackOffInitial: time.Hour, BackOffMax: time.Hour})
	pod := testPod(v1.RestartPolicyAlways, nil, "app")
	withHooks(&pod.Spec.Containers[0], true, true)
	h.m.SetPods([]*v1.Pod{pod})

	// First failure restarts at once, the second one waits for back-off.
	h.waitFor("crash loop", func() bool {
		s := h.containerState(pod.UID, "app")
		return s.State.Waiting != nil && s.State.Waiting.Reason == "CrashLoopBackOff" && s.RestartCount == 1
	})
	calls := rt.Calls()
	want := []string{"RunSandbox p 0", "StartContainer app 0", "PostStart app 10.0.0.9", "PreStop app 10.0.0.9", "StopContainer app",
		"StartContainer app 1", "PostStart app 10.0.0.9", "PreStop app 10.0.0.9", "StopContainer app"}
	if !slices.Equal(calls, want) {
		t.Fatalf("calls = %v, want %v", calls, want)
	}
	evs := h.ev.List("default", "p")
	if !hasEvent(evs, "FailedPostStartHook", "PostStartHook failed") || !hasEvent(evs, "Killing", "FailedPostStartHook") {
		t.Fatalf("events %+v", evs)
	}
}

// A pod that is not restarted keeps the failed instance as its state.
func TestWorkerFailedPostStartWithNever(t *testing.T) {
	rt := newFakeRuntime()
	hooks := &fakeHooks{rt: rt, fail: map[string]bool{"app": true}}
	h := newHarness(t, rt, Config{Hooks: hooks})
	pod := testPod(v1.RestartPolicyNever, nil, "app")
	withHooks(&pod.Spec.Containers[0], true, false)
	h.m.SetPods([]*v1.Pod{pod})
	h.waitFor("pod failed", func() bool { p := h.pod(pod.UID); return p != nil && p.Status.Phase == v1.PodFailed })
	if s := h.containerState(pod.UID, "app"); s.State.Terminated == nil || s.RestartCount != 0 {
		t.Fatalf("state %+v", s)
	}
}

func TestWorkerPostStartWaitingReason(t *testing.T) {
	rt := newFakeRuntime()
	hooks := &fakeHooks{rt: rt, fail: map[string]bool{"app": true}}
	h := newHarness(t, rt, Config{Hooks: hooks})
	pod := testPod(v1.RestartPolicyOnFailure, nil, "app")
	withHooks(&pod.Spec.Containers[0], true, false)
	w := &worker{m: h.m, pod: pod, log: h.m.log, reasons: map[string]waitReason{}, stopped: map[string]bool{}}
	ctx := context.Background()
	sb, _ := rt.RunSandbox(ctx, pod, 0)
	ctr, _ := rt.StartContainer(ctx, sb, pod, &pod.Spec.Containers[0], runtimeOpts())
	if w.runPostStart(ctx, &ctr, &pod.Spec.Containers[0], sb) {
		t.Fatal("a failed hook reported success")
	}
	if r := w.reasons["app"]; r.Reason != "PostStartHookError" || r.Message != "hook of app failed" {
		t.Fatalf("reason %+v", r)
	}
}

// preStop runs before the stop signal when the pod is deleted; a hook that
// overruns is cut at the grace period and the container still gets the two
// second minimum.
func TestWorkerPreStopOnDeletion(t *testing.T) {
	rt := newFakeRuntime()
	hooks := &fakeHooks{rt: rt, block: make(chan struct{})}
	h := newHarness(t, rt, Config{Hooks: hooks})
	pod := testPod(v1.RestartPolicyAlways, nil, "app")
	pod.Spec.TerminationGracePeriodSeconds = grace(1)
	withHooks(&pod.Spec.Containers[0], false, true)
	h.m.SetPods([]*v1.Pod{pod})
	h.waitFor("running", func() bool { return running(h.containerState(pod.UID, "app")) })
	h.m.SetPods(nil)
	h.waitFor("pod gone", func() bool { return h.pod(pod.UID) == nil })
	calls := rt.Calls()
	if i, j := slices.Index(calls, "PreStop app 10.0.0.9"), slices.Index(calls, "StopContainer app"); i < 0 || j < i {
		t.Fatalf("preStop not run before the stop: %v", calls)
	}
	rt.mu.Lock()
	defer rt.mu.Unlock()
	if g := rt.graces["app"]; len(g) != 1 || g[0] != minKillGrace {
		t.Fatalf("stop grace %v, want the 2s minimum after the hook used the grace period", g)
	}
	if !hasEvent(h.ev.List("default", "p"), "FailedPreStopHook", "PreStopHook failed") {
		t.Fatalf("an exec hook cut at the grace period is a FailedPreStopHook")
	}
}

// On termination sidecars stop after the app containers, in reverse spec
// order, and their preStop hooks run first.
func TestWorkerSidecarsStopLastInReverseOrder(t *testing.T) {
	rt := newFakeRuntime()
	hooks := &fakeHooks{rt: rt}
	h := newHarness(t, rt, Config{Hooks: hooks})
	pod := sidecars(v1.RestartPolicyAlways, "s1", "s2")
	pod.Spec.Containers = append(pod.Spec.Containers, v1.Container{Name: "app2", Image: "busybox"})
	withHooks(&pod.Spec.InitContainers[0], false, true)
	h.m.SetPods([]*v1.Pod{pod})
	h.waitFor("all running", func() bool {
		for _, n := range []string{"s1", "s2", "app", "app2"} {
			if !running(h.containerState(pod.UID, n)) {
				return false
			}
		}
		return true
	})
	h.m.SetPods(nil)
	h.waitFor("pod gone", func() bool { return h.pod(pod.UID) == nil })
	calls := rt.Calls()
	idx := func(c string) int { return slices.Index(calls, c) }
	s1, s2 := idx("StopContainer s1"), idx("StopContainer s2")
	if idx("StopContainer app") > s2 || idx("StopContainer app2") > s2 || s2 > s1 || idx("PreStop s1 10.0.0.9") < 0 {
		t.Fatalf("stop order: %v", calls)
	}
	var order []string
	for _, c := range calls {
		if strings.HasPrefix(c, "StartContainer") {
			order = append(order, strings.Fields(c)[1])
		}
	}
	if !slices.Equal(order, []string{"s1", "s2", "app", "app2"}) {
		t.Fatalf("start order %v", order)
	}
}

func TestTerminationOrder(t *testing.T) {
	pod := sidecars(v1.RestartPolicyAlways, "s1", "init", "s2")
	pod.Spec.Containers = append(pod.Spec.Containers, v1.Container{Name: "app2"})
	if newTerminationOrder(testPod(v1.RestartPolicyAlways, []string{"init"}, "app"), []string{"app"}) != nil {
		t.Fatal("a pod without sidecars needs no order")
	}
	o := newTerminationOrder(pod, []string{"s1", "s2", "app", "app2"})
	names := func(chs []chan struct{}) []string {
		var out []string
		for _, ch := range chs {
			for n, d := range o.done {
				if d == ch {
					out = append(out, n)
				}
			}
		}
		return out
	}
	for name, want := range map[string][]string{"s1": {"app", "app2", "s2"}, "s2": {"app", "app2"}, "app": nil, "app2": nil} {
		if got := names(o.prereqs[name]); !slices.Equal(got, want) {
			t.Errorf("%s waits for %v, want %v", name, got, want)
		}
	}
	// Stopped prerequisites let a sidecar go at once; a stopped app that is
	// not live is not waited for.
	o = newTerminationOrder(pod, []string{"s1", "app"})
	var wg sync.WaitGroup
	wg.Add(1)
	var waited time.Duration
	go func() { defer wg.Done(); waited = o.waitForTurn(context.Background(), "s1", time.Hour) }()
	o.terminated("app")
	wg.Wait()
	if waited != 0 {
		t.Fatalf("waited %v", waited)
	}
	// The grace period bounds the wait.
	o = newTerminationOrder(pod, []string{"s1", "app"})
	if d := o.waitForTurn(context.Background(), "s1", 10*time.Millisecond); d != 0 {
		t.Fatalf("waited %v", d)
	}
}

// A terminating pod is published not Ready at once, while its containers
// still run their preStop hooks.
func TestWorkerTerminatingPodIsNotReady(t *testing.T) {
	rt := newFakeRuntime()
	hooks := &fakeHooks{rt: rt, block: make(chan struct{})}
	h := newHarness(t, rt, Config{Hooks: hooks})
	pod := sidecars(v1.RestartPolicyAlways, "init", "side")
	withHooks(&pod.Spec.Containers[0], false, true)
	h.m.SetPods([]*v1.Pod{pod})
	h.waitFor("ready", func() bool {
		rt.exit(pod.UID, "init", 0)
		p := h.pod(pod.UID)
		return p != nil && podReady(p)
	})
	h.m.SetPods(nil)
	h.waitFor("preStop running", func() bool { return slices.Contains(rt.Calls(), "PreStop app 10.0.0.9") })
	p := h.pod(pod.UID)
	if p.DeletionTimestamp == nil || podReady(p) || h.containerState(pod.UID, "app").Ready || h.containerState(pod.UID, "side").Ready {
		t.Fatalf("terminating pod published as %+v", p.Status)
	}
	if !h.containerState(pod.UID, "init").Ready {
		t.Fatal("a completed init container lost its ready (succeeded) mark")
	}
	close(hooks.block)
	h.waitFor("pod gone", func() bool { return h.pod(pod.UID) == nil })
}

func TestActiveDeadline(t *testing.T) {
	start := metav1.NewTime(time.Unix(1000, 0))
	secs := func(s int64) *int64 { return &s }
	tests := []struct {
		name     string
		deadline *int64
		start    *metav1.Time
		now      time.Time
		exceeded bool
		left     time.Duration
	}{
		{name: "no deadline", start: &start, now: start.Add(time.Hour)},
		{name: "not started", deadline: secs(5), now: start.Add(time.Hour)},
		{name: "within the deadline", deadline: secs(5), start: &start, now: start.Add(2 * time.Second), left: 3 * time.Second},
		{name: "at the deadline", deadline: secs(5), start: &start, now: start.Add(5 * time.Second), exceeded: true},
		{name: "past the deadline", deadline: secs(5), start: &start, now: start.Add(time.Minute), exceeded: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			pod := testPod(v1.RestartPolicyAlways, nil, "app")
			pod.Spec.ActiveDeadlineSeconds = tt.deadline
			exceeded, left := activeDeadline(pod, tt.start, tt.now)
			if exceeded != tt.exceeded || left != tt.left {
				t.Fatalf("got (%v, %v), want (%v, %v)", exceeded, left, tt.exceeded, tt.left)
			}
		})
	}
}

// Past activeDeadlineSeconds the pod fails as a whole: phase Failed with
// the kubelet's reason and message, an event, containers killed (preStop
// included) and never started again.
func TestWorkerActiveDeadline(t *testing.T) {
	rt := newFakeRuntime()
	hooks := &fakeHooks{rt: rt}
	h := newHarness(t, rt, Config{Hooks: hooks})
	pod := testPod(v1.RestartPolicyAlways, nil, "app")
	pod.Spec.ActiveDeadlineSeconds = grace(1)
	withHooks(&pod.Spec.Containers[0], false, true)
	h.m.SetPods([]*v1.Pod{pod})
	h.waitFor("failed", func() bool {
		p := h.pod(pod.UID)
		return p != nil && p.Status.Phase == v1.PodFailed && h.containerState(pod.UID, "app").State.Terminated != nil
	})
	p := h.pod(pod.UID)
	if p.Status.Reason != "DeadlineExceeded" || p.Status.Message != "Pod was active on the node longer than the specified deadline" {
		t.Fatalf("status reason %q message %q", p.Status.Reason, p.Status.Message)
	}
	if !hasEvent(h.ev.List("default", "p"), "DeadlineExceeded", "Pod was active on the node longer than the specified deadline") {
		t.Fatal("no DeadlineExceeded event")
	}
	h.m.Poke(pod.UID)
	h.waitFor("sandbox stopped", func() bool {
		return slices.ContainsFunc(rt.Calls(), func(c string) bool { return strings.HasPrefix(c, "StopSandbox") })
	})
	calls := rt.Calls()
	if !slices.Contains(calls, "PreStop app 10.0.0.9") || slices.Contains(calls, "StartContainer app 1") {
		t.Fatalf("calls %v", calls)
	}
}

// A delete request's grace period replaces the pod's; a later, longer one
// does not lengthen it.
func TestWorkerDeletionGrace(t *testing.T) {
	rt := newFakeRuntime()
	h := newHarness(t, rt, Config{})
	pod := testPod(v1.RestartPolicyAlways, nil, "app")
	pod.Spec.TerminationGracePeriodSeconds = grace(600)
	h.m.SetPods([]*v1.Pod{pod})
	h.waitFor("running", func() bool { return running(h.containerState(pod.UID, "app")) })
	h.m.SetDeletionGrace("default", "p", 3*time.Second)
	h.m.SetDeletionGrace("default", "p", 10*time.Second)
	h.m.SetDeletionGrace("default", "other", time.Second)
	h.m.SetPods(nil)
	h.waitFor("pod gone", func() bool { return h.pod(pod.UID) == nil })
	rt.mu.Lock()
	defer rt.mu.Unlock()
	if g := rt.graces["app"]; len(g) != 1 || g[0] != 3*time.Second {
		t.Fatalf("stop grace %v, want the delete request's 3s", g)
	}
}

// A delete request shortening the grace period while the pod is being
// stopped cuts the stop in progress: the container is stopped again with
// the shorter period, and its preStop hook does not run twice.
func TestWorkerShorterGraceCutsStop(t *testing.T) {
	rt := newFakeRuntime()
	rt.holdStop = time.Minute
	h := newHarness(t, rt, Config{Hooks: &fakeHooks{rt: rt}})
	pod := testPod(v1.RestartPolicyAlways, nil, "app")
	pod.Spec.TerminationGracePeriodSeconds = grace(600)
	withHooks(&pod.Spec.Containers[0], false, true)
	h.m.SetPods([]*v1.Pod{pod})
	h.waitFor("running", func() bool { return running(h.containerState(pod.UID, "app")) })
	h.m.SetPods(nil)
	h.waitFor("the stop with the pod's grace period", func() bool {
		rt.mu.Lock()
		defer rt.mu.Unlock()
		return len(rt.graces["app"]) == 1
	})
	h.m.SetDeletionGrace("default", "p", 2*time.Second)
	h.waitFor("pod gone", func() bool { return h.pod(pod.UID) == nil })
	rt.mu.Lock()
	g := rt.graces["app"]
	rt.mu.Unlock()
	if len(g) != 2 || g[0] != 600*time.Second || g[1] != 2*time.Second {
		t.Fatalf("stop graces %v, want 10m0s then the shorter 2s; calls %v", g, rt.Calls())
	}
	preStops := 0
	for _, c := range rt.Calls() {
		if strings.HasPrefix(c, "PreStop app") {
			preStops++
		}
	}
	if preStops != 1 {
		t.Fatalf("preStop ran %d times: %v", preStops, rt.Calls())
	}
}
