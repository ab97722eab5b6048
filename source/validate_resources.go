package source

import (
	"fmt"
	"strings"

	v1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	apivalidation "k8s.io/apimachinery/pkg/api/validation"
	"k8s.io/apimachinery/pkg/util/validation"
	"k8s.io/apimachinery/pkg/util/validation/field"

	"github.com/minikubelet/minikubelet/internal/qos"
)

// Resource requirements, checked as the API server's ValidateResourceRequirements
// (pkg/apis/core/validation) checks them, for containers and, with
// PodLevelResources (beta and on by default in 1.34), for spec.resources.

// standardResources are the resource names without a domain the API knows
// (helper.IsStandardResourceName): compute resources and quota names.
var standardResources = map[v1.ResourceName]bool{
	"cpu": true, "memory": true, "ephemeral-storage": true, "storage": true,
	"requests.cpu": true, "requests.memory": true, "requests.ephemeral-storage": true, "requests.storage": true,
	"limits.cpu": true, "limits.memory": true, "limits.ephemeral-storage": true,
	"pods": true, "services": true, "replicationcontrollers": true, "resourcequotas": true,
	"secrets": true, "configmaps": true, "persistentvolumeclaims": true,
	"services.nodeports": true, "services.loadbalancers": true,
}

// Upstream's resource name classes (pkg/apis/core/helper).
func isHugePages(name v1.ResourceName) bool {
	return strings.HasPrefix(string(name), v1.ResourceHugePagesPrefix)
}

func isNativeResource(name v1.ResourceName) bool {
	return !strings.Contains(string(name), "/") || strings.Contains(string(name), "kubernetes.io/")
}

func isExtendedResource(name v1.ResourceName) bool {
	if isNativeResource(name) || strings.HasPrefix(string(name), v1.DefaultResourceRequestsPrefix) {
		return false
	}
	return len(validation.IsQualifiedName(v1.DefaultResourceRequestsPrefix+string(name))) == 0
}

// isOvercommitAllowed: requests may be below limits only for native
// resources other than hugepages; extended resources and hugepages need
// requests equal to limits.
func isOvercommitAllowed(name v1.ResourceName) bool {
	return isNativeResource(name) && !isHugePages(name)
}

// validateResourceName is upstream's validateResourceName: a qualified
// name, and a standard one when it has no domain.
func validateResourceName(name v1.ResourceName, fld *field.Path) field.ErrorList {
	var errs field.ErrorList
	for _, msg := range validation.IsQualifiedName(string(name)) {
		errs = append(errs, field.Invalid(fld, name, msg))
	}
	if len(errs) == 0 && !strings.Contains(string(name), "/") &&
		!standardResources[name] && !isHugePages(name) && !strings.HasPrefix(string(name), "requests."+v1.ResourceHugePagesPrefix) {
		errs = append(errs, field.Invalid(fld, name, "must be a standard resource type or fully qualified"))
	}
	return errs
}

// validateContainerResourceName: cpu, memory, ephemeral-storage, hugepages-*
// or an extended resource (example.com/foo).
func validateContainerResourceName(name v1.ResourceName, fld *field.Path) field.ErrorList {
	errs := validateResourceName(name, fld)
	switch {
	case !strings.Contains(string(name), "/"):
		if name != v1.ResourceCPU && name != v1.ResourceMemory && name != v1.ResourceEphemeralStorage && !isHugePages(name) {
			errs = append(errs, field.Invalid(fld, name, "must be a standard resource for containers"))
		}
	case !isNativeResource(name) && !isExtendedResource(name):
		errs = append(errs, field.Invalid(fld, name, "doesn't follow extended resource name standard"))
	}
	return errs
}

// validatePodResourceName: spec.resources takes only cpu, memory and
// hugepages-*.
func validatePodResourceName(name v1.ResourceName, fld *field.Path) field.ErrorList {
	if errs := validateResourceName(name, fld); len(errs) > 0 {
		return errs
	}
	if name == v1.ResourceCPU || name == v1.ResourceMemory || isHugePages(name) {
		return nil
	}
	return field.ErrorList{field.NotSupported(fld, name, []string{"cpu", "hugepages-", "memory"})}
}

