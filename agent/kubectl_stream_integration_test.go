//go:build integration

package agent

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"os/exec"
	"regexp"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/minikubelet/minikubelet/internal/testenv"
)

// bgKubectl is a kubectl left running (port-forward), its stdout read
// line by line.
type bgKubectl struct {
	t      *testing.T
	cmd    *exec.Cmd
	lines  chan string
	mu     sync.Mutex
	stderr bytes.Buffer
	done   chan error
}

func (b *bgKubectl) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.stderr.Write(p)
}

func (b *bgKubectl) errOut() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.stderr.String()
}

// start runs kubectl in the background with extra environment; it is
// killed at the end of the test.
func (k *kubectlRunner) start(env []string, args ...string) *bgKubectl {
	k.t.Helper()
	cmd := k.command(context.Background(), env, args...)
	b := &bgKubectl{t: k.t, cmd: cmd, lines: make(chan string, 100), done: make(chan error, 1)}
	out, err := cmd.StdoutPipe()
	if err != nil {
		k.t.Fatal(err)
	}
	cmd.Stderr = b
	if err := cmd.Start(); err != nil {
		k.t.Fatal(err)
	}
	go func() {
		sc := bufio.NewScanner(out)
		for sc.Scan() {
			b.lines <- sc.Text()
		}
		close(b.lines)
		b.done <- cmd.Wait()
	}()
	k.t.Cleanup(func() { _ = cmd.Process.Kill() })
	return b
}

var forwardingLine = regexp.MustCompile(`^Forwarding from 127\.0\.0\.1:(\d+) -> (\d+)$`)

// forwards reads kubectl port-forward's "Forwarding from" lines, one per
// port asked for, and returns the local ports by remote port.
func (b *bgKubectl) forwards(n int) map[string]string {
	b.t.Helper()
	ports := map[string]string{}
	timeout := time.After(time.Minute)
	for len(ports) < n {
		select {
		case l, ok := <-b.lines:
			if !ok {
				b.t.Fatalf("kubectl port-forward ended: %v\n%s", <-b.done, b.errOut())
			}
			if m := forwardingLine.FindStringSubmatch(l); m != nil {
				ports[m[2]] = m[1]
			}
		case <-timeout:
			b.t.Fatalf("no forwarding lines; stderr:\n%s", b.errOut())
		}
	}
	return ports
}

// wait waits for kubectl to end and returns its exit code.
func (b *bgKubectl) wait() int {
	b.t.Helper()
	for range b.lines {
	}
	select {
	case err := <-b.done:
		var ee *exec.ExitError
		if err == nil {
			return 0
		}
		if errors.As(err, &ee) {
			return ee.ExitCode()
		}
		b.t.Fatalf("kubectl: %v", err)
	case <-time.After(time.Minute):
		b.t.Fatalf("kubectl did not end; stderr:\n%s", b.errOut())
	}
	return -1
}

