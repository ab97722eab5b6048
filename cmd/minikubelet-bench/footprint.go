package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"sync"
	"time"

	"github.com/containerd/containerd/namespaces"
	"go.uber.org/zap"

	"github.com/minikubelet/minikubelet/runtime"
)

// idle is the agent's footprint over one idle window.
type idle struct {
	procSample         // at the end of the window
	CPU        float64 // percent of one core over the window
	Goroutines int
	// Settling is the CPU the agent used in the size.IdleSettle before the
	// window: the tail of the work before it.
	Settling time.Duration
}

// measureIdle waits for the agent to settle, then measures its CPU
// (utime+stime) over the idle window and its memory at the end.
func (b *bench) measureIdle(ctx context.Context) (idle, error) {
	start, err := b.agent.sample()
	if err != nil {
		return idle{}, err
	}
	if err := sleep(ctx, b.size.IdleSettle); err != nil {
		return idle{}, err
	}
	s0, err := b.agent.sample()
	if err != nil {
		return idle{}, err
	}
	if err := sleep(ctx, b.size.IdleWindow); err != nil {
		return idle{}, err
	}
	s1, err := b.agent.sample()
	if err != nil {
		return idle{}, err
	}
	// Asked after the window: the request itself is not idle work.
	g, err := b.agent.goroutines(ctx)
	if err != nil {
		return idle{}, err
	}
	return idle{procSample: s1, CPU: cpuPercent(s0, s1), Goroutines: g, Settling: s0.CPU - start.CPU}, nil
}

// idleEmpty measures the agent with no pods, right after it started.
func (b *bench) idleEmpty(ctx context.Context) error {
	m, err := b.measureIdle(ctx)
	if err != nil {
		return err
	}
	r := b.res
	r.IdleWindowS, r.IdleSettleS = b.size.IdleWindow.Seconds(), b.size.IdleSettle.Seconds()
	r.AgentRSSIdle, r.AgentCPUIdle = mib(m.RSS), round2(m.CPU)
	r.AgentRSSAnonIdle, r.AgentRSSFileIdle = mib(m.RSSAnon), mib(m.RSSFile)
	r.AgentGoroutinesIdle, r.AgentThreadsIdle = m.Goroutines, m.Threads
	b.idleRSS = m.RSS
	b.containerdRSS = rss(b.containerdPID())
	b.res.ContainerdRSSIdle = mib(b.containerdRSS)
	b.log.Sugar().Infof("idle, 0 pods: RSS %.1f MiB, CPU %.2f%%", b.res.AgentRSSIdle, b.res.AgentCPUIdle)
	return nil
}

