package podworker

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"go.uber.org/zap/zaptest"
	v1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/types"

	"github.com/minikubelet/minikubelet/events"
	"github.com/minikubelet/minikubelet/internal/kuberules"
	"github.com/minikubelet/minikubelet/runtime"
	"github.com/minikubelet/minikubelet/status"
)

type harness struct {
	t     *testing.T
	rt    *fakeRuntime
	store *status.Store
	ev    *events.Store
	m     *Manager
}

func newHarness(t *testing.T, rt *fakeRuntime, cfg Config) *harness {
	t.Helper()
	log := zaptest.NewLogger(t)
	store := status.NewStore()
	ev := events.NewStore(log, "node", 1000)
	ctx, cancel := context.WithCancel(context.Background())
	m := New(log, cfg, rt, store, ev, nil)
	if err := m.Start(ctx); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cancel(); m.Wait() })
	return &harness{t: t, rt: rt, store: store, ev: ev, m: m}
}

// waitFor polls cond until it holds or the deadline passes.
func (h *harness) waitFor(what string, cond func() bool) {
	h.t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			h.t.Fatalf("timed out waiting for %s; calls: %v", what, h.rt.Calls())
		}
		time.Sleep(2 * time.Millisecond)
	}
}

func (h *harness) pod(uid types.UID) *v1.Pod {
	p, _ := h.store.Get(uid)
	return p
}

func (h *harness) containerState(uid types.UID, name string) v1.ContainerStatus {
	p := h.pod(uid)
	if p == nil {
		return v1.ContainerStatus{}
	}
	for _, s := range append(p.Status.InitContainerStatuses, p.Status.ContainerStatuses...) {
		if s.Name == name {
			return s
		}
	}
	return v1.ContainerStatus{}
}

func running(s v1.ContainerStatus) bool { return s.State.Running != nil }

func TestWorkerRunsInitContainersInOrder(t *testing.T) {
	rt := newFakeRuntime()
	h := newHarness(t, rt, Config{LogDir: "/logs"})
	pod := testPod(v1.RestartPolicyAlways, []string{"init-a", "init-b"}, "app")
	h.m.SetPods([]*v1.Pod{pod})

	h.waitFor("init-a running", func() bool { return running(h.containerState(pod.UID, "init-a")) })
	if p := h.pod(pod.UID); p.Status.Phase != v1.PodPending || running(h.containerState(pod.UID, "init-b")) {
		t.Fatalf("phase %s; init-b must wait", p.Status.Phase)
	}
	rt.exit(pod.UID, "init-a", 0)
	h.waitFor("init-b running", func() bool { return running(h.containerState(pod.UID, "init-b")) })
	if running(h.containerState(pod.UID, "app")) {
		t.Fatal("app started before init-b finished")
	}
	rt.exit(pod.UID, "init-b", 0)
	h.waitFor("app running", func() bool { return running(h.containerState(pod.UID, "app")) })
	h.waitFor("pod ready", func() bool {
		p := h.pod(pod.UID)
		return p.Status.Phase == v1.PodRunning && p.Status.PodIP == "10.0.0.9" && podReady(p)
	})
	want := []string{"RunSandbox p 0", "StartContainer init-a 0", "StartContainer init-b 0", "StartContainer app 0"}
	if got := rt.Calls(); !slices.Equal(got, want) {
		t.Fatalf("calls = %v, want %v", got, want)
	}
	if lp := rt.containers[h.containerState(pod.UID, "app").ContainerID[len("containerd://"):]].LogPath; lp != "/logs/default_p_uid-1/app/0.log" {
		t.Fatalf("log path %q", lp)
	}
}

func podReady(p *v1.Pod) bool {
	for _, c := range p.Status.Conditions {
		if c.Type == v1.PodReady {
			return c.Status == v1.ConditionTrue
		}
	}
	return false
}

func TestWorkerFailedInitNeverFailsPod(t *testing.T) {
	rt := newFakeRuntime()
	h := newHarness(t, rt, Config{})
	pod := testPod(v1.RestartPolicyNever, []string{"init"}, "app")
	h.m.SetPods([]*v1.Pod{pod})
	h.waitFor("init running", func() bool { return running(h.containerState(pod.UID, "init")) })
	rt.exit(pod.UID, "init", 3)
	h.waitFor("pod failed", func() bool { return h.pod(pod.UID).Status.Phase == v1.PodFailed })
	for _, c := range rt.Calls() {
		if strings.HasPrefix(c, "StartContainer app") {
			t.Fatal("app container ran after a failed init container under Never")
		}
	}
}

func TestWorkerCrashLoopBackOff(t *testing.T) {
	rt := newFakeRuntime()
	// The default 10s curve: the first restart must not wait for it, and the
	// second must, which a test of a few seconds can tell apart.
	h := newHarness(t, rt, Config{})
	pod := testPod(v1.RestartPolicyAlways, nil, "app")
	h.m.SetPods([]*v1.Pod{pod})

	h.waitFor("app running", func() bool { return running(h.containerState(pod.UID, "app")) })
	rt.exit(pod.UID, "app", 1)
	// First restart is immediate.
	h.waitFor("restart 1", func() bool {
		s := h.containerState(pod.UID, "app")
		return running(s) && s.RestartCount == 1
	})
	rt.exit(pod.UID, "app", 1)
	h.waitFor("CrashLoopBackOff", func() bool {
		s := h.containerState(pod.UID, "app")
		return s.State.Waiting != nil && s.State.Waiting.Reason == "CrashLoopBackOff" &&
			s.LastTerminationState.Terminated != nil && s.LastTerminationState.Terminated.ExitCode == 1
	})
	if p := h.pod(pod.UID); p.Status.Phase != v1.PodRunning {
		t.Fatalf("phase %s, want Running", p.Status.Phase)
	}
	if s := h.containerState(pod.UID, "app"); !strings.HasPrefix(s.State.Waiting.Message, "back-off 10s restarting failed container=app pod=p_default(uid-1)") {
		t.Fatalf("waiting message %q", s.State.Waiting.Message)
	}
	found := false
	for _, e := range h.ev.List("default", "p") {
		if e.Reason == "BackOff" && e.Type == v1.EventTypeWarning {
			found = true
		}
	}
	if !found {
		t.Fatal("no BackOff event")
	}
}

