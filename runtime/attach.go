package runtime

import (
	"context"
	"errors"
	"fmt"
	"io"
	"sync"
	"time"

	"github.com/containerd/containerd"
)

// AttachOptions connect a client to a running container's stdio, as
// `kubectl attach` does.
type AttachOptions struct {
	// Stdin, when set, feeds the container's stdin if the container has one
	// (spec stdin: true); otherwise it is ignored, as containerd's CRI does.
	Stdin io.Reader
	// Stdout and Stderr receive the container's output from now on (what
	// it wrote before is in its log). With a TTY everything goes to Stdout.
	Stdout io.Writer
	Stderr io.Writer
	// Resize delivers terminal size changes to a TTY container.
	Resize <-chan TerminalSize
}

// ErrNoAttach is wrapped by Attach when the container has no output to
// attach to (it is not running, or not this agent's).
var ErrNoAttach = errors.New("container is not running")

// attachQueue is how many chunks of output wait for a slow client before
// the container's output waits too (as with containerd's attach), and
// attachStall how long it waits before that client is cut off: a stuck
// client must not stall the container for good.
const (
	attachQueue = 256
	attachStall = 10 * time.Second
)

// Attach connects opts to the container's stdio until the container exits
// (its output ends: Attach returns once it is all delivered), ctx ends, or
// opts.Stdin ends. When stdin ends, a container with stdinOnce and no TTY
// gets its stdin closed and Attach goes on until its output ends; any other
// container keeps its stdin open for the next session and Attach returns
// (the client detached), as containerd's CRI attach behaves. After Attach
// returns the caller must make a pending opts.Stdin.Read return (close it).
func (c *Containerd) Attach(ctx context.Context, containerID string, opts AttachOptions) error {
	fail := func(err error) error { return fmt.Errorf("attach to container %s: %w", containerID, err) }
	c.mu.Lock()
	lc := c.copiers[containerID]
	c.mu.Unlock()
	if lc == nil {
		return fail(ErrNoAttach)
	}
	nctx := c.ns(ctx)
	container, err := c.client.LoadContainer(nctx, containerID)
	if err != nil {
		return fail(err)
	}
	labels, err := container.Labels(nctx)
	if err != nil {
		return fail(err)
	}
	task, err := container.Task(nctx, nil)
	if err != nil {
		return fail(fmt.Errorf("%w: %w", ErrNoAttach, err))
	}

	a := lc.attach(opts.Stdout, opts.Stderr)
	defer lc.detach(a)
	if lc.tty && opts.Resize != nil {
		// The first size before any input: what is typed runs on a
		// terminal of the client's size.
		if sz, ok := firstSize(ctx, opts.Resize); ok {
			_ = task.Resize(nctx, uint32(sz.Width), uint32(sz.Height))
		}
		go func() {
			for {
				select {
				case <-ctx.Done():
					return
				case <-a.done:
					return
				case sz, ok := <-opts.Resize:
					if !ok {
						return
					}
					_ = task.Resize(nctx, uint32(sz.Width), uint32(sz.Height))
				}
			}
		}()
	}
	var stdinEnded chan struct{}
	if w := lc.stdinWriter(); w != nil && opts.Stdin != nil {
		stdinEnded = make(chan struct{})
		go func() {
			defer close(stdinEnded)
			_, _ = io.Copy(w, opts.Stdin)
		}()
	}

	select {
	case <-ctx.Done():
		return nil
	case <-lc.done:
		return a.err()
	case <-a.broken:
		return fail(a.err())
	case <-stdinEnded:
	}
	if labels[LabelStdin] != "once" || lc.tty {
		return nil // detached; the container's stdin stays open
	}
	if err := lc.closeStdin(nctx, task); err != nil {
		return fail(err)
	}
	select {
	case <-ctx.Done():
		return nil
	case <-lc.done:
		return a.err()
	case <-a.broken:
		return fail(a.err())
	}
}

// stdinWriter is the container's stdin, nil if it has none or it was closed.
func (lc *logCopier) stdinWriter() io.Writer {
	lc.mu.Lock()
	defer lc.mu.Unlock()
	if lc.stdin == nil {
		return nil
	}
	return lc.stdin
}