// manyPods drops Few and then Many pods at once, on the floor and on the
// agent, and measures the agent idle with each set running.
func (b *bench) manyPods(ctx context.Context) error {
	r := b.res
	few, err := b.drop(ctx, b.size.Few, b.size.Many == b.size.Few)
	if err != nil {
		return err
	}
	r.Pods20, r.Pods20AllRunningS, r.FloorPods20AllRunningS = few.N, secs(few.API), secs(few.floor())
	r.Pods20ContainerdRunningS, r.Pods20AllGoneS = secs(few.Containerd), secs(few.Gone)
	r.Pods20Ratio, r.FloorPods20RunsS = ratio(few.API, few.floor()), few.floorRunsS()
	r.AgentRSS20Pods, r.AgentCPU20Pods = mib(few.Idle.RSS), round2(few.Idle.CPU)
	many := few
	if b.size.Many != b.size.Few {
		if many, err = b.drop(ctx, b.size.Many, true); err != nil {
			return err
		}
	}
	r.Pods100, r.Pods100AllRunningS, r.FloorPods100AllRunningS = many.N, secs(many.API), secs(many.floor())
	r.Pods100ContainerdRunning, r.Pods100AllGoneS = secs(many.Containerd), secs(many.Gone)
	r.Pods100Ratio, r.FloorPods100RunsS = ratio(many.API, many.floor()), many.floorRunsS()
	r.AgentRSS100Pods, r.AgentCPU100Pods = mib(many.Idle.RSS), round2(many.Idle.CPU)
	r.AgentSettlingCPUMs100 = ms(many.Idle.Settling)
	r.AgentRSSAnon100, r.AgentRSSFile100 = mib(many.Idle.RSSAnon), mib(many.Idle.RSSFile)
	r.AgentGoroutines100, r.AgentThreads100 = many.Idle.Goroutines, many.Idle.Threads
	r.AgentCPUMsPerPodStart, r.ContainerdCPUMsPerPod, r.FloorCPUMsPerPodStart, r.FloorContainerdCPUMsPerPod = many.cpuPerPod()
	r.ShimCPUMsPerPodStart, r.ContainerCPUMsPerPodStart, r.FloorShimCPUMsPerPodStart, r.FloorContainerCPUMsPerPodStart = many.runtimePerPod()
	b.log.Sugar().Infof("%d pods at once: all Running in %.2f s (floor %.2f s); %d pods: %.2f s (floor %.2f s); idle with %d pods: RSS %.1f MiB, CPU %.2f%%",
		few.N, secs(few.API), secs(few.floor()), many.N, secs(many.API), secs(many.floor()), many.N, r.AgentRSS100Pods, r.AgentCPU100Pods)
	return nil
}

// dropResult is one "n pods at once" round.
type dropResult struct {
	N int
	// FloorRuns are the floor's times (first call → last app task
	// running): before the agent's round, and with size.FloorAfter after
	// it too.
	FloorRuns  []time.Duration
	Containerd time.Duration // agent: first manifest → last app task running
	API        time.Duration // agent: first manifest → last pod Running in the API
	Gone       time.Duration // agent: manifests removed → last pod gone
	Idle       idle
	// CPU spent from the first manifest until all pods ran: the agent's
	// own and containerd's; for the floor (its first round), the bench
	// process's (the floor's client side) and containerd's.
	AgentCPU, ContainerdCPU, FloorCPU, FloorContainerdCPU time.Duration
	// And below containerd, for each side (runtimeCPU): the shims with
	// the runc commands they ran (and containerd's `shim start`
	// children), and the containers' processes (runc's init: namespaces,
	// mounts, cgroup).
	Runtime, FloorRuntime runtimeCost
}

// floor is the floor's time for the round: the mean of FloorRuns.
func (d dropResult) floor() time.Duration {
	var sum time.Duration
	for _, f := range d.FloorRuns {
		sum += f
	}
	return sum / time.Duration(max(len(d.FloorRuns), 1))
}

// floorRunsS is FloorRuns in seconds.
func (d dropResult) floorRunsS() []float64 {
	s := make([]float64, len(d.FloorRuns))
	for i, f := range d.FloorRuns {
		s[i] = secs(f)
	}
	return s
}

// runtimeCost is a round's CPU below containerd (runtimeCPU).
type runtimeCost struct{ Shims, Containers time.Duration }

// runtimeSince is runtimeCPU for namespace, with the shims' share of
// containerd's children (its `shim start` commands) since
// containerdChildren was read.
func runtimeSince(ctrd int, containerdChildren time.Duration, namespace string) runtimeCost {
	var rc runtimeCost
	rc.Shims, rc.Containers = runtimeCPU(namespace)
	if _, _, children, err := statTicks(ctrd); err == nil {
		rc.Shims += max(children-containerdChildren, 0)
	}
	return rc
}

// runtimePerPod is the CPU per pod start below containerd in ms: the
// shims' and the containers' for the agent's pods, then for the floor's.
func (d dropResult) runtimePerPod() (shims, containers, floorShims, floorContainers float64) {
	per := func(cpu time.Duration) float64 { return ms(cpu / time.Duration(max(d.N, 1))) }
	return per(d.Runtime.Shims), per(d.Runtime.Containers), per(d.FloorRuntime.Shims), per(d.FloorRuntime.Containers)
}