// The worker wakes itself when a back-off expires.
func TestWorkerRestartsWhenBackOffExpires(t *testing.T) {
	rt := newFakeRuntime()
	h := newHarness(t, rt, Config{BackOffInitial: 200 * time.Millisecond, BackOffMax: time.Second})
	pod := testPod(v1.RestartPolicyAlways, nil, "app")
	h.m.SetPods([]*v1.Pod{pod})
	for i := int32(1); i <= 3; i++ {
		h.waitFor("running", func() bool { return running(h.containerState(pod.UID, "app")) })
		rt.exit(pod.UID, "app", 1)
		h.waitFor("restart", func() bool {
			s := h.containerState(pod.UID, "app")
			return running(s) && s.RestartCount == i
		})
	}
}

func TestWorkerOnFailureSucceeds(t *testing.T) {
	rt := newFakeRuntime()
	h := newHarness(t, rt, Config{})
	pod := testPod(v1.RestartPolicyOnFailure, nil, "job")
	h.m.SetPods([]*v1.Pod{pod})
	h.waitFor("job running", func() bool { return running(h.containerState(pod.UID, "job")) })
	rt.exit(pod.UID, "job", 0)
	h.waitFor("pod succeeded", func() bool { return h.pod(pod.UID).Status.Phase == v1.PodSucceeded })
	h.waitFor("sandbox stopped", func() bool {
		return slices.ContainsFunc(rt.Calls(), func(c string) bool { return strings.HasPrefix(c, "StopSandbox") })
	})
}

func TestWorkerTerminatesRemovedPod(t *testing.T) {
	rt := newFakeRuntime()
	h := newHarness(t, rt, Config{})
	pod := testPod(v1.RestartPolicyAlways, nil, "a", "b")
	h.m.SetPods([]*v1.Pod{pod})
	h.waitFor("both running", func() bool {
		return running(h.containerState(pod.UID, "a")) && running(h.containerState(pod.UID, "b"))
	})
	h.m.SetPods(nil)
	h.waitFor("pod gone", func() bool { return h.pod(pod.UID) == nil })
	rt.mu.Lock()
	defer rt.mu.Unlock()
	if len(rt.containers) != 0 || len(rt.sandboxes) != 0 || !rt.cleaned[pod.UID] {
		t.Fatalf("left behind: %d containers, %d sandboxes, cleaned=%v", len(rt.containers), len(rt.sandboxes), rt.cleaned[pod.UID])
	}
}

func TestWorkerChangedPodWaitsForOldOne(t *testing.T) {
	rt := newFakeRuntime()
	h := newHarness(t, rt, Config{})
	old := testPod(v1.RestartPolicyAlways, nil, "app")
	h.m.SetPods([]*v1.Pod{old})
	h.waitFor("old running", func() bool { return running(h.containerState(old.UID, "app")) })

	changed := testPod(v1.RestartPolicyAlways, nil, "app")
	changed.UID = "uid-2"
	h.m.SetPods([]*v1.Pod{changed})
	h.waitFor("new running", func() bool { return running(h.containerState(changed.UID, "app")) })
	calls := rt.Calls()
	cleanup := slices.Index(calls, "CleanupPod uid-1")
	secondSandbox := slices.Index(calls, "RunSandbox p 0")
	if last := slices.Index(calls[secondSandbox+1:], "RunSandbox p 0"); cleanup < 0 || last < 0 || secondSandbox+1+last < cleanup {
		t.Fatalf("new pod started before the old one was gone: %v", calls)
	}
}

func TestManagerAdoptsAndCleansOrphans(t *testing.T) {
	rt := newFakeRuntime()
	kept := testPod(v1.RestartPolicyAlways, nil, "app")
	orphan := testPod(v1.RestartPolicyAlways, nil, "app")
	orphan.Name, orphan.UID = "gone", "uid-orphan"
	ctx := context.Background()
	for _, p := range []*v1.Pod{kept, orphan} {
		sb, _ := rt.RunSandbox(ctx, p, 0)
		if _, err := rt.StartContainer(ctx, sb, p, &p.Spec.Containers[0], runtimeOpts()); err != nil {
			t.Fatal(err)
		}
	}
	before := len(rt.Calls())

	h := newHarness(t, rt, Config{})
	h.m.SetPods([]*v1.Pod{kept})
	h.waitFor("kept pod published running", func() bool { return running(h.containerState(kept.UID, "app")) })
	h.waitFor("orphan cleaned", func() bool {
		rt.mu.Lock()
		defer rt.mu.Unlock()
		return rt.cleaned[orphan.UID]
	})
	for _, c := range rt.Calls()[before:] {
		if strings.HasPrefix(c, "StartContainer") || strings.HasPrefix(c, "RunSandbox") {
			t.Fatalf("adoption restarted something: %s", c)
		}
	}
	// Adoption takes the runtime's start-up listing, not one of its own.
	rt.mu.Lock()
	startups, listings := rt.startups, rt.listings
	rt.mu.Unlock()
	if startups != 1 || listings != 0 {
		t.Errorf("start-up made %d start-up listings and %d listings, want 1 and 0", startups, listings)
	}
}

