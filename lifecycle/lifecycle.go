// Package lifecycle runs containers' postStart and preStop hooks as the
// kubelet's pkg/kubelet/lifecycle does: exec inside the container through
// the runtime, httpGet from the host to the pod IP (any HTTP answer is a
// success), and sleep. It decides nothing about when hooks run or what a
// failure does to the container: that is the pod worker's business.
package lifecycle

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"strings"
	"time"

	v1 "k8s.io/api/core/v1"

	"github.com/minikubelet/minikubelet/events"
	"github.com/minikubelet/minikubelet/prober/probe"
)

// Execer runs a command inside a container and returns its combined output
// and exit code; the runtime implements it. timeout 0 means no timeout
// beyond ctx.
type Execer interface {
	ExecSync(ctx context.Context, containerID string, cmd []string, timeout time.Duration) (output []byte, exitCode int32, err error)
}

// Runner runs lifecycle handlers. It holds no per-hook state and is safe
// for concurrent use.
type Runner struct {
	exec      Execer
	http      *probe.HTTP
	rec       events.Recorder
	userAgent string
}

// NewRunner returns a Runner whose exec hooks go through exec and whose
// HTTP hooks announce themselves as kube-lifecycle/<version> ("1.34").
func NewRunner(exec Execer, rec events.Recorder, version string) *Runner {
	return &Runner{exec: exec, http: probe.NewHTTP(), rec: rec, userAgent: "kube-lifecycle/" + version}
}

// Run runs handler h of container c (runtime ID containerID) of pod, whose
// sandbox has podIP. It blocks until the hook returns or ctx ends: the
// caller bounds a preStop hook by the grace period; postStart hooks have no
// timeout, as in kubelet. On failure it returns the kubelet's message for
// the container's status together with the error.
func (r *Runner) Run(ctx context.Context, pod *v1.Pod, c *v1.Container, containerID, podIP string, h *v1.LifecycleHandler) (string, error) {
	podRef := fmt.Sprintf("%s_%s(%s)", pod.Name, pod.Namespace, pod.UID)
	switch {
	case h.Exec != nil:
		out, err := r.runExec(ctx, containerID, h.Exec.Command)
		if err != nil {
			return fmt.Sprintf("Exec lifecycle hook (%v) for Container %q in Pod %q failed - error: %v, message: %q",
				h.Exec.Command, c.Name, podRef, err, out), err
		}
		return "", nil
	case h.HTTPGet != nil:
		if err := r.runHTTP(ctx, pod, c, podIP, h.HTTPGet); err != nil {
			return fmt.Sprintf("HTTP lifecycle hook (%s) for Container %q in Pod %q failed - error: %v",
				h.HTTPGet.Path, c.Name, podRef, err), err
		}
		return "", nil
	case h.Sleep != nil:
		if err := sleep(ctx, time.Duration(h.Sleep.Seconds)*time.Second); err != nil {
			return fmt.Sprintf("Sleep lifecycle hook (%d) for Container %q in Pod %q failed - error: %v",
				h.Sleep.Seconds, c.Name, podRef, err), err
		}
		return "", nil
	default:
		// tcpSocket passes validation for old manifests' sake, but the
		// kubelet has never run it.
		err := fmt.Errorf("invalid handler: %v", h)
		return fmt.Sprintf("Cannot run handler: %v", err), err
	}
}

// runExec runs cmd as kubelet's RunInContainer does: a non-zero exit is an
// error naming the command, the code and the output.
func (r *Runner) runExec(ctx context.Context, containerID string, cmd []string) (string, error) {
	if r.exec == nil {
		return "", errors.New("no exec runtime configured")
	}
	out, code, err := r.exec.ExecSync(ctx, containerID, cmd, 0)
	if err != nil {
		return string(out), err
	}
	if code != 0 {
		return string(out), fmt.Errorf("command '%s' exited with %d: %s", strings.Join(cmd, " "), code, out)
	}
	return string(out), nil
}

// runHTTP sends the hook's GET from the host. An HTTPS hook answered in
// plain HTTP is retried over HTTP, with a warning event, as kubelet does
// for servers that never had TLS.
func (r *Runner) runHTTP(ctx context.Context, pod *v1.Pod, c *v1.Container, podIP string, action *v1.HTTPGetAction) error {
	if action.Host == "" && podIP == "" {
		return errors.New("pod has no IP address")
	}
	req, err := probe.NewHTTPRequest(ctx, action, c, podIP, r.userAgent)
	if err != nil {
		return err
	}
	_, err = r.http.Do(req, 0)
	if !isHTTPResponseError(err) {
		return err
	}
	plain := req.Clone(ctx)
	plain.URL.Scheme = "http"
	plain.Header.Del("Authorization")
	if _, herr := r.http.Do(plain, 0); herr != nil {
		return err
	}
	events.Eventf(r.rec, events.PodRef(pod, ""), v1.EventTypeWarning, "LifecycleHTTPFallback",
		"request to HTTPS lifecycle hook %s got HTTP response, retry with HTTP succeeded", req.URL.Host)
	return nil
}

// isHTTPResponseError reports Go's answer to a TLS request that met a plain
// HTTP server.
func isHTTPResponseError(err error) bool {
	var uerr *url.Error
	return errors.As(err, &uerr) && strings.Contains(uerr.Err.Error(), "server gave HTTP response to HTTPS client")
}

func sleep(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return errors.New("container terminated before sleep hook finished")
	case <-t.C:
		return nil
	}
}
