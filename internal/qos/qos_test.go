package qos

import (
	"testing"

	v1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
)

// rl makes a resource list from name, quantity pairs.
func rl(kv ...string) v1.ResourceList {
	l := v1.ResourceList{}
	for i := 0; i < len(kv); i += 2 {
		l[v1.ResourceName(kv[i])] = resource.MustParse(kv[i+1])
	}
	return l
}

func TestPodQOS(t *testing.T) {
	req := func(requests, limits v1.ResourceList) v1.ResourceRequirements {
		return v1.ResourceRequirements{Requests: requests, Limits: limits}
	}
	pod := func(cs ...v1.ResourceRequirements) *v1.Pod {
		p := &v1.Pod{}
		for _, r := range cs {
			p.Spec.Containers = append(p.Spec.Containers, v1.Container{Resources: r})
		}
		return p
	}
	withInit := func(p *v1.Pod, r v1.ResourceRequirements) *v1.Pod {
		p.Spec.InitContainers = append(p.Spec.InitContainers, v1.Container{Resources: r})
		return p
	}
	podLevel := func(p *v1.Pod, r v1.ResourceRequirements) *v1.Pod {
		p.Spec.Resources = &r
		return p
	}
	full := rl("cpu", "100m", "memory", "64Mi")

	tests := []struct {
		name string
		pod  *v1.Pod
		want v1.PodQOSClass
	}{
		{"no containers", &v1.Pod{}, v1.PodQOSBestEffort},
		{"nothing set", pod(v1.ResourceRequirements{}), v1.PodQOSBestEffort},
		{"only other resources", pod(req(nil, rl("ephemeral-storage", "1Gi"))), v1.PodQOSBestEffort},
		{"zero request", pod(req(rl("cpu", "0"), nil)), v1.PodQOSBestEffort},
		{"zero limits", pod(req(nil, rl("cpu", "0", "memory", "0"))), v1.PodQOSBestEffort},
		{"request only", pod(req(rl("cpu", "100m"), nil)), v1.PodQOSBurstable},
		{"equal requests and limits", pod(req(full, full)), v1.PodQOSGuaranteed},
		{"equal in other units", pod(req(rl("cpu", "0.1", "memory", "67108864"), full)), v1.PodQOSGuaranteed},
		{"limits only default the requests", pod(req(nil, rl("cpu", "1", "memory", "1Gi"))), v1.PodQOSGuaranteed},
		{"memory limit only", pod(req(nil, rl("memory", "1Gi"))), v1.PodQOSBurstable},
		{"zero memory limit", pod(req(nil, rl("cpu", "1", "memory", "0"))), v1.PodQOSBurstable},
		{"explicit zero request under a limit", pod(req(rl("cpu", "0", "memory", "64Mi"), full)), v1.PodQOSBurstable},
		{"request below limit", pod(req(rl("cpu", "100m", "memory", "64Mi"), rl("cpu", "200m", "memory", "64Mi"))), v1.PodQOSBurstable},
		{"other resources do not spoil guaranteed", pod(req(nil, rl("cpu", "1", "memory", "1Gi", "ephemeral-storage", "1Gi"))), v1.PodQOSGuaranteed},
		{"two guaranteed containers", pod(req(full, full), req(nil, full)), v1.PodQOSGuaranteed},
		{"one container without limits", pod(req(nil, full), v1.ResourceRequirements{}), v1.PodQOSBurstable},
		{"init container requests count", withInit(pod(v1.ResourceRequirements{}), req(rl("memory", "1Mi"), nil)), v1.PodQOSBurstable},
		{"init container without limits spoils guaranteed", withInit(pod(req(nil, full)), v1.ResourceRequirements{}), v1.PodQOSBurstable},
		{"guaranteed init container", withInit(pod(req(nil, full)), req(nil, full)), v1.PodQOSGuaranteed},
		{"pod-level limits default the pod-level requests", podLevel(pod(v1.ResourceRequirements{}), req(nil, full)), v1.PodQOSGuaranteed},
		{"pod-level limits over smaller container requests", podLevel(pod(req(rl("cpu", "50m"), nil)), req(nil, full)), v1.PodQOSBurstable},
		{"pod-level requests only", podLevel(pod(v1.ResourceRequirements{}), req(full, nil)), v1.PodQOSBurstable},
		{"pod-level CPU limit only", podLevel(pod(v1.ResourceRequirements{}), req(nil, rl("cpu", "1"))), v1.PodQOSBurstable},
		{"pod-level resources decide over guaranteed containers", podLevel(pod(req(nil, full)), req(rl("memory", "1Mi"), nil)), v1.PodQOSBurstable},
		{"pod-level other resources do not count", podLevel(pod(req(nil, full)), req(nil, rl("hugepages-2Mi", "2Mi"))), v1.PodQOSGuaranteed},
		{"status is not consulted", func() *v1.Pod {
			p := pod(v1.ResourceRequirements{})
			p.Status.QOSClass = v1.PodQOSGuaranteed
			return p
		}(), v1.PodQOSBestEffort},
	}
	for _, tt := range tests {
		if got := PodQOS(tt.pod); got != tt.want {
			t.Errorf("%s: PodQOS = %s, want %s", tt.name, got, tt.want)
		}
	}
}

