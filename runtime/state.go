package runtime

import (
	"context"
	"encoding/json"
	"fmt"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/containerd/containerd/api/services/tasks/v1"
	tasktypes "github.com/containerd/containerd/api/types/task"
	"github.com/containerd/containerd/cio"
	"github.com/containerd/containerd/containers"
	"github.com/containerd/containerd/errdefs"
	specs "github.com/opencontainers/runtime-spec/specs-go"
	"go.uber.org/zap"
	"k8s.io/apimachinery/pkg/types"
)

// labelFilter selects containers whose label key equals value.
func labelFilter(key, value string) string {
	return fmt.Sprintf("labels.%q==%q", key, value)
}

// ourContainers selects every container this package created.
func ourContainers() string {
	return fmt.Sprintf("labels.%q", LabelPodUID)
}

// PodState returns the sandboxes and containers of one pod, newest first,
// rebuilt from containerd labels and task status. It only reads (see
// statusOf).
func (c *Containerd) PodState(ctx context.Context, uid types.UID) (PodState, error) {
	ctx = c.ns(ctx)
	var recs []containers.Container
	var err error
	if ids, ok := c.pods.pod(uid); ok {
		recs, err = c.getContainers(ctx, ids)
	} else {
		recs, err = c.client.ContainerService().List(ctx, labelFilter(LabelPodUID, string(uid)))
	}
	if err != nil {
		return PodState{}, fmt.Errorf("pod state of %s: %w", uid, err)
	}
	ps, err := c.podState(ctx, uid, recs, nil)
	if err != nil {
		return PodState{}, fmt.Errorf("pod state of %s: %w", uid, err)
	}
	return ps, nil
}

// getContainers gets the containers by ID; one deleted meanwhile is left
// out, as a listing would.
func (c *Containerd) getContainers(ctx context.Context, ids []string) ([]containers.Container, error) {
	recs := make([]containers.Container, 0, len(ids))
	for _, id := range ids {
		r, err := c.client.ContainerService().Get(ctx, id)
		if err != nil {
			if isNotFound(err) {
				continue
			}
			return nil, fmt.Errorf("container %s: %w", id, err)
		}
		recs = append(recs, r)
	}
	return recs, nil
}

// ListPods returns every pod that has containers in the namespace. The
// tasks are read in one listing, after the containers.
func (c *Containerd) ListPods(ctx context.Context) ([]PodState, error) {
	ctx = c.ns(ctx)
	recs, err := c.client.ContainerService().List(ctx, ourContainers())
	if err != nil {
		return nil, fmt.Errorf("list pods: %w", err)
	}
	tasks, err := c.listTasks(ctx)
	if err != nil {
		return nil, fmt.Errorf("list pods: %w", err)
	}
	return c.podsOf(ctx, recs, tasks)
}

// StartupPods is ListPods answered, on its first call, from the listing New
// made (after removing what an interrupted agent left): an agent that
// starts under a hundred pods adopts them without listing the namespace's
// containers and tasks again (the task listing asks every shim). A state
// from that listing is as old as the runtime; a pod worker's first sync
// reads its pod again. Later calls list as ListPods does.
func (c *Containerd) StartupPods(ctx context.Context) ([]PodState, error) {
	c.startupMu.Lock()
	s := c.startup
	c.startup = nil
	c.startupMu.Unlock()
	if s == nil {
		return c.ListPods(ctx)
	}
	return *s, nil
}

// podsOf groups the container records recs by pod and builds each pod's
// state; tasks holds their tasks as listed after the records.
func (c *Containerd) podsOf(ctx context.Context, recs []containers.Container, tasks taskIndex) ([]PodState, error) {
	byPod := map[types.UID][]containers.Container{}
	for _, r := range recs {
		uid := types.UID(r.Labels[LabelPodUID])
		byPod[uid] = append(byPod[uid], r)
	}
	var out []PodState
	for uid, recs := range byPod {
		ps, err := c.podState(ctx, uid, recs, tasks)
		if err != nil {
			return nil, fmt.Errorf("list pods: pod %s: %w", uid, err)
		}
		out = append(out, ps)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].UID < out[j].UID })
	return out, nil
}

