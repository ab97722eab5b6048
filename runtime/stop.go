package runtime

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"syscall"
	"time"

	"github.com/containerd/containerd"
	"github.com/moby/sys/signal"
	"go.uber.org/zap"
	"k8s.io/apimachinery/pkg/types"

	"github.com/minikubelet/minikubelet/netns"
)

// StopContainer stops a container like containerd's CRI: with grace > 0 it
// sends the recorded stop signal (the image's STOPSIGNAL, default SIGTERM)
// and waits up to grace; then, or at once with grace 0, it SIGKILLs every
// process of the container and waits for the exit. The exit is finalized
// (recorded and the task deleted). Stopping a stopped or missing container
// succeeds.
func (c *Containerd) StopContainer(ctx context.Context, containerID string, grace time.Duration) error {
	ctx = c.ns(ctx)
	container, err := c.client.LoadContainer(ctx, containerID)
	if err != nil {
		if isNotFound(err) {
			return nil
		}
		return fmt.Errorf("stop container %s: %w", containerID, err)
	}
	if err := c.killTask(ctx, container, grace); err != nil {
		return fmt.Errorf("stop container %s: %w", containerID, err)
	}
	// The monitor has the exit from containerd's stream already; asking
	// again costs nothing and covers an exit the stream did not carry.
	c.requestFinalize(containerID)
	if err := c.waitFinalized(ctx, containerID); err != nil {
		return fmt.Errorf("stop container %s: %w", containerID, err)
	}
	return nil
}

