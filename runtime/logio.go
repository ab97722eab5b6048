package runtime

import (
	"context"
	"io"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/containerd/containerd/cio"
	"github.com/containerd/fifo"
	"go.uber.org/zap"
	"k8s.io/apimachinery/pkg/types"

	"github.com/minikubelet/minikubelet/logs"
)

// Container stdio goes through FIFOs in a stable directory,
// <Root>/fifo/<containerID>, which the shim keeps open for the container's
// whole life. The agent reads them and writes the CRI log file. When the
// agent stops, the shim holds what the container writes meanwhile (up to the
// pipe's buffer, then the container blocks on write); a new agent opens the
// same FIFOs again and carries on, so no container loses its stdout.

// fifoIO is the cio.IO handed to containerd for a container task: only the
// FIFO paths. The copying is done by a logCopier with its own lifetime,
// because it must outlive the Task value and be re-created after a restart.
type fifoIO struct{ cfg cio.Config }

func (f *fifoIO) Config() cio.Config { return f.cfg }
func (f *fifoIO) Cancel()            {}
func (f *fifoIO) Wait()              {}
func (f *fifoIO) Close() error       { return nil }

// containerFIFOs names the FIFOs of a container (no stderr with a TTY: the
// terminal carries both streams; stdin only for a container that asks for
// it).
func (c *Containerd) containerFIFOs(id string, tty, stdin bool) cio.Config {
	dir := c.fifoDir(id)
	cfg := cio.Config{Stdout: filepath.Join(dir, "stdout"), Terminal: tty}
	if !tty {
		cfg.Stderr = filepath.Join(dir, "stderr")
	}
	if stdin {
		cfg.Stdin = filepath.Join(dir, "stdin")
	}
	return cfg
}

// logCopier owns one container's stdio on the agent's side: it copies the
// output FIFOs into the log file and to the attach sessions, and holds the
// write end of the stdin FIFO that attach sessions feed.
type logCopier struct {
	cancel context.CancelFunc
	done   chan struct{} // closed when both streams ended and the file is closed
	tty    bool

	mu       sync.Mutex
	stdin    io.WriteCloser // nil without stdin, or once closed
	attached map[*attachment]struct{}
}

// logOwner names the container whose log a copier writes, for the events
// it sends when writing the log fails and resumes.
type logOwner struct {
	podUID types.UID
	name   string
}

