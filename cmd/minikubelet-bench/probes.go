package main

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"time"
)

// probeTiming runs pods with a 1 s HTTP readiness and a 1 s TCP liveness
// probe each and times every probe connection on the bridge: how late it
// came against the probe's 1 s grid, and the agent's CPU meanwhile.
func (b *bench) probeTiming(ctx context.Context) error {
	if err := b.ensureCapture(ctx); err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(ctx, manyTimeout+b.size.ProbeWindow)
	defer cancel()
	n := b.size.Probed
	names := make([]string, n)
	for i := range names {
		names[i] = fmt.Sprintf("probed-%d", i)
		if _, err := b.apply(probedPod(names[i])); err != nil {
			return err
		}
	}
	ips := map[string]bool{}
	var ipList []string
	for _, name := range names {
		pt, err := b.pods.wait(ctx, name, isReady)
		if err != nil {
			return err
		}
		ips[pt.IP] = true
		ipList = append(ipList, pt.IP)
	}
	// The crash loop reactions left running ends before the window: in
	// --quick its last restart and its pod's deletion fell inside it and
	// made the tail of the lateness theirs (p99 37 ms against 2.6 ms
	// without them). It must be over before the agent is stopped for the
	// floor anyway.
	if err := b.finishCrashLoop(ctx); err != nil {
		return err
	}
	// Readiness changes restart a probe's period; time the steady state.
	if err := sleep(ctx, 3*time.Second); err != nil {
		return err
	}
	mark := b.capture.mark()
	s0, err := b.agent.sample()
	if err != nil {
		return err
	}
	if err := sleep(ctx, b.size.ProbeWindow); err != nil {
		return err
	}
	s1, err := b.agent.sample()
	if err != nil {
		return err
	}
	attempts := b.capture.since(mark)

	type series struct {
		pod  string
		port uint16
	}
	times := map[series][]time.Time{}
	for _, a := range attempts {
		if ips[a.Pod] {
			k := series{a.Pod, a.Port}
			times[k] = append(times[k], a.At)
		}
	}
	var late []time.Duration
	for _, ts := range times {
		slices.SortFunc(ts, func(a, b time.Time) int { return a.Compare(b) })
		late = append(late, gridLateness(ts, time.Second)...)
	}
	d := summarize(late)
	r := b.res
	r.ProbedContainers = n
	r.ProbeWindowS = b.size.ProbeWindow.Seconds()
	r.ProbesPerS = round2(probeRate(attempts, ips, s1.At.Sub(s0.At)))
	r.ProbeLatenessP50, r.ProbeLatenessP99, r.ProbeLatenessMax = ms2(d.P50), ms2(d.P99), ms2(d.Max)
	r.AgentCPUProbing, r.AgentRSSProbing = round2(cpuPercent(s0, s1)), mib(s1.RSS)
	user, sys := cpuSplit(s0, s1)
	r.AgentCPUProbingUser, r.AgentCPUProbingSys = round2(user), round2(sys)
	b.log.Sugar().Infof("%d probed containers: %.0f probes/s, lateness p50 %.2f ms, p99 %.2f ms; agent CPU %.2f%% (user %.2f, sys %.2f)",
		n, r.ProbesPerS, r.ProbeLatenessP50, r.ProbeLatenessP99, r.AgentCPUProbing, r.AgentCPUProbingUser, r.AgentCPUProbingSys)

	if err := b.probingFloor(ctx, ipList); err != nil {
		return err
	}
	if _, err := b.removePods(ctx, names); err != nil {
		return err
	}
	return sleep(ctx, time.Second)
}

