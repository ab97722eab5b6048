package prober

import (
	"errors"
	"slices"
	"testing"
	"time"

	v1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

const cid = "containerd://c1"

// step runs doProbe once and checks it wants to keep going.
func step(t *testing.T, w *worker) {
	t.Helper()
	if keep, _ := w.doProbe(false); !keep {
		t.Fatal("worker stopped unexpectedly")
	}
}

func result(w *worker) (Result, bool) {
	return w.results.get(w.containerID)
}

func TestInitialResults(t *testing.T) {
	tests := []struct {
		t    ProbeType
		want Result
	}{
		{Readiness, Failure},
		{Liveness, Success},
		{Startup, Unknown},
	}
	for _, tt := range tests {
		t.Run(tt.t.String(), func(t *testing.T) {
			h := newHarness(t)
			pod := testPod("u1", execProbe(1, 3), execProbe(1, 3), execProbe(1, 3))
			// Initial delay keeps any probe from running: only the initial
			// value is set.
			pod.Spec.Containers[0].LivenessProbe.InitialDelaySeconds = 100
			pod.Spec.Containers[0].ReadinessProbe.InitialDelaySeconds = 100
			pod.Spec.Containers[0].StartupProbe.InitialDelaySeconds = 100
			h.status.set(running(pod, cid, epoch, false))
			w := h.worker(pod, tt.t)
			step(t, w)
			if r, ok := result(w); !ok || r != tt.want {
				t.Errorf("result %v (%v), want %v", r, ok, tt.want)
			}
			if h.exec.count() != 0 {
				t.Errorf("probe ran during the initial delay")
			}
			if h.notifications() != 1 {
				t.Errorf("setting the initial result must notify once")
			}
		})
	}
}

func TestThresholds(t *testing.T) {
	type stepWant struct {
		run  execResult
		want Result
	}
	tests := []struct {
		name    string
		t       ProbeType
		success int32
		failure int32
		steps   []stepWant
	}{
		{"readiness needs successThreshold successes", Readiness, 3, 2, []stepWant{
			{pass, Failure}, {pass, Failure}, {pass, Success},
			{fail, Success}, {pass, Success}, // a lone failure does not commit
			{fail, Success}, {fail, Failure},
			{pass, Failure}, {fail, Failure}, {pass, Failure}, {pass, Failure}, {pass, Success},
		}},
		{"liveness default thresholds", Liveness, 1, 3, []stepWant{
			{pass, Success}, {fail, Success}, {fail, Success}, {pass, Success},
			{fail, Success}, {fail, Success}, {fail, Failure},
		}},
		{"failure threshold 1", Readiness, 1, 1, []stepWant{
			{pass, Success}, {fail, Failure}, {pass, Success},
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := newHarness(t)
			p := execProbe(tt.success, tt.failure)
			pod := testPod("u1", nil, nil, nil)
			if tt.t == Liveness {
				pod.Spec.Containers[0].LivenessProbe = p
			} else {
				pod.Spec.Containers[0].ReadinessProbe = p
			}
			h.status.set(running(pod, cid, epoch, true))
			w := h.worker(pod, tt.t)
			for i, s := range tt.steps {
				h.exec.then(s.run)
				step(t, w)
				if r, _ := result(w); r != s.want {
					t.Fatalf("step %d (%+v): result %v, want %v", i, s.run, r, s.want)
				}
			}
			if got, want := h.exec.count(), len(tt.steps); got != want {
				t.Errorf("%d probes ran, want %d", got, want)
			}
		})
	}
}

func TestLivenessHoldUntilNewContainer(t *testing.T) {
	h := newHarness(t)
	pod := testPod("u1", execProbe(1, 2), nil, nil)
	h.status.set(running(pod, cid, epoch, true))
	w := h.worker(pod, Liveness)
	h.exec.then(fail)

	step(t, w)
	step(t, w)
	if r, _ := h.m.Liveness(cid); r != Failure {
		t.Fatalf("liveness %v after 2 failures, want Failure", r)
	}
	for range 5 {
		step(t, w)
	}
	if n := h.exec.count(); n != 2 {
		t.Errorf("%d probes ran, want none while on hold after the failure", n)
	}
	if ids := h.exec.ids; ids[0] != "c1" {
		t.Errorf("exec got container ID %q, want the bare ID c1", ids[0])
	}

	// The pod worker restarts the container: a new ID clears the hold and
	// starts from Success; the old ID's result is gone.
	h.exec.then(pass)
	h.status.set(running(pod, "containerd://c2", epoch, true))
	step(t, w)
	if r, ok := h.m.Liveness("containerd://c2"); !ok || r != Success {
		t.Errorf("new container: liveness %v %v, want Success", r, ok)
	}
	if _, ok := h.m.Liveness(cid); ok {
		t.Error("old container's result kept")
	}
	if n := h.exec.count(); n != 3 {
		t.Errorf("%d probes ran, want probing resumed on the new container", n)
	}
}

func TestNewContainerResetsRun(t *testing.T) {
	h := newHarness(t)
	pod := testPod("u1", nil, execProbe(1, 3), nil)
	h.status.set(running(pod, cid, epoch, true))
	w := h.worker(pod, Readiness)
	h.exec.then(pass)
	step(t, w)
	h.exec.then(fail)
	step(t, w)
	step(t, w) // two failures of three
	h.status.set(running(pod, "containerd://c2", epoch, true))
	step(t, w) // first failure of the new instance
	if r, _ := result(w); r != Failure {
		t.Fatalf("readiness %v, want the initial Failure", r)
	}
	h.exec.then(pass)
	step(t, w)
	if r, _ := result(w); r != Success {
		t.Errorf("readiness %v after a success on the new container, want Success", r)
	}
}

func TestStartupGating(t *testing.T) {
	h := newHarness(t)
	pod := testPod("u1", execProbe(1, 3), execProbe(1, 3), execProbe(1, 3))
	pod.Spec.Containers[0].StartupProbe.FailureThreshold = 2
	h.status.set(running(pod, cid, epoch, false))
	live, ready, start := h.worker(pod, Liveness), h.worker(pod, Readiness), h.worker(pod, Startup)

	// Not started: only the startup probe runs.
	h.exec.then(fail)
	step(t, live)
	step(t, ready)
	if h.exec.count() != 0 {
		t.Fatal("liveness or readiness ran before the container started")
	}
	step(t, start)
	if r, _ := h.m.Startup(cid); r != Unknown || h.exec.count() != 1 {
		t.Fatalf("startup %v after 1 failure (threshold 2), want Unknown", r)
	}
	h.exec.then(pass)
	step(t, start)
	if r, _ := h.m.Startup(cid); r != Success {
		t.Fatalf("startup %v, want Success", r)
	}
	// A committed startup result holds the worker until a new container.
	step(t, start)
	if h.exec.count() != 2 {
		t.Errorf("startup probed after committing")
	}

	// Started (as UpdatePodStatus will publish): liveness and readiness run,
	// the startup probe does not.
	h.status.set(running(pod, cid, epoch, true))
	step(t, live)
	step(t, ready)
	step(t, start)
	if h.exec.count() != 4 {
		t.Errorf("%d probes, want liveness and readiness only", h.exec.count())
	}
	if r, _ := result(ready); r != Success {
		t.Errorf("readiness %v, want Success", r)
	}
}

func TestStartupFailureHolds(t *testing.T) {
	h := newHarness(t)
	pod := testPod("u1", nil, nil, execProbe(1, 2))
	h.status.set(running(pod, cid, epoch, false))
	w := h.worker(pod, Startup)
	h.exec.then(fail)
	for range 5 {
		step(t, w)
	}
	if r, _ := h.m.Startup(cid); r != Failure || h.exec.count() != 2 {
		t.Errorf("startup %v after %d probes, want Failure after 2 and then hold", r, h.exec.count())
	}
}

func TestInitialDelay(t *testing.T) {
	h := newHarness(t)
	p := execProbe(1, 3)
	p.InitialDelaySeconds = 5
	pod := testPod("u1", nil, p, nil)
	h.status.set(running(pod, cid, epoch, true))
	w := h.worker(pod, Readiness)

	step(t, w)
	h.clock.Step(4900 * time.Millisecond)
	step(t, w)
	if h.exec.count() != 0 {
		t.Fatalf("probe ran %v after start, before initialDelaySeconds=5", h.clock.Since(epoch))
	}
	h.clock.Step(100 * time.Millisecond)
	step(t, w)
	if h.exec.count() != 1 {
		t.Errorf("probe did not run once initialDelaySeconds passed")
	}
}

func TestNotRunningContainer(t *testing.T) {
	terminated := v1.ContainerState{Terminated: &v1.ContainerStateTerminated{ExitCode: 1}}
	waiting := v1.ContainerState{Waiting: &v1.ContainerStateWaiting{Reason: "CrashLoopBackOff"}}
	tests := []struct {
		name    string
		t       ProbeType
		state   v1.ContainerState
		policy  v1.RestartPolicy
		sidecar bool
		keep    bool
	}{
		{"waiting", Liveness, waiting, v1.RestartPolicyNever, false, true},
		{"terminated, will restart", Readiness, terminated, v1.RestartPolicyAlways, false, true},
		{"terminated, OnFailure", Readiness, terminated, v1.RestartPolicyOnFailure, false, true},
		{"terminated for good", Readiness, terminated, v1.RestartPolicyNever, false, false},
		{"terminated sidecar", Readiness, terminated, v1.RestartPolicyNever, true, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := newHarness(t)
			pod := testPod("u1", execProbe(1, 3), execProbe(1, 3), nil)
			pod.Spec.RestartPolicy = tt.policy
			pub := running(pod, cid, epoch, false)
			pub.Status.ContainerStatuses[0].State = tt.state
			h.status.set(pub)
			w := h.worker(pod, tt.t)
			w.sidecar = tt.sidecar
			if got, _ := w.doProbe(false); got != tt.keep {
				t.Errorf("keepGoing %v, want %v", got, tt.keep)
			}
			if r, _ := result(w); r != Failure {
				t.Errorf("result %v, want Failure for a container that is not running", r)
			}
			if h.exec.count() != 0 {
				t.Error("a container that is not running was probed")
			}
		})
	}
}