// podState builds a pod's state from its container records; tasks, when
// not nil, holds their tasks as listed after the records.
func (c *Containerd) podState(ctx context.Context, uid types.UID, recs []containers.Container, tasks taskIndex) (PodState, error) {
	ps := PodState{UID: uid}
	for _, r := range recs {
		if ps.Name == "" {
			ps.Name, ps.Namespace = r.Labels[LabelPodName], r.Labels[LabelPodNamespace]
		}
		if r.Labels[LabelKind] == kindSandbox {
			sb, err := c.sandboxStatus(ctx, r, tasks)
			if err != nil {
				return PodState{}, err
			}
			ps.Sandboxes = append(ps.Sandboxes, sb)
			continue
		}
		ct, err := c.statusOf(ctx, r, tasks)
		if err != nil {
			return PodState{}, err
		}
		ps.Containers = append(ps.Containers, ct)
	}
	sort.SliceStable(ps.Sandboxes, func(i, j int) bool { return ps.Sandboxes[i].CreatedAt.After(ps.Sandboxes[j].CreatedAt) })
	sort.SliceStable(ps.Containers, func(i, j int) bool { return ps.Containers[i].CreatedAt.After(ps.Containers[j].CreatedAt) })
	return ps, nil
}

// taskProcess returns the container's init process as containerd reports
// it, nil when it has no task.
func (c *Containerd) taskProcess(ctx context.Context, id string) (*tasktypes.Process, error) {
	resp, err := c.client.TaskService().Get(ctx, &tasks.GetRequest{ContainerID: id})
	if err != nil {
		err = errdefs.FromGRPC(err)
		if isNotFound(err) {
			return nil, nil
		}
		return nil, fmt.Errorf("task of %s: %w", id, err)
	}
	return resp.Process, nil
}

func (c *Containerd) sandboxStatus(ctx context.Context, r containers.Container, tasks taskIndex) (Sandbox, error) {
	attempt, _ := strconv.ParseUint(r.Labels[LabelAttempt], 10, 32)
	sb := Sandbox{
		ID:           r.ID,
		PodUID:       types.UID(r.Labels[LabelPodUID]),
		PodName:      r.Labels[LabelPodName],
		PodNamespace: r.Labels[LabelPodNamespace],
		Attempt:      uint32(attempt),
		IPs:          splitList(r.Labels[LabelPodIPs]),
		NetNSPath:    r.Labels[LabelNetNS],
		CreatedAt:    r.CreatedAt,
	}
	p, err := c.process(ctx, tasks, r.ID)
	if err != nil {
		return Sandbox{}, err
	}
	if p != nil && p.Status == tasktypes.Status_RUNNING {
		sb.Ready, sb.PID = true, p.Pid
	}
	return sb, nil
}

// containerStatus loads one container's status by ID.
func (c *Containerd) containerStatus(ctx context.Context, id string) (Container, error) {
	r, err := c.client.ContainerService().Get(c.ns(ctx), id)
	if err != nil {
		return Container{}, err
	}
	return c.statusOf(c.ns(ctx), r, nil)
}

