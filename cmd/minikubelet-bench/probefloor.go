package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"strconv"
	"time"
	"unsafe"

	v1 "k8s.io/api/core/v1"

	"golang.org/x/sys/unix"

	"github.com/minikubelet/minikubelet/prober/probe"
)

// The probing floor: the probes the agent runs, sent by the least client
// that can send them, in a process of its own, so that its CPU is the cost
// of the probes themselves (mostly the kernel's, for a new TCP connection
// per probe) and the agent's figure can be read against it.

// probeFloorCommand, as the bench's first argument, makes the bench binary
// the floor's client (probeFloorMain). Not a flag: only the bench runs it.
const probeFloorCommand = "probe-floor"

// probeUserAgent is the agent's probe User-Agent (kube-probe/<its kubelet
// minor>); a test keeps the two equal.
const probeUserAgent = "kube-probe/1.34"

// floorTarget is one probed container: its HTTP probe, as the bytes of the
// request the agent sends, and its TCP probe.
type floorTarget struct {
	IP       string `json:"ip"`
	HTTPPort int    `json:"httpPort"`
	Request  []byte `json:"request"`
	TCPPort  int    `json:"tcpPort"`
}

// probeFloorSpec is what the bench hands the floor's client on its stdin.
type probeFloorSpec struct {
	Targets []floorTarget `json:"targets"`
	Period  time.Duration `json:"period"`
	Timeout time.Duration `json:"timeout"`
}

// probeFloorResult is what the client reports when its stdin closes.
type probeFloorResult struct {
	Probes     int    `json:"probes"`
	Failed     int    `json:"failed"`
	FirstError string `json:"firstError,omitempty"`
}

// floorTargets builds the targets for pods made by probedPod, one per pod
// IP: the request as the agent's HTTP prober writes it (prober/probe's
// request, and "Connection: close", as its transport adds), the ports from
// the probes. The floor can therefore not drift from what the agent sends.
// It also returns the readiness probe, for its period and timeout.
func floorTargets(ctx context.Context, ips []string) ([]floorTarget, *v1.Probe, error) {
	c := probedPod("").Spec.Containers[0]
	readiness, liveness := c.ReadinessProbe, c.LivenessProbe
	tcpPort, err := probe.ResolvePort(liveness.TCPSocket.Port, &c)
	if err != nil {
		return nil, nil, err
	}
	httpPort, err := probe.ResolvePort(readiness.HTTPGet.Port, &c)
	if err != nil {
		return nil, nil, err
	}
	var out []floorTarget
	for _, ip := range ips {
		req, err := floorRequest(ctx, readiness.HTTPGet, &c, ip)
		if err != nil {
			return nil, nil, err
		}
		out = append(out, floorTarget{IP: ip, HTTPPort: httpPort, Request: req, TCPPort: tcpPort})
	}
	return out, readiness, nil
}

