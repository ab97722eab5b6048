package prober

import (
	"context"
	"time"

	"go.uber.org/zap"
	v1 "k8s.io/api/core/v1"
	"k8s.io/utils/clock"
)

// tickGrid is the grid every probe's ticks are laid on: a worker's next
// tick is its period after the last one, moved later to the next multiple
// of tickGrid of the wall clock. Workers whose ticks fall within one step
// of the grid then wake up together, and the agent with them, once instead
// of once each: at 200 probes a second spread at random over the second,
// a wake-up of the process (the timer, the Go scheduler's threads and
// sysmon starting up again) is a good part of what a probe costs
// (BENCHMARKS.md, "Probe CPU"). A worker keeps its exact period once on
// the grid; it moves by less than one step, once, when it starts and after
// a manual trigger, which kubelet's ticker does not (kubelet's own phase is
// a random jitter anyway).
const tickGrid = 10 * time.Millisecond

// A network readiness or startup probe that fails on a container that has
// not yet passed it is tried again early: every earlyRetry for the first
// earlyFlat retries, then after twice as long each time, as long as the
// retry comes before the next regular tick. A server usually listens some
// milliseconds after its process starts, while the first probe comes as
// soon as the container runs; on the period alone, a container whose
// first probe came too early would wait a whole period (10 s by default)
// to become ready, as it does on a kubelet. That is 15 extra probes at
// most in a 1 s period, 18 in a 10 s one, only in the first period of a
// container. An early retry that fails changes nothing: it counts toward
// no threshold and records no event, so the regular ticks decide failures
// as they do in the kubelet. Exec probes are not retried early: each try
// is a process in the container.
const (
	earlyRetry = 10 * time.Millisecond
	earlyFlat  = 10
)

// noRetries is worker.retries when no early retry is to come.
const noRetries = -1

// earlyDelay is the delay before early retry n (from 0).
func earlyDelay(n int) time.Duration {
	if n < earlyFlat {
		return earlyRetry
	}
	return earlyRetry << min(n-earlyFlat+1, 30)
}

// onGrid returns t, or the first multiple of tickGrid of the wall clock
// after it, keeping t's monotonic clock reading.
func onGrid(t time.Time) time.Time {
	// Truncate drops the monotonic reading, so Sub uses the wall clock of
	// both: the distance from t back to the grid.
	if off := t.Sub(t.Truncate(tickGrid)); off > 0 {
		return t.Add(tickGrid - off)
	}
	return t
}

// worker probes one container with one probe. Its goroutine (run) lives
// until the pod is removed, the pod reaches a terminal phase, the container
// exits for good, or, for liveness and startup, the pod is being deleted.
type worker struct {
	m         *Manager
	key       probeKey
	pod       *v1.Pod       // the pod given to AddPod; read-only
	container *v1.Container // points into pod; read-only
	spec      v1.Probe      // the probe with defaults applied
	sidecar   bool          // a restartable init container
	results   *resultCache
	initial   Result // the result a new container starts with
	log       *zap.Logger

	// ctx ends when the worker is stopped; it also aborts a probe in
	// flight. stop is its cancel: non-blocking and safe to call repeatedly.
	ctx  context.Context
	stop context.CancelFunc
	// manual asks for a probe now; buffered so trigger never blocks.
	manual chan struct{}

	// State below is owned by the goroutine calling doProbe.

	containerID string // status ID of the container last seen
	lastResult  Result // result of the last probe run
	resultRun   int    // how many times in a row lastResult came back
	onHold      bool   // no probing until a new container ID appears
	deleting    bool   // exited because the pod is being deleted
	due         time.Time
	// retries counts the early retries (earlyDelay) of this container;
	// noRetries once it passed the probe or the retries reached a regular
	// tick, and for the probes not retried early.
	retries int
}

