package prober

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	v1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
)

func TestUserAgent(t *testing.T) {
	for in, want := range map[string]string{"1.34": "kube-probe/1.34", "v1.33.2": "kube-probe/1.33", "": "kube-probe/1.34"} {
		if got := userAgent(in); got != want {
			t.Errorf("userAgent(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestAddPodWorkers(t *testing.T) {
	h := newHarness(t)
	always := v1.ContainerRestartPolicyAlways
	pod := testPod("u1", execProbe(1, 3), execProbe(1, 3), execProbe(1, 3))
	pod.Spec.Containers = append(pod.Spec.Containers, v1.Container{Name: "plain"})
	pod.Spec.InitContainers = []v1.Container{
		{Name: "init", ReadinessProbe: execProbe(1, 3)}, // not restartable: ignored
		{Name: "sidecar", RestartPolicy: &always, LivenessProbe: execProbe(1, 3)},
	}
	// Keep workers idle: nothing is published.
	h.m.AddPod(pod)
	h.m.AddPod(pod) // idempotent
	var keys []string
	h.m.mu.Lock()
	for k, w := range h.m.workers {
		keys = append(keys, k.container+"/"+k.probeType.String())
		if k.container == "sidecar" && !w.sidecar {
			t.Error("sidecar worker not marked as such")
		}
	}
	h.m.mu.Unlock()
	slices.Sort(keys)
	want := []string{"app/Liveness", "app/Readiness", "app/Startup", "sidecar/Liveness"}
	if !slices.Equal(keys, want) {
		t.Errorf("workers %q, want %q", keys, want)
	}

	h.m.RemovePod(pod.UID)
	h.m.RemovePod(pod.UID) // safe twice
	if n := h.m.workerCount(); n != 0 {
		t.Errorf("%d workers after RemovePod", n)
	}
	h.m.AddPod(pod) // the same UID can come back
	if n := h.m.workerCount(); n != 4 {
		t.Errorf("%d workers after re-adding, want 4", n)
	}
}

func TestStopLivenessAndStartup(t *testing.T) {
	h := newHarness(t)
	pod := testPod("u1", execProbe(1, 3), execProbe(1, 3), execProbe(1, 3))
	h.m.AddPod(pod)
	h.m.StopLivenessAndStartup(pod.UID)
	h.m.AddPod(pod) // a later sync must not bring them back
	h.m.mu.Lock()
	var kinds []ProbeType
	for k := range h.m.workers {
		kinds = append(kinds, k.probeType)
	}
	h.m.mu.Unlock()
	if !slices.Equal(kinds, []ProbeType{Readiness}) {
		t.Errorf("worker kinds %v, want readiness only", kinds)
	}
	h.m.RemovePod(pod.UID)
	h.m.Stop()
	h.m.Stop() // safe twice
	h.m.AddPod(pod)
	if n := h.m.workerCount(); n != 0 {
		t.Errorf("AddPod after Stop started %d workers", n)
	}
}

func TestUpdatePodStatus(t *testing.T) {
	runningState := v1.ContainerState{Running: &v1.ContainerStateRunning{StartedAt: metav1.NewTime(epoch)}}
	ok0 := v1.ContainerState{Terminated: &v1.ContainerStateTerminated{ExitCode: 0}}
	bad := v1.ContainerState{Terminated: &v1.ContainerStateTerminated{ExitCode: 1}}
	always := v1.ContainerRestartPolicyAlways
	pod := &v1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: "p", Namespace: "default", UID: "u1"},
		Spec: v1.PodSpec{
			InitContainers: []v1.Container{
				{Name: "init-ok"}, {Name: "init-bad"}, {Name: "init-running"},
				{Name: "sidecar", RestartPolicy: &always, ReadinessProbe: execProbe(1, 3)},
			},
			Containers: []v1.Container{
				{Name: "plain"},
				{Name: "ready-ok", ReadinessProbe: execProbe(1, 3)},
				{Name: "ready-fail", ReadinessProbe: execProbe(1, 3)},
				{Name: "ready-none", ReadinessProbe: execProbe(1, 3)},
				{Name: "start-ok", StartupProbe: execProbe(1, 3)},
				{Name: "start-pending", StartupProbe: execProbe(1, 3), ReadinessProbe: execProbe(1, 3)},
				{Name: "start-failed", StartupProbe: execProbe(1, 3)},
				{Name: "stopped"},
			},
		},
	}
	h := newHarness(t)
	// Register the workers without their goroutines, so a trigger stays in
	// the channel for the test to see.
	h.m.mu.Lock()
	for _, list := range [][]v1.Container{pod.Spec.Containers, pod.Spec.InitContainers} {
		for i := range list {
			c := &list[i]
			for _, pt := range []ProbeType{Liveness, Readiness, Startup} {
				if spec := probeOf(c, pt); spec != nil && (c.Name != "init") {
					key := probeKey{podUID: pod.UID, container: c.Name, probeType: pt}
					h.m.workers[key] = h.m.newWorker(key, pod, c, withDefaults(spec, pt), c.RestartPolicy != nil)
				}
			}
		}
	}
	h.m.mu.Unlock()
	owner := &worker{}
	h.m.readiness.set("cd://ready-ok", Success, owner)
	h.m.readiness.set("cd://ready-fail", Failure, owner)
	h.m.readiness.set("cd://sidecar", Success, owner)
	h.m.startup.set("cd://start-ok", Success, owner)
	h.m.startup.set("cd://start-failed", Failure, owner)

	cs := func(name string, state v1.ContainerState) v1.ContainerStatus {
		return v1.ContainerStatus{Name: name, ContainerID: "cd://" + name, State: state}
	}
	status := &v1.PodStatus{
		InitContainerStatuses: []v1.ContainerStatus{
			cs("init-ok", ok0), cs("init-bad", bad), cs("init-running", runningState), cs("sidecar", runningState),
		},
		ContainerStatuses: []v1.ContainerStatus{
			cs("plain", runningState), cs("ready-ok", runningState), cs("ready-fail", runningState),
			cs("ready-none", runningState), cs("start-ok", runningState), cs("start-pending", runningState),
			cs("start-failed", runningState), cs("stopped", bad),
		},
	}
	h.m.UpdatePodStatus(pod, status)

	want := map[string][2]bool{ // name: started, ready
		"init-ok": {false, true}, "init-bad": {false, false}, "init-running": {true, false}, "sidecar": {true, true},
		"plain": {true, true}, "ready-ok": {true, true}, "ready-fail": {true, false}, "ready-none": {true, false},
		"start-ok": {true, true}, "start-pending": {false, false}, "start-failed": {false, false}, "stopped": {false, false},
	}
	for _, s := range append(status.InitContainerStatuses, status.ContainerStatuses...) {
		w := want[s.Name]
		if s.Started == nil || *s.Started != w[0] || s.Ready != w[1] {
			t.Errorf("%s: started=%v ready=%v, want started=%v ready=%v", s.Name, s.Started != nil && *s.Started, s.Ready, w[0], w[1])
		}
	}

	// A readiness probe without a success is asked to run at once, once
	// the status is published; one that has succeeded, or whose container
	// has not started, is not.
	if w, _ := h.m.worker(probeKey{podUID: pod.UID, container: "ready-fail", probeType: Readiness}); len(w.manual) != 0 {
		t.Error("ready-fail: triggered before the status was published")
	}
	h.m.Published(pod.UID)
	triggered := func(name string) bool {
		w, _ := h.m.worker(probeKey{podUID: pod.UID, container: name, probeType: Readiness})
		select {
		case <-w.manual:
			return true
		default:
			return false
		}
	}
	for name, want := range map[string]bool{"ready-fail": true, "ready-none": true, "ready-ok": false, "start-pending": false, "sidecar": false} {
		if got := triggered(name); got != want {
			t.Errorf("%s: triggered %v, want %v", name, got, want)
		}
	}
}

// TestRunLoopTiming drives a real worker goroutine with the fake clock:
// start-up jitter, one probe per period, and a manual trigger restarting
// the period.
func TestRunLoopTiming(t *testing.T) {
	h := newHarness(t)
	h.m.agentStart = epoch // the agent just started: jitter applies
	h.m.jitter = func(p time.Duration) time.Duration {
		if p != 10*time.Second {
			t.Errorf("jitter asked for period %v", p)
		}
		return 3 * time.Second
	}
	pod := testPod("u1", nil, execProbe(1, 3), nil)
	h.status.set(running(pod, cid, epoch, true))
	h.m.AddPod(pod)

	advance := func(d time.Duration, wantProbes int) {
		t.Helper()
		waitFor(t, "worker to wait on its timer", h.clock.HasWaiters)
		h.clock.Step(d)
		waitFor(t, fmt.Sprintf("%d probes", wantProbes), func() bool { return h.exec.count() >= wantProbes })
		if n := h.exec.count(); n != wantProbes {
			t.Fatalf("%d probes, want %d", n, wantProbes)
		}
	}
	advance(2999*time.Millisecond, 0)
	h.clock.Step(time.Millisecond) // jitter over
	waitFor(t, "first probe", func() bool { return h.exec.count() == 1 })
	advance(9*time.Second, 1)
	advance(time.Second, 2) // one period later

	w, _ := h.m.worker(probeKey{podUID: pod.UID, container: "app", probeType: Readiness})
	advance(4*time.Second, 2)
	w.trigger()
	waitFor(t, "triggered probe", func() bool { return h.exec.count() == 3 })
	// The period now counts from the trigger: nothing at the old tick
	// (6 s later), a probe 10 s after the trigger.
	advance(6*time.Second, 3)
	advance(4*time.Second, 4)
}

// TestRunLoopTicksOnGrid: a worker started, or triggered, between two
// steps of tickGrid probes at once, then on the grid: its next tick is the
// first step of the grid after one period, and one period after that.
func TestRunLoopTicksOnGrid(t *testing.T) {
	h := newHarness(t)
	h.clock.Step(3 * time.Millisecond) // off the grid
	pod := testPod("u1", nil, execProbe(1, 3), nil)
	h.status.set(running(pod, cid, epoch, true))
	h.m.AddPod(pod)
	waitFor(t, "first probe", func() bool { return h.exec.count() == 1 })

	// A timer that fires leaves the fake clock in Step; the worker sets
	// its next one after the probe. So once the clock has a waiter again,
	// the probes due by now have run.
	advance := func(d time.Duration, wantProbes int) {
		t.Helper()
		waitFor(t, "worker to wait on its timer", h.clock.HasWaiters)
		h.clock.Step(d)
		waitFor(t, "worker to wait on its timer", h.clock.HasWaiters)
		if n := h.exec.count(); n != wantProbes {
			t.Fatalf("%d probes at %v, want %d", n, h.clock.Since(epoch), wantProbes)
		}
	}
	advance(10*time.Second+2*time.Millisecond, 1) // epoch+10.005 s: past one period, before the grid's step
	advance(5*time.Millisecond, 2)                // epoch+10.010 s: the grid's step
	advance(10*time.Second-time.Millisecond, 2)
	advance(time.Millisecond, 3) // epoch+20.010 s: exactly one period later

	w, _ := h.m.worker(probeKey{podUID: pod.UID, container: "app", probeType: Readiness})
	advance(4*time.Millisecond, 3)
	w.trigger() // at epoch+20.014 s
	waitFor(t, "triggered probe", func() bool { return h.exec.count() == 4 })
	advance(10*time.Second+5*time.Millisecond, 4) // epoch+30.019 s
	advance(time.Millisecond, 5)                  // epoch+30.020 s
}

func TestOnGrid(t *testing.T) {
	mono := time.Now() // carries a monotonic reading
	base := mono.Add(-mono.Sub(mono.Truncate(tickGrid)))
	for _, tc := range []struct{ in, want time.Duration }{
		{0, 0},
		{time.Nanosecond, tickGrid},
		{tickGrid - time.Nanosecond, tickGrid},
		{tickGrid, tickGrid},
		{3*tickGrid + 1, 4 * tickGrid},
	} {
		got := onGrid(base.Add(tc.in))
		if d := got.Sub(base); d != tc.want {
			t.Errorf("onGrid(grid+%v) = grid+%v, want grid+%v", tc.in, d, tc.want)
		}
		if got.Round(0) == got {
			t.Errorf("onGrid(grid+%v) lost the monotonic clock reading", tc.in)
		}
	}
}

func TestWorkerExitsWithPod(t *testing.T) {
	h := newHarness(t)
	pod := testPod("u1", execProbe(1, 3), execProbe(1, 3), nil)
	pub := running(pod, cid, epoch, true)
	h.status.set(pub)
	h.m.AddPod(pod)
	waitFor(t, "first probes", func() bool { return h.exec.count() == 2 })
	h.status.update(pod.UID, func(p *v1.Pod) { p.Status.Phase = v1.PodSucceeded })
	waitFor(t, "timers", h.clock.HasWaiters)
	h.clock.Step(10 * time.Second)
	waitFor(t, "workers to exit", func() bool { return h.m.workerCount() == 0 })
	if h.m.liveness.len()+h.m.readiness.len() != 0 {
		t.Error("results kept after the workers exited")
	}
}

// TestHTTPProbeThroughWorker checks the httpGet wiring: pod IP, named port,
// and the ProbeWarning event for a redirect that is not followed.
func TestHTTPProbeThroughWorker(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/hostname.html":
			fmt.Fprint(w, "web-1")
		case "/moved":
			http.Redirect(w, r, "http://localhost:1/elsewhere", http.StatusFound)
		default:
			http.NotFound(w, r)
		}
	}))
	defer srv.Close()
	u, _ := url.Parse(srv.URL)
	port, _ := strconv.Atoi(u.Port())

	tests := []struct {
		path   string
		want   Result
		events []string
	}{
		{"/hostname.html", Success, nil},
		{"/moved", Success, []string{`spec.containers{app} Warning ProbeWarning Readiness probe warning: Probe terminated redirects, Response body: <a href="http://localhost:1/elsewhere">Found</a>.` + "\n\n"}},
		{"/gone", Failure, []string{"spec.containers{app} Warning Unhealthy Readiness probe failed: HTTP probe failed with statuscode: 404"}},
	}
	for _, tt := range tests {
		t.Run(tt.path, func(t *testing.T) {
			h := newHarness(t)
			p := &v1.Probe{ProbeHandler: v1.ProbeHandler{HTTPGet: &v1.HTTPGetAction{Path: tt.path, Port: intstr.FromString("http")}}, FailureThreshold: 1}
			pod := testPod("u1", nil, p, nil)
			pod.Spec.Containers[0].Ports = []v1.ContainerPort{{Name: "http", ContainerPort: int32(port)}}
			h.status.set(running(pod, cid, epoch, true))
			step(t, h.worker(pod, Readiness))
			if r, _ := h.m.readiness.get(cid); r != tt.want {
				t.Errorf("readiness %v, want %v", r, tt.want)
			}
			if got := h.rec.take(); !slices.Equal(got, tt.events) {
				t.Errorf("events %q, want %q", got, tt.events)
			}
		})
	}
}