// floorRequest is the request the agent's HTTP probe of action sends to
// podIP, byte for byte.
func floorRequest(ctx context.Context, action *v1.HTTPGetAction, c *v1.Container, podIP string) ([]byte, error) {
	req, err := probe.NewHTTPRequest(ctx, action, c, podIP, probeUserAgent)
	if err != nil {
		return nil, err
	}
	req.Close = true // as the agent's transport
	var buf bytes.Buffer
	if err := req.Write(&buf); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

// probeSlot is one probe of a round: when in the period, which target, and
// whether it is the HTTP (else the TCP) probe.
type probeSlot struct {
	At     time.Duration
	Target int
	HTTP   bool
}

// probeSlots spreads the 2n probes of n targets evenly over one period,
// each target's HTTP probe followed by its TCP probe: every probe on a
// grid of period, as the agent's workers run them.
func probeSlots(n int, period time.Duration) []probeSlot {
	out := make([]probeSlot, 0, 2*n)
	for k := range 2 * n {
		out = append(out, probeSlot{At: period * time.Duration(k) / time.Duration(2*n), Target: k / 2, HTTP: k%2 == 0})
	}
	return out
}

// probeFloorMain is the floor's client: it reads a probeFloorSpec from
// stdin and probes its targets on their grid, one probe after the other,
// in one goroutine that never parks: it sleeps, connects, reads and writes
// in raw system calls (rawCall), so that the Go runtime does next to
// nothing besides. After the first round it writes "ready" to stdout; once
// stdin is closed, it stops at the end of a round and writes its
// probeFloorResult.
func probeFloorMain(stdin *os.File, stdout io.Writer) int {
	var spec probeFloorSpec
	if err := json.NewDecoder(stdin).Decode(&spec); err != nil {
		fmt.Fprintln(os.Stderr, "probe-floor: reading the spec:", err)
		return 2
	}
	addrs := make([][4]byte, len(spec.Targets))
	for i, t := range spec.Targets {
		ip := net.ParseIP(t.IP).To4()
		if ip == nil {
			fmt.Fprintf(os.Stderr, "probe-floor: target %d: %q is not an IPv4 address\n", i, t.IP)
			return 2
		}
		addrs[i] = [4]byte(ip)
	}
	var now unix.Timespec
	if err := unix.ClockGettime(unix.CLOCK_MONOTONIC, &now); err != nil {
		fmt.Fprintln(os.Stderr, "probe-floor:", err)
		return 1
	}
	start := time.Duration(now.Nano())

	var res probeFloorResult
	buf := make([]byte, 16<<10)
	slots := probeSlots(len(spec.Targets), spec.Period)
	for round := 0; ; round++ {
		base := start + time.Duration(round)*spec.Period
		for _, s := range slots {
			sleepUntil(base + s.At)
			t := spec.Targets[s.Target]
			var err error
			if s.HTTP {
				err = httpFloorProbe(addrs[s.Target], t.HTTPPort, t.Request, spec.Timeout, buf)
			} else {
				err = tcpFloorProbe(addrs[s.Target], t.TCPPort, spec.Timeout)
			}
			res.Probes++
			if err != nil {
				res.Failed++
				if res.FirstError == "" {
					res.FirstError = fmt.Sprintf("%s: %v", t.IP, err)
				}
			}
		}
		if round == 0 {
			fmt.Fprintln(stdout, "ready")
		}
		if closed(int(stdin.Fd())) {
			break
		}
	}
	if err := json.NewEncoder(stdout).Encode(res); err != nil {
		return 1
	}
	return 0
}

// sleepUntil sleeps until at on the monotonic clock.
func sleepUntil(at time.Duration) {
	ts := unix.NsecToTimespec(int64(at))
	for {
		_, _, errno := unix.RawSyscall6(unix.SYS_CLOCK_NANOSLEEP, unix.CLOCK_MONOTONIC, unix.TIMER_ABSTIME, uintptr(unsafe.Pointer(&ts)), 0, 0, 0)
		if errno != unix.EINTR {
			return
		}
	}
}

// closed says, without waiting, whether the other end of fd (a pipe) has
// closed it; anything written to it meanwhile is read and dropped.
func closed(fd int) bool {
	pfd := unix.PollFd{Fd: int32(fd), Events: unix.POLLIN}
	var zero unix.Timespec
	n, _, errno := unix.RawSyscall6(unix.SYS_PPOLL, uintptr(unsafe.Pointer(&pfd)), 1, uintptr(unsafe.Pointer(&zero)), 0, 0, 0)
	if errno != 0 || n == 0 {
		return false
	}
	if pfd.Revents&(unix.POLLERR|unix.POLLNVAL) != 0 {
		return true
	}
	var b [512]byte
	r, err := rawRetry(unix.SYS_READ, uintptr(fd), uintptr(unsafe.Pointer(&b[0])), uintptr(len(b)))
	return err == nil && r == 0
}

// dialFloor opens a TCP connection with the socket options of the agent's
// probe connections: SO_LINGER of 1 s (prober/probe's dialer, as the
// kubelet's), TCP_NODELAY and keep-alive at 15 s, 15 s, 9 (what Go's net
// sets on every TCP connection it dials). The timeout bounds the connect
// and every later read and write, as the probe's timeout does the agent's.
func dialFloor(ip [4]byte, port int, timeout time.Duration) (int, error) {
	fd, err := unix.Socket(unix.AF_INET, unix.SOCK_STREAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return -1, err
	}
	tv := unix.NsecToTimeval(timeout.Nanoseconds())
	errs := []error{
		unix.SetsockoptLinger(fd, unix.SOL_SOCKET, unix.SO_LINGER, &unix.Linger{Onoff: 1, Linger: 1}),
		unix.SetsockoptInt(fd, unix.IPPROTO_TCP, unix.TCP_NODELAY, 1),
		unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_KEEPALIVE, 1),
		unix.SetsockoptInt(fd, unix.IPPROTO_TCP, unix.TCP_KEEPIDLE, 15),
		unix.SetsockoptInt(fd, unix.IPPROTO_TCP, unix.TCP_KEEPINTVL, 15),
		unix.SetsockoptInt(fd, unix.IPPROTO_TCP, unix.TCP_KEEPCNT, 9),
		unix.SetsockoptTimeval(fd, unix.SOL_SOCKET, unix.SO_SNDTIMEO, &tv),
		unix.SetsockoptTimeval(fd, unix.SOL_SOCKET, unix.SO_RCVTIMEO, &tv),
	}
	if err := errors.Join(errs...); err != nil {
		closeFloor(fd)
		return -1, fmt.Errorf("socket options: %w", err)
	}
	sa := unix.RawSockaddrInet4{Family: unix.AF_INET, Addr: ip}
	binary.BigEndian.PutUint16((*[2]byte)(unsafe.Pointer(&sa.Port))[:], uint16(port))
	_, err = rawCall(unix.SYS_CONNECT, uintptr(fd), uintptr(unsafe.Pointer(&sa)), unsafe.Sizeof(sa))
	if err == unix.EINTR {
		// A signal came; the handshake goes on without us.
		err = awaitConnect(fd, timeout)
	}
	if err != nil {
		closeFloor(fd)
		return -1, fmt.Errorf("connect to port %d: %w", port, err)
	}
	return fd, nil
}

