package api

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"strconv"
	"strings"

	"go.uber.org/zap"
	v1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"

	mkruntime "github.com/minikubelet/minikubelet/runtime"

	"github.com/minikubelet/minikubelet/internal/kuberules"
)

// execTarget validates an exec request against the pod like the API server
// and kubelet do, and returns the runtime ID of the running container.
func execTarget(pod *v1.Pod, container string) (string, string, error) {
	return streamTarget(pod, container, "exec into")
}

// streamTarget validates an exec or attach (verb: "exec into", "attach
// to") against the pod and returns the container's name and runtime ID.
func streamTarget(pod *v1.Pod, container, verb string) (string, string, error) {
	if pod.Status.Phase == v1.PodSucceeded || pod.Status.Phase == v1.PodFailed {
		return "", "", badRequest(fmt.Sprintf("cannot %s a container in a completed pod; current phase is %s", verb, pod.Status.Phase))
	}
	container, err := resolveContainer(pod, container)
	if err != nil {
		return "", "", err
	}
	cs, ok := findContainerStatus(pod, container)
	if !ok || cs.State.Running == nil || cs.ContainerID == "" {
		return "", "", badRequest(fmt.Sprintf("unable to upgrade connection: container not found (%q)", container))
	}
	// Status carries "<runtime>://<id>"; the runtime wants the bare ID.
	return container, kuberules.BareContainerID(cs.ContainerID), nil
}

func (s *Server) podExec(w http.ResponseWriter, r *http.Request) {
	ns, name := r.PathValue("ns"), r.PathValue("name")
	q := r.URL.Query()
	pod := s.findPod(ns, name)
	if pod == nil {
		writeError(w, podNotFound(name))
		return
	}
	cmd := q["command"]
	if len(cmd) == 0 {
		writeError(w, badRequest("you must specify at least 1 command"))
		return
	}
	container, id, err := execTarget(pod, q.Get("container"))
	if err != nil {
		writeError(w, err)
		return
	}
	if s.deps.Exec == nil {
		writeError(w, apierrors.NewServiceUnavailable("exec is not available on this agent"))
		return
	}
	tty, _ := strconv.ParseBool(q.Get("tty"))
	stdin, _ := strconv.ParseBool(q.Get("stdin"))
	conn, brw, ok := s.upgrade(w, r)
	if !ok {
		return
	}
	s.streams.Add(1)
	defer s.streams.Done()
	defer conn.Close()

	log := s.log.With(zap.String("pod", ns+"/"+name), zap.String("container", container), zap.Strings("command", cmd))
	log.Info("exec")
	// r.Context ends at shutdown (it derives from Serve's context); the
	// session's own cancel covers the client going away.
	ctx, cancel := context.WithCancel(r.Context())
	defer cancel()
	code, err := runExecSession(ctx, cancel, brw.Reader, conn, s.deps.Exec, id, cmd, stdin, tty)
	if err != nil {
		log.Info("exec ended with error", zap.Error(err))
	} else {
		log.Info("exec done", zap.Int32("exitCode", code))
	}
}

// upgrade switches a streaming request (exec, attach) to the frame
// protocol: it checks the Upgrade header, hijacks the connection and
// answers 101. On failure it has answered the request and returns false.
func (s *Server) upgrade(w http.ResponseWriter, r *http.Request) (net.Conn, *bufio.ReadWriter, bool) {
	if !strings.EqualFold(r.Header.Get("Upgrade"), ExecUpgradeProtocol) {
		writeError(w, badRequest(fmt.Sprintf("a connection upgrade to %s is needed", ExecUpgradeProtocol)))
		return nil, nil, false
	}
	hj, ok := w.(http.Hijacker)
	if !ok {
		writeError(w, fmt.Errorf("connection cannot be upgraded"))
		return nil, nil, false
	}
	conn, brw, err := hj.Hijack()
	if err != nil {
		s.log.Warn("hijack streaming connection", zap.Error(err))
		return nil, nil, false
	}
	if _, err := fmt.Fprintf(conn, "HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade\r\nUpgrade: %s\r\n\r\n", ExecUpgradeProtocol); err != nil {
		conn.Close()
		return nil, nil, false
	}
	return conn, brw, true
}

// runExecSession runs cmd in container id, relaying frames between the
// client (read from in, written to out) and the runtime, and ends with the
// exit frame. cancel is called when the client goes away.
func runExecSession(ctx context.Context, cancel context.CancelFunc, in io.Reader, out io.Writer,
	ex Executor, id string, cmd []string, stdin, tty bool) (int32, error) {
	return runStreamSession(ctx, cancel, in, out, stdin, tty, func(ctx context.Context, sio streamIO) (int32, error) {
		return ex.Exec(ctx, id, mkruntime.ExecOptions{
			Cmd: cmd, TTY: tty, Stdin: sio.stdin, Stdout: sio.stdout, Stderr: sio.stderr, Resize: sio.resize,
		})
	})
}

// streamIO is what a streaming session hands the process it serves: the
// client's stdin (nil unless asked for), its output channels and, with a
// TTY, its terminal size changes.
type streamIO struct {
	stdin          io.Reader
	stdout, stderr io.Writer
	resize         <-chan mkruntime.TerminalSize
}

// runStreamSession relays frames between the client (read from in, written
// to out) and run, and ends with the exit frame carrying run's result.
// cancel is called when the client goes away.
func runStreamSession(ctx context.Context, cancel context.CancelFunc, in io.Reader, out io.Writer,
	stdin, tty bool, run func(context.Context, streamIO) (int32, error)) (int32, error) {
	fw := &frameWriter{w: out}
	sio := streamIO{
		stdout: channelWriter{fw: fw, ch: ChanStdout},
		stderr: channelWriter{fw: fw, ch: ChanStderr},
	}
	var stdinR *io.PipeReader
	var stdinW *io.PipeWriter
	if stdin {
		stdinR, stdinW = io.Pipe()
		sio.stdin = stdinR
	}
	resize := make(chan mkruntime.TerminalSize, 1)
	if tty {
		sio.resize = resize
	}
	go func() {
		// Reads client frames until the connection ends; a connection that
		// ends before the exit frame went out means the client is gone.
		defer cancel()
		for {
			ch, payload, err := readFrame(in)
			if err != nil {
				if stdinW != nil {
					stdinW.CloseWithError(io.EOF)
				}
				return
			}
			switch ch {
			case ChanStdin:
				if stdinW != nil {
					// Blocks until the process reads: that is the flow control.
					if _, err := stdinW.Write(payload); err != nil {
						stdinW = nil // the process closed its stdin; drop the rest
					}
				}
			case ChanCloseStdin:
				if stdinW != nil {
					stdinW.Close()
					stdinW = nil
				}
			case ChanResize:
				var sz mkruntime.TerminalSize
				if json.Unmarshal(payload, &sz) != nil || !tty {
					continue
				}
				// Only the newest size matters.
				select {
				case <-resize:
				default:
				}
				resize <- sz
			}
		}
	}()

	code, err := run(ctx, sio)
	if stdinR != nil {
		// Unblocks a reader goroutine stuck writing stdin nobody reads.
		stdinR.Close()
	}
	st := ExitStatus{Code: code}
	if err != nil {
		st.Error = err.Error()
	}
	payload, _ := json.Marshal(st)
	_ = fw.writeFrame(ChanExit, payload)
	return code, err
}
