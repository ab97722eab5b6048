package main

import (
	"context"
	"fmt"
	"time"

	v1 "k8s.io/api/core/v1"

	"github.com/minikubelet/minikubelet/runtime"
)

// startTimes is one pod start as the bench saw it.
type startTimes struct {
	Running time.Duration // manifest written (floor: first call) → app task running, containerd's view
	Ready   time.Duration // manifest written → pod Ready in the agent's API
	// Gaps are, for a pod with init containers, the time from each init
	// container's exit to the start of the next container.
	Gaps []time.Duration
}

// chainGaps returns, for containers that ran one after the other (names
// in order, as name reports them), how long after each one's exit the next
// one started.
func chainGaps(evs []taskEvent, names []string, name func(taskEvent) string) []time.Duration {
	exits, starts := map[string]time.Time{}, map[string]time.Time{}
	for _, e := range evs {
		n := name(e)
		switch {
		case e.Start && starts[n].IsZero():
			starts[n] = e.At
		case !e.Start && e.Exec == "" && exits[n].IsZero():
			exits[n] = e.At
		}
	}
	var out []time.Duration
	for i := 1; i < len(names); i++ {
		if e, s := exits[names[i-1]], starts[names[i]]; !e.IsZero() && !s.IsZero() {
			out = append(out, s.Sub(e))
		}
	}
	return out
}

// podStart times single pod starts: the floor and the agent take turns for
// each kind of pod, so that both see the same machine conditions. The
// first round only warms up (caches, the bridge) and is not counted.
func (b *bench) podStart(ctx context.Context) error {
	var floor1, floorInit, agent1, agentInit, agentReady []startTimes
	for i := -1; i < b.size.Runs; i++ {
		steps := []func() error{
			func() error { return b.floorStartOnce(ctx, 0, &floor1, i) },
			func() error { return b.agentStartOnce(ctx, idlePod(fmt.Sprintf("start-%d", i+1)), &agent1, i) },
			func() error { return b.floorStartOnce(ctx, 2, &floorInit, i) },
			func() error { return b.agentStartOnce(ctx, initPod(fmt.Sprintf("init-%d", i+1)), &agentInit, i) },
			func() error { return b.agentStartOnce(ctx, readyPod(fmt.Sprintf("ready-%d", i+1)), &agentReady, i) },
		}
		// Alternate which of each floor/agent pair goes first.
		if i%2 != 0 {
			steps[0], steps[1] = steps[1], steps[0]
			steps[2], steps[3] = steps[3], steps[2]
		}
		for _, step := range steps {
			if err := step(); err != nil {
				return err
			}
			if err := sleep(ctx, settle); err != nil {
				return err
			}
		}
	}
	r := b.res
	r.setStart(floor1, floorInit, agent1, agentInit, agentReady)
	b.log.Sugar().Infof("pod start p50: floor %.0f ms, agent %.0f ms (%.2fx); init floor %.0f ms, agent %.0f ms (%.2fx); Ready with HTTP probe %.0f ms",
		r.FloorStartP50, r.PodStartP50, r.PodStartRatio, r.InitFloorStartP50, r.InitPodStartP50, r.InitPodStartRatio, r.ReadyP50)
	return nil
}

// floorStartOnce starts and removes one floor pod; run < 0 is a warm-up.
func (b *bench) floorStartOnce(ctx context.Context, inits int, out *[]startTimes, run int) error {
	mark := b.tasks.mark()
	t0 := time.Now()
	p, err := b.floor.run(ctx, floorSpec{Inits: inits, App: floorApp})
	if err != nil {
		return fmt.Errorf("floor pod: %w", err)
	}
	ev, _, err := b.tasks.wait(ctx, mark, func(e taskEvent) bool { return e.Start && e.Container == p.AppID })
	if err != nil {
		return err
	}
	if err := p.remove(ctx); err != nil {
		return fmt.Errorf("remove floor pod: %w", err)
	}
	if run >= 0 {
		d := ev.At.Sub(t0)
		var chain []string
		for i := range inits {
			chain = append(chain, fmt.Sprintf("%s-init%d", p.id, i))
		}
		gaps := chainGaps(b.tasks.since(mark), append(chain, p.AppID), func(e taskEvent) string { return e.Container })
		*out = append(*out, startTimes{Running: d, Ready: d, Gaps: gaps})
	}
	return nil
}

// agentStartOnce runs one pod through the agent: manifest written, app
// container running, pod Ready, manifest removed, pod gone.
func (b *bench) agentStartOnce(ctx context.Context, p *v1.Pod, out *[]startTimes, run int) error {
	ctx, cancel := context.WithTimeout(ctx, podTimeout)
	defer cancel()
	mark := b.tasks.mark()
	t0, err := b.apply(p)
	if err != nil {
		return err
	}
	ev, _, err := b.tasks.wait(ctx, mark, b.isStart(p.Name, "app"))
	if err != nil {
		return fmt.Errorf("pod %s: app container start: %w", p.Name, err)
	}
	pt, err := b.pods.wait(ctx, p.Name, isReady)
	if err != nil {
		return fmt.Errorf("pod %s: Ready: %w", p.Name, err)
	}
	if _, err := b.deletePod(ctx, p.Name); err != nil {
		return err
	}
	if run >= 0 {
		var chain []string
		for _, c := range p.Spec.InitContainers {
			chain = append(chain, c.Name)
		}
		var evs []taskEvent
		for _, e := range b.tasks.since(mark) {
			if e.Namespace == b.net.Namespace && e.label(runtime.LabelPodName) == p.Name {
				evs = append(evs, e)
			}
		}
		gaps := chainGaps(evs, append(chain, "app"), func(e taskEvent) string { return e.label(runtime.LabelContainerName) })
		*out = append(*out, startTimes{Running: ev.At.Sub(t0), Ready: pt.Ready.Sub(t0), Gaps: gaps})
	}
	return nil
}
