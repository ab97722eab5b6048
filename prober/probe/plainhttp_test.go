package probe

import (
	"bufio"
	"context"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	v1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
)

// rawServer answers every connection on 127.0.0.1 with serve, after
// reading the request's header, then waits for the prober to close the
// connection and reports that on closed.
func rawServer(t *testing.T, serve func(c net.Conn)) (port int, closed chan struct{}) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	closed = make(chan struct{}, 16)
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				defer func() { closed <- struct{}{} }()
				defer c.Close()
				br := bufio.NewReader(c)
				for {
					line, err := br.ReadString('\n')
					if err != nil || line == "\r\n" {
						break
					}
				}
				serve(c)
				// Wait for the prober's close, which a leaked connection
				// would never send.
				_, _ = io.Copy(io.Discard, br)
			}()
		}
	}()
	return ln.Addr().(*net.TCPAddr).Port, closed
}

// closeWrite ends what the server sends; the prober's side stays open.
func closeWrite(c net.Conn) { _ = c.(*net.TCPConn).CloseWrite() }

// stdHTTP is the prober on net/http's Transport alone, as it was before
// plainTransport: the reference plainTransport must answer like.
func stdHTTP() *HTTP {
	p := NewHTTP()
	p.transports[time.Second] = p.transport(time.Second).(*plainTransport).tls
	return p
}

func TestPlainTransportAnswersAsNetHTTP(t *testing.T) {
	tests := []struct {
		name  string
		serve func(c net.Conn)
		want  Result
		out   string // the whole output, with PORT for the server's port
		err   string // the error, if the probe errors
	}{
		{"closed before answering", closeWrite, Failure, `Get "http://127.0.0.1:PORT/h": EOF`, ""},
		{"informational first", func(c net.Conn) {
			io.WriteString(c, "HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 103 Early Hints\r\nLink: </x>\r\n\r\nHTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")
		}, Success, "ok", ""},
		{"chunked", func(c net.Conn) {
			io.WriteString(c, "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nab\r\n1\r\nc\r\n0\r\n\r\n")
		}, Success, "abc", ""},
		{"until close", func(c net.Conn) {
			io.WriteString(c, "HTTP/1.0 503 Service Unavailable\r\n\r\ndown")
			closeWrite(c)
		}, Failure, "HTTP probe failed with statuscode: 503", ""},
		{"garbage", func(c net.Conn) {
			io.WriteString(c, "SSH-2.0-OpenSSH_9.2\r\n\r\n")
		}, Failure, `Get "http://127.0.0.1:PORT/h": net/http: HTTP/1.x transport connection broken: malformed HTTP response "SSH-2.0-OpenSSH_9.2"`, ""},
		{"header never ends", func(c net.Conn) {
			io.WriteString(c, "HTTP/1.1 200 OK\r\nX: y\r\n")
		}, Failure, `Get "http://127.0.0.1:PORT/h": context deadline exceeded (Client.Timeout exceeded while awaiting headers)`, ""},
		{"body stalls", func(c net.Conn) {
			io.WriteString(c, "HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nabc")
		}, Failure, "", "context deadline exceeded (Client.Timeout or context cancellation while reading body)"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			port, closed := rawServer(t, tt.serve)
			want := strings.ReplaceAll(tt.out, "PORT", strconv.Itoa(port))
			for _, p := range []struct {
				name string
				h    *HTTP
			}{{"net/http", stdHTTP()}, {"plain", NewHTTP()}} {
				req, err := NewHTTPRequest(context.Background(), &v1.HTTPGetAction{Path: "/h", Port: intstr.FromInt(port)},
					&v1.Container{}, "127.0.0.1", testUA)
				if err != nil {
					t.Fatal(err)
				}
				res, out, err := p.h.Probe(req, time.Second)
				gotErr := ""
				if err != nil {
					gotErr = err.Error()
				}
				if res != tt.want || out != want || gotErr != tt.err {
					t.Errorf("%s: got (%v, %q, %q), want (%v, %q, %q)", p.name, res, out, gotErr, tt.want, want, tt.err)
				}
				select {
				case <-closed:
				case <-time.After(10 * time.Second):
					t.Fatalf("%s: the probe's connection was left open", p.name)
				}
			}
		})
	}
}

// BenchmarkHTTPProbe compares one probe on net/http's Transport with one on
// plainTransport, against the same in-process server (whose share is in
// both): CPU and allocations per probe.
//
//	go test -run XXX -bench HTTPProbe -benchmem ./prober/probe/
func BenchmarkHTTPProbe(b *testing.B) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "ok") }))
	defer srv.Close()
	host, port := splitHostPort(b, srv.URL)
	for _, p := range []struct {
		name string
		h    *HTTP
	}{{"net-http", stdHTTP()}, {"plain", NewHTTP()}} {
		b.Run(p.name, func(b *testing.B) {
			start := cpuTime()
			for b.Loop() {
				req, err := NewHTTPRequest(context.Background(), &v1.HTTPGetAction{Path: "/", Port: intstr.FromInt(port)},
					&v1.Container{}, host, testUA)
				if err != nil {
					b.Fatal(err)
				}
				if res, out, err := p.h.Probe(req, time.Second); res != Success || err != nil {
					b.Fatalf("got (%v, %q, %v)", res, out, err)
				}
			}
			b.ReportMetric(float64(cpuTime()-start)/float64(b.N)/1e3, "cpu-µs/op")
		})
	}
}

// cpuTime is this process's user and system CPU so far.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
