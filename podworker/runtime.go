package podworker

import (
	"context"
	"time"

	v1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/types"

	"github.com/minikubelet/minikubelet/runtime"
)

// Runtime is what a pod worker needs from the container runtime. The real
// implementation is *runtime.Containerd; tests use a fake.
//
// Every call is safe to repeat: stopping or removing something already gone
// succeeds.
type Runtime interface {
	// ListPods returns every pod the runtime holds in its namespace, grouped
	// by pod UID (the pod resync's one listing).
	ListPods(ctx context.Context) ([]runtime.PodState, error)
	// StartupPods is ListPods as the runtime's start-up found the
	// namespace, on its first call (later calls list again). Used once at
	// start to adopt what survived an agent restart.
	StartupPods(ctx context.Context) ([]runtime.PodState, error)
	// PodState returns the sandboxes and containers of one pod, newest first.
	PodState(ctx context.Context, uid types.UID) (runtime.PodState, error)

	// RunSandbox creates the pod's network namespace, runs CNI ADD, writes
	// the pod's hosts/hostname/resolv.conf, and starts the pause task.
	// On failure nothing it created is left behind.
	RunSandbox(ctx context.Context, pod *v1.Pod, attempt uint32) (runtime.Sandbox, error)
	// PrepareVolumes writes the pod's configMap, secret, downwardAPI and
	// projected volumes from the current objects, rewriting only what
	// changed; a volume that cannot be set up is a *runtime.MountError.
	PrepareVolumes(ctx context.Context, pod *v1.Pod) error
	// StopSandbox kills every task of the sandbox (SIGKILL), kills the pause
	// task, runs CNI DEL and removes the network namespace.
	StopSandbox(ctx context.Context, sandboxID string) error
	// RemoveSandbox deletes the pause container and its snapshot.
	RemoveSandbox(ctx context.Context, sandboxID string) error
	// SavedPod returns the pod a sandbox was made for, as saved by
	// RunSandbox, so an agent restart can terminate a pod whose manifest
	// is gone with its own grace period.
	SavedPod(ctx context.Context, uid types.UID) (*v1.Pod, error)
	// CleanupPod removes what the pod owns outside containerd: its state dir
	// (emptyDir volumes, hosts files, shm mount) and its log dir.
	CleanupPod(ctx context.Context, uid types.UID) error
	// PodDirUIDs lists the UIDs of the pods that have a state dir or a log
	// dir, whatever containerd holds of them: those CleanupPod would clean.
	PodDirUIDs(ctx context.Context) ([]types.UID, error)

	// ImageStatus reports a local image; runtime.ErrImageNotPresent if absent.
	ImageStatus(ctx context.Context, ref string) (runtime.ImageInfo, error)
	// PullImage pulls ref through containerd and unpacks it.
	PullImage(ctx context.Context, ref string) (runtime.ImageInfo, error)

	// StartContainer creates and starts one container in the sandbox. A
	// container that was created but failed to start is returned with its ID
	// together with the error.
	StartContainer(ctx context.Context, sb runtime.Sandbox, pod *v1.Pod, c *v1.Container, opts runtime.ContainerOptions) (runtime.Container, error)
	// StopContainer sends the container's stop signal, waits up to grace,
	// then SIGKILLs it and waits for the exit.
	StopContainer(ctx context.Context, containerID string, grace time.Duration) error
	// RemoveContainer deletes a stopped container, its task and snapshot.
	RemoveContainer(ctx context.Context, containerID string) error

	// Subscribe streams container exits and OOMs until ctx ends.
	Subscribe(ctx context.Context) <-chan runtime.Event
}
