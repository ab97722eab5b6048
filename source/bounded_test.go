package source

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"go.uber.org/zap/zaptest"
)

// hungFS makes reads of chosen paths block, as on a file system whose
// server went away, until released.
type hungFS struct {
	mu      sync.Mutex
	hung    map[string]chan struct{}
	entered map[string]int // blocked reads started, by path
}

func newHungFS() *hungFS {
	return &hungFS{hung: map[string]chan struct{}{}, entered: map[string]int{}}
}

func (h *hungFS) hang(path string) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.hung[path] = make(chan struct{})
}

func (h *hungFS) release(path string) {
	h.mu.Lock()
	defer h.mu.Unlock()
	close(h.hung[path])
	delete(h.hung, path)
}

func (h *hungFS) wait(path string) {
	h.mu.Lock()
	ch := h.hung[path]
	if ch != nil {
		h.entered[path]++
	}
	h.mu.Unlock()
	if ch != nil {
		<-ch
	}
}

func (h *hungFS) started(path string) int {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.entered[path]
}

// A read of the manifests directory that hangs (an NFS server gone, a stuck
// FUSE daemon) is given up after ReadTimeout: the pods of a hung file keep
// running as last read, the file is named with the reason, the other files
// are still read, a hung file is not read again while its read still
// blocks, and once the file system answers the file is read again. A hung
// listing keeps every pod as it was.
func TestHungReadsAreBounded(t *testing.T) {
	dir := t.TempDir()
	write := func(name, content string) {
		t.Helper()
		if err := os.WriteFile(filepath.Join(dir, name), []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	write("a.yaml", named("a", "busybox"))
	hung := newHungFS()
	s := New(zaptest.NewLogger(t), Config{Dir: dir, NodeName: node, Rescan: 20 * time.Millisecond, DisableWatch: true,
		ReadTimeout: 50 * time.Millisecond})
	s.fs.read = func(path string) ([]byte, error) { hung.wait(path); return readManifest(path) }
	s.fs.list = func(d string) ([]os.DirEntry, error) { hung.wait(d); return os.ReadDir(d) }
	ctx, cancel := context.WithCancel(context.Background())
	h := &harness{t: t, dir: dir, ch: make(chan Update, 16)}
	done := make(chan error, 1)
	go func() { done <- s.Run(ctx, h.ch) }()
	defer func() {
		for _, p := range []string{filepath.Join(dir, "a.yaml"), dir} {
			hung.mu.Lock()
			_, ok := hung.hung[p]
			hung.mu.Unlock()
			if ok {
				hung.release(p)
			}
		}
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Run: %v", err)
		}
	}()
	first := h.waitFor("pod a", hasPods("default/a"))
	uid := first.Pods[0].UID

	a := filepath.Join(dir, "a.yaml")
	hung.hang(a)
	u := h.waitFor("a.yaml named as not read", func(u Update) bool {
		return len(u.Errors) == 1 && u.Errors[0].File == a && strings.Contains(u.Errors[0].Error(), "did not answer within 50ms")
	})
	if len(u.Pods) != 1 || u.Pods[0].UID != uid {
		t.Errorf("pods %v while a.yaml hangs, want pod a as it was", podNames(u))
	}
	write("b.yaml", named("b", "busybox"))
	h.waitFor("pod b read beside the hung file", hasPods("default/a", "default/b"))
	time.Sleep(10 * 20 * time.Millisecond) // ten rescans
	if n := hung.started(a); n != 1 {
		t.Errorf("a.yaml was read %d times while its first read blocked, want 1", n)
	}
	hung.release(a)
	h.waitFor("no error once the file system answers", func(u Update) bool {
		return len(u.Errors) == 0 && len(u.Pods) == 2
	})

	hung.hang(dir)
	time.Sleep(10 * 20 * time.Millisecond)
	write("c.yaml", named("c", "busybox"))
	time.Sleep(10 * 20 * time.Millisecond)
	for drained := false; !drained; {
		select {
		case u := <-h.ch:
			if len(u.Pods) != 2 {
				t.Errorf("pods %v while the listing hangs, want a and b as they were", podNames(u))
			}
		default:
			drained = true
		}
	}
	hung.release(dir)
	h.waitFor("pod c once the listing answers", hasPods("default/a", "default/b", "default/c"))
}

// What apply, delete and edit read of the directory is bounded as the
// source's reads are, and by their caller's context: a file or a listing
// the file system does not answer fails the load, naming it, instead of
// hanging the request (or missing the object in that file).
func TestLoadDirIsBounded(t *testing.T) {
	dir := t.TempDir()
	for _, name := range []string{"a.yaml", "b.yaml"} {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(named(strings.TrimSuffix(name, ".yaml"), "busybox")), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	hung := newHungFS()
	b := newBoundedFS(50 * time.Millisecond)
	b.read = func(path string) ([]byte, error) { hung.wait(path); return readManifest(path) }
	b.list = func(d string) ([]os.DirEntry, error) { hung.wait(d); return os.ReadDir(d) }
	ctx := context.Background()
	if files, err := loadDir(ctx, b, dir); err != nil || len(files) != 2 {
		t.Fatalf("loadDir = %d files, %v; want 2", len(files), err)
	}

	a := filepath.Join(dir, "a.yaml")
	hung.hang(a)
	defer hung.release(a)
	_, err := loadDir(ctx, b, dir)
	if err == nil || !strings.Contains(err.Error(), a) || !strings.Contains(err.Error(), "did not answer within 50ms") {
		t.Errorf("loadDir with a hung file = %v, want the file named as not answering", err)
	}

	// The caller's context ends first: its error, at once.
	b = newBoundedFS(time.Hour)
	b.read, b.list = func(path string) ([]byte, error) { hung.wait(path); return readManifest(path) }, os.ReadDir
	cctx, cancel := context.WithTimeout(ctx, 50*time.Millisecond)
	defer cancel()
	_, err = loadDir(cctx, b, dir)
	if !errors.Is(err, context.DeadlineExceeded) || !strings.Contains(err.Error(), a) {
		t.Errorf("loadDir past its context's deadline = %v, want DeadlineExceeded naming %s", err, a)
	}

	hung.hang(dir)
	defer hung.release(dir)
	b = newBoundedFS(50 * time.Millisecond)
	b.list = func(d string) ([]os.DirEntry, error) { hung.wait(d); return os.ReadDir(d) }
	if _, err := loadDir(ctx, b, dir); err == nil || !strings.Contains(err.Error(), "list manifest directory "+dir) {
		t.Errorf("loadDir with a hung listing = %v, want the directory named", err)
	}
}