// An adopted pod's status comes from what containerd held at the agent's
// start, before its worker's first sync reads containerd again: the first
// status published already shows the container running, as it was.
func TestManagerPublishesAdoptedPodBeforeFirstSync(t *testing.T) {
	rt := newFakeRuntime()
	pod := testPod(v1.RestartPolicyAlways, nil, "app")
	ctx := context.Background()
	sb, _ := rt.RunSandbox(ctx, pod, 0)
	ctr, err := rt.StartContainer(ctx, sb, pod, &pod.Spec.Containers[0], runtimeOpts())
	if err != nil {
		t.Fatal(err)
	}
	before := len(rt.Calls())

	h := newHarness(t, rt, Config{})
	watchCtx, stop := context.WithCancel(ctx)
	defer stop()
	changes := h.store.Watch(watchCtx, 10)
	hold := make(chan struct{})
	var release sync.Once
	t.Cleanup(func() { release.Do(func() { close(hold) }) }) // before the harness's: a failed test's worker returns
	rt.mu.Lock()
	rt.hold = hold // no pod state read returns until the first status is checked
	rt.mu.Unlock()
	h.m.SetPods([]*v1.Pod{pod})

	first := (<-changes).Pod
	cs := first.Status.ContainerStatuses
	if first.Status.Phase != v1.PodRunning || len(cs) != 1 || cs[0].State.Running == nil || !cs[0].Ready ||
		cs[0].ContainerID != kuberules.StatusContainerID(ctr.ID) || !cs[0].State.Running.StartedAt.Time.Equal(ctr.StartedAt) {
		t.Fatalf("first status published: %+v, want %s running since %v and ready", first.Status, ctr.ID, ctr.StartedAt)
	}
	if len(first.Status.PodIPs) != len(sb.IPs) || first.Status.PodIP != sb.IPs[0] {
		t.Errorf("pod IPs %v, want %v", first.Status.PodIPs, sb.IPs)
	}
	// The pod started with its sandbox, not when the agent came back.
	if st := first.Status.StartTime; st == nil || !st.Time.Equal(sb.CreatedAt) {
		t.Errorf("start time %v, want the sandbox's creation %v", st, sb.CreatedAt)
	}
	rt.mu.Lock()
	reads := rt.stateReads
	rt.mu.Unlock()
	if reads != 0 {
		t.Errorf("%d pod state reads before the first status", reads)
	}

	release.Do(func() { close(hold) })
	h.waitFor("first sync", func() bool {
		rt.mu.Lock()
		defer rt.mu.Unlock()
		return rt.stateReads > 0
	})
	h.waitFor("still running", func() bool { return running(h.containerState(pod.UID, "app")) })
	for _, c := range rt.Calls()[before:] {
		if strings.HasPrefix(c, "StartContainer") || strings.HasPrefix(c, "RunSandbox") || strings.HasPrefix(c, "StopContainer") {
			t.Fatalf("adoption changed the pod: %s", c)
		}
	}
}

func TestWorkerManifestBackDuringTermination(t *testing.T) {
	rt := newFakeRuntime()
	h := newHarness(t, rt, Config{})
	pod := testPod(v1.RestartPolicyAlways, nil, "app")
	h.m.SetPods([]*v1.Pod{pod})
	h.waitFor("running", func() bool { return running(h.containerState(pod.UID, "app")) })
	h.m.SetPods(nil)
	h.m.SetPods([]*v1.Pod{pod})
	h.waitFor("cleaned", func() bool {
		rt.mu.Lock()
		defer rt.mu.Unlock()
		return rt.cleaned[pod.UID]
	})
	h.waitFor("running again", func() bool { return running(h.containerState(pod.UID, "app")) })
}

func TestWorkerRecreatesDeadSandbox(t *testing.T) {
	rt := newFakeRuntime()
	// The app container killed with the old sandbox restarts under its
	// back-off like any exited container.
	h := newHarness(t, rt, Config{BackOffInitial: 100 * time.Millisecond, BackOffMax: 200 * time.Millisecond})
	pod := testPod(v1.RestartPolicyAlways, nil, "app")
	h.m.SetPods([]*v1.Pod{pod})
	h.waitFor("running", func() bool { return running(h.containerState(pod.UID, "app")) })
	rt.mu.Lock()
	for _, sb := range rt.sandboxes {
		sb.Ready, sb.PID = false, 0
	}
	rt.mu.Unlock()
	h.m.Poke(pod.UID)
	h.waitFor("new sandbox", func() bool { return slices.Contains(rt.Calls(), "RunSandbox p 1") })
	h.waitFor("running again", func() bool {
		s := h.containerState(pod.UID, "app")
		return running(s) && s.RestartCount == 1
	})
	if !hasEventReason(h.ev.List("default", "p"), "SandboxChanged") {
		t.Error("no SandboxChanged event")
	}
}

