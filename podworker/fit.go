package podworker

import (
	"fmt"
	"slices"
	"strings"

	v1 "k8s.io/api/core/v1"

	"github.com/minikubelet/minikubelet/internal/qos"
)

// resourceFit is the kubelet's resource check at admission (its predicate
// admit handler, with the scheduler's noderesources fit): one more pod
// must fit the node's pod count, and each resource the pod requests must
// fit what the node can allocate less what the other active pods request,
// checked in the scheduler's order (pods, cpu, memory, ephemeral-storage,
// then the others: huge pages, extended resources). An extended resource
// the node does not have at all is not checked, as the kubelet drops it
// (it may be a cluster-level resource). The first misfit gives the reason
// (OutOfcpu, OutOfhugepages-2Mi, ...) and the kubelet's message.
func resourceFit(pod *v1.Pod, others []*v1.Pod, allocatable v1.ResourceList) (reason, message string, ok bool) {
	if n := int64(len(others)); n+1 > allocatable.Pods().Value() {
		return outOf(v1.ResourcePods, 1, n, allocatable.Pods().Value())
	}
	used := v1.ResourceList{}
	for _, o := range others {
		for name, q := range qos.PodRequests(o) {
			sum := used[name]
			sum.Add(q)
			used[name] = sum
		}
	}
	requests := qos.PodRequests(pod)
	names := make([]v1.ResourceName, 0, len(requests))
	for name := range requests {
		if _, onNode := allocatable[name]; onNode || !isExtended(name) {
			names = append(names, name)
		}
	}
	rank := func(n v1.ResourceName) int {
		switch n {
		case v1.ResourceCPU:
			return 0
		case v1.ResourceMemory:
			return 1
		case v1.ResourceEphemeralStorage:
			return 2
		}
		return 3
	}
	slices.SortFunc(names, func(a, b v1.ResourceName) int {
		if d := rank(a) - rank(b); d != 0 {
			return d
		}
		return strings.Compare(string(a), string(b))
	})
	for _, name := range names {
		value := func(l v1.ResourceList) int64 {
			q := l[name]
			if name == v1.ResourceCPU {
				return q.MilliValue()
			}
			return q.Value()
		}
		want, have, taken := value(requests), value(allocatable), value(used)
		if want > 0 && want > have-taken {
			return outOf(name, want, taken, have)
		}
	}
	return "", "", true
}

// outOf is the kubelet's rejection for a resource that does not fit
// (InsufficientResourceError): CPU in millicores, the rest in units.
func outOf(name v1.ResourceName, requested, used, capacity int64) (string, string, bool) {
	return "OutOf" + string(name),
		fmt.Sprintf("Node didn't have enough resource: %s, requested: %d, used: %d, capacity: %d", name, requested, used, capacity),
		false
}

// isExtended reports whether name is an extended resource (a domain-
// prefixed name outside kubernetes.io, such as example.com/foo), not one
// of the node's own.
func isExtended(name v1.ResourceName) bool {
	s := string(name)
	return strings.Contains(s, "/") && !strings.HasPrefix(s, v1.DefaultResourceRequestsPrefix) &&
		!strings.Contains(s, v1.ResourceDefaultNamespacePrefix)
}
