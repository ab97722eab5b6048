package printers

import (
	v1 "k8s.io/api/core/v1"

	"github.com/minikubelet/minikubelet/internal/qos"
)

// PodQOS returns the pod's QoS class: status.qosClass when the kubelet has
// set it, otherwise computed from the containers' resources (qos.PodQOS), as
// kubectl's GetPodQOS does.
func PodQOS(pod *v1.Pod) v1.PodQOSClass {
	if pod.Status.QOSClass != "" {
		return pod.Status.QOSClass
	}
	return qos.PodQOS(pod)
}