// A volume that cannot be set up holds the pod before its sandbox, with a
// FailedMount event; once it can be, the pod starts.
func TestWorkerWaitsForVolumes(t *testing.T) {
	rt := newFakeRuntime()
	rt.volumeErr = &runtime.MountError{Volume: "cfg", Err: errors.New(`configmap "x" not found`)}
	h := newHarness(t, rt, Config{})
	pod := testPod(v1.RestartPolicyAlways, nil, "app")
	h.m.SetPods([]*v1.Pod{pod})
	h.waitFor("FailedMount", func() bool {
		return slices.ContainsFunc(h.ev.List("default", "p"), func(e v1.Event) bool {
			return e.Reason == "FailedMount" && e.Message == `MountVolume.SetUp failed for volume "cfg" : configmap "x" not found`
		})
	})
	if slices.ContainsFunc(rt.Calls(), func(c string) bool { return strings.HasPrefix(c, "RunSandbox") }) {
		t.Errorf("sandbox created before its volumes: %v", rt.Calls())
	}
	if w := h.containerState(pod.UID, "app").State.Waiting; w == nil || w.Reason != "ContainerCreating" {
		t.Errorf("app waiting %+v, want ContainerCreating", w)
	}
	rt.mu.Lock()
	rt.volumeErr = nil
	rt.mu.Unlock()
	h.m.ConfigsChanged()
	h.waitFor("running", func() bool { return running(h.containerState(pod.UID, "app")) })
}

// attemptsAllowed is how many attempts a back-off starting at initial and
// doubling up to max allows within elapsed: one at once, then one each time
// the delay in force has passed.
func attemptsAllowed(elapsed, initial, max time.Duration) int {
	n, at, d := 1, time.Duration(0), initial
	for at+d <= elapsed {
		at += d
		n++
		d = min(2*d, max)
	}
	return n
}

// pokeSyncs wakes the pod's worker n times, each time waiting for the sync
// it causes (a read of the pod's state), as any event of the pod would.
func (h *harness) pokeSyncs(uid types.UID, n int) {
	h.t.Helper()
	for range n {
		h.rt.mu.Lock()
		before := h.rt.stateReads
		h.rt.mu.Unlock()
		h.m.Poke(uid)
		h.waitFor("a sync", func() bool {
			h.rt.mu.Lock()
			defer h.rt.mu.Unlock()
			return h.rt.stateReads > before
		})
	}
}

// A volume that cannot be set up is retried at the volume manager's pace
// (500 ms doubling), not at every sync: 30 syncs in a row set it up no
// more often than the back-off allows in the time they took, each attempt
// one FailedMount (the recorder counts repeats). A change of the ConfigMaps
// and Secrets retries it at once, whatever the back-off.
func TestWorkerVolumeRetriesBackOff(t *testing.T) {
	rt := newFakeRuntime()
	rt.volumeErr = &runtime.MountError{Volume: "cfg", Err: errors.New(`configmap "x" not found`)}
	h := newHarness(t, rt, Config{})
	pod := testPod(v1.RestartPolicyAlways, nil, "app")
	start := time.Now()
	h.m.SetPods([]*v1.Pod{pod})
	failedMount := func() int32 {
		for _, e := range h.ev.List("default", "p") {
			if e.Reason == "FailedMount" {
				return e.Count
			}
		}
		return 0
	}
	h.waitFor("FailedMount", func() bool { return failedMount() > 0 })
	h.pokeSyncs(pod.UID, 30)
	allowed := attemptsAllowed(time.Since(start), volumeBackOffInitial, volumeBackOffMax)
	rt.mu.Lock()
	calls := rt.volumeCalls
	rt.mu.Unlock()
	if calls > allowed || int(failedMount()) > allowed {
		t.Fatalf("volumes set up %d times, %d FailedMount, over 31 syncs in %v; the back-off allows %d",
			calls, failedMount(), time.Since(start), allowed)
	}

	rt.mu.Lock()
	rt.volumeErr = nil
	rt.mu.Unlock()
	h.m.ConfigsChanged()
	h.waitFor("running after the ConfigMap appeared", func() bool { return running(h.containerState(pod.UID, "app")) })
}

// A container whose configuration cannot be made (a missing ConfigMap in
// its env) is tried again after the kubelet's backOffPeriod, not at every
// sync, so its Failed event repeats at that pace; a change of the
// ConfigMaps and Secrets tries it at once.
func TestWorkerConfigErrorRetriesBackOff(t *testing.T) {
	rt := newFakeRuntime()
	rt.startErr = map[string]error{"app": &runtime.ConfigError{Err: errors.New(`configmap "x" not found`)}}
	h := newHarness(t, rt, Config{})
	pod := testPod(v1.RestartPolicyAlways, nil, "app")
	start := time.Now()
	h.m.SetPods([]*v1.Pod{pod})
	h.waitFor("CreateContainerConfigError", func() bool {
		w := h.containerState(pod.UID, "app").State.Waiting
		return w != nil && w.Reason == "CreateContainerConfigError"
	})
	h.pokeSyncs(pod.UID, 30)
	allowed := attemptsAllowed(time.Since(start), syncRetry, syncRetry)
	starts := 0
	for _, c := range rt.Calls() {
		if strings.HasPrefix(c, "StartContainer app") {
			starts++
		}
	}
	if starts > allowed {
		t.Fatalf("app started %d times over 31 syncs in %v; the back-off allows %d", starts, time.Since(start), allowed)
	}
	for _, e := range h.ev.List("default", "p") {
		if e.Reason == "Failed" && int(e.Count) > allowed {
			t.Fatalf("Failed event %q repeated %d times; the back-off allows %d", e.Message, e.Count, allowed)
		}
	}

	rt.mu.Lock()
	rt.startErr = nil
	rt.mu.Unlock()
	h.m.ConfigsChanged()
	h.waitFor("running after the ConfigMap appeared", func() bool { return running(h.containerState(pod.UID, "app")) })
}

func hasEventReason(evs []v1.Event, reason string) bool {
	return slices.ContainsFunc(evs, func(e v1.Event) bool { return e.Reason == reason })
}