// cpuPerPod is the CPU per pod start in ms: the agent's and containerd's
// for the agent's pods, the floor client's and containerd's for the
// floor's.
func (d dropResult) cpuPerPod() (agent, containerd, floor, floorContainerd float64) {
	per := func(cpu time.Duration) float64 { return ms(cpu / time.Duration(max(d.N, 1))) }
	return per(d.AgentCPU), per(d.ContainerdCPU), per(d.FloorCPU), per(d.FloorContainerdCPU)
}

// drop runs one round of n pods at once; with memory it also measures the
// node's memory per pod while they run.
func (b *bench) drop(ctx context.Context, n int, memory bool) (dropResult, error) {
	res := dropResult{N: n}
	limit := manyTimeout * time.Duration(max(1, n/100))
	if b.size.FloorAfter {
		limit *= 2 // 250 pods: three rounds and their removals took 12 minutes
	}
	ctx, cancel := context.WithTimeout(ctx, limit)
	defer cancel()

	first, err := b.floorRound(ctx, n)
	if err != nil {
		return res, err
	}
	res.FloorRuntime, res.FloorCPU, res.FloorContainerdCPU = first.Runtime, first.CPU, first.ContainerdCPU
	res.FloorRuns = []time.Duration{first.Time}

	ctrd := b.containerdPID()
	names := make([]string, n)
	mark := b.tasks.mark()
	a0, err := b.agent.sample()
	if err != nil {
		return res, err
	}
	c0, _ := sampleProc(ctrd)
	_, _, ctrdChildren, _ := statTicks(ctrd)
	var t0 time.Time
	for i := range names {
		names[i] = fmt.Sprintf("many-%d-%d", n, i)
		at, err := b.apply(idlePod(names[i]))
		if err != nil {
			return res, err
		}
		if i == 0 {
			t0 = at
		}
	}
	for _, name := range names {
		pt, err := b.pods.wait(ctx, name, isRunning)
		if err != nil {
			return res, err
		}
		res.API = max(res.API, pt.Running.Sub(t0))
		ev, _, err := b.tasks.wait(ctx, mark, b.isStart(name, "app"))
		if err != nil {
			return res, err
		}
		res.Containerd = max(res.Containerd, ev.At.Sub(t0))
	}
	a1, err := b.agent.sample()
	if err != nil {
		return res, err
	}
	c1, _ := sampleProc(ctrd)
	res.AgentCPU, res.ContainerdCPU = a1.CPU-a0.CPU, c1.CPU-c0.CPU
	res.Runtime = runtimeSince(ctrd, ctrdChildren, b.net.Namespace)
	if res.Idle, err = b.measureIdle(ctx); err != nil {
		return res, err
	}
	if memory {
		if err := b.memoryPerPod(ctx, n, res.Idle.RSS); err != nil {
			return res, err
		}
	}
	gone, err := b.removePods(ctx, names)
	if err != nil {
		return res, err
	}
	res.Gone = gone
	if b.size.FloorAfter {
		// The floor's time drifts with the machine's state (25.7 to
		// 39.6 s for 100 pods from one run to the next, BENCHMARKS.md,
		// "session of 2026-12-04, afternoon"): timed before and after the
		// agent's round, its mean has the agent's in the middle.
		again, err := b.floorRound(ctx, n)
		if err != nil {
			return res, err
		}
		res.FloorRuns = append(res.FloorRuns, again.Time)
	}
	return res, sleep(ctx, time.Second)
}

// floorSide is the floor's side of a pods-at-once round (floorRound).
type floorSide struct {
	Time    time.Duration
	Runtime runtimeCost
	// CPU is the bench process's (the floor's client side), ContainerdCPU
	// containerd's, while the pods started.
	CPU, ContainerdCPU time.Duration
}