func (m *Manager) newWorker(key probeKey, pod *v1.Pod, c *v1.Container, spec v1.Probe, sidecar bool) *worker {
	ctx, cancel := context.WithCancel(m.ctx)
	w := &worker{
		m:         m,
		key:       key,
		pod:       pod,
		container: c,
		spec:      spec,
		sidecar:   sidecar,
		results:   m.cache(key.probeType),
		ctx:       ctx,
		stop:      cancel,
		manual:    make(chan struct{}, 1),
		retries:   noRetries,
		log: m.log.With(zap.String("pod", pod.Namespace+"/"+pod.Name), zap.String("podUID", string(pod.UID)),
			zap.String("container", c.Name), zap.Stringer("probe", key.probeType)),
	}
	switch key.probeType {
	case Readiness:
		w.initial = Failure // not ready until the first success
	case Liveness:
		w.initial = Success // alive until proven otherwise
	default:
		w.initial = Unknown // not started until the startup probe decides
	}
	return w
}

// withDefaults applies the API defaults, in case the pod was not defaulted,
// and pins successThreshold to 1 where validation requires it.
func withDefaults(p *v1.Probe, t ProbeType) v1.Probe {
	out := *p
	if out.InitialDelaySeconds < 0 {
		out.InitialDelaySeconds = 0
	}
	if out.PeriodSeconds <= 0 {
		out.PeriodSeconds = 10
	}
	if out.TimeoutSeconds <= 0 {
		out.TimeoutSeconds = 1
	}
	if out.SuccessThreshold <= 0 || t != Readiness {
		out.SuccessThreshold = 1
	}
	if out.FailureThreshold <= 0 {
		out.FailureThreshold = 3
	}
	return out
}

// trigger asks the worker to probe now instead of at its next tick. It never
// blocks; a trigger already pending absorbs this one.
func (w *worker) trigger() {
	select {
	case w.manual <- struct{}{}:
	default:
	}
}

// run is the worker's goroutine: an optional start-up jitter, then a probe
// on every tick of periodSeconds, or at once on a manual trigger, which also
// restarts the period from that moment.
func (w *worker) run() {
	defer w.m.wg.Done()
	defer w.exit()

	clk := w.m.clock
	period := time.Duration(w.spec.PeriodSeconds) * time.Second
	w.due = clk.Now()
	// Right after the agent starts, every adopted pod gets its workers at
	// once; a random delay keeps their probes from firing in lockstep.
	if clk.Since(w.m.agentStart) < period {
		if d := w.m.jitter(period); d > 0 {
			start := w.due
			w.due = onGrid(start.Add(d))
			t := clk.NewTimer(w.due.Sub(start))
			select {
			case <-w.ctx.Done():
				t.Stop()
				return
			case <-t.C():
			}
		}
	}

	var timer clock.Timer
	defer func() {
		if timer != nil {
			timer.Stop()
		}
	}()
	early := false // the probe to run is an early retry (earlyDelay)
	for {
		keepGoing, failed := w.doProbe(early)
		if !keepGoing {
			return
		}
		next := onGrid(w.due.Add(period))
		now := clk.Now()
		wait := next.Sub(now)
		early = false
		if failed && w.retries != noRetries {
			if d := earlyDelay(w.retries); d < wait {
				wait, early = d, true
				w.retries++
			} else {
				w.retries = noRetries
			}
		}
		if wait <= 0 {
			// The probe overran its period: probe again at once, like a
			// ticker's buffered tick, and count the period from now.
			select {
			case <-w.ctx.Done():
				return
			default:
			}
			w.due = now
			continue
		}
		if timer == nil {
			timer = clk.NewTimer(wait)
		} else {
			timer.Reset(wait)
		}
		triggered, ok := w.wait(timer, early)
		switch {
		case !ok:
			return
		case triggered:
			w.due = clk.Now()
		case !early:
			w.due = next
		}
	}
}

// wait waits for timer, or for a manual trigger, which stops the timer.
// While an early retry is pending a trigger is dropped: the retry comes
// soon and reads the newly published status anyway; the trigger's probe
// would be one more. ok is false when the worker is stopped.
func (w *worker) wait(timer clock.Timer, early bool) (triggered, ok bool) {
	for {
		select {
		case <-w.ctx.Done():
			return false, false
		case <-timer.C():
			return false, true
		case <-w.manual:
			if early {
				continue
			}
			if !timer.Stop() {
				select {
				case <-timer.C():
				default:
				}
			}
			return true, true
		}
	}
}