func TestNoPodIPIsAnError(t *testing.T) {
	h := newHarness(t)
	p := &v1.Probe{ProbeHandler: v1.ProbeHandler{TCPSocket: &v1.TCPSocketAction{Port: intstr.FromInt32(80)}}}
	pod := testPod("u1", p, nil, nil)
	pub := running(pod, cid, epoch, true)
	pub.Status.PodIP = ""
	h.status.set(pub)
	step(t, h.worker(pod, Liveness))
	want := []string{"spec.containers{app} Warning Unhealthy Liveness probe errored and resulted in unknown state: pod has no IP address yet"}
	if got := h.rec.take(); !slices.Equal(got, want) {
		t.Errorf("events %q, want %q", got, want)
	}
	if r, _ := h.m.Liveness(cid); r != Success {
		t.Errorf("liveness %v, want the initial Success", r)
	}
}

// TestRemoveThenAddKeepsNewResult: a stopping worker must not erase the
// result of the worker that replaced it for the same container.
func TestRemoveThenAddKeepsNewResult(t *testing.T) {
	h := newHarness(t)
	pod := testPod("u1", nil, execProbe(1, 3), nil)
	h.status.set(running(pod, cid, epoch, true))
	old := h.worker(pod, Readiness)
	step(t, old)
	fresh := h.worker(pod, Readiness)
	step(t, fresh)
	old.exit()
	if _, ok := h.m.readiness.get(cid); !ok {
		t.Error("old worker removed the new worker's result")
	}
}

