package probe

import (
	"context"
	"errors"
	"io"
	"net"
	"net/netip"
	"os"
	"strconv"
	"sync"
	"time"

	"golang.org/x/sys/unix"
)

// pollSlots bounds how many probe connections are open on pollConns at once
// (beyond it, probes use net.Dialer). A pollConn waits in poll(2) on the
// probing goroutine's thread, so each one waiting holds an OS thread, which
// the Go runtime keeps for good once made.
const pollSlots = 8

// Dialer makes the probes' TCP connections: kubelet's lingering dialer,
// bounded by the probe's timeout. A connection to an IP address is made
// with plain system calls and waited for in poll(2) on the calling thread
// (pollConn) instead of in Go's network poller: a probe connection lives for
// one request, and registering it with epoll, parking the goroutine and
// waking a thread to resume it cost the agent more than the connection
// itself (BENCHMARKS.md, "Probe CPU"). Host names, and connections beyond
// pollSlots at once, go through net.Dialer. Safe for concurrent use.
type Dialer struct {
	slots chan struct{}
}

// NewDialer returns a Dialer.
func NewDialer() *Dialer {
	return &Dialer{slots: make(chan struct{}, pollSlots)}
}

// dial connects to addr ("ip:port" or "host:port") within timeout (0: no
// bound but ctx's) and returns the connection, with net.Dialer's errors.
func (d *Dialer) dial(ctx context.Context, addr string, timeout time.Duration) (net.Conn, error) {
	ap, err := netip.ParseAddrPort(addr)
	if err != nil || ap.Addr().Zone() != "" || ap.Addr().Is4In6() {
		// A name to resolve, a scoped or IPv4-mapped address: net's way.
		return dialer(timeout).DialContext(ctx, "tcp", addr)
	}
	select {
	case d.slots <- struct{}{}:
	default:
		return dialer(timeout).DialContext(ctx, "tcp", addr)
	}
	c, err := pollDial(ctx, ap, timeout, func() { <-d.slots })
	if err != nil {
		<-d.slots
		return nil, err
	}
	return c, nil
}

// dialFunc is dial for net/http's and plainTransport's DialContext.
func (d *Dialer) dialFunc(timeout time.Duration) func(ctx context.Context, network, addr string) (net.Conn, error) {
	return func(ctx context.Context, network, addr string) (net.Conn, error) {
		if network != "tcp" {
			return dialer(timeout).DialContext(ctx, network, addr)
		}
		return d.dial(ctx, addr, timeout)
	}
}

// TCP opens a TCP connection to host:port within timeout and closes it at
// once without sending anything. A refused or timed-out connect is a Failure
// carrying the dial error text.
func (d *Dialer) TCP(ctx context.Context, host string, port int, timeout time.Duration) (Result, string, error) {
	conn, err := d.dial(ctx, net.JoinHostPort(host, strconv.Itoa(port)), timeout)
	if err != nil {
		return Failure, err.Error(), nil
	}
	_ = conn.Close() // the connect was the check; a close error changes nothing
	return Success, "", nil
}

// pollConn is a TCP connection on a non-blocking socket that is never
// registered with Go's network poller: reads, writes and the connect wait
// in ppoll(2) on the calling goroutine's thread. Its errors and their texts
// are net.TCPConn's. Close may be called at any time, from any goroutine:
// it wakes an operation waiting (shutdown(2)), and the descriptor is
// closed once no operation uses it any more, so its number cannot be reused
// under a waiting poll.
type pollConn struct {
	fd      int
	raddr   *net.TCPAddr
	release func() // returns the Dialer's slot, once the descriptor is closed

	mu       sync.Mutex
	busy     int  // operations using fd
	closed   bool // Close was called; the last operation out closes fd
	deadline time.Time
}

