package logs

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/containerd/fifo"
)

// parkedCount is how many streams wait in q's set with no goroutine.
func (q *Quiet) parkedCount() int {
	q.mu.Lock()
	defer q.mu.Unlock()
	return len(q.parked)
}

// quietRun is one stream copied by a Quiet of its own that parks it after
// 20 ms without input: the copy's log file, the FIFO's write end (as a
// shim holds it) and the copy's result.
type quietRun struct {
	q      *Quiet
	path   string
	w      *os.File
	result chan error
}

// startQuiet opens a FIFO as the runtime does (github.com/containerd/fifo,
// non-blocking read end) and copies it with a Quiet that lives as long as
// qctx; the copy's context is ctx.
func startQuiet(t *testing.T, qctx, ctx context.Context) *quietRun {
	t.Helper()
	q, err := newQuiet(qctx, 20*time.Millisecond)
	if err != nil {
		t.Fatal(err)
	}
	f, path := openTest(t)
	fifoPath := filepath.Join(t.TempDir(), "stdout")
	rc, err := fifo.OpenFifo(qctx, fifoPath, syscall.O_RDONLY|syscall.O_CREAT|syscall.O_NONBLOCK, 0o700)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = rc.Close() })
	w, err := os.OpenFile(fifoPath, os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = w.Close() })
	r := &quietRun{q: q, path: path, w: w, result: make(chan error, 1)}
	q.Copy(ctx, f.Stream(Stdout), rc, func(err error) { r.result <- err })
	return r
}

// wait returns the copy's result once it ended.
func (r *quietRun) wait(t *testing.T) error {
	t.Helper()
	select {
	case err := <-r.result:
		return err
	case <-time.After(10 * time.Second):
		t.Fatal("the copy did not end")
		return nil
	}
}

// A quiet stream is parked with no goroutine; input resumes it, in order,
// a line begun before it parked is completed after, and the writer's close
// ends the copy as Copy ends: with the unterminated rest as a P record.
func TestQuietCopyParksAndResumes(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	r := startQuiet(t, ctx, ctx)
	q, path, w := r.q, r.path, r.w

	write(t, w, "one\ntw")
	waitFor(t, "the stream parked", func() bool { return q.parkedCount() == 1 })
	if got, want := readFile(t, path), ts(0)+" stdout F one\n"; got != want {
		t.Fatalf("file before resuming:\n%s\nwant:\n%s", got, want)
	}
	write(t, w, "o\n")
	waitFor(t, "the resumed line", func() bool { return strings.Contains(readFile(t, path), " stdout F two\n") })
	waitFor(t, "the stream parked again", func() bool { return q.parkedCount() == 1 })
	write(t, w, "no newline")
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	if err := r.wait(t); err != nil {
		t.Fatalf("copy ended with %v", err)
	}
	want := ts(0) + " stdout F one\n" + ts(1) + " stdout F two\n" + ts(2) + " stdout P no newline\n"
	if got := readFile(t, path); got != want {
		t.Errorf("file:\n%s\nwant:\n%s", got, want)
	}
	if n := q.parkedCount(); n != 0 {
		t.Errorf("%d streams still parked", n)
	}
}

// The copy's context ending wakes a parked stream: it ends with the
// context's error, as Copy does, and leaves the container's FIFO open.
func TestQuietCopyCancelWhileParked(t *testing.T) {
	qctx, qcancel := context.WithCancel(context.Background())
	defer qcancel()
	ctx, cancel := context.WithCancel(qctx)
	r := startQuiet(t, qctx, ctx)
	q, path, w := r.q, r.path, r.w
	write(t, w, "partial")
	waitFor(t, "the stream parked", func() bool { return q.parkedCount() == 1 })
	cancel()
	if err := r.wait(t); !errors.Is(err, context.Canceled) {
		t.Fatalf("copy ended with %v, want context.Canceled", err)
	}
	if got, want := readFile(t, path), ts(0)+" stdout P partial\n"; got != want {
		t.Errorf("file:\n%s\nwant:\n%s", got, want)
	}
	if n := q.parkedCount(); n != 0 {
		t.Errorf("%d streams still parked", n)
	}
	// Writing still works: the agent's stop must not close the
	// container's output.
	write(t, w, "more\n")
}

// Streams parked when the set ends are copied by goroutines of their own:
// nothing is lost, and they end at EOF.
func TestQuietCloseResumesParked(t *testing.T) {
	qctx, qcancel := context.WithCancel(context.Background())
	defer qcancel()
	r := startQuiet(t, qctx, context.Background())
	q, path, w := r.q, r.path, r.w
	waitFor(t, "the stream parked", func() bool { return q.parkedCount() == 1 })
	qcancel()
	waitFor(t, "the stream resumed", func() bool { return q.parkedCount() == 0 })
	write(t, w, "after\n")
	waitFor(t, "the line", func() bool { return strings.Contains(readFile(t, path), " stdout F after\n") })
	_ = w.Close()
	if err := r.wait(t); err != nil {
		t.Fatalf("copy ended with %v", err)
	}
}
