package main

import (
	"context"
	"fmt"
	"slices"
	"time"

	v1 "k8s.io/api/core/v1"

	"github.com/minikubelet/minikubelet/api"
	"github.com/minikubelet/minikubelet/runtime"
)

// scalePods drops Scale pods at once on the floor and on the agent, and
// compares the time per pod and the agent's memory per pod with the
// smaller rounds of the many phase (which it runs first when --only left
// it out).
func (b *bench) scalePods(ctx context.Context) error {
	r := b.res
	if !slices.Contains(r.Phases, "idle") {
		if err := b.idleEmpty(ctx); err != nil {
			return err
		}
	}
	if !slices.Contains(r.Phases, "many") {
		few, err := b.drop(ctx, b.size.Few, false)
		if err != nil {
			return err
		}
		r.Pods20, r.Pods20AllRunningS, r.FloorPods20AllRunningS = few.N, secs(few.API), secs(few.floor())
		r.Pods20Ratio, r.AgentRSS20Pods = ratio(few.API, few.floor()), mib(few.Idle.RSS)
		r.FloorPods20RunsS = few.floorRunsS()
	}
	big, err := b.drop(ctx, b.size.Scale, false)
	if err != nil {
		return err
	}
	r.ScalePods, r.ScaleAllRunningS, r.FloorScaleAllRunningS = big.N, secs(big.API), secs(big.floor())
	r.ScaleContainerdRunningS, r.ScaleAllGoneS = secs(big.Containerd), secs(big.Gone)
	r.ScaleFloorRatio, r.FloorScaleRunsS = ratio(big.API, big.floor()), big.floorRunsS()
	// Pods dropped at once start concurrently: the time per pod is the
	// time until the last one ran, over their number.
	r.ScaleMsPerPod = ms(big.API / time.Duration(big.N))
	r.Pods20MsPerPod = ms(time.Duration(r.Pods20AllRunningS*float64(time.Second)) / time.Duration(max(r.Pods20, 1)))
	if r.Pods20MsPerPod > 0 {
		r.ScalePerPodRatio = round2(r.ScaleMsPerPod / r.Pods20MsPerPod)
	}
	// The floor's own slow-down with as many pods: what containerd, runc
	// and the kernel add on this machine.
	if r.FloorPods20AllRunningS > 0 {
		r.FloorScalePerPodRatio = round2(r.FloorScaleAllRunningS / float64(big.N) / (r.FloorPods20AllRunningS / float64(r.Pods20)))
	}
	r.ScaleAgentCPUMsPerPod, r.ScaleContainerdCPUMsPerPod, r.ScaleFloorCPUMsPerPod, r.ScaleFloorContainerdCPUMsPerPod = big.cpuPerPod()
	r.AgentRSSScale, r.AgentCPUScale = mib(big.Idle.RSS), round2(big.Idle.CPU)
	r.AgentRSSAnonScale, r.AgentRSSFileScale = mib(big.Idle.RSSAnon), mib(big.Idle.RSSFile)
	r.AgentGoroutinesScale, r.AgentThreadsScale = big.Idle.Goroutines, big.Idle.Threads
	// The agent's growth per pod over its RSS with none, at each count.
	perPod := func(rssMiB float64, n int) float64 {
		if n == 0 || rssMiB == 0 {
			return 0
		}
		return round2(max(rssMiB-r.AgentRSSIdle, 0) * 1024 / float64(n))
	}
	r.AgentKiBPerPod20 = perPod(r.AgentRSS20Pods, r.Pods20)
	r.AgentKiBPerPod100 = perPod(r.AgentRSS100Pods, r.Pods100)
	r.AgentKiBPerPodScale = perPod(r.AgentRSSScale, r.ScalePods)
	// What each pod beyond the middle count added.
	midRSS, mid := r.middleCount()
	r.AgentKiBPerPodMarginal = round2(max(r.AgentRSSScale-midRSS, 0) * 1024 / float64(r.ScalePods-mid))
	b.log.Sugar().Infof("%d pods at once: all Running in %.2f s (floor %.2f s), %.1f ms per pod against %.1f at %d (%.2fx); agent RSS %.1f MiB, %.0f KiB per pod",
		big.N, r.ScaleAllRunningS, r.FloorScaleAllRunningS, r.ScaleMsPerPod, r.Pods20MsPerPod, r.Pods20, r.ScalePerPodRatio, r.AgentRSSScale, r.AgentKiBPerPodScale)
	return nil
}

