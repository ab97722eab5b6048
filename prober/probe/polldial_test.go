package probe

import (
	"context"
	"net"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"
	v1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
)

// netTCP is the TCP probe on net.Dialer, as it was before Dialer: the
// reference Dialer must answer like.
func netTCP(ctx context.Context, host string, port int, timeout time.Duration) (Result, string, error) {
	conn, err := dialer(timeout).DialContext(ctx, "tcp", net.JoinHostPort(host, strconv.Itoa(port)))
	if err != nil {
		return Failure, err.Error(), nil
	}
	_ = conn.Close()
	return Success, "", nil
}

// fullListener listens on 127.0.0.1 with an accept queue of one, filled by
// a connection of its own and never accepted: SYNs to it are dropped, so a
// connect to it waits until its timeout.
func fullListener(t *testing.T) int {
	t.Helper()
	fd, err := unix.Socket(unix.AF_INET, unix.SOCK_STREAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = unix.Close(fd) })
	if err := unix.Bind(fd, &unix.SockaddrInet4{Addr: [4]byte{127, 0, 0, 1}}); err != nil {
		t.Fatal(err)
	}
	if err := unix.Listen(fd, 0); err != nil {
		t.Fatal(err)
	}
	sa, err := unix.Getsockname(fd)
	if err != nil {
		t.Fatal(err)
	}
	port := sa.(*unix.SockaddrInet4).Port
	filler, err := net.Dial("tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(port)))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { filler.Close() })
	return port
}

// openFDs counts this process's open descriptors.
func openFDs(t *testing.T) int {
	t.Helper()
	ents, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		t.Fatal(err)
	}
	return len(ents)
}

func TestDialerAnswersAsNetDialer(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			c.Close()
		}
	}()
	open := ln.Addr().(*net.TCPAddr).Port
	closedLn, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	refused := closedLn.Addr().(*net.TCPAddr).Port
	closedLn.Close()
	full := fullListener(t)

	cancelled, cancel := context.WithCancel(context.Background())
	cancel()
	tests := []struct {
		name string
		host string
		port int
		ctx  func() (context.Context, context.CancelFunc)
		want Result
		out  string // with PORT for the port
	}{
		{"open", "127.0.0.1", open, nil, Success, ""},
		{"open, IPv6", "::1", 0, nil, Success, ""},
		{"refused", "127.0.0.1", refused, nil, Failure, "dial tcp 127.0.0.1:PORT: connect: connection refused"},
		{"connect times out", "127.0.0.1", full, nil, Failure, "dial tcp 127.0.0.1:PORT: i/o timeout"},
		{"context deadline first", "127.0.0.1", full, func() (context.Context, context.CancelFunc) {
			return context.WithTimeout(context.Background(), 100*time.Millisecond)
		}, Failure, "dial tcp 127.0.0.1:PORT: i/o timeout"},
		{"cancelled before", "127.0.0.1", open, func() (context.Context, context.CancelFunc) {
			return cancelled, func() {}
		}, Failure, "dial tcp 127.0.0.1:PORT: operation was canceled"},
		{"cancelled while connecting", "127.0.0.1", full, func() (context.Context, context.CancelFunc) {
			ctx, cancel := context.WithCancel(context.Background())
			go func() { time.Sleep(50 * time.Millisecond); cancel() }()
			return ctx, cancel
		}, Failure, "dial tcp 127.0.0.1:PORT: operation was canceled"},
		{"host name", "localhost", open, nil, Success, ""},
	}
	d := NewDialer()
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			port := tt.port
			if port == 0 {
				ln6, err := net.Listen("tcp", "[::1]:0")
				if err != nil {
					t.Skip("no IPv6 loopback:", err) // the container may have none; IPv4 cases still run
				}
				defer ln6.Close()
				go func() {
					for {
						c, err := ln6.Accept()
						if err != nil {
							return
						}
						c.Close()
					}
				}()
				port = ln6.Addr().(*net.TCPAddr).Port
			}
			want := strings.ReplaceAll(tt.out, "PORT", strconv.Itoa(port))
			before := openFDs(t)
			for _, p := range []struct {
				name  string
				probe func(context.Context, string, int, time.Duration) (Result, string, error)
			}{{"net.Dialer", netTCP}, {"Dialer", d.TCP}} {
				ctx, cancel := context.Background(), context.CancelFunc(func() {})
				if tt.ctx != nil {
					ctx, cancel = tt.ctx()
				}
				res, out, err := p.probe(ctx, tt.host, port, 300*time.Millisecond)
				cancel()
				if res != tt.want || out != want || err != nil {
					t.Errorf("%s: got (%v, %q, %v), want (%v, %q, nil)", p.name, res, out, err, tt.want, want)
				}
			}
			if n := len(d.slots); n != 0 {
				t.Errorf("%d slots still taken after the probe", n)
			}
			if after := openFDs(t); after > before {
				t.Errorf("%d descriptors open after the probes, %d before", after, before)
			}
		})
	}
}

