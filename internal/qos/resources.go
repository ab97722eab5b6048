package qos

import (
	v1 "k8s.io/api/core/v1"
)

// PodRequests is what the pod as a whole requests of CPU and memory, as
// upstream's resource helper PodRequests computes it for the pod cgroup and
// the scheduler: pod-level requests (spec.resources, PodLevelResources, on
// by default since 1.34) where set, otherwise the containers' aggregate (see
// aggregate).
func PodRequests(pod *v1.Pod) v1.ResourceList {
	agg := aggregate(pod, func(c *v1.Container) v1.ResourceList {
		return withDefaultRequests(c.Resources.Requests, c.Resources.Limits)
	}, nil)
	return withPodLevel(agg, podLevelRequests(pod))
}

// PodLimits is the pod's CPU and memory limits, as upstream's PodLimits:
// pod-level limits where set, otherwise the containers' aggregate. declared
// is called with each container's limits, so a caller can tell whether every
// container limits a resource (the pod cgroup is only limited then).
func PodLimits(pod *v1.Pod, declared func(v1.ResourceList)) v1.ResourceList {
	agg := aggregate(pod, func(c *v1.Container) v1.ResourceList { return c.Resources.Limits }, declared)
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
func aggregate(pod *v1.Pod, of func(*v1.Container) v1.ResourceList, seen func(v1.ResourceList)) v1.ResourceList {
	running := v1.ResourceList{}
	for i := range pod.Spec.Containers {
		l := of(&pod.Spec.Containers[i])
		if seen != nil {
			seen(l)
		}
		add(running, l)
	}
	sidecars := v1.ResourceList{}
	initPeak := v1.ResourceList{}
	for i := range pod.Spec.InitContainers {
		c := &pod.Spec.InitContainers[i]
		l := of(c)
		if seen != nil {
			seen(l)
		}
		if c.RestartPolicy != nil && *c.RestartPolicy == v1.ContainerRestartPolicyAlways {
			add(sidecars, l)
			add(running, l)
			continue
		}
		alone := v1.ResourceList{}
		add(alone, sidecars)
		add(alone, l)
		maxInto(initPeak, alone)
	}
	maxInto(running, initPeak)
	return running
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

// podLevelRequests is spec.resources.requests with a missing CPU or memory
// request defaulted as the API server does for a pod-level limit: to the
// containers' aggregate request when any container requests it, else to the
// limit.
func podLevelRequests(pod *v1.Pod) v1.ResourceList {
	r := pod.Spec.Resources
	if r == nil {
		return nil
	}
	out := v1.ResourceList{}
	for name, q := range r.Requests {
		out[name] = q
	}
	var agg v1.ResourceList
	for _, name := range []v1.ResourceName{v1.ResourceCPU, v1.ResourceMemory} {
		lim, ok := r.Limits[name]
		if _, set := out[name]; set || !ok {
			continue
		}
		if agg == nil {
			agg = aggregate(pod, func(c *v1.Container) v1.ResourceList { return c.Resources.Requests }, nil)
		}
		if q, ok := agg[name]; ok {
			out[name] = q
		} else {
			out[name] = lim
		}
	}
	return out
}
