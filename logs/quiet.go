package logs

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"sync"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

// quietAfter is how long a stream copied by Quiet.Copy goes without input
// before its goroutine ends and Quiet's one goroutine waits for it instead.
// Long enough that a stream writing steadily keeps its goroutine (waking a
// parked stream costs a few system calls and a goroutine start).
const quietAfter = 5 * time.Second

// Quiet waits for input on the quiet streams of every container with one
// goroutine. A container writes little most of its life, and a goroutine
// per stream waiting for it was two goroutines per container: 200 of the
// agent's 334 goroutines with 100 idle pods, whose stacks the start burst
// had left scattered over the stack spans. A stream quiet for quietAfter is
// parked in an epoll set of Quiet's own, which Go's network poller watches
// as any other descriptor; input, the end of the stream or the end of its
// copy's context starts a goroutine that copies again.
type Quiet struct {
	after time.Duration   // quietAfter, but in tests
	ep    *os.File        // the epoll set, non-blocking, in Go's poller
	raw   syscall.RawConn // ep's

	mu     sync.Mutex
	closed bool
	parked map[int32]*quietCopy // by the descriptor registered in ep
}

// NewQuiet starts the goroutine that waits for the parked streams. It ends
// when ctx does; the streams parked then are copied by goroutines of their
// own again.
func NewQuiet(ctx context.Context) (*Quiet, error) {
	return newQuiet(ctx, quietAfter)
}

func newQuiet(ctx context.Context, after time.Duration) (*Quiet, error) {
	fd, err := unix.EpollCreate1(unix.EPOLL_CLOEXEC)
	if err != nil {
		return nil, fmt.Errorf("epoll_create1: %w", err)
	}
	// Non-blocking, so that os.NewFile hands it to Go's poller.
	if err := unix.SetNonblock(fd, true); err != nil {
		unix.Close(fd)
		return nil, fmt.Errorf("epoll set non-blocking: %w", err)
	}
	ep := os.NewFile(uintptr(fd), "quiet-streams")
	raw, err := ep.SyscallConn()
	if err != nil {
		ep.Close()
		return nil, fmt.Errorf("epoll set: %w", err)
	}
	q := &Quiet{after: after, ep: ep, raw: raw, parked: map[int32]*quietCopy{}}
	go q.run()
	context.AfterFunc(ctx, q.close)
	return q, nil
}

// run resumes the streams that became readable (input, or the writer gone)
// until the set is closed.
func (q *Quiet) run() {
	events := make([]unix.EpollEvent, 64)
	for {
		var ready []*quietCopy
		err := q.raw.Read(func(fd uintptr) bool {
			n, err := unix.EpollWait(int(fd), events, 0)
			if err != nil || n <= 0 {
				return false // wait until the set is readable
			}
			q.mu.Lock()
			defer q.mu.Unlock()
			for _, ev := range events[:n] {
				if c := q.unparkLocked(ev.Fd); c != nil {
					ready = append(ready, c)
				}
			}
			return true
		})
		for _, c := range ready {
			go c.run()
		}
		if err != nil {
			return
		}
	}
}

// close ends the set and resumes every parked stream in a goroutine of its
// own; no stream parks from then on.
func (q *Quiet) close() {
	q.mu.Lock()
	q.closed = true
	var ready []*quietCopy
	for fd := range q.parked {
		ready = append(ready, q.unparkLocked(fd))
	}
	q.mu.Unlock()
	_ = q.ep.Close()
	for _, c := range ready {
		go c.run()
	}
}

// park adds c's stream to the set. On true its goroutine must end without
// touching c again: another one runs c when the stream is readable or its
// context ends. On false (the set is closed, the context ended, or the
// descriptor cannot be watched) the caller goes on copying.
func (q *Quiet) park(c *quietCopy) bool {
	q.mu.Lock()
	defer q.mu.Unlock()
	// Its context's end, once checked here, wakes it: wake takes q.mu.
	if q.closed || c.ctx.Err() != nil {
		return false
	}
	q.parked[c.fd] = c
	var err error
	ctl := q.raw.Control(func(ep uintptr) {
		// One-shot: a readable stream is reported once and its
		// copy resumed once; it is taken out of the set before it
		// is read again.
		err = unix.EpollCtl(int(ep), unix.EPOLL_CTL_ADD, int(c.fd), &unix.EpollEvent{Events: unix.EPOLLIN | unix.EPOLLONESHOT, Fd: c.fd})
	})
	if err != nil || ctl != nil {
		delete(q.parked, c.fd)
		return false
	}
	return true
}