// After containerd's event stream broke, exits during the gap come as one
// Resubscribed event with no pod: every worker looks at its pod again.
func TestManagerResubscribedPokesEveryPod(t *testing.T) {
	rt := newFakeRuntime()
	h := newHarness(t, rt, Config{BackOffInitial: 100 * time.Millisecond, BackOffMax: 200 * time.Millisecond})
	a := testPod(v1.RestartPolicyAlways, nil, "app")
	b := testPod(v1.RestartPolicyAlways, nil, "app")
	b.Name, b.UID = "q", "uid-2"
	h.m.SetPods([]*v1.Pod{a, b})
	for _, p := range []*v1.Pod{a, b} {
		h.waitFor("running", func() bool { return running(h.containerState(p.UID, "app")) })
	}
	// Both exit with no event (the stream was down).
	rt.mu.Lock()
	for _, c := range rt.containers {
		c.State, c.ExitCode, c.FinishedAt, c.Reason = runtime.StateExited, 1, time.Now(), "Error"
	}
	rt.mu.Unlock()
	rt.events <- runtime.Event{Type: runtime.Resubscribed, At: time.Now()}
	for _, p := range []*v1.Pod{a, b} {
		h.waitFor("restarted "+p.Name, func() bool {
			s := h.containerState(p.UID, "app")
			return running(s) && s.RestartCount == 1
		})
	}
}

// steppedClock is a wall clock a test can step, as an NTP correction or a
// user's `date -s` does.
type steppedClock struct {
	mu     sync.Mutex
	offset time.Duration
}

func (c *steppedClock) now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return time.Now().Add(c.offset)
}

func (c *steppedClock) step(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.offset += d
}

// The wall clock stepped right after each exit of a crash-looping
// container: the runtime's FinishedAt (wall time) is then an hour ahead of
// now, or behind it. A step back must not hold the restart for an hour (it
// used to: FinishedAt plus the back-off); a step forward restarts it, as on
// the kubelet, at most early; neither restarts the container that keeps
// running beside it.
func TestWorkerBackOffSurvivesClockStep(t *testing.T) {
	for _, tc := range []struct {
		name string
		step time.Duration
	}{
		{"stepped back an hour", -time.Hour},
		{"stepped forward an hour", time.Hour},
	} {
		t.Run(tc.name, func(t *testing.T) {
			rt := newFakeRuntime()
			clock := &steppedClock{}
			h := newHarness(t, rt, Config{BackOffInitial: 200 * time.Millisecond, BackOffMax: time.Second, Now: clock.now})
			pod := testPod(v1.RestartPolicyAlways, nil, "app", "steady")
			h.m.SetPods([]*v1.Pod{pod})
			h.waitFor("steady running", func() bool { return running(h.containerState(pod.UID, "steady")) })
			for i := int32(1); i <= 4; i++ {
				h.waitFor("app running", func() bool { return running(h.containerState(pod.UID, "app")) })
				rt.exitAt(pod.UID, "app", 1, clock.now())
				clock.step(tc.step)
				h.waitFor(fmt.Sprintf("restart %d", i), func() bool {
					s := h.containerState(pod.UID, "app")
					return running(s) && s.RestartCount == i
				})
			}
			if s := h.containerState(pod.UID, "steady"); s.RestartCount != 0 || !running(s) {
				t.Errorf("the steady container was restarted: %+v", s)
			}
		})
	}
}

// syncOnly is a worker for pod whose syncs the test runs itself.
func (h *harness) syncOnly(pod *v1.Pod) *worker {
	return &worker{m: h.m, pod: pod, log: h.m.log, stopped: map[string]bool{}, reasons: map[string]waitReason{},
		backoff: newBackOff(time.Second, time.Minute), imageBackoff: newBackOff(time.Second, time.Minute),
		volumeRetry: newRetryGate(newBackOff(time.Second, time.Minute)), startRetry: newRetryGate(newBackOff(time.Second, time.Second)),
		published: h.store.Own(pod.UID), exitSeen: map[string]time.Time{}}
}

// A pod's first sync, which creates its sandbox and starts its container,
// reads the pod's state twice (each read lists every container of the
// namespace): before it acts, and once for gc and the status it then
// publishes, which shows the container running.
func TestWorkerFirstSyncReadsTwice(t *testing.T) {
	rt := newFakeRuntime()
	h := newHarness(t, rt, Config{})
	pod := testPod(v1.RestartPolicyAlways, nil, "app")
	w := h.syncOnly(pod)
	w.sync(context.Background())
	rt.mu.Lock()
	reads := rt.stateReads
	rt.mu.Unlock()
	if reads != 2 {
		t.Errorf("the first sync read the pod state %d times, want 2; calls %v", reads, rt.Calls())
	}
	if !running(h.containerState(pod.UID, "app")) {
		t.Errorf("published status without the app running: %+v", h.pod(pod.UID))
	}
}

