package main

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"time"

	"go.uber.org/zap"
)

// reactions times how fast the agent replaces a container: after it exits
// (first restart, no back-off yet) and after a liveness probe fails it. It
// also starts a crash-looping pod whose back-off (10 s, then 20 s) runs on
// in the background through the next phases; finishCrashLoop collects it.
func (b *bench) reactions(ctx context.Context) error {
	if err := b.ensureCapture(ctx); err != nil {
		return err
	}
	loop := make(chan error, 1)
	b.crashLoopDone = loop
	go func() { loop <- b.crashLoop(ctx) }()

	restarts, errR := b.firstRestarts(ctx)
	liveness, byKind, errL := b.livenessRestarts(ctx)
	if err := errors.Join(errR, errL); err != nil {
		return err
	}
	r := b.res
	rd := summarize(restarts)
	r.Restarts, r.RestartReactionP50, r.RestartReactP90, r.RestartReactMax = rd.N, ms(rd.P50), ms(rd.P90), ms(rd.Max)
	ld := summarize(liveness)
	r.LivenessSamples, r.LivenessReactionP50, r.LivenessReactP90, r.LivenessReactMax = ld.N, ms(ld.P50), ms(ld.P90), ms(ld.Max)
	for kind, xs := range byKind {
		r.LivenessByKindP50[kind] = ms(summarize(xs).P50)
	}
	b.log.Sugar().Infof("first restart p50 %.0f ms (%d samples); liveness restart p50 %.0f ms (%d samples)",
		r.RestartReactionP50, rd.N, r.LivenessReactionP50, ld.N)
	return nil
}

// finishCrashLoop waits for the crash-loop measurement reactions started,
// if any. Safe to call twice.
func (b *bench) finishCrashLoop(ctx context.Context) error {
	if b.crashLoopDone == nil {
		return nil
	}
	b.log.Info("waiting for the crash-loop back-off measurement")
	var err error
	select {
	case err = <-b.crashLoopDone:
	case <-ctx.Done():
		err = ctx.Err()
	}
	b.crashLoopDone = nil
	if err != nil {
		return fmt.Errorf("crash loop: %w", err)
	}
	r := b.res
	b.log.Sugar().Infof("crash loop: restarts %.2f / %.2f / %.2f s after each exit", r.FirstRestartS, r.BackoffSecondRestartS, r.BackoffThirdRestartS)
	return nil
}

// restartGaps waits for a container's first n+1 starts and the exits
// between them, and returns each restart's delay after the exit before it.
func (b *bench) restartGaps(ctx context.Context, name string, mark, n int) ([]time.Duration, error) {
	start, pos, err := b.tasks.wait(ctx, mark, b.isStart(name, "app"))
	if err != nil {
		return nil, fmt.Errorf("pod %s: first start: %w", name, err)
	}
	var gaps []time.Duration
	for i := range n {
		exit, p, err := b.tasks.wait(ctx, pos, func(e taskEvent) bool { return b.isExit(name, "app")(e) && e.Container == start.Container })
		if err != nil {
			return nil, fmt.Errorf("pod %s: exit %d: %w", name, i, err)
		}
		if start, pos, err = b.tasks.wait(ctx, p, b.isStart(name, "app")); err != nil {
			return nil, fmt.Errorf("pod %s: restart %d: %w", name, i+1, err)
		}
		gaps = append(gaps, start.At.Sub(exit.At))
	}
	return gaps, nil
}

// crashLoop runs a container that always fails and records how long after
// each exit the first three restarts came: at once, then after the
// back-off of 10 s and 20 s.
func (b *bench) crashLoop(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, 3*time.Minute)
	defer cancel()
	const name = "crashloop"
	mark := b.tasks.mark()
	if _, err := b.apply(crashPod(name)); err != nil {
		return err
	}
	gaps, err := b.restartGaps(ctx, name, mark, 3)
	if _, derr := b.deletePod(ctx, name); derr != nil {
		err = errors.Join(err, derr)
	}
	if err != nil {
		return err
	}
	r := b.res
	r.FirstRestartS, r.BackoffSecondRestartS, r.BackoffThirdRestartS = secs(gaps[0]), secs(gaps[1]), secs(gaps[2])
	return nil
}

