package source

import (
	"fmt"
	"path"
	"reflect"
	"strings"

	v1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	apivalidation "k8s.io/apimachinery/pkg/api/validation"
	metav1validation "k8s.io/apimachinery/pkg/apis/meta/v1/validation"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/apimachinery/pkg/util/validation"
	"k8s.io/apimachinery/pkg/util/validation/field"
)

// Messages of our own, for what the API server accepts but minikubelet
// cannot run.
const (
	msgVolumeNotSupported = "volume type not supported by minikubelet"
	msgAbsolutePath       = "must be an absolute path"
)

// ValidatePod checks a defaulted pod the way the API server's pod-create
// validation does (pkg/apis/core/validation ValidatePodCreate), with the same
// field paths and messages, for the parts of the spec minikubelet runs. On
// top of that it rejects what minikubelet cannot run (volume types other than
// emptyDir, hostPath, configMap, secret, downwardAPI and projected) and
// requires absolute hostPath and mount paths. Every error is returned, not just the first.
//
// Names that become paths or IDs (pod name, namespace, container and volume
// names) are DNS-1123 names, which already excludes "/", "." alone and "..".
func ValidatePod(pod *v1.Pod) field.ErrorList {
	metaPath := field.NewPath("metadata")
	specPath := field.NewPath("spec")
	errs := apivalidation.ValidateObjectMeta(&pod.ObjectMeta, true, apivalidation.NameIsDNSSubdomain, metaPath)
	errs = append(errs, validatePodSpec(&pod.Spec, specPath)...)
	errs = append(errs, validateSupported(pod)...)
	// validateContainersOnlyForPod
	for _, list := range []struct {
		cs []v1.Container
		p  *field.Path
	}{{pod.Spec.Containers, specPath.Child("containers")}, {pod.Spec.InitContainers, specPath.Child("initContainers")}} {
		for i, c := range list.cs {
			if len(c.Image) != len(strings.TrimSpace(c.Image)) {
				errs = append(errs, field.Invalid(list.p.Index(i).Child("image"), c.Image, "must not have leading or trailing whitespace"))
			}
		}
	}
	return errs
}

func validatePodSpec(spec *v1.PodSpec, fld *field.Path) field.ErrorList {
	var errs field.ErrorList
	// A negative terminationGracePeriodSeconds is not refused: the API
	// server warns and a Pod reads it as 1 (SetPodDefaults).
	if spec.TerminationGracePeriodSeconds == nil {
		errs = append(errs, field.Required(fld.Child("terminationGracePeriodSeconds"), ""))
	} else {
		errs = append(errs, validateSeconds(*spec.TerminationGracePeriodSeconds, fld.Child("terminationGracePeriodSeconds"))...)
	}
	grace := spec.TerminationGracePeriodSeconds

	vols, vErrs := validateVolumes(spec.Volumes, fld.Child("volumes"))
	errs = append(errs, vErrs...)
	errs = append(errs, validateContainers(spec.Containers, vols, grace, fld.Child("containers"))...)
	errs = append(errs, validateInitContainers(spec.InitContainers, spec.Containers, vols, grace, fld.Child("initContainers"))...)
	if len(spec.EphemeralContainers) > 0 {
		errs = append(errs, field.Forbidden(fld.Child("ephemeralContainers"), "cannot be set on create"))
	}
	if spec.HostNetwork {
		for i, c := range spec.Containers {
			for j, p := range c.Ports {
				if p.HostPort != p.ContainerPort {
					errs = append(errs, field.Invalid(fld.Child("containers").Index(i).Child("ports").Index(j).Child("hostPort"),
						p.HostPort, "must match `containerPort` when `hostNetwork` is true"))
				}
			}
		}
	}
	errs = append(errs, validateRestartPolicy(spec.RestartPolicy, fld.Child("restartPolicy"))...)
	errs = append(errs, validateDNSPolicy(spec.DNSPolicy, fld.Child("dnsPolicy"))...)
	errs = append(errs, metav1validation.ValidateLabels(spec.NodeSelector, fld.Child("nodeSelector"))...)
	if spec.DNSPolicy == v1.DNSNone && (spec.DNSConfig == nil || len(spec.DNSConfig.Nameservers) == 0) {
		if spec.DNSConfig == nil {
			errs = append(errs, field.Required(fld.Child("dnsConfig"), "must provide `dnsConfig` when `dnsPolicy` is None"))
		} else {
			errs = append(errs, field.Required(fld.Child("dnsConfig", "nameservers"), "must provide at least one DNS nameserver when `dnsPolicy` is None"))
		}
	}
	if spec.ActiveDeadlineSeconds != nil {
		if v := *spec.ActiveDeadlineSeconds; v < 1 || v > 1<<31-1 {
			errs = append(errs, field.Invalid(fld.Child("activeDeadlineSeconds"), v, validation.InclusiveRangeError(1, 1<<31-1)))
		}
	}
	errs = append(errs, validatePodIDs(spec.SecurityContext, fld.Child("securityContext"))...)
	if spec.Hostname != "" {
		errs = append(errs, dns1123Label(spec.Hostname, fld.Child("hostname"))...)
	}
	if spec.Subdomain != "" {
		errs = append(errs, dns1123Label(spec.Subdomain, fld.Child("subdomain"))...)
	}
	if spec.Resources != nil {
		errs = append(errs, validatePodResources(spec, fld.Child("resources"))...)
	}
	return errs
}