// floorRound starts n floor pods at once (floorDrop) on a machine done
// with the agent's pods before it, and returns once their removal is
// digested too: each side of a round starts on a quiet machine.
func (b *bench) floorRound(ctx context.Context, n int) (floorSide, error) {
	var fs floorSide
	if err := b.quiesce(ctx, b.net.Namespace); err != nil {
		return fs, err
	}
	ctrd, self := b.containerdPID(), os.Getpid()
	c0, _ := sampleProc(ctrd)
	s0, _ := sampleProc(self)
	var err error
	if fs.Time, fs.Runtime, err = b.floorDrop(ctx, n); err != nil {
		return fs, err
	}
	c1, _ := sampleProc(ctrd)
	s1, _ := sampleProc(self)
	fs.ContainerdCPU, fs.CPU = c1.CPU-c0.CPU, s1.CPU-s0.CPU
	return fs, b.quiesce(ctx, b.floor.ns)
}

// floorDrop starts n floor pods at once and returns how long until the last
// app task ran and their CPU below containerd; then it removes them.
func (b *bench) floorDrop(ctx context.Context, n int) (time.Duration, runtimeCost, error) {
	ctrd := b.containerdPID()
	_, _, ctrdChildren, _ := statTicks(ctrd)
	mark := b.tasks.mark()
	pods := make([]*floorPod, n)
	errs := make([]error, n)
	var wg sync.WaitGroup
	t0 := time.Now()
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			pods[i], errs[i] = b.floor.run(ctx, floorSpec{App: floorApp})
		}()
	}
	wg.Wait()
	var last time.Duration
	for _, p := range pods {
		if p == nil {
			continue
		}
		ev, _, err := b.tasks.wait(ctx, mark, func(e taskEvent) bool { return e.Start && e.Container == p.AppID })
		if err != nil {
			errs = append(errs, err)
			break
		}
		last = max(last, ev.At.Sub(t0))
	}
	rc := runtimeSince(ctrd, ctrdChildren, b.floor.ns)
	errs = append(errs, b.floorRemove(ctx, pods))
	return last, rc, errors.Join(errs...)
}

// floorRemove removes floor pods in parallel.
func (b *bench) floorRemove(ctx context.Context, pods []*floorPod) error {
	errs := make([]error, len(pods))
	var wg sync.WaitGroup
	for i, p := range pods {
		if p == nil {
			continue
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs[i] = p.remove(ctx)
		}()
	}
	wg.Wait()
	return errors.Join(errs...)
}

// memoryPerPod splits the node's memory for n running pods: the pause
// processes and shims of the agent's namespace by PSS (their shared pages
// split among them), the agent by its RSS growth over the idle agent, and
// containerd's growth, reported apart.
func (b *bench) memoryPerPod(ctx context.Context, n int, agentRSS int64) error {
	pauses, err := b.pausePIDs(ctx)
	if err != nil {
		return err
	}
	var pausePSS, shimPSS int64
	for _, pid := range pauses {
		pausePSS += pss(pid)
	}
	shims := shimPIDs(b.net.Namespace)
	for _, pid := range shims {
		shimPSS += pss(pid)
	}
	r := b.res
	per := func(v int64) float64 { return mib(v / int64(n)) }
	r.PauseMiBPerPod = per(pausePSS)
	r.ShimMiBPerPod = per(shimPSS)
	r.ShimsPerPod = round2(float64(len(shims)) / float64(n))
	r.AgentGroupsShims = r.ShimsPerPod < 1.5
	r.AgentMiBPerPod = per(max(agentRSS-b.idleRSS, 0))
	r.ContainerdMiBPod = per(max(rss(b.containerdPID())-b.containerdRSS, 0))
	r.NodeMiBPerPod = round2(r.PauseMiBPerPod + r.ShimMiBPerPod + r.AgentMiBPerPod)
	b.log.Info("memory per pod", zap.Int("pods", n), zap.Int("pauses", len(pauses)), zap.Int("shims", len(shims)),
		zap.Float64("MiB", r.NodeMiBPerPod))
	return nil
}

