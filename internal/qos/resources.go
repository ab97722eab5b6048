package qos

import (
	"strings"

	v1 "k8s.io/api/core/v1"

	"github.com/minikubelet/minikubelet/internal/kuberules"
)

// PodRequests is what the pod as a whole requests of CPU and memory, as
// upstream's resource helper PodRequests computes it for the pod cgroup and
// the scheduler: pod-level requests (spec.resources, PodLevelResources, on
// by default since 1.34) where set, otherwise the containers' aggregate (see
// aggregate).
func PodRequests(pod *v1.Pod) v1.ResourceList {
	return withPodLevel(AggregateRequests(&pod.Spec), PodLevelRequests(&pod.Spec))
}

// AggregateRequests is the containers' aggregate request of every resource
// (see aggregate), what pod-level requests must cover.
func AggregateRequests(spec *v1.PodSpec) v1.ResourceList {
	return aggregate(spec, func(c *v1.Container) v1.ResourceList {
		return withDefaultRequests(c.Resources.Requests, c.Resources.Limits)
	}, nil)
}

// PodLimits is the pod's CPU and memory limits, as upstream's PodLimits:
// pod-level limits where set, otherwise the containers' aggregate. declared
// is called with each container's limits, so a caller can tell whether every
// container limits a resource (the pod cgroup is only limited then).
func PodLimits(pod *v1.Pod, declared func(v1.ResourceList)) v1.ResourceList {
	agg := aggregate(&pod.Spec, func(c *v1.Container) v1.ResourceList { return c.Resources.Limits }, declared)
	var pl v1.ResourceList
	if pod.Spec.Resources != nil {
		pl = pod.Spec.Resources.Limits
	}
	return withPodLevel(agg, pl)
}

// HasPodLevelResources reports whether spec.resources sets CPU or memory,
// the pod-level resources that change QoS and the pod cgroup.
func HasPodLevelResources(pod *v1.Pod) bool {
	r := pod.Spec.Resources
	if r == nil {
		return false
	}
	for _, l := range []v1.ResourceList{r.Requests, r.Limits} {
		for name := range l {
			if name == v1.ResourceCPU || name == v1.ResourceMemory {
				return true
			}
		}
	}
	return false
}

// aggregate sums one resource list of the pod's containers the way the
// kubelet sizes a pod: app containers and sidecars (restartable init
// containers) run together and add up; each regular init container runs
// alone, next to the sidecars started before it; the pod needs the larger
// of the two.
func aggregate(spec *v1.PodSpec, of func(*v1.Container) v1.ResourceList, seen func(v1.ResourceList)) v1.ResourceList {
	running := v1.ResourceList{}
	for i := range spec.Containers {
		l := of(&spec.Containers[i])
		if seen != nil {
			seen(l)
		}
		addAll(running, l)
	}
	sidecars := v1.ResourceList{}
	initPeak := v1.ResourceList{}
	for i := range spec.InitContainers {
		c := &spec.InitContainers[i]
		l := of(c)
		if seen != nil {
			seen(l)
		}
		if kuberules.IsSidecar(c) {
			addAll(sidecars, l)
			addAll(running, l)
			continue
		}
		alone := v1.ResourceList{}
		addAll(alone, sidecars)
		addAll(alone, l)
		maxInto(initPeak, alone)
	}
	maxInto(running, initPeak)
	return running
}

// addAll adds every positive quantity of from to sum.
func addAll(sum, from v1.ResourceList) {
	for name, q := range from {
		if q.Sign() <= 0 {
			continue
		}
		total := q.DeepCopy()
		if prev, ok := sum[name]; ok {
			total.Add(prev)
		}
		sum[name] = total
	}
}

// maxInto raises each quantity of dst to the one of src where src's is larger.
func maxInto(dst, src v1.ResourceList) {
	for name, q := range src {
		if cur, ok := dst[name]; !ok || q.Cmp(cur) > 0 {
			dst[name] = q.DeepCopy()
		}
	}
}

// withPodLevel replaces the aggregate's CPU and memory by the pod-level ones.
func withPodLevel(agg, podLevel v1.ResourceList) v1.ResourceList {
	for _, name := range []v1.ResourceName{v1.ResourceCPU, v1.ResourceMemory} {
		if q, ok := podLevel[name]; ok {
			agg[name] = q.DeepCopy()
		}
	}
	return agg
}

// PodLevelRequests is spec.resources.requests as the API server defaults
// it (SetDefaults_Pod, defaultPodRequests) when pod-level limits are set:
// a resource the pod-level requests leave out gets the containers'
// aggregate request when they request it, else the pod-level limit. Only
// the resources pod-level resources support (CPU, memory, hugepages).
func PodLevelRequests(spec *v1.PodSpec) v1.ResourceList {
	r := spec.Resources
	if r == nil {
		return nil
	}
	if len(r.Limits) == 0 {
		return r.Requests
	}
	out := v1.ResourceList{}
	for name, q := range r.Requests {
		out[name] = q
	}
	for _, from := range []v1.ResourceList{AggregateRequests(spec), r.Limits} {
		for name, q := range from {
			if _, set := out[name]; !set && IsPodLevelResource(name) {
				out[name] = q.DeepCopy()
			}
		}
	}
	return out
}

// IsPodLevelResource: spec.resources takes CPU, memory and hugepages.
func IsPodLevelResource(name v1.ResourceName) bool {
	return name == v1.ResourceCPU || name == v1.ResourceMemory || strings.HasPrefix(string(name), v1.ResourceHugePagesPrefix)
}
