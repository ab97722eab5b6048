package runtime

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/containerd/containerd"
	tasktypes "github.com/containerd/containerd/api/types/task"
	"github.com/containerd/containerd/cio"
	"github.com/containerd/containerd/errdefs"
	"github.com/containerd/containerd/oci"
	"go.uber.org/zap"
	v1 "k8s.io/api/core/v1"
)

// Exit codes and reasons containerd's CRI reports.
const (
	startErrorExitCode = 128
	unknownExitCode    = 255

	reasonCompleted  = "Completed"
	reasonError      = "Error"
	reasonOOMKilled  = "OOMKilled"
	reasonUnknown    = "Unknown"
	reasonStartError = "StartError"
)

// maxMessageLabel bounds the StartError message kept in a label.
const maxMessageLabel = 1024

// StartContainer creates and starts one container in the sandbox: image
// config plus Kubernetes command/args/env/workingDir, the pod's namespaces,
// files and volumes, stdio into the CRI log file at opts.LogPath. When the
// container was created but its task failed to be created or started, it is
// returned with its ID (state exited, reason StartError) along with the
// error.
func (c *Containerd) StartContainer(ctx context.Context, sb Sandbox, pod *v1.Pod, ctr *v1.Container, opts ContainerOptions) (Container, error) {
	ctx = c.ns(ctx)
	ref := pod.Namespace + "/" + pod.Name
	fail := func(err error) (Container, error) {
		return Container{}, fmt.Errorf("start container %q of pod %s: %w", ctr.Name, ref, err)
	}

	// The sandbox must be running: the container joins its namespaces. One
	// read of its task; its IPs are the label PodState read them from, set
	// once when the sandbox was created.
	sbProc, err := c.taskProcess(ctx, sb.ID)
	if err != nil {
		return fail(fmt.Errorf("sandbox %s: %w", sb.ID, err))
	}
	if sbProc == nil || sbProc.Status != tasktypes.Status_RUNNING {
		return fail(fmt.Errorf("sandbox %s is not running", sb.ID))
	}
	podIPs := sb.IPs

	imageRef := opts.Image.Ref
	if imageRef == "" {
		imageRef = ctr.Image
	}
	img, named, err := c.getImage(ctx, imageRef)
	if err != nil {
		return fail(err)
	}
	ispec, err := img.Spec(ctx)
	if err != nil {
		return fail(fmt.Errorf("image %q: config: %w", named.String(), err))
	}
	// A spec that cannot be made into a configuration (hostname,
	// environment, command, a subPath) is the kubelet's
	// CreateContainerConfigError: the spec, not the node, is at fault.
	hostname, domain, err := podHostname(pod, c.cfg.ClusterDomain)
	if err != nil {
		return fail(&ConfigError{Err: err})
	}
	if hostname, err = utsHostname(pod, hostname, domain); err != nil {
		return fail(&ConfigError{Err: err})
	}
	if pod.Spec.HostNetwork {
		if hostname, err = nodeHostname(); err != nil {
			return fail(err)
		}
	}
	ec := c.envContext(podIPs)
	ec.Warn = opts.Warn
	env, err := containerEnv(pod, ctr, ec, opts.ServiceEnv)
	if err != nil {
		return fail(&ConfigError{Err: err})
	}
	args, err := processArgs(ispec.Config.Entrypoint, ispec.Config.Cmd, ctr, env)
	if err != nil {
		return fail(&ConfigError{Err: err})
	}
	secOpts, userOpts, err := containerSecurity(pod, ctr, ispec.Config.User, c.allCaps, filepath.Join(c.cfg.Root, "seccomp"))
	if err != nil {
		return fail(&ConfigError{Err: err})
	}

	// Host side: the termination log and the volumes.
	layout := c.podLayout(pod.UID)
	termDir := layout.terminationLogDir(ctr.Name)
	if err := os.MkdirAll(termDir, 0o750); err != nil {
		return fail(err)
	}
	termLog := filepath.Join(termDir, shortID(4))
	if err := createEmptyFile(termLog, 0o666); err != nil {
		return fail(err)
	}
	id := newID()
	mounts, err := c.volumes.containerMounts(layout, pod, ctr, env, termLog)
	if err != nil {
		_ = os.Remove(termLog)
		return fail(err)
	}
	mounts = withHostShm(&pod.Spec, layout, mounts)
	logPath := opts.LogPath
	if logPath == "" {
		logPath = LogPath(c.cfg.LogDir, pod, ctr.Name, opts.RestartCount)
	}
	stopSignal := ispec.Config.StopSignal
	if stopSignal == "" {
		stopSignal = "SIGTERM"
	}
	imageID := opts.Image.ID
	if imageID == "" {
		imageID = named.Name() + "@" + img.Target().Digest.String()
	}
	kind := opts.Kind
	if kind == "" {
		kind = KindApp
	}
	sharePID := sharesPodPID(&pod.Spec)

	specOpts := []oci.SpecOpts{
		oci.WithoutRunMount,
		withoutDefaultRlimits,
		oci.WithProcessArgs(args...),
		oci.WithDefaultPathEnv,
		oci.WithEnv([]string{"HOSTNAME=" + hostname}),
		oci.WithEnv(ispec.Config.Env),
		oci.WithEnv(env),
		withMounts(append(mounts, cgroupMount)),
		oci.Compose(secOpts...),
		withResources(ctr.Resources),
		withOOMScoreAdj(qosOOMScoreAdj(pod, ctr, c.nodeMemory), c.ownOOMScoreAdj),
		withPodNamespaces(sbProc.Pid, sharePID),
		oci.WithCgroup(c.cgroupsPath(pod, id)),
		withShimGroup(sb.ID),
	}
	switch {
	case ctr.WorkingDir != "":
		specOpts = append(specOpts, oci.WithProcessCwd(ctr.WorkingDir))
	case ispec.Config.WorkingDir != "":
		specOpts = append(specOpts, oci.WithProcessCwd(ispec.Config.WorkingDir))
	}
	if ctr.TTY {
		specOpts = append(specOpts, oci.WithTTY)
	}
	// Last: these read /etc/passwd and /etc/group from the rootfs.
	specOpts = append(specOpts, c.users.cached(img.Target().Digest, userInputs(pod, ctr, ispec.Config.User), userOpts))

	labels := podLabels(pod)
	labels[LabelKind] = string(kind)
	labels[LabelSandboxID] = sb.ID
	labels[LabelContainerName] = ctr.Name
	labels[LabelRestartCount] = strconv.Itoa(int(opts.RestartCount))
	labels[LabelSpecHash] = opts.SpecHash
	labels[LabelImage] = ctr.Image
	labels[LabelImageRef] = named.String()
	labels[LabelImageID] = imageID
	labels[LabelLogPath] = logPath
	labels[LabelTerminationLog] = termLog
	if ctr.TerminationMessagePolicy != "" {
		labels[LabelTerminationMessagePolicy] = string(ctr.TerminationMessagePolicy)
	}
	labels[LabelStopSignal] = stopSignal
	switch {
	case ctr.Stdin && ctr.StdinOnce:
		labels[LabelStdin] = "once"
	case ctr.Stdin:
		labels[LabelStdin] = "true"
	}

	container, err := c.newContainer(ctx, id, img, specOpts, labels)
	if err != nil {
		_ = os.Remove(termLog)
		return fail(fmt.Errorf("create container: %w", err))
	}
	log := c.log.With(zap.String("pod", ref), zap.String("container", ctr.Name), zap.String("id", id))

	startedAt, pid, err := c.startTask(ctx, container, logOwner{pod.UID, ctr.Name}, c.containerFIFOs(id, ctr.TTY, ctr.Stdin), logPath)
	if err != nil {
		cctx, cancel := c.cleanupContext(ctx)
		defer cancel()
		if markErr := c.markStartError(cctx, container, err); markErr != nil {
			log.Error("record start error", zap.Error(markErr))
		}
		st, _ := c.containerStatus(cctx, id)
		st.ID = id
		return st, fmt.Errorf("start container %q (%s) of pod %s: %w", ctr.Name, id, ref, err)
	}
	log.Info("container started", zap.Uint32("pid", pid), zap.String("image", named.String()))
	return Container{
		ID:           id,
		PodUID:       pod.UID,
		SandboxID:    sb.ID,
		Name:         ctr.Name,
		Kind:         kind,
		RestartCount: opts.RestartCount,
		SpecHash:     opts.SpecHash,
		Image:        ctr.Image,
		ImageRef:     named.String(),
		ImageID:      imageID,
		State:        StateRunning,
		PID:          pid,
		CreatedAt:    startedAt, // refreshed from containerd by PodState
		StartedAt:    startedAt,
		LogPath:      logPath,
	}, nil
}

