package prober

import (
	"errors"
	"fmt"
	"time"

	"go.uber.org/zap"
	v1 "k8s.io/api/core/v1"

	"github.com/minikubelet/minikubelet/events"
	"github.com/minikubelet/minikubelet/internal/kuberules"
	"github.com/minikubelet/minikubelet/prober/probe"
)

// maxProbeRetries is how often a probe that errors (not fails) is retried
// at once before the worker gives up on this tick, as kubelet does.
const maxProbeRetries = 3

// Event reasons kubelet uses for probes (pkg/kubelet/events).
const (
	reasonUnhealthy    = "Unhealthy"
	reasonProbeWarning = "ProbeWarning"
)

// errNoPodIP: a network probe with no host has nowhere to go before the pod
// has an IP. kubelet would dial ":port", i.e. the node itself; we refuse.
var errNoPodIP = errors.New("pod has no IP address yet")

// probe runs the worker's probe once (with retries on error), records the
// events kubelet records, and maps the outcome to a result. A non-nil error
// means there is no verdict; the caller discards it. quiet records no event
// and logs no failure: an early retry whose failure will be dropped.
func (w *worker) probe(pod *v1.Pod, quiet bool) (Result, error) {
	if w.m.observe != nil && !quiet {
		w.m.observe(w.key, w.due)
	}
	var (
		res probe.Result
		out string
		err error
	)
	for range maxProbeRetries {
		res, out, err = w.runOnce(pod)
		if err == nil || w.ctx.Err() != nil {
			break
		}
	}
	if w.ctx.Err() != nil {
		// Stopped in the middle of a probe: whatever came back is an
		// artefact of the cancellation, not the container's health.
		return Unknown, w.ctx.Err()
	}
	t := w.key.probeType
	ref := events.PodRef(w.pod, w.container.Name)
	if err != nil {
		if !quiet {
			w.log.Info("probe errored", zap.Stringer("result", res), zap.Error(err))
			events.Eventf(w.m.recorder, ref, v1.EventTypeWarning, reasonUnhealthy,
				"%s probe errored and resulted in %s state: %s", t, res, err)
		}
		return Failure, err
	}
	switch res {
	case probe.Success:
		w.log.Debug("probe succeeded")
		return Success, nil
	case probe.Warning:
		w.log.Debug("probe succeeded with a warning", zap.String("output", out))
		events.Eventf(w.m.recorder, ref, v1.EventTypeWarning, reasonProbeWarning, "%s probe warning: %s", t, out)
		return Success, nil
	case probe.Failure:
		w.log.Debug("probe failed", zap.String("output", out), zap.Bool("earlyRetry", quiet))
		if !quiet {
			events.Eventf(w.m.recorder, ref, v1.EventTypeWarning, reasonUnhealthy, "%s probe failed: %s", t, out)
		}
		return Failure, nil
	default:
		w.log.Debug("probe result unknown")
		return Failure, nil
	}
}

// runOnce runs the handler of the worker's probe. exec goes through the
// runtime into the container; tcpSocket, httpGet and grpc dial from this
// process, that is from the host network namespace, to the pod IP.
func (w *worker) runOnce(pod *v1.Pod) (probe.Result, string, error) {
	p := &w.spec
	timeout := time.Duration(p.TimeoutSeconds) * time.Second
	podIP := pod.Status.PodIP
	switch {
	case p.Exec != nil:
		if w.m.exec == nil {
			return probe.Unknown, "", errors.New("no exec runtime configured")
		}
		cmd := probe.ExpandCommand(p.Exec.Command, w.container.Env)
		return probe.Exec(w.ctx, w.m.exec, kuberules.BareContainerID(w.containerID), cmd, timeout)
	case p.HTTPGet != nil:
		if p.HTTPGet.Host == "" && podIP == "" {
			return probe.Unknown, "", errNoPodIP
		}
		req, err := probe.NewHTTPRequest(w.ctx, p.HTTPGet, w.container, podIP, w.m.userAgent)
		if err != nil {
			return probe.Unknown, "", err
		}
		return w.m.http.Probe(req, timeout)
	case p.TCPSocket != nil:
		port, err := probe.ResolvePort(p.TCPSocket.Port, w.container)
		if err != nil {
			return probe.Unknown, "", err
		}
		host := p.TCPSocket.Host
		if host == "" {
			host = podIP
		}
		if host == "" {
			return probe.Unknown, "", errNoPodIP
		}
		return probe.TCP(w.ctx, host, port, timeout)
	case p.GRPC != nil:
		if podIP == "" {
			return probe.Unknown, "", errNoPodIP
		}
		service := ""
		if p.GRPC.Service != nil {
			service = *p.GRPC.Service
		}
		return probe.GRPC(w.ctx, podIP, int(p.GRPC.Port), service, timeout, w.m.userAgent)
	default:
		return probe.Unknown, "", fmt.Errorf("missing probe handler for %s/%s:%s", w.pod.Namespace, w.pod.Name, w.container.Name)
	}
}
