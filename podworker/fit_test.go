package podworker

import (
	"testing"

	v1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
)

// resourceFit as the kubelet admits: the first resource, in the
// scheduler's order, that the node cannot give less the other pods'
// requests names the rejection; extended resources the node lacks are not
// checked.
func TestResourceFit(t *testing.T) {
	list := func(kv ...string) v1.ResourceList {
		l := v1.ResourceList{}
		for i := 0; i < len(kv); i += 2 {
			l[v1.ResourceName(kv[i])] = resource.MustParse(kv[i+1])
		}
		return l
	}
	pod := func(requests v1.ResourceList) *v1.Pod {
		return &v1.Pod{Spec: v1.PodSpec{Containers: []v1.Container{{Name: "c", Resources: v1.ResourceRequirements{Requests: requests, Limits: requests}}}}}
	}
	node := list("cpu", "2", "memory", "1Gi", "pods", "3", "ephemeral-storage", "10Gi", "hugepages-2Mi", "4Mi", "hugepages-1Gi", "0", "example.com/gpu", "1")
	tests := []struct {
		name    string
		pod     *v1.Pod
		others  []*v1.Pod
		reason  string
		message string
	}{
		{"nothing requested", pod(nil), nil, "", ""},
		{"fits", pod(list("cpu", "1", "memory", "512Mi", "hugepages-2Mi", "4Mi", "example.com/gpu", "1")), nil, "", ""},
		{"cpu", pod(list("cpu", "1500m")), []*v1.Pod{pod(list("cpu", "1"))}, "OutOfcpu",
			"Node didn't have enough resource: cpu, requested: 1500, used: 1000, capacity: 2000"},
		{"memory before huge pages", pod(list("memory", "2Gi", "hugepages-2Mi", "8Mi")), nil, "OutOfmemory",
			"Node didn't have enough resource: memory, requested: 2147483648, used: 0, capacity: 1073741824"},
		{"huge pages", pod(list("memory", "1Mi", "hugepages-2Mi", "4Mi")), []*v1.Pod{pod(list("hugepages-2Mi", "2Mi"))}, "OutOfhugepages-2Mi",
			"Node didn't have enough resource: hugepages-2Mi, requested: 4194304, used: 2097152, capacity: 4194304"},
		{"a huge page size the node does not reserve", pod(list("memory", "1Mi", "hugepages-1Gi", "1Gi")), nil, "OutOfhugepages-1Gi",
			"Node didn't have enough resource: hugepages-1Gi, requested: 1073741824, used: 0, capacity: 0"},
		{"a huge page size the node does not have", pod(list("memory", "1Mi", "hugepages-32Mi", "32Mi")), nil, "OutOfhugepages-32Mi",
			"Node didn't have enough resource: hugepages-32Mi, requested: 33554432, used: 0, capacity: 0"},
		{"an extended resource the node has", pod(list("example.com/gpu", "2")), nil, "OutOfexample.com/gpu",
			"Node didn't have enough resource: example.com/gpu, requested: 2, used: 0, capacity: 1"},
		{"an extended resource the node does not have", pod(list("example.com/foo", "1")), nil, "", ""},
		{"pods", pod(nil), []*v1.Pod{pod(nil), pod(nil), pod(nil)}, "OutOfpods",
			"Node didn't have enough resource: pods, requested: 1, used: 3, capacity: 3"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			reason, message, ok := resourceFit(tt.pod, tt.others, node)
			if reason != tt.reason || message != tt.message || ok != (tt.reason == "") {
				t.Errorf("resourceFit = %q, %q, %v; want %q, %q", reason, message, ok, tt.reason, tt.message)
			}
		})
	}
}
