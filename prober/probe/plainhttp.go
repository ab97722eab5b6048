package probe

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"math"
	"net"
	"net/http"
)

// maxResponseHeader bounds what a probed server may send before its body,
// as net/http's Transport does by default (MaxResponseHeaderBytes).
const maxResponseHeader = 10 << 20

// plainTransport sends an http:// request over a connection of its own and
// closes that connection with the response body: what net/http's Transport
// does with keep-alives off, without the three goroutines (dial, read loop,
// write loop) and the hand-offs between them that it spends per
// connection. Those were a fifth of the agent's CPU while probing 100
// containers twice a second (BENCHMARKS.md, "Probe CPU"). https goes to
// tls, the standard transport, for its TLS and HTTP/2.
type plainTransport struct {
	dial func(ctx context.Context, network, addr string) (net.Conn, error)
	tls  http.RoundTripper
}

func (t *plainTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	if req.URL.Scheme != "http" {
		return t.tls.RoundTrip(req)
	}
	ctx := req.Context()
	host := req.URL.Host
	if req.URL.Port() == "" {
		host = net.JoinHostPort(req.URL.Hostname(), "80")
	}
	conn, err := t.dial(ctx, "tcp", host)
	if err != nil {
		return nil, err
	}
	// A cancelled or timed-out request closes the connection, which ends a
	// blocked write or read; no goroutine waits for it meanwhile.
	stop := context.AfterFunc(ctx, func() { _ = conn.Close() })
	fail := func(err error) (*http.Response, error) {
		stop()
		_ = conn.Close()
		if ctx.Err() != nil {
			// As the Transport: the cancellation, not what it caused.
			return nil, ctx.Err()
		}
		return nil, err
	}

	out := *req      // a shallow copy: a RoundTripper leaves req alone
	out.Close = true // "Connection: close", as the Transport's with keep-alives off
	bw := bufio.NewWriter(conn)
	if err := out.Write(bw); err != nil {
		return fail(err)
	}
	if err := bw.Flush(); err != nil {
		return fail(err)
	}

	lr := &io.LimitedReader{R: conn, N: maxResponseHeader}
	br := bufio.NewReader(lr)
	var res *http.Response
	for {
		if _, err := br.Peek(1); err != nil {
			// Closed before a response: "EOF", as the Transport says.
			return fail(err)
		}
		res, err = http.ReadResponse(br, req)
		if err != nil {
			return fail(fmt.Errorf("net/http: HTTP/1.x transport connection broken: %w", err))
		}
		// Informational answers (100 Continue, 103 Early Hints) precede
		// the real one; 101 would switch protocols, which a GET never asks.
		if res.StatusCode < 100 || res.StatusCode > 199 || res.StatusCode == http.StatusSwitchingProtocols {
			break
		}
	}
	lr.N = math.MaxInt64 // the header was bounded; the caller bounds the body
	res.Body = &connBody{ReadCloser: res.Body, conn: conn, ctx: ctx, stop: stop}
	return res, nil
}

// connBody is a response body that closes its connection with it.
type connBody struct {
	io.ReadCloser
	conn net.Conn
	ctx  context.Context
	stop func() bool
}

func (b *connBody) Read(p []byte) (int, error) {
	n, err := b.ReadCloser.Read(p)
	if err != nil && !errors.Is(err, io.EOF) && b.ctx.Err() != nil {
		err = b.ctx.Err()
	}
	return n, err
}

func (b *connBody) Close() error {
	b.stop()
	err := b.ReadCloser.Close()
	_ = b.conn.Close()
	return err
}