func dns1123Label(value string, fld *field.Path) field.ErrorList {
	var errs field.ErrorList
	for _, msg := range validation.IsDNS1123Label(value) {
		errs = append(errs, field.Invalid(fld, value, msg))
	}
	return errs
}

func validateRestartPolicy(p v1.RestartPolicy, fld *field.Path) field.ErrorList {
	switch p {
	case v1.RestartPolicyAlways, v1.RestartPolicyOnFailure, v1.RestartPolicyNever:
		return nil
	case "":
		return field.ErrorList{field.Required(fld, "")}
	}
	return field.ErrorList{field.NotSupported(fld, p, []v1.RestartPolicy{v1.RestartPolicyAlways, v1.RestartPolicyOnFailure, v1.RestartPolicyNever})}
}

func validateDNSPolicy(p v1.DNSPolicy, fld *field.Path) field.ErrorList {
	switch p {
	case v1.DNSClusterFirstWithHostNet, v1.DNSClusterFirst, v1.DNSDefault, v1.DNSNone:
		return nil
	case "":
		return field.ErrorList{field.Required(fld, "")}
	}
	return field.ErrorList{field.NotSupported(fld, p, []v1.DNSPolicy{v1.DNSClusterFirstWithHostNet, v1.DNSClusterFirst, v1.DNSDefault, v1.DNSNone})}
}

// validateVolumes returns the names of the valid volumes (mounts of invalid
// ones are then reported as not found, as upstream does).
func validateVolumes(vols []v1.Volume, fld *field.Path) (map[string]bool, field.ErrorList) {
	var errs field.ErrorList
	names := map[string]bool{}
	for i, vol := range vols {
		idx := fld.Index(i)
		namePath := idx.Child("name")
		el := validateVolumeSource(&vol.VolumeSource, idx)
		if vol.Name == "" {
			el = append(el, field.Required(namePath, ""))
		} else {
			el = append(el, dns1123Label(vol.Name, namePath)...)
		}
		if names[vol.Name] {
			el = append(el, field.Duplicate(namePath, vol.Name))
		}
		if len(el) == 0 {
			names[vol.Name] = true
		} else {
			errs = append(errs, el...)
		}
	}
	return names, errs
}

// volumeTypes lists the JSON names of the sources set in a VolumeSource, in
// field order (every field of VolumeSource is a pointer).
func volumeTypes(src *v1.VolumeSource) []string {
	var types []string
	rv := reflect.ValueOf(src).Elem()
	rt := rv.Type()
	for i := 0; i < rt.NumField(); i++ {
		if f := rv.Field(i); f.Kind() == reflect.Pointer && !f.IsNil() {
			types = append(types, strings.Split(rt.Field(i).Tag.Get("json"), ",")[0])
		}
	}
	return types
}

