package main

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/signal"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// syncBuffer is a bytes.Buffer safe for the server's goroutines.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// labConf is the image's default.conf listening on a loopback port chosen
// by the kernel, with hostname.html aliased to a temp file.
func labConf(t *testing.T, hostnameFile string) string {
	conf := readImageDefaultConf(t)
	conf = strings.Replace(conf, "listen       80;", "listen       127.0.0.1:0;", 1)
	conf = strings.Replace(conf, "alias /etc/hostname;", "alias "+hostnameFile+";", 1)
	return conf
}

type testMaster struct {
	*master
	dir      string
	errs     *syncBuffer
	confPath string
}

func startTestMaster(t *testing.T) *testMaster {
	t.Helper()
	dir := t.TempDir()
	hostname := filepath.Join(dir, "hostname")
	if err := os.WriteFile(hostname, []byte("myapp-pod\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	confPath := writeImageConf(t, dir, labConf(t, hostname))
	errs := &syncBuffer{}
	m := newMaster(confPath, nil, errs, io.Discard)
	if err := m.start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { m.shutdown(false) })
	return &testMaster{master: m, dir: dir, errs: errs, confPath: confPath}
}

func (m *testMaster) setDefaultConf(t *testing.T, text string) {
	t.Helper()
	if err := os.WriteFile(filepath.Join(m.dir, "conf.d", "default.conf"), []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
}

func (m *testMaster) addr(t *testing.T) string {
	t.Helper()
	addrs := m.Addrs()
	if len(addrs) != 1 {
		t.Fatalf("listening on %v, want one address", addrs)
	}
	return addrs[0].String()
}

// fetch GETs path from addr with a fresh connection (no keep-alive, so a
// closed listener shows at once).
func fetch(addr, path string) (int, string, error) {
	c := &http.Client{Transport: &http.Transport{DisableKeepAlives: true}, Timeout: 10 * time.Second}
	resp, err := c.Get("http://" + addr + path)
	if err != nil {
		return 0, "", err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b), err
}

func mustFetch(t *testing.T, addr, path string, wantStatus int, wantBody string) {
	t.Helper()
	status, got, err := fetch(addr, path)
	if err != nil {
		t.Fatalf("GET %s: %v", path, err)
	}
	if status != wantStatus || wantBody != "" && got != wantBody {
		t.Fatalf("GET %s = %d %q, want %d %q", path, status, got, wantStatus, wantBody)
	}
}

// waitFor polls cond until it holds or the deadline passes.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func TestMasterServesAndWritesPIDFile(t *testing.T) {
	m := startTestMaster(t)
	addr := m.addr(t)
	mustFetch(t, addr, "/", 200, indexPage())
	mustFetch(t, addr, "/hostname.html", 200, "myapp-pod\n")
	b, err := os.ReadFile(filepath.Join(m.dir, "nginx.pid"))
	if err != nil {
		t.Fatal(err)
	}
	if strings.TrimSpace(string(b)) != strconv.Itoa(os.Getpid()) {
		t.Errorf("pid file = %q, want %d", b, os.Getpid())
	}
}

// TestMasterReadinessLab is the lab's readiness exercise: comment the
// hostname.html location out and reload (the page 404s, so an httpGet
// readiness probe fails), then restore it and reload (the probe passes).
func TestMasterReadinessLab(t *testing.T) {
	m := startTestMaster(t)
	addr := m.addr(t)
	orig, err := os.ReadFile(filepath.Join(m.dir, "conf.d", "default.conf"))
	if err != nil {
		t.Fatal(err)
	}

	m.setDefaultConf(t, commentOutHostname(t, string(orig)))
	if err := m.reload(); err != nil {
		t.Fatal(err)
	}
	mustFetch(t, addr, "/hostname.html", 404, "")
	mustFetch(t, addr, "/", 200, indexPage())
	if m.addr(t) != addr {
		t.Errorf("reload moved the server from %s to %s", addr, m.addr(t))
	}

	m.setDefaultConf(t, string(orig))
	if err := m.reload(); err != nil {
		t.Fatal(err)
	}
	mustFetch(t, addr, "/hostname.html", 200, "myapp-pod\n")
}

func TestMasterReloadKeepsOldConfigOnError(t *testing.T) {
	m := startTestMaster(t)
	addr := m.addr(t)
	m.setDefaultConf(t, "server {\n  #location = /hostname.html {\n    alias /etc/hostname;\n  }\n}\n")
	if err := m.reload(); err == nil {
		t.Fatal("reload of a broken configuration succeeded")
	}
	mustFetch(t, addr, "/hostname.html", 200, "myapp-pod\n")
	if !strings.Contains(m.errs.String(), "[emerg]") {
		t.Errorf("error log has no [emerg] line:\n%s", m.errs.String())
	}
}

// TestMasterStopAndReload is the lab's liveness exercise: after a stop
// nothing accepts connections on the port (a tcpSocket probe fails) while
// the process keeps running; a reload serves again.
func TestMasterStopAndReload(t *testing.T) {
	m := startTestMaster(t)
	addr := m.addr(t)
	m.stopServing(true)
	if _, err := net.DialTimeout("tcp", addr, 5*time.Second); err == nil {
		t.Fatalf("%s still accepts connections after stop", addr)
	}
	if len(m.Addrs()) != 0 {
		t.Errorf("Addrs after stop = %v", m.Addrs())
	}
	if err := m.reload(); err != nil {
		t.Fatal(err)
	}
	mustFetch(t, m.addr(t), "/", 200, indexPage())
}

func TestMasterSignals(t *testing.T) {
	m := startTestMaster(t)
	addr := m.addr(t)
	sigs := make(chan os.Signal)
	done := make(chan struct{})
	go func() {
		m.run(context.Background(), sigs)
		close(done)
	}()

	sigs <- syscall.SIGWINCH
	waitFor(t, "the server to stop", func() bool { return len(m.Addrs()) == 0 })
	if _, err := net.DialTimeout("tcp", addr, 5*time.Second); err == nil {
		t.Fatal("port still open after SIGWINCH")
	}
	sigs <- syscall.SIGHUP
	waitFor(t, "the server to serve again", func() bool { return len(m.Addrs()) == 1 })
	mustFetch(t, m.addr(t), "/hostname.html", 200, "myapp-pod\n")

	sigs <- syscall.SIGUSR1
	sigs <- syscall.SIGQUIT
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		t.Fatal("master did not exit on SIGQUIT")
	}
	if _, err := os.Stat(filepath.Join(m.dir, "nginx.pid")); !os.IsNotExist(err) {
		t.Errorf("pid file left behind: %v", err)
	}
	for _, want := range []string{
		"signal 28 (SIGWINCH) received, stopping the server",
		"signal 1 (SIGHUP) received, reconfiguring",
		"signal 3 (SIGQUIT) received, shutting down",
		": exit\n", // nginx's last line
	} {
		if !strings.Contains(m.errs.String(), want) {
			t.Errorf("error log lacks %q:\n%s", want, m.errs.String())
		}
	}
}

