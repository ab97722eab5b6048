//go:build integration

package agent

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	v1 "k8s.io/api/core/v1"

	"github.com/minikubelet/minikubelet/internal/testenv"
)

// Native sidecars end to end: started in order, the next init container
// waiting for a sidecar's startup probe; the pod is Ready only once its
// sidecars are; a sidecar that exits is restarted whatever its code, the
// app untouched; when the app finishes the pod completes and its sidecars
// are stopped after it, the last one first.
func TestSidecarsLifecycle(t *testing.T) {
	env := testenv.New(t)
	cfg := testConfig(t, env)
	cfg.CrashLoopBackOff.MaxContainerRestartPeriod = &Duration{time.Second}
	a := startAgent(t, cfg)
	shared := t.TempDir()
	touch := func(name, content string) {
		t.Helper()
		if err := os.WriteFile(filepath.Join(shared, name), []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	a.write("side.yaml", fmt.Sprintf(`apiVersion: v1
kind: Pod
metadata: {name: side}
spec:
  restartPolicy: Never
  terminationGracePeriodSeconds: 10
  volumes: [{name: shared, hostPath: {path: %s}}]
  initContainers:
  - name: s1
    image: busybox
    restartPolicy: Always
    command: [sh, -c, 'trap "echo s1-term >> /shared/order; exit 0" TERM; echo s1 >> /shared/start; while true; do sleep 0.1; done']
    volumeMounts: [{name: shared, mountPath: /shared}]
    startupProbe: {exec: {command: [test, -f, /shared/s1-started]}, periodSeconds: 1, failureThreshold: 600}
  - name: init
    image: busybox
    command: [sh, -c, 'echo init >> /shared/start']
    volumeMounts: [{name: shared, mountPath: /shared}]
  - name: s2
    image: busybox
    restartPolicy: Always
    command: [sh, -c, 'trap "echo s2-term >> /shared/order; exit 0" TERM; echo s2 >> /shared/start; while [ ! -f /shared/s2-exit ]; do sleep 0.1; done; c=$(cat /shared/s2-exit); rm /shared/s2-exit; exit $c']
    volumeMounts: [{name: shared, mountPath: /shared}]
    readinessProbe: {exec: {command: [test, -f, /shared/s2-ready]}, periodSeconds: 1}
  containers:
  - name: app
    image: busybox
    command: [sh, -c, 'echo app >> /shared/start; while [ ! -f /shared/app-done ]; do sleep 0.1; done; echo app-exit >> /shared/order']
    volumeMounts: [{name: shared, mountPath: /shared}]
`, shared))

	a.waitPod("side", "s1 running", time.Minute, func(p *v1.Pod) bool { return cstatus(p, "s1").State.Running != nil })
	// Its startup probe fails every second: the next init container waits.
	time.Sleep(3 * time.Second)
	p := a.waitPod("side", "Init:0/3", time.Second, statusIs("Init:0/3"))
	if st := cstatus(p, "init"); st.ContainerID != "" || (st.Started != nil && *st.Started) {
		t.Fatalf("init started before s1's startup probe passed: %+v", st)
	}
	touch("s1-started", "")
	p = a.waitPod("side", "app running", time.Minute, func(p *v1.Pod) bool {
		return cstatus(p, "app").State.Running != nil && strings.Contains(readFile(t, filepath.Join(shared, "start")), "app")
	})
	if got := readFile(t, filepath.Join(shared, "start")); got != "s1\ninit\ns2\napp\n" {
		t.Fatalf("start order %q", got)
	}
	if isReady(p) {
		t.Fatal("pod Ready while sidecar s2 is not")
	}
	p = a.waitPod("side", "not ready because of s2", 30*time.Second, func(p *v1.Pod) bool {
		for _, c := range p.Status.Conditions {
			if c.Type == v1.PodReady {
				return c.Message == "containers with unready status: [s2]"
			}
		}
		return false
	})
	touch("s2-ready", "")
	a.waitPod("side", "Ready", 30*time.Second, isReady)

	// s2 exits 1, then 0: restarted both times, the app left alone.
	for i, code := range []string{"1", "0"} {
		touch("s2-exit", code)
		p = a.waitPod("side", "s2 restarted", time.Minute, func(p *v1.Pod) bool {
			st := cstatus(p, "s2")
			return st.RestartCount == int32(i+1) && st.State.Running != nil
		})
		if lt := cstatus(p, "s2").LastTerminationState.Terminated; lt == nil || fmt.Sprint(lt.ExitCode) != code {
			t.Fatalf("s2 last state %+v, want exit %s", cstatus(p, "s2").LastTerminationState, code)
		}
		if st := cstatus(p, "app"); st.RestartCount != 0 || st.State.Running == nil || p.Status.Phase != v1.PodRunning {
			t.Fatalf("app disturbed by a sidecar restart: phase %s, %+v", p.Status.Phase, st)
		}
	}

	// The app finishes: the pod completes, sidecars stopped last first.
	touch("app-done", "")
	p = a.waitPod("side", "Succeeded", time.Minute, func(p *v1.Pod) bool { return p.Status.Phase == v1.PodSucceeded })
	for _, n := range []string{"s1", "s2", "app"} {
		if cstatus(p, n).State.Terminated == nil {
			t.Errorf("%s not terminated in a completed pod: %+v", n, cstatus(p, n).State)
		}
	}
	if got := readFile(t, filepath.Join(shared, "order")); got != "app-exit\ns2-term\ns1-term\n" {
		t.Errorf("stop order %q, want the app, then s2, then s1", got)
	}
	if got := readFile(t, filepath.Join(shared, "start")); strings.Count(got, "s1") != 1 || strings.Count(got, "s2") != 3 {
		t.Errorf("starts %q: sidecars restarted after the pod completed", got)
	}
}

// Deleting a pod with sidecars: Ready turns False at once; the app stops
// first, then the sidecars in reverse order, each after its preStop hook;
// a sidecar that ignores SIGTERM is killed at the end of the grace period.
func TestSidecarsStopLastOnDeletion(t *testing.T) {
	env := testenv.New(t)
	a := startAgent(t, testConfig(t, env))
	shared := t.TempDir()
	a.write("del.yaml", fmt.Sprintf(`apiVersion: v1
kind: Pod
metadata: {name: del}
spec:
  terminationGracePeriodSeconds: 8
  volumes: [{name: shared, hostPath: {path: %s}}]
  initContainers:
  - name: s1
    image: busybox
    restartPolicy: Always
    command: [sh, -c, 'trap "echo s1-term >> /shared/order" TERM; while true; do sleep 0.1; done']
    volumeMounts: [{name: shared, mountPath: /shared}]
  - name: s2
    image: busybox
    restartPolicy: Always
    command: [sh, -c, 'trap "echo s2-term >> /shared/order; exit 0" TERM; while true; do sleep 0.1; done']
    volumeMounts: [{name: shared, mountPath: /shared}]
    lifecycle: {preStop: {exec: {command: [sh, -c, 'echo s2-prestop >> /shared/order']}}}
  containers:
  - name: app
    image: busybox
    command: [sh, -c, 'trap "sleep 1; echo app-term >> /shared/order; exit 0" TERM; while true; do sleep 0.1; done']
    volumeMounts: [{name: shared, mountPath: /shared}]
`, shared))
	a.waitPod("del", "Ready", time.Minute, isReady)
	a.remove("del.yaml")
	p := a.waitPod("del", "Terminating and not Ready", 10*time.Second, func(p *v1.Pod) bool {
		return statusIs("Terminating")(p) && !isReady(p)
	})
	for _, st := range append(p.Status.InitContainerStatuses, p.Status.ContainerStatuses...) {
		if st.Ready {
			t.Errorf("%s still ready while the pod terminates", st.Name)
		}
	}
	a.waitGone("del", time.Minute)
	order := readFile(t, filepath.Join(shared, "order"))
	lines := strings.Split(strings.TrimSpace(order), "\n")
	idx := func(s string) int {
		for i, l := range lines {
			if l == s {
				return i
			}
		}
		return -1
	}
	if len(lines) != 4 || idx("s2-prestop") < 0 || idx("app-term") > idx("s2-term") || idx("s2-prestop") > idx("s2-term") || idx("s2-term") > idx("s1-term") {
		t.Errorf("stop order %q: want s2's preStop, the app, then s2, then s1", order)
	}
	if !hasEvent(a.events("del"), "Killing", "Stopping container s1") {
		t.Error("no Killing event for s1")
	}
	env.AssertPodGone(t, p)
}

// A regular init container that fails after a sidecar started follows the
// pod's restartPolicy, as the kubelet's init container actions do: with
// Never the pod fails, its sidecar stopped and its app container never
// started; with Always the init container is restarted with back-off
// (Init:CrashLoopBackOff) while the sidecar keeps running untouched.
func TestSidecarThenFailingInit(t *testing.T) {
	env := testenv.New(t)
	a := startAgent(t, testConfig(t, env))
	manifest := func(name, policy string) string {
		return fmt.Sprintf(`apiVersion: v1
kind: Pod
metadata: {name: %s}
spec:
  restartPolicy: %s
  terminationGracePeriodSeconds: 2
  initContainers:
  - name: side
    image: busybox
    restartPolicy: Always
    command: [sh, -c, 'trap "exit 0" TERM; while true; do sleep 0.1; done']
  - name: fail
    image: busybox
    command: [sh, -c, 'exit 3']
  containers:
  - {name: app, image: busybox, command: [sleep, '3600']}
`, name, policy)
	}
	a.write("never.yaml", manifest("never", "Never"))
	a.write("always.yaml", manifest("always", "Always"))

	p := a.waitPod("never", "Failed with its sidecar stopped", 2*time.Minute, func(p *v1.Pod) bool {
		return p.Status.Phase == v1.PodFailed && len(p.Status.InitContainerStatuses) == 2 &&
			p.Status.InitContainerStatuses[0].State.Terminated != nil
	})
	fail := p.Status.InitContainerStatuses[1]
	if st := fail.State.Terminated; fail.Name != "fail" || st == nil || st.ExitCode != 3 || st.Reason != "Error" || fail.RestartCount != 0 {
		t.Errorf("never: fail %+v, want terminated Error with exit code 3, not restarted", fail)
	}
	if side := p.Status.InitContainerStatuses[0]; side.RestartCount != 0 {
		t.Errorf("never: sidecar restarted %d times", side.RestartCount)
	}
	if st := cstatus(p, "app").State; st.Waiting == nil || st.Waiting.Reason != "PodInitializing" {
		t.Errorf("never: app %+v, want waiting PodInitializing", st)
	}

	p = a.waitPod("always", "the failing init container restarted twice", 2*time.Minute, func(p *v1.Pod) bool {
		return len(p.Status.InitContainerStatuses) == 2 && p.Status.InitContainerStatuses[1].RestartCount >= 2
	})
	if side := p.Status.InitContainerStatuses[0]; side.State.Running == nil || side.RestartCount != 0 {
		t.Errorf("always: sidecar %+v, want running, never restarted", side)
	}
	if st := cstatus(p, "app").State; st.Waiting == nil || st.Waiting.Reason != "PodInitializing" {
		t.Errorf("always: app %+v, want waiting PodInitializing", st)
	}
	testenv.WaitFor(t, "always: a BackOff event for the failing init container", func() (bool, string) {
		evs := a.events("always")
		return hasEvent(evs, "BackOff", "Back-off restarting failed container fail"), fmt.Sprint(evs)
	})
	for _, name := range []string{"never", "always"} {
		a.remove(name + ".yaml")
		a.waitGone(name, time.Minute)
	}
}

// A sidecar that keeps exiting is restarted with the same back-off as any
// container: it waits in CrashLoopBackOff with a BackOff event, while the
// app container runs on.
func TestSidecarCrashLoopBackOff(t *testing.T) {
	env := testenv.New(t)
	a := startAgent(t, testConfig(t, env))
	a.write("crashy.yaml", `apiVersion: v1
kind: Pod
metadata: {name: crashy}
spec:
  terminationGracePeriodSeconds: 2
  initContainers:
  - name: side
    image: busybox
    restartPolicy: Always
    command: [sh, -c, 'sleep 1; exit 1']
  containers:
  - {name: app, image: busybox, command: [sleep, '3600']}
`)
	p := a.waitPod("crashy", "the sidecar in CrashLoopBackOff", 2*time.Minute, func(p *v1.Pod) bool {
		if len(p.Status.InitContainerStatuses) != 1 {
			return false
		}
		w := p.Status.InitContainerStatuses[0].State.Waiting
		return w != nil && w.Reason == "CrashLoopBackOff"
	})
	if side := p.Status.InitContainerStatuses[0]; side.RestartCount < 1 || !strings.Contains(side.State.Waiting.Message, "back-off") {
		t.Errorf("sidecar %+v, want restarted and waiting in back-off", side)
	}
	if st := cstatus(p, "app"); st.State.Running == nil || st.RestartCount != 0 {
		t.Errorf("app %+v, want running, never restarted", st)
	}
	if !hasEvent(a.events("crashy"), "BackOff", "Back-off restarting failed container side") {
		t.Errorf("no BackOff event:\n%s", a.describe("crashy"))
	}
	a.remove("crashy.yaml")
	a.waitGone("crashy", time.Minute)
}
