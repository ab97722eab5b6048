package runtime

import (
	"fmt"
	"maps"
	"math"
	"slices"
	"strconv"
	"strings"

	v1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	"k8s.io/apimachinery/pkg/util/validation"

	"github.com/minikubelet/minikubelet/internal/expansion"
)

// envContext is what environment values can refer to besides the pod.
type envContext struct {
	NodeName string
	NodeIP   string
	PodIPs   []string
	// NodeCPU and NodeMemory stand in for limits a container does not set
	// (resourceFieldRef), as node allocatable does in the kubelet.
	NodeCPU    resource.Quantity
	NodeMemory resource.Quantity
	// Objects resolves ConfigMaps and Secrets; nil finds none.
	Objects ConfigObjects
	// Warn records a warning event on the pod (invalid names skipped).
	Warn func(reason, message string)
}

// ConfigObjects resolves a pod's references to ConfigMaps and Secrets (the
// manifests directory's, through the source).
type ConfigObjects interface {
	ConfigMap(namespace, name string) (*v1.ConfigMap, bool)
	Secret(namespace, name string) (*v1.Secret, bool)
}

// notFound is the API server's NotFound message for a missing object,
// which the kubelet passes on: `configmap "x" not found`.
func notFound(resource, name string) error {
	return fmt.Errorf("%s %q not found", resource, name)
}

func (ec envContext) configMap(namespace, name string) (*v1.ConfigMap, bool) {
	if ec.Objects == nil {
		return nil, false
	}
	return ec.Objects.ConfigMap(namespace, name)
}

func (ec envContext) secret(namespace, name string) (*v1.Secret, bool) {
	if ec.Objects == nil {
		return nil, false
	}
	return ec.Objects.Secret(namespace, name)
}

// containerEnv resolves a container's env (kubelet makeEnvironmentVariables):
// first every envFrom source in order (a later source's key replacing an
// earlier one's), then env, where values may refer to variables defined
// before them with $(VAR) and valueFrom values are taken literally. A
// missing ConfigMap, Secret or key is an error unless marked optional, with
// the kubelet's message. The result is in declaration order (envFrom keys
// sorted within their source), a later definition replacing an earlier one
// in place, then the Services' variables the container does not define
// itself (which its env may refer to).
func containerEnv(pod *v1.Pod, c *v1.Container, ec envContext, serviceEnv []v1.EnvVar) ([]string, error) {
	var (
		order  []string
		values = map[string]string{}
	)
	set := func(k, v string) {
		if _, ok := values[k]; !ok {
			order = append(order, k)
		}
		values[k] = v
	}
	for _, src := range c.EnvFrom {
		data, kind, name, ok, err := envFromData(pod, src, ec)
		if err != nil {
			return nil, err
		}
		if !ok {
			continue
		}
		var invalid []string
		for _, k := range slices.Sorted(maps.Keys(data)) {
			key := src.Prefix + k
			if len(validation.IsRelaxedEnvVarName(key)) > 0 {
				invalid = append(invalid, key)
				continue
			}
			set(key, data[k])
		}
		if len(invalid) > 0 && ec.Warn != nil {
			ec.Warn("InvalidEnvironmentVariableNames", fmt.Sprintf("Keys [%s] from the EnvFrom %s %s/%s were skipped since they are considered invalid environment variable names.",
				strings.Join(invalid, ", "), kind, pod.Namespace, name))
		}
	}
	services := make(map[string]string, len(serviceEnv))
	for _, e := range serviceEnv {
		services[e.Name] = e.Value
	}
	lookup := func(name string) (string, bool) {
		if v, ok := values[name]; ok {
			return v, true
		}
		v, ok := services[name]
		return v, ok
	}
	for _, e := range c.Env {
		if e.ValueFrom == nil {
			set(e.Name, expansion.Expand(e.Value, lookup))
			continue
		}
		v, skip, err := envValueFrom(pod, c, e, ec)
		if err != nil {
			return nil, err
		}
		if !skip {
			set(e.Name, v)
		}
	}
	out := make([]string, 0, len(order)+len(serviceEnv))
	for _, k := range order {
		out = append(out, k+"="+values[k])
	}
	for _, e := range serviceEnv {
		if _, own := values[e.Name]; !own {
			out = append(out, e.Name+"="+e.Value)
		}
	}
	return out, nil
}

