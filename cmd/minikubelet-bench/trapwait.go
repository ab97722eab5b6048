package main

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/containerd/containerd"
	"github.com/containerd/containerd/namespaces"
	v1 "k8s.io/api/core/v1"
)

// catchesTERM reports whether the process pid has a handler for SIGTERM
// (bit SIGTERM-1 of SigCgt in /proc/<pid>/status).
func catchesTERM(status []byte) (bool, error) {
	for _, line := range bytes.Split(status, []byte("\n")) {
		v, ok := bytes.CutPrefix(line, []byte("SigCgt:"))
		if !ok {
			continue
		}
		mask, err := strconv.ParseUint(strings.TrimSpace(string(v)), 16, 64)
		if err != nil {
			return false, fmt.Errorf("SigCgt %q: %w", v, err)
		}
		return mask&(1<<(syscall.SIGTERM-1)) != 0, nil
	}
	return false, fmt.Errorf("no SigCgt line")
}

// waitTrapped returns once each of pids has a SIGTERM handler: the idle
// shell has run its `trap`. A pod deleted before that has a PID 1 that
// ignores SIGTERM and sits out the whole grace period (30 s), which would
// measure a timeout, not a cycle. The agent's and the floor's cycles both
// wait for it, so that neither is charged for the other's shell start-up.
func waitTrapped(ctx context.Context, pids []uint32) error {
	for _, pid := range pids {
		for {
			status, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
			if err != nil {
				return fmt.Errorf("container process %d: %w", pid, err)
			}
			ok, err := catchesTERM(status)
			if err != nil {
				return fmt.Errorf("/proc/%d/status: %w", pid, err)
			}
			if ok {
				break
			}
			if err := sleep(ctx, 2*time.Millisecond); err != nil {
				return fmt.Errorf("container process %d: no SIGTERM trap yet: %w", pid, err)
			}
		}
	}
	return nil
}

// podPIDs returns the PIDs of the running containers of an agent's pod
// (their tasks' init processes), from the container IDs of its status.
func (b *bench) podPIDs(ctx context.Context, p *v1.Pod) ([]uint32, error) {
	nctx := namespaces.WithNamespace(ctx, b.agent.Namespace)
	var pids []uint32
	for _, cs := range p.Status.ContainerStatuses {
		_, id, ok := strings.Cut(cs.ContainerID, "://")
		if !ok {
			return nil, fmt.Errorf("container %s: no container ID in the status", cs.Name)
		}
		pid, err := taskPID(nctx, b.world.client, id)
		if err != nil {
			return nil, fmt.Errorf("container %s: %w", cs.Name, err)
		}
		pids = append(pids, pid)
	}
	return pids, nil
}

func taskPID(ctx context.Context, client *containerd.Client, id string) (uint32, error) {
	c, err := client.LoadContainer(ctx, id)
	if err != nil {
		return 0, err
	}
	t, err := c.Task(ctx, nil)
	if err != nil {
		return 0, err
	}
	return t.Pid(), nil
}
