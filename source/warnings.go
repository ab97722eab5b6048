package source

import (
	"fmt"

	v1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/util/validation/field"
)

// PodSpecWarnings is what the API server warns of, without refusing it, in
// the pod spec at fld (pkg/api/pod/warnings.go): a negative
// terminationGracePeriodSeconds, which a Pod reads as 1 (SetPodDefaults).
// It is given the spec as written, before the defaults.
func PodSpecWarnings(spec *v1.PodSpec, fld *field.Path) []string {
	if g := spec.TerminationGracePeriodSeconds; g != nil && *g < 0 {
		return []string{fmt.Sprintf("%s: must be >= 0; negative values are invalid and will be treated as 1",
			fld.Child("terminationGracePeriodSeconds"))}
	}
	return nil
}