// httpGet fetches http://127.0.0.1:port/path through a fresh connection.
func httpGet(t *testing.T, port, path string) string {
	t.Helper()
	c := &http.Client{Timeout: 30 * time.Second, Transport: &http.Transport{DisableKeepAlives: true}}
	resp, err := c.Get("http://127.0.0.1:" + port + path)
	if err != nil {
		t.Fatalf("GET 127.0.0.1:%s%s: %v", port, path, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("GET 127.0.0.1:%s%s: %v", port, path, err)
	}
	return string(body)
}

// The pod of the port-forward tests: the lab's web server on port 80, and
// a second server bound to 127.0.0.1 inside the pod, which only a forward
// made inside the pod's network namespace (as the kubelet's) reaches.
const forwardPod = `apiVersion: v1
kind: Pod
metadata:
  name: web
  labels: {app: web}
spec:
  containers:
  - name: web
    image: myapp:v1
    ports: [{containerPort: 80, name: http}]
  - name: local
    image: busybox
    command: [sh, -c, 'mkdir -p /w && echo local-only > /w/index.html && exec httpd -f -p 127.0.0.1:8081 -h /w']
---
apiVersion: v1
kind: Service
metadata:
  name: websvc
spec:
  selector: {app: web}
  ports: [{port: 8080, targetPort: http}]
`

// kubectl port-forward, over its WebSocket tunnel (kubectl's default) and
// over SPDY (its fallback, forced here): pod, service and several
// connections in one session; a port nothing listens on gives kubectl's
// error; an interrupted kubectl closes its ports.
func TestKubectlPortForward(t *testing.T) {
	env := testenv.New(t)
	importMyApp(t, env)
	a := startAgent(t, testConfig(t, env))
	k := newKubectl(t, a)
	a.write("web.yaml", forwardPod)
	a.waitPod("web", "Running", 2*time.Minute, isReady)

	for _, mode := range []struct {
		name string
		env  []string
	}{
		{"websocket", []string{"KUBECTL_PORT_FORWARD_WEBSOCKETS=true"}},
		{"spdy", []string{"KUBECTL_PORT_FORWARD_WEBSOCKETS=false"}},
	} {
		t.Run(mode.name, func(t *testing.T) {
			k := &kubectlRunner{t: t, bin: k.bin, kc: k.kc, home: k.home}
			pf := k.start(mode.env, "port-forward", "pod/web", ":80", ":8081")
			ports := pf.forwards(2)
			for i := 0; i < 3; i++ {
				if body := httpGet(t, ports["80"], "/"); !strings.Contains(body, "Hello MyApp | Version: v1") {
					t.Errorf("GET / through the forward, %d: %q", i, body)
				}
			}
			if body := httpGet(t, ports["8081"], "/"); body != "local-only\n" {
				t.Errorf("GET the pod's loopback server: %q", body)
			}
			// An interrupted kubectl ends cleanly and its port is closed.
			if err := pf.cmd.Process.Signal(syscall.SIGINT); err != nil {
				t.Fatal(err)
			}
			if code := pf.wait(); code != 0 {
				t.Errorf("kubectl port-forward after SIGINT: exit %d\n%s", code, pf.errOut())
			}
			if c, err := net.DialTimeout("tcp", "127.0.0.1:"+ports["80"], 5*time.Second); err == nil {
				c.Close()
				t.Errorf("local port %s still open after kubectl ended", ports["80"])
			}

			// A Service is resolved by kubectl to a pod and its target port.
			pf = k.start(mode.env, "port-forward", "svc/websvc", ":8080")
			ports = pf.forwards(1)
			if body := httpGet(t, ports["80"], "/hostname.html"); strings.TrimSpace(body) != "web" {
				t.Errorf("GET /hostname.html through svc/websvc: %q", body)
			}
			_ = pf.cmd.Process.Signal(syscall.SIGINT)
			pf.wait()

			// Nothing listens on 81: the connection is closed without an
			// answer and kubectl reports the kubelet's error.
			pf = k.start(mode.env, "port-forward", "pod/web", ":81")
			ports = pf.forwards(1)
			c, err := net.DialTimeout("tcp", "127.0.0.1:"+ports["81"], 10*time.Second)
			if err != nil {
				t.Fatal(err)
			}
			_ = c.SetDeadline(time.Now().Add(30 * time.Second))
			_, _ = c.Write([]byte("GET / HTTP/1.0\r\n\r\n"))
			if got, err := io.ReadAll(c); len(got) != 0 {
				t.Errorf("port 81 answered %q (%v)", got, err)
			}
			c.Close()
			testenv.WaitFor(t, "kubectl's error for port 81", func() (bool, string) {
				e := pf.errOut()
				return strings.Contains(e, "error forwarding port 81 to pod") && strings.Contains(e, "connection refused"), e
			})
			_ = pf.cmd.Process.Signal(syscall.SIGINT)
			pf.wait()
		})
	}

	// A pod that is not running cannot be forwarded to (kubectl checks).
	_, errOut, code := k.run("", "port-forward", "pod/nosuch", ":80")
	if code != 1 || !strings.Contains(errOut, `pods "nosuch" not found`) {
		t.Errorf("port-forward to a missing pod: exit %d\n%s", code, errOut)
	}
}