func TestMasterExitsOnTERM(t *testing.T) {
	m := startTestMaster(t)
	sigs := make(chan os.Signal, 1)
	sigs <- syscall.SIGTERM
	m.run(context.Background(), sigs) // returns
	if len(m.Addrs()) != 0 {
		t.Errorf("still listening after SIGTERM: %v", m.Addrs())
	}
}

// TestSignalCommand runs "nginx -s reload" and "nginx -s stop" as the lab
// does: they find this process through the PID file and signal it.
func TestSignalCommand(t *testing.T) {
	m := startTestMaster(t)
	addr := m.addr(t)
	// Real signals arrive at this test process, as at the container's PID 1.
	sigs := make(chan os.Signal, 4)
	signal.Notify(sigs, syscall.SIGHUP, syscall.SIGWINCH)
	defer signal.Stop(sigs)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		m.run(ctx, sigs)
		close(done)
	}()
	defer func() {
		cancel()
		<-done
	}()

	var stderr bytes.Buffer
	if code := run([]string{"-c", m.confPath, "-s", "stop"}, io.Discard, &stderr); code != 0 {
		t.Fatalf("nginx -s stop exited %d: %s", code, stderr.String())
	}
	want := fmt.Sprintf(" [notice] %d#%d: signal process started\n", os.Getpid(), os.Getpid())
	if !strings.HasSuffix(stderr.String(), want) {
		t.Errorf("nginx -s stop printed %q, want a line ending in %q", stderr.String(), want)
	}
	waitFor(t, "the server to stop", func() bool { return len(m.Addrs()) == 0 })
	if _, err := net.DialTimeout("tcp", addr, 5*time.Second); err == nil {
		t.Fatal("port still open after nginx -s stop")
	}

	if code := run([]string{"-c", m.confPath, "-s", "reload"}, io.Discard, io.Discard); code != 0 {
		t.Fatalf("nginx -s reload exited %d", code)
	}
	waitFor(t, "the server to serve again", func() bool { return len(m.Addrs()) == 1 })
	mustFetch(t, m.addr(t), "/", 200, indexPage())
}

