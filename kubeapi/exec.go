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

// serveExec runs `kubectl exec` over kubectl's WebSocket protocol
// (v5.channel.k8s.io, or v4), served by apimachinery's wsstream as the
// kubelet's streaming server does; the exit status goes on the error
// channel as a Status, which kubectl turns into "command terminated with
// exit code N" and its own exit code.
func (s *Server) serveExec(w http.ResponseWriter, r *http.Request, req resourceRequest) {
	o, ok := s.cache.Get(keyPods, req.namespace, req.name)
	if !ok {
		writeError(w, apierrors.NewNotFound(req.info.groupResource(), req.name))
		return
	}
	pod := o.(*v1.Pod)
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
	if !wsstream.IsWebSocketRequest(r) {
		// kubectl falls back to SPDY when the WebSocket upgrade fails;
		// only WebSocket is served.
		writeError(w, apierrors.NewBadRequest("exec needs a WebSocket upgrade (v5.channel.k8s.io)"))
		return
	}
	s.streams.Add(1)
	defer s.streams.Done()

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
		s.log.Info("exec: WebSocket upgrade failed", zap.Error(err))
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

	log := s.log.With(zap.String("pod", req.namespace+"/"+req.name), zap.String("container", container), zap.Strings("command", cmd))
	log.Info("exec")
	ctx, cancel := context.WithCancel(r.Context())
	defer cancel()
	eo := mkruntime.ExecOptions{Cmd: cmd, TTY: opts.tty}
	if opts.stdin {
		eo.Stdin = streams[chanStdin]
	}
	if opts.stdout {
		eo.Stdout = streams[chanStdout]
	} else {
		eo.Stdout = io.Discard
	}
	if opts.stderr {
		eo.Stderr = streams[chanStderr]
	} else {
		eo.Stderr = io.Discard
	}
	if opts.tty {
		resize := make(chan mkruntime.TerminalSize, 1)
		eo.Resize = resize
		go readResizes(ctx, streams[chanResize], resize)
	}
	code, err := s.deps.Exec.Exec(ctx, id, eo)
	writeExitStatus(streams[chanError], code, err)
	log.Info("exec done", zap.Int32("exitCode", code), zap.Error(err))
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
