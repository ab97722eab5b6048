package services

import (
	"net"

	v1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/utils/ptr"
)

// The `kubernetes` Service is the API server's own: every cluster has it in
// namespace default, with the first address of the service range, so that
// pods reach the API at https://kubernetes.default.svc (client-go's
// in-cluster config uses KUBERNETES_SERVICE_HOST/PORT, which name it).
const (
	KubernetesName      = "kubernetes"
	KubernetesNamespace = metav1.NamespaceDefault
	kubernetesPort      = 443
	kubernetesPortName  = "https"
)

// KubernetesIP is the `kubernetes` Service's ClusterIP in cidr: the range's
// first usable address (the allocator reserves it); nil if cidr is not
// IPv4, which Services here are not served in.
func KubernetesIP(cidr *net.IPNet) net.IP {
	ip := append(net.IP(nil), cidr.IP.To4()...)
	if len(ip) == 0 {
		return nil
	}
	ip[len(ip)-1]++
	return ip
}

// kubernetesService is the Service and Endpoints the API server's endpoint
// reconciler keeps (pkg/controlplane/reconcilers): no selector, port https
// 443 to the API's secure port, and Endpoints that list where the API
// serves. Here the API serves on the ClusterIP itself (the address link
// holds it), so the Endpoints' address is the ClusterIP at the API's port.
func kubernetesService(ip net.IP, apiPort int32, created metav1.Time) (*v1.Service, *v1.Endpoints) {
	policy := v1.IPFamilyPolicySingleStack
	svc := &v1.Service{
		TypeMeta: metav1.TypeMeta{APIVersion: "v1", Kind: "Service"},
		ObjectMeta: metav1.ObjectMeta{
			Name: KubernetesName, Namespace: KubernetesNamespace, CreationTimestamp: created,
			Labels: map[string]string{"component": "apiserver", "provider": "kubernetes"},
		},
		Spec: v1.ServiceSpec{
			Type:            v1.ServiceTypeClusterIP,
			ClusterIP:       ip.String(),
			ClusterIPs:      []string{ip.String()},
			IPFamilies:      []v1.IPFamily{v1.IPv4Protocol},
			IPFamilyPolicy:  &policy,
			SessionAffinity: v1.ServiceAffinityNone,
			Ports: []v1.ServicePort{{
				Name: kubernetesPortName, Protocol: v1.ProtocolTCP, Port: kubernetesPort,
				TargetPort: intstr.FromInt32(apiPort),
			}},
			InternalTrafficPolicy: ptr.To(v1.ServiceInternalTrafficPolicyCluster),
		},
	}
	ep := &v1.Endpoints{
		TypeMeta: metav1.TypeMeta{APIVersion: "v1", Kind: "Endpoints"},
		ObjectMeta: metav1.ObjectMeta{
			Name: KubernetesName, Namespace: KubernetesNamespace, CreationTimestamp: created,
			// The API server writes the EndpointSlice itself, so the
			// mirroring controller is told to leave these alone.
			Labels: map[string]string{discoveryv1.LabelSkipMirror: "true"},
		},
		Subsets: []v1.EndpointSubset{{
			Addresses: []v1.EndpointAddress{{IP: ip.String()}},
			Ports:     []v1.EndpointPort{{Name: kubernetesPortName, Port: apiPort, Protocol: v1.ProtocolTCP}},
		}},
	}
	return svc, ep
}
