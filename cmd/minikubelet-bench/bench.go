package main

import (
	"context"
	"fmt"
	"net"
	"time"

	"go.uber.org/zap"
	v1 "k8s.io/api/core/v1"

	"github.com/minikubelet/minikubelet/runtime"
)

// size is how much each phase does.
type size struct {
	Runs        int           // start-latency runs per pod kind, floor and agent each
	Few, Many   int           // pods dropped at once
	Scale       int           // pods dropped at once in the scale phase
	Restarts    int           // first-restart samples
	Liveness    int           // liveness-restart samples per probe kind
	Probed      int           // pods with a readiness and a liveness probe
	ProbeWindow time.Duration // how long probes are timed
	IdleWindow  time.Duration // how long idle CPU is measured
	// IdleSettle is how long after the last pod Running (or the start) an
	// idle window begins: the work a burst of pod starts leaves is over
	// by then. The agent gives back a burst's memory once its pods have
	// been quiet for 5 s (agent.memoryReleaseDelay): ending the threads
	// the burst started, a heap collection, the shrinking of stacks, about
	// 120 ms of CPU after 100 pods. A 3 s wait put that into the idle
	// window with 100 pods, two thirds of the window's CPU (BENCHMARKS.md,
	// "Agent memory after a burst"). --quick keeps 1 s over the 5.
	IdleSettle time.Duration
	Grouping   int // floor pods per shim-grouping variant
	Churn      int // agent create/delete cycles
	FloorChurn int // floor create/delete cycles
	// FloorAfter runs the floor's side of a pods-at-once round again after
	// the agent's, and takes the mean of its two times (drop).
	FloorAfter bool
}

var (
	fullSize = size{Runs: 20, Few: 20, Many: 100, Restarts: 20, Liveness: 5, Probed: 100, ProbeWindow: 30 * time.Second,
		IdleWindow: 60 * time.Second, IdleSettle: 10 * time.Second, Grouping: 10, Churn: 500, FloorChurn: 50, Scale: 250, FloorAfter: true}
	// quickSize keeps --quick under 3 minutes on an idle 2-core machine:
	// at 8 runs, 50 churn cycles and 10 s probe windows it took 217 to
	// 253 s; at 4 runs and 12 cycles 173 s, then 182 s once the deploy
	// phase waited for a quiet machine; at 3 runs and 10 cycles 163 s,
	// then 178 s (188 s with the build) once the idle windows began 7 s
	// after the burst; with 8 s idle windows, 4 restarts and 8 cycles
	// 173 s (183 s). The idle windows are 8 s: CPU comes in 10 ms ticks.
	quickSize = size{Runs: 3, Few: 20, Many: 20, Restarts: 4, Liveness: 2, Probed: 20, ProbeWindow: 4 * time.Second,
		IdleWindow: 8 * time.Second, IdleSettle: 6 * time.Second, Grouping: 5, Churn: 8, FloorChurn: 2, Scale: 250}
)

// Timeouts for single steps: generous, they only catch a stuck agent.
const (
	podTimeout  = 60 * time.Second
	manyTimeout = 5 * time.Minute
	// settle is the pause between runs, so that one run's asynchronous
	// clean-up (shims exiting) does not land in the next one's timing.
	settle = 200 * time.Millisecond
)

// bench holds the world and the measuring instruments shared by the phases.
type bench struct {
	log   *zap.Logger
	size  size
	opts  benchOptions
	world *world
	net   netSpec // the agent's
	floor *floor
	agent *agentProc
	tasks *taskEvents
	pods  *podWatch
	res   *results
	// capture is started when the agent's bridge exists (first pod).
	capture *synCapture
	// crashLoopDone delivers the end of the background crash-loop run.
	crashLoopDone <-chan error
	// idleRSS and containerdRSS are the agent's and containerd's RSS with
	// no pods, the base of the memory per pod.
	idleRSS, containerdRSS int64
}

// isStart matches the start of the named container of an agent pod.
func (b *bench) isStart(podName, container string) func(taskEvent) bool {
	return func(e taskEvent) bool {
		return e.Start && e.Namespace == b.net.Namespace &&
			e.label(runtime.LabelPodName) == podName && e.label(runtime.LabelContainerName) == container
	}
}

// isExit matches the exit of the named container (not of an exec in it).
func (b *bench) isExit(podName, container string) func(taskEvent) bool {
	return func(e taskEvent) bool {
		return !e.Start && e.Exec == "" && e.Namespace == b.net.Namespace &&
			e.label(runtime.LabelPodName) == podName && e.label(runtime.LabelContainerName) == container
	}
}

// apply writes a pod's manifest (file <name>.yaml) and returns when.
func (b *bench) apply(p *v1.Pod) (time.Time, error) {
	b.pods.forget(p.Name)
	return b.agent.write(p.Name+".yaml", manifest(p))
}

// deletePod removes a pod's manifest and waits until the agent has
// terminated the pod and dropped it from the API. It returns how long that
// took.
func (b *bench) deletePod(ctx context.Context, name string) (time.Duration, error) {
	at, err := b.agent.remove(name + ".yaml")
	if err != nil {
		return 0, err
	}
	wctx, cancel := context.WithTimeout(ctx, podTimeout)
	defer cancel()
	pt, err := b.pods.wait(wctx, name, isGone)
	if err != nil {
		return 0, fmt.Errorf("delete pod %s: %w", name, err)
	}
	if pt.Deleted.IsZero() {
		return 0, nil // never seen
	}
	return pt.Deleted.Sub(at), nil
}

// ensureCapture starts recording probe connections on the agent's bridge.
// The bridge appears with the agent's first pod; when there was none yet,
// one is started and deleted to make it.
func (b *bench) ensureCapture(ctx context.Context) error {
	if b.capture != nil {
		return nil
	}
	if _, err := net.InterfaceByName(b.net.Bridge); err != nil {
		if _, err := b.apply(idlePod("bridge")); err != nil {
			return err
		}
		wctx, cancel := context.WithTimeout(ctx, podTimeout)
		defer cancel()
		if _, err := b.pods.wait(wctx, "bridge", isRunning); err != nil {
			return err
		}
		if _, err := b.deletePod(ctx, "bridge"); err != nil {
			return err
		}
	}
	c, err := captureSYNs(b.net.Bridge)
	if err != nil {
		return err
	}
	b.capture = c
	b.world.defer_(func(context.Context) error { c.stop(); return nil })
	return nil
}

// sleep waits d or until ctx ends.
func sleep(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}
