package services

import (
	"fmt"
	"net"
	"sort"
	"strings"

	v1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/util/intstr"

	"github.com/minikubelet/minikubelet/internal/kuberules"
)

// LabelHeadless marks the Endpoints of a headless Service, as the
// endpoints controller does (v1.IsHeadlessService).
const LabelHeadless = v1.IsHeadlessService

// ComputeEndpoints builds the Endpoints object of svc from pods, as the
// endpoints controller does (pkg/controller/endpoint syncService): the pods
// of the Service's namespace whose labels match its selector, skipping those
// that are terminal (Succeeded/Failed), have no IP yet, or are being deleted
// (unless publishNotReadyAddresses). A pod whose Ready condition is True goes
// to addresses, any other to notReadyAddresses (all to addresses with
// publishNotReadyAddresses). Each Service port becomes an endpoint port
// named like it, with the target port resolved per pod (a named targetPort
// is the first app container port, or sidecar port, of that name and
// protocol; a pod without it is left out of that port).
//
// A Service without a selector has no managed Endpoints: nil is returned.
func ComputeEndpoints(svc *v1.Service, pods []*v1.Pod) *v1.Endpoints {
	if svc.Spec.Selector == nil {
		return nil
	}
	ep := &v1.Endpoints{
		TypeMeta: metav1.TypeMeta{APIVersion: "v1", Kind: "Endpoints"},
		ObjectMeta: metav1.ObjectMeta{
			Name:              svc.Name,
			Namespace:         svc.Namespace,
			CreationTimestamp: svc.CreationTimestamp,
			Labels:            endpointsLabels(svc),
		},
		Subsets: []v1.EndpointSubset{},
	}
	selector := labels.SelectorFromSet(svc.Spec.Selector)
	publishNotReady := svc.Spec.PublishNotReadyAddresses
	var subsets []v1.EndpointSubset
	for _, pod := range pods {
		if pod.Namespace != svc.Namespace || !selector.Matches(labels.Set(pod.Labels)) {
			continue
		}
		if !shouldBeInEndpoints(pod, publishNotReady) {
			continue
		}
		addr := v1.EndpointAddress{
			IP: pod.Status.PodIP,
			TargetRef: &v1.ObjectReference{
				Kind: "Pod", Namespace: pod.Namespace, Name: pod.Name, UID: pod.UID,
			},
		}
		if pod.Spec.NodeName != "" {
			node := pod.Spec.NodeName
			addr.NodeName = &node
		}
		if pod.Spec.Hostname != "" && pod.Spec.Subdomain == svc.Name {
			addr.Hostname = pod.Spec.Hostname
		}
		ready := publishNotReady || podReady(pod)
		add := func(ports []v1.EndpointPort) {
			s := v1.EndpointSubset{Ports: ports}
			if ready {
				s.Addresses = []v1.EndpointAddress{addr}
			} else {
				s.NotReadyAddresses = []v1.EndpointAddress{addr}
			}
			subsets = append(subsets, s)
		}
		if len(svc.Spec.Ports) == 0 {
			// Headless Services may have no ports at all.
			if svc.Spec.ClusterIP == v1.ClusterIPNone {
				add(nil)
			}
			continue
		}
		for i := range svc.Spec.Ports {
			sp := &svc.Spec.Ports[i]
			port, err := FindPort(pod, sp)
			if err != nil {
				continue
			}
			add([]v1.EndpointPort{{Name: sp.Name, Port: int32(port), Protocol: sp.Protocol, AppProtocol: sp.AppProtocol}})
		}
	}
	ep.Subsets = repackSubsets(subsets)
	return ep
}

func endpointsLabels(svc *v1.Service) map[string]string {
	if len(svc.Labels) == 0 && svc.Spec.ClusterIP != v1.ClusterIPNone {
		return nil
	}
	l := make(map[string]string, len(svc.Labels)+1)
	for k, v := range svc.Labels {
		l[k] = v
	}
	if svc.Spec.ClusterIP == v1.ClusterIPNone {
		l[LabelHeadless] = ""
	}
	return l
}

// shouldBeInEndpoints is upstream's ShouldPodBeInEndpoints.
func shouldBeInEndpoints(pod *v1.Pod, includeTerminating bool) bool {
	if pod.Status.PodIP == "" && len(pod.Status.PodIPs) == 0 {
		return false
	}
	if !includeTerminating && pod.DeletionTimestamp != nil {
		return false
	}
	return pod.Status.Phase != v1.PodSucceeded && pod.Status.Phase != v1.PodFailed
}

func podReady(pod *v1.Pod) bool {
	for _, c := range pod.Status.Conditions {
		if c.Type == v1.PodReady {
			return c.Status == v1.ConditionTrue
		}
	}
	return false
}

// FindPort resolves a Service port's targetPort on pod (upstream
// pkg/api/v1/pod FindPort): a number is used as is; a name is looked up
// among the app containers' ports, then the sidecars' (init containers with
// restartPolicy Always), matching name and protocol.
func FindPort(pod *v1.Pod, sp *v1.ServicePort) (int, error) {
	tp := sp.TargetPort
	switch tp.Type {
	case intstr.Int:
		return tp.IntValue(), nil
	case intstr.String:
		for _, c := range pod.Spec.Containers {
			for _, p := range c.Ports {
				if p.Name == tp.StrVal && p.Protocol == sp.Protocol {
					return int(p.ContainerPort), nil
				}
			}
		}
		for _, c := range pod.Spec.InitContainers {
			if !kuberules.IsSidecar(&c) {
				continue
			}
			for _, p := range c.Ports {
				if p.Name == tp.StrVal && p.Protocol == sp.Protocol {
					return int(p.ContainerPort), nil
				}
			}
		}
	}
	return 0, fmt.Errorf("no suitable port for manifest: %s", pod.UID)
}