// middleCount is the agent's RSS (MiB) with the most pods of the many
// phase, and their number.
func (r *results) middleCount() (float64, int) {
	if r.Pods100 > r.Pods20 && r.AgentRSS100Pods > 0 {
		return r.AgentRSS100Pods, r.Pods100
	}
	return r.AgentRSS20Pods, r.Pods20
}

// scaleLinear tells whether the agent's memory grows no faster than
// linearly: what each pod beyond the middle count added is at most 1.2x
// the growth per pod up to it.
func (r *results) scaleLinear() bool {
	midRSS, mid := r.middleCount()
	if mid == 0 || midRSS <= r.AgentRSSIdle {
		return false
	}
	return r.AgentKiBPerPodMarginal <= 1.2*(midRSS-r.AgentRSSIdle)*1024/float64(mid)
}

// restartHold is how long the pods are watched after the restarted agent
// showed their status, for a container it might still restart.
const restartHold = 5 * time.Second

// agentRestart runs Many pods, restarts the agent under them and times how
// long the new agent takes to show every pod's full status as before (same
// UID, IP, containers, restart counts, conditions) in its API, and counts
// the containers it started or stopped meanwhile (none should be).
func (b *bench) agentRestart(ctx context.Context) error {
	// The crash loop's pod watch is replaced below.
	if err := b.finishCrashLoop(ctx); err != nil {
		return err
	}
	n := b.size.Many
	ctx, cancel := context.WithTimeout(ctx, manyTimeout)
	defer cancel()
	names := make([]string, n)
	for i := range names {
		names[i] = fmt.Sprintf("restart-%d", i)
		if _, err := b.apply(idlePod(names[i])); err != nil {
			return err
		}
	}
	for _, name := range names {
		if _, err := b.pods.wait(ctx, name, isReady); err != nil {
			return err
		}
	}
	before, err := b.listPods(ctx, names)
	if err != nil {
		return err
	}
	if diff := b.statusDiff(before, before); diff != "" {
		return fmt.Errorf("before the restart: %s", diff)
	}

	mark := b.tasks.mark()
	b.pods.stop()
	t0, err := b.agent.restart(ctx)
	if err != nil {
		return err
	}
	apiUp := b.agent.StartedIn
	var shown time.Duration
	for {
		now, err := b.listPods(ctx, names)
		if err != nil {
			return fmt.Errorf("after the restart: %w", err)
		}
		if b.statusDiff(before, now) == "" {
			shown = time.Since(t0)
			break
		}
		if err := sleep(ctx, 10*time.Millisecond); err != nil {
			return fmt.Errorf("after the restart, the API never showed the pods as before (%s): %w", b.statusDiff(before, now), err)
		}
	}
	if err := sleep(ctx, restartHold); err != nil {
		return err
	}
	after, err := b.listPods(ctx, names)
	if err != nil {
		return err
	}
	diff := b.statusDiff(before, after)
	// Any start or exit of the pods' containers since the agent stopped.
	touched := 0
	for _, e := range b.tasks.since(mark) {
		if e.Namespace == b.net.Namespace && e.Exec == "" && slices.Contains(names, e.label(runtime.LabelPodName)) {
			touched++
		}
	}
	r := b.res
	r.RestartPods, r.RestartAPIUpMs, r.RestartStatusMs = n, ms(apiUp), ms(shown)
	r.RestartContainerEvents, r.RestartHoldS, r.RestartStatusAfterHold = touched, restartHold.Seconds(), diff
	if r.RestartStatusAfterHold == "" {
		r.RestartStatusAfterHold = "same"
	}
	b.log.Sugar().Infof("agent restart with %d pods: API up in %.0f ms, every pod's status as before in %.0f ms; %d container starts/exits; after %s: %s",
		n, r.RestartAPIUpMs, r.RestartStatusMs, touched, restartHold, r.RestartStatusAfterHold)

	if b.pods, err = watchPods(ctx, b.agent.Client); err != nil {
		return err
	}
	if _, err := b.removePods(ctx, names); err != nil {
		return err
	}
	return nil
}

