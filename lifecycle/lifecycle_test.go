package lifecycle

import (
	"context"
	"errors"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"go.uber.org/zap/zaptest"
	v1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/util/intstr"

	"github.com/minikubelet/minikubelet/events"
)

type fakeExec struct {
	out  string
	code int32
	err  error
	got  []string
	id   string
}

func (f *fakeExec) ExecSync(ctx context.Context, id string, cmd []string, timeout time.Duration) ([]byte, int32, error) {
	f.got, f.id = cmd, id
	if timeout != 0 {
		return nil, -1, errors.New("hooks must not have a timeout")
	}
	return []byte(f.out), f.code, f.err
}

func testPod() (*v1.Pod, *v1.Container) {
	p := &v1.Pod{}
	p.Name, p.Namespace, p.UID = "web", "default", "uid-1"
	p.Spec.Containers = []v1.Container{{Name: "c", Ports: []v1.ContainerPort{{Name: "http", ContainerPort: 80}}}}
	return p, &p.Spec.Containers[0]
}

func TestExecHooks(t *testing.T) {
	tests := []struct {
		name    string
		exec    fakeExec
		wantMsg string
		wantErr bool
	}{
		{name: "exit 0 succeeds", exec: fakeExec{out: "fine"}},
		{name: "non-zero exit fails with kubelet's message", exec: fakeExec{out: "boom\n", code: 3}, wantErr: true,
			wantMsg: `Exec lifecycle hook ([sh -c exit 3]) for Container "c" in Pod "web_default(uid-1)" failed - error: command 'sh -c exit 3' exited with 3: boom` + "\n" + `, message: "boom\n"`},
		{name: "runtime error fails", exec: fakeExec{err: errors.New("container is not running")}, wantErr: true,
			wantMsg: `Exec lifecycle hook ([sh -c exit 3]) for Container "c" in Pod "web_default(uid-1)" failed - error: container is not running, message: ""`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			pod, c := testPod()
			r := NewRunner(&tt.exec, nil, "1.34")
			msg, err := r.Run(context.Background(), pod, c, "ctr-1", "10.0.0.1",
				&v1.LifecycleHandler{Exec: &v1.ExecAction{Command: []string{"sh", "-c", "exit 3"}}})
			if (err != nil) != tt.wantErr || msg != tt.wantMsg {
				t.Fatalf("got (%q, %v), want message %q, error %v", msg, err, tt.wantMsg, tt.wantErr)
			}
			if tt.exec.id != "ctr-1" || strings.Join(tt.exec.got, " ") != "sh -c exit 3" {
				t.Fatalf("ran %q in %q", tt.exec.got, tt.exec.id)
			}
		})
	}
}

// hostPort splits a test server's address.
func hostPort(t *testing.T, raw string) (string, int) {
	t.Helper()
	u, err := url.Parse(raw)
	if err != nil {
		t.Fatal(err)
	}
	port, _ := strconv.Atoi(u.Port())
	return u.Hostname(), port
}

type seen struct {
	mu    sync.Mutex
	paths []string
	ua    string
}

func (s *seen) handler(code int) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		s.mu.Lock()
		s.paths = append(s.paths, r.URL.Path)
		s.ua = r.UserAgent()
		s.mu.Unlock()
		w.WriteHeader(code)
	}
}

