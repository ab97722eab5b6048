package api

import (
	"context"
	"net/http"
	"strconv"

	"go.uber.org/zap"
	apierrors "k8s.io/apimachinery/pkg/api/errors"

	mkruntime "github.com/minikubelet/minikubelet/runtime"
)

// podAttach connects the client to a running container's stdio over the
// exec frame protocol (kubectl attach). The exit frame carries code 0, or
// the reason the attach failed; the session ends when the container exits,
// the client goes away or, as the runtime decides, its stdin ends.
func (s *Server) podAttach(w http.ResponseWriter, r *http.Request) {
	ns, name := r.PathValue("ns"), r.PathValue("name")
	q := r.URL.Query()
	pod := s.findPod(ns, name)
	if pod == nil {
		writeError(w, podNotFound(name))
		return
	}
	container, id, err := streamTarget(pod, q.Get("container"), "attach to")
	if err != nil {
		writeError(w, err)
		return
	}
	if s.deps.Attach == nil {
		writeError(w, apierrors.NewServiceUnavailable("attach is not available on this agent"))
		return
	}
	stdin, _ := strconv.ParseBool(q.Get("stdin"))
	// The container's TTY decides how its output comes, not the request.
	tty := false
	for _, c := range pod.Spec.Containers {
		if c.Name == container {
			tty = c.TTY
		}
	}
	conn, brw, ok := s.upgrade(w, r)
	if !ok {
		return
	}
	s.streams.Add(1)
	defer s.streams.Done()
	defer conn.Close()

	log := s.log.With(zap.String("pod", ns+"/"+name), zap.String("container", container))
	log.Info("attach")
	ctx, cancel := context.WithCancel(r.Context())
	defer cancel()
	_, err = runStreamSession(ctx, cancel, brw.Reader, conn, stdin, tty, func(ctx context.Context, sio streamIO) (int32, error) {
		return 0, s.deps.Attach.Attach(ctx, id, mkruntime.AttachOptions{
			Stdin: sio.stdin, Stdout: sio.stdout, Stderr: sio.stderr, Resize: sio.resize,
		})
	})
	if err != nil {
		log.Info("attach ended with error", zap.Error(err))
	} else {
		log.Info("attach done")
	}
}
