package source

import (
	"fmt"
	"net"

	v1 "k8s.io/api/core/v1"
	apivalidation "k8s.io/apimachinery/pkg/api/validation"
	metav1validation "k8s.io/apimachinery/pkg/apis/meta/v1/validation"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/apimachinery/pkg/util/validation"
	"k8s.io/apimachinery/pkg/util/validation/field"
)

// Messages of our own, for Service features the API server accepts but
// minikubelet does not run.
const (
	msgServiceTypeNotSupported = "minikubelet runs only ClusterIP services (headless ones included)"
	msgIPv4Only                = "minikubelet runs IPv4 single-stack services only"
)

var supportedServicePortProtocols = []string{string(v1.ProtocolSCTP), string(v1.ProtocolTCP), string(v1.ProtocolUDP)}

// ValidateService checks a defaulted Service the way the API server's
// create validation does (pkg/apis/core/validation ValidateService), with
// its field paths and messages, for what a ClusterIP Service uses. On top of
// that it refuses what minikubelet does not run: other types (NodePort,
// LoadBalancer, ExternalName), externalIPs, ClientIP session affinity and
// IPv6 or dual-stack addresses. Every error is returned, not just the first.
func ValidateService(svc *v1.Service) field.ErrorList {
	specPath := field.NewPath("spec")
	errs := apivalidation.ValidateObjectMeta(&svc.ObjectMeta, true, apivalidation.NameIsDNS1035Label, field.NewPath("metadata"))
	spec := &svc.Spec
	headless := spec.ClusterIP == v1.ClusterIPNone

	switch spec.Type {
	case "":
		errs = append(errs, field.Required(specPath.Child("type"), ""))
	case v1.ServiceTypeClusterIP:
	case v1.ServiceTypeNodePort, v1.ServiceTypeLoadBalancer, v1.ServiceTypeExternalName:
		errs = append(errs, field.Invalid(specPath.Child("type"), spec.Type, msgServiceTypeNotSupported))
	default:
		errs = append(errs, field.NotSupported(specPath.Child("type"), spec.Type,
			[]string{string(v1.ServiceTypeClusterIP), string(v1.ServiceTypeExternalName), string(v1.ServiceTypeLoadBalancer), string(v1.ServiceTypeNodePort)}))
	}

	portsPath := specPath.Child("ports")
	if len(spec.Ports) == 0 && !headless {
		errs = append(errs, field.Required(portsPath, ""))
	}
	names := map[string]bool{}
	type protoPort struct {
		proto v1.Protocol
		port  int32
	}
	seen := map[protoPort]bool{}
	for i := range spec.Ports {
		sp := &spec.Ports[i]
		p := portsPath.Index(i)
		errs = append(errs, validateServicePort(sp, len(spec.Ports) > 1, names, p)...)
		if sp.NodePort != 0 && spec.Type == v1.ServiceTypeClusterIP {
			errs = append(errs, field.Forbidden(p.Child("nodePort"), "may not be used when `type` is 'ClusterIP'"))
		}
		key := protoPort{sp.Protocol, sp.Port}
		if seen[key] {
			errs = append(errs, field.Duplicate(p, fmt.Sprintf("%d/%s", sp.Port, sp.Protocol)))
		}
		seen[key] = true
	}

	if spec.Selector != nil {
		errs = append(errs, metav1validation.ValidateLabels(spec.Selector, specPath.Child("selector"))...)
	}

	switch spec.SessionAffinity {
	case "":
		errs = append(errs, field.Required(specPath.Child("sessionAffinity"), ""))
	case v1.ServiceAffinityNone:
		if spec.SessionAffinityConfig != nil {
			errs = append(errs, field.Forbidden(specPath.Child("sessionAffinityConfig"),
				fmt.Sprintf("must not be set when session affinity is %s", v1.ServiceAffinityNone)))
		}
	case v1.ServiceAffinityClientIP:
		errs = append(errs, field.Invalid(specPath.Child("sessionAffinity"), spec.SessionAffinity,
			"ClientIP session affinity is not supported by minikubelet"))
	default:
		errs = append(errs, field.NotSupported(specPath.Child("sessionAffinity"), spec.SessionAffinity,
			[]string{string(v1.ServiceAffinityClientIP), string(v1.ServiceAffinityNone)}))
	}

	errs = append(errs, validateClusterIPs(spec, specPath)...)

	if len(spec.ExternalIPs) > 0 {
		errs = append(errs, field.Forbidden(specPath.Child("externalIPs"), "external IPs are not supported by minikubelet"))
	}
	if spec.ExternalTrafficPolicy != "" && spec.Type == v1.ServiceTypeClusterIP && len(spec.ExternalIPs) == 0 {
		errs = append(errs, field.Invalid(specPath.Child("externalTrafficPolicy"), spec.ExternalTrafficPolicy,
			"may only be set for externally-accessible services"))
	}
	if p := spec.InternalTrafficPolicy; p != nil && *p != v1.ServiceInternalTrafficPolicyCluster && *p != v1.ServiceInternalTrafficPolicyLocal {
		errs = append(errs, field.NotSupported(specPath.Child("internalTrafficPolicy"), *p,
			[]string{string(v1.ServiceInternalTrafficPolicyCluster), string(v1.ServiceInternalTrafficPolicyLocal)}))
	}
	if spec.LoadBalancerIP != "" {
		errs = append(errs, field.Forbidden(specPath.Child("loadBalancerIP"), "may only be used when `type` is 'LoadBalancer'"))
	}
	if len(spec.LoadBalancerSourceRanges) > 0 {
		errs = append(errs, field.Forbidden(specPath.Child("loadBalancerSourceRanges"), "may only be used when `type` is 'LoadBalancer'"))
	}
	if spec.HealthCheckNodePort != 0 {
		errs = append(errs, field.Forbidden(specPath.Child("healthCheckNodePort"), "may only be set when `type` is 'LoadBalancer' and `externalTrafficPolicy` is 'Local'"))
	}
	return errs
}