// startTask creates the container's task with its stdio on the FIFOs
// fifos, copied to logPath, starts it and records the start time. Its exit reaches the exit
// monitor through containerd's event stream, or through the reconciliation
// when the stream was not live yet or broke: an exit right after the start
// is never missed.
func (c *Containerd) startTask(ctx context.Context, container containerd.Container, owner logOwner, fifos cio.Config, logPath string) (_ time.Time, _ uint32, retErr error) {
	id := container.ID()
	if err := c.attachLogs(id, owner, fifos, logPath); err != nil {
		return time.Time{}, 0, fmt.Errorf("attach log FIFOs: %w", err)
	}
	defer func() {
		if retErr != nil {
			c.stopLogs(id)
		}
	}()
	task, err := container.NewTask(ctx, func(string) (cio.IO, error) { return &fifoIO{cfg: fifos}, nil }, c.withRuncOptions)
	if err != nil {
		// containerd's CRI words: the message a StartError carries.
		return time.Time{}, 0, fmt.Errorf("failed to create containerd task: %w", err)
	}
	if err := task.Start(ctx); err != nil {
		return time.Time{}, 0, fmt.Errorf("failed to start containerd task %q: %w", id, err)
	}
	started := time.Now()
	if _, err := container.SetLabels(ctx, map[string]string{LabelStartedAt: started.Format(time.RFC3339Nano)}); err != nil {
		c.log.Warn("record container start time", zap.String("id", id), zap.Error(err))
	}
	return started, task.Pid(), nil
}