// validateResourceQuantity: not negative, whole for extended resources,
// a multiple of the page size for hugepages, and within what the runtime
// can turn into a number.
func validateResourceQuantity(name v1.ResourceName, q resource.Quantity, fld *field.Path) field.ErrorList {
	var errs field.ErrorList
	if q.Sign() < 0 {
		errs = append(errs, field.Invalid(fld, q.String(), apivalidation.IsNegativeErrorMsg))
	}
	if isExtendedResource(name) && q.MilliValue()%1000 != 0 {
		errs = append(errs, field.Invalid(fld, q.String(), "must be an integer"))
	}
	if isHugePages(name) && !hugePagesDivisible(name, q) {
		errs = append(errs, field.Invalid(fld, q.String(), fmt.Sprintf("%s is not positive integer multiple of %s", q.String(), name)))
	}
	return append(errs, validateQuantityBound(name, q, fld)...)
}

// hugePagesDivisible: the quantity is whole pages of the size in the name.
func hugePagesDivisible(name v1.ResourceName, q resource.Quantity) bool {
	size, err := resource.ParseQuantity(strings.TrimPrefix(string(name), v1.ResourceHugePagesPrefix))
	if err != nil || size.Sign() <= 0 || size.MilliValue()%1000 != 0 {
		return false
	}
	return q.Value()%size.Value() == 0
}

// validateResources checks one container's resources.
func validateResources(r *v1.ResourceRequirements, fld *field.Path) field.ErrorList {
	return validateRequirements(r, validateContainerResourceName, fld)
}

// validateRequirements is upstream's validateResourceRequirements. A request
// above its limit is reported on the requests field itself, as upstream
// does.
func validateRequirements(r *v1.ResourceRequirements, nameFn func(v1.ResourceName, *field.Path) field.ErrorList, fld *field.Path) field.ErrorList {
	var errs field.ErrorList
	limPath, reqPath := fld.Child("limits"), fld.Child("requests")
	cpuOrMemory, hugePages := false, false
	for _, name := range sortedKeys(r.Limits) {
		p := limPath.Key(string(name))
		errs = append(errs, nameFn(name, p)...)
		errs = append(errs, validateResourceQuantity(name, r.Limits[name], p)...)
		cpuOrMemory = cpuOrMemory || name == v1.ResourceCPU || name == v1.ResourceMemory
		hugePages = hugePages || isHugePages(name)
	}
	for _, name := range sortedKeys(r.Requests) {
		q := r.Requests[name]
		p := reqPath.Key(string(name))
		errs = append(errs, nameFn(name, p)...)
		errs = append(errs, validateResourceQuantity(name, q, p)...)
		lim, ok := r.Limits[name]
		switch {
		case ok && q.Cmp(lim) != 0 && !isOvercommitAllowed(name):
			errs = append(errs, field.Invalid(reqPath, q.String(), fmt.Sprintf("must be equal to %s limit of %s", name, lim.String())))
		case ok && q.Cmp(lim) > 0:
			errs = append(errs, field.Invalid(reqPath, q.String(), fmt.Sprintf("must be less than or equal to %s limit of %s", name, lim.String())))
		case !ok && !isOvercommitAllowed(name):
			errs = append(errs, field.Required(limPath, "Limit must be set for non overcommitable resources"))
		}
		cpuOrMemory = cpuOrMemory || name == v1.ResourceCPU || name == v1.ResourceMemory
		hugePages = hugePages || isHugePages(name)
	}
	if hugePages && !cpuOrMemory {
		errs = append(errs, field.Forbidden(fld, "HugePages require cpu or memory"))
	}
	return errs
}

// validatePodResources checks spec.resources as upstream's
// validatePodResources: the requirements themselves, then that the pod's
// requests cover its containers' aggregate requests and that no container
// limit exceeds the pod's.
func validatePodResources(spec *v1.PodSpec, fld *field.Path) field.ErrorList {
	r := spec.Resources
	errs := validateRequirements(r, validatePodResourceName, fld)
	agg := qos.AggregateRequests(spec)
	for _, name := range sortedKeys(r.Requests) {
		req := r.Requests[name]
		if sum, ok := agg[name]; ok && sum.Cmp(req) > 0 {
			errs = append(errs, field.Invalid(fld.Child("requests").Key(string(name)), req.String(),
				fmt.Sprintf("must be greater than or equal to aggregate container requests of %s", sum.String())))
		}
	}
	for i, c := range spec.Containers {
		for _, name := range sortedKeys(c.Resources.Limits) {
			lim := c.Resources.Limits[name]
			if podLim, ok := r.Limits[name]; ok && lim.Cmp(podLim) > 0 {
				// Upstream's path, odd as it is: under spec.resources.
				errs = append(errs, field.Invalid(fld.Child("containers").Index(i).Key(string(name)).Child("limits"), lim.String(),
					fmt.Sprintf("must be less than or equal to pod limits of %s", podLim.String())))
			}
		}
	}
	return errs
}