// awaitConnect waits for an interrupted connect to end and returns how.
func awaitConnect(fd int, timeout time.Duration) error {
	pfd := unix.PollFd{Fd: int32(fd), Events: unix.POLLOUT}
	ts := unix.NsecToTimespec(timeout.Nanoseconds())
	for {
		n, _, errno := unix.RawSyscall6(unix.SYS_PPOLL, uintptr(unsafe.Pointer(&pfd)), 1, uintptr(unsafe.Pointer(&ts)), 0, 0, 0)
		switch {
		case errno == unix.EINTR:
			continue
		case errno != 0:
			return errno
		case n == 0:
			return unix.ETIMEDOUT
		}
		soErr, err := unix.GetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_ERROR)
		if err != nil {
			return err
		}
		if soErr != 0 {
			return unix.Errno(soErr)
		}
		return nil
	}
}

// rawCall makes a system call without telling the Go scheduler. The
// client's sleeps, connects, reads and closes block for as long as the
// grid, the handshake, the server or the FIN takes; made the usual way,
// each such wait looks to the runtime's monitor thread like a thread stuck
// in the kernel, which it then hands the client's P away from and checks
// every 20 µs for a while: thousands of wake-ups a second, system time
// that is the runtime's and not the probes'. The client has nothing else
// to schedule meanwhile.
func rawCall(trap, a1, a2, a3 uintptr) (uintptr, error) {
	r, _, errno := unix.RawSyscall(trap, a1, a2, a3)
	if errno != 0 {
		return r, errno
	}
	return r, nil
}

// rawRetry is rawCall for a read or write, which a signal may interrupt
// before anything moved.
func rawRetry(trap, a1, a2, a3 uintptr) (uintptr, error) {
	for {
		r, err := rawCall(trap, a1, a2, a3)
		if err != unix.EINTR {
			return r, err
		}
	}
}

// closeFloor closes fd; on Linux it is closed even when close reports
// EINTR.
func closeFloor(fd int) error {
	if _, err := rawCall(unix.SYS_CLOSE, uintptr(fd), 0, 0); err != nil && err != unix.EINTR {
		return err
	}
	return nil
}

// tcpFloorProbe is a TCP probe: connect, close.
func tcpFloorProbe(ip [4]byte, port int, timeout time.Duration) error {
	fd, err := dialFloor(ip, port, timeout)
	if err != nil {
		return err
	}
	return closeFloor(fd)
}

// httpFloorProbe is an HTTP probe: connect, send the request, read the
// answer to its end (Content-Length, or the server's close), close; a
// status outside 200–399 is an error.
func httpFloorProbe(ip [4]byte, port int, request []byte, timeout time.Duration, buf []byte) error {
	fd, err := dialFloor(ip, port, timeout)
	if err != nil {
		return err
	}
	defer closeFloor(fd)
	for sent := 0; sent < len(request); {
		n, err := rawRetry(unix.SYS_WRITE, uintptr(fd), uintptr(unsafe.Pointer(&request[sent])), uintptr(len(request)-sent))
		if err != nil {
			return fmt.Errorf("write the request: %w", err)
		}
		sent += int(n)
	}
	got := 0
	for {
		if got == len(buf) {
			return fmt.Errorf("answer longer than %d bytes", len(buf))
		}
		r, err := rawRetry(unix.SYS_READ, uintptr(fd), uintptr(unsafe.Pointer(&buf[got])), uintptr(len(buf)-got))
		if err != nil {
			return fmt.Errorf("read the answer: %w", err)
		}
		n := int(r)
		got += n
		status, done := answerDone(buf[:got], n == 0)
		if done {
			if status < 200 || status > 399 {
				return fmt.Errorf("answer %q", firstLine(buf[:got]))
			}
			return nil
		}
	}
}