// attachLogs starts copying the container's FIFOs (creating them when
// needed) into logPath, unless a copier for it already runs. The copier ends
// at EOF (the task was deleted) or when the Containerd is closed.
func (c *Containerd) attachLogs(id string, owner logOwner, fifos cio.Config, logPath string) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if _, ok := c.copiers[id]; ok {
		return nil
	}
	if err := c.ctx.Err(); err != nil {
		return err
	}
	if err := os.MkdirAll(filepath.Dir(fifos.Stdout), 0o700); err != nil {
		return err
	}
	if err := os.MkdirAll(filepath.Dir(logPath), 0o755); err != nil {
		return err
	}
	ctx, cancel := context.WithCancel(c.ctx)
	type stream struct {
		name string
		r    io.ReadCloser
	}
	var streams []stream
	var stdin io.WriteCloser
	closeAll := func() {
		for _, s := range streams {
			s.r.Close()
		}
		if stdin != nil {
			stdin.Close()
		}
	}
	for _, s := range []struct{ name, path string }{{"stdout", fifos.Stdout}, {"stderr", fifos.Stderr}} {
		if s.path == "" {
			continue
		}
		// O_NONBLOCK: return at once; reads start once the shim has the
		// other end open.
		r, err := fifo.OpenFifo(ctx, s.path, syscall.O_RDONLY|syscall.O_CREAT|syscall.O_NONBLOCK, 0o700)
		if err != nil {
			closeAll()
			cancel()
			return err
		}
		streams = append(streams, stream{s.name, r})
	}
	if fifos.Stdin != "" {
		// The shim keeps a write end of its own, so the container's stdin
		// stays open whether or not the agent holds this one (it ends only
		// with CloseIO).
		w, err := fifo.OpenFifo(ctx, fifos.Stdin, syscall.O_WRONLY|syscall.O_CREAT|syscall.O_NONBLOCK, 0o700)
		if err != nil {
			closeAll()
			cancel()
			return err
		}
		stdin = w
	}
	file, err := logs.OpenFile(logPath,
		logs.WithRotation(c.cfg.ContainerLogMaxSize, c.cfg.ContainerLogMaxFiles),
		logs.WithErrorLog(func(err error) {
			c.log.Warn("rotate container log", zap.String("container", id), zap.Error(err))
		}),
		logs.WithWriteState(func(err error) { c.logWriteState(id, owner, err) }))
	if err != nil {
		closeAll()
		cancel()
		return err
	}
	lc := &logCopier{cancel: cancel, done: make(chan struct{}), tty: fifos.Terminal, stdin: stdin, attached: map[*attachment]struct{}{}}
	c.copiers[id] = lc
	// A read blocked on a FIFO ends only when the FIFO is closed.
	stopReads := context.AfterFunc(ctx, closeAll)
	c.wg.Add(1)
	finish := func() {
		defer c.wg.Done()
		stopReads()
		closeAll()
		_ = file.Close()
		cancel()
		c.mu.Lock()
		delete(c.copiers, id)
		c.mu.Unlock()
		close(lc.done)
	}
	if len(streams) == 0 {
		go finish() // not here: c.mu is held
		return nil
	}
	// The last stream to end cleans up: a copier costs no waiter, and no
	// goroutine while its streams are quiet (c.quiet waits for them).
	var left atomic.Int32
	left.Store(int32(len(streams)))
	for _, s := range streams {
		w := file.Stream(s.name)
		done := func(err error) {
			if err != nil && ctx.Err() == nil {
				c.log.Warn("copy container output", zap.String("container", id), zap.String("stream", s.name), zap.Error(err))
			}
			_ = w.Close()
			if left.Add(-1) == 0 {
				finish()
			}
		}
		c.quiet.Copy(ctx, teeWriter{log: w, lc: lc, stderr: s.name == "stderr"}, s.r, done)
	}
	return nil
}

// logWriteState reports that writing a container's log failed (err) or
// works again (nil): in the agent's log and as an event to the pod's worker.
// It runs under the log file's lock, so never blocks (deliver does not).
func (c *Containerd) logWriteState(id string, owner logOwner, err error) {
	ev := Event{Type: ContainerLogResumed, PodUID: owner.podUID, ContainerID: id, ContainerName: owner.name, At: time.Now()}
	fields := []zap.Field{zap.String("pod-uid", string(owner.podUID)), zap.String("container", owner.name), zap.String("id", id)}
	if err != nil {
		ev.Type, ev.Message = ContainerLogFailed, err.Error()
		c.log.Warn("cannot write container log: dropping its output until writes succeed again", append(fields, zap.Error(err))...)
	} else {
		c.log.Info("container log written again", fields...)
	}
	c.exits.deliver(ev)
}

// detachLogs waits for the container's copier to finish (it does once the
// task is gone) or stops it when ctx ends first.
func (c *Containerd) detachLogs(ctx context.Context, id string) {
	c.mu.Lock()
	lc := c.copiers[id]
	c.mu.Unlock()
	if lc == nil {
		return
	}
	select {
	case <-lc.done:
	case <-ctx.Done():
		lc.cancel()
		<-lc.done
	}
}

// stopLogs stops the container's copier at once (its task never came to
// be, so no EOF will end it).
func (c *Containerd) stopLogs(id string) {
	c.mu.Lock()
	lc := c.copiers[id]
	c.mu.Unlock()
	if lc != nil {
		lc.cancel()
		<-lc.done
	}
}