// exit drops the worker's result and unregisters it.
func (w *worker) exit() {
	w.stop()
	if w.containerID != "" {
		w.results.remove(w.containerID, w)
	}
	w.m.removeWorker(w, w.deleting)
}

// doProbe is one step of the worker: it reads the published pod, tracks the
// container instance, runs the probe when kubelet would, and commits a
// result once the threshold is reached. It reports whether the worker
// should keep going, and whether a probe ran and failed. An early retry
// (earlyDelay) that fails is dropped: no event, no count, no result.
func (w *worker) doProbe(early bool) (keepGoing, failed bool) {
	pod, ok := w.m.status.Peek(w.key.podUID)
	if !ok {
		return true, false // not published yet, or already gone
	}
	if pod.Status.Phase == v1.PodSucceeded || pod.Status.Phase == v1.PodFailed {
		w.log.Debug("pod is terminal, probe worker exits", zap.String("phase", string(pod.Status.Phase)))
		return false, false
	}
	cs := containerStatus(&pod.Status, w.container.Name)
	if cs == nil {
		return true, false // not created yet
	}

	if w.containerID != cs.ContainerID {
		if w.containerID != "" {
			w.results.remove(w.containerID, w)
		}
		w.containerID = cs.ContainerID
		// A new instance starts afresh: its initial result, no hold, and
		// (unlike kubelet, which carries the count over) no partial run
		// of results from the instance before it.
		w.onHold = false
		w.resultRun = 0
		w.retries = noRetries
		if w.key.probeType != Liveness && w.spec.Exec == nil {
			w.retries = 0
		}
		w.set(w.initial)
	}
	if w.onHold {
		return true, false
	}

	if cs.State.Running == nil {
		w.set(Failure)
		// Keep watching unless this container will never run again.
		return cs.State.Terminated == nil || w.pod.Spec.RestartPolicy != v1.RestartPolicyNever || w.sidecar, false
	}

	if w.key.probeType != Readiness && (pod.DeletionTimestamp != nil || w.pod.DeletionTimestamp != nil) {
		// The pod is shutting down: leave a quiet last result so nothing
		// restarts a container that is being stopped anyway.
		w.set(Success)
		w.deleting = true
		return false, false
	}

	if int32(w.m.clock.Since(cs.State.Running.StartedAt.Time).Seconds()) < w.spec.InitialDelaySeconds {
		return true, false
	}

	started := cs.Started != nil && *cs.Started
	if started == (w.key.probeType == Startup) {
		// Once started, the startup probe rests (its worker stays for the
		// next instance); before that, only the startup probe runs.
		return true, false
	}

	result, err := w.probe(pod, early)
	if early && (err != nil || result != Success) {
		return true, true
	}
	w.m.countRun(w.key.probeType, pod, w.container.Name, result, err)
	if err != nil {
		return true, false // the prober itself failed: no verdict
	}
	if result == Success {
		w.retries = noRetries
	}
	if result == w.lastResult {
		w.resultRun++
	} else {
		w.lastResult = result
		w.resultRun = 1
	}
	if (result == Failure && w.resultRun < int(w.spec.FailureThreshold)) ||
		(result == Success && w.resultRun < int(w.spec.SuccessThreshold)) {
		return true, result == Failure
	}
	w.set(result)
	if (w.key.probeType == Liveness && result == Failure) || w.key.probeType == Startup {
		// The container is about to be restarted (liveness), or the
		// startup probe has said all it has to say: probe no more until a
		// new container appears (kubernetes issue 117153).
		w.onHold = true
		w.resultRun = 0
	}
	return true, result == Failure
}

// set commits r for the current container and tells the pod worker if that
// changed anything.
func (w *worker) set(r Result) {
	if w.results.set(w.containerID, r, w) {
		w.m.notify(w.key.podUID)
	}
}

// containerStatus finds the named container's status with a container ID,
// among app containers first, then init containers.
func containerStatus(s *v1.PodStatus, name string) *v1.ContainerStatus {
	for _, list := range [][]v1.ContainerStatus{s.ContainerStatuses, s.InitContainerStatuses} {
		for i := range list {
			if list[i].Name == name && list[i].ContainerID != "" {
				return &list[i]
			}
		}
	}
	return nil
}