// repackSubsets merges per-pod, per-port subsets into the canonical form
// (upstream RepackSubsets): one subset per set of addresses offering the
// same ports, addresses sorted by IP, ports by name and number, subsets by
// their first address.
func repackSubsets(in []v1.EndpointSubset) []v1.EndpointSubset {
	// The port sentinel -1 stands for "no ports" (headless without ports).
	portAddrs := map[v1.EndpointPort]map[string]addrInfo{}
	var portOrder []v1.EndpointPort
	for _, s := range in {
		ports := s.Ports
		if len(ports) == 0 {
			ports = []v1.EndpointPort{{Port: -1}}
		}
		for _, p := range ports {
			key := p
			key.AppProtocol = nil // pointers cannot be compared by value
			m, ok := portAddrs[key]
			if !ok {
				m = map[string]addrInfo{}
				portAddrs[key] = m
				portOrder = append(portOrder, p)
			}
			for _, a := range s.Addresses {
				m[addrKey(a)] = addrInfo{a, true}
			}
			for _, a := range s.NotReadyAddresses {
				if _, ok := m[addrKey(a)]; !ok {
					m[addrKey(a)] = addrInfo{a, false}
				}
			}
		}
	}
	// Group ports by the exact set of addresses behind them.
	type group struct {
		addrs map[string]addrInfo
		ports []v1.EndpointPort
	}
	groups := map[string]*group{}
	var order []string
	for _, p := range portOrder {
		key := p
		key.AppProtocol = nil
		addrs := portAddrs[key]
		sig := addrSetSignature(addrs)
		g, ok := groups[sig]
		if !ok {
			g = &group{addrs: addrs}
			groups[sig] = g
			order = append(order, sig)
		}
		if p.Port > 0 {
			g.ports = append(g.ports, p)
		}
	}
	out := make([]v1.EndpointSubset, 0, len(groups))
	for _, sig := range order {
		g := groups[sig]
		var s v1.EndpointSubset
		for _, a := range g.addrs {
			if a.ready {
				s.Addresses = append(s.Addresses, a.addr)
			} else {
				s.NotReadyAddresses = append(s.NotReadyAddresses, a.addr)
			}
		}
		sortAddresses(s.Addresses)
		sortAddresses(s.NotReadyAddresses)
		sort.Slice(g.ports, func(i, j int) bool {
			if g.ports[i].Name != g.ports[j].Name {
				return g.ports[i].Name < g.ports[j].Name
			}
			return g.ports[i].Port < g.ports[j].Port
		})
		s.Ports = g.ports
		out = append(out, s)
	}
	sort.SliceStable(out, func(i, j int) bool { return firstAddress(out[i]) < firstAddress(out[j]) })
	return out
}

func addrKey(a v1.EndpointAddress) string {
	uid := ""
	if a.TargetRef != nil {
		uid = string(a.TargetRef.UID)
	}
	return a.IP + "/" + uid
}

// addrInfo is one address behind an endpoint port, and whether it is ready.
type addrInfo struct {
	addr  v1.EndpointAddress
	ready bool
}

// addrSetSignature identifies a set of addresses (and their readiness).
func addrSetSignature(m map[string]addrInfo) string {
	keys := make([]string, 0, len(m))
	for k, a := range m {
		keys = append(keys, fmt.Sprintf("%s=%t", k, a.ready))
	}
	sort.Strings(keys)
	return strings.Join(keys, ",")
}

func sortAddresses(as []v1.EndpointAddress) {
	sort.Slice(as, func(i, j int) bool {
		a, b := ipSortKey(as[i].IP), ipSortKey(as[j].IP)
		if a != b {
			return a < b
		}
		return addrKey(as[i]) < addrKey(as[j])
	})
}

// ipSortKey orders IPv4 addresses numerically.
func ipSortKey(s string) string {
	if ip := net.ParseIP(s).To4(); ip != nil {
		return fmt.Sprintf("%03d.%03d.%03d.%03d", ip[0], ip[1], ip[2], ip[3])
	}
	return s
}

func firstAddress(s v1.EndpointSubset) string {
	if len(s.Addresses) > 0 {
		return ipSortKey(s.Addresses[0].IP)
	}
	if len(s.NotReadyAddresses) > 0 {
		return ipSortKey(s.NotReadyAddresses[0].IP)
	}
	return ""
}

// ReadyEndpoints lists the ready "ip:port" of the endpoint port named
// portName, in Endpoints order.
func ReadyEndpoints(ep *v1.Endpoints, portName string) []Backend {
	if ep == nil {
		return nil
	}
	var out []Backend
	for _, s := range ep.Subsets {
		for _, p := range s.Ports {
			if p.Name != portName {
				continue
			}
			for _, a := range s.Addresses {
				out = append(out, Backend{IP: a.IP, Port: p.Port})
			}
		}
	}
	sort.SliceStable(out, func(i, j int) bool {
		if a, b := ipSortKey(out[i].IP), ipSortKey(out[j].IP); a != b {
			return a < b
		}
		return out[i].Port < out[j].Port
	})
	return out
}

// Backend is one ready endpoint of a Service port.
type Backend struct {
	IP   string
	Port int32
}

func (b Backend) String() string { return net.JoinHostPort(b.IP, fmt.Sprint(b.Port)) }