func validateVolumeSource(src *v1.VolumeSource, fld *field.Path) field.ErrorList {
	types := volumeTypes(src)
	if len(types) == 0 {
		return field.ErrorList{field.Required(fld, "must specify a volume type")}
	}
	var errs field.ErrorList
	for i, t := range types {
		p := fld.Child(t)
		if i > 0 {
			errs = append(errs, field.Forbidden(p, "may not specify more than 1 volume type"))
			continue
		}
		switch t {
		case "emptyDir":
			if sl := src.EmptyDir.SizeLimit; sl != nil && sl.Cmp(resource.Quantity{}) < 0 {
				errs = append(errs, field.Forbidden(p.Child("sizeLimit"), "SizeLimit field must be a valid resource quantity"))
			} else if sl != nil {
				errs = append(errs, validateQuantityBound(v1.ResourceMemory, *sl, p.Child("sizeLimit"))...)
			}
			switch src.EmptyDir.Medium {
			case v1.StorageMediumDefault, v1.StorageMediumMemory:
			default:
				errs = append(errs, field.NotSupported(p.Child("medium"), src.EmptyDir.Medium,
					[]v1.StorageMedium{v1.StorageMediumDefault, v1.StorageMediumMemory}))
			}
		case "hostPath":
			errs = append(errs, validateHostPath(src.HostPath, p)...)
		case "configMap", "secret", "downwardAPI", "projected":
			errs = append(errs, validateProjectedSources(src, fld)...)
		default:
			errs = append(errs, field.Forbidden(p, msgVolumeNotSupported))
		}
	}
	return errs
}

var hostPathTypes = []v1.HostPathType{v1.HostPathUnset, v1.HostPathDirectoryOrCreate, v1.HostPathDirectory,
	v1.HostPathFileOrCreate, v1.HostPathFile, v1.HostPathSocket, v1.HostPathCharDev, v1.HostPathBlockDev}

func validateHostPath(hp *v1.HostPathVolumeSource, fld *field.Path) field.ErrorList {
	p := fld.Child("path")
	if hp.Path == "" {
		return field.ErrorList{field.Required(p, "")}
	}
	errs := validatePathNoBacksteps(hp.Path, p)
	if !path.IsAbs(hp.Path) {
		errs = append(errs, field.Invalid(p, hp.Path, msgAbsolutePath))
	}
	if hp.Type != nil {
		ok := false
		for _, t := range hostPathTypes {
			ok = ok || *hp.Type == t
		}
		if !ok {
			errs = append(errs, field.NotSupported(fld.Child("type"), *hp.Type, hostPathTypes))
		}
	}
	return errs
}

func validatePathNoBacksteps(p string, fld *field.Path) field.ErrorList {
	for _, part := range strings.Split(p, "/") {
		if part == ".." {
			return field.ErrorList{field.Invalid(fld, p, "must not contain '..'")}
		}
	}
	return nil
}

func validateLocalDescendingPath(p string, fld *field.Path) field.ErrorList {
	var errs field.ErrorList
	if path.IsAbs(p) {
		errs = append(errs, field.Invalid(fld, p, "must be a relative path"))
	}
	return append(errs, validatePathNoBacksteps(p, fld)...)
}

func validateContainers(cs []v1.Container, vols map[string]bool, grace *int64, fld *field.Path) field.ErrorList {
	if len(cs) == 0 {
		return field.ErrorList{field.Required(fld, "")}
	}
	var errs field.ErrorList
	names := map[string]bool{}
	for i := range cs {
		c := &cs[i]
		p := fld.Index(i)
		errs = append(errs, validateContainerCommon(c, vols, p)...)
		// Collisions with init container names are reported on the init
		// container, as upstream does.
		if names[c.Name] {
			errs = append(errs, field.Duplicate(p.Child("name"), c.Name))
		} else {
			names[c.Name] = true
		}
		errs = append(errs, validateProbesAndHooks(c, grace, p)...)
		if c.RestartPolicy != nil {
			errs = append(errs, field.Forbidden(p.Child("restartPolicy"), "may not be set for non-init containers"))
		}
	}
	return append(errs, hostPortConflicts(cs, fld)...)
}