// Pod-level requests are defaulted as the API server's defaultPodRequests:
// from the containers' aggregate requests, then from the pod-level limits,
// only once pod-level limits are set.
func TestPodLevelRequests(t *testing.T) {
	always := v1.ContainerRestartPolicyAlways
	spec := func(pod v1.ResourceRequirements, cs ...v1.ResourceRequirements) *v1.PodSpec {
		s := &v1.PodSpec{Resources: &pod}
		for _, r := range cs {
			s.Containers = append(s.Containers, v1.Container{Resources: r})
		}
		return s
	}
	tests := []struct {
		name string
		spec *v1.PodSpec
		want v1.ResourceList
	}{
		{"no pod-level resources", &v1.PodSpec{}, nil},
		{"requests only stay", spec(v1.ResourceRequirements{Requests: rl("cpu", "1")}), rl("cpu", "1")},
		{"from the limits", spec(v1.ResourceRequirements{Limits: rl("cpu", "1", "memory", "1Gi")}), rl("cpu", "1", "memory", "1Gi")},
		{"from the containers first", spec(v1.ResourceRequirements{Limits: rl("cpu", "1", "memory", "1Gi")},
			v1.ResourceRequirements{Requests: rl("cpu", "100m")}, v1.ResourceRequirements{Limits: rl("cpu", "200m")}),
			rl("cpu", "300m", "memory", "1Gi")},
		{"containers' requests without a pod-level limit", spec(v1.ResourceRequirements{Limits: rl("memory", "1Gi")},
			v1.ResourceRequirements{Requests: rl("cpu", "100m", "ephemeral-storage", "1Gi")}),
			rl("cpu", "100m", "memory", "1Gi")},
		{"explicit requests win", spec(v1.ResourceRequirements{Requests: rl("cpu", "2"), Limits: rl("cpu", "3")},
			v1.ResourceRequirements{Requests: rl("cpu", "1")}), rl("cpu", "2")},
		{"a sidecar and a larger init container", func() *v1.PodSpec {
			s := spec(v1.ResourceRequirements{Limits: rl("cpu", "4")}, v1.ResourceRequirements{Requests: rl("cpu", "1")})
			s.InitContainers = []v1.Container{
				{Resources: v1.ResourceRequirements{Requests: rl("cpu", "500m")}, RestartPolicy: &always},
				{Resources: v1.ResourceRequirements{Requests: rl("cpu", "2")}},
			}
			return s
		}(), rl("cpu", "2500m")},
	}
	for _, tt := range tests {
		got := PodLevelRequests(tt.spec)
		if len(got) != len(tt.want) {
			t.Errorf("%s: got %v, want %v", tt.name, got, tt.want)
			continue
		}
		for name, q := range tt.want {
			if g, ok := got[name]; !ok || g.Cmp(q) != 0 {
				t.Errorf("%s: %s = %v, want %v", tt.name, name, got[name], q.String())
			}
		}
	}
}
