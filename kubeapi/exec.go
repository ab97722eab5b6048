package kubeapi

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strconv"

	"go.uber.org/zap"
	v1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/httpstream/wsstream"
	remotecommandconsts "k8s.io/apimachinery/pkg/util/remotecommand"

	"github.com/minikubelet/minikubelet/api"
	mkruntime "github.com/minikubelet/minikubelet/runtime"
)

// Executor runs a command in a running container; the runtime implements it.
type Executor interface {
	Exec(ctx context.Context, containerID string, opts mkruntime.ExecOptions) (int32, error)
}

// The channels of the remote command stream protocol (v4/v5.channel.k8s.io),
// in their fixed order.
const (
	chanStdin = iota
	chanStdout
	chanStderr
	chanError
	chanResize
)

// streamOptions are an exec request's stream parameters.
type streamOptions struct {
	stdin, stdout, stderr, tty bool
}

func parseStreamOptions(r *http.Request) (streamOptions, error) {
	q := r.URL.Query()
	b := func(k string) bool { v, _ := strconv.ParseBool(q.Get(k)); return v }
	// The PodExecOptions fields, as query parameters.
	o := streamOptions{stdin: b("stdin"), stdout: b("stdout"), stderr: b("stderr"), tty: b("tty")}
	if o.tty && o.stderr {
		// With a terminal, stderr is merged into stdout (as the kubelet does).
		o.stderr = false
	}
	if !o.stdin && !o.stdout && !o.stderr {
		return o, apierrors.NewBadRequest("you must specify at least 1 of stdin, stdout, stderr")
	}
	return o, nil
}

// Attacher connects to a running container's stdio; the runtime
// implements it.
type Attacher interface {
	Attach(ctx context.Context, containerID string, opts mkruntime.AttachOptions) error
}

// streamIO are a session's streams, as the runtime takes them: nil Stdin
// when the client sends none, io.Discard for output it does not want, and
// Resize only with a terminal.
type streamIO struct {
	stdin          io.Reader
	stdout, stderr io.Writer
	resize         <-chan mkruntime.TerminalSize
}

// serveExec runs `kubectl exec` over kubectl's WebSocket protocol; the
// exit status goes on the error channel as a Status, which kubectl turns
// into "command terminated with exit code N" and its own exit code.
func (s *Server) serveExec(w http.ResponseWriter, r *http.Request, req resourceRequest) {
	pod, ok := s.streamPod(w, req)
	if !ok {
		return
	}
	cmd := r.URL.Query()["command"]
	if len(cmd) == 0 {
		writeError(w, apierrors.NewBadRequest("you must specify at least 1 command"))
		return
	}
	opts, err := parseStreamOptions(r)
	if err != nil {
		writeError(w, err)
		return
	}
	container, id, err := api.ExecTarget(pod, r.URL.Query().Get("container"))
	if err != nil {
		writeError(w, err)
		return
	}
	if s.deps.Exec == nil {
		writeError(w, apierrors.NewServiceUnavailable("exec is not available on this agent"))
		return
	}
	log := s.log.With(zap.String("pod", req.namespace+"/"+req.name), zap.String("container", container), zap.Strings("command", cmd))
	s.serveStream(w, r, log.With(zap.String("stream", "exec")), opts, func(ctx context.Context, sio streamIO) (int32, error) {
		return s.deps.Exec.Exec(ctx, id, mkruntime.ExecOptions{
			Cmd: cmd, TTY: opts.tty, Stdin: sio.stdin, Stdout: sio.stdout, Stderr: sio.stderr, Resize: sio.resize,
		})
	})
}

// serveAttach connects `kubectl attach` (and `kubectl run -i`) to a running
// container's stdio over the same WebSocket protocol. The session ends when
// the container exits, the client goes away or, as the runtime decides,
// its stdin ends; the error channel then carries Success or why the attach
// failed.
func (s *Server) serveAttach(w http.ResponseWriter, r *http.Request, req resourceRequest) {
	pod, ok := s.streamPod(w, req)
	if !ok {
		return
	}
	opts, err := parseStreamOptions(r)
	if err != nil {
		writeError(w, err)
		return
	}
	container, id, err := api.AttachTarget(pod, r.URL.Query().Get("container"))
	if err != nil {
		writeError(w, err)
		return
	}
	if s.deps.Attach == nil {
		writeError(w, apierrors.NewServiceUnavailable("attach is not available on this agent"))
		return
	}
	// The container's TTY decides how its output comes, whatever the
	// request says (kubectl only warns when they differ).
	for _, c := range pod.Spec.Containers {
		if c.Name == container {
			opts.tty = c.TTY
		}
	}
	if opts.tty {
		opts.stderr = false
	}
	log := s.log.With(zap.String("pod", req.namespace+"/"+req.name), zap.String("container", container))
	s.serveStream(w, r, log.With(zap.String("stream", "attach")), opts, func(ctx context.Context, sio streamIO) (int32, error) {
		return 0, s.deps.Attach.Attach(ctx, id, mkruntime.AttachOptions{
			Stdin: sio.stdin, Stdout: sio.stdout, Stderr: sio.stderr, Resize: sio.resize,
		})
	})
}