// listPods returns the named pods of the agent's API by name (absent ones
// missing).
func (b *bench) listPods(ctx context.Context, names []string) (map[string]*v1.Pod, error) {
	lctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	list, err := b.agent.Client.ListPods(lctx, "default", api.ListOptions{})
	if err != nil {
		return nil, err
	}
	out := map[string]*v1.Pod{}
	for i := range list.Items {
		p := &list.Items[i]
		if slices.Contains(names, p.Name) {
			out[p.Name] = p
		}
	}
	return out, nil
}

// statusDiff says how the pods of now differ from before, for the first
// pod that does; "" when every pod of before is in now, Running and Ready,
// with the same UID, IP, conditions and containers (IDs, restart counts,
// readiness, running since the same time).
func (b *bench) statusDiff(before, now map[string]*v1.Pod) string {
	names := make([]string, 0, len(before))
	for name := range before {
		names = append(names, name)
	}
	slices.Sort(names)
	for _, name := range names {
		if d := podDiff(before[name], now[name]); d != "" {
			return fmt.Sprintf("pod %s: %s", name, d)
		}
	}
	return ""
}

// podDiff is statusDiff for one pod.
func podDiff(want, got *v1.Pod) string {
	switch {
	case got == nil:
		return "absent"
	case got.UID != want.UID:
		return fmt.Sprintf("UID %s, was %s", got.UID, want.UID)
	case got.Status.Phase != v1.PodRunning:
		return fmt.Sprintf("phase %q", got.Status.Phase)
	case !podReady(got):
		return "not Ready"
	case got.Status.PodIP != want.Status.PodIP:
		return fmt.Sprintf("IP %q, was %q", got.Status.PodIP, want.Status.PodIP)
	case len(got.Status.Conditions) != len(want.Status.Conditions):
		return fmt.Sprintf("%d conditions, were %d", len(got.Status.Conditions), len(want.Status.Conditions))
	case len(got.Status.ContainerStatuses) != len(want.Status.ContainerStatuses):
		return fmt.Sprintf("%d container statuses, were %d", len(got.Status.ContainerStatuses), len(want.Status.ContainerStatuses))
	}
	for i, c := range want.Status.Conditions {
		if g := got.Status.Conditions[i]; g.Type != c.Type || g.Status != c.Status {
			return fmt.Sprintf("condition %s=%s, was %s=%s", g.Type, g.Status, c.Type, c.Status)
		}
	}
	for i, c := range want.Status.ContainerStatuses {
		g := got.Status.ContainerStatuses[i]
		switch {
		case g.Name != c.Name || g.ContainerID != c.ContainerID:
			return fmt.Sprintf("container %s %s, was %s %s", g.Name, g.ContainerID, c.Name, c.ContainerID)
		case g.RestartCount != c.RestartCount:
			return fmt.Sprintf("container %s restarted %d times, was %d", g.Name, g.RestartCount, c.RestartCount)
		case g.Ready != c.Ready:
			return fmt.Sprintf("container %s ready %v", g.Name, g.Ready)
		case g.State.Running == nil || c.State.Running == nil:
			return fmt.Sprintf("container %s not running", g.Name)
		case !g.State.Running.StartedAt.Equal(&c.State.Running.StartedAt):
			return fmt.Sprintf("container %s running since %s, was since %s", g.Name, g.State.Running.StartedAt, c.State.Running.StartedAt)
		}
	}
	return ""
}

// middleCountN is the number of pods of middleCount.
func (r *results) middleCountN() int {
	_, n := r.middleCount()
	return n
}
