package api

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"go.uber.org/zap/zaptest"
	apierrors "k8s.io/apimachinery/pkg/api/errors"

	"github.com/minikubelet/minikubelet/status"
)

// startLimited serves deps with short limits, for the tests of slow and
// oversized clients; it returns the socket.
func startLimited(t *testing.T, lim limits) (string, *status.Store, string) {
	t.Helper()
	dir := t.TempDir()
	store := status.NewStore()
	manifests := filepath.Join(dir, "manifests")
	srv := NewServer(zaptest.NewLogger(t), Deps{Pods: store, ManifestDir: manifests, NodeName: "node1", LogDir: filepath.Join(dir, "logs")})
	srv.limits = lim
	socket := filepath.Join(dir, "api.sock")
	ctx, cancel := context.WithCancel(context.Background())
	served := make(chan error, 1)
	go func() { served <- srv.Serve(ctx, socket) }()
	t.Cleanup(func() {
		cancel()
		if err := <-served; err != nil {
			t.Errorf("Serve: %v", err)
		}
	})
	waitFor(t, func() bool {
		c, err := net.Dial("unix", socket)
		if err == nil {
			c.Close()
		}
		return err == nil
	})
	return socket, store, manifests
}

// An empty, comment-only or binary body is not an apply that did nothing:
// it is refused like kubectl refuses it, and nothing is written.
func TestApplyNothing(t *testing.T) {
	env := startServer(t, Deps{})
	ctx := context.Background()
	for name, body := range map[string][]byte{
		"empty":    nil,
		"blank":    []byte("\n\n  \n"),
		"comments": []byte("# nothing here\n---\n# nor here\n"),
		"nul":      {0, 0, 0, 0},
		"gzip":     {0x1f, 0x8b, 0x08, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0xff},
	} {
		_, err := env.client.Apply(ctx, "", body)
		if err == nil {
			t.Errorf("%s: accepted", name)
			continue
		}
		if !apierrors.IsBadRequest(err) && !apierrors.IsInvalid(err) {
			t.Errorf("%s: %v", name, err)
		}
		if name == "empty" || name == "blank" || name == "comments" {
			if err.Error() != "no objects passed to apply" {
				t.Errorf("%s: error %q", name, err)
			}
		}
	}
	if files, _ := filepath.Glob(filepath.Join(env.deps.ManifestDir, "*")); len(files) != 0 {
		t.Errorf("files written: %v", files)
	}
}

func TestApplyTooLarge(t *testing.T) {
	env := startServer(t, Deps{})
	body := bytes.Repeat([]byte("# padding\n"), maxManifest/10+1)
	_, err := env.client.Apply(context.Background(), "", body)
	if !apierrors.IsRequestEntityTooLargeError(err) {
		t.Errorf("apply of %d bytes: %v", len(body), err)
	}
}

// rawRequest writes req on a fresh connection and returns the status line
// of the answer, or the read error (the server closed the connection).
func rawRequest(t *testing.T, socket string, write func(net.Conn) error) (string, error) {
	t.Helper()
	c, err := net.Dial("unix", socket)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if err := write(c); err != nil {
		return "", err
	}
	// A guard against a hang of the test itself, far above the limits.
	c.SetReadDeadline(time.Now().Add(time.Minute))
	line, err := bufio.NewReader(c).ReadString('\n')
	if err != nil && !errors.Is(err, io.EOF) {
		if ne, ok := err.(net.Error); ok && ne.Timeout() {
			t.Fatal("the server never answered nor closed the connection")
		}
	}
	return strings.TrimSpace(line), err
}

// A client that stops sending its headers, or its body, is cut off; one
// that sends too many headers is refused. The server goes on serving.
func TestSlowAndOversizedClients(t *testing.T) {
	lim := limits{header: 200 * time.Millisecond, headerBytes: 4 << 10, body: 200 * time.Millisecond, idle: time.Minute}
	socket, _, manifests := startLimited(t, lim)

	t.Run("headers never finished", func(t *testing.T) {
		line, err := rawRequest(t, socket, func(c net.Conn) error {
			_, err := io.WriteString(c, "GET /version HTTP/1.1\r\nHost: x\r\n")
			return err
		})
		if err == nil && !strings.Contains(line, "408") {
			t.Errorf("answer %q", line)
		}
	})
	t.Run("body never finished", func(t *testing.T) {
		line, err := rawRequest(t, socket, func(c net.Conn) error {
			_, err := io.WriteString(c, "POST /apply HTTP/1.1\r\nHost: x\r\nContent-Length: 1000\r\n\r\napiVersion: v1\n")
			return err
		})
		if err == nil && !strings.Contains(line, " 400 ") {
			t.Errorf("answer %q", line)
		}
		if files, _ := filepath.Glob(filepath.Join(manifests, "*.yaml")); len(files) != 0 {
			t.Errorf("files written: %v", files)
		}
	})
	t.Run("headers too large", func(t *testing.T) {
		line, err := rawRequest(t, socket, func(c net.Conn) error {
			_, err := fmt.Fprintf(c, "GET /version HTTP/1.1\r\nHost: x\r\nX-Big: %s\r\n\r\n", strings.Repeat("a", 64<<10))
			return err
		})
		if err == nil && !strings.Contains(line, "431") {
			t.Errorf("answer %q", line)
		}
	})
	t.Run("malformed request line", func(t *testing.T) {
		line, _ := rawRequest(t, socket, func(c net.Conn) error {
			_, err := io.WriteString(c, "\x00\x01\x02 nonsense\r\n\r\n")
			return err
		})
		if !strings.Contains(line, "400") {
			t.Errorf("answer %q", line)
		}
	})
	// Still serving.
	if _, err := NewClient(socket).Version(context.Background()); err != nil {
		t.Errorf("version after the bad clients: %v", err)
	}
}

// The limits never cut a stream: a watch lasts well past the body and
// header limits and still delivers.
func TestLimitsLeaveStreamsAlone(t *testing.T) {
	lim := limits{header: 100 * time.Millisecond, headerBytes: 4 << 10, body: 100 * time.Millisecond, idle: 100 * time.Millisecond}
	socket, store, _ := startLimited(t, lim)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	w, err := NewClient(socket).WatchPods(ctx, "default", WatchOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	time.Sleep(time.Second) // ten times every limit
	store.Set(testPod("default", "web", nil))
	got := make(chan PodEvent, 1)
	go func() {
		ev, err := w.Next()
		if err != nil {
			t.Errorf("Next: %v", err)
		}
		got <- ev
	}()
	select {
	case ev := <-got:
		if ev.Pod == nil || ev.Pod.Name != "web" {
			t.Errorf("event %+v", ev)
		}
	case <-time.After(time.Minute):
		t.Fatal("no event on a watch older than every limit")
	}
}