// closeStdin gives the container EOF on its stdin, once and for good: the
// shim closes its end when asked (CloseIO), then the agent's is useless.
func (lc *logCopier) closeStdin(ctx context.Context, task containerd.Task) error {
	lc.mu.Lock()
	w := lc.stdin
	lc.stdin = nil
	lc.mu.Unlock()
	if w == nil {
		return nil
	}
	_ = w.Close()
	if err := task.CloseIO(ctx, containerd.WithStdinCloser); err != nil && !isNotFound(err) {
		return fmt.Errorf("close stdin: %w", err)
	}
	return nil
}

// attachment is one attach session's share of the container's output. The
// copier queues chunks; the session's goroutine writes them to the client.
type attachment struct {
	stdout, stderr io.Writer
	queue          chan chunk
	closing        chan struct{} // the session ends: stop queueing, drain
	broken         chan struct{} // the client failed or stalled
	done           chan struct{} // the writer goroutine has ended
	once           sync.Once
	failure        error
}

type chunk struct {
	stderr bool
	data   []byte
}

func (lc *logCopier) attach(stdout, stderr io.Writer) *attachment {
	a := &attachment{
		stdout: stdout, stderr: stderr,
		queue:   make(chan chunk, attachQueue),
		closing: make(chan struct{}),
		broken:  make(chan struct{}),
		done:    make(chan struct{}),
	}
	if a.stdout == nil {
		a.stdout = io.Discard
	}
	if a.stderr == nil {
		a.stderr = io.Discard
	}
	lc.mu.Lock()
	lc.attached[a] = struct{}{}
	lc.mu.Unlock()
	go a.run()
	return a
}

// detach ends the session: what is queued is still delivered.
func (lc *logCopier) detach(a *attachment) {
	lc.mu.Lock()
	delete(lc.attached, a)
	lc.mu.Unlock()
	close(a.closing)
	<-a.done
}

func (a *attachment) run() {
	defer close(a.done)
	write := func(c chunk) {
		w := a.stdout
		if c.stderr {
			w = a.stderr
		}
		if _, err := w.Write(c.data); err != nil {
			a.fail(fmt.Errorf("write to the attached client: %w", err))
		}
	}
	for {
		select {
		case c := <-a.queue:
			write(c)
		case <-a.closing:
			for {
				select {
				case c := <-a.queue:
					write(c)
				default:
					return
				}
			}
		}
	}
}

func (a *attachment) fail(err error) {
	a.once.Do(func() {
		a.failure = err
		close(a.broken)
	})
}

func (a *attachment) err() error {
	select {
	case <-a.broken:
		return a.failure
	default:
		return nil
	}
}

// send queues a copy of p for the client, waiting at most attachStall for
// room.
func (a *attachment) send(stderr bool, p []byte) {
	c := chunk{stderr: stderr, data: append([]byte(nil), p...)}
	select {
	case a.queue <- c:
		return
	case <-a.broken:
		return
	case <-a.closing:
		return
	default:
	}
	timer := time.NewTimer(attachStall)
	defer timer.Stop()
	select {
	case a.queue <- c:
	case <-a.broken:
	case <-a.closing:
	case <-timer.C:
		a.fail(fmt.Errorf("the attached client read nothing for %s", attachStall))
	}
}

// teeWriter writes a container's output to its log and to the attached
// sessions.
type teeWriter struct {
	log    io.Writer
	lc     *logCopier
	stderr bool
}

func (t teeWriter) Write(p []byte) (int, error) {
	n, err := t.log.Write(p)
	t.lc.mu.Lock()
	var sessions []*attachment
	for a := range t.lc.attached {
		sessions = append(sessions, a)
	}
	t.lc.mu.Unlock()
	for _, a := range sessions {
		a.send(t.stderr, p)
	}
	return n, err
}

// Flush passes the log stream's flush on (logs.Copy flushes at EOF).
func (t teeWriter) Flush() error {
	if f, ok := t.log.(interface{ Flush() error }); ok {
		return f.Flush()
	}
	return nil
}