// workerCount is the number of probe workers running.
func (m *Manager) workerCount() int {
	m.mu.Lock()
	defer m.mu.Unlock()
	return len(m.workers)
}

// TestEarlyRetries drives a real worker goroutine with the fake clock: a
// network readiness or startup probe that fails on a new container is
// tried again every 10 ms ten times, then after 20, 40, 80 ms and so on,
// until it passes or the next retry would not come before the regular
// tick. The retries' failures record no event and count toward no
// threshold; liveness and exec probes are not retried early.
func TestEarlyRetries(t *testing.T) {
	// The clock's steps: the early retries within a 1 s period, then just
	// before, at, and just after the first regular tick.
	at := []time.Duration{
		10, 20, 30, 40, 50, 60, 70, 80, 90, 100, 120, 160, 240, 400, 720, // early
		999, 1000, 1010, // the tick
	}
	for i := range at {
		at[i] *= time.Millisecond
	}
	const early = 15
	counting := func(from int) (c []int) { // one more probe at each early step
		for i := range early {
			c = append(c, from+i)
		}
		return c
	}
	same := func(n int) []int { return slices.Repeat([]int{n}, early) }

	tests := []struct {
		name      string
		probeType ProbeType
		exec      bool
		okFrom    int   // the first request answered 200 (1-based); 0: never
		probes    []int // probes made by each step of at, the first one included
		want      Result
		events    int // Unhealthy events: the regular ticks' failures only
	}{
		{"readiness passes on the third retry", Readiness, false, 4,
			append(append([]int{2, 3}, same(4)[2:]...), 4, 5, 5), Success, 1},
		{"readiness never passes", Readiness, false, 0,
			append(counting(2), 16, 17, 17), Failure, 2},
		{"startup passes on the second retry", Startup, false, 3,
			append(append([]int{2}, same(3)[1:]...), 3, 3, 3), Success, 1},
		// failureThreshold 2: the early retries' failures do not count,
		// so the startup probe fails at the regular tick, not before.
		{"startup never passes", Startup, false, 0,
			append(counting(2), 16, 17, 17), Failure, 2},
		{"liveness is not retried early", Liveness, false, 0,
			append(same(1), 1, 2, 2), Success, 2},
		{"exec is not retried early", Readiness, true, 0,
			append(same(1), 1, 2, 2), Failure, 2},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var requests atomic.Int32
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				if n := int(requests.Add(1)); tt.okFrom == 0 || n < tt.okFrom {
					w.WriteHeader(http.StatusServiceUnavailable)
				}
			}))
			defer srv.Close()
			u, _ := url.Parse(srv.URL)
			port, _ := strconv.Atoi(u.Port())

			h := newHarness(t)
			p := &v1.Probe{
				ProbeHandler:     v1.ProbeHandler{HTTPGet: &v1.HTTPGetAction{Path: "/", Port: intstr.FromInt(port)}},
				PeriodSeconds:    1,
				FailureThreshold: 3,
			}
			probes := func() int { return int(requests.Load()) }
			if tt.exec {
				p = execProbe(1, 3)
				p.PeriodSeconds = 1
				h.exec.then(fail)
				probes = h.exec.count
			}
			var pod *v1.Pod
			switch tt.probeType {
			case Readiness:
				pod = testPod("u1", nil, p, nil)
			case Liveness:
				pod = testPod("u1", p, nil, nil)
			case Startup:
				p.FailureThreshold = 2
				pod = testPod("u1", nil, nil, p)
			}
			h.status.set(running(pod, cid, epoch, tt.probeType != Startup))
			h.m.AddPod(pod)
			waitFor(t, "first probe", func() bool { return probes() == 1 })

			// A timer that fires leaves the fake clock in Step; the worker
			// sets its next one after the probe. So once the clock has a
			// waiter again, the probes due by now have run.
			for i, d := range at {
				waitFor(t, "worker to wait on its timer", h.clock.HasWaiters)
				h.clock.SetTime(epoch.Add(d))
				waitFor(t, "worker to wait on its timer", h.clock.HasWaiters)
				if n := probes(); n != tt.probes[i] {
					t.Fatalf("%d probes at %v, want %d", n, d, tt.probes[i])
				}
			}
			r, _ := h.m.cache(tt.probeType).get(cid)
			if r != tt.want {
				t.Errorf("result %v, want %v", r, tt.want)
			}
			unhealthy := 0
			for _, e := range h.rec.take() {
				if strings.Contains(e, " Unhealthy ") {
					unhealthy++
				}
			}
			if unhealthy != tt.events {
				t.Errorf("%d Unhealthy events, want %d", unhealthy, tt.events)
			}
		})
	}
}