func TestPodTerminalWorkerExits(t *testing.T) {
	for _, phase := range []v1.PodPhase{v1.PodSucceeded, v1.PodFailed} {
		h := newHarness(t)
		pod := testPod("u1", execProbe(1, 3), nil, nil)
		pub := running(pod, cid, epoch, true)
		pub.Status.Phase = phase
		h.status.set(pub)
		if keep, _ := h.worker(pod, Liveness).doProbe(false); keep {
			t.Errorf("%s: worker keeps going", phase)
		}
	}
}

func TestNoStatusOrContainerYet(t *testing.T) {
	h := newHarness(t)
	pod := testPod("u1", execProbe(1, 3), nil, nil)
	w := h.worker(pod, Liveness)
	step(t, w) // nothing published
	pub := running(pod, "", epoch, true)
	h.status.set(pub)
	step(t, w) // no container ID yet
	if h.exec.count() != 0 || h.m.liveness.len() != 0 {
		t.Error("probed or recorded a result without a container")
	}
}

func TestDeletionStopsLivenessNotReadiness(t *testing.T) {
	h := newHarness(t)
	pod := testPod("u1", execProbe(1, 3), execProbe(1, 3), nil)
	pub := running(pod, cid, epoch, true)
	now := metav1.NewTime(epoch)
	pub.DeletionTimestamp = &now
	h.status.set(pub)
	h.exec.then(fail)

	live := h.worker(pod, Liveness)
	if keep, _ := live.doProbe(false); keep {
		t.Error("liveness worker keeps going on a deleted pod")
	}
	if r, _ := h.m.Liveness(cid); r != Success || !live.deleting {
		t.Errorf("liveness %v, want a quiet Success on deletion", r)
	}
	step(t, h.worker(pod, Readiness))
	if h.exec.count() != 1 {
		t.Error("readiness stopped probing on deletion")
	}
}