// pollDial connects to ap within timeout and ctx, as net.Dialer with
// kubelet's SO_LINGER: the same system calls but for the ones a connection
// of one request does not need (TCP_NODELAY: the request is one write;
// keep-alive probes: it lives for less than their 15 s idle time;
// getsockname: the local address is read only for an error's text).
func pollDial(ctx context.Context, ap netip.AddrPort, timeout time.Duration, release func()) (*pollConn, error) {
	raddr := net.TCPAddrFromAddrPort(ap)
	fail := func(err error) error { return &net.OpError{Op: "dial", Net: "tcp", Addr: raddr, Err: err} }
	if err := ctx.Err(); err != nil {
		return nil, fail(dialCtxErr(err))
	}
	var deadline time.Time
	if timeout > 0 {
		deadline = time.Now().Add(timeout)
	}
	if d, ok := ctx.Deadline(); ok && (deadline.IsZero() || d.Before(deadline)) {
		deadline = d
	}

	var sa unix.Sockaddr
	family := unix.AF_INET6
	if ap.Addr().Is4() {
		family = unix.AF_INET
		sa = &unix.SockaddrInet4{Port: int(ap.Port()), Addr: ap.Addr().As4()}
	} else {
		sa = &unix.SockaddrInet6{Port: int(ap.Port()), Addr: ap.Addr().As16()}
	}
	fd, err := unix.Socket(family, unix.SOCK_STREAM|unix.SOCK_NONBLOCK|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return nil, fail(os.NewSyscallError("socket", err))
	}
	c := &pollConn{fd: fd, raddr: raddr, release: func() {}, busy: 1}
	if err := unix.SetsockoptLinger(fd, unix.SOL_SOCKET, unix.SO_LINGER, &unix.Linger{Onoff: 1, Linger: 1}); err != nil {
		_ = unix.Close(fd)
		return nil, fail(err) // as dialer's Control reports it
	}
	// A cancelled dial is woken at once rather than at its deadline.
	stop := context.AfterFunc(ctx, c.interrupt)
	err = c.connect(ctx, sa, deadline)
	if !stop() && err == nil {
		err = dialCtxErr(ctx.Err()) // cancelled as it connected: net.Dialer fails it too
	}
	if err != nil {
		c.mu.Lock()
		c.closed = true // dial gives back the slot of a failed dial
		c.mu.Unlock()
		c.end()
		return nil, fail(err)
	}
	c.release = release
	c.end()
	return c, nil
}

// connect is the non-blocking connect(2) and its wait, as net's.
func (c *pollConn) connect(ctx context.Context, sa unix.Sockaddr, deadline time.Time) error {
	switch err := unix.Connect(c.fd, sa); err {
	case nil, unix.EISCONN:
		return nil
	case unix.EINPROGRESS, unix.EALREADY, unix.EINTR:
	default:
		return os.NewSyscallError("connect", err)
	}
	for {
		if err := c.wait(ctx, unix.POLLOUT, deadline); err != nil {
			if err == errWaitCtx {
				return dialCtxErr(ctx.Err())
			}
			if err == os.ErrDeadlineExceeded {
				return &timeoutError{"i/o timeout"} // net's text for a dial's timeout
			}
			return err
		}
		soerr, err := unix.GetsockoptInt(c.fd, unix.SOL_SOCKET, unix.SO_ERROR)
		if err != nil {
			return os.NewSyscallError("getsockopt", err)
		}
		switch err := unix.Errno(soerr); err {
		case 0, unix.EISCONN:
			return nil
		case unix.EINPROGRESS, unix.EALREADY, unix.EINTR:
		default:
			return os.NewSyscallError("connect", err)
		}
	}
}

// errWaitCtx is wait's report that its context ended.
var errWaitCtx = errors.New("context ended")

// wait blocks the thread in ppoll(2) until fd is ready for events, or until
// deadline (zero: none) or ctx's (nil: none; whoever ends ctx must
// interrupt the wait), or until Close. It reports os.ErrDeadlineExceeded
// for deadline, errWaitCtx once ctx has ended (a passed deadline of ctx is
// waited for until ctx says so, for callers that read ctx.Err()) and
// net.ErrClosed after Close.
func (c *pollConn) wait(ctx context.Context, events int16, deadline time.Time) error {
	ctxBound := false
	if ctx != nil {
		d, ok := ctx.Deadline()
		if ok && (deadline.IsZero() || !d.After(deadline)) {
			deadline, ctxBound = d, true
		}
	}
	fds := []unix.PollFd{{Fd: int32(c.fd), Events: events}}
	for {
		if c.isClosed() {
			return net.ErrClosed
		}
		if ctx != nil && ctx.Err() != nil {
			return errWaitCtx
		}
		var ts *unix.Timespec
		if !deadline.IsZero() {
			left := time.Until(deadline)
			if left <= 0 {
				if ctxBound {
					<-ctx.Done()
					return errWaitCtx
				}
				return os.ErrDeadlineExceeded
			}
			t := unix.NsecToTimespec(int64(left))
			ts = &t
		}
		n, err := unix.Ppoll(fds, ts, nil)
		if err != nil && err != unix.EINTR {
			return os.NewSyscallError("ppoll", err)
		}
		if n > 0 && !c.isClosed() && (ctx == nil || ctx.Err() == nil) {
			return nil
		}
	}
}

// Read reads as net.TCPConn's Read.
func (c *pollConn) Read(b []byte) (int, error) {
	if err := c.begin(); err != nil {
		return 0, c.opErr("read", err)
	}
	defer c.end()
	if len(b) == 0 {
		return 0, nil
	}
	for {
		n, err := unix.Read(c.fd, b)
		switch {
		case err == nil && n == 0 && c.isClosed():
			return 0, c.opErr("read", net.ErrClosed) // the shutdown(2) of a Close meanwhile
		case err == nil && n == 0:
			return 0, io.EOF
		case err == nil:
			return n, nil
		case err == unix.EINTR:
			continue
		case err != unix.EAGAIN:
			return 0, c.opErr("read", os.NewSyscallError("read", err))
		}
		if err := c.wait(nil, unix.POLLIN, c.getDeadline()); err != nil {
			return 0, c.opErr("read", err)
		}
	}
}