// statusOf reconstructs a container's state. It only reads: a task that
// stopped but is not finalized yet is reported from containerd's task
// status, the same answer the labels give once the exit monitor has
// recorded it.
func (c *Containerd) statusOf(ctx context.Context, r containers.Container, tasks taskIndex) (Container, error) {
	p, err := c.process(ctx, tasks, r.ID)
	if err != nil {
		return Container{}, err
	}
	if p == nil && r.Labels[LabelExitCode] == "" && r.Labels[LabelStartedAt] != "" {
		// The task went between the listing and now: finalized meanwhile
		// (its labels say so) or lost (see below).
		if r, err = c.client.ContainerService().Get(ctx, r.ID); err != nil {
			return Container{}, err
		}
	}
	l := r.Labels
	restarts, _ := strconv.Atoi(l[LabelRestartCount])
	ct := Container{
		ID:           r.ID,
		PodUID:       types.UID(l[LabelPodUID]),
		SandboxID:    l[LabelSandboxID],
		Name:         l[LabelContainerName],
		Kind:         ContainerKind(l[LabelKind]),
		RestartCount: int32(restarts),
		SpecHash:     l[LabelSpecHash],
		Image:        l[LabelImage],
		ImageRef:     l[LabelImageRef],
		ImageID:      l[LabelImageID],
		CreatedAt:    r.CreatedAt,
		StartedAt:    parseTime(l[LabelStartedAt]),
		LogPath:      l[LabelLogPath],
	}
	exited := func(code int32, finished time.Time, reason string) {
		ct.State = StateExited
		ct.ExitCode = code
		ct.FinishedAt = finished
		ct.Reason = reason
		ct.Message = l[LabelMessage]
		if m := terminationMessage(ctx, l, code, ct.Reason); m != "" {
			if ct.Message != "" {
				ct.Message += ": "
			}
			ct.Message += m
		}
	}
	switch {
	case l[LabelExitCode] != "":
		code, _ := strconv.Atoi(l[LabelExitCode])
		reason := l[LabelReason]
		if l[LabelOOM] == "true" && l[LabelOOMCounted] == "" && reason == reasonError {
			// The OOM event and the exit are handled on different paths; an
			// OOM recorded after a finalization that could not read the
			// kernel's count still names the exit.
			reason = reasonOOMKilled
		}
		exited(int32(code), parseTime(l[LabelFinishedAt]), reason)
	case p == nil && l[LabelStartedAt] != "":
		// Started, and its task vanished without a recorded exit (the node
		// rebooted, or containerd lost the shim): what finalize records.
		exited(unknownExitCode, r.UpdatedAt, reasonUnknown)
	case p == nil:
		ct.State = StateCreated
	default:
		switch p.Status {
		case tasktypes.Status_CREATED:
			ct.State = StateCreated
		case tasktypes.Status_RUNNING, tasktypes.Status_PAUSED, tasktypes.Status_PAUSING:
			ct.State = StateRunning
			ct.PID = p.Pid
			if ct.StartedAt.IsZero() {
				ct.StartedAt = r.CreatedAt // the agent died between start and label
			}
		case tasktypes.Status_STOPPED:
			finished := time.Now()
			if p.ExitedAt != nil {
				finished = p.ExitedAt.AsTime()
			}
			oom, _ := c.oomKilled(r)
			exited(int32(p.ExitStatus), finished, exitReason(int32(p.ExitStatus), oom))
		default:
			ct.State = StateUnknown
			ct.Reason = reasonUnknown
		}
	}
	return ct, nil
}

// oomKilled reports whether the OOM killer killed a process of the stopped
// container r, and whether the kernel's count in its cgroup (there until
// the task is deleted) said so; without the count, containerd's OOM event
// (LabelOOM) does. The count outranks the event: the event may come after
// the exit, and on cgroup v1 the kernel notifies every cgroup under the
// one that reached its limit, so a pod cgroup at the pod's limit sends the
// event for each of its containers while it counts the kill only in the
// victim's.
func (c *Containerd) oomKilled(r containers.Container) (oom, counted bool) {
	event := r.Labels[LabelOOM] == "true"
	if r.Spec == nil {
		return event, false
	}
	var spec specs.Spec
	if err := json.Unmarshal(r.Spec.GetValue(), &spec); err != nil || spec.Linux == nil || spec.Linux.CgroupsPath == "" {
		return event, false
	}
	n, ok := c.cgroups.oomKills(spec.Linux.CgroupsPath)
	if !ok {
		return event, false
	}
	return n > 0, true
}

// adopt takes over containers left by an earlier agent: their log FIFOs
// are attached again, at the paths their task reports (those containerd's
// attach would open). Exits that happened while no agent was watching are
// the exit monitor's: its first reconciliation finalizes them. recs are
// the namespace's containers of this package, tasks their tasks listed
// after them.
func (c *Containerd) adopt(ctx context.Context, recs []containers.Container, tasks taskIndex) {
	for _, r := range recs {
		if r.Labels[LabelKind] == kindSandbox || r.Labels[LabelExitCode] != "" {
			continue
		}
		p, err := c.process(ctx, tasks, r.ID)
		if err != nil {
			c.log.Warn("re-attach container output", zap.String("id", r.ID), zap.Error(err))
			continue
		}
		if p == nil {
			continue
		}
		// As containerd's attach: a task in an unknown state has no FIFOs.
		if p.Status != tasktypes.Status_UNKNOWN {
			fifos := cio.Config{Stdin: p.Stdin, Stdout: p.Stdout, Stderr: p.Stderr, Terminal: p.Terminal}
			owner := logOwner{types.UID(r.Labels[LabelPodUID]), r.Labels[LabelContainerName]}
			if err := c.attachLogs(r.ID, owner, fifos, r.Labels[LabelLogPath]); err != nil {
				c.log.Warn("re-attach container output", zap.String("id", r.ID), zap.Error(err))
				continue
			}
		}
		c.log.Info("adopted container", zap.String("id", r.ID), zap.String("pod", r.Labels[LabelPodNamespace]+"/"+r.Labels[LabelPodName]),
			zap.String("container", r.Labels[LabelContainerName]), zap.String("status", strings.ToLower(p.Status.String())))
	}
}
