package source

import (
	v1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/util/validation/field"

	"github.com/minikubelet/minikubelet/internal/sysctl"
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

// validateSysctls refuses what the API server refuses: a name given twice.
// Whether the node allows a sysctl is the kubelet's admission's to say
// (pod worker, reason SysctlForbidden), not the manifest's.
func validateSysctls(spec *v1.PodSpec, fld *field.Path) field.ErrorList {
	if spec.SecurityContext == nil {
		return nil
	}
	var errs field.ErrorList
	seen := map[string]bool{}
	for i, s := range spec.SecurityContext.Sysctls {
		name := sysctl.NormalizeName(s.Name)
		if seen[name] {
			errs = append(errs, field.Duplicate(fld.Index(i).Child("name"), s.Name))
		}
		seen[name] = true
	}
	return errs
}