func validateServicePort(sp *v1.ServicePort, requireName bool, names map[string]bool, p *field.Path) field.ErrorList {
	var errs field.ErrorList
	if requireName && sp.Name == "" {
		errs = append(errs, field.Required(p.Child("name"), ""))
	} else if sp.Name != "" {
		for _, msg := range validation.IsDNS1123Label(sp.Name) {
			errs = append(errs, field.Invalid(p.Child("name"), sp.Name, msg))
		}
		if names[sp.Name] {
			errs = append(errs, field.Duplicate(p.Child("name"), sp.Name))
		}
		names[sp.Name] = true
	}
	for _, msg := range validation.IsValidPortNum(int(sp.Port)) {
		errs = append(errs, field.Invalid(p.Child("port"), sp.Port, msg))
	}
	switch sp.Protocol {
	case "":
		errs = append(errs, field.Required(p.Child("protocol"), ""))
	case v1.ProtocolTCP, v1.ProtocolUDP, v1.ProtocolSCTP:
	default:
		errs = append(errs, field.NotSupported(p.Child("protocol"), sp.Protocol, supportedServicePortProtocols))
	}
	tp := p.Child("targetPort")
	switch sp.TargetPort.Type {
	case intstr.Int:
		for _, msg := range validation.IsValidPortNum(sp.TargetPort.IntValue()) {
			errs = append(errs, field.Invalid(tp, sp.TargetPort.IntValue(), msg))
		}
	case intstr.String:
		for _, msg := range validation.IsValidPortName(sp.TargetPort.StrVal) {
			errs = append(errs, field.Invalid(tp, sp.TargetPort.StrVal, msg))
		}
	}
	if sp.AppProtocol != nil {
		for _, msg := range validation.IsQualifiedName(*sp.AppProtocol) {
			errs = append(errs, field.Invalid(p.Child("appProtocol"), *sp.AppProtocol, msg))
		}
	}
	return errs
}

// validateClusterIPs checks the address fields a manifest may set:
// clusterIP ("", "None" or an IPv4 address), clusterIPs (at most that one
// address), ipFamilies and ipFamilyPolicy (IPv4 single stack). Whether a
// requested address is inside the service CIDR and free is decided when it
// is allocated.
func validateClusterIPs(spec *v1.ServiceSpec, specPath *field.Path) field.ErrorList {
	var errs field.ErrorList
	if ip := spec.ClusterIP; ip != "" && ip != v1.ClusterIPNone {
		parsed := net.ParseIP(ip)
		switch {
		case parsed == nil:
			errs = append(errs, field.Invalid(specPath.Child("clusterIP"), ip, "must be empty, 'None', or a valid IP address"))
		case parsed.To4() == nil:
			errs = append(errs, field.Invalid(specPath.Child("clusterIP"), ip, msgIPv4Only))
		}
	}
	ipsPath := specPath.Child("clusterIPs")
	if len(spec.ClusterIPs) > 0 && spec.ClusterIPs[0] != spec.ClusterIP {
		errs = append(errs, field.Invalid(ipsPath.Index(0), spec.ClusterIPs[0], "must match `clusterIP` when set"))
	}
	if len(spec.ClusterIPs) > 1 {
		errs = append(errs, field.Invalid(ipsPath, spec.ClusterIPs, msgIPv4Only))
	}
	for i, f := range spec.IPFamilies {
		if f != v1.IPv4Protocol {
			errs = append(errs, field.Invalid(specPath.Child("ipFamilies").Index(i), f, msgIPv4Only))
		}
	}
	if p := spec.IPFamilyPolicy; p != nil {
		switch *p {
		case v1.IPFamilyPolicySingleStack, v1.IPFamilyPolicyPreferDualStack:
		case v1.IPFamilyPolicyRequireDualStack:
			errs = append(errs, field.Invalid(specPath.Child("ipFamilyPolicy"), *p, msgIPv4Only))
		default:
			errs = append(errs, field.NotSupported(specPath.Child("ipFamilyPolicy"), *p,
				[]string{string(v1.IPFamilyPolicyPreferDualStack), string(v1.IPFamilyPolicyRequireDualStack), string(v1.IPFamilyPolicySingleStack)}))
		}
	}
	return errs
}