// probingFloor measures the floors of probing: the agent's probes, sent to
// the same pods at the same rate first by the raw floor's client
// (probeFloorMain), then for as long by the Go floor's (probeFloorGoMain,
// the agent's own probe code alone), each a process of its own whose CPU
// is read from /proc as the agent's is. The agent is stopped meanwhile
// (SIGSTOP, its pods keep running): its probes would double the load on
// the bridge and the pods, and the capture could not tell its connections
// from the floor's.
func (b *bench) probingFloor(ctx context.Context, ips []string) (retErr error) {
	targets, p, err := floorTargets(ctx, ips)
	if err != nil {
		return err
	}
	if err := b.agent.pause(); err != nil {
		return err
	}
	defer func() { retErr = errors.Join(retErr, b.agent.resume()) }()
	// Both probes of probedPod have the same period and timeout.
	period := time.Duration(p.PeriodSeconds) * time.Second
	raw, err := b.floorClient(ctx, ips, func() (*probeFloorProc, error) {
		return startProbeFloor(ctx, probeFloorSpec{Targets: targets, Period: period, Timeout: time.Duration(p.TimeoutSeconds) * time.Second})
	})
	if err != nil {
		return err
	}
	gof, err := b.floorClient(ctx, ips, func() (*probeFloorProc, error) {
		return startProbeFloorGo(ctx, probeFloorGoSpec{IPs: ips, Container: probedPod("").Spec.Containers[0], Period: period})
	})
	if err != nil {
		return err
	}

	r := b.res
	r.ProbeFloorProbesPerS, r.ProbeFloorCPU, r.ProbeFloorCPUUser, r.ProbeFloorCPUSys = raw.probesPerS, raw.cpu, raw.user, raw.sys
	r.ProbeFloorFailed = raw.res.Failed
	if r.ProbeFloorCPU > 0 {
		r.ProbeCPUFloorRatio = round2(r.AgentCPUProbing / r.ProbeFloorCPU)
	}
	r.ProbeGoFloorProbesPerS, r.ProbeGoFloorCPU, r.ProbeGoFloorCPUUser, r.ProbeGoFloorCPUSys = gof.probesPerS, gof.cpu, gof.user, gof.sys
	r.ProbeGoFloorFailed = gof.res.Failed
	if r.ProbeGoFloorCPU > 0 {
		r.ProbeCPUGoFloorRatio = round2(r.AgentCPUProbing / r.ProbeGoFloorCPU)
	}
	for _, f := range []struct {
		name string
		m    floorMeasure
	}{{"probing floor", raw}, {"Go probing floor", gof}} {
		b.log.Sugar().Infof("%s: %.0f probes/s, CPU %.2f%% (user %.2f, sys %.2f); %d of %d probes failed %s",
			f.name, f.m.probesPerS, f.m.cpu, f.m.user, f.m.sys, f.m.res.Failed, f.m.res.Probes, f.m.res.FirstError)
	}
	return nil
}

// floorMeasure is what one floor's client did over the probe window.
type floorMeasure struct {
	probesPerS, cpu, user, sys float64
	res                        probeFloorResult
}

// floorClient starts a floor's client, reads its CPU and the probes the
// capture saw to ips over the probe window, and stops it.
func (b *bench) floorClient(ctx context.Context, ips []string, start func() (*probeFloorProc, error)) (_ floorMeasure, retErr error) {
	var m floorMeasure
	fp, err := start()
	if err != nil {
		return m, err
	}
	finished := false
	defer func() {
		if !finished {
			_, err := fp.finish()
			retErr = errors.Join(retErr, err)
		}
	}()
	mark := b.capture.mark()
	s0, err := sampleProc(fp.cmd.Process.Pid)
	if err != nil {
		return m, err
	}
	if err := sleep(ctx, b.size.ProbeWindow); err != nil {
		return m, err
	}
	s1, err := sampleProc(fp.cmd.Process.Pid)
	if err != nil {
		return m, err
	}
	attempts := b.capture.since(mark)
	finished = true
	if m.res, err = fp.finish(); err != nil {
		return m, err
	}
	want := map[string]bool{}
	for _, ip := range ips {
		want[ip] = true
	}
	m.probesPerS = round2(probeRate(attempts, want, s1.At.Sub(s0.At)))
	m.cpu = round2(cpuPercent(s0, s1))
	user, sys := cpuSplit(s0, s1)
	m.user, m.sys = round2(user), round2(sys)
	return m, nil
}

// probeRate is the connections per second the capture saw to the given
// pods over wall.
func probeRate(attempts []connAttempt, pods map[string]bool, wall time.Duration) float64 {
	n := 0
	for _, a := range attempts {
		if pods[a.Pod] {
			n++
		}
	}
	if wall <= 0 {
		return 0
	}
	return float64(n) / wall.Seconds()
}
