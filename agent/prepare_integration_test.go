//go:build integration

package agent

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/containerd/containerd/namespaces"
	v1 "k8s.io/api/core/v1"

	"github.com/minikubelet/minikubelet/api"
	"github.com/minikubelet/minikubelet/internal/testenv"
	"github.com/minikubelet/minikubelet/runtime"
)

// preparedInits lists the containers of the test's namespace that were
// prepared ahead and never started, as "<container name> <id>".
func preparedInits(t *testing.T, env *testenv.Env) []string {
	t.Helper()
	ctx := namespaces.WithNamespace(context.Background(), env.Namespace)
	cs, err := env.Client.ContainerService().List(ctx, fmt.Sprintf("labels.%q", runtime.LabelPrepared))
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, c := range cs {
		if c.Labels[runtime.LabelStartedAt] == "" && c.Labels[runtime.LabelExitCode] == "" {
			out = append(out, c.Labels[runtime.LabelContainerName]+" "+c.ID)
		}
	}
	return out
}

// waitPrepared waits until exactly one container is prepared, for name,
// and returns its ID.
func waitPrepared(t *testing.T, env *testenv.Env, name string) string {
	t.Helper()
	var got []string
	testenv.WaitFor(t, name+" prepared", func() (bool, string) {
		got = preparedInits(t, env)
		return len(got) == 1 && strings.HasPrefix(got[0], name+" "), fmt.Sprint(got)
	})
	return strings.TrimPrefix(got[0], name+" ")
}

func createdEvents(a *testAgent, pod, container string) int32 {
	n := int32(0)
	for _, e := range a.events(pod) {
		if e.Reason == "Created" && e.Message == "Created container: "+container {
			n += max(e.Count, 1)
		}
	}
	return n
}

// gatedInitPod is a pod whose first init container waits for a file in a
// hostPath dir, then runs script; the second prints and exits 0.
func gatedInitPod(name, policy, gate, script string) string {
	return fmt.Sprintf(`apiVersion: v1
kind: Pod
metadata:
  name: %s
spec:
  restartPolicy: %s
  terminationGracePeriodSeconds: 1
  volumes:
  - name: gate
    hostPath: {path: %s}
  initContainers:
  - name: first
    image: busybox
    command: [sh, -c, 'until [ -f /gate/go ]; do sleep 0.1; done; %s']
    volumeMounts: [{name: gate, mountPath: /gate}]
  - name: second
    image: busybox
    command: [sh, -c, 'echo second ran']
  containers:
  - name: app
    image: busybox
    command: [sleep, '3600']
`, name, policy, gate, script)
}

// The next init container is created while the one before it runs, is
// shown as waiting meanwhile (PodInitializing, no ID, no restart), is
// prepared again after an agent restart (the earlier agent's removed), and
// is the container that then runs, with one Created event.
func TestInitContainerPreparedAhead(t *testing.T) {
	env := testenv.New(t)
	cfg := testConfig(t, env)
	a := startAgent(t, cfg)
	gate := t.TempDir()
	a.write("prep.yaml", gatedInitPod("prep", "Always", gate, "exit 0"))

	p := a.waitPod("prep", "first running", time.Minute, func(p *v1.Pod) bool { return cstatus(p, "first").State.Running != nil })
	firstID := cstatus(p, "first").ContainerID
	before := waitPrepared(t, env, "second")
	p = a.waitPod("prep", "status read after the preparation", 10*time.Second, statusIs("Init:0/2"))
	if s := cstatus(p, "second"); s.ContainerID != "" || s.RestartCount != 0 || s.State.Waiting == nil || s.State.Waiting.Reason != "PodInitializing" {
		t.Fatalf("a prepared init container must show as not created: %+v", s)
	}
	if n := createdEvents(a, "prep", "second"); n != 0 {
		t.Fatalf("%d Created events for the prepared container", n)
	}

	// Agent restart: the first init container is adopted, the second
	// prepared again by the new agent.
	a.stop()
	if got := preparedInits(t, env); len(got) != 1 {
		t.Fatalf("after the agent stopped: prepared %v", got)
	}
	a = startAgent(t, cfg)
	p = a.waitPod("prep", "first adopted", time.Minute, func(p *v1.Pod) bool { return cstatus(p, "first").State.Running != nil })
	if s := cstatus(p, "first"); s.ContainerID != firstID || s.RestartCount != 0 {
		t.Fatalf("first not adopted as it was: %+v", s)
	}
	var after string
	testenv.WaitFor(t, "the earlier agent's prepared container replaced", func() (bool, string) {
		got := preparedInits(t, env)
		if len(got) == 1 && strings.HasPrefix(got[0], "second ") && !strings.HasSuffix(got[0], before) {
			after = strings.TrimPrefix(got[0], "second ")
			return true, ""
		}
		return false, fmt.Sprint(got)
	})
	if s := cstatus(a.waitPod("prep", "read", 10*time.Second, statusIs("Init:0/2")), "second"); s.ContainerID != "" || s.RestartCount != 0 {
		t.Fatalf("after the restart: %+v", s)
	}

	// The gap path: first exits 0, the prepared second runs.
	if err := os.WriteFile(filepath.Join(gate, "go"), nil, 0o644); err != nil {
		t.Fatal(err)
	}
	p = a.waitPod("prep", "Running", time.Minute, statusIs("Running"))
	s := cstatus(p, "second")
	if s.ContainerID != "containerd://"+after || s.RestartCount != 0 || s.State.Terminated == nil || s.State.Terminated.ExitCode != 0 {
		t.Fatalf("second: want the prepared %s completed with no restart, got %+v", after, s)
	}
	if got := a.waitLogs("prep", api.LogOptions{Container: "second"}); got != "second ran\n" {
		t.Errorf("second's log %q", got)
	}
	if n := createdEvents(a, "prep", "second"); n != 1 {
		t.Errorf("%d Created events for second, want 1", n)
	}
	if got := preparedInits(t, env); len(got) != 0 {
		t.Errorf("prepared containers left: %v", got)
	}
	a.remove("prep.yaml")
	a.waitGone("prep", time.Minute)
	env.AssertPodGone(t, p, after, before)
}