func TestCommandLine(t *testing.T) {
	dir := t.TempDir()
	confPath := writeImageConf(t, dir, readImageDefaultConf(t))
	broken := filepath.Join(dir, "broken.conf")
	if err := os.WriteFile(broken, []byte("server {"), 0o644); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name     string
		args     []string
		wantCode int
		want     string
	}{
		{name: "test ok", args: []string{"-c", confPath, "-t"}, want: "test is successful"},
		{name: "test broken", args: []string{"-c", broken, "-t"}, wantCode: 1, want: "test failed"},
		{name: "version", args: []string{"-v"}, want: "nginx version: myapp/v1"},
		{name: "bad signal", args: []string{"-c", confPath, "-s", "bogus"}, wantCode: 1, want: `invalid option: "-s bogus"`},
		{name: "no master", args: []string{"-c", confPath, "-s", "reload"}, wantCode: 1, want: "nginx.pid\" failed (2: No such file or directory)"},
		{name: "bad globals", args: []string{"-c", confPath, "-g", "daemon off"}, wantCode: 1, want: "[emerg]"},
		{name: "extra argument", args: []string{"stop"}, wantCode: 1, want: "invalid option"},
		{name: "help", args: []string{"-h"}, want: "Usage: nginx"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var out bytes.Buffer
			code := run(tt.args, &out, &out)
			if code != tt.wantCode || !strings.Contains(out.String(), tt.want) {
				t.Errorf("run(%q) = %d, output %q; want %d and %q", tt.args, code, out.String(), tt.wantCode, tt.want)
			}
		})
	}
}

func TestGlobalsOverridePIDFile(t *testing.T) {
	dir := t.TempDir()
	confPath := writeImageConf(t, dir, readImageDefaultConf(t))
	globals, err := parse("command line", "daemon off; pid "+filepath.Join(dir, "other.pid")+";")
	if err != nil {
		t.Fatal(err)
	}
	conf, err := newMaster(confPath, globals, io.Discard, io.Discard).load()
	if err != nil {
		t.Fatal(err)
	}
	if conf.PIDFile != filepath.Join(dir, "other.pid") {
		t.Errorf("pid file = %q", conf.PIDFile)
	}
}

// gatedListener holds the server's accepts until gate is closed, so that
// connections wait in the kernel's accept queue as they do when a stop
// signal comes right after a client connected.
type gatedListener struct {
	*net.TCPListener
	gate chan struct{}
}

func (l *gatedListener) Accept() (net.Conn, error) {
	<-l.gate
	return l.TCPListener.Accept()
}

// A graceful stop (SIGQUIT, the image's stop signal) answers the
// connections the kernel accepted before it, also those the server had not
// taken from the accept queue yet: closing the listening socket resets
// them, and a client the Service rules sent to this pod just before they
// dropped it would see the reset.
func TestGracefulStopAnswersQueuedConnections(t *testing.T) {
	dir := t.TempDir()
	hostname := filepath.Join(dir, "hostname")
	if err := os.WriteFile(hostname, []byte("myapp-pod\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	m := newMaster(writeImageConf(t, dir, labConf(t, hostname)), nil, io.Discard, io.Discard)
	gate := make(chan struct{})
	m.listen = func(network, addr string) (net.Listener, error) {
		ln, err := net.Listen(network, addr)
		if err != nil {
			return nil, err
		}
		return &gatedListener{TCPListener: ln.(*net.TCPListener), gate: gate}, nil
	}
	if err := m.start(); err != nil {
		t.Fatal(err)
	}
	addr := m.Addrs()[0].String()

	const clients = 8
	conns := make([]net.Conn, clients)
	for i := range conns {
		c, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		if _, err := io.WriteString(c, "GET / HTTP/1.0\r\n\r\n"); err != nil {
			t.Fatal(err)
		}
		conns[i] = c
	}
	stopped := make(chan struct{})
	go func() {
		defer close(stopped)
		m.shutdown(true)
	}()
	// Let the stop reach the listener before the server accepts again.
	time.AfterFunc(200*time.Millisecond, func() { close(gate) })
	for i, c := range conns {
		if err := c.SetReadDeadline(time.Now().Add(20 * time.Second)); err != nil {
			t.Fatal(err)
		}
		resp, err := io.ReadAll(c)
		if err != nil || !strings.HasPrefix(string(resp), "HTTP/1.0 200 OK") {
			t.Errorf("client %d: got %q, %v; want an answer 200", i, resp, err)
		}
	}
	<-stopped
}