func validateInitContainers(cs, regular []v1.Container, vols map[string]bool, grace *int64, fld *field.Path) field.ErrorList {
	var errs field.ErrorList
	names := map[string]bool{}
	for _, c := range regular {
		names[c.Name] = true
	}
	const notSidecar = "may not be set for init containers without restartPolicy=Always"
	for i := range cs {
		c := &cs[i]
		p := fld.Index(i)
		errs = append(errs, validateContainerCommon(c, vols, p)...)
		sidecar := false
		if c.RestartPolicy != nil {
			if *c.RestartPolicy == v1.ContainerRestartPolicyAlways {
				sidecar = true
			} else {
				errs = append(errs, field.NotSupported(p.Child("restartPolicy"), *c.RestartPolicy,
					[]v1.ContainerRestartPolicy{v1.ContainerRestartPolicyAlways}))
			}
		}
		if names[c.Name] {
			errs = append(errs, field.Duplicate(p.Child("name"), c.Name))
		} else if c.Name != "" {
			names[c.Name] = true
		}
		// Init containers run one at a time: host ports only conflict
		// within one of them.
		errs = append(errs, hostPortConflicts([]v1.Container{*c}, fld)...)
		if sidecar {
			errs = append(errs, validateProbesAndHooks(c, grace, p)...)
			continue
		}
		if c.Lifecycle != nil {
			errs = append(errs, field.Forbidden(p.Child("lifecycle"), notSidecar))
		}
		if c.LivenessProbe != nil {
			errs = append(errs, field.Forbidden(p.Child("livenessProbe"), notSidecar))
		}
		if c.ReadinessProbe != nil {
			errs = append(errs, field.Forbidden(p.Child("readinessProbe"), notSidecar))
		}
		if c.StartupProbe != nil {
			errs = append(errs, field.Forbidden(p.Child("startupProbe"), notSidecar))
		}
	}
	return errs
}

func hostPortConflicts(cs []v1.Container, fld *field.Path) field.ErrorList {
	var errs field.ErrorList
	seen := map[string]bool{}
	for ci, c := range cs {
		for pi, port := range c.Ports {
			if port.HostPort == 0 {
				continue
			}
			key := fmt.Sprintf("%s/%s/%d", port.Protocol, port.HostIP, port.HostPort)
			if seen[key] {
				errs = append(errs, field.Duplicate(fld.Index(ci).Child("ports").Index(pi).Child("hostPort"), key))
			}
			seen[key] = true
		}
	}
	return errs
}

func validateContainerCommon(c *v1.Container, vols map[string]bool, p *field.Path) field.ErrorList {
	var errs field.ErrorList
	if c.Name == "" {
		errs = append(errs, field.Required(p.Child("name"), ""))
	} else {
		errs = append(errs, dns1123Label(c.Name, p.Child("name"))...)
	}
	if c.Image == "" {
		errs = append(errs, field.Required(p.Child("image"), ""))
	}
	switch c.TerminationMessagePolicy {
	case v1.TerminationMessageReadFile, v1.TerminationMessageFallbackToLogsOnError:
	case "":
		errs = append(errs, field.Required(p.Child("terminationMessagePolicy"), ""))
	default:
		errs = append(errs, field.NotSupported(p.Child("terminationMessagePolicy"), c.TerminationMessagePolicy,
			[]v1.TerminationMessagePolicy{v1.TerminationMessageReadFile, v1.TerminationMessageFallbackToLogsOnError}))
	}
	errs = append(errs, validateContainerPorts(c.Ports, p.Child("ports"))...)
	errs = append(errs, validateEnv(c.Env, p.Child("env"))...)
	errs = append(errs, validateEnvFrom(c.EnvFrom, p.Child("envFrom"))...)
	errs = append(errs, validateVolumeMounts(c, vols, p.Child("volumeMounts"))...)
	if len(c.VolumeDevices) > 0 {
		errs = append(errs, field.Forbidden(p.Child("volumeDevices"), "block volumes are not supported by minikubelet"))
	}
	switch c.ImagePullPolicy {
	case v1.PullAlways, v1.PullIfNotPresent, v1.PullNever:
	case "":
		errs = append(errs, field.Required(p.Child("imagePullPolicy"), ""))
	default:
		errs = append(errs, field.NotSupported(p.Child("imagePullPolicy"), c.ImagePullPolicy,
			[]v1.PullPolicy{v1.PullAlways, v1.PullIfNotPresent, v1.PullNever}))
	}
	errs = append(errs, validateResources(&c.Resources, p.Child("resources"))...)
	errs = append(errs, validateContainerIDs(c.SecurityContext, p.Child("securityContext"))...)
	errs = append(errs, validateContainerSecurity(c.SecurityContext, p.Child("securityContext"))...)
	return errs
}

