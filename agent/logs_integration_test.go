//go:build integration

package agent

import (
	"bytes"
	"context"
	"fmt"
	"testing"
	"time"

	v1 "k8s.io/api/core/v1"

	"github.com/minikubelet/minikubelet/api"
	"github.com/minikubelet/minikubelet/internal/testenv"
)

// crashCounter is a container that prints which run it is (counted in an
// emptyDir that outlives its crashes), lives a little, and fails.
const crashCounter = `apiVersion: v1
kind: Pod
metadata: {name: counter}
spec:
  terminationGracePeriodSeconds: 1
  volumes: [{name: scratch, emptyDir: {}}]
  containers:
  - name: c
    image: busybox
    command: [sh, -c, 'echo x >> /data/runs; echo "run $(wc -l < /data/runs)"; sleep 2; exit 1']
    volumeMounts: [{name: scratch, mountPath: /data}]
`

// logsOf reads the named pod's log while its container's status stays the
// same: it returns the output and the status it belongs to, retrying when the
// container moved on in between.
func (a *testAgent) logsOf(name string, previous bool, stable func(v1.ContainerStatus) bool) (string, v1.ContainerStatus) {
	a.t.Helper()
	ctx := context.Background()
	for range 50 {
		before := cstatus(a.waitPod(name, "the wanted state", time.Minute, func(p *v1.Pod) bool { return stable(cstatus(p, "c")) }), "c")
		var out bytes.Buffer
		err := a.client.Logs(ctx, "default", name, api.LogOptions{Previous: previous}, &out)
		p, gerr := a.client.GetPod(ctx, "default", name)
		if gerr != nil {
			a.t.Fatal(gerr)
		}
		after := cstatus(p, "c")
		if after.RestartCount != before.RestartCount || (after.State.Running == nil) != (before.State.Running == nil) {
			continue // the container moved on while we read
		}
		if err != nil {
			a.t.Fatalf("logs %s (previous=%v): %v", name, previous, err)
		}
		return out.String(), before
	}
	a.t.Fatalf("pod %s never held still long enough to read its log", name)
	return "", v1.ContainerStatus{}
}

// `logs` reads the newest instance, also when it has exited and waits in
// CrashLoopBackOff (issue 11: it used to print the instance before it), and
// `--previous` the last terminated one, as the kubelet's
// validateContainerLogStatus chooses them.
func TestLogsChooseTheInstance(t *testing.T) {
	env := testenv.New(t)
	cfg := testConfig(t, env)
	cfg.CrashLoopBackOff.MaxContainerRestartPeriod = &Duration{4 * time.Second}
	a := startAgent(t, cfg)
	a.write("counter.yaml", crashCounter)

	waitingAfter := func(rc int32) func(v1.ContainerStatus) bool {
		return func(cs v1.ContainerStatus) bool {
			return cs.State.Waiting != nil && cs.State.Waiting.Reason == "CrashLoopBackOff" && cs.RestartCount >= rc
		}
	}
	// In CrashLoopBackOff with restartCount n, the newest instance is
	// attempt n, the (n+1)-th run; it is also lastState, so --previous
	// reads it too (upstream does the same).
	out, cs := a.logsOf("counter", false, waitingAfter(2))
	if want := fmt.Sprintf("run %d\n", cs.RestartCount+1); out != want {
		t.Errorf("logs in CrashLoopBackOff with restartCount %d: %q, want %q", cs.RestartCount, out, want)
	}
	out, cs = a.logsOf("counter", true, waitingAfter(2))
	if want := fmt.Sprintf("run %d\n", cs.RestartCount+1); out != want {
		t.Errorf("logs --previous in CrashLoopBackOff with restartCount %d: %q, want %q", cs.RestartCount, out, want)
	}

	// Running again: logs is the running instance, --previous the one
	// that ended before it.
	running := func(cs v1.ContainerStatus) bool { return cs.State.Running != nil && cs.RestartCount >= 2 }
	out, cs = a.logsOf("counter", false, running)
	if want := fmt.Sprintf("run %d\n", cs.RestartCount+1); out != want {
		t.Errorf("logs while running with restartCount %d: %q, want %q", cs.RestartCount, out, want)
	}
	out, cs = a.logsOf("counter", true, running)
	if want := fmt.Sprintf("run %d\n", cs.RestartCount); out != want {
		t.Errorf("logs --previous while running with restartCount %d: %q, want %q", cs.RestartCount, out, want)
	}
}
