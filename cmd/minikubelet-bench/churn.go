package main

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"time"

	"github.com/containerd/containerd"
	"github.com/containerd/containerd/api/services/tasks/v1"
	"github.com/containerd/containerd/namespaces"
	"github.com/containerd/containerd/snapshots"
	"github.com/moby/sys/mountinfo"
	"github.com/vishvananda/netlink"

	"github.com/minikubelet/minikubelet/internal/testhost"
	"github.com/minikubelet/minikubelet/runtime"
)

// churn creates and deletes a 2-container pod over and over, with floor
// cycles of the same pod in between, and then checks that everything the
// cycles created is gone again.
func (b *bench) churn(ctx context.Context) error {
	before, settled, err := b.settledCounts(ctx)
	if err != nil {
		return err
	}
	b.res.LeakBaselineSettleS = secs(settled)
	every := max(b.size.Churn/max(b.size.FloorChurn, 1), 1)
	var agentCycles, floorCycles []time.Duration
	for i := range b.size.Churn {
		d, err := b.churnOnce(ctx, i)
		if err != nil {
			return fmt.Errorf("cycle %d: %w", i, err)
		}
		agentCycles = append(agentCycles, d)
		if i%every == 0 && len(floorCycles) < b.size.FloorChurn {
			t0 := time.Now()
			p, err := b.floor.run(ctx, floorSpec{App: floorApp, Apps: 2})
			if err != nil {
				return fmt.Errorf("floor cycle: %w", err)
			}
			// As the agent's cycle waits for its shells' traps.
			if err := waitTrapped(ctx, p.appPIDs()); err != nil {
				return errors.Join(fmt.Errorf("floor cycle: %w", err), p.remove(context.WithoutCancel(ctx)))
			}
			if err := p.remove(ctx); err != nil {
				return fmt.Errorf("floor cycle: %w", err)
			}
			floorCycles = append(floorCycles, time.Since(t0))
		}
		if (i+1)%100 == 0 {
			b.log.Sugar().Infof("churn: %d cycles", i+1)
		}
	}

	// Asynchronous clean-up (shims exiting, goroutines ending) may lag the
	// last pod's removal from the API a little: give it time to come back
	// to the start.
	var after map[string]int
	deadline := time.Now().Add(30 * time.Second)
	for {
		if after, err = b.leakCounts(ctx); err != nil {
			return err
		}
		if leaked(before, after) == 0 || time.Now().After(deadline) {
			break
		}
		if err := sleep(ctx, time.Second); err != nil {
			return err
		}
	}

	r := b.res
	ad, fd := summarize(agentCycles), summarize(floorCycles)
	r.ChurnCycles, r.ChurnCycleP50, r.ChurnCycleP90, r.ChurnCycleMax = ad.N, ms(ad.P50), ms(ad.P90), ms(ad.Max)
	r.FloorChurnP50, r.ChurnRatio = ms(fd.P50), ratio(ad.P50, fd.P50)
	r.Leaks = leaked(before, after)
	for k, v := range before {
		r.LeakDetail[k] = leakCounts{Before: v, After: after[k]}
	}
	if s, err := b.agent.sample(); err == nil {
		r.AgentThreadsEnd, r.AgentRSSEndChurn = s.Threads, mib(s.RSS)
	}
	b.log.Sugar().Infof("churn: %d cycles, p50 %.0f ms (floor %.0f ms); leaks %d %s",
		ad.N, r.ChurnCycleP50, r.FloorChurnP50, r.Leaks, r.leakSummary())
	return nil
}

// churnOnce runs one cycle: manifest written, pod Ready, its shells'
// SIGTERM traps set (waitTrapped), manifest removed, pod gone.
func (b *bench) churnOnce(ctx context.Context, i int) (time.Duration, error) {
	ctx, cancel := context.WithTimeout(ctx, podTimeout)
	defer cancel()
	const name = "churn"
	p := twoContainerPod(name)
	p.Annotations = map[string]string{"bench/cycle": strconv.Itoa(i)} // a new UID every cycle
	t0, err := b.apply(p)
	if err != nil {
		return 0, err
	}
	ready, err := b.pods.wait(ctx, name, isReady)
	if err != nil {
		return 0, err
	}
	pids, err := b.podPIDs(ctx, ready.Pod)
	if err != nil {
		return 0, err
	}
	if err := waitTrapped(ctx, pids); err != nil {
		return 0, err
	}
	if _, err := b.deletePod(ctx, name); err != nil {
		return 0, err
	}
	pt, err := b.pods.wait(ctx, name, isGone)
	if err != nil {
		return 0, err
	}
	return pt.Deleted.Sub(t0), nil
}

