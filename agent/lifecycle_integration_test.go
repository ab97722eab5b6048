//go:build integration

package agent

import (
	"bytes"
	"context"
	"strings"
	"testing"
	"time"

	v1 "k8s.io/api/core/v1"

	"github.com/minikubelet/minikubelet/api"
	"github.com/minikubelet/minikubelet/internal/testenv"
	"github.com/minikubelet/minikubelet/printers"
)

func pod(name, policy, containers string) string {
	return "apiVersion: v1\nkind: Pod\nmetadata:\n  name: " + name + "\nspec:\n  restartPolicy: " + policy +
		"\n  terminationGracePeriodSeconds: 2\n  containers:\n" + containers
}

func TestBadManifestsLeaveOthersRunning(t *testing.T) {
	env := testenv.New(t)
	a := startAgent(t, testConfig(t, env))
	a.write("good.yaml", pod("good", "Always", "  - {name: c, image: busybox, command: [sleep, '3600']}\n"))
	a.write("broken.yaml", "apiVersion: v1\nkind: Pod\nmetadata: [oops\n")
	a.write("badfield.yaml", pod("badfield", "Always", "  - {name: c, image: ''}\n"))
	a.write("zz-dup.yaml", pod("good", "Always", "  - {name: c, image: busybox}\n"))
	a.write("mixed.yaml", "apiVersion: v1\nkind: Service\nmetadata: {name: svc}\nspec: {ports: [{port: 80}]}\n---\n"+
		pod("mixed", "Always", "  - {name: c, image: busybox, command: [sleep, '3600']}\n"))

	a.waitPod("good", "Running", time.Minute, statusIs("Running"))
	a.waitPod("mixed", "Running", time.Minute, statusIs("Running"))
	if _, err := a.client.GetPod(context.Background(), "default", "badfield"); err == nil {
		t.Error("an invalid pod was run")
	}

	var evs []v1.Event
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		list, err := a.client.ListEvents(context.Background(), "", "")
		if err != nil {
			t.Fatal(err)
		}
		evs = list.Items
		if hasEvent(evs, "FailedValidation", "badfield.yaml: spec.containers[0].image: Required value") &&
			hasEvent(evs, "FailedValidation", "broken.yaml") && hasEvent(evs, "FailedValidation", "zz-dup.yaml") {
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	for _, want := range []string{"badfield.yaml: spec.containers[0].image: Required value", "broken.yaml", "zz-dup.yaml"} {
		if !hasEvent(evs, "FailedValidation", want) {
			t.Errorf("no FailedValidation event containing %q; events: %+v", want, evs)
		}
	}

	// Mending the file runs the pod; the others are untouched.
	good := a.waitPod("good", "Running", time.Second, statusIs("Running"))
	a.write("badfield.yaml", pod("badfield", "Always", "  - {name: c, image: busybox, command: [sleep, '3600']}\n"))
	a.waitPod("badfield", "Running", time.Minute, statusIs("Running"))
	again := a.waitPod("good", "Running", time.Second, statusIs("Running"))
	if cstatus(again, "c").ContainerID != cstatus(good, "c").ContainerID {
		t.Error("a fix to another file restarted a healthy pod")
	}
}

func TestRestartPolicies(t *testing.T) {
	env := testenv.New(t)
	cfg := testConfig(t, env)
	cfg.CrashLoopBackOff.MaxContainerRestartPeriod = &Duration{time.Second}
	a := startAgent(t, cfg)
	a.write("never.yaml", pod("never", "Never", "  - {name: c, image: busybox, command: [sh, -c, 'exit 3']}\n"))
	a.write("onfailure.yaml", pod("onfailure", "OnFailure", "  - {name: c, image: busybox, command: [sh, -c, 'exit 0']}\n"))
	a.write("always.yaml", pod("always", "Always", "  - {name: c, image: busybox, command: [sh, -c, 'echo boom; exit 1']}\n"))

	p := a.waitPod("never", "Error", time.Minute, statusIs("Error"))
	if p.Status.Phase != v1.PodFailed || cstatus(p, "c").State.Terminated.ExitCode != 3 || cstatus(p, "c").RestartCount != 0 {
		t.Errorf("never: phase %s status %+v", p.Status.Phase, cstatus(p, "c"))
	}
	p = a.waitPod("onfailure", "Completed", time.Minute, statusIs("Completed"))
	if p.Status.Phase != v1.PodSucceeded {
		t.Errorf("onfailure: phase %s", p.Status.Phase)
	}
	p = a.waitPod("always", "CrashLoopBackOff with restarts", time.Minute, func(p *v1.Pod) bool {
		return printers.PodStatus(p) == "CrashLoopBackOff" && cstatus(p, "c").RestartCount >= 2
	})
	st := cstatus(p, "c")
	if p.Status.Phase != v1.PodRunning || st.LastTerminationState.Terminated == nil || st.LastTerminationState.Terminated.ExitCode != 1 ||
		!strings.Contains(st.State.Waiting.Message, "back-off 1s restarting failed container=c pod=always_default") {
		t.Errorf("always: phase %s status %+v", p.Status.Phase, st)
	}
	if !hasEvent(a.events("always"), "BackOff", "Back-off restarting failed container c in pod always_default") {
		t.Error("no BackOff event")
	}
	// --previous shows the last instance's output.
	var out bytes.Buffer
	if err := a.client.Logs(context.Background(), "default", "always", api.LogOptions{Previous: true}, &out); err != nil || out.String() != "boom\n" {
		t.Errorf("previous logs %q, %v", out.String(), err)
	}
}

// Data in an emptyDir outlives a crash of the container that wrote it.
func TestEmptyDirSurvivesCrash(t *testing.T) {
	env := testenv.New(t)
	a := startAgent(t, testConfig(t, env))
	a.write("ed.yaml", `apiVersion: v1
kind: Pod
metadata: {name: ed}
spec:
  volumes: [{name: scratch, emptyDir: {}}]
  containers:
  - name: writer
    image: busybox
    workingDir: /data
    env: [{name: GREETING, value: hello}, {name: MSG, value: "$(GREETING) world"}]
    command: [sh, -c]
    args: ['echo x >> runs; echo "$MSG $(wc -l < runs)"; if [ "$(wc -l < runs)" -lt 2 ]; then exit 1; fi; sleep 3600']
    volumeMounts: [{name: scratch, mountPath: /data}]
`)
	a.waitPod("ed", "running after one crash", time.Minute, func(p *v1.Pod) bool {
		st := cstatus(p, "writer")
		return st.State.Running != nil && st.RestartCount == 1
	})
	if got := a.waitLogs("ed", api.LogOptions{}); got != "hello world 2\n" {
		t.Errorf("second run saw %q, want the first run's line kept in the emptyDir", got)
	}
}

// Removing the manifest terminates the pod: SIGTERM first, SIGKILL after the
// grace period for a container that ignores it, then full cleanup.
func TestTerminationOnRemoval(t *testing.T) {
	env := testenv.New(t)
	a := startAgent(t, testConfig(t, env))
	a.write("term.yaml", pod("term", "Always",
		"  - {name: polite, image: busybox, command: [sh, -c, 'trap \"echo got TERM; exit 0\" TERM; while true; do sleep 0.1; done']}\n"+
			"  - {name: stubborn, image: busybox, command: [sh, -c, 'trap \"\" TERM; while true; do sleep 0.1; done']}\n"))
	p := a.waitPod("term", "Running", time.Minute, statusIs("Running"))
	start := time.Now()
	a.remove("term.yaml")
	a.waitPod("term", "Terminating", 10*time.Second, statusIs("Terminating"))
	a.waitGone("term", time.Minute)
	if d := time.Since(start); d < 2*time.Second {
		t.Errorf("pod gone after %v: the stubborn container was not given its grace period", d)
	}
	env.AssertPodGone(t, p)
}

func TestChangedManifestReplacesPod(t *testing.T) {
	env := testenv.New(t)
	a := startAgent(t, testConfig(t, env))
	a.write("p.yaml", pod("p", "Always", "  - {name: c, image: busybox, command: [sleep, '3600']}\n"))
	old := a.waitPod("p", "Running", time.Minute, statusIs("Running"))
	a.write("p.yaml", pod("p", "Always", "  - {name: c, image: busybox, command: [sleep, '3601']}\n"))
	p := a.waitPod("p", "new UID running", time.Minute, func(p *v1.Pod) bool { return p.UID != old.UID && statusIs("Running")(p) })
	if cstatus(p, "c").RestartCount != 0 {
		t.Errorf("a new pod starts with restartCount 0, got %d", cstatus(p, "c").RestartCount)
	}
	list, err := a.client.ListPods(context.Background(), "default", api.ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	for _, q := range list.Items {
		if q.UID == old.UID {
			t.Errorf("old pod still listed: %s", printers.PodStatus(&q))
		}
	}
}

func TestExecAndImagePolicy(t *testing.T) {
	env := testenv.New(t)
	a := startAgent(t, testConfig(t, env))
	a.write("x.yaml", pod("x", "Always", "  - {name: c, image: busybox, command: [sleep, '3600']}\n"+
		"  - {name: missing, image: 'example.invalid/nothing:1', imagePullPolicy: Never}\n"))
	a.waitPod("x", "ErrImageNeverPull", time.Minute, statusIs("ErrImageNeverPull"))
	a.waitPod("x", "c running", time.Minute, func(p *v1.Pod) bool { return cstatus(p, "c").State.Running != nil })
	if !hasEvent(a.events("x"), "ErrImageNeverPull", `Container image "example.invalid/nothing:1" is not present with pull policy of Never`) {
		t.Error("no ErrImageNeverPull event")
	}
	var out bytes.Buffer
	code, err := a.client.Exec(context.Background(), "default", "x", api.ExecOptions{Container: "c",
		Command: []string{"sh", "-c", "hostname; echo err >&2; exit 7"}, Stdout: &out, Stderr: &out})
	if err != nil || code != 7 || !strings.Contains(out.String(), "x\n") || !strings.Contains(out.String(), "err") {
		t.Errorf("exec: code %d err %v out %q", code, err, out.String())
	}
}