// killTask signals the task and waits for it to stop (nerdctl's
// containerutil.Stop: Wait first, then signal, timeout, SIGKILL).
func (c *Containerd) killTask(ctx context.Context, container containerd.Container, grace time.Duration) error {
	task, err := container.Task(ctx, nil)
	if err != nil {
		if isNotFound(err) {
			return nil
		}
		return err
	}
	st, err := task.Status(ctx)
	if err != nil {
		if isNotFound(err) {
			return nil
		}
		return err
	}
	switch st.Status {
	case containerd.Stopped:
		return nil
	case containerd.Created:
		// Never started: there is no process to signal gracefully.
		grace = 0
	case containerd.Paused, containerd.Pausing:
		if err := task.Resume(ctx); err != nil && !isNotFound(err) {
			return fmt.Errorf("resume before stop: %w", err)
		}
	}
	exitCh, err := task.Wait(ctx)
	if err != nil {
		if isNotFound(err) {
			return nil
		}
		return err
	}
	if grace > 0 {
		sig := syscall.SIGTERM
		if labels, err := container.Labels(ctx); err == nil && labels[LabelStopSignal] != "" {
			if s, err := signal.ParseSignal(labels[LabelStopSignal]); err == nil {
				sig = s
			}
		}
		if err := task.Kill(ctx, sig); err != nil && !isNotFound(err) {
			return fmt.Errorf("send %v: %w", sig, err)
		}
		timer := time.NewTimer(grace)
		defer timer.Stop()
		select {
		case <-exitCh:
			return nil
		case <-timer.C:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	// KillAll: with a shared PID namespace the container's children outlive
	// its init otherwise.
	if err := task.Kill(ctx, syscall.SIGKILL, containerd.WithKillAll); err != nil && !isNotFound(err) {
		return fmt.Errorf("send SIGKILL: %w", err)
	}
	select {
	case <-exitCh:
		return nil
	case <-ctx.Done():
		return fmt.Errorf("waiting for exit after SIGKILL: %w", ctx.Err())
	}
}

// RemoveContainer deletes a stopped container: the container with its
// snapshot, its FIFOs and its termination log, once the exit monitor has
// finalized its exit (a task created but never started is deleted here).
// A running container is refused; a missing one is fine.
func (c *Containerd) RemoveContainer(ctx context.Context, containerID string) error {
	ctx = c.ns(ctx)
	container, err := c.client.LoadContainer(ctx, containerID)
	if err != nil {
		if isNotFound(err) {
			return c.removeContainerFiles(ctx, containerID, "")
		}
		return fmt.Errorf("remove container %s: %w", containerID, err)
	}
	labels, err := container.Labels(ctx)
	if err != nil {
		return fmt.Errorf("remove container %s: %w", containerID, err)
	}
	if task, err := container.Task(ctx, nil); err == nil {
		st, err := task.Status(ctx)
		if err == nil && st.Status != containerd.Stopped && st.Status != containerd.Created {
			return fmt.Errorf("remove container %s: it is %s; stop it first", containerID, st.Status)
		}
		if err == nil && st.Status == containerd.Stopped {
			c.requestFinalize(containerID)
		}
		if err := c.waitFinalized(ctx, containerID); err != nil {
			return fmt.Errorf("remove container %s: %w", containerID, err)
		}
		unlock := c.taskLocks.lock(containerID)
		err = c.deleteTask(ctx, task, containerd.WithProcessKill)
		unlock()
		if err != nil && !isNotFound(err) {
			return fmt.Errorf("remove container %s: delete task: %w", containerID, err)
		}
	} else if !isNotFound(err) {
		return fmt.Errorf("remove container %s: %w", containerID, err)
	}
	if err := container.Delete(ctx, containerd.WithSnapshotCleanup); err != nil && !isNotFound(err) {
		return fmt.Errorf("remove container %s: %w", containerID, err)
	}
	c.pods.drop(containerID)
	return c.removeContainerFiles(ctx, containerID, labels[LabelTerminationLog])
}

func (c *Containerd) removeContainerFiles(ctx context.Context, id, termLog string) error {
	// The copier reaches EOF once the task is gone; don't pull its FIFOs
	// away while it drains them.
	dctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	c.detachLogs(dctx, id)
	cancel()
	var errs []error
	if err := os.RemoveAll(c.fifoDir(id)); err != nil {
		errs = append(errs, err)
	}
	if termLog != "" {
		if err := os.Remove(termLog); err != nil && !errors.Is(err, os.ErrNotExist) {
			errs = append(errs, err)
		}
	}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("remove files of container %s: %w", id, err)
	}
	return nil
}

// StopSandbox kills every container of the sandbox (SIGKILL: the pod worker
// has already stopped them gracefully), then the pause task, runs CNI DEL
// and removes the network namespace. Exits are finalized. Safe to repeat;
// a missing sandbox is fine.
func (c *Containerd) StopSandbox(ctx context.Context, sandboxID string) error {
	ctx = c.ns(ctx)
	pause, err := c.client.LoadContainer(ctx, sandboxID)
	if err != nil {
		if isNotFound(err) {
			return nil
		}
		return fmt.Errorf("stop sandbox %s: %w", sandboxID, err)
	}
	labels, err := pause.Labels(ctx)
	if err != nil {
		return fmt.Errorf("stop sandbox %s: %w", sandboxID, err)
	}
	ids, ok := c.pods.sandbox(sandboxID)
	if !ok {
		recs, err := c.client.ContainerService().List(ctx, labelFilter(LabelSandboxID, sandboxID))
		if err != nil {
			return fmt.Errorf("stop sandbox %s: %w", sandboxID, err)
		}
		for _, r := range recs {
			ids = append(ids, r.ID)
		}
	}
	var errs []error
	for _, id := range ids {
		if id == sandboxID {
			continue
		}
		if err := c.StopContainer(ctx, id, 0); err != nil {
			errs = append(errs, err)
		}
	}
	if err := c.killTask(ctx, pause, 0); err != nil {
		errs = append(errs, fmt.Errorf("stop pause task: %w", err))
	} else if task, err := pause.Task(ctx, nil); err == nil {
		unlock := c.taskLocks.lock(sandboxID)
		err := c.deleteTask(ctx, task)
		unlock()
		if err != nil && !isNotFound(err) {
			errs = append(errs, fmt.Errorf("delete pause task: %w", err))
		}
	}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("stop sandbox %s: %w", sandboxID, err)
	}
	// Containers are gone: now the network can go.
	if labels[LabelHostNetwork] == "true" {
		return nil // the node's
	}
	if c.cfg.Network == nil {
		return fmt.Errorf("stop sandbox %s: no pod network configured", sandboxID)
	}
	var ports []netns.PortMapping
	if s := labels[LabelPortMappings]; s != "" {
		if err := json.Unmarshal([]byte(s), &ports); err != nil {
			c.log.Warn("unreadable port mappings label", zap.String("sandbox", sandboxID), zap.Error(err))
		}
	}
	meta := netns.PodMeta{
		Namespace: labels[LabelPodNamespace], Name: labels[LabelPodName], UID: labels[LabelPodUID],
		SandboxID: sandboxID, PortMappings: ports,
	}
	path := labels[LabelNetNS]
	if err := c.cfg.Network.Teardown(ctx, path, meta); err != nil {
		return fmt.Errorf("stop sandbox %s: %w", sandboxID, err)
	}
	if path != "" {
		if err := netns.Load(path).Remove(); err != nil {
			return fmt.Errorf("stop sandbox %s: remove netns: %w", sandboxID, err)
		}
	}
	return nil
}