// answerDone says whether b holds a whole HTTP/1.x answer, and its status
// (0 for an answer that is not HTTP). An answer is whole when its body has
// as many bytes as its Content-Length says, or, without one, when the
// server closed (eof).
func answerDone(b []byte, eof bool) (status int, done bool) {
	head, body, whole := bytes.Cut(b, []byte("\r\n\r\n"))
	if !whole {
		return statusOf(b), eof
	}
	status = statusOf(head)
	lines := bytes.Split(head, []byte("\r\n"))[1:]
	for _, l := range lines {
		name, value, ok := bytes.Cut(l, []byte(":"))
		if !ok || !bytes.EqualFold(bytes.TrimSpace(name), []byte("Content-Length")) {
			continue
		}
		n, err := strconv.Atoi(string(bytes.TrimSpace(value)))
		if err != nil {
			return status, eof
		}
		return status, eof || len(body) >= n
	}
	return status, eof
}

// statusOf reads the status code of an HTTP/1.x status line at b's start.
func statusOf(b []byte) int {
	line := firstLine(b)
	if !bytes.HasPrefix(line, []byte("HTTP/1.")) || len(line) < 12 || line[8] != ' ' {
		return 0
	}
	n, err := strconv.Atoi(string(line[9:12]))
	if err != nil {
		return 0
	}
	return n
}

func firstLine(b []byte) []byte {
	line, _, _ := bytes.Cut(b, []byte("\r\n"))
	return line
}

// probeFloorProc is a floor's client running as the bench's child.
type probeFloorProc struct {
	name   string
	cmd    *exec.Cmd
	stdin  io.WriteCloser
	stdout *bufio.Reader
}

// startProbeFloor starts the floor's client on targets and returns once it
// has probed each of them once.
func startProbeFloor(ctx context.Context, spec probeFloorSpec) (*probeFloorProc, error) {
	// One P: the client has one goroutine. No asynchronous preemption:
	// that goroutine never yields, and the preemption signal would
	// interrupt its connects (EINTR, which a connect with a timeout never
	// restarts) for no other goroutine to run.
	return startFloorClient(ctx, "probing floor", probeFloorCommand, []string{"GOMAXPROCS=1", "GODEBUG=asyncpreemptoff=1"}, spec)
}

// startProbeFloorGo starts the Go floor's client and returns once it has
// run each probe once. It runs with the runtime's defaults, as the agent.
func startProbeFloorGo(ctx context.Context, spec probeFloorGoSpec) (*probeFloorProc, error) {
	return startFloorClient(ctx, "Go probing floor", probeFloorGoCommand, nil, spec)
}

// startFloorClient runs the bench binary as the client of command, with
// env added to the bench's environment, hands it spec and waits for its
// "ready".
func startFloorClient(ctx context.Context, name, command string, env []string, spec any) (*probeFloorProc, error) {
	self, err := os.Executable()
	if err != nil {
		return nil, err
	}
	cmd := exec.CommandContext(ctx, self, command)
	cmd.Env = append(os.Environ(), env...)
	cmd.Stderr = os.Stderr
	stdin, err := cmd.StdinPipe()
	if err != nil {
		return nil, err
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("start the %s: %w", name, err)
	}
	p := &probeFloorProc{name: name, cmd: cmd, stdin: stdin, stdout: bufio.NewReader(stdout)}
	if err := json.NewEncoder(stdin).Encode(spec); err != nil {
		_, _ = p.finish()
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	line, err := p.stdout.ReadString('\n')
	if err != nil || line != "ready\n" {
		_, ferr := p.finish()
		return nil, fmt.Errorf("%s did not start (%q): %w", name, line, errors.Join(err, ferr))
	}
	return p, nil
}

// finish stops the client and returns what it counted.
func (p *probeFloorProc) finish() (probeFloorResult, error) {
	var res probeFloorResult
	_ = p.stdin.Close()
	derr := json.NewDecoder(p.stdout).Decode(&res)
	if err := p.cmd.Wait(); err != nil {
		return res, fmt.Errorf("%s: %w", p.name, err)
	}
	if derr != nil {
		return res, fmt.Errorf("%s's result: %w", p.name, derr)
	}
	return res, nil
}
