package api

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"os"
	"strconv"
	"strings"
	"time"

	"go.uber.org/zap"
	v1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/watch"

	"github.com/minikubelet/minikubelet/logs"
	"github.com/minikubelet/minikubelet/runtime"
)

// containerNames lists the app containers of pod, then its init containers,
// in spec order.
func containerNames(specs []v1.Container) string {
	names := make([]string, len(specs))
	for i, c := range specs {
		names[i] = c.Name
	}
	return strings.Join(names, " ")
}

// resolveContainer applies the API server's rules for a log or exec request:
// an empty name means the only app container; a given name must exist.
func resolveContainer(pod *v1.Pod, name string) (string, error) {
	if name == "" {
		switch len(pod.Spec.Containers) {
		case 1:
			return pod.Spec.Containers[0].Name, nil
		case 0:
			return "", badRequest(fmt.Sprintf("a container name must be specified for pod %s", pod.Name))
		default:
			msg := fmt.Sprintf("a container name must be specified for pod %s, choose one of: [%s]",
				pod.Name, containerNames(pod.Spec.Containers))
			if len(pod.Spec.InitContainers) > 0 {
				msg += fmt.Sprintf(" or one of the init containers: [%s]", containerNames(pod.Spec.InitContainers))
			}
			return "", badRequest(msg)
		}
	}
	for _, cs := range [][]v1.Container{pod.Spec.Containers, pod.Spec.InitContainers} {
		for _, c := range cs {
			if c.Name == name {
				return name, nil
			}
		}
	}
	return "", badRequest(fmt.Sprintf("container %s is not valid for pod %s", name, pod.Name))
}

func findContainerStatus(pod *v1.Pod, name string) (v1.ContainerStatus, bool) {
	for _, list := range [][]v1.ContainerStatus{pod.Status.ContainerStatuses, pod.Status.InitContainerStatuses} {
		for _, cs := range list {
			if cs.Name == name {
				return cs, true
			}
		}
	}
	return v1.ContainerStatus{}, false
}

// logTarget is the container instance whose log a request reads.
type logTarget struct {
	containerID string
	attempt     int32 // the instance's restart count: its log file is <attempt>.log
	running     bool
}

// chooseLogTarget follows the kubelet's validateContainerLogStatus: the
// last terminated instance (lastState) when asked for the previous one, else
// the running one, else the one that terminated last; a container that never
// ran has no log yet. As upstream, a container waiting to restart (in
// CrashLoopBackOff) has its newest instance as lastState, so there both
// requests read that instance.
func chooseLogTarget(pod *v1.Pod, container string, previous bool) (logTarget, error) {
	cs, ok := findContainerStatus(pod, container)
	if !ok {
		return logTarget{}, badRequest(fmt.Sprintf("container %q in pod %q is not available", container, pod.Name))
	}
	last := cs.LastTerminationState.Terminated
	prev := func() (logTarget, error) {
		if last == nil || last.ContainerID == "" {
			return logTarget{}, badRequest(fmt.Sprintf("container %q in pod %q is terminated", container, pod.Name))
		}
		return logTarget{containerID: last.ContainerID, attempt: lastAttempt(cs)}, nil
	}
	st := cs.State
	switch {
	case previous:
		if last == nil || last.ContainerID == "" {
			return logTarget{}, badRequest(fmt.Sprintf("previous terminated container %q in pod %q not found", container, pod.Name))
		}
		return prev()
	case st.Running != nil:
		return logTarget{containerID: cs.ContainerID, attempt: cs.RestartCount, running: true}, nil
	case st.Terminated != nil:
		if st.Terminated.ContainerID == "" {
			return prev()
		}
		return logTarget{containerID: st.Terminated.ContainerID, attempt: cs.RestartCount}, nil
	case last != nil:
		return prev()
	case st.Waiting != nil:
		switch reason := st.Waiting.Reason; reason {
		case "ErrImagePull":
			return logTarget{}, badRequest(fmt.Sprintf("container %q in pod %q is waiting to start: image can't be pulled", container, pod.Name))
		case "ImagePullBackOff":
			return logTarget{}, badRequest(fmt.Sprintf("container %q in pod %q is waiting to start: trying and failing to pull image", container, pod.Name))
		default:
			return logTarget{}, badRequest(fmt.Sprintf("container %q in pod %q is waiting to start: %s", container, pod.Name, reason))
		}
	default:
		return logTarget{}, badRequest(fmt.Sprintf("container %q in pod %q is waiting to start - no logs yet", container, pod.Name))
	}
}

// lastAttempt is the restart count, hence the log file number, of the
// instance in cs.LastTerminationState. restartCount and containerID are the
// newest instance's: when lastState is that same instance (it exited and
// waits to restart) its file is <restartCount>.log, else lastState is the
// instance before the newest, <restartCount-1>.log.
func lastAttempt(cs v1.ContainerStatus) int32 {
	if last := cs.LastTerminationState.Terminated; last != nil && last.ContainerID == cs.ContainerID {
		return cs.RestartCount
	}
	return max(cs.RestartCount-1, 0)
}