func TestDialerBeyondItsSlots(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			c.Close()
		}
	}()
	d := NewDialer()
	conns := make([]net.Conn, 0, pollSlots)
	for range pollSlots {
		c, err := d.dial(context.Background(), ln.Addr().String(), time.Second)
		if err != nil {
			t.Fatal(err)
		}
		if _, ok := c.(*pollConn); !ok {
			t.Fatalf("dial within the slots made a %T, want a *pollConn", c)
		}
		conns = append(conns, c)
	}
	c, err := d.dial(context.Background(), ln.Addr().String(), time.Second)
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := c.(*net.TCPConn); !ok {
		t.Errorf("dial beyond the slots made a %T, want net's *net.TCPConn", c)
	}
	c.Close()
	for _, c := range conns {
		c.Close()
	}
	if n := len(d.slots); n != 0 {
		t.Errorf("%d slots still taken after closing every connection", n)
	}
}

func TestPollConnCloseWhileReading(t *testing.T) {
	port, closed := rawServer(t, func(c net.Conn) {}) // never answers
	d := NewDialer()
	c, err := d.dial(context.Background(), net.JoinHostPort("127.0.0.1", strconv.Itoa(port)), time.Second)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.Write([]byte("GET / HTTP/1.1\r\nHost: x\r\n\r\n")); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() {
		_, err := c.Read(make([]byte, 10))
		done <- err
	}()
	time.Sleep(50 * time.Millisecond) // let the read wait; a close before it is also a closed read
	if err := c.Close(); err != nil {
		t.Fatal(err)
	}
	err = <-done
	if err == nil || !strings.HasSuffix(err.Error(), "use of closed network connection") {
		t.Errorf("read across Close: got %v, want net's use of closed network connection", err)
	}
	<-closed // the server saw the connection end
	if n := len(d.slots); n != 0 {
		t.Errorf("%d slots still taken after Close", n)
	}
}

func TestPlainTransportCancelledAsNetHTTP(t *testing.T) {
	asked := make(chan struct{}, 2)
	port, closed := rawServer(t, func(c net.Conn) { asked <- struct{}{} }) // never answers
	want := `Get "http://127.0.0.1:` + strconv.Itoa(port) + `/h": context canceled`
	for _, p := range []struct {
		name string
		h    *HTTP
	}{{"net/http", stdHTTP()}, {"plain", NewHTTP()}} {
		ctx, cancel := context.WithCancel(context.Background())
		req, err := NewHTTPRequest(ctx, &v1.HTTPGetAction{Path: "/h", Port: intstr.FromInt(port)},
			&v1.Container{}, "127.0.0.1", testUA)
		if err != nil {
			t.Fatal(err)
		}
		go func() { <-asked; cancel() }()
		res, out, err := p.h.Probe(req, time.Minute)
		if res != Failure || out != want || err != nil {
			t.Errorf("%s: got (%v, %q, %v), want (failure, %q, nil)", p.name, res, out, err, want)
		}
		<-closed
	}
}
