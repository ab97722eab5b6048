//go:build integration

package agent

import (
	"context"
	"strings"
	"syscall"
	"testing"
	"time"

	v1 "k8s.io/api/core/v1"

	"github.com/minikubelet/minikubelet/internal/testenv"
)

// containerd killed and started again under a running agent: the
// containers keep running and are not restarted, the sandbox stays, and a
// container that exits while containerd is down is seen to have exited
// (and restarted, per restartPolicy) once it is back, though the exit's
// event was never delivered.
func TestContainerdCrashUnderAgent(t *testing.T) {
	env := testenv.New(t)
	a := startAgent(t, testConfig(t, env))
	a.write("pair.yaml", `apiVersion: v1
kind: Pod
metadata: {name: pair}
spec:
  containers:
  - {name: steady, image: busybox, command: [sleep, '3600']}
  - {name: victim, image: busybox, command: [sleep, '3600']}
`)
	running := func(p *v1.Pod) bool {
		return cstatus(p, "steady").State.Running != nil && cstatus(p, "victim").State.Running != nil
	}
	before := a.waitPod("pair", "both running", time.Minute, running)

	ctx, cancel := context.WithTimeout(env.Ctx(context.Background()), 2*time.Minute)
	defer cancel()
	victimID := strings.TrimPrefix(cstatus(before, "victim").ContainerID, "containerd://")
	c, err := env.Client.LoadContainer(ctx, victimID)
	if err != nil {
		t.Fatal(err)
	}
	task, err := c.Task(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	victimPID := int(task.Pid())

	env.KillContainerd(t, func() {
		if err := syscall.Kill(victimPID, syscall.SIGKILL); err != nil {
			t.Fatalf("kill the victim container's process %d: %v", victimPID, err)
		}
	})

	after := a.waitPod("pair", "victim restarted after the containerd restart", time.Minute, func(p *v1.Pod) bool {
		return cstatus(p, "victim").RestartCount == 1 && running(p)
	})
	last := cstatus(after, "victim").LastTerminationState.Terminated
	if last == nil || last.ExitCode != 137 || last.ContainerID != cstatus(before, "victim").ContainerID {
		t.Errorf("victim's last state %+v, want the killed instance's exit 137", last)
	}
	if got := cstatus(after, "steady"); got.RestartCount != 0 || got.ContainerID != cstatus(before, "steady").ContainerID {
		t.Errorf("steady container after the containerd restart: restarts %d, id %s (was %s)",
			got.RestartCount, got.ContainerID, cstatus(before, "steady").ContainerID)
	}
	if after.Status.PodIP != before.Status.PodIP {
		t.Errorf("pod IP %s after the containerd restart, was %s: the sandbox was remade", after.Status.PodIP, before.Status.PodIP)
	}
	for _, e := range a.events("pair") {
		if e.Reason == "SandboxChanged" {
			t.Errorf("event %s: %s", e.Reason, e.Message)
		}
	}
}