// newContainer creates a container of a pod, sandbox or not, the one way:
// on a new snapshot of img with the configured snapshotter, run by runc.
func (c *Containerd) newContainer(ctx context.Context, id string, img containerd.Image, spec []oci.SpecOpts, labels map[string]string) (containerd.Container, error) {
	// The client's own lease is released on ctx, so a creation cancelled
	// half-way (the pod deleted meanwhile) would leave it behind: release
	// ours on a fresh context.
	ctx, done, err := c.client.WithLease(ctx)
	if err != nil {
		return nil, fmt.Errorf("create container %s: lease: %w", id, err)
	}
	defer func() {
		cctx, cancel := c.cleanupContext(ctx)
		defer cancel()
		if err := done(cctx); err != nil && !isNotFound(err) {
			c.log.Warn("release lease of container creation", zap.String("id", id), zap.Error(err))
		}
	}()
	c.pods.creatingStart(id, labels)
	container, err := c.client.NewContainer(ctx, id,
		containerd.WithImage(img),
		containerd.WithSnapshotter(c.cfg.Snapshotter),
		withNewSnapshot(id, img),
		containerd.WithRuntime(runcRuntime, c.runcOptions()),
		containerd.WithNewSpec(spec...),
		containerd.WithContainerLabels(labels),
	)
	// A creation that failed yet left the container is placed by its event.
	c.pods.creatingDone(id, err == nil)
	return container, err
}

// markStartError records a failed start: exit code 128, reason StartError
// and the error as message, and removes the task if one was created.
func (c *Containerd) markStartError(ctx context.Context, container containerd.Container, startErr error) error {
	defer c.taskLocks.lock(container.ID())()
	var errs []error
	if task, err := container.Task(ctx, nil); err == nil {
		if err := c.deleteTask(ctx, task, containerd.WithProcessKill); err != nil && !isNotFound(err) {
			errs = append(errs, err)
		}
	}
	msg := startErr.Error()
	if len(msg) > maxMessageLabel {
		msg = msg[:maxMessageLabel]
	}
	_, err := container.SetLabels(ctx, map[string]string{
		LabelExitCode:   strconv.Itoa(startErrorExitCode),
		LabelReason:     reasonStartError,
		LabelMessage:    msg,
		LabelFinishedAt: time.Now().Format(time.RFC3339Nano),
	})
	return errors.Join(append(errs, err)...)
}

