package kubeapi

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"time"

	"go.uber.org/zap"
	"k8s.io/apimachinery/pkg/types"
	remotecommandconsts "k8s.io/apimachinery/pkg/util/remotecommand"
	clientrc "k8s.io/client-go/tools/remotecommand"
	kubeletrc "k8s.io/kubelet/pkg/cri/streaming/remotecommand"
	utilexec "k8s.io/utils/exec"

	mkruntime "github.com/minikubelet/minikubelet/runtime"
)

// The kubelet's streaming defaults: a session idle this long is closed,
// and the streams of a session must all arrive within streamCreation.
const (
	streamIdleTimeout     = 4 * time.Hour
	streamCreationTimeout = 30 * time.Second
)

// serveSPDYStream serves an exec or attach session over SPDY (the
// remote command protocols v1 to v4.channel.k8s.io) with the kubelet's own
// streaming library: kubectl's fallback when the WebSocket upgrade is
// refused, and client-go's SPDY executor. run is the same session the
// WebSocket path runs; the library writes its outcome on the error stream.
func (s *Server) serveSPDYStream(w http.ResponseWriter, r *http.Request, log *zap.Logger, opts streamOptions, run func(context.Context, streamIO) (int32, error)) {
	ctx, cancel := context.WithCancel(r.Context())
	defer cancel()
	sess := spdySession{ctx: ctx, run: run}
	kopts := &kubeletrc.Options{Stdin: opts.stdin, Stdout: opts.stdout, Stderr: opts.stderr, TTY: opts.tty}
	log = log.With(zap.String("protocol", "SPDY"))
	log.Info("stream")
	w = closeOnDone(ctx, w)
	// The library's names and UID only reach the session, which has its
	// target already.
	if strings.HasSuffix(r.URL.Path, "/attach") {
		kubeletrc.ServeAttach(w, r, sess, "", "", "", kopts, streamIdleTimeout, streamCreationTimeout, remotecommandconsts.SupportedStreamingProtocols)
	} else {
		kubeletrc.ServeExec(w, r, sess, "", "", "", nil, kopts, streamIdleTimeout, streamCreationTimeout, remotecommandconsts.SupportedStreamingProtocols)
	}
	log.Info("stream done")
}

// spdySession adapts a session to the kubelet library's Executor and
// Attacher. The library gives no context of the request's own, so the
// session carries it.
type spdySession struct {
	ctx context.Context
	run func(context.Context, streamIO) (int32, error)
}

func (s spdySession) ExecInContainer(_ context.Context, _ string, _ types.UID, _ string, cmd []string, in io.Reader, out, errOut io.WriteCloser, tty bool, resize <-chan clientrc.TerminalSize, _ time.Duration) error {
	code, err := s.start(in, out, errOut, resize)
	if err == nil && code != 0 {
		// The library turns an exit error into the NonZeroExitCode status
		// kubectl reads the code from.
		return utilexec.CodeExitError{Err: fmt.Errorf("error executing command %v, exit code %d", cmd, code), Code: int(code)}
	}
	return err
}

func (s spdySession) AttachContainer(_ context.Context, _ string, _ types.UID, _ string, in io.Reader, out, errOut io.WriteCloser, tty bool, resize <-chan clientrc.TerminalSize) error {
	_, err := s.start(in, out, errOut, resize)
	return err
}

// start runs the session on the library's streams: absent output streams
// are discarded, and terminal sizes are passed on in the runtime's type.
func (s spdySession) start(in io.Reader, out, errOut io.WriteCloser, resize <-chan clientrc.TerminalSize) (int32, error) {
	ctx, cancel := context.WithCancel(s.ctx)
	defer cancel()
	sio := streamIO{stdin: in, stdout: io.Discard, stderr: io.Discard}
	if out != nil {
		sio.stdout = out
	}
	if errOut != nil {
		sio.stderr = errOut
	}
	if resize != nil {
		sizes := make(chan mkruntime.TerminalSize, 1)
		sio.resize = sizes
		go func() {
			for {
				select {
				case sz, ok := <-resize:
					if !ok {
						return
					}
					select {
					case sizes <- mkruntime.TerminalSize{Width: sz.Width, Height: sz.Height}:
					case <-ctx.Done():
						return
					}
				case <-ctx.Done():
					return
				}
			}
		}()
	}
	return s.run(ctx, sio)
}

// closeOnDone wraps w so that a connection hijacked from it is closed when
// ctx ends (the agent stops, or the handler returns), which the SPDY
// sessions of the kubelet's library do not watch for themselves.
func closeOnDone(ctx context.Context, w http.ResponseWriter) http.ResponseWriter {
	return &hijackCloser{ResponseWriter: w, ctx: ctx}
}

type hijackCloser struct {
	http.ResponseWriter
	ctx context.Context
}

func (h *hijackCloser) Hijack() (net.Conn, *bufio.ReadWriter, error) {
	hj, ok := h.ResponseWriter.(http.Hijacker)
	if !ok {
		return nil, nil, errors.New("the connection cannot be hijacked")
	}
	conn, rw, err := hj.Hijack()
	if err == nil {
		context.AfterFunc(h.ctx, func() { conn.Close() })
	}
	return conn, rw, err
}