// A failing first init container: under Always and OnFailure it runs again
// and the second, prepared, runs once with no restart counted; under
// Never the pod fails and nothing prepared is left. A pod deleted while
// its first init container runs leaves nothing behind.
func TestPreparedInitOnFailureAndDelete(t *testing.T) {
	env := testenv.New(t)
	a := startAgent(t, testConfig(t, env))
	// Fails the first time, succeeds the next.
	once := `if [ -f /gate/failed ]; then exit 0; fi; touch /gate/failed; exit 1`
	for _, policy := range []string{"Always", "OnFailure", "Never"} {
		t.Run(policy, func(t *testing.T) {
			gate := t.TempDir()
			name := "fail-" + strings.ToLower(policy)
			a.write(name+".yaml", gatedInitPod(name, policy, gate, once))
			a.waitPod(name, "first running", time.Minute, func(p *v1.Pod) bool { return cstatus(p, "first").State.Running != nil })
			prepared := waitPrepared(t, env, "second")
			if err := os.WriteFile(filepath.Join(gate, "go"), nil, 0o644); err != nil {
				t.Fatal(err)
			}
			var p *v1.Pod
			if policy == "Never" {
				p = a.waitPod(name, "Failed", time.Minute, func(p *v1.Pod) bool { return p.Status.Phase == v1.PodFailed })
				testenv.WaitFor(t, "the prepared container removed", func() (bool, string) {
					got := preparedInits(t, env)
					return len(got) == 0, fmt.Sprint(got)
				})
				if s := cstatus(p, "second"); s.ContainerID != "" || s.RestartCount != 0 {
					t.Errorf("second under Never: %+v", s)
				}
			} else {
				p = a.waitPod(name, "Running", time.Minute, statusIs("Running"))
				if s := cstatus(p, "first"); s.RestartCount != 1 {
					t.Errorf("first: restart count %d, want 1", s.RestartCount)
				}
				s := cstatus(p, "second")
				if s.ContainerID != "containerd://"+prepared || s.RestartCount != 0 || s.State.Terminated == nil || s.State.Terminated.ExitCode != 0 {
					t.Errorf("second: want the prepared %s completed with no restart, got %+v", prepared, s)
				}
				if n := createdEvents(a, name, "second"); n != 1 {
					t.Errorf("%d Created events for second, want 1", n)
				}
				if got := preparedInits(t, env); len(got) != 0 {
					t.Errorf("prepared containers left: %v", got)
				}
			}
			a.remove(name + ".yaml")
			a.waitGone(name, time.Minute)
			env.AssertPodGone(t, p, prepared)
		})
	}
	t.Run("deleted", func(t *testing.T) {
		a.write("deleted.yaml", gatedInitPod("deleted", "Always", t.TempDir(), "exit 0"))
		p := a.waitPod("deleted", "first running", time.Minute, func(p *v1.Pod) bool { return cstatus(p, "first").State.Running != nil })
		prepared := waitPrepared(t, env, "second")
		a.remove("deleted.yaml")
		a.waitGone("deleted", time.Minute)
		env.AssertPodGone(t, p, prepared)
	})
}
