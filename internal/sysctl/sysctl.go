// Package sysctl holds the kubelet's rules for a pod's sysctls: how a name
// is normalized, which kernel namespace it belongs to, and the allowlist the
// kubelet admits pods against (pkg/kubelet/sysctl: safe_sysctls.go,
// allowlist.go, namespace.go).
package sysctl

import (
	"fmt"
	"regexp"
	"strings"

	v1 "k8s.io/api/core/v1"
)

// ForbiddenReason is the status reason of a pod refused for its sysctls.
const ForbiddenReason = "SysctlForbidden"

// NormalizeName turns a name written with '/' separators
// (net/ipv4/ip_local_port_range) into the dotted form; a name whose first
// separator is already a dot is left as it is.
func NormalizeName(name string) string {
	i := strings.IndexAny(name, "./")
	if i < 0 || name[i] == '.' {
		return name
	}
	return strings.NewReplacer(".", "/", "/", ".").Replace(name)
}

// namespace is the kernel namespace a sysctl lives in: a pod sharing the
// node's may not set it.
type namespace string

const (
	ipcNamespace     namespace = "ipc"
	netNamespace     namespace = "net"
	unknownNamespace namespace = ""
)

// namespacedBy returns the namespace of a (normalized) sysctl, or
// unknownNamespace for one the kernel does not namespace.
func namespacedBy(name string) namespace {
	if name == "kernel.sem" {
		return ipcNamespace
	}
	for _, p := range []string{"kernel.shm", "kernel.msg", "fs.mqueue."} {
		if strings.HasPrefix(name, p) {
			return ipcNamespace
		}
	}
	if strings.HasPrefix(name, "net.") {
		return netNamespace
	}
	return unknownNamespace
}

// safe are the sysctls the kubelet allows without allowedUnsafeSysctls:
// namespaced, and unable to affect other pods or the node.
var safe = []string{
	"kernel.shm_rmid_forced",
	"net.ipv4.ip_local_port_range",
	"net.ipv4.tcp_syncookies",
	"net.ipv4.ping_group_range",
	"net.ipv4.ip_unprivileged_port_start",
	"net.ipv4.ip_local_reserved_ports",
	"net.ipv4.tcp_keepalive_time",
	"net.ipv4.tcp_fin_timeout",
	"net.ipv4.tcp_keepalive_intvl",
	"net.ipv4.tcp_keepalive_probes",
	"net.ipv4.tcp_rmem",
	"net.ipv4.tcp_wmem",
}

// patternRE is what an allowedUnsafeSysctls entry may look like: a sysctl
// name (dots or slashes), optionally ending in '*'.
var patternRE = regexp.MustCompile(`^([a-z0-9]([-_a-z0-9]*[a-z0-9])?[\./])*[a-z0-9]([-_a-z0-9]*[a-z0-9])?(\*)?$`)

// Allowlist is the set of sysctls pods may set: the safe ones and the
// node's allowedUnsafeSysctls. Its zero value is not usable; see
// NewAllowlist.
type Allowlist struct {
	names    map[string]namespace
	prefixes map[string]namespace
}

// NewAllowlist is the safe set plus unsafe, the kubelet's
// allowedUnsafeSysctls: names, or prefixes ending in '*'. Each must be a
// sysctl the kernel namespaces, as the kubelet requires.
func NewAllowlist(unsafe []string) (*Allowlist, error) {
	a := &Allowlist{names: map[string]namespace{}, prefixes: map[string]namespace{}}
	for _, s := range safe {
		a.names[s] = namespacedBy(s)
	}
	for _, s := range unsafe {
		if !patternRE.MatchString(s) {
			return nil, fmt.Errorf("allowedUnsafeSysctls: %q is not a sysctl name or a prefix ending in '*'", s)
		}
		s = NormalizeName(s)
		prefix, isPrefix := strings.CutSuffix(s, "*")
		ns := namespacedBy(prefix)
		if ns == unknownNamespace {
			return nil, fmt.Errorf("allowedUnsafeSysctls: %q is not known to be namespaced", s)
		}
		if isPrefix {
			a.prefixes[prefix] = ns
		} else {
			a.names[s] = ns
		}
	}
	return a, nil
}

// Admit checks a pod's sysctls as the kubelet's sysctl admission handler
// does; a refusal's message is that handler's ("forbidden sysctl: …"),
// naming the first sysctl refused.
func (a *Allowlist) Admit(pod *v1.Pod) (message string, ok bool) {
	psc := pod.Spec.SecurityContext
	if psc == nil {
		return "", true
	}
	for _, s := range psc.Sysctls {
		if err := a.check(NormalizeName(s.Name), pod.Spec.HostNetwork, pod.Spec.HostIPC); err != nil {
			return "forbidden sysctl: " + err.Error(), false
		}
	}
	return "", true
}

func (a *Allowlist) check(name string, hostNet, hostIPC bool) error {
	ns, found := a.names[name]
	for p, pns := range a.prefixes {
		if !found && strings.HasPrefix(name, p) {
			ns, found = pns, true
		}
	}
	switch {
	case !found:
		return fmt.Errorf("%q not allowlisted", name)
	case ns == ipcNamespace && hostIPC, ns == netNamespace && hostNet:
		return fmt.Errorf("%q not allowed with host %s enabled", name, ns)
	}
	return nil
}
