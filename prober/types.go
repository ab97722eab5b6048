// Package prober runs the liveness, readiness and startup probes of pods'
// containers as kubelet's pkg/kubelet/prober does: one goroutine per
// (pod UID, container, probe type), driven by timers, committing a result
// only after failureThreshold or successThreshold equal results in a row.
//
// The prober never acts on a container. It keeps the committed results,
// calls Options.Notify when one changes, and answers the pod worker: Liveness
// and Startup say whether to kill a container, UpdatePodStatus fills in the
// started and ready fields of a status about to be published.
package prober

import (
	"context"
	"strings"
	"time"

	"go.uber.org/zap"
	v1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/utils/clock"

	"github.com/minikubelet/minikubelet/events"
)

// Result is a committed probe result.
type Result int

const (
	// Unknown: no verdict yet (a startup probe before its first commit).
	Unknown Result = iota
	// Success: the probe passed successThreshold times in a row.
	Success
	// Failure: the probe failed failureThreshold times in a row, or the
	// container is not running.
	Failure
)

func (r Result) String() string {
	switch r {
	case Success:
		return "Success"
	case Failure:
		return "Failure"
	default:
		return "Unknown"
	}
}

// ProbeType is the kind of probe a worker runs.
type ProbeType int

const (
	Liveness ProbeType = iota
	Readiness
	Startup
)

// String returns the word kubelet puts in events ("Liveness probe failed").
func (t ProbeType) String() string {
	switch t {
	case Liveness:
		return "Liveness"
	case Readiness:
		return "Readiness"
	case Startup:
		return "Startup"
	default:
		return "UNKNOWN"
	}
}

// Execer runs a command inside a container (the runtime implements it
// through containerd). containerID is the runtime's bare ID, without the
// "containerd://" prefix of ContainerStatus.ContainerID. It returns the
// combined stdout and stderr and the exit code; after timeout it kills the
// process and returns an error wrapping context.DeadlineExceeded.
type Execer interface {
	ExecSync(ctx context.Context, containerID string, cmd []string, timeout time.Duration) (output []byte, exitCode int32, err error)
}

// StatusProvider gives the latest published pod (spec and status) for a UID;
// the status store implements it. The prober never modifies what it returns,
// so it may be the published pod itself: every probe reads it, and a copy
// of the whole pod per probe was the largest of the probe's allocations.
type StatusProvider interface {
	Peek(uid types.UID) (*v1.Pod, bool)
}

// Options configures a Manager. Exec, Status and Recorder are required.
type Options struct {
	Log      *zap.Logger
	Exec     Execer
	Status   StatusProvider
	Recorder events.Recorder
	// Notify is called whenever a committed result changes, so that the
	// pod worker of uid re-syncs. It must return quickly and must not call
	// back into the Manager.
	Notify func(uid types.UID)
	// Clock drives timers and ages; tests pass a fake one. Default: real.
	Clock clock.Clock
	// Version is the kubelet version probes announce, "1.34" gives the
	// User-Agent kube-probe/1.34. Default "1.34".
	Version string
	// AgentStart is when the agent started. While less than a probe's
	// period has passed since then, a new worker waits a random part of
	// that period before its first probe, spreading the probes of pods
	// adopted at start-up.
	AgentStart time.Time
	// Observe, when set, is told the outcome of every probe run (before
	// the thresholds), for prober_probe_total: "successful", "failed", or
	// "unknown" when the prober itself failed. It must return quickly.
	Observe func(t ProbeType, pod *v1.Pod, container, result string)
}

// userAgent returns kube-probe/<major>.<minor> for a version like "1.34" or
// "v1.34.2".
func userAgent(version string) string {
	v := strings.TrimPrefix(version, "v")
	if v == "" {
		v = "1.34"
	}
	if parts := strings.SplitN(v, ".", 3); len(parts) >= 2 {
		v = parts[0] + "." + parts[1]
	}
	return "kube-probe/" + v
}
