package runtime

import (
	"fmt"
	"math"
	"strconv"
	"strings"

	v1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"

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
}

// containerEnv resolves a container's env (kubelet makeEnvironmentVariables):
// values may refer to variables defined before them with $(VAR); valueFrom
// values are taken literally. Sources that need an API server (ConfigMaps,
// Secrets) are an error unless marked optional. The result is in
// declaration order, a later definition replacing an earlier one in place.
func containerEnv(pod *v1.Pod, c *v1.Container, ec envContext) ([]string, error) {
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
		switch {
		case src.ConfigMapRef != nil:
			if src.ConfigMapRef.Optional == nil || !*src.ConfigMapRef.Optional {
				return nil, fmt.Errorf("container %q: envFrom configMapRef %q: ConfigMaps are not supported", c.Name, src.ConfigMapRef.Name)
			}
		case src.SecretRef != nil:
			if src.SecretRef.Optional == nil || !*src.SecretRef.Optional {
				return nil, fmt.Errorf("container %q: envFrom secretRef %q: Secrets are not supported", c.Name, src.SecretRef.Name)
			}
		}
	}
	lookup := func(name string) (string, bool) {
		v, ok := values[name]
		return v, ok
	}
	for _, e := range c.Env {
		if e.ValueFrom == nil {
			set(e.Name, expansion.Expand(e.Value, lookup))
			continue
		}
		v, skip, err := envValueFrom(pod, c, e, ec)
		if err != nil {
			return nil, fmt.Errorf("container %q: env %q: %w", c.Name, e.Name, err)
		}
		if !skip {
			set(e.Name, v)
		}
	}
	out := make([]string, 0, len(order))
	for _, k := range order {
		out = append(out, k+"="+values[k])
	}
	return out, nil
}

// envValueFrom resolves one valueFrom; skip is set for an optional source
// that is absent.
func envValueFrom(pod *v1.Pod, c *v1.Container, e v1.EnvVar, ec envContext) (value string, skip bool, err error) {
	vf := e.ValueFrom
	switch {
	case vf.FieldRef != nil:
		v, err := podFieldValue(pod, vf.FieldRef.FieldPath, ec)
		return v, false, err
	case vf.ResourceFieldRef != nil:
		v, err := resourceFieldValue(c, vf.ResourceFieldRef, ec)
		return v, false, err
	case vf.ConfigMapKeyRef != nil:
		if vf.ConfigMapKeyRef.Optional != nil && *vf.ConfigMapKeyRef.Optional {
			return "", true, nil
		}
		return "", false, fmt.Errorf("configMapKeyRef %q: ConfigMaps are not supported", vf.ConfigMapKeyRef.Name)
	case vf.SecretKeyRef != nil:
		if vf.SecretKeyRef.Optional != nil && *vf.SecretKeyRef.Optional {
			return "", true, nil
		}
		return "", false, fmt.Errorf("secretKeyRef %q: Secrets are not supported", vf.SecretKeyRef.Name)
	}
	return "", false, fmt.Errorf("valueFrom has no source")
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
