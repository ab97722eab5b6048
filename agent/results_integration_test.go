//go:build integration

package agent

import (
	"fmt"
	"strings"
	"testing"
	"time"

	v1 "k8s.io/api/core/v1"

	"github.com/minikubelet/minikubelet/internal/testenv"
)

// An exec liveness probe that outlives timeoutSeconds is a failure, as
// with kubelet's ExecProbeTimeout (on by default): the runtime kills the
// command, the prober reads its timeout error as Failure with kubelet's
// message, and the container is restarted. Before, the runtime's timeout
// error was not recognised and the probe ended "errored", unknown, so a
// hung probe never restarted anything.
func TestExecProbeTimeoutRestarts(t *testing.T) {
	env := testenv.New(t)
	a := startAgent(t, testConfig(t, env))
	a.write("hang.yaml", pod("hang", "Always", `  - name: c
    image: busybox
    command: [sleep, '3600']
    livenessProbe:
      exec: {command: [sleep, '10']}
      timeoutSeconds: 1
      periodSeconds: 2
      failureThreshold: 1
`))
	a.waitPod("hang", "restarted by its liveness probe", 90*time.Second, func(p *v1.Pod) bool {
		return cstatus(p, "c").RestartCount >= 1
	})
	evs := a.events("hang")
	if !hasEvent(evs, "Unhealthy", `Liveness probe failed: command "sleep 10" timed out`) {
		t.Errorf("no Unhealthy event for the timeout:\n%s", a.describe("hang"))
	}
	if !hasEvent(evs, "Killing", "Container c failed liveness probe, will be restarted") {
		t.Errorf("no Killing event:\n%s", a.describe("hang"))
	}
	if hasEvent(evs, "Unhealthy", "errored") {
		t.Errorf("the timeout was reported as a probe error:\n%s", a.describe("hang"))
	}
	a.remove("hang.yaml")
	a.waitGone("hang", time.Minute)
}

// Termination messages as the kubelet reads them: the last 4 KiB of the
// termination log; with FallbackToLogsOnError, when a failed container
// left that file empty, the last 80 lines (2 KiB at most) of its log; and
// all of a pod's messages sharing 12 KiB, here 3 KiB for each of four.
func TestTerminationMessages(t *testing.T) {
	env := testenv.New(t)
	a := startAgent(t, testConfig(t, env))
	a.write("results.yaml", pod("results", "Never", `  - name: file
    image: busybox
    command: [sh, -c, 'printf bye > /dev/termination-log']
  - name: fallback
    image: busybox
    terminationMessagePolicy: FallbackToLogsOnError
    command: [sh, -c, 'for i in $(seq 1 100); do echo line $i; done; exit 3']
  - name: big
    image: busybox
    terminationMessagePath: /tmp/why
    command: [sh, -c, 'head -c 1000 /dev/zero | tr "\\0" a > /tmp/why; head -c 4000 /dev/zero | tr "\\0" b >> /tmp/why; exit 1']
  - name: quiet
    image: busybox
    command: [sh, -c, 'echo not a termination message; exit 2']
`))
	var lines strings.Builder
	for i := 21; i <= 100; i++ {
		fmt.Fprintf(&lines, "line %d\n", i)
	}
	// The log copier may finish a moment after the exit: wait for the
	// fallback message rather than take the first terminal status.
	p := a.waitPod("results", "Failed with the fallback message", 90*time.Second, func(p *v1.Pod) bool {
		term := cstatus(p, "fallback").State.Terminated
		return p.Status.Phase == v1.PodFailed && term != nil && term.Message == lines.String()
	})
	for _, want := range []struct {
		name, reason, message string
		code                  int32
	}{
		{"file", "Completed", "bye", 0},
		{"fallback", "Error", lines.String(), 3},
		// The last 4 KiB of the file, then the first 3 KiB of that.
		{"big", "Error", (strings.Repeat("a", 1000) + strings.Repeat("b", 4000))[5000-4096:][:3072], 1},
		{"quiet", "Error", "", 2},
	} {
		term := cstatus(p, want.name).State.Terminated
		if term == nil {
			t.Errorf("%s: not terminated: %+v", want.name, cstatus(p, want.name))
			continue
		}
		if term.Reason != want.reason || term.ExitCode != want.code || term.Message != want.message {
			t.Errorf("%s: reason %s exit %d message %q (%d bytes); want %s, %d, %q (%d bytes)", want.name,
				term.Reason, term.ExitCode, term.Message, len(term.Message), want.reason, want.code, want.message, len(want.message))
		}
	}
	a.remove("results.yaml")
	a.waitGone("results", time.Minute)
}