// An idle sync (a resync with nothing to do) reads the pod's state from the
// runtime once and publishes nothing: with 100 pods, the state reads and
// the store's comparison of whole pods were most of the agent's idle CPU.
func TestWorkerIdleSyncReadsOnceAndPublishesNothing(t *testing.T) {
	rt := newFakeRuntime()
	h := newHarness(t, rt, Config{})
	pod := testPod(v1.RestartPolicyAlways, nil, "app")
	w := h.syncOnly(pod)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	w.sync(ctx) // sandbox and app started
	if !running(h.containerState(pod.UID, "app")) {
		t.Fatalf("app not running after the first sync; calls %v", rt.Calls())
	}
	changes := h.store.Watch(ctx, 16)
	rt.mu.Lock()
	before := rt.stateReads
	rt.mu.Unlock()
	for range 3 {
		w.sync(ctx)
	}
	rt.mu.Lock()
	reads := rt.stateReads - before
	rt.mu.Unlock()
	if reads != 3 {
		t.Errorf("3 idle syncs read the pod state %d times, want 3", reads)
	}
	select {
	case e := <-changes:
		t.Errorf("an idle sync published: %v %s", e.Type, e.Pod.Name)
	default:
	}
	// A change is still published: the app exits.
	rt.exit(pod.UID, "app", 1)
	rt.mu.Lock()
	before = rt.stateReads
	rt.mu.Unlock()
	w.sync(ctx)
	select {
	case <-changes:
	default:
		t.Errorf("the app's exit was not published")
	}
	// The sync that restarts it reads the state before and once after:
	// gc and the publish share that read, and the restart is published.
	rt.mu.Lock()
	reads = rt.stateReads - before
	rt.mu.Unlock()
	if reads != 2 {
		t.Errorf("the sync that restarted the app read the pod state %d times, want 2", reads)
	}
	if st := h.containerState(pod.UID, "app"); !running(st) || st.RestartCount != 1 {
		t.Errorf("app after the restarting sync = %+v", st)
	}
}

// fakeRoutes is the services manager's Flush: it records, among the
// runtime's calls, whether the pod was already published as terminating.
type fakeRoutes struct {
	rt    *fakeRuntime
	store *status.Store
	uid   types.UID
	err   error
}

func (r *fakeRoutes) Flush(context.Context) error {
	p, _ := r.store.Get(r.uid)
	r.rt.mu.Lock()
	defer r.rt.mu.Unlock()
	r.rt.record("Flush terminating=%v", p != nil && p.DeletionTimestamp != nil && !podReady(p))
	return r.err
}

// A pod being deleted leaves the Service rules before its containers are
// signalled: the worker publishes it as terminating (out of the Endpoints),
// has the rules flushed, then stops the containers. A failing flush holds
// up nothing.
func TestWorkerUnroutesBeforeStopping(t *testing.T) {
	for _, flushErr := range []error{nil, errors.New("nft: boom")} {
		t.Run(fmt.Sprint(flushErr), func(t *testing.T) {
			rt := newFakeRuntime()
			routes := &fakeRoutes{rt: rt, err: flushErr}
			h := newHarness(t, rt, Config{Routes: routes})
			routes.store = h.store
			pod := testPod(v1.RestartPolicyAlways, nil, "app")
			routes.uid = pod.UID
			h.m.SetPods([]*v1.Pod{pod})
			h.waitFor("running", func() bool { return running(h.containerState(pod.UID, "app")) })
			h.m.SetPods(nil)
			h.waitFor("pod gone", func() bool { return h.pod(pod.UID) == nil })
			calls := rt.Calls()
			flush, stop := slices.Index(calls, "Flush terminating=true"), slices.Index(calls, "StopContainer app")
			if flush < 0 || stop < 0 || flush > stop {
				t.Fatalf("the rules were not flushed after the pod was published terminating and before its container was stopped: %v", calls)
			}
		})
	}
}

// A deleted pod shows as terminating (deletionTimestamp, not ready) at
// once, from what was last observed, not only once containerd answered
// again.
func TestWorkerDeletedPodTerminatingAtOnce(t *testing.T) {
	rt := newFakeRuntime()
	h := newHarness(t, rt, Config{})
	pod := testPod(v1.RestartPolicyAlways, nil, "app")
	h.m.SetPods([]*v1.Pod{pod})
	h.waitFor("ready", func() bool { p := h.pod(pod.UID); return p != nil && podReady(p) })
	hold := make(chan struct{})
	release := sync.OnceFunc(func() { close(hold) })
	t.Cleanup(release) // before the harness's: the worker must not stay blocked
	rt.mu.Lock()
	rt.hold = hold
	rt.mu.Unlock()
	h.m.SetPods(nil)
	h.waitFor("terminating while containerd is slow", func() bool {
		p := h.pod(pod.UID)
		return p != nil && p.DeletionTimestamp != nil && !podReady(p) && p.Status.PodIP != ""
	})
	release()
	h.waitFor("pod gone", func() bool { return h.pod(pod.UID) == nil })
}

// A container whose log cannot be written gets a Warning event on its pod
// naming it and the error, and a Normal one when its log is written again.
func TestManagerRecordsLogWriteEvents(t *testing.T) {
	rt := newFakeRuntime()
	h := newHarness(t, rt, Config{})
	pod := testPod(v1.RestartPolicyAlways, nil, "app")
	h.m.SetPods([]*v1.Pod{pod})
	h.waitFor("running", func() bool { return running(h.containerState(pod.UID, "app")) })
	find := func(reason string) *v1.Event {
		for _, e := range h.ev.List(pod.Namespace, pod.Name) {
			if e.Reason == reason {
				return &e
			}
		}
		return nil
	}
	rt.events <- runtime.Event{Type: runtime.ContainerLogFailed, PodUID: pod.UID, ContainerID: "c1", ContainerName: "app",
		Message: "write to log file /x/0.log: no space left on device"}
	h.waitFor("FailedLogWrite event", func() bool { return find("FailedLogWrite") != nil })
	e := find("FailedLogWrite")
	if e.Type != v1.EventTypeWarning || e.InvolvedObject.FieldPath != "spec.containers{app}" ||
		!strings.Contains(e.Message, "container app") || !strings.Contains(e.Message, "no space left on device") {
		t.Errorf("FailedLogWrite event = %s %s %q", e.Type, e.InvolvedObject.FieldPath, e.Message)
	}
	rt.events <- runtime.Event{Type: runtime.ContainerLogResumed, PodUID: pod.UID, ContainerID: "c1", ContainerName: "app"}
	h.waitFor("LogWriteResumed event", func() bool { return find("LogWriteResumed") != nil })
	if e := find("LogWriteResumed"); e.Type != v1.EventTypeNormal || !strings.Contains(e.Message, "container app") {
		t.Errorf("LogWriteResumed event = %s %q", e.Type, e.Message)
	}
}

