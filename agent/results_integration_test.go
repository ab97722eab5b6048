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

// Why a container did not run, in the kubelet's words: an expanded
// subPathExpr that is absolute or climbs out of its volume is
// CreateContainerConfigError with makeMounts' message (upstream's e2e
// "Variable Expansion should fail substituting values in a volume subpath
// with absolute path / with backticks"); a command that does not exist is
// containerd's StartError, exit code 128, with the runtime's message, shown
// as RunContainerError while the container waits to be tried again.
func TestContainerStartFailures(t *testing.T) {
	env := testenv.New(t)
	a := startAgent(t, testConfig(t, env))
	subPathPod := func(name, value string) string {
		return pod(name, "Never", `  - name: c
    image: busybox
    command: [sh, -c, 'true']
    env: [{name: POD_NAME, value: '`+value+`'}]
    volumeMounts: [{name: work, mountPath: /logscontainer, subPathExpr: $(POD_NAME)}]
`) + "  volumes: [{name: work, emptyDir: {}}]\n"
	}
	a.write("absolute.yaml", subPathPod("absolute", "/tmp"))
	a.write("backsteps.yaml", subPathPod("backsteps", ".."))
	a.write("never.yaml", pod("never", "Never", "  - {name: c, image: busybox, command: [/no/such/binary]}\n"))
	a.write("always.yaml", pod("always", "Always", "  - {name: c, image: busybox, command: [/no/such/binary]}\n"))

	for name, msg := range map[string]string{
		"absolute":  "error SubPath `/tmp` must not be an absolute path",
		"backsteps": "unable to provision SubPath `..`: must not contain '..'",
	} {
		p := a.waitPod(name, "CreateContainerConfigError", time.Minute, func(p *v1.Pod) bool {
			w := cstatus(p, "c").State.Waiting
			return w != nil && w.Reason == "CreateContainerConfigError"
		})
		if w := cstatus(p, "c").State.Waiting; w.Message != msg || p.Status.Phase != v1.PodPending {
			t.Errorf("%s: waiting %+v phase %s; want message %q, Pending", name, w, p.Status.Phase, msg)
		}
		if !hasEvent(a.events(name), "Failed", "Error: "+msg) {
			t.Errorf("%s: no Failed event:\n%s", name, a.describe(name))
		}
	}

	const startMsg = "failed to create containerd task: "
	p := a.waitPod("never", "StartError", time.Minute, func(p *v1.Pod) bool { return cstatus(p, "c").State.Terminated != nil })
	term := cstatus(p, "c").State.Terminated
	if term.Reason != "StartError" || term.ExitCode != 128 || !strings.HasPrefix(term.Message, startMsg) ||
		!strings.Contains(term.Message, "/no/such/binary") || p.Status.Phase != v1.PodFailed {
		t.Errorf("never: terminated %+v phase %s", term, p.Status.Phase)
	}
	p = a.waitPod("always", "RunContainerError", time.Minute, func(p *v1.Pod) bool {
		w := cstatus(p, "c").State.Waiting
		return w != nil && w.Reason == "RunContainerError"
	})
	st := cstatus(p, "c")
	if last := st.LastTerminationState.Terminated; !strings.HasPrefix(st.State.Waiting.Message, startMsg) ||
		last == nil || last.Reason != "StartError" || last.ExitCode != 128 || last.Message != st.State.Waiting.Message {
		t.Errorf("always: %+v", st)
	}
	if !hasEvent(a.events("always"), "Failed", "Error: "+startMsg) {
		t.Errorf("always: no Failed event:\n%s", a.describe("always"))
	}
	for _, name := range []string{"absolute", "backsteps", "never", "always"} {
		a.remove(name + ".yaml")
	}
	for _, name := range []string{"absolute", "backsteps", "never", "always"} {
		a.waitGone(name, time.Minute)
	}
}
