// Package kuberules is the one home of the small Kubernetes rules that
// several parts of the agent apply (the pod workers, the prober, the
// printers, Services, QoS, the APIs): each is written here once, so that
// they cannot drift apart.
package kuberules

import (
	"fmt"
	"strings"

	v1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/runtime/schema"
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

// systemPriorityClasses are the PriorityClasses every API server makes at
// start (no other exists on this node): name → value. Their
// preemptionPolicy is the default, PreemptLowerPriority.
var systemPriorityClasses = map[string]int32{
	"system-node-critical":    2000001000,
	"system-cluster-critical": 2000000000,
}

// PriorityOf is the priority the Priority admission plugin computes for a
// pod of priorityClassName: 0 with none (no class is a global default
// here); false for a class that does not exist.
func PriorityOf(class string) (int32, bool) {
	if class == "" {
		return 0, true
	}
	p, ok := systemPriorityClasses[class]
	return p, ok
}

// CheckPriority refuses a pod's create as the Priority plugin does, be it
// a user's through the API or the ReplicaSet controller's: a
// PriorityClass that does not exist, or a priority or preemptionPolicy
// other than its class's. The error names the pod by its generateName
// when it has no name yet, as the API server's admission errors do.
func CheckPriority(pod *v1.Pod) error {
	name := pod.Name
	if name == "" {
		name = pod.GenerateName
	}
	forbidden := func(err error) error {
		return apierrors.NewForbidden(schema.GroupResource{Resource: "pods"}, name, err)
	}
	p, ok := PriorityOf(pod.Spec.PriorityClassName)
	if !ok {
		return forbidden(fmt.Errorf("no PriorityClass with name %v was found", pod.Spec.PriorityClassName))
	}
	if pod.Spec.Priority != nil && *pod.Spec.Priority != p {
		return forbidden(fmt.Errorf("the integer value of priority (%d) must not be provided in pod spec; priority admission controller computed %d from the given PriorityClass name", *pod.Spec.Priority, p))
	}
	if pp := pod.Spec.PreemptionPolicy; pp != nil && *pp != v1.PreemptLowerPriority {
		return forbidden(fmt.Errorf("the string value of PreemptionPolicy (%s) must not be provided in pod spec; priority admission controller computed %s from the given PriorityClass name", *pp, v1.PreemptLowerPriority))
	}
	return nil
}