// A pod updated in place (same UID) keeps its containers when only its
// labels change, and restarts just the container whose image changed,
// whatever the restart policy, as the kubelet does.
func TestWorkerUpdatesPodInPlace(t *testing.T) {
	rt := newFakeRuntime()
	h := newHarness(t, rt, Config{})
	pod := testPod(v1.RestartPolicyNever, nil, "web", "side")
	h.m.SetPods([]*v1.Pod{pod})
	h.waitFor("both running", func() bool {
		return running(h.containerState(pod.UID, "web")) && running(h.containerState(pod.UID, "side"))
	})
	webID, sideID := h.containerState(pod.UID, "web").ContainerID, h.containerState(pod.UID, "side").ContainerID

	labelled := pod.DeepCopy()
	labelled.Labels = map[string]string{"tier": "front"}
	h.m.SetPods([]*v1.Pod{labelled})
	h.waitFor("the new label published", func() bool { return h.pod(pod.UID).Labels["tier"] == "front" })
	if got := h.containerState(pod.UID, "web").ContainerID; got != webID {
		t.Fatalf("a label change restarted web: %s → %s; calls %v", webID, got, rt.Calls())
	}

	imaged := labelled.DeepCopy()
	imaged.Spec.Containers[0].Image = "busybox:1.37"
	rt.mu.Lock()
	rt.images["busybox:1.37"] = true
	rt.mu.Unlock()
	h.m.SetPods([]*v1.Pod{imaged})
	h.waitFor("web restarted", func() bool {
		st := h.containerState(pod.UID, "web")
		return running(st) && st.ContainerID != webID && st.RestartCount == 1
	})
	if st := h.containerState(pod.UID, "side"); st.ContainerID != sideID || st.RestartCount != 0 {
		t.Fatalf("side was restarted too: %+v", st)
	}
	killed := slices.ContainsFunc(h.ev.List("default", "p"), func(e v1.Event) bool {
		return e.Reason == "Killing" && e.Message == "Container web definition changed, will be restarted"
	})
	if !killed {
		t.Errorf("no Killing event for the changed container: %v", h.ev.List("default", "p"))
	}
}

// The status reports the generation of the spec it reflects, in status and
// in each condition, as the 1.34 kubelet does; a pod the agent made
// without one is at its first.
func TestWorkerReportsObservedGeneration(t *testing.T) {
	rt := newFakeRuntime()
	h := newHarness(t, rt, Config{})
	pod := testPod(v1.RestartPolicyAlways, nil, "app")
	pod.Generation = 3
	first := testPod(v1.RestartPolicyAlways, nil, "app")
	first.Name, first.UID = "first", "uid-first"
	h.m.SetPods([]*v1.Pod{pod, first})
	for _, tc := range []struct {
		pod  *v1.Pod
		want int64
	}{{pod, 3}, {first, 1}} {
		h.waitFor(tc.pod.Name+" ready", func() bool { p := h.pod(tc.pod.UID); return p != nil && podReady(p) })
		p := h.pod(tc.pod.UID)
		if p.Status.ObservedGeneration != tc.want {
			t.Errorf("%s: observedGeneration %d, want %d", tc.pod.Name, p.Status.ObservedGeneration, tc.want)
		}
		for _, c := range p.Status.Conditions {
			if c.ObservedGeneration != tc.want {
				t.Errorf("%s: condition %s observedGeneration %d, want %d", tc.pod.Name, c.Type, c.ObservedGeneration, tc.want)
			}
		}
	}
}

// readinessProber reports every running container ready once ready is set:
// a readiness probe whose result the test decides.
type readinessProber struct {
	noProbes
	ready atomic.Bool
}

func (*readinessProber) AddPod(*v1.Pod)                   {}
func (*readinessProber) RemovePod(types.UID)              {}
func (*readinessProber) StopLivenessAndStartup(types.UID) {}
func (*readinessProber) Published(types.UID)              {}
func (p *readinessProber) UpdatePodStatus(_ *v1.Pod, st *v1.PodStatus) {
	for i := range st.ContainerStatuses {
		cs := &st.ContainerStatuses[i]
		started := cs.State.Running != nil
		cs.Started = &started
		cs.Ready = started && p.ready.Load()
	}
}