// Write writes all of b, as net.TCPConn's Write.
func (c *pollConn) Write(b []byte) (int, error) {
	if err := c.begin(); err != nil {
		return 0, c.opErr("write", err)
	}
	defer c.end()
	done := 0
	for done < len(b) {
		n, err := unix.Write(c.fd, b[done:])
		switch {
		case err == nil:
			done += n
			continue
		case err == unix.EINTR:
			continue
		case err != unix.EAGAIN:
			return done, c.opErr("write", os.NewSyscallError("write", err))
		}
		if err := c.wait(nil, unix.POLLOUT, c.getDeadline()); err != nil {
			return done, c.opErr("write", err)
		}
	}
	return done, nil
}

// Close closes the connection; an operation waiting meanwhile returns
// net.ErrClosed.
func (c *pollConn) Close() error {
	c.mu.Lock()
	if c.closed {
		c.mu.Unlock()
		return c.opErr("close", net.ErrClosed)
	}
	c.closed = true
	if c.busy > 0 {
		_ = unix.Shutdown(c.fd, unix.SHUT_RDWR) // wakes the wait; the last one out closes fd
		c.mu.Unlock()
		return nil
	}
	c.mu.Unlock()
	return c.destroy()
}

// interrupt wakes the dial's wait, for a cancelled context.
func (c *pollConn) interrupt() {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.busy > 0 {
		_ = unix.Shutdown(c.fd, unix.SHUT_RDWR)
	}
}

func (c *pollConn) begin() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closed {
		return net.ErrClosed
	}
	c.busy++
	return nil
}

func (c *pollConn) end() {
	c.mu.Lock()
	c.busy--
	last := c.closed && c.busy == 0
	c.mu.Unlock()
	if last {
		_ = c.destroy()
	}
}

func (c *pollConn) isClosed() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.closed
}

// destroy closes fd (with SO_LINGER, close waits up to 1 s for the peer to
// take the FIN, as net's does) and gives back the slot.
func (c *pollConn) destroy() error {
	err := unix.Close(c.fd)
	c.release()
	if err != nil {
		return c.opErr("close", os.NewSyscallError("close", err))
	}
	return nil
}

// opErr is err as net.TCPConn reports it for op (net reads the local address at the dial; here only an error needs it).
func (c *pollConn) opErr(op string, err error) error {
	var src net.Addr
	c.mu.Lock()
	if !c.closed || c.busy > 0 { // else fd may be another file's by now
		if sa, serr := unix.Getsockname(c.fd); serr == nil {
			src = tcpAddr(sa)
		}
	}
	c.mu.Unlock()
	return &net.OpError{Op: op, Net: "tcp", Source: src, Addr: c.raddr, Err: err}
}

// LocalAddr reads the socket's address (nil once closed).
func (c *pollConn) LocalAddr() net.Addr {
	if err := c.begin(); err != nil {
		return nil
	}
	defer c.end()
	sa, err := unix.Getsockname(c.fd)
	if err != nil {
		return nil
	}
	return tcpAddr(sa)
}

// RemoteAddr is the address dialed.
func (c *pollConn) RemoteAddr() net.Addr { return c.raddr }

// SetDeadline bounds the reads and writes that start after it (not one
// already waiting, unlike net's), on top of the dial's context.
func (c *pollConn) SetDeadline(t time.Time) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.deadline = t
	return nil
}

// SetReadDeadline is SetDeadline: the two are one here.
func (c *pollConn) SetReadDeadline(t time.Time) error { return c.SetDeadline(t) }

// SetWriteDeadline is SetDeadline: the two are one here.
func (c *pollConn) SetWriteDeadline(t time.Time) error { return c.SetDeadline(t) }

func (c *pollConn) getDeadline() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.deadline
}

func tcpAddr(sa unix.Sockaddr) net.Addr {
	switch sa := sa.(type) {
	case *unix.SockaddrInet4:
		return &net.TCPAddr{IP: net.IP(sa.Addr[:]).To16(), Port: sa.Port}
	case *unix.SockaddrInet6:
		return &net.TCPAddr{IP: net.IP(sa.Addr[:]), Port: sa.Port}
	}
	return nil
}

// dialCtxErr is net.Dialer's error for a dial its context ended: "i/o
// timeout" for a deadline, "operation was canceled" otherwise.
func dialCtxErr(err error) error {
	if err == context.DeadlineExceeded {
		return &timeoutError{"i/o timeout"}
	}
	return canceledError{}
}

// canceledError is net's "operation was canceled", context.Canceled to
// errors.Is.
type canceledError struct{}

func (canceledError) Error() string        { return "operation was canceled" }
func (canceledError) Is(target error) bool { return target == context.Canceled }