// streamPod finds the pod of an exec or attach, answering 404 when absent.
func (s *Server) streamPod(w http.ResponseWriter, req resourceRequest) (*v1.Pod, bool) {
	o, ok := s.cache.Get(keyPods, req.namespace, req.name)
	if !ok {
		writeError(w, apierrors.NewNotFound(req.info.groupResource(), req.name))
		return nil, false
	}
	return o.(*v1.Pod), true
}

// serveStream upgrades to kubectl's WebSocket protocol (v5.channel.k8s.io,
// or v4), served by apimachinery's wsstream as the kubelet's streaming
// server does, runs run on the session's streams and writes its outcome
// on the error channel.
func (s *Server) serveStream(w http.ResponseWriter, r *http.Request, log *zap.Logger, opts streamOptions, run func(context.Context, streamIO) (int32, error)) {
	s.streams.Add(1)
	defer s.streams.Done()
	if !wsstream.IsWebSocketRequest(r) {
		// SPDY: kubectl's fallback, older clients and client-go's SPDY
		// executor.
		s.serveSPDYStream(w, r, log, opts, run)
		return
	}

	chans := []wsstream.ChannelType{wsstream.IgnoreChannel, wsstream.IgnoreChannel, wsstream.IgnoreChannel, wsstream.WriteChannel, wsstream.ReadChannel}
	if opts.stdin {
		chans[chanStdin] = wsstream.ReadChannel
	}
	if opts.stdout {
		chans[chanStdout] = wsstream.WriteChannel
	}
	if opts.stderr {
		chans[chanStderr] = wsstream.WriteChannel
	}
	conn := wsstream.NewConn(map[string]wsstream.ChannelProtocolConfig{
		remotecommandconsts.StreamProtocolV5Name: {Binary: true, Channels: chans},
		"v4.channel.k8s.io":                      {Binary: true, Channels: chans},
		"":                                       {Binary: true, Channels: chans},
	})
	_, streams, err := conn.Open(w, r)
	if err != nil {
		log.Info("WebSocket upgrade failed", zap.Error(err))
		return
	}
	defer conn.Close()
	// An empty write tells the client the streams are ready.
	switch {
	case opts.stdout:
		_, _ = streams[chanStdout].Write(nil)
	case opts.stderr:
		_, _ = streams[chanStderr].Write(nil)
	default:
		_, _ = streams[chanError].Write(nil)
	}

	log.Info("stream")
	ctx, cancel := context.WithCancel(r.Context())
	defer cancel()
	sio := streamIO{stdout: io.Discard, stderr: io.Discard}
	if opts.stdin {
		sio.stdin = streams[chanStdin]
	}
	if opts.stdout {
		sio.stdout = streams[chanStdout]
	}
	if opts.stderr {
		sio.stderr = streams[chanStderr]
	}
	if opts.tty {
		resize := make(chan mkruntime.TerminalSize, 1)
		sio.resize = resize
		go readResizes(ctx, streams[chanResize], resize)
	}
	code, err := run(ctx, sio)
	writeExitStatus(streams[chanError], code, err)
	log.Info("stream done", zap.Int32("exitCode", code), zap.Error(err))
}

// readResizes decodes the terminal sizes kubectl sends (JSON, one after
// the other) until the stream ends.
func readResizes(ctx context.Context, r io.Reader, out chan<- mkruntime.TerminalSize) {
	dec := json.NewDecoder(r)
	for {
		var size struct{ Width, Height uint16 }
		if err := dec.Decode(&size); err != nil {
			return
		}
		select {
		case out <- mkruntime.TerminalSize{Width: size.Width, Height: size.Height}:
		case <-ctx.Done():
			return
		}
	}
}

// writeExitStatus reports how the command ended, as the kubelet's v4
// protocol does: Success, or a NonZeroExitCode failure carrying the code.
func writeExitStatus(w io.Writer, code int32, err error) {
	st := metav1.Status{Status: metav1.StatusSuccess}
	switch {
	case err != nil:
		st = apierrors.NewInternalError(err).Status()
	case code != 0:
		st = metav1.Status{
			Status:  metav1.StatusFailure,
			Reason:  remotecommandconsts.NonZeroExitCodeReason,
			Message: fmt.Sprintf("command terminated with non-zero exit code: error executing command [%d], exit code %d", code, code),
			Details: &metav1.StatusDetails{Causes: []metav1.StatusCause{{
				Type: remotecommandconsts.ExitCodeCauseType, Message: strconv.Itoa(int(code)),
			}}},
		}
	}
	data, _ := json.Marshal(st)
	_, _ = w.Write(data)
}
