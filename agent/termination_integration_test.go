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
	"github.com/minikubelet/minikubelet/printers"
)

// activeDeadlineSeconds fails the pod as a whole (upstream's e2e "should
// fail pod with active deadline"): phase Failed, reason DeadlineExceeded
// with the kubelet's message, its container killed and not restarted.
func TestActiveDeadlineFailsPod(t *testing.T) {
	env := testenv.New(t)
	a := startAgent(t, testConfig(t, env))
	a.write("dl.yaml", `apiVersion: v1
kind: Pod
metadata: {name: dl}
spec:
  activeDeadlineSeconds: 3
  terminationGracePeriodSeconds: 2
  containers:
  - {name: c, image: busybox, command: [sleep, '3600']}
`)
	a.waitPod("dl", "Running", time.Minute, statusIs("Running"))
	p := a.waitPod("dl", "Failed", time.Minute, func(p *v1.Pod) bool {
		return p.Status.Phase == v1.PodFailed && cstatus(p, "c").State.Terminated != nil
	})
	if p.Status.Reason != "DeadlineExceeded" || p.Status.Message != "Pod was active on the node longer than the specified deadline" {
		t.Errorf("reason %q message %q", p.Status.Reason, p.Status.Message)
	}
	if isReady(p) {
		t.Error("a failed pod is Ready")
	}
	if !hasEvent(a.events("dl"), "DeadlineExceeded", "Pod was active on the node longer than the specified deadline") ||
		!hasEvent(a.events("dl"), "Killing", "Stopping container c") {
		t.Errorf("events %+v", a.events("dl"))
	}
	time.Sleep(3 * time.Second)
	p = a.waitPod("dl", "still Failed", time.Second, func(p *v1.Pod) bool { return p.Status.Phase == v1.PodFailed })
	if st := cstatus(p, "c"); st.RestartCount != 0 || st.State.Terminated == nil || st.State.Terminated.ExitCode != 137 {
		t.Errorf("container restarted or not killed: %+v", st)
	}
	// A real cluster shows the killed container's reason, not
	// DeadlineExceeded: printPod lets a terminated container's reason
	// replace status.reason (pkg/printers/internalversion/printers.go).
	if s := printers.PodStatus(p); s != "Error" {
		t.Errorf("get pods STATUS %q, want Error as upstream's printPod gives", s)
	}
}

// A delete request's grace period (delete --grace-period) replaces the
// pod's: a container ignoring SIGTERM in a pod allowing it ten minutes is
// killed after the two seconds the request gave.
func TestDeleteGracePeriod(t *testing.T) {
	env := testenv.New(t)
	a := startAgent(t, testConfig(t, env))
	a.write("slow.yaml", `apiVersion: v1
kind: Pod
metadata: {name: slow}
spec:
  terminationGracePeriodSeconds: 600
  containers:
  - {name: c, image: busybox, command: [sh, -c, 'trap "" TERM; while true; do sleep 0.1; done']}
`)
	p := a.waitPod("slow", "Running", time.Minute, statusIs("Running"))
	if _, err := a.client.DeleteObjectWithGrace(context.Background(), "v1", "Pod", "default", "slow", 2); err != nil {
		t.Fatal(err)
	}
	d := a.waitPod("slow", "Terminating", 30*time.Second, statusIs("Terminating"))
	if g := d.DeletionGracePeriodSeconds; g == nil || *g != 2 {
		t.Errorf("deletionGracePeriodSeconds %v, want the request's 2", g)
	}
	// Deleting a terminating pod again is no error (its grace period may
	// only shrink).
	if _, err := a.client.DeleteObjectWithGrace(context.Background(), "v1", "Pod", "default", "slow", 1); err != nil {
		t.Errorf("second delete: %v", err)
	}
	a.waitGone("slow", 90*time.Second)
	env.AssertPodGone(t, p)
}