func parseLogOptions(r *http.Request, now time.Time) (logs.ReadOptions, bool, error) {
	q := r.URL.Query()
	opts := logs.ReadOptions{TailLines: -1}
	var err error
	boolParam := func(name string) bool {
		if err != nil {
			return false
		}
		v := q.Get(name)
		if v == "" {
			return false
		}
		b, perr := strconv.ParseBool(v)
		if perr != nil {
			err = badRequest(fmt.Sprintf("%s: invalid boolean %q", name, v))
		}
		return b
	}
	intParam := func(name string, min int64) (int64, bool) {
		v := q.Get(name)
		if err != nil || v == "" {
			return 0, false
		}
		n, perr := strconv.ParseInt(v, 10, 64)
		if perr != nil || n < min {
			err = badRequest(fmt.Sprintf("%s: must be an integer not less than %d, got %q", name, min, v))
			return 0, false
		}
		return n, true
	}
	previous := boolParam("previous")
	opts.Follow = boolParam("follow")
	opts.Timestamps = boolParam("timestamps")
	if n, ok := intParam("tailLines", 0); ok {
		opts.TailLines = n
	}
	if n, ok := intParam("limitBytes", 1); ok {
		opts.LimitBytes = n
	}
	if n, ok := intParam("sinceSeconds", 1); ok {
		t := now.Add(-time.Duration(n) * time.Second)
		opts.SinceTime = &t
	}
	if v := q.Get("sinceTime"); v != "" && err == nil {
		if q.Get("sinceSeconds") != "" {
			return opts, false, badRequest("at most one of sinceTime or sinceSeconds may be specified")
		}
		t, perr := time.Parse(time.RFC3339, v)
		if perr != nil {
			return opts, false, badRequest(fmt.Sprintf("sinceTime: %v", perr))
		}
		opts.SinceTime = &t
	}
	switch st := q.Get("stream"); st {
	case "", "All":
	case "Stdout":
		opts.Stream = logs.Stdout
	case "Stderr":
		opts.Stream = logs.Stderr
	default:
		return opts, false, badRequest(fmt.Sprintf("stream: must be one of All, Stdout or Stderr, got %q", st))
	}
	return opts, previous, err
}

func (s *Server) podLog(w http.ResponseWriter, r *http.Request) {
	ns, name := r.PathValue("ns"), r.PathValue("name")
	pod := s.findPod(ns, name)
	if pod == nil {
		writeError(w, podNotFound(name))
		return
	}
	opts, previous, err := parseLogOptions(r, s.now())
	if err != nil {
		writeError(w, err)
		return
	}
	container, err := resolveContainer(pod, r.URL.Query().Get("container"))
	if err != nil {
		writeError(w, err)
		return
	}
	target, err := chooseLogTarget(pod, container, previous)
	if err != nil {
		writeError(w, err)
		return
	}
	path := runtime.LogPath(s.deps.LogDir, pod, container, target.attempt)
	if _, err := os.Stat(path); err != nil {
		if errors.Is(err, os.ErrNotExist) {
			err = badRequest(fmt.Sprintf("log file of container %q in pod %q not found: %s", container, name, path))
		}
		writeError(w, err)
		return
	}

	ctx := r.Context()
	// done tells a follow that the instance will write no more: at once for
	// one that is not running, else when its status changes.
	done := make(chan struct{})
	if opts.Follow && target.running {
		go s.waitInstanceEnd(ctx, pod, container, target.containerID, done)
	} else {
		close(done)
	}

	w.Header().Set("Content-Type", "text/plain")
	w.WriteHeader(http.StatusOK)
	fw := &flushWriter{w: w}
	if f, ok := w.(http.Flusher); ok {
		fw.f = f
		f.Flush()
	}
	if err := logs.Read(ctx, path, opts, fw, done); err != nil && ctx.Err() == nil {
		// Headers are out: all that is left is to log and cut the stream.
		s.log.Warn("read container log", zap.String("pod", ns+"/"+name),
			zap.String("container", container), zap.String("path", path), zap.Error(err))
	}
}

// waitInstanceEnd closes done once the container instance id of pod is no
// longer running (it exited, was replaced, or the pod went away), or ctx ends.
func (s *Server) waitInstanceEnd(ctx context.Context, pod *v1.Pod, container, id string, done chan<- struct{}) {
	defer close(done)
	stillRunning := func(p *v1.Pod) bool {
		cs, ok := findContainerStatus(p, container)
		return ok && cs.ContainerID == id && cs.State.Running != nil
	}
	for {
		ch := s.deps.Pods.Watch(ctx, watchBuffer)
		// Check after subscribing, so a change between the request's
		// lookup and now is not missed.
		cur, ok := s.podByUID(pod)
		if !ok || !stillRunning(cur) {
			return
		}
		for e := range ch {
			if e.Pod.UID != pod.UID {
				continue
			}
			if e.Type == watch.Deleted || !stillRunning(e.Pod) {
				return
			}
		}
		// The channel closed: ctx ended, or this watcher fell behind and
		// must look again.
		if ctx.Err() != nil {
			return
		}
	}
}

func (s *Server) podByUID(pod *v1.Pod) (*v1.Pod, bool) {
	for _, p := range s.deps.Pods.List(pod.Namespace) {
		if p.UID == pod.UID {
			return p, true
		}
	}
	return nil, false
}

// flushWriter pushes every write to the client at once, so a follow shows
// lines as they come.
type flushWriter struct {
	w http.ResponseWriter
	f http.Flusher
}

func (fw *flushWriter) Write(p []byte) (int, error) {
	n, err := fw.w.Write(p)
	if fw.f != nil {
		fw.f.Flush()
	}
	return n, err
}
