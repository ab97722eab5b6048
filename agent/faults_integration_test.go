//go:build integration

package agent

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	v1 "k8s.io/api/core/v1"
	"sigs.k8s.io/yaml"

	"github.com/minikubelet/minikubelet/api"
	"github.com/minikubelet/minikubelet/internal/testenv"
)

// agentBinary builds cmd/minikubelet, so that an agent can be killed with
// SIGKILL like a real one.
func agentBinary(t *testing.T) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "minikubelet")
	build := exec.Command("go", "build", "-o", bin, "./cmd/minikubelet")
	build.Dir = ".."
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("build: %v\n%s", err, out)
	}
	return bin
}

// configFile writes cfg where the agent binary reads it.
func configFile(t *testing.T, cfg Config) string {
	t.Helper()
	data, err := yaml.Marshal(cfg)
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "config.yaml")
	if err := os.WriteFile(path, data, 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

// waitFile waits until path exists.
func waitFile(t *testing.T, path string, timeout time.Duration) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		if _, err := os.Stat(path); err == nil {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", path)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// assertNoShims fails when a shim of the test's namespace is left: every
// pod is gone, so none may run, also none containerd does not know of.
func assertNoShims(t *testing.T, env *testenv.Env) {
	t.Helper()
	testenv.WaitFor(t, "no shim of the namespace", func() (bool, string) {
		shims := env.Shims()
		return len(shims) == 0, strings.Join(shims, ", ")
	})
}

// The reproduction: the agent killed 1.5 s after 10 manifests
// appeared, then started again: every pod converges, and once they are
// deleted nothing is left, no shim either.
func TestAgentKill9WhilePodsStart(t *testing.T) {
	env := testenv.New(t)
	bin := agentBinary(t)
	cfg := testConfig(t, env)
	cfgFile := configFile(t, cfg)
	a := &testAgent{t: t, cfg: cfg, client: api.NewClient(cfg.Socket)}

	first := startAgentProcess(t, bin, cfgFile)
	waitFile(t, cfg.Socket, time.Minute)
	const n = 10
	for i := range n {
		a.write(fmt.Sprintf("p%d.yaml", i), pod(fmt.Sprintf("p%d", i), "Always",
			"  - {name: c, image: busybox, command: [sleep, '3600']}\n"))
	}
	time.Sleep(1500 * time.Millisecond)
	first.kill9()
	startAgentProcess(t, bin, cfgFile)

	var pods []*v1.Pod
	for i := range n {
		pods = append(pods, a.waitPod(fmt.Sprintf("p%d", i), "Running", 2*time.Minute, statusIs("Running")))
	}
	for i := range n {
		a.remove(fmt.Sprintf("p%d.yaml", i))
	}
	for i := range n {
		a.waitGone(fmt.Sprintf("p%d", i), 2*time.Minute)
	}
	for _, p := range pods {
		env.AssertPodGone(t, p)
	}
	assertNoShims(t, env)
}

// cniGate wraps the bridge plugin so that a CNI ADD can fail ("fail") or
// be held at a step while the agent that runs it is killed: before the
// real plugin ("before": the netns exists, nothing is configured) or after
// it ("after": veth and IP lease exist, the agent has not seen the
// result). A held plugin goes on when <dir>/release exists and gives up
// when the agent is gone.
type cniGate struct{ dir, binDir string }

func newCNIGate(t *testing.T, searchPath string) *cniGate {
	t.Helper()
	var real string
	for _, d := range filepath.SplitList(searchPath) {
		if _, err := os.Stat(filepath.Join(d, "bridge")); err == nil {
			real = filepath.Join(d, "bridge")
			break
		}
	}
	if real == "" {
		t.Fatalf("no bridge CNI plugin in %s", searchPath)
	}
	g := &cniGate{dir: t.TempDir(), binDir: t.TempDir()}
	script := fmt.Sprintf(`#!/bin/sh
dir=%q
real=%q
mode=$(cat "$dir/mode" 2>/dev/null)
if [ "$CNI_COMMAND" != ADD ] || [ -z "$mode" ]; then exec "$real" "$@"; fi
hold() {
	touch "$dir/$1"
	while [ ! -f "$dir/release" ]; do
		kill -0 $PPID 2>/dev/null || exit 1
		sleep 0.05
	done
}
if [ "$mode" = fail ]; then
	printf '{"cniVersion":"1.0.0","code":11,"msg":"injected failure: no bridge today"}'
	exit 1
fi
if [ "$mode" = before ]; then hold entered; exec "$real" "$@"; fi
out=$("$real" "$@"); rc=$?
hold added
printf '%%s' "$out"
exit $rc
`, g.dir, real)
	if err := os.WriteFile(filepath.Join(g.binDir, "bridge"), []byte(script), 0o755); err != nil {
		t.Fatal(err)
	}
	return g
}

func (g *cniGate) set(t *testing.T, mode string) {
	t.Helper()
	if err := os.WriteFile(filepath.Join(g.dir, "mode"), []byte(mode), 0o644); err != nil {
		t.Fatal(err)
	}
}

// The agent killed with -9 at each step of a pod's start, then started
// again: the pod converges without restarting a container that had
// started, a completed init container does not run again, and once the
// pod is deleted no netns, IP lease, veth, mount, container, snapshot or
// shim is left.
func TestAgentKill9AtEachStartStep(t *testing.T) {
	bin := agentBinary(t)
	for _, step := range []string{"after-netns", "after-cni-add", "after-sandbox-task", "between-init-containers"} {
		t.Run(step, func(t *testing.T) {
			env := testenv.New(t)
			cfg := testConfig(t, env)
			gate := newCNIGate(t, cfg.CNIBinDir)
			cfg.CNIBinDir = gate.binDir + ":" + cfg.CNIBinDir
			cfgFile := configFile(t, cfg)
			a := &testAgent{t: t, cfg: cfg, client: api.NewClient(cfg.Socket)}
			inits := t.TempDir()
			a.write("steps.yaml", fmt.Sprintf(`apiVersion: v1
kind: Pod
metadata: {name: steps}
spec:
  terminationGracePeriodSeconds: 2
  volumes: [{name: gate, hostPath: {path: %s}}]
  initContainers:
  - {name: one, image: busybox, command: [sh, -c, 'until [ -f /gate/one ]; do sleep 0.1; done'], volumeMounts: [{name: gate, mountPath: /gate}]}
  - {name: two, image: busybox, command: [sh, -c, 'until [ -f /gate/two ]; do sleep 0.1; done'], volumeMounts: [{name: gate, mountPath: /gate}]}
  containers:
  - {name: app, image: busybox, command: [sleep, '3600']}
`, inits))
			open := func(name string) {
				if err := os.WriteFile(filepath.Join(inits, name), nil, 0o644); err != nil {
					t.Fatal(err)
				}
			}
			initRunning := func(name string) func(*v1.Pod) bool {
				return func(p *v1.Pod) bool { return cstatus(p, name).State.Running != nil }
			}

			var before *v1.Pod
			switch step {
			case "after-netns":
				gate.set(t, "before")
			case "after-cni-add":
				gate.set(t, "after")
			}
			first := startAgentProcess(t, bin, cfgFile)
			switch step {
			case "after-netns":
				waitFile(t, filepath.Join(gate.dir, "entered"), 2*time.Minute)
			case "after-cni-add":
				waitFile(t, filepath.Join(gate.dir, "added"), 2*time.Minute)
			case "after-sandbox-task":
				before = a.waitPod("steps", "init container one running", 2*time.Minute, initRunning("one"))
			case "between-init-containers":
				a.waitPod("steps", "init container one running", 2*time.Minute, initRunning("one"))
				open("one")
				before = a.waitPod("steps", "init container two running", 2*time.Minute, initRunning("two"))
			}
			first.kill9()
			gate.set(t, "")
			startAgentProcess(t, bin, cfgFile)

			if step != "between-init-containers" {
				a.waitPod("steps", "init container one running again", 2*time.Minute, initRunning("one"))
				open("one")
			}
			a.waitPod("steps", "init container two running again", 2*time.Minute, initRunning("two"))
			open("two")
			after := a.waitPod("steps", "Running", 2*time.Minute, statusIs("Running"))
			for _, name := range []string{"one", "two", "app"} {
				if s := cstatus(after, name); s.RestartCount != 0 {
					t.Errorf("container %s restarted: %+v", name, s)
				}
			}
			if before != nil {
				// What had started is adopted, not started again.
				last := "one"
				if step == "between-init-containers" {
					last = "two"
				}
				for _, name := range []string{"one", last} {
					if b, c := cstatus(before, name), cstatus(after, name); b.ContainerID != c.ContainerID {
						t.Errorf("init container %s ran again: %s, then %s", name, b.ContainerID, c.ContainerID)
					}
				}
				if before.Status.PodIP != after.Status.PodIP {
					t.Errorf("pod IP changed: %s, then %s", before.Status.PodIP, after.Status.PodIP)
				}
			}

			a.remove("steps.yaml")
			a.waitGone("steps", 2*time.Minute)
			env.AssertPodGone(t, after)
			assertNoShims(t, env)
		})
	}
}

// A CNI plugin that fails: the pod stays Pending with a
// FailedCreatePodSandBox event carrying the plugin's message, nothing of
// the failed attempts is left, and the pod starts once the plugin works.
func TestCNIFailureRecovers(t *testing.T) {
	env := testenv.New(t)
	cfg := testConfig(t, env)
	gate := newCNIGate(t, cfg.CNIBinDir)
	cfg.CNIBinDir = gate.binDir + ":" + cfg.CNIBinDir
	gate.set(t, "fail")
	a := startAgent(t, cfg)
	a.write("net.yaml", pod("net", "Always", "  - {name: c, image: busybox, command: [sleep, '3600']}\n"))
	testenv.WaitFor(t, "a FailedCreatePodSandBox event naming the plugin's error", func() (bool, string) {
		evs := a.events("net")
		return hasEvent(evs, "FailedCreatePodSandBox", "injected failure: no bridge today"), fmt.Sprint(evs)
	})
	p := a.waitPod("net", "Pending", time.Minute, func(p *v1.Pod) bool { return p.Status.Phase == v1.PodPending })
	if p.Status.PodIP != "" {
		t.Errorf("pod has IP %s with no network", p.Status.PodIP)
	}

	gate.set(t, "")
	running := a.waitPod("net", "Running once the plugin works", 2*time.Minute, statusIs("Running"))
	if s := cstatus(running, "c"); s.RestartCount != 0 {
		t.Errorf("container restarted: %+v", s)
	}
	a.remove("net.yaml")
	a.waitGone("net", time.Minute)
	env.AssertPodGone(t, running)
	assertNoShims(t, env)
}

// The manifests directory renamed away stops its pods, as deleting their
// files does (a missing static pod path is an empty set for the kubelet),
// with a warning naming the directory; renamed back, its pods start again.
// The rescan is an hour: the directory's own watch must notice both.
func TestManifestDirectoryGoneAndBack(t *testing.T) {
	env := testenv.New(t)
	cfg := testConfig(t, env)
	cfg.ManifestRescan = time.Hour
	a := startAgent(t, cfg)
	a.write("p.yaml", pod("p", "Always", "  - {name: c, image: busybox, command: [sleep, '3600']}\n"))
	first := a.waitPod("p", "Running", 2*time.Minute, statusIs("Running"))

	away := cfg.Manifests + ".away"
	if err := os.Rename(cfg.Manifests, away); err != nil {
		t.Fatal(err)
	}
	a.waitGone("p", 2*time.Minute)
	env.AssertPodGone(t, first)
	testenv.WaitFor(t, "a warning that the manifest directory is missing", func() (bool, string) {
		evs := a.events(filepath.Base(cfg.Manifests))
		return hasEvent(evs, "FailedValidation", cfg.Manifests+": manifest directory is missing"), fmt.Sprint(evs)
	})
	if _, err := os.Stat(cfg.Manifests); err == nil {
		t.Error("the agent made the manifests directory again")
	}

	if err := os.Rename(away, cfg.Manifests); err != nil {
		t.Fatal(err)
	}
	again := a.waitPod("p", "Running again", 2*time.Minute, statusIs("Running"))
	if again.UID != first.UID {
		t.Errorf("the same manifest came back with UID %s, was %s", again.UID, first.UID)
	}
	a.remove("p.yaml")
	a.waitGone("p", 2*time.Minute)
	env.AssertPodGone(t, again)
	assertNoShims(t, env)
}
