package source

import (
	"fmt"

	v1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/utils/ptr"
)

func isService(m objectMeta) bool { return m.Kind == "Service" && m.group() == "" }

func serviceKey(s *v1.Service) string { return s.Namespace + "/" + s.Name }

// SetServiceDefaults applies the API defaulting a v1 Service gets when it is
// decoded (upstream pkg/apis/core/v1/defaults.go SetDefaults_Service), plus
// the namespace default the API server takes from the request. The fields
// the API server's registry fills at creation (clusterIP, clusterIPs,
// ipFamilies, ipFamilyPolicy) are left to the services package, which
// allocates the address. Safe to call twice.
func SetServiceDefaults(svc *v1.Service) {
	if svc.Namespace == "" {
		svc.Namespace = v1.NamespaceDefault
	}
	spec := &svc.Spec
	if spec.SessionAffinity == "" {
		spec.SessionAffinity = v1.ServiceAffinityNone
	}
	if spec.SessionAffinity == v1.ServiceAffinityNone {
		spec.SessionAffinityConfig = nil
	}
	if spec.SessionAffinity == v1.ServiceAffinityClientIP {
		if c := spec.SessionAffinityConfig; c == nil || c.ClientIP == nil || c.ClientIP.TimeoutSeconds == nil {
			spec.SessionAffinityConfig = &v1.SessionAffinityConfig{
				ClientIP: &v1.ClientIPConfig{TimeoutSeconds: ptr.To(v1.DefaultClientIPServiceAffinitySeconds)},
			}
		}
	}
	if spec.Type == "" {
		spec.Type = v1.ServiceTypeClusterIP
	}
	for i := range spec.Ports {
		sp := &spec.Ports[i]
		if sp.Protocol == "" {
			sp.Protocol = v1.ProtocolTCP
		}
		if sp.TargetPort == intstr.FromInt32(0) || sp.TargetPort == intstr.FromString("") {
			sp.TargetPort = intstr.FromInt32(sp.Port)
		}
	}
	externallyAccessible := spec.Type == v1.ServiceTypeNodePort || spec.Type == v1.ServiceTypeLoadBalancer ||
		(spec.Type == v1.ServiceTypeClusterIP && len(spec.ExternalIPs) > 0)
	if externallyAccessible && spec.ExternalTrafficPolicy == "" {
		spec.ExternalTrafficPolicy = v1.ServiceExternalTrafficPolicyCluster
	}
	if spec.InternalTrafficPolicy == nil &&
		(spec.Type == v1.ServiceTypeClusterIP || spec.Type == v1.ServiceTypeNodePort || spec.Type == v1.ServiceTypeLoadBalancer) {
		spec.InternalTrafficPolicy = ptr.To(v1.ServiceInternalTrafficPolicyCluster)
	}
	if spec.Type == v1.ServiceTypeLoadBalancer && spec.AllocateLoadBalancerNodePorts == nil {
		spec.AllocateLoadBalancerNodePorts = ptr.To(true)
	}
}

// loadService decodes, defaults, validates and identifies one Service.
func loadService(o object, path, nodeName string, multi bool) (*v1.Service, []FileError) {
	if o.meta.APIVersion != "v1" {
		return nil, []FileError{{File: path,
			Err: fmt.Errorf("%sno matches for kind %q in version %q", o.where(multi), o.meta.Kind, o.meta.APIVersion)}}
	}
	svc := &v1.Service{}
	if err := decodeStrict(o.json, svc); err != nil {
		return nil, []FileError{{File: path, Err: fmt.Errorf("%s%w", o.where(multi), err)}}
	}
	SetServiceDefaults(svc)
	if errs := ValidateService(svc); len(errs) > 0 {
		out := make([]FileError, 0, len(errs))
		for _, e := range errs {
			// Name the Service: the field path alone does not say which
			// object of a multi-document file is wrong.
			out = append(out, FileError{File: path, Err: fmt.Errorf("%sService %q is invalid: %w", o.where(multi), svc.Name, e)})
		}
		return nil, out
	}
	svc.UID = objectUID("service", svc.Namespace, svc.Name, nodeName)
	svc.TypeMeta.APIVersion, svc.TypeMeta.Kind = "v1", "Service"
	return svc, nil
}