// envFromData is the data of one envFrom source; ok is false for an
// optional source that is absent.
func envFromData(pod *v1.Pod, src v1.EnvFromSource, ec envContext) (data map[string]string, kind, name string, ok bool, err error) {
	switch {
	case src.ConfigMapRef != nil:
		ref := src.ConfigMapRef
		cm, found := ec.configMap(pod.Namespace, ref.Name)
		if !found {
			return nil, "", "", false, optionalOr(ref.Optional, notFound("configmap", ref.Name))
		}
		return cm.Data, "configMap", ref.Name, true, nil
	case src.SecretRef != nil:
		ref := src.SecretRef
		sec, found := ec.secret(pod.Namespace, ref.Name)
		if !found {
			return nil, "", "", false, optionalOr(ref.Optional, notFound("secret", ref.Name))
		}
		data = make(map[string]string, len(sec.Data))
		for k, v := range sec.Data {
			data[k] = string(v)
		}
		return data, "secret", ref.Name, true, nil
	}
	return nil, "", "", false, nil
}

// optionalOr is nil when the reference is optional, err otherwise.
func optionalOr(optional *bool, err error) error {
	if optional != nil && *optional {
		return nil
	}
	return err
}

// envValueFrom resolves one valueFrom; skip is set for an optional source
// or key that is absent.
func envValueFrom(pod *v1.Pod, c *v1.Container, e v1.EnvVar, ec envContext) (value string, skip bool, err error) {
	vf := e.ValueFrom
	where := func(err error) error {
		if err != nil {
			return fmt.Errorf("container %q: env %q: %w", c.Name, e.Name, err)
		}
		return nil
	}
	switch {
	case vf.FieldRef != nil:
		v, err := podFieldValue(pod, vf.FieldRef.FieldPath, ec)
		return v, false, where(err)
	case vf.ResourceFieldRef != nil:
		v, err := resourceFieldValue(c, vf.ResourceFieldRef, ec)
		return v, false, where(err)
	case vf.ConfigMapKeyRef != nil:
		ref := vf.ConfigMapKeyRef
		cm, ok := ec.configMap(pod.Namespace, ref.Name)
		if !ok {
			return "", true, optionalOr(ref.Optional, notFound("configmap", ref.Name))
		}
		v, ok := cm.Data[ref.Key]
		if !ok {
			return "", true, optionalOr(ref.Optional, fmt.Errorf("couldn't find key %v in ConfigMap %v/%v", ref.Key, pod.Namespace, ref.Name))
		}
		return v, false, nil
	case vf.SecretKeyRef != nil:
		ref := vf.SecretKeyRef
		sec, ok := ec.secret(pod.Namespace, ref.Name)
		if !ok {
			return "", true, optionalOr(ref.Optional, notFound("secret", ref.Name))
		}
		v, ok := sec.Data[ref.Key]
		if !ok {
			return "", true, optionalOr(ref.Optional, fmt.Errorf("couldn't find key %v in Secret %v/%v", ref.Key, pod.Namespace, ref.Name))
		}
		return string(v), false, nil
	}
	return "", false, where(fmt.Errorf("valueFrom has no source"))
}

