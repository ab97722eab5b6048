package source

import (
	"fmt"
	"math"
	"time"

	v1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	"k8s.io/apimachinery/pkg/util/validation"
	"k8s.io/apimachinery/pkg/util/validation/field"
)

// Upper bounds of our own where the API server has none: the agent turns
// these numbers into durations and cgroup values, and a number that does not
// fit must be refused here rather than overflow there (a grace period of
// 9223372036854775807 seconds used to wrap to a negative duration and a
// two-second kill).
const (
	// maxSeconds is the largest count of seconds a time.Duration holds
	// (about 292 years).
	maxSeconds = int64(math.MaxInt64 / int64(time.Second))
)

var (
	// maxCPU is far beyond any node, and small enough that the CPU shares
	// and the CFS quota computed from it stay within the kernel's ranges.
	maxCPU = resource.MustParse("1M")
	// maxQuantity is the largest quantity whose value is exact: a larger
	// one reads back as 0 or wraps.
	maxQuantity = *resource.NewQuantity(math.MaxInt64, resource.BinarySI)
)

// validateSeconds refuses a count of seconds that no duration can hold.
func validateSeconds(v int64, fld *field.Path) field.ErrorList {
	if v > maxSeconds {
		return field.ErrorList{field.Invalid(fld, v, fmt.Sprintf("must be less than or equal to %d", maxSeconds))}
	}
	return nil
}

// validateQuantityBound refuses a resource quantity the runtime cannot turn
// into an exact number.
func validateQuantityBound(name v1.ResourceName, q resource.Quantity, fld *field.Path) field.ErrorList {
	bound := maxQuantity
	if name == v1.ResourceCPU {
		bound = maxCPU
	}
	if q.Cmp(bound) > 0 {
		return field.ErrorList{field.Invalid(fld, q.String(), "must be less than or equal to "+bound.String())}
	}
	return nil
}

// validatePodIDs checks the user and group IDs of the pod's security context
// like upstream (validation.IsValidUserID and IsValidGroupID): the runtime
// hands them to the kernel as 32-bit IDs, where 4294967296 would wrap to
// root.
func validatePodIDs(psc *v1.PodSecurityContext, fld *field.Path) field.ErrorList {
	if psc == nil {
		return nil
	}
	errs := validateUserID(psc.RunAsUser, fld.Child("runAsUser"))
	errs = append(errs, validateGroupID(psc.RunAsGroup, fld.Child("runAsGroup"))...)
	errs = append(errs, validateGroupID(psc.FSGroup, fld.Child("fsGroup"))...)
	for i := range psc.SupplementalGroups {
		errs = append(errs, validateGroupID(&psc.SupplementalGroups[i], fld.Child("supplementalGroups").Index(i))...)
	}
	return errs
}

// validateContainerIDs is validatePodIDs for a container's security context.
func validateContainerIDs(sc *v1.SecurityContext, fld *field.Path) field.ErrorList {
	if sc == nil {
		return nil
	}
	errs := validateUserID(sc.RunAsUser, fld.Child("runAsUser"))
	return append(errs, validateGroupID(sc.RunAsGroup, fld.Child("runAsGroup"))...)
}

func validateUserID(id *int64, fld *field.Path) field.ErrorList {
	if id == nil {
		return nil
	}
	var errs field.ErrorList
	for _, msg := range validation.IsValidUserID(*id) {
		errs = append(errs, field.Invalid(fld, *id, msg))
	}
	return errs
}

func validateGroupID(id *int64, fld *field.Path) field.ErrorList {
	if id == nil {
		return nil
	}
	var errs field.ErrorList
	for _, msg := range validation.IsValidGroupID(*id) {
		errs = append(errs, field.Invalid(fld, *id, msg))
	}
	return errs
}
