package source

import (
	"fmt"
	"strings"

	v1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/util/validation/field"
)

// validateContainerSecurity applies the API server's checks on a
// container's securityContext that combine fields (ValidateSecurityContext):
// no_new_privs cannot hold for a privileged container, nor for one that
// adds CAP_SYS_ADMIN.
func validateContainerSecurity(sc *v1.SecurityContext, fld *field.Path) field.ErrorList {
	if sc == nil || sc.AllowPrivilegeEscalation == nil || *sc.AllowPrivilegeEscalation {
		return nil
	}
	var errs field.ErrorList
	p := fld.Child("allowPrivilegeEscalation")
	if sc.Privileged != nil && *sc.Privileged {
		errs = append(errs, field.Invalid(p, false, "cannot set `allowPrivilegeEscalation` to false and `privileged` to true"))
	}
	if sc.Capabilities != nil {
		for _, c := range sc.Capabilities.Add {
			if c == "CAP_SYS_ADMIN" {
				errs = append(errs, field.Invalid(p, false, "cannot set `allowPrivilegeEscalation` to false and `capabilities.Add` CAP_SYS_ADMIN"))
			}
		}
	}
	return errs
}

// safeSysctls are the sysctls the kubelet allows without
// --allowed-unsafe-sysctls (pkg/kubelet/sysctl safe_sysctls.go), with the
// namespace each lives in: a pod sharing the node's network or IPC
// namespace may not set that namespace's sysctls.
var safeSysctls = map[string]string{
	"kernel.shm_rmid_forced":              "ipc",
	"net.ipv4.ip_local_port_range":        "net",
	"net.ipv4.tcp_syncookies":             "net",
	"net.ipv4.ping_group_range":           "net",
	"net.ipv4.ip_unprivileged_port_start": "net",
	"net.ipv4.ip_local_reserved_ports":    "net",
	"net.ipv4.tcp_keepalive_time":         "net",
	"net.ipv4.tcp_fin_timeout":            "net",
	"net.ipv4.tcp_keepalive_intvl":        "net",
	"net.ipv4.tcp_keepalive_probes":       "net",
	"net.ipv4.tcp_rmem":                   "net",
	"net.ipv4.tcp_wmem":                   "net",
}

// validateSysctls refuses what the kubelet's sysctl admission refuses, with
// its message: a sysctl off the safe list (the agent has no
// --allowed-unsafe-sysctls), or one of a namespace the pod shares with the
// node; and, as the API server does, a name given twice. The kubelet would
// fail such a pod (reason SysctlForbidden); the agent does not run it.
func validateSysctls(spec *v1.PodSpec, fld *field.Path) field.ErrorList {
	if spec.SecurityContext == nil {
		return nil
	}
	var errs field.ErrorList
	seen := map[string]bool{}
	for i, s := range spec.SecurityContext.Sysctls {
		p := fld.Index(i).Child("name")
		name := normalizeSysctlName(s.Name)
		if seen[name] {
			errs = append(errs, field.Duplicate(p, s.Name))
			continue
		}
		seen[name] = true
		ns, safe := safeSysctls[name]
		switch {
		case !safe:
			errs = append(errs, field.Forbidden(p, fmt.Sprintf("forbidden sysctl: %q not allowlisted", s.Name)))
		case ns == "net" && spec.HostNetwork, ns == "ipc" && spec.HostIPC:
			errs = append(errs, field.Forbidden(p, fmt.Sprintf("forbidden sysctl: %q not allowed with host %s enabled", s.Name, ns)))
		}
	}
	return errs
}

// normalizeSysctlName turns a name written with '/' separators into the
// dotted form (kubelet's utilsysctl.NormalizeName).
func normalizeSysctlName(name string) string {
	i := strings.IndexAny(name, "./")
	if i < 0 || name[i] == '.' {
		return name
	}
	return strings.Map(func(r rune) rune {
		switch r {
		case '.':
			return '/'
		case '/':
			return '.'
		}
		return r
	}, name)
}
