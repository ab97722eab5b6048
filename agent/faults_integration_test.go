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
