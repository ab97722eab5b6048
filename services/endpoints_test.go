package services

import (
	"fmt"
	"strings"
	"testing"

	v1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/utils/ptr"
)

type podOpt func(*v1.Pod)

func mkPod(name, ip string, ready bool, opts ...podOpt) *v1.Pod {
	st := v1.ConditionFalse
	if ready {
		st = v1.ConditionTrue
	}
	p := &v1.Pod{
		ObjectMeta: metav1.ObjectMeta{Namespace: "default", Name: name, UID: types.UID("uid-" + name), Labels: map[string]string{"app": "myapp"}},
		Spec: v1.PodSpec{
			NodeName:   "node",
			Containers: []v1.Container{{Name: "c", Ports: []v1.ContainerPort{{Name: "http", ContainerPort: 8080, Protocol: v1.ProtocolTCP}}}},
		},
		Status: v1.PodStatus{
			Phase:      v1.PodRunning,
			PodIP:      ip,
			Conditions: []v1.PodCondition{{Type: v1.PodReady, Status: st}},
		},
	}
	for _, o := range opts {
		o(p)
	}
	return p
}

func inNS(ns string) podOpt       { return func(p *v1.Pod) { p.Namespace = ns } }
func phase(ph v1.PodPhase) podOpt { return func(p *v1.Pod) { p.Status.Phase = ph } }
func labelled(k, v string) podOpt { return func(p *v1.Pod) { p.Labels = map[string]string{k: v} } }
func deleting() podOpt            { return func(p *v1.Pod) { p.DeletionTimestamp = &metav1.Time{} } }
func noPorts() podOpt             { return func(p *v1.Pod) { p.Spec.Containers[0].Ports = nil } }
func hostname(h, sub string) podOpt {
	return func(p *v1.Pod) { p.Spec.Hostname, p.Spec.Subdomain = h, sub }
}
func sidecarPort(name string, n int32) podOpt {
	return func(p *v1.Pod) {
		p.Spec.InitContainers = append(p.Spec.InitContainers, v1.Container{Name: "side",
			RestartPolicy: ptr.To(v1.ContainerRestartPolicyAlways),
			Ports:         []v1.ContainerPort{{Name: name, ContainerPort: n, Protocol: v1.ProtocolTCP}}})
	}
}

// summary renders Endpoints compactly: one line per subset,
// "ready=ip,ip notready=ip ports=name:port/proto,...".
func summary(ep *v1.Endpoints) string {
	if ep == nil {
		return "<nil>"
	}
	var lines []string
	for _, s := range ep.Subsets {
		var r, n, p []string
		for _, a := range s.Addresses {
			r = append(r, a.IP)
		}
		for _, a := range s.NotReadyAddresses {
			n = append(n, a.IP)
		}
		for _, port := range s.Ports {
			p = append(p, fmt.Sprintf("%s:%d/%s", port.Name, port.Port, port.Protocol))
		}
		lines = append(lines, fmt.Sprintf("ready=%s notready=%s ports=%s", strings.Join(r, ","), strings.Join(n, ","), strings.Join(p, ",")))
	}
	return strings.Join(lines, "\n")
}