// A changed probe result is published at once from what the worker last
// observed, as the kubelet's status manager takes a readiness result
// without a sync: the pod reads Ready while containerd has not answered
// the sync that follows.
func TestWorkerPublishesProbeResultBeforeReadingState(t *testing.T) {
	rt := newFakeRuntime()
	log := zaptest.NewLogger(t)
	store := status.NewStore()
	pr := &readinessProber{}
	ctx, cancel := context.WithCancel(context.Background())
	m := New(log, Config{}, rt, store, events.NewStore(log, "node", 100), pr)
	if err := m.Start(ctx); err != nil {
		t.Fatal(err)
	}
	h := &harness{t: t, rt: rt, store: store, m: m}
	pod := testPod(v1.RestartPolicyAlways, nil, "app")
	m.SetPods([]*v1.Pod{pod})
	h.waitFor("running", func() bool { return running(h.containerState(pod.UID, "app")) })
	if podReady(h.pod(pod.UID)) {
		t.Fatal("ready before the probe succeeded")
	}
	hold := make(chan struct{})
	release := sync.OnceFunc(func() { close(hold) })
	t.Cleanup(func() { release(); cancel(); m.Wait() })
	rt.mu.Lock()
	rt.hold = hold
	reads := rt.stateReads
	rt.mu.Unlock()
	pr.ready.Store(true)
	m.ProbeResult(pod.UID)
	h.waitFor("ready while containerd is slow", func() bool { return podReady(h.pod(pod.UID)) })
	rt.mu.Lock()
	if rt.stateReads != reads {
		t.Errorf("pod state read %d times before Ready was published, want 0", rt.stateReads-reads)
	}
	rt.mu.Unlock()
	release()
}

// An exit no event reported is acted on at the next resync: one listing
// of every pod, not a read by each worker. Between resyncs an idle pod is
// not read at all.
func TestResyncActsOnUnreportedExit(t *testing.T) {
	rt := newFakeRuntime()
	h := newHarness(t, rt, Config{Resync: 50 * time.Millisecond})
	pod := testPod(v1.RestartPolicyAlways, nil, "app")
	h.m.SetPods([]*v1.Pod{pod})
	h.waitFor("app running", func() bool { return running(h.containerState(pod.UID, "app")) })
	listings := func() int {
		rt.mu.Lock()
		defer rt.mu.Unlock()
		return rt.listings
	}
	// Past the first sync and the listing that may have overlapped it.
	seen := listings()
	h.waitFor("two resync listings", func() bool { return listings() >= seen+2 })
	rt.mu.Lock()
	reads := rt.stateReads
	rt.mu.Unlock()
	seen = listings()
	h.waitFor("three more resync listings", func() bool { return listings() >= seen+3 })
	rt.mu.Lock()
	if rt.stateReads != reads {
		t.Errorf("idle resyncs read the pod's state %d times, want 0 (the listing serves them)", rt.stateReads-reads)
	}
	rt.mu.Unlock()

	if !rt.exitUnreported(pod.UID, "app", 1) {
		t.Fatal("app was not running")
	}
	h.waitFor("app restarted by a resync", func() bool {
		s := h.containerState(pod.UID, "app")
		return running(s) && s.RestartCount == 1
	})
}

// A listing begun before the worker's last sync ended may miss what that
// sync did: the worker reads the state itself instead.
func TestResyncListingOlderThanSyncIsNotUsed(t *testing.T) {
	rt := newFakeRuntime()
	h := newHarness(t, rt, Config{})
	pod := testPod(v1.RestartPolicyAlways, nil, "app")
	w := h.syncOnly(pod)
	listedAt := time.Now()
	w.lastSync = listedAt.Add(time.Millisecond)
	w.resyncFrom(runtime.PodState{UID: pod.UID}, listedAt)
	if ps := w.takeListed(); ps != nil {
		t.Errorf("took a listing begun before the last sync ended: %+v", ps)
	}
	w.resyncFrom(runtime.PodState{UID: pod.UID}, w.lastSync.Add(time.Millisecond))
	if ps := w.takeListed(); ps == nil || ps.UID != pod.UID {
		t.Errorf("a listing begun after the last sync: got %+v", ps)
	}
	if ps := w.takeListed(); ps != nil {
		t.Errorf("a listing was taken twice")
	}
}

// Activity is called once per resync, after its listing was handed out:
// the agent releases memory after what the round touched.
func TestActivityFollowsEachListing(t *testing.T) {
	rt := newFakeRuntime()
	var mu sync.Mutex
	var after []int // listings made when each call came
	h := newHarness(t, rt, Config{Resync: 20 * time.Millisecond, Activity: func() {
		rt.mu.Lock()
		n := rt.listings
		rt.mu.Unlock()
		mu.Lock()
		after = append(after, n)
		mu.Unlock()
	}})
	h.waitFor("three resyncs", func() bool {
		mu.Lock()
		defer mu.Unlock()
		return len(after) >= 3
	})
	mu.Lock()
	defer mu.Unlock()
	for i, n := range after[:3] {
		if n != i+1 {
			t.Errorf("resync %d reported after %d listings, want %d", i+1, n, i+1)
		}
	}
}

// Activity is also called for each change of a pod's published status,
// its start and its removal, and not for a sync that changed nothing: the
// agent releases memory once a burst of pod work is over, and an idle pod
// does not put that off.
func TestActivityOnStatusChanges(t *testing.T) {
	rt := newFakeRuntime()
	var calls atomic.Int32
	h := newHarness(t, rt, Config{Activity: func() { calls.Add(1) }})
	pod := testPod(v1.RestartPolicyAlways, nil, "app")
	h.m.SetPods([]*v1.Pod{pod})
	h.waitFor("pod running", func() bool { return running(h.containerState(pod.UID, "app")) })
	started := calls.Load()
	if started == 0 {
		t.Fatal("no activity reported for a pod's start")
	}
	h.pokeSyncs(pod.UID, 3)
	if n := calls.Load(); n != started {
		t.Errorf("3 syncs that changed nothing reported activity %d times", n-started)
	}
	h.m.SetPods(nil)
	h.waitFor("pod removed", func() bool { return h.pod(pod.UID) == nil })
	h.waitFor("activity for the termination", func() bool { return calls.Load() > started })
}
