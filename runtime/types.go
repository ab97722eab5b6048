// Package runtime runs pods on containerd. It is the only package that
// imports the containerd client: sandboxes (netns + CNI + pause), containers,
// images, exec, logs and exit events, all addressed in pod-shaped terms.
package runtime

import (
	"errors"
	"io"
	"time"

	v1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/types"
)

// ContainerState mirrors the CRI container states the kubelet reasons about.
type ContainerState string

const (
	StateCreated ContainerState = "created"
	StateRunning ContainerState = "running"
	StateExited  ContainerState = "exited"
	StateUnknown ContainerState = "unknown"
)

// ContainerKind tells init containers from app containers; both live in the
// same sandbox and are told apart only by this label.
type ContainerKind string

const (
	KindInit ContainerKind = "init"
	KindApp  ContainerKind = "app"
)

// Sandbox is one pod sandbox (network namespace + pause task) as containerd
// holds it. Values are snapshots: the runtime never mutates one it returned.
type Sandbox struct {
	ID           string
	PodUID       types.UID
	PodName      string
	PodNamespace string
	// Attempt counts sandbox re-creations for the same pod UID, from 0.
	Attempt   uint32
	Ready     bool // the pause task is running
	IPs       []string
	NetNSPath string
	PID       uint32 // pause task PID, 0 when not running
	CreatedAt time.Time
}

// Container is one container instance (one attempt) of a pod.
type Container struct {
	ID           string
	PodUID       types.UID
	SandboxID    string
	Name         string
	Kind         ContainerKind
	RestartCount int32
	// SpecHash is the hash of the v1.Container this instance was made from.
	SpecHash string
	Image    string // image as written in the spec
	ImageRef string // normalised reference, e.g. docker.io/library/busybox:latest
	ImageID  string // digest reference, e.g. docker.io/library/busybox@sha256:…
	State    ContainerState
	// PID of the container's init process while it runs.
	PID        uint32
	CreatedAt  time.Time
	StartedAt  time.Time
	FinishedAt time.Time
	ExitCode   int32
	Reason     string // Completed, Error, OOMKilled, Unknown (containerd's CRI words)
	Message    string
	LogPath    string
}

// PodState is everything the runtime holds for one pod UID, newest first.
type PodState struct {
	UID        types.UID
	Name       string
	Namespace  string
	Sandboxes  []Sandbox
	Containers []Container
}

// ImageInfo describes an image present in containerd.
type ImageInfo struct {
	Ref  string // normalised name
	ID   string // digest reference
	Size int64
	// StopSignal from the image config, "" when the image sets none.
	StopSignal string
}

// EventType is the closed vocabulary of runtime events.
type EventType string

const (
	// ContainerExited fires when a container's main process exits. Exec
	// processes (probes, exec) never produce it.
	ContainerExited EventType = "ContainerExited"
	// ContainerOOM fires when the kernel OOM-killed a process of a container.
	ContainerOOM EventType = "ContainerOOM"
	// Resubscribed fires, with no pod, when the runtime subscribed to
	// containerd's event stream again after it broke (containerd
	// restarted): exits during the gap were not streamed, so every pod
	// should look at its state again.
	Resubscribed EventType = "Resubscribed"
	// ContainerLogFailed fires when writing a container's log file starts
	// failing (its disk is full, say), with the error as Message: the
	// container's output is drained and dropped meanwhile.
	// ContainerLogResumed fires when writing it succeeds again. Each
	// fires once per change, not per write.
	ContainerLogFailed  EventType = "ContainerLogFailed"
	ContainerLogResumed EventType = "ContainerLogResumed"
)

// Event is a change containerd reported about a container this agent manages.
type Event struct {
	Type        EventType
	PodUID      types.UID
	ContainerID string
	// ContainerName is set on the log events.
	ContainerName string
	ExitCode      int32
	// Message is the error of ContainerLogFailed.
	Message string
	At      time.Time
}

var (
	// ErrImageNotPresent is returned by ImageStatus for a missing image.
	ErrImageNotPresent = errors.New("image not present")
	// ErrInvalidImageName is returned for a reference that cannot be parsed.
	ErrInvalidImageName = errors.New("invalid image name")
	// ErrOffline is returned by PullImage on an offline node for a registry
	// that is not on loopback.
	ErrOffline = errors.New("offline node: pulls from remote registries are disabled")
)

// ContainerOptions carries what the pod worker decided about a container
// instance beyond its v1.Container.
type ContainerOptions struct {
	Kind         ContainerKind
	RestartCount int32
	SpecHash     string
	Image        ImageInfo
	// LogPath is the CRI-format log file for this instance.
	LogPath string
	// Warn, when set, records a Warning event on the pod (the kubelet's
	// InvalidEnvironmentVariableNames).
	Warn func(reason, message string)
	// ServiceEnv are the Services' variables (FOO_SERVICE_HOST…): below
	// the container's own env, which may refer to them.
	ServiceEnv []v1.EnvVar
}

// ExecOptions describes an interactive exec.
type ExecOptions struct {
	Cmd    []string
	TTY    bool
	Stdin  io.Reader // nil for no stdin
	Stdout io.Writer
	Stderr io.Writer // ignored with TTY
	// Resize delivers terminal size changes when TTY is set.
	Resize <-chan TerminalSize
}

// TerminalSize is a TTY window size.
type TerminalSize struct{ Width, Height uint16 }

// ConfigError is a container whose pod spec cannot be turned into a
// runtime configuration: its environment, command, hostname or mounts.
// It is the kubelet's CreateContainerConfigError (generateContainerConfig
// failed); its Error is the cause's message alone, which the kubelet shows
// as the waiting message, while the error StartContainer returns around it
// also names the container and pod.
type ConfigError struct{ Err error }

func (e *ConfigError) Error() string { return e.Err.Error() }
func (e *ConfigError) Unwrap() error { return e.Err }