var supportedProtocols = []v1.Protocol{v1.ProtocolSCTP, v1.ProtocolTCP, v1.ProtocolUDP}

func validateContainerPorts(ports []v1.ContainerPort, fld *field.Path) field.ErrorList {
	var errs field.ErrorList
	names := map[string]bool{}
	for i, port := range ports {
		idx := fld.Index(i)
		if port.Name != "" {
			if msgs := validation.IsValidPortName(port.Name); len(msgs) > 0 {
				for _, msg := range msgs {
					errs = append(errs, field.Invalid(idx.Child("name"), port.Name, msg))
				}
			} else if names[port.Name] {
				errs = append(errs, field.Duplicate(idx.Child("name"), port.Name))
			} else {
				names[port.Name] = true
			}
		}
		if port.ContainerPort == 0 {
			errs = append(errs, field.Required(idx.Child("containerPort"), ""))
		} else {
			for _, msg := range validation.IsValidPortNum(int(port.ContainerPort)) {
				errs = append(errs, field.Invalid(idx.Child("containerPort"), port.ContainerPort, msg))
			}
		}
		if port.HostPort != 0 {
			for _, msg := range validation.IsValidPortNum(int(port.HostPort)) {
				errs = append(errs, field.Invalid(idx.Child("hostPort"), port.HostPort, msg))
			}
		}
		switch port.Protocol {
		case v1.ProtocolTCP, v1.ProtocolUDP, v1.ProtocolSCTP:
		case "":
			errs = append(errs, field.Required(idx.Child("protocol"), ""))
		default:
			errs = append(errs, field.NotSupported(idx.Child("protocol"), port.Protocol, supportedProtocols))
		}
	}
	return errs
}

// validateEnv uses the relaxed name rule (any printable ASCII but '='),
// the default since RelaxedEnvironmentVariableValidation went GA in 1.34.
func validateEnv(vars []v1.EnvVar, fld *field.Path) field.ErrorList {
	var errs field.ErrorList
	for i, ev := range vars {
		idx := fld.Index(i)
		if ev.Name == "" {
			errs = append(errs, field.Required(idx.Child("name"), ""))
		} else {
			for _, msg := range validation.IsRelaxedEnvVarName(ev.Name) {
				errs = append(errs, field.Invalid(idx.Child("name"), ev.Name, msg))
			}
		}
		errs = append(errs, validateEnvValueFrom(ev, idx.Child("valueFrom"))...)
	}
	return errs
}

var validEnvFieldPaths = map[string]bool{
	"metadata.name": true, "metadata.namespace": true, "metadata.uid": true,
	"spec.nodeName": true, "spec.serviceAccountName": true,
	"status.hostIP": true, "status.hostIPs": true, "status.podIP": true, "status.podIPs": true,
}

var validResourceFieldPaths = map[string]bool{
	"limits.cpu": true, "limits.memory": true, "limits.ephemeral-storage": true,
	"requests.cpu": true, "requests.memory": true, "requests.ephemeral-storage": true,
}

