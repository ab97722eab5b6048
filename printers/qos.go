package printers

import (
	v1 "k8s.io/api/core/v1"
)

// PodQOS returns the pod's QoS class: status.qosClass when the kubelet has
// set it, otherwise computed from the resources as Kubernetes does
// (qos.ComputePodQOS):
//
//   - BestEffort: no container (init containers included) requests or limits
//     any CPU or memory.
//   - Guaranteed: every container limits both CPU and memory, and the summed
//     requests equal the summed limits for both.
//   - Burstable: anything else.
//
// Pod-level resources (spec.resources), when present, replace the per
// container ones. Only CPU and memory count, and only non-zero quantities.
//
// A container that sets a limit but no request gets request = limit, which is
// what API defaulting does before kubectl ever sees the pod; manifests read
// from disk may not have been through that defaulting.
func PodQOS(pod *v1.Pod) v1.PodQOSClass {
	if pod.Status.QOSClass != "" {
		return pod.Status.QOSClass
	}
	requests := v1.ResourceList{}
	limits := v1.ResourceList{}
	guaranteed := true

	account := func(req, lim v1.ResourceList) {
		req = withDefaultRequests(req, lim)
		addQOSResources(requests, req)
		addQOSResources(limits, lim)
		if !hasCPUAndMemory(lim) {
			guaranteed = false
		}
	}
	if r := pod.Spec.Resources; r != nil {
		account(r.Requests, r.Limits)
	} else {
		for _, c := range pod.Spec.Containers {
			account(c.Resources.Requests, c.Resources.Limits)
		}
		for _, c := range pod.Spec.InitContainers {
			account(c.Resources.Requests, c.Resources.Limits)
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

func isQOSResource(name v1.ResourceName) bool {
	return name == v1.ResourceCPU || name == v1.ResourceMemory
}

// addQOSResources adds the positive CPU and memory quantities of from to sum.
func addQOSResources(sum, from v1.ResourceList) {
	for name, q := range from {
		if !isQOSResource(name) || q.Sign() <= 0 {
			continue
		}
		total := q.DeepCopy()
		if prev, ok := sum[name]; ok {
			total.Add(prev)
		}
		sum[name] = total
	}
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