// settledCounts waits until the agent's goroutines and fds stop changing
// (what earlier phases left in flight has ended) and returns the counts
// then, and how long that took. It gives up waiting after settleMax.
func (b *bench) settledCounts(ctx context.Context) (map[string]int, time.Duration, error) {
	const settleMax, stableFor = 150 * time.Second, 3
	start := time.Now()
	var last map[string]int
	stable := 0
	for {
		c, err := b.leakCounts(ctx)
		if err != nil {
			return nil, 0, err
		}
		if last != nil && c["goroutines"] == last["goroutines"] && c["fds"] == last["fds"] {
			stable++
		} else {
			stable = 0
		}
		last = c
		if stable >= stableFor || time.Since(start) > settleMax {
			return c, time.Since(start), nil
		}
		if err := sleep(ctx, time.Second); err != nil {
			return nil, 0, err
		}
	}
}

// leaked is how many objects there are more of after than before.
func leaked(before, after map[string]int) int {
	n := 0
	for k, v := range after {
		n += max(v-before[k], 0)
	}
	return n
}

// leakCounts counts, for the agent's pods, every kind of object a pod
// leaves behind if it is not cleaned up.
func (b *bench) leakCounts(ctx context.Context) (map[string]int, error) {
	a := b.agent
	c := map[string]int{}
	glob := func(pattern string) int {
		m, _ := filepath.Glob(pattern)
		return len(m)
	}
	c["netns"] = glob(filepath.Join(a.Root, "netns", "*"))
	c["pod_dirs"] = glob(filepath.Join(a.Root, "pods", "*"))
	// fifo/exec is one directory shared by every exec, made at the first
	// one and kept: what counts there is the FIFOs of execs still open.
	c["fifo_dirs"] = glob(filepath.Join(a.Root, "fifo", "*"))
	if _, err := os.Stat(filepath.Join(a.Root, "fifo", "exec")); err == nil {
		c["fifo_dirs"]--
	}
	c["exec_fifos"] = glob(filepath.Join(a.Root, "fifo", "exec", "*"))
	c["log_dirs"] = glob(filepath.Join(filepath.Dir(a.Root), "logs", "*"))
	c["cgroups"] = len(testhost.PodCgroupDirs(runtime.DefaultCgroupRoot(a.Namespace)))
	c["ipam_leases"] = 0
	_ = filepath.Walk(filepath.Join(a.Root, "cni", "ipam"), func(_ string, info os.FileInfo, err error) error {
		if err == nil && !info.IsDir() && net.ParseIP(info.Name()) != nil {
			c["ipam_leases"]++
		}
		return nil
	})
	mounts, err := mountinfo.GetMounts(mountinfo.PrefixFilter(a.Root))
	if err != nil {
		return nil, err
	}
	c["mounts"] = len(mounts)
	c["veths"] = 0
	if br, err := netlink.LinkByName(b.net.Bridge); err == nil {
		links, err := netlink.LinkList()
		if err != nil {
			return nil, err
		}
		for _, l := range links {
			if l.Attrs().MasterIndex == br.Attrs().Index {
				c["veths"]++
			}
		}
	}
	c["shims"] = len(shimPIDs(a.Namespace))

	nctx := namespaces.WithNamespace(ctx, a.Namespace)
	client := b.world.client
	conts, err := client.Containers(nctx)
	if err != nil {
		return nil, err
	}
	c["containers"] = len(conts)
	tl, err := client.TaskService().List(nctx, &tasks.ListTasksRequest{})
	if err != nil {
		return nil, err
	}
	c["tasks"] = len(tl.Tasks)
	c["snapshots"] = 0
	if err := client.SnapshotService(containerd.DefaultSnapshotter).Walk(nctx, func(context.Context, snapshots.Info) error {
		c["snapshots"]++
		return nil
	}); err != nil {
		return nil, err
	}
	ls, err := client.LeasesService().List(nctx)
	if err != nil {
		return nil, err
	}
	c["leases"] = len(ls)

	// fds first: the goroutine request's own connection must not count.
	s, err := a.sample()
	if err != nil {
		return nil, err
	}
	c["fds"] = s.FDs
	if c["goroutines"], err = a.goroutines(ctx); err != nil {
		return nil, fmt.Errorf("agent goroutines: %w", err)
	}
	return c, nil
}