// firstRestarts times the first restart of failing containers, one pod at
// a time.
func (b *bench) firstRestarts(ctx context.Context) ([]time.Duration, error) {
	var out []time.Duration
	for i := range b.size.Restarts {
		name := fmt.Sprintf("restart-%d", i)
		err := func() error {
			ctx, cancel := context.WithTimeout(ctx, podTimeout)
			defer cancel()
			mark := b.tasks.mark()
			if _, err := b.apply(crashPod(name)); err != nil {
				return err
			}
			gaps, err := b.restartGaps(ctx, name, mark, 1)
			if err != nil {
				return err
			}
			out = append(out, gaps[0])
			_, err = b.deletePod(ctx, name)
			return err
		}()
		if err != nil {
			return out, err
		}
		if len(out) == 3 && slices.Min(out) > time.Second {
			// Restarts this slow wait out a back-off; more samples would
			// only measure the back-off again.
			b.log.Warn("the first restart waits for a back-off; stopping after 3 samples", zap.Duration("min", slices.Min(out)))
			break
		}
		if err := sleep(ctx, settle); err != nil {
			return out, err
		}
	}
	return out, nil
}

// livenessRestarts times liveness restarts for exec, TCP and HTTP probes,
// the three kinds side by side in each round.
func (b *bench) livenessRestarts(ctx context.Context) ([]time.Duration, map[string][]time.Duration, error) {
	kinds := []string{"exec", "tcp", "http"}
	byKind := map[string][]time.Duration{}
	var all []time.Duration
	for round := range b.size.Liveness {
		var mu sync.Mutex
		var wg sync.WaitGroup
		errs := make([]error, len(kinds))
		for i, kind := range kinds {
			wg.Add(1)
			go func() {
				defer wg.Done()
				d, err := b.livenessOnce(ctx, kind, fmt.Sprintf("liveness-%s-%d", kind, round))
				if err != nil {
					errs[i] = err
					return
				}
				mu.Lock()
				byKind[kind] = append(byKind[kind], d)
				all = append(all, d)
				mu.Unlock()
			}()
		}
		wg.Wait()
		if err := errors.Join(errs...); err != nil {
			return all, byKind, err
		}
	}
	return all, byKind, nil
}

// livenessOnce starts a pod whose liveness probe fails soon and returns
// the time from the failed probe to the replacement container running.
// The failure is the exec's exit for an exec probe, and the RST that
// refused the probe's connection for TCP and HTTP.
func (b *bench) livenessOnce(ctx context.Context, kind, name string) (time.Duration, error) {
	ctx, cancel := context.WithTimeout(ctx, podTimeout)
	defer cancel()
	mark, cmark := b.tasks.mark(), b.capture.mark()
	if _, err := b.apply(livenessPod(name, kind)); err != nil {
		return 0, err
	}
	first, pos, err := b.tasks.wait(ctx, mark, b.isStart(name, "app"))
	if err != nil {
		return 0, fmt.Errorf("pod %s: start: %w", name, err)
	}
	next, _, err := b.tasks.wait(ctx, pos, b.isStart(name, "app"))
	if err != nil {
		return 0, fmt.Errorf("pod %s: restart after liveness failure: %w", name, err)
	}
	var failed time.Time
	if kind == "exec" {
		ev, _, err := b.tasks.wait(ctx, pos, func(e taskEvent) bool {
			return !e.Start && e.Container == first.Container && e.Exec != "" && e.ExitCode != 0
		})
		if err != nil {
			return 0, fmt.Errorf("pod %s: failed exec probe: %w", name, err)
		}
		failed = ev.At
	} else {
		pt, err := b.pods.wait(ctx, name, func(pt *podTimes) bool { return pt != nil && pt.IP != "" })
		if err != nil {
			return 0, err
		}
		for _, a := range b.capture.since(cmark) {
			if a.Pod == pt.IP && a.Refused && a.RefusedAt.Before(next.At) {
				failed = a.RefusedAt
				break
			}
		}
		if failed.IsZero() {
			return 0, fmt.Errorf("pod %s: no refused %s probe seen before the restart", name, kind)
		}
	}
	if _, err := b.deletePod(ctx, name); err != nil {
		return 0, err
	}
	return next.At.Sub(failed), nil
}