// TestTriggerWhileEarlyRetryPending: a trigger (a status published while
// the container is not yet ready) ends a regular wait at once, but one for
// an early retry goes on until its timer: the retry comes soon anyway, and
// the trigger's probe would be one more.
func TestTriggerWhileEarlyRetryPending(t *testing.T) {
	for _, early := range []bool{false, true} {
		t.Run(fmt.Sprintf("early=%v", early), func(t *testing.T) {
			h := newHarness(t)
			w := h.worker(testPod("u1", nil, execProbe(1, 3), nil), Readiness)
			timer := h.clock.NewTimer(earlyRetry)
			w.trigger()
			type woke struct{ triggered, ok bool }
			done := make(chan woke, 1)
			go func() {
				triggered, ok := w.wait(timer, early)
				done <- woke{triggered, ok}
			}()
			if !early {
				if got := <-done; got != (woke{true, true}) {
					t.Fatalf("wait = %+v, want triggered", got)
				}
				return
			}
			select {
			case got := <-done:
				t.Fatalf("wait = %+v before its timer, want it to go on waiting", got)
			case <-time.After(50 * time.Millisecond):
			}
			h.clock.Step(earlyRetry)
			if got := <-done; got != (woke{false, true}) {
				t.Fatalf("wait = %+v, want the timer", got)
			}
		})
	}
}