// pausePIDs lists the PIDs of the agent's pause tasks.
func (b *bench) pausePIDs(ctx context.Context) ([]int, error) {
	ctx = namespaces.WithNamespace(ctx, b.net.Namespace)
	list, err := b.world.client.Containers(ctx, fmt.Sprintf(`labels.%q==sandbox`, runtime.LabelKind))
	if err != nil {
		return nil, err
	}
	var out []int
	for _, c := range list {
		if t, err := c.Task(ctx, nil); err == nil {
			out = append(out, int(t.Pid()))
		}
	}
	return out, nil
}

// containerdPID finds the world's containerd by its config file argument.
func (b *bench) containerdPID() int {
	want := []byte(filepath.Join(b.world.root, "containerd", "config.toml"))
	paths, _ := filepath.Glob("/proc/[0-9]*/cmdline")
	for _, p := range paths {
		data, err := os.ReadFile(p)
		if err != nil || !bytes.HasPrefix(data, []byte("/")) && !bytes.HasPrefix(data, []byte("containerd")) {
			continue
		}
		args := bytes.Split(bytes.TrimRight(data, "\x00"), []byte{0})
		if len(args) > 0 && filepath.Base(string(args[0])) == "containerd" && slices.ContainsFunc(args, func(a []byte) bool { return bytes.Equal(a, want) }) {
			pid, _ := strconv.Atoi(filepath.Base(filepath.Dir(p)))
			return pid
		}
	}
	return 0
}

// shimGrouping runs the same floor pods (pause + one app) with one shim
// per container and with one shim per pod, and compares the shims' memory.
func (b *bench) shimGrouping(ctx context.Context) error {
	k := b.size.Grouping
	measure := func(group bool) (shims int, total int64, err error) {
		pods := make([]*floorPod, 0, k)
		defer func() { err = errors.Join(err, b.floorRemove(ctx, pods)) }()
		for range k {
			p, err := b.floor.run(ctx, floorSpec{App: floorApp, Group: group})
			if err != nil {
				return 0, 0, err
			}
			pods = append(pods, p)
		}
		if err := sleep(ctx, time.Second); err != nil {
			return 0, 0, err
		}
		pids := shimPIDs(b.floor.ns)
		for _, pid := range pids {
			total += pss(pid)
		}
		return len(pids), total, nil
	}
	su, tu, err := measure(false)
	if err != nil {
		return err
	}
	sg, tg, err := measure(true)
	if err != nil {
		return err
	}
	r := b.res
	r.GroupingPods = k
	r.ShimsUngrouped, r.ShimsGrouped = round2(float64(su)/float64(k)), round2(float64(sg)/float64(k))
	r.ShimMiBUngrouped, r.ShimMiBGrouped = mib(tu/int64(k)), mib(tg/int64(k))
	r.GroupingSavesMiB = round2(r.ShimMiBUngrouped - r.ShimMiBGrouped)
	b.log.Sugar().Infof("shims per pod: %.1f ungrouped (%.2f MiB), %.1f grouped (%.2f MiB)", r.ShimsUngrouped, r.ShimMiBUngrouped, r.ShimsGrouped, r.ShimMiBGrouped)
	return nil
}

// removePods removes the named pods' manifests, all at once, and waits
// until every pod is gone from the API. It returns the time from the first
// removal to the last pod's deletion.
func (b *bench) removePods(ctx context.Context, names []string) (time.Duration, error) {
	t1 := time.Now()
	for _, name := range names {
		if _, err := b.agent.remove(name + ".yaml"); err != nil {
			return 0, err
		}
	}
	var gone time.Duration
	for _, name := range names {
		pt, err := b.pods.wait(ctx, name, isGone)
		if err != nil {
			return 0, err
		}
		gone = max(gone, pt.Deleted.Sub(t1))
	}
	return gone, nil
}