func validateEnvValueFrom(ev v1.EnvVar, fld *field.Path) field.ErrorList {
	vf := ev.ValueFrom
	if vf == nil {
		return nil
	}
	var errs field.ErrorList
	n := 0
	if vf.FieldRef != nil {
		n++
		errs = append(errs, validateFieldRef(vf.FieldRef, validEnvFieldPaths, fld.Child("fieldRef"))...)
	}
	if r := vf.ResourceFieldRef; r != nil {
		n++
		errs = append(errs, validateResourceFieldPath(r.Resource, fld.Child("resourceFieldRef"))...)
	}
	if r := vf.ConfigMapKeyRef; r != nil {
		n++
		errs = append(errs, validateKeySelector(r.Name, r.Key, fld.Child("configMapKeyRef"))...)
	}
	if r := vf.SecretKeyRef; r != nil {
		n++
		errs = append(errs, validateKeySelector(r.Name, r.Key, fld.Child("secretKeyRef"))...)
	}
	switch {
	case n == 0:
		errs = append(errs, field.Invalid(fld, "", "must specify one of: `fieldRef`, `resourceFieldRef`, `configMapKeyRef` or `secretKeyRef`"))
	case ev.Value != "":
		errs = append(errs, field.Invalid(fld, "", "may not be specified when `value` is not empty"))
	case n > 1:
		errs = append(errs, field.Invalid(fld, "", "may not have more than one field specified at a time"))
	}
	return errs
}

func validateResourceFieldPath(res string, p *field.Path) field.ErrorList {
	if res == "" {
		return field.ErrorList{field.Required(p.Child("resource"), "")}
	}
	if !validResourceFieldPaths[res] && !strings.HasPrefix(res, "requests.hugepages-") && !strings.HasPrefix(res, "limits.hugepages-") {
		return field.ErrorList{field.NotSupported(p.Child("resource"), res, sortedKeys(validResourceFieldPaths))}
	}
	return nil
}

// validateFieldRef checks a fieldRef against the paths valid where it is
// (env or a downwardAPI volume).
func validateFieldRef(fs *v1.ObjectFieldSelector, valid map[string]bool, fld *field.Path) field.ErrorList {
	if fs.APIVersion == "" {
		return field.ErrorList{field.Required(fld.Child("apiVersion"), "")}
	}
	if fs.FieldPath == "" {
		return field.ErrorList{field.Required(fld.Child("fieldPath"), "")}
	}
	if fs.APIVersion != "v1" {
		return field.ErrorList{field.Invalid(fld.Child("fieldPath"), fs.FieldPath,
			fmt.Sprintf("error converting fieldPath: unsupported pod version: %s", fs.APIVersion))}
	}
	if p, sub, ok := splitSubscript(fs.FieldPath); ok {
		var msgs []string
		switch p {
		case "metadata.annotations":
			msgs = validation.IsQualifiedName(strings.ToLower(sub))
		case "metadata.labels":
			msgs = validation.IsQualifiedName(sub)
		default:
			return field.ErrorList{field.Invalid(fld, p, "does not support subscript")}
		}
		var errs field.ErrorList
		for _, msg := range msgs {
			errs = append(errs, field.Invalid(fld, sub, msg))
		}
		return errs
	}
	if !valid[fs.FieldPath] {
		return field.ErrorList{field.NotSupported(fld.Child("fieldPath"), fs.FieldPath, sortedKeys(valid))}
	}
	return nil
}

// splitSubscript splits "metadata.labels['key']" into its path and key.
func splitSubscript(s string) (string, string, bool) {
	i := strings.Index(s, "['")
	if i < 0 || !strings.HasSuffix(s, "']") || i+2 > len(s)-2 {
		return s, "", false
	}
	return s[:i], s[i+2 : len(s)-2], true
}

