// Package kuberules is the one home of the small Kubernetes rules that
// several parts of the agent apply (the pod workers, the prober, the
// printers, Services, QoS, the APIs): each is written here once, so that
// they cannot drift apart.
package kuberules

import (
	"strings"

	v1 "k8s.io/api/core/v1"
)

// IsSidecar reports whether an init container is a restartable one, a
// native sidecar (KEP-753): restartPolicy Always. It starts in init order,
// keeps running beside the app containers, may have probes, and counts in
// the pod's readiness.
func IsSidecar(c *v1.Container) bool {
	return c.RestartPolicy != nil && *c.RestartPolicy == v1.ContainerRestartPolicyAlways
}

// InitContainerReady is the ready of a regular (not sidecar) init
// container: it has exited with code 0 (the kubelet's status manager).
func InitContainerReady(st v1.ContainerState) bool {
	return st.Terminated != nil && st.Terminated.ExitCode == 0
}

// runtimeScheme is the runtime's name as the kubelet writes it before a
// container ID and a runtime version: "<runtime>://<id>".
const runtimeScheme = "containerd://"

// StatusContainerID is the ContainerStatus.ContainerID of the runtime's
// container id: "containerd://<id>".
func StatusContainerID(id string) string { return runtimeScheme + id }

// BareContainerID is the runtime's ID in a ContainerStatus.ContainerID: what
// follows "<runtime>://" (an ID without it is returned as it is).
func BareContainerID(statusID string) string {
	if _, id, ok := strings.Cut(statusID, "://"); ok {
		return id
	}
	return statusID
}

// RuntimeVersion is the node's status.nodeInfo.containerRuntimeVersion for
// a runtime version: "containerd://<version>".
func RuntimeVersion(version string) string { return runtimeScheme + version }
