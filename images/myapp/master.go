package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"sync"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

// errorLog writes nginx-style error log lines:
// "2020/06/27 02:51:21 [notice] 1#1: message".
type errorLog struct {
	mu  sync.Mutex
	w   io.Writer
	pid int
	now func() time.Time
}

func newErrorLog(w io.Writer) *errorLog {
	return &errorLog{w: w, pid: os.Getpid(), now: time.Now}
}

func (l *errorLog) Printf(level, format string, args ...any) {
	l.mu.Lock()
	defer l.mu.Unlock()
	fmt.Fprintf(l.w, "%s [%s] %d#%d: %s\n", l.now().Format("2006/01/02 15:04:05"), level, l.pid, l.pid, fmt.Sprintf(format, args...))
}

// master is the long-running server process, nginx's "master process": it
// owns the configuration, the PID file and the listening sockets, and acts
// on signals. In nginx the workers serve requests; here the master does,
// and "stopping the workers" means closing the listening sockets while the
// process itself stays, which is what a TCP liveness probe can see.
type master struct {
	confPath string
	globals  []directive // from -g
	errlog   *errorLog
	handler  *handler
	// listen opens a listening socket; net.Listen unless a test sets it.
	listen func(network, addr string) (net.Listener, error)

	mu      sync.Mutex
	conf    *Config
	addrs   []string // configured listen addresses of the open servers
	servers []*server
	bound   []net.Addr
	wg      sync.WaitGroup
}

func newMaster(confPath string, globals []directive, errw, accessw io.Writer) *master {
	el := newErrorLog(errw)
	return &master{
		confPath: confPath,
		globals:  globals,
		errlog:   el,
		handler:  &handler{access: accessw, errlog: el},
		listen:   net.Listen,
	}
}

// load reads the configuration with the -g directives applied.
func (m *master) load() (*Config, error) {
	ds, err := parseFile(m.confPath)
	if err != nil {
		return nil, err
	}
	return buildConfig(append(ds, m.globals...))
}

// start loads the configuration, writes the PID file and starts serving.
func (m *master) start() error {
	conf, err := m.load()
	if err != nil {
		return err
	}
	if len(conf.Servers) > 1 {
		m.errlog.Printf("warn", "%d server blocks are configured; only the first one is served", len(conf.Servers))
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	m.conf = conf
	m.handler.server.Store(&conf.Servers[0])
	if err := os.MkdirAll(filepath.Dir(conf.PIDFile), 0o755); err != nil {
		return fmt.Errorf("create directory of pid file %q: %w", conf.PIDFile, err)
	}
	if err := os.WriteFile(conf.PIDFile, []byte(strconv.Itoa(os.Getpid())+"\n"), 0o644); err != nil {
		return fmt.Errorf("open() \"%s\" failed: %w", conf.PIDFile, err)
	}
	return m.openLocked(conf.Servers[0].Listen)
}

// openLocked opens servers on addrs, all or none.
func (m *master) openLocked(addrs []string) error {
	var lns []net.Listener
	for _, a := range addrs {
		ln, err := m.listen("tcp", a)
		if err != nil {
			for _, l := range lns {
				l.Close()
			}
			return fmt.Errorf("bind() to %s failed: %w", a, err)
		}
		lns = append(lns, ln)
	}
	m.addrs = slices.Clone(addrs)
	m.bound = nil
	for _, ln := range lns {
		s := &server{ln: ln, busy: make(map[net.Conn]struct{})}
		s.srv = &http.Server{Handler: m.handler, ReadHeaderTimeout: 60 * time.Second, ConnState: s.connState}
		m.servers = append(m.servers, s)
		m.bound = append(m.bound, ln.Addr())
		m.wg.Add(1)
		go func() {
			defer m.wg.Done()
			if err := s.srv.Serve(countingListener{ln, s}); err != nil && !errors.Is(err, http.ErrServerClosed) {
				m.errlog.Printf("alert", "serve on %s: %v", ln.Addr(), err)
			}
		}()
	}
	return nil
}

// server is one listening socket and the HTTP server on it, with what a
// graceful stop waits on.
type server struct {
	srv *http.Server
	ln  net.Listener // as opened: the socket whose accept queue is read

	mu sync.Mutex
	// accepted counts the connections taken from the accept queue, taken
	// those the HTTP server has in charge (they reached StateNew); busy
	// holds those that have not answered a request yet or are answering
	// one. http.Server.Shutdown closes, without an answer, a connection
	// whose request it reads after the shutdown began.
	accepted, taken int64
	busy            map[net.Conn]struct{}
}

func (s *server) connState(c net.Conn, st http.ConnState) {
	s.mu.Lock()
	defer s.mu.Unlock()
	switch st {
	case http.StateNew:
		s.taken++
		s.busy[c] = struct{}{}
	case http.StateActive:
		s.busy[c] = struct{}{}
	default:
		delete(s.busy, c)
	}
}

// quiet tells whether every accepted connection is in the HTTP server's
// charge and none is waiting for or answering a request, and how many
// connections were accepted so far.
func (s *server) quiet() (bool, int64) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.accepted == s.taken && len(s.busy) == 0, s.accepted
}

