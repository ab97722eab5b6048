// Package qos classifies pods into Kubernetes QoS classes, the one
// computation behind status.qosClass, oom_score_adj and the printers.
package qos

import (
	v1 "k8s.io/api/core/v1"
)

// PodQOS computes the pod's QoS class from its containers' resources, as
// upstream ComputePodQOS (pkg/apis/core/v1/helper/qos) does. It ignores
// status.qosClass; callers that want the recorded class check it first.
//
//   - BestEffort: no container (init containers included) requests or limits
//     any CPU or memory.
//   - Guaranteed: every container limits both CPU and memory, and the summed
//     requests equal the summed limits for both.
//   - Burstable: anything else.
//
// Only CPU and memory count, and only positive quantities. A container that
// sets a limit but no request gets request = limit, which is what API
// defaulting does; a manifest read from disk may not have been through it.
// When spec.resources sets CPU or memory (PodLevelResources, on by default
// since 1.34), the pod-level requests and limits alone decide, as upstream.
func PodQOS(pod *v1.Pod) v1.PodQOSClass {
	requests := v1.ResourceList{}
	limits := v1.ResourceList{}
	guaranteed := true
	if HasPodLevelResources(pod) {
		add(requests, PodLevelRequests(&pod.Spec))
		add(limits, pod.Spec.Resources.Limits)
		guaranteed = hasCPUAndMemory(pod.Spec.Resources.Limits)
	} else {
		for _, cs := range [][]v1.Container{pod.Spec.InitContainers, pod.Spec.Containers} {
			for _, c := range cs {
				lim := c.Resources.Limits
				add(requests, withDefaultRequests(c.Resources.Requests, lim))
				add(limits, lim)
				if !hasCPUAndMemory(lim) {
					guaranteed = false
				}
			}
		}
	}

	if len(requests) == 0 && len(limits) == 0 {
		return v1.PodQOSBestEffort
	}
	if guaranteed {
		for name, req := range requests {
			if lim, ok := limits[name]; !ok || lim.Cmp(req) != 0 {
				guaranteed = false
				break
			}
		}
	}
	if guaranteed && len(requests) == len(limits) {
		return v1.PodQOSGuaranteed
	}
	return v1.PodQOSBurstable
}

// add adds the positive CPU and memory quantities of from to sum.
func add(sum, from v1.ResourceList) {
	addAll(sum, v1.ResourceList{v1.ResourceCPU: from[v1.ResourceCPU], v1.ResourceMemory: from[v1.ResourceMemory]})
}

// hasCPUAndMemory reports whether lim sets positive CPU and memory limits.
func hasCPUAndMemory(lim v1.ResourceList) bool {
	cpu, mem := lim[v1.ResourceCPU], lim[v1.ResourceMemory]
	return cpu.Sign() > 0 && mem.Sign() > 0
}

// withDefaultRequests returns req with every missing request set to its limit.
func withDefaultRequests(req, lim v1.ResourceList) v1.ResourceList {
	if len(lim) == 0 {
		return req
	}
	out := make(v1.ResourceList, len(req)+len(lim))
	for name, q := range req {
		out[name] = q
	}
	for name, q := range lim {
		if _, ok := out[name]; !ok {
			out[name] = q
		}
	}
	return out
}
