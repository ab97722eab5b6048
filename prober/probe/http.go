package probe

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"time"

	v1 "k8s.io/api/core/v1"
)

// maxRedirects is how many same-host redirects an HTTP probe follows.
const maxRedirects = 10

// HTTP runs httpGet checks. One HTTP is shared by all workers; it holds no
// per-probe state beyond a transport per probe timeout. Safe for concurrent
// use.
type HTTP struct {
	mu         sync.Mutex
	transports map[time.Duration]http.RoundTripper
}

// NewHTTP returns a prober configured as kubelet's: no keep-alives (every
// probe is a fresh connection, like a real client), no proxy from the
// environment, no compression (so no Accept-Encoding), no certificate check,
// and the lingering dialer.
func NewHTTP() *HTTP {
	return &HTTP{transports: map[time.Duration]http.RoundTripper{}}
}

// transport returns the transport for probes with timeout: plainTransport
// for http, net/http's for https. net/http lets a dial outlive the request
// that started it, so the dial itself is bounded by the probe's timeout: a
// pod that drops SYNs must not pile up dials.
func (p *HTTP) transport(timeout time.Duration) http.RoundTripper {
	p.mu.Lock()
	defer p.mu.Unlock()
	if t, ok := p.transports[timeout]; ok {
		return t
	}
	dial := dialer(timeout).DialContext
	secure := &http.Transport{
		Proxy:               nil,
		DialContext:         dial,
		TLSClientConfig:     &tls.Config{InsecureSkipVerify: true}, //nolint:gosec // kubelet probes skip verification
		TLSHandshakeTimeout: 10 * time.Second,
		DisableKeepAlives:   true,
		DisableCompression:  true,
		// kubelet's transport goes through SetTransportDefaults, which
		// enables HTTP/2 over TLS; a custom TLS config would otherwise turn
		// it off.
		ForceAttemptHTTP2: true,
	}
	t := &plainTransport{dial: dial, tls: secure}
	p.transports[timeout] = t
	return t
}

// NewHTTPRequest builds the GET request for action the way kubelet does:
// scheme lowercased (default http), host defaulting to podIP, port resolved
// against container, the path parsed as a URL reference, httpHeaders added,
// User-Agent userAgent and Accept */* unless the probe sets them (an
// explicitly empty Accept removes the header), and a Host header becoming the
// request's Host.
func NewHTTPRequest(ctx context.Context, action *v1.HTTPGetAction, container *v1.Container, podIP, userAgent string) (*http.Request, error) {
	scheme := strings.ToLower(string(action.Scheme))
	if scheme == "" {
		scheme = "http"
	}
	host := action.Host
	if host == "" {
		host = podIP
	}
	port, err := ResolvePort(action.Port, container)
	if err != nil {
		return nil, err
	}
	u, err := url.Parse(action.Path)
	if err != nil {
		// kubelet passes a path it cannot parse along as is.
		u = &url.URL{Path: action.Path}
	}
	u.Scheme = scheme
	u.Host = net.JoinHostPort(host, strconv.Itoa(port))

	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u.String(), nil)
	if err != nil {
		return nil, err
	}
	headers := http.Header{}
	for _, h := range action.HTTPHeaders {
		headers.Add(h.Name, h.Value)
	}
	if _, ok := headers["User-Agent"]; !ok {
		headers.Set("User-Agent", userAgent)
	}
	if _, ok := headers["Accept"]; !ok {
		headers.Set("Accept", "*/*")
	} else if headers.Get("Accept") == "" {
		headers.Del("Accept")
	}
	req.Header = headers
	req.Host = headers.Get("Host")
	return req, nil
}

// Probe sends req with timeout covering connect, headers and body. Status
// 200–299 is Success, 300–399 (a redirect not followed, 304 …) is Warning,
// anything else is Failure with kubelet's "HTTP probe failed with statuscode:
// N" (the body is deliberately left out). Transport errors and timeouts are
// Failures with Go's error text. Redirects are followed only while they stay
// on the original hostname, at most 10 times.
func (p *HTTP) Probe(req *http.Request, timeout time.Duration) (Result, string, error) {
	res, err := p.send(req, timeout)
	if err != nil {
		return Failure, err.Error(), nil
	}
	defer func() { _ = res.Body.Close() }()
	body, err := readAtMost(res.Body, MaxOutput)
	if err != nil {
		return Failure, "", err
	}
	switch {
	case res.StatusCode >= http.StatusOK && res.StatusCode < http.StatusMultipleChoices:
		return Success, body, nil
	case res.StatusCode >= http.StatusMultipleChoices && res.StatusCode < http.StatusBadRequest:
		return Warning, "Probe terminated redirects, Response body: " + body, nil
	default:
		return Failure, fmt.Sprintf("HTTP probe failed with statuscode: %d", res.StatusCode), nil
	}
}

