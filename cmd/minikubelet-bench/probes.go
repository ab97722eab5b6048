package main

import (
	"context"
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
	for _, name := range names {
		pt, err := b.pods.wait(ctx, name, isReady)
		if err != nil {
			return err
		}
		ips[pt.IP] = true
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
	count := 0
	for _, a := range attempts {
		if ips[a.Pod] {
			k := series{a.Pod, a.Port}
			times[k] = append(times[k], a.At)
			count++
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
	r.ProbesPerS = round2(float64(count) / s1.At.Sub(s0.At).Seconds())
	r.ProbeLatenessP50, r.ProbeLatenessP99, r.ProbeLatenessMax = ms2(d.P50), ms2(d.P99), ms2(d.Max)
	r.AgentCPUProbing, r.AgentRSSProbing = round2(cpuPercent(s0, s1)), mib(s1.RSS)
	b.log.Sugar().Infof("%d probed containers: %.0f probes/s, lateness p50 %.2f ms, p99 %.2f ms; agent CPU %.2f%%",
		n, r.ProbesPerS, r.ProbeLatenessP50, r.ProbeLatenessP99, r.AgentCPUProbing)

	if _, err := b.removePods(ctx, names); err != nil {
		return err
	}
	// The crash loop ran alongside.
	if err := b.finishCrashLoop(ctx); err != nil {
		return err
	}
	return sleep(ctx, time.Second)
}
