package podworker

import (
	"slices"
	"testing"

	v1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"
)

type listServices []*v1.Service

func (l listServices) ListServices(ns string) []*v1.Service {
	var out []*v1.Service
	for _, s := range l {
		if s.Namespace == ns {
			out = append(out, s)
		}
	}
	return out
}

func svc(ns, name, ip string, ports ...v1.ServicePort) *v1.Service {
	return &v1.Service{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name}, Spec: v1.ServiceSpec{ClusterIP: ip, Ports: ports}}
}

// The kubelet's variables: the master Service always, the pod namespace's
// Services with enableServiceLinks, none for a Service without a ClusterIP.
func TestServiceEnv(t *testing.T) {
	lister := listServices{
		svc("default", "kubernetes", "10.96.0.1", v1.ServicePort{Name: "https", Port: 443, Protocol: v1.ProtocolTCP}),
		svc("lab", "my-web", "10.96.0.20", v1.ServicePort{Port: 80, Protocol: v1.ProtocolTCP}, v1.ServicePort{Name: "dns", Port: 53, Protocol: v1.ProtocolUDP}),
		svc("lab", "headless", v1.ClusterIPNone, v1.ServicePort{Port: 80}),
		svc("other", "elsewhere", "10.96.0.30", v1.ServicePort{Port: 80}),
	}
	name := func(env []v1.EnvVar) []string {
		var out []string
		for _, e := range env {
			out = append(out, e.Name+"="+e.Value)
		}
		return out
	}
	pod := &v1.Pod{ObjectMeta: metav1.ObjectMeta{Namespace: "lab", Name: "p"}}
	master := []string{
		"KUBERNETES_SERVICE_HOST=10.96.0.1", "KUBERNETES_SERVICE_PORT=443", "KUBERNETES_SERVICE_PORT_HTTPS=443",
		"KUBERNETES_PORT=tcp://10.96.0.1:443", "KUBERNETES_PORT_443_TCP=tcp://10.96.0.1:443",
		"KUBERNETES_PORT_443_TCP_PROTO=tcp", "KUBERNETES_PORT_443_TCP_PORT=443", "KUBERNETES_PORT_443_TCP_ADDR=10.96.0.1",
	}
	web := []string{
		"MY_WEB_SERVICE_HOST=10.96.0.20", "MY_WEB_SERVICE_PORT=80", "MY_WEB_SERVICE_PORT_DNS=53",
		"MY_WEB_PORT=tcp://10.96.0.20:80", "MY_WEB_PORT_80_TCP=tcp://10.96.0.20:80", "MY_WEB_PORT_80_TCP_PROTO=tcp",
		"MY_WEB_PORT_80_TCP_PORT=80", "MY_WEB_PORT_80_TCP_ADDR=10.96.0.20",
		"MY_WEB_PORT_53_UDP=udp://10.96.0.20:53", "MY_WEB_PORT_53_UDP_PROTO=udp", "MY_WEB_PORT_53_UDP_PORT=53",
		"MY_WEB_PORT_53_UDP_ADDR=10.96.0.20",
	}
	if got, want := name(serviceEnv(pod, lister)), append(slices.Clone(master), web...); !slices.Equal(got, want) {
		t.Errorf("links on:\n got %q\nwant %q", got, want)
	}
	pod.Spec.EnableServiceLinks = ptr.To(false)
	if got := name(serviceEnv(pod, lister)); !slices.Equal(got, master) {
		t.Errorf("links off:\n got %q\nwant %q", got, master)
	}
	if got := serviceEnv(pod, nil); got != nil {
		t.Errorf("no Services run: %v", got)
	}
}
