package source

import (
	"path"
	"slices"
	"strings"

	v1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/util/validation/field"
)

// msgNotSupported marks what the API server accepts but minikubelet does not
// run (yet).
const msgNotSupported = "not supported by minikubelet"

// validateSupported refuses, in one place, the pod fields the agent does not
// implement: a pod asking for them would otherwise be retried forever (user
// namespaces), or would run without what it asked for (an AppArmor or
// SELinux profile). Supporting one of them later means deleting
// its check here.
func validateSupported(pod *v1.Pod) field.ErrorList {
	spec := &pod.Spec
	fld := field.NewPath("spec")
	var errs field.ErrorList
	forbid := func(set bool, p *field.Path) {
		if set {
			errs = append(errs, field.Forbidden(p, msgNotSupported))
		}
	}
	forbid(spec.HostUsers != nil && !*spec.HostUsers, fld.Child("hostUsers"))
	forbid(spec.RuntimeClassName != nil && *spec.RuntimeClassName != "", fld.Child("runtimeClassName"))
	forbid(len(spec.ReadinessGates) > 0, fld.Child("readinessGates"))
	forbid(len(spec.ResourceClaims) > 0, fld.Child("resourceClaims"))
	if spec.OS != nil && spec.OS.Name != v1.Linux {
		errs = append(errs, field.NotSupported(fld.Child("os", "name"), spec.OS.Name, []v1.OSName{v1.Linux}))
	}

	if psc := spec.SecurityContext; psc != nil {
		p := fld.Child("securityContext")
		errs = append(errs, validateSupportedProfiles(psc.SeccompProfile, psc.AppArmorProfile, psc.SELinuxOptions, p)...)
		errs = append(errs, validateSysctls(spec, p.Child("sysctls"))...)
	}
	for _, list := range []struct {
		cs []v1.Container
		p  *field.Path
	}{{spec.InitContainers, fld.Child("initContainers")}, {spec.Containers, fld.Child("containers")}} {
		for i := range list.cs {
			c := &list.cs[i]
			p := list.p.Index(i)
			forbid(len(c.Resources.Claims) > 0, p.Child("resources", "claims"))
			forbid(c.Lifecycle != nil && c.Lifecycle.StopSignal != nil, p.Child("lifecycle", "stopSignal"))
			if sc := c.SecurityContext; sc != nil {
				sp := p.Child("securityContext")
				errs = append(errs, validateSupportedProfiles(sc.SeccompProfile, sc.AppArmorProfile, sc.SELinuxOptions, sp)...)
				if sc.ProcMount != nil && *sc.ProcMount != v1.DefaultProcMount {
					errs = append(errs, field.NotSupported(sp.Child("procMount"), *sc.ProcMount, []v1.ProcMountType{v1.DefaultProcMount}))
				}
			}
		}
	}
	return errs
}

// validateSupportedProfiles allows only the profiles the agent applies:
// any seccomp profile (checked as the API server does), no AppArmor or
// SELinux.
func validateSupportedProfiles(seccomp *v1.SeccompProfile, apparmor *v1.AppArmorProfile, selinux *v1.SELinuxOptions, fld *field.Path) field.ErrorList {
	errs := validateSeccompProfile(seccomp, fld.Child("seccompProfile"))
	if apparmor != nil && apparmor.Type != v1.AppArmorProfileTypeUnconfined {
		errs = append(errs, field.NotSupported(fld.Child("appArmorProfile", "type"), apparmor.Type,
			[]v1.AppArmorProfileType{v1.AppArmorProfileTypeUnconfined}))
	}
	if selinux != nil {
		errs = append(errs, field.Forbidden(fld.Child("seLinuxOptions"), msgNotSupported))
	}
	return errs
}

// validateSeccompProfile is the API server's check: a known type, and a
// localhostProfile exactly for Localhost, a path below the kubelet's
// seccomp directory.
func validateSeccompProfile(sp *v1.SeccompProfile, fld *field.Path) field.ErrorList {
	if sp == nil {
		return nil
	}
	var errs field.ErrorList
	lp := fld.Child("localhostProfile")
	switch sp.Type {
	case v1.SeccompProfileTypeLocalhost:
		switch {
		case sp.LocalhostProfile == nil || *sp.LocalhostProfile == "":
			errs = append(errs, field.Required(lp, "must be set when seccomp type is Localhost"))
		case path.IsAbs(*sp.LocalhostProfile):
			errs = append(errs, field.Invalid(lp, *sp.LocalhostProfile, "must be a relative path"))
		case slices.Contains(strings.Split(*sp.LocalhostProfile, "/"), ".."):
			errs = append(errs, field.Invalid(lp, *sp.LocalhostProfile, "must not contain '..'"))
		}
	case v1.SeccompProfileTypeRuntimeDefault, v1.SeccompProfileTypeUnconfined:
		if sp.LocalhostProfile != nil {
			errs = append(errs, field.Invalid(lp, *sp.LocalhostProfile, "can only be set when seccomp type is Localhost"))
		}
	default:
		errs = append(errs, field.NotSupported(fld.Child("type"), sp.Type,
			[]v1.SeccompProfileType{v1.SeccompProfileTypeLocalhost, v1.SeccompProfileTypeRuntimeDefault, v1.SeccompProfileTypeUnconfined}))
	}
	return errs
}