// RemoveSandbox deletes the pause container and its snapshot, stopping the
// sandbox first if its pause task still exists. The sandbox's other
// containers are left to RemoveContainer. A missing sandbox is fine.
func (c *Containerd) RemoveSandbox(ctx context.Context, sandboxID string) error {
	ctx = c.ns(ctx)
	pause, err := c.client.LoadContainer(ctx, sandboxID)
	if err != nil {
		if isNotFound(err) {
			return nil
		}
		return fmt.Errorf("remove sandbox %s: %w", sandboxID, err)
	}
	if _, err := pause.Task(ctx, nil); err == nil {
		if err := c.StopSandbox(ctx, sandboxID); err != nil {
			return fmt.Errorf("remove sandbox %s: %w", sandboxID, err)
		}
	}
	if err := pause.Delete(ctx, containerd.WithSnapshotCleanup); err != nil && !isNotFound(err) {
		return fmt.Errorf("remove sandbox %s: %w", sandboxID, err)
	}
	c.pods.drop(sandboxID)
	return nil
}

// CleanupPod removes what the pod owns outside containerd: its state dir
// (unmounting /dev/shm and memory-backed emptyDirs first), its log dir
// <LogDir>/<ns>_<name>_<uid> and its pod cgroup, killing what is left in
// that cgroup first. Call it once the pod's containers and sandboxes are
// gone. Safe to repeat.
func (c *Containerd) CleanupPod(ctx context.Context, uid types.UID) error {
	if uid == "" {
		return errors.New("cleanup pod: empty UID")
	}
	var errs []error
	if err := c.removePodDir(c.podLayout(uid)); err != nil {
		errs = append(errs, err)
	}
	logDirs, err := filepath.Glob(filepath.Join(c.cfg.LogDir, podLogDirName("*", "*", string(uid))))
	if err != nil {
		errs = append(errs, err)
	}
	for _, d := range logDirs {
		if err := os.RemoveAll(d); err != nil {
			errs = append(errs, err)
		}
	}
	if p, ok := c.cgroups.podCgroups(c.cfg.CgroupRoot)[uid]; ok {
		if err := c.cgroups.killTree(ctx, p); err != nil {
			errs = append(errs, err)
		}
		errs = append(errs, c.cgroups.removeTree(p))
	}
	if err := c.burstable.set(c.cgroups, c.cfg.CgroupRoot, uid, nil); err != nil {
		errs = append(errs, err)
	}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("cleanup pod %s: %w", uid, err)
	}
	return nil
}

// PodDirUIDs lists the UIDs of the pods that have a state dir under
// <Root>/pods or a log dir <LogDir>/<ns>_<name>_<uid>, whether containerd
// holds anything of them or not: what CleanupPod would remove. A pod whose
// termination was cut short between the removal of its containers and its
// CleanupPod (the agent stopped meanwhile) keeps both, and one cut inside
// CleanupPod keeps its log dir alone. Like the kubelet's
// cleanupOrphanedPodDirs and evictPodLogsDirectories, the caller removes
// those of pods no longer desired; the log dir is the agent's (--log-dir) as
// /var/log/pods is the kubelet's. A name that cannot be a pod UID is not
// the agent's and is left out.
func (c *Containerd) PodDirUIDs(ctx context.Context) ([]types.UID, error) {
	var out []types.UID
	seen := map[string]bool{}
	add := func(uid string) {
		if isPodUID(uid) && !seen[uid] {
			seen[uid] = true
			out = append(out, types.UID(uid))
		}
	}
	podDirs, err := os.ReadDir(filepath.Join(c.cfg.Root, "pods"))
	if err != nil && !errors.Is(err, os.ErrNotExist) {
		return nil, fmt.Errorf("list pod dirs: %w", err)
	}
	for _, e := range podDirs {
		if e.IsDir() {
			add(e.Name())
		}
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	logDirs, err := os.ReadDir(c.cfg.LogDir)
	if err != nil && !errors.Is(err, os.ErrNotExist) {
		return nil, fmt.Errorf("list pod log dirs: %w", err)
	}
	for _, e := range logDirs {
		if uid, ok := podLogDirUID(e.Name()); ok && e.IsDir() {
			add(uid)
		}
	}
	return out, nil
}

// isPodUID says whether s can be a pod UID of the agent's (a UUID, or the
// hex hash of a static pod), and so is safe in a path and a glob pattern.
func isPodUID(s string) bool {
	if s == "" || len(s) > 128 {
		return false
	}
	for _, r := range s {
		if !(r >= '0' && r <= '9' || r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r == '-') {
			return false
		}
	}
	return true
}
