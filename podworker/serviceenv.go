package podworker

import (
	"fmt"
	"net"
	"slices"
	"strconv"
	"strings"

	v1 "k8s.io/api/core/v1"
)

// ServiceLister lists the node's Services (with their ClusterIPs) in a
// namespace; *services.Store is the real one.
type ServiceLister interface {
	ListServices(namespace string) []*v1.Service
}

// The API server's own Service, whose variables every container gets.
const (
	masterServiceNamespace = v1.NamespaceDefault
	masterServiceName      = "kubernetes"
)

// serviceEnv is the kubelet's getServiceEnvVarMap and envvars.FromServices:
// the Services of the pod's namespace when enableServiceLinks is on (the
// default), and always the `kubernetes` Service of namespace default, as
// FOO_SERVICE_HOST, FOO_SERVICE_PORT[_NAME] and Docker-link-style FOO_PORT*
// variables. Services without a ClusterIP (headless, ExternalName) give
// none. The order is stable: by Service name, then as upstream lists each
// Service's variables.
func serviceEnv(pod *v1.Pod, lister ServiceLister) []v1.EnvVar {
	if lister == nil {
		return nil
	}
	var svcs []*v1.Service
	seen := map[string]bool{}
	if links := pod.Spec.EnableServiceLinks; links == nil || *links {
		for _, svc := range lister.ListServices(pod.Namespace) {
			svcs = append(svcs, svc)
			seen[svc.Name] = true
		}
	}
	if !seen[masterServiceName] {
		for _, svc := range lister.ListServices(masterServiceNamespace) {
			if svc.Name == masterServiceName {
				svcs = append(svcs, svc)
			}
		}
	}
	slices.SortStableFunc(svcs, func(a, b *v1.Service) int { return strings.Compare(a.Name, b.Name) })
	var out []v1.EnvVar
	for _, svc := range svcs {
		ip := svc.Spec.ClusterIP
		if ip == "" || ip == v1.ClusterIPNone || len(svc.Spec.Ports) == 0 {
			continue
		}
		prefix := envVarName(svc.Name)
		out = append(out,
			v1.EnvVar{Name: prefix + "_SERVICE_HOST", Value: ip},
			v1.EnvVar{Name: prefix + "_SERVICE_PORT", Value: strconv.Itoa(int(svc.Spec.Ports[0].Port))})
		for _, sp := range svc.Spec.Ports {
			if sp.Name != "" {
				out = append(out, v1.EnvVar{Name: prefix + "_SERVICE_PORT_" + envVarName(sp.Name), Value: strconv.Itoa(int(sp.Port))})
			}
		}
		for i, sp := range svc.Spec.Ports {
			proto := strings.ToLower(string(sp.Protocol))
			if proto == "" {
				proto = "tcp"
			}
			url := proto + "://" + net.JoinHostPort(ip, strconv.Itoa(int(sp.Port)))
			if i == 0 {
				out = append(out, v1.EnvVar{Name: prefix + "_PORT", Value: url})
			}
			pp := fmt.Sprintf("%s_PORT_%d_%s", prefix, sp.Port, strings.ToUpper(proto))
			out = append(out,
				v1.EnvVar{Name: pp, Value: url},
				v1.EnvVar{Name: pp + "_PROTO", Value: proto},
				v1.EnvVar{Name: pp + "_PORT", Value: strconv.Itoa(int(sp.Port))},
				v1.EnvVar{Name: pp + "_ADDR", Value: ip})
		}
	}
	return out
}

// envVarName is the kubelet's makeEnvVariableName.
func envVarName(s string) string { return strings.ToUpper(strings.ReplaceAll(s, "-", "_")) }