func TestProbeErrorsAreDiscarded(t *testing.T) {
	h := newHarness(t)
	pod := testPod("u1", execProbe(1, 1), nil, nil)
	h.status.set(running(pod, cid, epoch, true))
	w := h.worker(pod, Liveness)
	h.exec.then(execResult{err: errors.New("runtime is down")})
	step(t, w)
	if n := h.exec.count(); n != maxProbeRetries {
		t.Errorf("%d attempts, want %d", n, maxProbeRetries)
	}
	if r, _ := result(w); r != Success {
		t.Errorf("liveness %v, want the initial Success kept after an error", r)
	}
	want := []string{"spec.containers{app} Warning Unhealthy Liveness probe errored and resulted in unknown state: runtime is down"}
	if got := h.rec.take(); !slices.Equal(got, want) {
		t.Errorf("events %q, want %q", got, want)
	}
}

func TestEventsOnEveryFailure(t *testing.T) {
	h := newHarness(t)
	pod := testPod("u1", nil, execProbe(1, 3), nil)
	h.status.set(running(pod, cid, epoch, true))
	w := h.worker(pod, Readiness)
	h.exec.then(execResult{out: "cat: can't open '/tmp/healthy': No such file or directory\n", code: 1})
	step(t, w)
	step(t, w)
	h.exec.then(pass)
	step(t, w)
	want := []string{
		"spec.containers{app} Warning Unhealthy Readiness probe failed: cat: can't open '/tmp/healthy': No such file or directory\n",
		"spec.containers{app} Warning Unhealthy Readiness probe failed: cat: can't open '/tmp/healthy': No such file or directory\n",
	}
	if got := h.rec.take(); !slices.Equal(got, want) {
		t.Errorf("events %q, want %q", got, want)
	}
}