// Do sends req the way a probe does (same transport, same redirect policy)
// but judges nothing: it returns the status code of whatever answered, after
// draining up to MaxOutput of the body. Lifecycle httpGet hooks use it, for
// which any HTTP answer is a success. timeout 0 leaves the bound to req's
// context, as kubelet's hook client has no timeout of its own.
func (p *HTTP) Do(req *http.Request, timeout time.Duration) (int, error) {
	res, err := p.send(req, timeout)
	if err != nil {
		return 0, err
	}
	defer func() { _ = res.Body.Close() }()
	_, _ = io.Copy(io.Discard, io.LimitReader(res.Body, MaxOutput))
	return res.StatusCode, nil
}

// send is http.Client.Do with Timeout timeout (0: none), redirects as
// sameHostRedirects says, and the Client's own error texts for a timeout,
// but with the timeout as a deadline on the request's context rather than
// as the Client's: for a RoundTripper other than its own Transport the
// Client enforces Timeout with a timer and a goroutine per request, on top
// of the deadline, which the transports here already obey.
func (p *HTTP) send(req *http.Request, timeout time.Duration) (*http.Response, error) {
	client := &http.Client{Transport: p.transport(timeout), CheckRedirect: sameHostRedirects}
	if timeout <= 0 {
		return client.Do(req)
	}
	parent := req.Context()
	ctx, cancel := context.WithTimeout(parent, timeout)
	// As the Client's: its deadline, not an earlier one of the caller's.
	timedOut := func() bool { return ctx.Err() == context.DeadlineExceeded && parent.Err() == nil }
	res, err := client.Do(req.WithContext(ctx))
	if err != nil {
		cancel()
		var ue *url.Error
		if timedOut() && errors.As(err, &ue) {
			ue.Err = &timeoutError{ue.Err.Error() + " (Client.Timeout exceeded while awaiting headers)"}
		}
		return nil, err
	}
	res.Body = &deadlineBody{ReadCloser: res.Body, cancel: cancel, timedOut: timedOut}
	return res, nil
}

// deadlineBody ends send's deadline with the body, and names a read cut
// short by it as the Client does.
type deadlineBody struct {
	io.ReadCloser
	cancel   context.CancelFunc
	timedOut func() bool
}

func (b *deadlineBody) Read(p []byte) (int, error) {
	n, err := b.ReadCloser.Read(p)
	if err != nil && err != io.EOF && b.timedOut() {
		err = &timeoutError{err.Error() + " (Client.Timeout or context cancellation while reading body)"}
	}
	return n, err
}

func (b *deadlineBody) Close() error {
	err := b.ReadCloser.Close()
	b.cancel()
	return err
}

// timeoutError is net/http's error for a Client.Timeout: a timeout, and
// context.DeadlineExceeded to errors.Is.
type timeoutError struct{ msg string }

func (e *timeoutError) Error() string        { return e.msg }
func (e *timeoutError) Timeout() bool        { return true }
func (e *timeoutError) Temporary() bool      { return true }
func (e *timeoutError) Is(target error) bool { return target == context.DeadlineExceeded }

// sameHostRedirects is kubelet's redirect policy for probes
// (followNonLocalRedirects=false): a redirect to another hostname is not
// followed and its 3xx response becomes the result.
func sameHostRedirects(req *http.Request, via []*http.Request) error {
	if req.URL.Hostname() != via[0].URL.Hostname() {
		return http.ErrUseLastResponse
	}
	if len(via) >= maxRedirects {
		return errors.New("stopped after 10 redirects")
	}
	return nil
}

// readAtMost reads up to limit bytes; a longer body is cut without error.
func readAtMost(r io.Reader, limit int64) (string, error) {
	b, err := io.ReadAll(io.LimitReader(r, limit))
	if err != nil {
		return "", err
	}
	return string(b), nil
}
