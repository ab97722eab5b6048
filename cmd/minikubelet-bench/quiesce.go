package main

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"strconv"
	"time"

	"go.uber.org/zap"
)

// The machine counts as quiet once a whole quietWindow passes with at most
// quietBusy of CPU time used on all cores together: the idle agent and
// containerd stay far below it, the previous round's clean-up does not.
const (
	quietWindow = time.Second
	quietBusy   = 150 * time.Millisecond
	// quietLimit bounds the wait on a machine that other work keeps busy.
	quietLimit = 30 * time.Second
)

// quiesce waits until the pods of the round before, removed from namespace
// ns, are digested: their shims gone and the machine quiet. Removing 100
// pods leaves work running on after the last one is gone from the API or
// containerd (shims exiting, containerd's garbage collection removing
// snapshots, the kernel tearing down network namespaces), which would
// otherwise land in the next side's time; the floor, measured first in
// each round, never had it in its own. On the idle machine the wait ends
// after one window (BENCHMARKS.md, "session of 2026-12-04, late morning").
func (b *bench) quiesce(ctx context.Context, ns string) error {
	t0 := time.Now()
	wait, cancel := context.WithTimeout(ctx, quietLimit)
	defer cancel()
	err := func() error {
		for len(shimPIDs(ns)) > 0 {
			if err := sleep(wait, 100*time.Millisecond); err != nil {
				return err
			}
		}
		return waitQuiet(wait, machineBusy, quietWindow, quietBusy)
	}()
	if err != nil && ctx.Err() == nil && wait.Err() != nil {
		// Only the quiet limit ran out: measure anyway, and say so.
		b.log.Warn("the machine did not quieten down; going on", zap.String("after", ns), zap.Duration("waited", time.Since(t0)))
		return nil
	}
	b.log.Info("quiet", zap.String("after", ns), zap.Duration("took", time.Since(t0).Round(time.Millisecond)), zap.Error(err))
	return err
}

// waitQuiet returns once busy, read at the start and the end of a window,
// grew by at most maxBusy over it.
func waitQuiet(ctx context.Context, busy func() (time.Duration, error), window, maxBusy time.Duration) error {
	prev, err := busy()
	if err != nil {
		return err
	}
	for {
		if err := sleep(ctx, window); err != nil {
			return err
		}
		now, err := busy()
		if err != nil {
			return err
		}
		if now-prev <= maxBusy {
			return nil
		}
		prev = now
	}
}

// machineBusy is the CPU time all cores spent on anything but idle and
// I/O wait since boot (the "cpu" line of /proc/stat).
func machineBusy() (time.Duration, error) {
	data, err := os.ReadFile("/proc/stat")
	if err != nil {
		return 0, err
	}
	return parseMachineBusy(data)
}

func parseMachineBusy(stat []byte) (time.Duration, error) {
	line, _, _ := bytes.Cut(stat, []byte("\n"))
	f := bytes.Fields(line)
	if len(f) < 5 || string(f[0]) != "cpu" {
		return 0, fmt.Errorf("/proc/stat: no cpu line in %q", line)
	}
	var busy int64
	// user nice system idle iowait irq softirq steal [guest guest_nice,
	// already counted in user and nice]
	for i, v := range f[1:min(len(f), 9)] {
		if i == 3 || i == 4 {
			continue
		}
		n, err := strconv.ParseInt(string(v), 10, 64)
		if err != nil {
			return 0, fmt.Errorf("/proc/stat: cpu field %d: %w", i+1, err)
		}
		busy += n
	}
	return ticks(busy), nil
}