func TestExecCommandExpansion(t *testing.T) {
	h := newHarness(t)
	p := execProbe(1, 3)
	p.Exec.Command = []string{"cat", "$(FILE)"}
	pod := testPod("u1", p, nil, nil)
	pod.Spec.Containers[0].Env = []v1.EnvVar{{Name: "FILE", Value: "/tmp/healthy"}}
	h.status.set(running(pod, cid, epoch, true))
	step(t, h.worker(pod, Liveness))
	if got := h.exec.cmds[0]; !slices.Equal(got, []string{"cat", "/tmp/healthy"}) {
		t.Errorf("command %q", got)
	}
}

func TestNotifyOnlyOnChange(t *testing.T) {
	h := newHarness(t)
	pod := testPod("u1", nil, execProbe(1, 1), nil)
	h.status.set(running(pod, cid, epoch, true))
	w := h.worker(pod, Readiness)
	h.exec.then(fail)
	step(t, w) // initial Failure set (change), Failure again (no change)
	step(t, w)
	if n := h.notifications(); n != 1 {
		t.Errorf("%d notifications, want 1", n)
	}
	h.exec.then(pass)
	step(t, w)
	step(t, w)
	if n := h.notifications(); n != 1 {
		t.Errorf("%d notifications for Failure→Success, want 1", n)
	}
}

func TestStoppedMidProbeDiscards(t *testing.T) {
	h := newHarness(t)
	pod := testPod("u1", execProbe(1, 1), nil, nil)
	h.status.set(running(pod, cid, epoch, true))
	w := h.worker(pod, Liveness)
	w.stop()
	h.exec.then(execResult{err: errors.New("context canceled")})
	step(t, w)
	if r, _ := result(w); r != Success {
		t.Errorf("liveness %v, want no verdict from a cancelled probe", r)
	}
	if ev := h.rec.take(); len(ev) != 0 {
		t.Errorf("events %q from a cancelled probe", ev)
	}
}