// podFieldValue implements the downward API fields allowed in env
// (kubelet podFieldSelectorRuntimeValue).
func podFieldValue(pod *v1.Pod, path string, ec envContext) (string, error) {
	switch path {
	case "metadata.name":
		return pod.Name, nil
	case "metadata.namespace":
		return pod.Namespace, nil
	case "metadata.uid":
		return string(pod.UID), nil
	case "spec.nodeName":
		return ec.NodeName, nil
	case "spec.serviceAccountName":
		return pod.Spec.ServiceAccountName, nil
	case "status.podIP":
		if len(ec.PodIPs) > 0 {
			return ec.PodIPs[0], nil
		}
		return "", nil
	case "status.podIPs":
		return strings.Join(ec.PodIPs, ","), nil
	case "status.hostIP", "status.hostIPs":
		return ec.NodeIP, nil
	}
	for _, m := range []struct {
		prefix string
		values map[string]string
	}{{"metadata.labels", pod.Labels}, {"metadata.annotations", pod.Annotations}} {
		if key, ok := subscript(path, m.prefix); ok {
			return m.values[key], nil
		}
	}
	return "", fmt.Errorf("fieldRef %q is not supported", path)
}

// subscript parses prefix['key'].
func subscript(path, prefix string) (string, bool) {
	rest, ok := strings.CutPrefix(path, prefix+"['")
	if !ok {
		return "", false
	}
	return strings.CutSuffix(rest, "']")
}

// resourceFieldValue implements resourceFieldRef (kubelet
// ExtractContainerResourceValue): values are divided by the divisor and
// rounded up; an unset limit is the node's capacity.
func resourceFieldValue(c *v1.Container, ref *v1.ResourceFieldSelector, ec envContext) (string, error) {
	if ref.ContainerName != "" && ref.ContainerName != c.Name {
		return "", fmt.Errorf("resourceFieldRef for another container (%q) is not supported", ref.ContainerName)
	}
	divisor := ref.Divisor
	if divisor.IsZero() {
		divisor = resource.MustParse("1")
	}
	var (
		q     resource.Quantity
		ok    bool
		isCPU bool
	)
	switch ref.Resource {
	case "limits.cpu":
		q, ok, isCPU = c.Resources.Limits[v1.ResourceCPU], true, true
		if q.IsZero() {
			q = ec.NodeCPU
		}
	case "requests.cpu":
		q, ok, isCPU = c.Resources.Requests[v1.ResourceCPU], true, true
	case "limits.memory":
		q, ok = c.Resources.Limits[v1.ResourceMemory], true
		if q.IsZero() {
			q = ec.NodeMemory
		}
	case "requests.memory":
		q, ok = c.Resources.Requests[v1.ResourceMemory], true
	}
	if !ok {
		return "", fmt.Errorf("resourceFieldRef %q is not supported", ref.Resource)
	}
	if isCPU {
		return strconv.FormatInt(int64(math.Ceil(float64(q.MilliValue())/float64(divisor.MilliValue()))), 10), nil
	}
	return strconv.FormatInt(int64(math.Ceil(float64(q.Value())/float64(divisor.Value()))), 10), nil
}

// processArgs applies Kubernetes command/args over the image's entrypoint and
// cmd (containerd's CRI rules): command replaces the entrypoint and drops
// the image's cmd; args replace the cmd. $(VAR) in both is expanded from the
// container's env (image env is not visible to the kubelet).
func processArgs(imageEntrypoint, imageCmd []string, c *v1.Container, env []string) ([]string, error) {
	lookup := envLookup(env)
	expandAll := func(in []string) []string {
		out := make([]string, len(in))
		for i, s := range in {
			out[i] = expansion.Expand(s, lookup)
		}
		return out
	}
	var args []string
	switch {
	case len(c.Command) > 0:
		args = append(expandAll(c.Command), expandAll(c.Args)...)
	case len(c.Args) > 0:
		args = append(append([]string{}, imageEntrypoint...), expandAll(c.Args)...)
	default:
		args = append(append([]string{}, imageEntrypoint...), imageCmd...)
	}
	if len(args) == 0 {
		return nil, fmt.Errorf("container %q: no command specified", c.Name)
	}
	return args, nil
}

func envLookup(env []string) func(string) (string, bool) {
	m := make(map[string]string, len(env))
	for _, kv := range env {
		k, v, _ := strings.Cut(kv, "=")
		m[k] = v
	}
	return func(name string) (string, bool) {
		v, ok := m[name]
		return v, ok
	}
}