// wake resumes c in a goroutine if it is parked (its context ended).
func (q *Quiet) wake(c *quietCopy) {
	q.mu.Lock()
	parked := q.parked[c.fd] == c
	if parked {
		q.unparkLocked(c.fd)
	}
	q.mu.Unlock()
	if parked {
		go c.run()
	}
}

// unparkLocked takes the stream registered as fd out of the set and returns
// its copy, nil if none is parked there.
func (q *Quiet) unparkLocked(fd int32) *quietCopy {
	c := q.parked[fd]
	if c == nil {
		return nil
	}
	delete(q.parked, fd)
	// Before the descriptor can be closed: ep must never hold a number
	// that names another file by then. Fails only once ep is closed,
	// which drops the registration with it.
	_ = q.raw.Control(func(ep uintptr) {
		_ = unix.EpollCtl(int(ep), unix.EPOLL_CTL_DEL, int(fd), nil)
	})
	return c
}

// Copy does what the package's Copy does, in the background, and calls done
// with what Copy would return once the stream ended (done runs on a
// goroutine of its own, not the caller's). While the stream is quiet no
// goroutine waits for it. A stream that cannot be watched (r has no file
// descriptor) is copied by Copy in a goroutine.
func (q *Quiet) Copy(ctx context.Context, dst io.Writer, r io.Reader, done func(error)) {
	go func() {
		// Waits until r is open (a FIFO's writer came).
		f, fd, err := dupReader(r)
		if err != nil {
			done(Copy(ctx, dst, r))
			return
		}
		c := &quietCopy{q: q, f: f, fd: int32(fd), done: done}
		c.copier = newCopier(ctx, dst, f)
		c.stop = context.AfterFunc(ctx, func() {
			interrupt(f)
			q.wake(c)
		})
		c.run()
	}()
}

// dupReader returns a file of its own on r's descriptor, with read
// deadlines (what tells a quiet stream) that r, a FIFO from
// github.com/containerd/fifo, does not offer, and its descriptor (not
// f.Fd(): that makes f blocking). It waits until r is open.
func dupReader(r io.Reader) (*os.File, int, error) {
	sc, ok := r.(syscall.Conn)
	if !ok {
		return nil, 0, errors.ErrUnsupported
	}
	raw, err := sc.SyscallConn()
	if err != nil {
		return nil, 0, err
	}
	nfd := -1
	var dupErr error
	if err := raw.Control(func(fd uintptr) {
		nfd, dupErr = unix.FcntlInt(fd, unix.F_DUPFD_CLOEXEC, 0)
	}); err != nil {
		return nil, 0, err
	}
	if dupErr != nil {
		return nil, 0, fmt.Errorf("dup: %w", dupErr)
	}
	// Go's poller takes only a non-blocking descriptor, and a FIFO
	// opened with os.OpenFile is one; the flag belongs to the open file,
	// so r is not changed by this.
	if fl, err := unix.FcntlInt(uintptr(nfd), unix.F_GETFL, 0); err != nil || fl&unix.O_NONBLOCK == 0 {
		unix.Close(nfd)
		return nil, 0, errors.ErrUnsupported
	}
	return os.NewFile(uintptr(nfd), "stream"), nfd, nil
}

// quietCopy is one stream copied by Quiet.Copy: run by one goroutine at a
// time, or parked in the set with none.
type quietCopy struct {
	*copier
	q    *Quiet
	f    *os.File // a descriptor of its own on the stream
	fd   int32    // f's, as registered in q while parked
	done func(error)
	stop func() bool // the context's AfterFunc

	unparkable bool // q would not take it: copy without deadlines
}

// run copies until the stream ends, or parks it once it is quiet.
func (c *quietCopy) run() {
	for {
		var deadline func(time.Time) error
		if !c.unparkable {
			deadline = c.f.SetReadDeadline
		}
		ended, err := c.copy(deadline, c.q.after)
		if !ended {
			if c.q.park(c) {
				return
			}
			c.unparkable = true
			_ = c.f.SetReadDeadline(time.Time{})
			if c.ctx.Err() != nil {
				// Its interrupt may have been undone just now.
				interrupt(c.f)
			}
			continue
		}
		c.stop()
		_ = c.f.Close()
		c.done(err)
		return
	}
}
