package runtime

// Container labels are the runtime's only durable state: after an agent
// restart everything PodState reports is rebuilt from them plus the task
// status. Every containerd container this package creates carries the pod
// labels and the kind; the rest depends on the kind. containerd limits a
// label (key plus value) to 4096 bytes.
const (
	labelPrefix = "minikubelet.io/"

	// LabelPodUID is the pod's metadata.uid. Containers of a pod are found
	// with a containerd filter on this label.
	LabelPodUID = labelPrefix + "pod-uid"
	// LabelPodName is the pod's metadata.name.
	LabelPodName = labelPrefix + "pod-name"
	// LabelPodNamespace is the pod's metadata.namespace.
	LabelPodNamespace = labelPrefix + "pod-namespace"
	// LabelKind is "sandbox" for the pause container, else "init" or "app".
	LabelKind = labelPrefix + "kind"
	// LabelSandboxID is the sandbox a container runs in; on the pause
	// container it is its own ID.
	LabelSandboxID = labelPrefix + "sandbox-id"
	// LabelAttempt is the sandbox attempt (re-creations of the pod's
	// sandbox, from 0). Sandbox only.
	LabelAttempt = labelPrefix + "attempt"
	// LabelNetNS is the path of the sandbox's network namespace. Sandbox only.
	LabelNetNS = labelPrefix + "netns"
	// LabelHostNetwork is "true" on the sandbox of a hostNetwork pod, which
	// has no network of its own to tear down. Sandbox only.
	LabelHostNetwork = labelPrefix + "host-network"
	// LabelPodIPs is the comma-separated pod IPs CNI gave the sandbox,
	// primary first. Sandbox only.
	LabelPodIPs = labelPrefix + "pod-ips"
	// LabelPortMappings is the JSON list of host port mappings handed to CNI
	// ADD, kept so CNI DEL gets the same ones. Sandbox only.
	LabelPortMappings = labelPrefix + "port-mappings"

	// LabelContainerName is the v1.Container name.
	LabelContainerName = labelPrefix + "container-name"
	// LabelRestartCount is the container's restart count for this instance.
	LabelRestartCount = labelPrefix + "restart-count"
	// LabelSpecHash is the hash of the v1.Container the instance was built
	// from, as computed by the pod worker.
	LabelSpecHash = labelPrefix + "spec-hash"
	// LabelImage is the image as written in the pod spec.
	LabelImage = labelPrefix + "image"
	// LabelImageRef is the normalised image reference.
	LabelImageRef = labelPrefix + "image-ref"
	// LabelImageID is the image's digest reference (repo@sha256:…).
	LabelImageID = labelPrefix + "image-id"
	// LabelLogPath is the CRI log file the container's stdio goes to.
	LabelLogPath = labelPrefix + "log-path"
	// LabelTerminationLog is the host file bind-mounted at the container's
	// terminationMessagePath.
	LabelTerminationLog = labelPrefix + "termination-log"
	// LabelTerminationMessagePolicy is the container's
	// terminationMessagePolicy; FallbackToLogsOnError makes a failed
	// container with an empty termination log report its log's tail.
	LabelTerminationMessagePolicy = labelPrefix + "termination-message-policy"
	// LabelStopSignal is the signal StopContainer sends first (the image's
	// STOPSIGNAL, default SIGTERM).
	LabelStopSignal = labelPrefix + "stop-signal"

	// LabelStdin is "true" for a container with stdin (spec stdin), "once"
	// with stdinOnce too: its stdin FIFO is fed by attach sessions.
	LabelStdin = labelPrefix + "stdin"

	// LabelStartedAt is set (RFC 3339, nanoseconds) once the task started.
	LabelStartedAt = labelPrefix + "started-at"
	// LabelFinishedAt is set when the exit is finalized.
	LabelFinishedAt = labelPrefix + "finished-at"
	// LabelExitCode is set when the exit is finalized; its presence means
	// "exited" even after the task was deleted.
	LabelExitCode = labelPrefix + "exit-code"
	// LabelReason is Completed, Error, OOMKilled or Unknown once finalized.
	LabelReason = labelPrefix + "reason"
	// LabelMessage explains a StartError (truncated to 1 KiB).
	LabelMessage = labelPrefix + "message"
	// LabelOOM is "true" once containerd reported an OOM kill in the
	// container; it turns the finalized reason into OOMKilled unless
	// LabelOOMCounted is there.
	LabelOOM = labelPrefix + "oom"
	// LabelOOMCounted is set when the exit was finalized from the kernel's
	// count of OOM kills in the container's cgroup, which then outranks
	// containerd's OOM event (see oomKilled).
	LabelOOMCounted = labelPrefix + "oom-counted"
)

// kindSandbox is the LabelKind value of pause containers.
const kindSandbox = "sandbox"