// A second delete with a shorter grace period cuts the stop in progress, as
// the API server and the kubelet do: a container that ignores SIGTERM in a
// pod allowing it ten minutes, deleted with that period, is killed after
// the 2 s a later `kubectl delete --grace-period=2` gives.
func TestDeleteShorterGraceCutsStop(t *testing.T) {
	env, a, k := startWithKubectl(t)
	a.write("slow.yaml", `apiVersion: v1
kind: Pod
metadata: {name: slow}
spec:
  terminationGracePeriodSeconds: 600
  containers:
  - {name: c, image: busybox, command: [sh, -c, 'trap "" TERM; while true; do sleep 0.1; done']}
`)
	p := a.waitPod("slow", "Running", time.Minute, statusIs("Running"))
	k.ok("delete", "pod", "slow", "--wait=false")
	d := a.waitPod("slow", "Terminating", 30*time.Second, statusIs("Terminating"))
	if g := d.DeletionGracePeriodSeconds; g == nil || *g != 600 {
		t.Errorf("deletionGracePeriodSeconds %s, want the pod's 600", ptrString(g))
	}
	// The stop has begun: the container got its SIGTERM and is waited for.
	testenv.WaitFor(t, "the Killing event", func() (bool, string) {
		evs := a.events("slow")
		return hasEvent(evs, "Killing", "Stopping container c"), fmt.Sprint(evs)
	})
	if out := k.ok("delete", "pod", "slow", "--grace-period=2", "--wait=false"); !isDeleted(out, `pod "slow"`) {
		t.Errorf("second delete: %q", out)
	}
	a.waitPod("slow", "the shorter grace period", 30*time.Second, func(p *v1.Pod) bool {
		return p.DeletionGracePeriodSeconds != nil && *p.DeletionGracePeriodSeconds == 2
	})
	a.waitGone("slow", 90*time.Second)
	env.AssertPodGone(t, p)
}

// A postStart hook that never returns does not hold the pod: deleting it
// interrupts the hook and stops the container within its grace period.
func TestHungPostStartDoesNotBlockDeletion(t *testing.T) {
	env := testenv.New(t)
	a := startAgent(t, testConfig(t, env))
	a.write("hung.yaml", `apiVersion: v1
kind: Pod
metadata: {name: hung}
spec:
  terminationGracePeriodSeconds: 2
  containers:
  - name: c
    image: busybox
    command: [sleep, '3600']
    lifecycle:
      postStart:
        exec: {command: [sleep, '3600']}
`)
	testenv.WaitFor(t, "the container started, its hook running", func() (bool, string) {
		evs := a.events("hung")
		return hasEvent(evs, "Started", "Started container c"), fmt.Sprint(evs)
	})
	p := a.waitPod("hung", "not Running while its postStart runs", time.Second, func(p *v1.Pod) bool {
		return p.Status.Phase == v1.PodPending && !isReady(p)
	})
	a.remove("hung.yaml")
	a.waitGone("hung", 90*time.Second)
	env.AssertPodGone(t, p)
}

// A container's readiness ends with it: once it exits, it is no longer
// ready (nor the pod), though its readiness probe last succeeded.
func TestReadinessEndsWhenContainerStops(t *testing.T) {
	env := testenv.New(t)
	a := startAgent(t, testConfig(t, env))
	a.write("rd.yaml", `apiVersion: v1
kind: Pod
metadata: {name: rd}
spec:
  # Never: under Always the first restart is immediate, and the new
  # instance could be running, and ready, before the stopped one was seen.
  restartPolicy: Never
  terminationGracePeriodSeconds: 1
  containers:
  - name: c
    image: busybox
    command: [sh, -c, 'until [ -e /tmp/stop ]; do sleep 0.2; done; exit 1']
    readinessProbe:
      exec: {command: ['true']}
      periodSeconds: 1
`)
	a.waitPod("rd", "Ready", time.Minute, isReady)
	var out bytes.Buffer
	if code, err := a.client.Exec(context.Background(), "default", "rd", api.ExecOptions{Container: "c", Command: []string{"touch", "/tmp/stop"}, Stdout: &out, Stderr: &out}); err != nil || code != 0 {
		t.Fatalf("exec: exit %d, %v: %s", code, err, out.String())
	}
	p := a.waitPod("rd", "the container stopped", time.Minute, func(p *v1.Pod) bool {
		return cstatus(p, "c").State.Running == nil
	})
	if cs := cstatus(p, "c"); cs.Ready || isReady(p) {
		t.Errorf("stopped container ready %v, pod ready %v", cs.Ready, isReady(p))
	}
	a.remove("rd.yaml")
	a.waitGone("rd", time.Minute)
	env.AssertPodGone(t, p)
}