// countingListener counts the connections its server accepts.
type countingListener struct {
	net.Listener
	s *server
}

func (l countingListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err == nil {
		l.s.mu.Lock()
		l.s.accepted++
		l.s.mu.Unlock()
	}
	return c, err
}

// closeLocked stops the servers; graceful lets requests in flight finish
// (within ctx), as nginx's graceful shutdown does.
func (m *master) closeLocked(ctx context.Context, graceful bool) {
	for _, s := range m.servers {
		if graceful {
			s.drain(ctx)
			if err := s.srv.Shutdown(ctx); err == nil {
				continue
			}
		}
		s.srv.Close()
	}
	// A server whose Serve goroutine has not started yet does not know its
	// listener; close them here so the port is closed when this returns.
	for _, s := range m.servers {
		s.ln.Close()
	}
	m.servers, m.addrs, m.bound = nil, nil, nil
}

// drain waits, within ctx, until the kernel holds no connection on the
// socket that the HTTP server has not taken in charge yet and the server
// answers no request (it keeps serving meanwhile). Closing a listening
// socket resets the connections still in its accept queue, and Shutdown
// drops a request it reads after it began; on a graceful stop those are
// clients that connected before the stop, such as the last ones a Service
// sent to this pod before its rules dropped it, and they are owed an
// answer. A listener whose queue cannot be read is not waited for.
func (s *server) drain(ctx context.Context) {
	sc, ok := s.ln.(syscall.Conn)
	if !ok {
		return
	}
	raw, err := sc.SyscallConn()
	if err != nil {
		return
	}
	// A connection the kernel has handed to accept(2) but the server has
	// not counted yet is in neither count: the queue and the server must
	// look quiet twice in a row, with no accept in between.
	settled := int64(-1)
	for {
		// For a listening socket, TCP_INFO's unacked is the length of its
		// accept queue.
		var info *unix.TCPInfo
		var ierr error
		if err := raw.Control(func(fd uintptr) {
			info, ierr = unix.GetsockoptTCPInfo(int(fd), unix.IPPROTO_TCP, unix.TCP_INFO)
		}); err != nil || ierr != nil {
			return
		}
		quiet, accepted := s.quiet()
		switch {
		case info.Unacked != 0 || !quiet:
			settled = -1
		case accepted == settled:
			return
		default:
			settled = accepted
		}
		select {
		case <-ctx.Done():
			return
		case <-time.After(5 * time.Millisecond):
		}
	}
}

// Addrs returns the addresses being listened on, none while stopped.
func (m *master) Addrs() []net.Addr {
	m.mu.Lock()
	defer m.mu.Unlock()
	return slices.Clone(m.bound)
}

