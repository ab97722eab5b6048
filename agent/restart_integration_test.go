//go:build integration

package agent

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	v1 "k8s.io/api/core/v1"

	"github.com/minikubelet/minikubelet/api"
	"github.com/minikubelet/minikubelet/internal/testenv"
)

// agentProcess runs the real binary, so that it can be killed with SIGKILL.
type agentProcess struct {
	t   *testing.T
	cmd *exec.Cmd
}

func startAgentProcess(t *testing.T, bin, config string) *agentProcess {
	t.Helper()
	cmd := exec.Command(bin, "agent", "--config", config)
	logf, err := os.Create(filepath.Join(t.TempDir(), "agent.log"))
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stdout, cmd.Stderr = logf, logf
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	p := &agentProcess{t: t, cmd: cmd}
	t.Cleanup(func() {
		if p.cmd.ProcessState == nil {
			p.cmd.Process.Signal(syscall.SIGTERM)
			p.cmd.Wait()
		}
		if t.Failed() {
			b, _ := os.ReadFile(logf.Name())
			t.Logf("agent log:\n%s", b)
		}
	})
	return p
}

func (p *agentProcess) kill9() {
	p.cmd.Process.Kill()
	p.cmd.Wait()
}

// SIGKILL the agent while pods run, change the manifests while it is down,
// and start it again: running containers are adopted untouched, the pod
// whose manifest went away is terminated.
func TestAgentKill9AndRestart(t *testing.T) {
	env := testenv.New(t)
	bin := agentBinary(t)
	cfg := testConfig(t, env)
	cfgFile := configFile(t, cfg)
	a := &testAgent{t: t, cfg: cfg, client: api.NewClient(cfg.Socket)}
	a.write("ticker.yaml", pod("ticker", "Always",
		"  - {name: c, image: busybox, command: [sh, -c, 'i=0; while true; do i=$((i+1)); echo tick $i; sleep 0.2; done']}\n"))
	a.write("doomed.yaml", pod("doomed", "Always", "  - {name: c, image: busybox, command: [sleep, '3600']}\n"))

	first := startAgentProcess(t, bin, cfgFile)
	before := a.waitPod("ticker", "Running", time.Minute, statusIs("Running"))
	doomed := a.waitPod("doomed", "Running", time.Minute, statusIs("Running"))

	first.kill9()
	a.remove("doomed.yaml")
	logPath := filepath.Join(cfg.LogDir, "default_ticker_"+string(before.UID), "c", "0.log")
	sizeDown := fileSize(t, logPath)
	startAgentProcess(t, bin, cfgFile)

	after := a.waitPod("ticker", "Running again", time.Minute, func(p *v1.Pod) bool {
		return statusIs("Running")(p) && p.Status.PodIP != ""
	})
	if b, c := cstatus(before, "c"), cstatus(after, "c"); b.ContainerID != c.ContainerID || c.RestartCount != 0 ||
		!b.State.Running.StartedAt.Equal(&c.State.Running.StartedAt) || before.Status.PodIP != after.Status.PodIP {
		t.Fatalf("container not adopted as it was:\nbefore %+v ip %s\nafter  %+v ip %s", b, before.Status.PodIP, c, after.Status.PodIP)
	}
	a.waitGone("doomed", time.Minute)
	// The adopted container's output still reaches its log file.
	deadline := time.Now().Add(10 * time.Second)
	for fileSize(t, logPath) <= sizeDown+100 {
		if time.Now().After(deadline) {
			t.Fatal("no new log lines after the restart")
		}
		time.Sleep(100 * time.Millisecond)
	}
	got, _ := os.ReadFile(logPath)
	if strings.Count(string(got), "tick") < 5 {
		t.Errorf("log has %q", got)
	}
	a.remove("ticker.yaml")
	a.waitGone("ticker", time.Minute)
	env.AssertPodGone(t, doomed)
	env.AssertPodGone(t, after)
}

func fileSize(t *testing.T, path string) int64 {
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	return fi.Size()
}
