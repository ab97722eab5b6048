package api

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"

	"go.uber.org/zap"
	v1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"

	mkruntime "github.com/minikubelet/minikubelet/runtime"
)

// execTarget validates an exec request against the pod like the API server
// and kubelet do, and returns the runtime ID of the running container.
func execTarget(pod *v1.Pod, container string) (string, string, error) {
	if pod.Status.Phase == v1.PodSucceeded || pod.Status.Phase == v1.PodFailed {
		return "", "", badRequest(fmt.Sprintf("cannot exec into a container in a completed pod; current phase is %s", pod.Status.Phase))
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
	id := cs.ContainerID
	if _, after, ok := strings.Cut(id, "://"); ok {
		id = after
	}
	return container, id, nil
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
	if !strings.EqualFold(r.Header.Get("Upgrade"), ExecUpgradeProtocol) {
		writeError(w, badRequest(fmt.Sprintf("exec needs a connection upgrade to %s", ExecUpgradeProtocol)))
		return
	}
	hj, ok := w.(http.Hijacker)
	if !ok {
		writeError(w, fmt.Errorf("connection cannot be upgraded"))
		return
	}
	tty, _ := strconv.ParseBool(q.Get("tty"))
	stdin, _ := strconv.ParseBool(q.Get("stdin"))

	conn, brw, err := hj.Hijack()
	if err != nil {
		s.log.Warn("hijack exec connection", zap.Error(err))
		return
	}
	s.streams.Add(1)
	defer s.streams.Done()
	defer conn.Close()
	if _, err := fmt.Fprintf(conn, "HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade\r\nUpgrade: %s\r\n\r\n", ExecUpgradeProtocol); err != nil {
		return
	}

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

// runExecSession runs cmd in container id, relaying frames between the
// client (read from in, written to out) and the runtime, and ends with the
// exit frame. cancel is called when the client goes away.
func runExecSession(ctx context.Context, cancel context.CancelFunc, in io.Reader, out io.Writer,
	ex Executor, id string, cmd []string, stdin, tty bool) (int32, error) {
	fw := &frameWriter{w: out}
	opts := mkruntime.ExecOptions{
		Cmd:    cmd,
		TTY:    tty,
		Stdout: channelWriter{fw: fw, ch: ChanStdout},
		Stderr: channelWriter{fw: fw, ch: ChanStderr},
	}
	var stdinR *io.PipeReader
	var stdinW *io.PipeWriter
	if stdin {
		stdinR, stdinW = io.Pipe()
		opts.Stdin = stdinR
	}
	resize := make(chan mkruntime.TerminalSize, 1)
	if tty {
		opts.Resize = resize
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

	code, err := ex.Exec(ctx, id, opts)
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
