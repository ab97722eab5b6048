package kubeapi

import (
	"bufio"
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"strings"

	gwebsocket "github.com/gorilla/websocket"
	"go.uber.org/zap"
	v1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/httpstream"
	"k8s.io/apimachinery/pkg/util/httpstream/spdy"
	"k8s.io/apimachinery/pkg/util/httpstream/wsstream"
	pfconsts "k8s.io/apimachinery/pkg/util/portforward"
	clientportforward "k8s.io/client-go/tools/portforward"
	"k8s.io/kubelet/pkg/cri/streaming/portforward"
)

// PortForwarder connects a stream to a TCP port inside a pod's network
// namespace; the runtime implements it. It blocks until the connection
// ends and closes stream.
type PortForwarder interface {
	PortForward(ctx context.Context, uid types.UID, port int32, stream io.ReadWriteCloser) error
}

// servePortForward answers `kubectl port-forward` with the kubelet's own
// port-forward server: SPDY (portforward.k8s.io), which kubectl 1.30+
// tunnels through a WebSocket ("SPDY/3.1+portforward.k8s.io", unwrapped
// here as the API server does) and older clients send as an HTTP upgrade.
// One session serves every connection made to the local port.
func (s *Server) servePortForward(w http.ResponseWriter, r *http.Request, req resourceRequest) {
	pod, ok := s.streamPod(w, req)
	if !ok {
		return
	}
	if s.deps.PortForward == nil {
		writeError(w, apierrors.NewServiceUnavailable("port-forward is not available on this agent"))
		return
	}
	if pod.Status.Phase != v1.PodRunning {
		writeError(w, apierrors.NewBadRequest("unable to upgrade connection: pod not running"))
		return
	}
	s.streams.Add(1)
	defer s.streams.Done()
	log := s.log.With(zap.String("pod", req.namespace+"/"+req.name), zap.String("stream", "port-forward"))
	ctx, cancel := context.WithCancel(r.Context())
	defer cancel()
	fwd := podForwarder{ctx: ctx, log: log, uid: pod.UID, fwd: s.deps.PortForward}
	serve := func(w http.ResponseWriter, r *http.Request) {
		var opts *portforward.V4Options
		if wsstream.IsWebSocketRequest(r) {
			// The kubelet's own WebSocket protocol, with the ports in the
			// query.
			var err error
			if opts, err = portforward.NewV4Options(r); err != nil {
				writeError(w, apierrors.NewBadRequest(err.Error()))
				return
			}
		}
		portforward.ServePortForward(w, r, fwd, pod.Name, pod.UID, opts, streamIdleTimeout, streamCreationTimeout, portforward.SupportedProtocols)
	}
	if isTunnelRequest(r) {
		log = log.With(zap.String("protocol", "SPDY over WebSocket"))
		log.Info("stream")
		s.serveTunneled(ctx, w, r, log, serve)
	} else {
		log.Info("stream")
		serve(closeOnDone(ctx, w), r)
	}
	log.Info("stream done")
}

// podForwarder is the kubelet library's PortForwarder for one pod; the
// library gives it no context, so it carries the session's.
type podForwarder struct {
	ctx context.Context
	log *zap.Logger
	uid types.UID
	fwd PortForwarder
}

func (p podForwarder) PortForward(_ context.Context, _ string, _ types.UID, port int32, stream io.ReadWriteCloser) error {
	err := p.fwd.PortForward(p.ctx, p.uid, port, stream)
	if err != nil {
		p.log.Info("port-forward connection failed", zap.Int32("port", port), zap.Error(err))
	}
	return err
}

// isTunnelRequest says whether r asks for SPDY tunnelled in a WebSocket,
// as kubectl 1.30+ does for port-forward.
func isTunnelRequest(r *http.Request) bool {
	if !wsstream.IsWebSocketRequest(r) {
		return false
	}
	for _, h := range r.Header.Values("Sec-WebSocket-Protocol") {
		for _, p := range strings.Split(h, ",") {
			if strings.TrimSpace(p) == pfconsts.WebsocketsSPDYTunnelingPortForwardV1 {
				return true
			}
		}
	}
	return false
}

// serveTunneled accepts the WebSocket and hands serve the SPDY upgrade the
// tunnel carries: a request as an SPDY client would send it, and a
// response writer whose hijacked connection is the WebSocket (client-go's
// TunnelingConnection, binary messages as a byte stream).
func (s *Server) serveTunneled(ctx context.Context, w http.ResponseWriter, r *http.Request, log *zap.Logger, serve http.HandlerFunc) {
	up := gwebsocket.Upgrader{Subprotocols: []string{pfconsts.WebsocketsSPDYTunnelingPortForwardV1}}
	ws, err := up.Upgrade(w, r, nil)
	if err != nil {
		// Upgrade has answered the client.
		log.Info("WebSocket upgrade failed", zap.Error(err))
		return
	}
	conn := clientportforward.NewTunnelingConnection("server", ws)
	defer conn.Close()
	stop := context.AfterFunc(ctx, func() { conn.Close() })
	defer stop()
	inner := r.Clone(ctx)
	inner.Header = http.Header{}
	inner.Header.Set(httpstream.HeaderConnection, httpstream.HeaderUpgrade)
	inner.Header.Set(httpstream.HeaderUpgrade, spdy.HeaderSpdy31)
	inner.Header.Set(httpstream.HeaderProtocolVersion, pfconsts.PortForwardV1Name)
	serve(&tunnelWriter{conn: conn, header: http.Header{}}, inner)
}

// tunnelWriter is the http.ResponseWriter of an upgrade inside a tunnel:
// the upgrade's own answer (101 and headers) has no wire to go to, since
// the tunnel's WebSocket handshake already said yes, and Hijack gives the
// tunnel.
type tunnelWriter struct {
	conn   net.Conn
	header http.Header
	code   int
}

func (t *tunnelWriter) Header() http.Header { return t.header }

func (t *tunnelWriter) WriteHeader(code int) { t.code = code }

// Write is only reached when the upgrade is refused, before any SPDY
// traffic: the refusal closes the tunnel.
func (t *tunnelWriter) Write(p []byte) (int, error) {
	if t.code == 0 {
		t.code = http.StatusOK
	}
	return 0, errors.New("the port-forward tunnel refused the upgrade")
}

func (t *tunnelWriter) Hijack() (net.Conn, *bufio.ReadWriter, error) {
	return t.conn, bufio.NewReadWriter(bufio.NewReader(t.conn), bufio.NewWriter(t.conn)), nil
}
