package runtime

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"path/filepath"
	"sync"
	"syscall"
	"time"

	"github.com/containerd/containerd"
	"github.com/containerd/containerd/cio"
	specs "github.com/opencontainers/runtime-spec/specs-go"
)

// maxExecOutput caps ExecSync's combined output, like the kubelet's limit
// on probe output.
const maxExecOutput = 10 << 10

// ioDrainTimeout bounds waiting for an exec's output after it exited: a
// background child may hold stdout open forever.
const ioDrainTimeout = 2 * time.Second

// firstSizeWait bounds waiting for a terminal's size before an exec with
// TTY starts, or an attach to one passes on input. kubectl sends it as soon
// as the streams are up; a process started first ran on a terminal of 0x0
// until the size came (`stty size` failed, as in CI's SPDY exec test).
const firstSizeWait = time.Second

// ErrExecTimeout is wrapped by ExecSync when the command outlived its
// timeout. It also matches context.DeadlineExceeded under errors.Is: that
// is how the prober, which does not import this package, tells a timed-out
// probe (a Failure, as kubelet's ExecProbeTimeout has it) from a runtime
// that could not run the command at all.
var ErrExecTimeout error = execTimeoutError{}

type execTimeoutError struct{}

func (execTimeoutError) Error() string { return "exec timed out" }

func (execTimeoutError) Is(target error) bool { return target == context.DeadlineExceeded }

// cappedBuffer keeps the first max bytes written and discards the rest.
type cappedBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
	max int
}

func (b *cappedBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if room := b.max - b.buf.Len(); room > 0 {
		b.buf.Write(p[:min(len(p), room)])
	}
	return len(p), nil
}

func (b *cappedBuffer) Bytes() []byte {
	b.mu.Lock()
	defer b.mu.Unlock()
	return bytes.Clone(b.buf.Bytes())
}

// ExecSync runs cmd in a running container and returns its combined stdout
// and stderr (the first 10 KiB) and exit code. With timeout > 0 the process
// is killed when it runs longer, and the error wraps ErrExecTimeout. The
// exec's FIFOs and process are cleaned up in every case.
func (c *Containerd) ExecSync(ctx context.Context, containerID string, cmd []string, timeout time.Duration) ([]byte, int32, error) {
	out := &cappedBuffer{max: maxExecOutput}
	code, err := c.exec(ctx, containerID, ExecOptions{Cmd: cmd, Stdout: out, Stderr: out}, timeout)
	return out.Bytes(), code, err
}

// Exec runs an interactive process in a running container: stdin (closed
// for the process when opts.Stdin ends), stdout/stderr or a TTY with
// resizes. It returns the exit code; when ctx ends the process is killed.
func (c *Containerd) Exec(ctx context.Context, containerID string, opts ExecOptions) (int32, error) {
	return c.exec(ctx, containerID, opts, 0)
}