// finalize persists the exit of a stopped container into its labels (exit
// code, finish time, reason) and then deletes its task, which frees the
// shim. Only the exit monitor calls it (requestFinalize). It is idempotent and never loses an exit status: the labels are
// written before the task (which holds the status) is deleted, and a task
// that vanished without a recorded status (the node rebooted) is recorded as
// exit code 255, reason Unknown. A running or never-started container is
// left alone.
func (c *Containerd) finalize(ctx context.Context, id string) error {
	ctx = c.ns(ctx)
	defer c.taskLocks.lock(id)()
	container, err := c.client.LoadContainer(ctx, id)
	if err != nil {
		if isNotFound(err) {
			return nil
		}
		return err
	}
	labels, err := container.Labels(ctx)
	if err != nil {
		return err
	}
	if labels[LabelKind] == kindSandbox {
		return nil // pause tasks are deleted by StopSandbox
	}
	task, err := container.Task(ctx, nil)
	if err != nil && !isNotFound(err) {
		return err
	}
	if task == nil {
		if labels[LabelExitCode] != "" || labels[LabelStartedAt] == "" {
			return nil // finalized already, or never started
		}
		// Another finalize may have just deleted the task: look again.
		if labels, err = container.Labels(ctx); err != nil || labels[LabelExitCode] != "" {
			return err
		}
		_, err := container.SetLabels(ctx, map[string]string{
			LabelExitCode:   strconv.Itoa(unknownExitCode),
			LabelReason:     reasonUnknown,
			LabelFinishedAt: time.Now().Format(time.RFC3339Nano),
		})
		return err
	}
	st, err := task.Status(ctx)
	if err != nil {
		if isNotFound(err) {
			return nil
		}
		return err
	}
	if st.Status != containerd.Stopped {
		return nil
	}
	if labels[LabelExitCode] == "" {
		finished := st.ExitTime
		if finished.IsZero() {
			finished = time.Now()
		}
		oom, counted := labels[LabelOOM] == "true", false
		// Before the task's deletion removes its cgroup.
		if info, err := container.Info(ctx); err == nil {
			oom, counted = c.oomKilled(info)
		}
		exit := map[string]string{
			LabelExitCode:   strconv.FormatUint(uint64(st.ExitStatus), 10),
			LabelReason:     exitReason(int32(st.ExitStatus), oom),
			LabelFinishedAt: finished.Format(time.RFC3339Nano),
		}
		if counted {
			exit[LabelOOMCounted] = "true"
		}
		if _, err := container.SetLabels(ctx, exit); err != nil {
			return err
		}
	}
	if err := c.deleteTask(ctx, task); err != nil && !isNotFound(err) {
		return fmt.Errorf("delete task of container %s: %w", id, err)
	}
	return nil
}

// exitReason is containerd CRI's reason for an exit.
func exitReason(code int32, oom bool) string {
	switch {
	case oom:
		return reasonOOMKilled
	case code == 0:
		return reasonCompleted
	}
	return reasonError
}

func isNotFound(err error) bool {
	return errdefs.IsNotFound(err)
}

func splitList(s string) []string {
	if s == "" {
		return nil
	}
	return strings.Split(s, ",")
}

// LogPath is the kubelet's CRI log file of one container instance:
// <logDir>/<namespace>_<name>_<uid>/<container>/<restartCount>.log.
func LogPath(logDir string, pod *v1.Pod, container string, restartCount int32) string {
	return filepath.Join(PodLogDir(logDir, pod), container, strconv.Itoa(int(restartCount))+".log")
}

// PodLogDir is the kubelet's directory of a pod's container logs:
// <logDir>/<namespace>_<name>_<uid>.
func PodLogDir(logDir string, pod *v1.Pod) string {
	return filepath.Join(logDir, podLogDirName(pod.Namespace, pod.Name, string(pod.UID)))
}

// podLogDirName names a pod's log directory; with "*" for namespace and
// name it is the pattern of a UID's (neither may contain "_").
func podLogDirName(namespace, name, uid string) string {
	return namespace + "_" + name + "_" + uid
}

// podLogDirUID is the UID in a name podLogDirName made, if it is one.
func podLogDirUID(dirName string) (string, bool) {
	parts := strings.Split(dirName, "_")
	if len(parts) != 3 || parts[0] == "" || parts[1] == "" {
		return "", false
	}
	return parts[2], true
}

func createEmptyFile(path string, mode os.FileMode) error {
	f, err := os.OpenFile(path, os.O_CREATE|os.O_WRONLY|os.O_TRUNC, mode)
	if err != nil {
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	return os.Chmod(path, mode) // not subject to umask
}