func validateVolumeMounts(c *v1.Container, vols map[string]bool, fld *field.Path) field.ErrorList {
	var errs field.ErrorList
	mountpoints := map[string]bool{}
	for i, m := range c.VolumeMounts {
		idx := fld.Index(i)
		if m.Name == "" {
			errs = append(errs, field.Required(idx.Child("name"), ""))
		}
		if !vols[m.Name] {
			errs = append(errs, field.NotFound(idx.Child("name"), m.Name))
		}
		if m.MountPath == "" {
			errs = append(errs, field.Required(idx.Child("mountPath"), ""))
		} else if !path.IsAbs(m.MountPath) {
			errs = append(errs, field.Invalid(idx.Child("mountPath"), m.MountPath, msgAbsolutePath))
		}
		if mountpoints[m.MountPath] {
			errs = append(errs, field.Invalid(idx.Child("mountPath"), m.MountPath, "must be unique"))
		}
		mountpoints[m.MountPath] = true
		// Upstream names these paths without the mount's index; kept so.
		if m.SubPath != "" {
			errs = append(errs, validateLocalDescendingPath(m.SubPath, fld.Child("subPath"))...)
		}
		if m.SubPathExpr != "" {
			if m.SubPath != "" {
				errs = append(errs, field.Invalid(idx.Child("subPathExpr"), m.SubPathExpr, "subPathExpr and subPath are mutually exclusive"))
			}
			errs = append(errs, validateLocalDescendingPath(m.SubPathExpr, fld.Child("subPathExpr"))...)
		}
		if mp := m.MountPropagation; mp != nil {
			valid := []v1.MountPropagationMode{v1.MountPropagationBidirectional, v1.MountPropagationHostToContainer, v1.MountPropagationNone}
			switch *mp {
			case v1.MountPropagationHostToContainer, v1.MountPropagationNone:
			case v1.MountPropagationBidirectional:
				if c.SecurityContext == nil || c.SecurityContext.Privileged == nil || !*c.SecurityContext.Privileged {
					errs = append(errs, field.Forbidden(fld.Child("mountPropagation"), "Bidirectional mount propagation is available only to privileged containers"))
				}
			default:
				errs = append(errs, field.NotSupported(fld.Child("mountPropagation"), *mp, valid))
			}
		}
	}
	return errs
}

// validateProbesAndHooks covers what app containers and sidecars may carry.
func validateProbesAndHooks(c *v1.Container, grace *int64, p *field.Path) field.ErrorList {
	var errs field.ErrorList
	ports := map[string]bool{}
	for _, port := range c.Ports {
		if port.Name != "" {
			ports[port.Name] = true
		}
	}
	if c.Lifecycle != nil {
		lp := p.Child("lifecycle")
		if h := c.Lifecycle.PostStart; h != nil {
			errs = append(errs, validateHandler(handlerOfHook(h), grace, ports, lp.Child("postStart"))...)
		}
		if h := c.Lifecycle.PreStop; h != nil {
			errs = append(errs, validateHandler(handlerOfHook(h), grace, ports, lp.Child("preStop"))...)
		}
	}
	if pr := c.LivenessProbe; pr != nil {
		pp := p.Child("livenessProbe")
		errs = append(errs, validateProbe(pr, grace, ports, pp)...)
		if pr.SuccessThreshold != 1 {
			errs = append(errs, field.Invalid(pp.Child("successThreshold"), pr.SuccessThreshold, "must be 1"))
		}
	}
	if pr := c.ReadinessProbe; pr != nil {
		pp := p.Child("readinessProbe")
		errs = append(errs, validateProbe(pr, grace, ports, pp)...)
		if pr.TerminationGracePeriodSeconds != nil {
			errs = append(errs, field.Invalid(pp.Child("terminationGracePeriodSeconds"), pr.TerminationGracePeriodSeconds, "must not be set for readinessProbes"))
		}
	}
	if pr := c.StartupProbe; pr != nil {
		pp := p.Child("startupProbe")
		errs = append(errs, validateProbe(pr, grace, ports, pp)...)
		if pr.SuccessThreshold != 1 {
			errs = append(errs, field.Invalid(pp.Child("successThreshold"), pr.SuccessThreshold, "must be 1"))
		}
	}
	return errs
}

func validateProbe(pr *v1.Probe, grace *int64, ports map[string]bool, fld *field.Path) field.ErrorList {
	errs := validateHandler(handler{
		exec: pr.Exec, httpGet: pr.HTTPGet, tcpSocket: pr.TCPSocket, grpc: pr.GRPC,
	}, grace, ports, fld)
	for _, f := range []struct {
		name string
		v    int32
	}{
		{"initialDelaySeconds", pr.InitialDelaySeconds},
		{"timeoutSeconds", pr.TimeoutSeconds},
		{"periodSeconds", pr.PeriodSeconds},
		{"successThreshold", pr.SuccessThreshold},
		{"failureThreshold", pr.FailureThreshold},
	} {
		errs = append(errs, apivalidation.ValidateNonnegativeField(int64(f.v), fld.Child(f.name))...)
	}
	if t := pr.TerminationGracePeriodSeconds; t != nil && *t <= 0 {
		errs = append(errs, field.Invalid(fld.Child("terminationGracePeriodSeconds"), *t, "must be greater than 0"))
	} else if t != nil {
		errs = append(errs, validateSeconds(*t, fld.Child("terminationGracePeriodSeconds"))...)
	}
	return errs
}