// reload re-reads the configuration, as SIGHUP does in nginx: on an error
// the old configuration stays in force; otherwise the new one serves the
// next request, and the sockets are reopened when the listen addresses
// changed or serving had been stopped.
func (m *master) reload() error {
	conf, err := m.load()
	if err != nil {
		m.errlog.Printf("emerg", "%v", err)
		return err
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	want := conf.Servers[0].Listen
	if m.servers == nil || !slices.Equal(want, m.addrs) {
		oldAddrs := m.addrs
		// Free the old ports first: the new set usually overlaps them.
		m.closeLocked(context.Background(), false)
		if err := m.openLocked(want); err != nil {
			m.errlog.Printf("emerg", "%v", err)
			if len(oldAddrs) > 0 {
				if rerr := m.openLocked(oldAddrs); rerr != nil {
					m.errlog.Printf("alert", "reopen %v: %v", oldAddrs, rerr)
				}
			}
			return err
		}
	}
	m.conf = conf
	m.handler.server.Store(&conf.Servers[0])
	return nil
}

// stopServing closes the listening sockets and leaves the process running.
func (m *master) stopServing(graceful bool) {
	m.mu.Lock()
	defer m.mu.Unlock()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	m.closeLocked(ctx, graceful)
}

// shutdown stops serving, waits for the servers to finish and removes the
// PID file.
func (m *master) shutdown(graceful bool) {
	m.stopServing(graceful)
	m.wg.Wait()
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.conf != nil {
		_ = os.Remove(m.conf.PIDFile)
	}
}

// Signals the master handles, with nginx's meanings where nginx has one.
var masterSignals = []os.Signal{
	syscall.SIGHUP,   // reload the configuration (and serve again after a stop)
	syscall.SIGWINCH, // stop serving, keep running (nginx: stop the workers)
	syscall.SIGTERM,  // fast shutdown: exit
	syscall.SIGINT,   // fast shutdown: exit
	syscall.SIGQUIT,  // graceful shutdown: exit (the image's StopSignal)
	syscall.SIGUSR1,  // reopen log files: nothing to reopen
}

// run handles signals until one asks the process to exit or ctx ends.
func (m *master) run(ctx context.Context, sigs <-chan os.Signal) {
	for {
		select {
		case <-ctx.Done():
			m.shutdown(false)
			return
		case sig := <-sigs:
			s, _ := sig.(syscall.Signal)
			name := signalName(s)
			switch s {
			case syscall.SIGHUP:
				m.errlog.Printf("notice", "signal %d (%s) received, reconfiguring", int(s), name)
				if m.reload() == nil {
					m.errlog.Printf("notice", "reconfiguring done")
				}
			case syscall.SIGWINCH:
				m.errlog.Printf("notice", "signal %d (%s) received, stopping the server; the master process keeps running", int(s), name)
				m.stopServing(true)
			case syscall.SIGUSR1:
				m.errlog.Printf("notice", "signal %d (%s) received, reopening logs", int(s), name)
			case syscall.SIGQUIT:
				m.errlog.Printf("notice", "signal %d (%s) received, shutting down", int(s), name)
				m.shutdown(true)
				m.errlog.Printf("notice", "exit")
				return
			default:
				m.errlog.Printf("notice", "signal %d (%s) received, exiting", int(s), name)
				m.shutdown(false)
				m.errlog.Printf("notice", "exit")
				return
			}
		}
	}
}

func signalName(s syscall.Signal) string {
	switch s {
	case syscall.SIGHUP:
		return "SIGHUP"
	case syscall.SIGWINCH:
		return "SIGWINCH"
	case syscall.SIGTERM:
		return "SIGTERM"
	case syscall.SIGINT:
		return "SIGINT"
	case syscall.SIGQUIT:
		return "SIGQUIT"
	case syscall.SIGUSR1:
		return "SIGUSR1"
	}
	return s.String()
}
