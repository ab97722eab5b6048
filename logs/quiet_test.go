package logs

import (
	"context"
	"errors"
	"io"
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

// openFIFOs opens a FIFO as the runtime does (github.com/containerd/fifo,
// non-blocking read end) and its write end as a shim does.
func openFIFOs(t *testing.T, ctx context.Context) (io.ReadCloser, *os.File) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "stdout")
	rc, err := fifo.OpenFifo(ctx, path, syscall.O_RDONLY|syscall.O_CREAT|syscall.O_NONBLOCK, 0o700)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = rc.Close() })
	w, err := os.OpenFile(path, os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = w.Close() })
	return rc, w
}

// A quiet stream is parked with no goroutine; input resumes it, in order,
// a line begun before it parked is completed after, and the writer's close
// ends the copy as Copy ends: with the unterminated rest as a P record.
func TestQuietCopyParksAndResumes(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	q, err := newQuiet(ctx, 20*time.Millisecond)
	if err != nil {
		t.Fatal(err)
	}
	f, path := openTest(t)
	rc, w := openFIFOs(t, ctx)
	result := make(chan error, 1)
	q.Copy(ctx, f.Stream(Stdout), rc, func(err error) { result <- err })

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
	select {
	case err := <-result:
		if err != nil {
			t.Fatalf("copy ended with %v", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("copy did not end at EOF")
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
	q, err := newQuiet(qctx, 20*time.Millisecond)
	if err != nil {
		t.Fatal(err)
	}
	f, path := openTest(t)
	ctx, cancel := context.WithCancel(qctx)
	rc, w := openFIFOs(t, qctx)
	result := make(chan error, 1)
	q.Copy(ctx, f.Stream(Stdout), rc, func(err error) { result <- err })
	write(t, w, "partial")
	waitFor(t, "the stream parked", func() bool { return q.parkedCount() == 1 })
	cancel()
	select {
	case err := <-result:
		if !errors.Is(err, context.Canceled) {
			t.Fatalf("copy ended with %v, want context.Canceled", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("copy did not end when its context did")
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
	q, err := newQuiet(qctx, 20*time.Millisecond)
	if err != nil {
		t.Fatal(err)
	}
	f, path := openTest(t)
	ctx := context.Background()
	rc, w := openFIFOs(t, ctx)
	result := make(chan error, 1)
	q.Copy(ctx, f.Stream(Stdout), rc, func(err error) { result <- err })
	waitFor(t, "the stream parked", func() bool { return q.parkedCount() == 1 })
	qcancel()
	waitFor(t, "the stream resumed", func() bool { return q.parkedCount() == 0 })
	write(t, w, "after\n")
	waitFor(t, "the line", func() bool { return strings.Contains(readFile(t, path), " stdout F after\n") })
	_ = w.Close()
	select {
	case err := <-result:
		if err != nil {
			t.Fatalf("copy ended with %v", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("copy did not end at EOF")
	}
}
