package testenv

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"github.com/containerd/containerd"
	"github.com/containerd/containerd/remotes/docker"

	"github.com/minikubelet/minikubelet/internal/osthread"
)

// registryBinary is Debian's docker-registry (the distribution registry).
const registryBinary = "docker-registry"

// StartRegistry starts Debian's docker-registry on 127.0.0.1 on a free port,
// with its configuration and storage in temp dirs, no authentication, and
// returns its host ("127.0.0.1:PORT") for references such as
// host+"/myapp:v1". It is stopped by its PID when the test ends, and its log
// is printed if the test failed. The test is skipped when not root or when
// docker-registry is not installed, except under CI (CI set), where a
// missing registry fails the test: scripts/test installs it.
func StartRegistry(t *testing.T) (host string) {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("integration test: needs root")
	}
	bin, err := exec.LookPath(registryBinary)
	if err != nil {
		if os.Getenv("CI") != "" {
			t.Fatalf("testenv: %s is not installed (scripts/install.sh --test-deps installs it)", registryBinary)
		}
		t.Skipf("testenv: %s is not installed (apt-get install docker-registry)", registryBinary)
	}
	// A port found free can be taken before the registry binds it; try a
	// few times rather than fail on that race.
	var lastErr error
	for range 3 {
		host, err := startRegistry(t, bin)
		if err == nil {
			return host
		}
		lastErr = err
	}
	t.Fatalf("testenv: start registry: %v", lastErr)
	return ""
}

func startRegistry(t *testing.T, bin string) (string, error) {
	port, err := freeLoopbackPort()
	if err != nil {
		return "", err
	}
	host := fmt.Sprintf("127.0.0.1:%d", port)
	dir := t.TempDir()
	config := fmt.Sprintf(`version: 0.1
log:
  level: warn
  accesslog:
    disabled: true
storage:
  filesystem:
    rootdirectory: %s
  delete:
    enabled: true
http:
  addr: %s
`, filepath.Join(dir, "storage"), host)
	configPath := filepath.Join(dir, "config.yml")
	if err := os.WriteFile(configPath, []byte(config), 0o600); err != nil {
		return "", err
	}
	logPath := filepath.Join(dir, "registry.log")
	logFile, err := os.Create(logPath)
	if err != nil {
		return "", err
	}
	defer logFile.Close()

	cmd := exec.Command(bin, "serve", configPath)
	cmd.Stdout, cmd.Stderr = logFile, logFile
	cmd.Dir = dir
	// Die with the test binary rather than outlive a crashed test.
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL, Setpgid: true}
	exited := make(chan struct{})
	if err := osthread.StartChild(cmd, func(error) { close(exited) }); err != nil {
		return "", fmt.Errorf("start %s: %w", bin, err)
	}
	stop := func() {
		_ = syscall.Kill(cmd.Process.Pid, syscall.SIGTERM)
		select {
		case <-exited:
		case <-time.After(10 * time.Second):
			_ = syscall.Kill(cmd.Process.Pid, syscall.SIGKILL)
			<-exited
		}
	}

	// Ready when the API root answers; the registry has no readiness
	// signal of its own.
	client := &http.Client{Timeout: 2 * time.Second}
	deadline := time.Now().Add(30 * time.Second)
	for {
		select {
		case <-exited:
			b, _ := os.ReadFile(logPath)
			return "", fmt.Errorf("registry on %s exited during start-up:\n%s", host, b)
		default:
		}
		resp, err := client.Get("http://" + host + "/v2/")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				break
			}
		}
		if time.Now().After(deadline) {
			stop()
			b, _ := os.ReadFile(logPath)
			return "", fmt.Errorf("registry on %s not ready within 30s (last: %v):\n%s", host, err, b)
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Cleanup(func() {
		stop()
		if t.Failed() {
			if b, err := os.ReadFile(logPath); err == nil && len(b) > 0 {
				t.Logf("registry log:\n%s", b)
			}
		}
	})
	return host, nil
}

func freeLoopbackPort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

// Push pushes the image called name, which must be in the Env's namespace
// (imported or pulled), to the registry reference remote, e.g.
// StartRegistry(t)+"/myapp:v1". Registries on loopback are spoken to over
// plain HTTP, as the runtime pulls from them.
func (e *Env) Push(t *testing.T, name, remote string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(e.Ctx(context.Background()), 2*time.Minute)
	defer cancel()
	img, err := e.Client.GetImage(ctx, name)
	if err != nil {
		t.Fatalf("testenv: push %s: %v", name, err)
	}
	resolver := docker.NewResolver(docker.ResolverOptions{
		Hosts: docker.ConfigureDefaultRegistries(docker.WithPlainHTTP(docker.MatchLocalhost)),
	})
	if err := e.Client.Push(ctx, remote, img.Target(), containerd.WithResolver(resolver)); err != nil {
		t.Fatalf("testenv: push %s to %s: %v", name, remote, err)
	}
}