func TestComputeEndpoints(t *testing.T) {
	selectorSvc := func(ports ...v1.ServicePort) *v1.Service {
		s := svc("default", "myservice", "10.96.0.20")
		s.Spec.Selector = map[string]string{"app": "myapp"}
		s.Spec.Ports = ports
		return s
	}
	p9376 := v1.ServicePort{Port: 80, Protocol: v1.ProtocolTCP, TargetPort: intstr.FromInt32(9376)}
	named := v1.ServicePort{Name: "web", Port: 80, Protocol: v1.ProtocolTCP, TargetPort: intstr.FromString("http")}
	tests := []struct {
		name string
		svc  *v1.Service
		pods []*v1.Pod
		want string
	}{{
		name: "no selector: no managed Endpoints",
		svc:  svc("default", "myservice", "10.96.0.20"),
		pods: []*v1.Pod{mkPod("a", "10.244.0.5", true)},
		want: "<nil>",
	}, {
		name: "selector without pods: empty Endpoints",
		svc:  selectorSvc(p9376),
		want: "",
	}, {
		name: "ready and not ready pods",
		svc:  selectorSvc(p9376),
		pods: []*v1.Pod{mkPod("b", "10.244.0.12", true), mkPod("a", "10.244.0.5", true), mkPod("c", "10.244.0.9", false)},
		want: "ready=10.244.0.5,10.244.0.12 notready=10.244.0.9 ports=:9376/TCP",
	}, {
		name: "skipped: other namespace, other labels, terminal, no IP, deleting",
		svc:  selectorSvc(p9376),
		pods: []*v1.Pod{
			mkPod("ok", "10.244.0.5", true),
			mkPod("ns", "10.244.0.6", true, inNS("other")),
			mkPod("lbl", "10.244.0.7", true, labelled("app", "other")),
			mkPod("done", "10.244.0.8", false, phase(v1.PodSucceeded)),
			mkPod("failed", "10.244.0.9", false, phase(v1.PodFailed)),
			mkPod("noip", "", true),
			mkPod("del", "10.244.0.10", true, deleting()),
		},
		want: "ready=10.244.0.5 notready= ports=:9376/TCP",
	}, {
		name: "named target port resolved per pod; a pod without it is left out",
		svc:  selectorSvc(named),
		pods: []*v1.Pod{mkPod("a", "10.244.0.5", true), mkPod("b", "10.244.0.6", true, noPorts()), mkPod("c", "10.244.0.7", true, noPorts(), sidecarPort("http", 9000))},
		want: "ready=10.244.0.5 notready= ports=web:8080/TCP\nready=10.244.0.7 notready= ports=web:9000/TCP",
	}, {
		name: "two ports on the same pods share a subset",
		svc: selectorSvc(v1.ServicePort{Name: "a", Port: 80, Protocol: v1.ProtocolTCP, TargetPort: intstr.FromInt32(80)},
			v1.ServicePort{Name: "b", Port: 53, Protocol: v1.ProtocolUDP, TargetPort: intstr.FromInt32(5353)}),
		pods: []*v1.Pod{mkPod("a", "10.244.0.5", true), mkPod("b", "10.244.0.6", false)},
		want: "ready=10.244.0.5 notready=10.244.0.6 ports=a:80/TCP,b:5353/UDP",
	}}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ep := ComputeEndpoints(tt.svc, tt.pods)
			if got := summary(ep); got != tt.want {
				t.Errorf("endpoints:\n%s\nwant\n%s", got, tt.want)
			}
		})
	}
}

func TestEndpointsObject(t *testing.T) {
	s := svc("default", "myservice", v1.ClusterIPNone)
	s.Labels = map[string]string{"tier": "db"}
	s.Spec.Selector = map[string]string{"app": "myapp"}
	s.Spec.Ports = nil
	ep := ComputeEndpoints(s, []*v1.Pod{mkPod("a", "10.244.0.5", true, hostname("web-0", "myservice"))})
	if ep.Kind != "Endpoints" || ep.APIVersion != "v1" || ep.Name != "myservice" || ep.Namespace != "default" {
		t.Errorf("meta = %+v %+v", ep.TypeMeta, ep.ObjectMeta)
	}
	if ep.Labels["tier"] != "db" || ep.Labels[LabelHeadless] != "" || len(ep.Labels) != 2 {
		t.Errorf("labels = %v", ep.Labels)
	}
	if len(ep.Subsets) != 1 || len(ep.Subsets[0].Ports) != 0 || len(ep.Subsets[0].Addresses) != 1 {
		t.Fatalf("subsets = %+v", ep.Subsets)
	}
	a := ep.Subsets[0].Addresses[0]
	if a.Hostname != "web-0" || a.NodeName == nil || *a.NodeName != "node" ||
		a.TargetRef == nil || a.TargetRef.Kind != "Pod" || a.TargetRef.Name != "a" || a.TargetRef.UID != "uid-a" {
		t.Errorf("address = %+v %+v", a, a.TargetRef)
	}
}

func TestPublishNotReadyAddresses(t *testing.T) {
	s := svc("default", "s", "10.96.0.20")
	s.Spec.Selector = map[string]string{"app": "myapp"}
	s.Spec.PublishNotReadyAddresses = true
	s.Spec.Ports[0].TargetPort = intstr.FromInt32(80)
	ep := ComputeEndpoints(s, []*v1.Pod{mkPod("a", "10.244.0.5", false), mkPod("b", "10.244.0.6", false, deleting())})
	if got := summary(ep); got != "ready=10.244.0.5,10.244.0.6 notready= ports=:80/TCP" {
		t.Errorf("endpoints = %s", got)
	}
}

func TestReadyEndpoints(t *testing.T) {
	s := svc("default", "s", "10.96.0.20")
	s.Spec.Selector = map[string]string{"app": "myapp"}
	s.Spec.Ports[0].TargetPort = intstr.FromInt32(9376)
	ep := ComputeEndpoints(s, []*v1.Pod{mkPod("a", "10.244.0.15", true), mkPod("b", "10.244.0.9", true), mkPod("c", "10.244.0.7", false)})
	var got []string
	for _, b := range ReadyEndpoints(ep, "") {
		got = append(got, b.String())
	}
	if strings.Join(got, " ") != "10.244.0.9:9376 10.244.0.15:9376" {
		t.Errorf("ready endpoints = %v", got)
	}
	if ReadyEndpoints(nil, "") != nil {
		t.Error("nil Endpoints has backends")
	}
}
