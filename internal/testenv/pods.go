package testenv

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	v1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/types"

	"github.com/minikubelet/minikubelet/logs"
	"github.com/minikubelet/minikubelet/runtime"
)

// WaitFor polls cond until it holds, failing the test after a minute with
// what it waited for and the last state cond reported.
func WaitFor(t testing.TB, what string, cond func() (ok bool, state string)) {
	t.Helper()
	deadline := time.Now().Add(time.Minute)
	var last string
	for time.Now().Before(deadline) {
		ok, state := cond()
		if ok {
			return
		}
		last = state
		time.Sleep(50 * time.Millisecond)
	}
	t.Fatalf("timed out waiting for %s; last: %s", what, last)
}

// LogPath is the CRI log file of one container instance under e.LogDir
// (runtime.LogPath), where the runtime writes it when not told otherwise.
func (e *Env) LogPath(pod *v1.Pod, container string, restart int32) string {
	return runtime.LogPath(e.LogDir, pod, container, restart)
}

// StartPod runs the pod's sandbox and starts its app containers in order,
// each logging to LogPath(pod, name, 0). It fails the test on any error.
// Taking the pod down is the test's business (RemovePod, or the Env's own
// cleanup when the test ends).
func (e *Env) StartPod(t *testing.T, ctx context.Context, pod *v1.Pod) (runtime.Sandbox, []runtime.Container) {
	t.Helper()
	sb, err := e.Runtime.RunSandbox(ctx, pod, 0)
	if err != nil {
		t.Fatalf("RunSandbox %s: %v", pod.Name, err)
	}
	var cs []runtime.Container
	for i := range pod.Spec.Containers {
		c := &pod.Spec.Containers[i]
		ctr, err := e.Runtime.StartContainer(ctx, sb, pod, c, runtime.ContainerOptions{
			Kind:    runtime.KindApp,
			LogPath: e.LogPath(pod, c.Name, 0),
		})
		if err != nil {
			t.Fatalf("StartContainer %s: %v", c.Name, err)
		}
		cs = append(cs, ctr)
	}
	return sb, cs
}

// RemovePod stops (without grace) and removes everything the runtime holds
// for the pod: containers, sandboxes, its dirs and logs. Missing pieces are
// fine.
func (e *Env) RemovePod(ctx context.Context, uid types.UID) error {
	ps, err := e.Runtime.PodState(ctx, uid)
	if err != nil {
		return fmt.Errorf("remove pod %s: %w", uid, err)
	}
	return e.removePod(ctx, ps)
}

func (e *Env) removePod(ctx context.Context, ps runtime.PodState) error {
	return errors.Join(e.removeContainers(ctx, ps), e.Runtime.CleanupPod(ctx, ps.UID))
}

// RemoveContainers stops (without grace) and removes the pod's containers
// and sandboxes, and nothing outside containerd (dirs, logs): what a
// termination cut short before its CleanupPod leaves.
func (e *Env) RemoveContainers(ctx context.Context, uid types.UID) error {
	ps, err := e.Runtime.PodState(ctx, uid)
	if err != nil {
		return fmt.Errorf("remove the containers of pod %s: %w", uid, err)
	}
	return e.removeContainers(ctx, ps)
}

func (e *Env) removeContainers(ctx context.Context, ps runtime.PodState) error {
	var errs []error
	for _, c := range ps.Containers {
		errs = append(errs, e.Runtime.StopContainer(ctx, c.ID, 0), e.Runtime.RemoveContainer(ctx, c.ID))
	}
	for _, sb := range ps.Sandboxes {
		errs = append(errs, e.Runtime.StopSandbox(ctx, sb.ID), e.Runtime.RemoveSandbox(ctx, sb.ID))
	}
	return errors.Join(errs...)
}

// RunResult is how a container run by Run ended.
type RunResult struct {
	// Output is the container's log as kubectl logs prints it: stdout and
	// stderr interleaved.
	Output   string
	ExitCode int32
}

// Run runs image to completion in a pod of its own, as the agent runs a
// container: with the image's entrypoint, cmd, env, user and working dir,
// command (when given) replacing entrypoint and cmd, no stdin. It then
// removes the pod and returns the container's output and exit code.
func (e *Env) Run(t *testing.T, ctx context.Context, image string, command ...string) RunResult {
	t.Helper()
	pod := &v1.Pod{Spec: v1.PodSpec{
		RestartPolicy: v1.RestartPolicyNever,
		Containers:    []v1.Container{{Name: "run", Image: image, Command: command}},
	}}
	pod.Name = "run-" + randHex(4)
	setPodDefaults(pod)
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		if err := e.RemovePod(ctx, pod.UID); err != nil {
			t.Errorf("testenv: %v", err)
		}
	})
	_, cs := e.StartPod(t, ctx, pod)
	var exited runtime.Container
	WaitFor(t, fmt.Sprintf("%s %q to exit", image, command), func() (bool, string) {
		ps, err := e.Runtime.PodState(ctx, pod.UID)
		if err != nil {
			return false, err.Error()
		}
		for _, c := range ps.Containers {
			if c.ID == cs[0].ID {
				exited = c
				return c.State == runtime.StateExited, string(c.State)
			}
		}
		return false, "container not in the pod's state"
	})
	// Removing the container waits for its log copier to drain the output.
	if err := e.Runtime.RemoveContainer(ctx, exited.ID); err != nil {
		t.Fatalf("testenv: %v", err)
	}
	var out bytes.Buffer
	if err := logs.Read(ctx, exited.LogPath, logs.ReadOptions{TailLines: -1}, &out, nil); err != nil {
		t.Fatalf("testenv: %v", err)
	}
	return RunResult{Output: out.String(), ExitCode: exited.ExitCode}
}