func (c *Containerd) exec(ctx context.Context, containerID string, opts ExecOptions, timeout time.Duration) (_ int32, retErr error) {
	ctx = c.ns(ctx)
	fail := func(err error) (int32, error) {
		return -1, fmt.Errorf("exec %q in container %s: %w", opts.Cmd, containerID, err)
	}
	if len(opts.Cmd) == 0 {
		return fail(errors.New("no command"))
	}
	container, err := c.client.LoadContainer(ctx, containerID)
	if err != nil {
		return fail(err)
	}
	task, err := container.Task(ctx, nil)
	if err != nil {
		return fail(fmt.Errorf("container is not running: %w", err))
	}
	if st, err := task.Status(ctx); err != nil || st.Status != containerd.Running {
		return fail(fmt.Errorf("container is not running (%v)", st.Status))
	}
	spec, err := container.Spec(ctx)
	if err != nil {
		return fail(err)
	}
	pspec := *spec.Process
	pspec.Args = opts.Cmd
	pspec.Terminal = opts.TTY
	pspec.ConsoleSize = nil
	if opts.TTY && opts.Resize != nil {
		if sz, ok := firstSize(ctx, opts.Resize); ok {
			pspec.ConsoleSize = &specs.Box{Height: uint(sz.Height), Width: uint(sz.Width)}
		}
	}

	stdin := newStdinCloser(c.ns(context.WithoutCancel(ctx)), opts.Stdin)
	ioOpts := []cio.Opt{
		cio.WithStreams(stdin.reader(), opts.Stdout, opts.Stderr),
		cio.WithFIFODir(filepath.Join(c.cfg.Root, "fifo", "exec")),
	}
	if opts.TTY {
		ioOpts = append(ioOpts, cio.WithTerminal)
	}
	execID := "exec-" + shortID(8)
	process, err := task.Exec(ctx, execID, &pspec, cio.NewCreator(ioOpts...))
	if err != nil {
		stdin.setProcess(nil)
		return fail(err)
	}
	stdin.setProcess(process)
	defer func() {
		// Fresh context: the caller's may be what ended.
		cctx, cancel := c.cleanupContext(ctx)
		defer cancel()
		if _, err := process.Delete(cctx, containerd.WithProcessKill); err != nil && !isNotFound(err) {
			retErr = errors.Join(retErr, fmt.Errorf("delete exec %s: %w", execID, err))
		}
	}()
	exitCh, err := process.Wait(ctx)
	if err != nil {
		return fail(err)
	}
	if err := process.Start(ctx); err != nil {
		return fail(err)
	}
	if opts.TTY && opts.Resize != nil {
		rctx, cancel := context.WithCancel(ctx)
		defer cancel()
		go func() {
			for {
				select {
				case <-rctx.Done():
					return
				case sz, ok := <-opts.Resize:
					if !ok {
						return
					}
					_ = process.Resize(rctx, uint32(sz.Width), uint32(sz.Height))
				}
			}
		}()
	}
	var timeoutC <-chan time.Time
	if timeout > 0 {
		timer := time.NewTimer(timeout)
		defer timer.Stop()
		timeoutC = timer.C
	}
	var status containerd.ExitStatus
	select {
	case status = <-exitCh:
	case <-timeoutC:
		c.killExec(ctx, process, exitCh)
		return fail(fmt.Errorf("%w after %s", ErrExecTimeout, timeout))
	case <-ctx.Done():
		c.killExec(ctx, process, exitCh)
		return fail(ctx.Err())
	}
	// Collect the output the process wrote before it exited.
	drained := make(chan struct{})
	go func() { process.IO().Wait(); close(drained) }()
	select {
	case <-drained:
	case <-time.After(ioDrainTimeout):
		process.IO().Cancel()
	}
	code, _, err := status.Result()
	if err != nil {
		return fail(err)
	}
	return int32(code), nil
}

// killExec SIGKILLs an exec'd process and waits briefly for its exit.
func (c *Containerd) killExec(ctx context.Context, p containerd.Process, exitCh <-chan containerd.ExitStatus) {
	kctx, cancel := c.cleanupContext(ctx)
	defer cancel()
	_ = p.Kill(kctx, syscall.SIGKILL)
	select {
	case <-exitCh:
	case <-time.After(10 * time.Second):
	}
	p.IO().Cancel()
}

// stdinCloser forwards the caller's stdin and, at its end, closes the
// process's stdin so it sees EOF (the FIFO alone does not carry that).
type stdinCloser struct {
	ctx     context.Context // for CloseIO, outliving the caller's
	r       io.Reader
	mu      sync.Mutex
	process containerd.Process
	ready   chan struct{}
}

func newStdinCloser(ctx context.Context, r io.Reader) *stdinCloser {
	return &stdinCloser{ctx: ctx, r: r, ready: make(chan struct{})}
}

func (s *stdinCloser) reader() io.Reader {
	if s.r == nil {
		return nil
	}
	return s
}

func (s *stdinCloser) setProcess(p containerd.Process) {
	s.mu.Lock()
	s.process = p
	s.mu.Unlock()
	close(s.ready)
}

func (s *stdinCloser) Read(p []byte) (int, error) {
	n, err := s.r.Read(p)
	if err == io.EOF {
		<-s.ready
		s.mu.Lock()
		proc := s.process
		s.mu.Unlock()
		if proc != nil {
			ctx, cancel := context.WithTimeout(s.ctx, 10*time.Second)
			_ = proc.CloseIO(ctx, containerd.WithStdinCloser)
			cancel()
		}
	}
	return n, err
}

// firstSize waits up to firstSizeWait for the first terminal size on
// resize, the size the process starts with.
func firstSize(ctx context.Context, resize <-chan TerminalSize) (TerminalSize, bool) {
	timer := time.NewTimer(firstSizeWait)
	defer timer.Stop()
	select {
	case sz, ok := <-resize:
		return sz, ok && sz.Width > 0 && sz.Height > 0
	case <-timer.C:
	case <-ctx.Done():
	}
	return TerminalSize{}, false
}