func TestHTTPHooks(t *testing.T) {
	tests := []struct {
		name     string
		tls      bool
		scheme   v1.URIScheme
		code     int
		wantErr  bool
		fallback bool
	}{
		{name: "HTTP 200", scheme: v1.URISchemeHTTP, code: 200},
		// Any answer is a success: only transport errors fail a hook.
		{name: "HTTP 500 still succeeds", scheme: v1.URISchemeHTTP, code: 500},
		{name: "HTTPS with a self-signed certificate", tls: true, scheme: v1.URISchemeHTTPS, code: 204},
		{name: "HTTPS hook answered in plain HTTP falls back", scheme: v1.URISchemeHTTPS, code: 200, fallback: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var s seen
			srv := httptest.NewUnstartedServer(s.handler(tt.code))
			if tt.tls {
				srv.StartTLS()
			} else {
				srv.Start()
			}
			defer srv.Close()
			host, port := hostPort(t, srv.URL)
			pod, c := testPod()
			rec := events.NewStore(zaptest.NewLogger(t), "node", 10)
			r := NewRunner(nil, rec, "1.34")
			msg, err := r.Run(context.Background(), pod, c, "ctr-1", host, &v1.LifecycleHandler{HTTPGet: &v1.HTTPGetAction{
				Path: "/hook", Port: intstr.FromInt(port), Scheme: tt.scheme}})
			if (err != nil) != tt.wantErr {
				t.Fatalf("got (%q, %v), want error %v", msg, err, tt.wantErr)
			}
			s.mu.Lock()
			defer s.mu.Unlock()
			if len(s.paths) != 1 || s.paths[0] != "/hook" || s.ua != "kube-lifecycle/1.34" {
				t.Fatalf("server saw %v with User-Agent %q", s.paths, s.ua)
			}
			evs := rec.List("default", "web")
			if tt.fallback != (len(evs) == 1 && evs[0].Reason == "LifecycleHTTPFallback" && evs[0].Type == v1.EventTypeWarning &&
				strings.HasPrefix(evs[0].Message, "request to HTTPS lifecycle hook "+net.JoinHostPort(host, strconv.Itoa(port))+" got HTTP response")) {
				t.Fatalf("fallback %v, events %+v", tt.fallback, evs)
			}
		})
	}
}

func TestHTTPHookTransportErrorFails(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := ln.Addr().(*net.TCPAddr).Port
	ln.Close() // nothing listens there now
	pod, c := testPod()
	r := NewRunner(nil, nil, "1.34")
	msg, err := r.Run(context.Background(), pod, c, "ctr-1", "127.0.0.1", &v1.LifecycleHandler{HTTPGet: &v1.HTTPGetAction{
		Path: "/x", Port: intstr.FromInt(port)}})
	if err == nil || !strings.HasPrefix(msg, `HTTP lifecycle hook (/x) for Container "c" in Pod "web_default(uid-1)" failed - error: Get "http://127.0.0.1:`) ||
		!strings.Contains(msg, "connection refused") {
		t.Fatalf("got (%q, %v)", msg, err)
	}
	if _, err := r.Run(context.Background(), pod, c, "ctr-1", "", &v1.LifecycleHandler{HTTPGet: &v1.HTTPGetAction{Port: intstr.FromInt(80)}}); err == nil {
		t.Fatal("an HTTP hook without a pod IP or host succeeded")
	}
}

func TestSleepHook(t *testing.T) {
	pod, c := testPod()
	r := NewRunner(nil, nil, "1.34")
	if _, err := r.Run(context.Background(), pod, c, "ctr-1", "", &v1.LifecycleHandler{Sleep: &v1.SleepAction{Seconds: 0}}); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	msg, err := r.Run(ctx, pod, c, "ctr-1", "", &v1.LifecycleHandler{Sleep: &v1.SleepAction{Seconds: 3600}})
	if err == nil || msg != `Sleep lifecycle hook (3600) for Container "c" in Pod "web_default(uid-1)" failed - error: container terminated before sleep hook finished` {
		t.Fatalf("got (%q, %v)", msg, err)
	}
}

func TestTCPSocketHookIsNotRun(t *testing.T) {
	pod, c := testPod()
	r := NewRunner(nil, nil, "1.34")
	msg, err := r.Run(context.Background(), pod, c, "ctr-1", "10.0.0.1", &v1.LifecycleHandler{TCPSocket: &v1.TCPSocketAction{Port: intstr.FromInt(80)}})
	if err == nil || !strings.HasPrefix(msg, "Cannot run handler: invalid handler") {
		t.Fatalf("got (%q, %v)", msg, err)
	}
}