// handler is upstream's commonHandler: the union of probe and hook actions.
type handler struct {
	exec      *v1.ExecAction
	httpGet   *v1.HTTPGetAction
	tcpSocket *v1.TCPSocketAction
	grpc      *v1.GRPCAction
	sleep     *v1.SleepAction
}

func handlerOfHook(h *v1.LifecycleHandler) handler {
	return handler{exec: h.Exec, httpGet: h.HTTPGet, tcpSocket: h.TCPSocket, sleep: h.Sleep}
}

func validateHandler(h handler, grace *int64, ports map[string]bool, fld *field.Path) field.ErrorList {
	var errs field.ErrorList
	n := 0
	more := func(name string) bool {
		if n > 0 {
			errs = append(errs, field.Forbidden(fld.Child(name), "may not specify more than 1 handler type"))
			return true
		}
		n++
		return false
	}
	if h.exec != nil && !more("exec") {
		if len(h.exec.Command) == 0 {
			errs = append(errs, field.Required(fld.Child("exec", "command"), ""))
		}
	}
	if h.httpGet != nil && !more("httpGet") {
		p := fld.Child("httpGet")
		if h.httpGet.Path == "" {
			errs = append(errs, field.Required(p.Child("path"), ""))
		}
		errs = append(errs, validateProbePort(h.httpGet.Port, ports, p.Child("port"))...)
		if s := h.httpGet.Scheme; s != v1.URISchemeHTTP && s != v1.URISchemeHTTPS {
			errs = append(errs, field.NotSupported(p.Child("scheme"), s, []v1.URIScheme{v1.URISchemeHTTP, v1.URISchemeHTTPS}))
		}
		for _, hdr := range h.httpGet.HTTPHeaders {
			for _, msg := range validation.IsHTTPHeaderName(hdr.Name) {
				errs = append(errs, field.Invalid(p.Child("httpHeaders"), hdr.Name, msg))
			}
		}
	}
	if h.tcpSocket != nil && !more("tcpSocket") {
		errs = append(errs, validateProbePort(h.tcpSocket.Port, ports, fld.Child("tcpSocket", "port"))...)
	}
	if h.grpc != nil && !more("grpc") {
		// gRPC ports are numbers only: the field is an int32.
		for _, msg := range validation.IsValidPortNum(int(h.grpc.Port)) {
			errs = append(errs, field.Invalid(fld.Child("grpc", "port"), int(h.grpc.Port), msg))
		}
	}
	if h.sleep != nil && !more("sleep") {
		if grace != nil && (h.sleep.Seconds < 0 || h.sleep.Seconds > *grace) {
			errs = append(errs, field.Invalid(fld.Child("sleep"), h.sleep.Seconds,
				fmt.Sprintf("must be non-negative and less than terminationGracePeriodSeconds (%d)", *grace)))
		}
	}
	if n == 0 {
		errs = append(errs, field.Required(fld, "must specify a handler type"))
	}
	return errs
}

// validateProbePort is upstream's ValidatePortNumOrName plus a check that a
// named port exists in the container: the kubelet has to resolve it, and
// would otherwise fail on every probe.
func validateProbePort(port intstr.IntOrString, ports map[string]bool, fld *field.Path) field.ErrorList {
	var errs field.ErrorList
	if port.Type == intstr.Int {
		for _, msg := range validation.IsValidPortNum(port.IntValue()) {
			errs = append(errs, field.Invalid(fld, port.IntValue(), msg))
		}
		return errs
	}
	for _, msg := range validation.IsValidPortName(port.StrVal) {
		errs = append(errs, field.Invalid(fld, port.StrVal, msg))
	}
	if len(errs) == 0 && !ports[port.StrVal] {
		errs = append(errs, field.NotFound(fld, port.StrVal))
	}
	return errs
}
