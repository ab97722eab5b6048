package source

import (
	"fmt"
	"regexp"
	"strings"

	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/util/validation"
	"k8s.io/apimachinery/pkg/util/validation/field"
)

// checkStorable is what Apply asks of an object of a kind the agent does not
// run, beyond checkOther: the kind is one we know, the name is a DNS-1123
// subdomain and the namespace a DNS-1123 label, as the API server requires of
// those kinds. Kind, namespace and name become the new file's name: nothing
// but plain names may reach it. Objects already in the directory are read
// more leniently (they are only skipped), since they name no file.
func checkStorable(o object) []error {
	if _, ok := knownKinds[schema.GroupKind{Group: o.meta.group(), Kind: o.meta.Kind}]; !ok {
		return []error{fmt.Errorf("no matches for kind %q in version %q", o.meta.Kind, o.meta.APIVersion)}
	}
	var errs []error
	name := o.meta.Metadata.Name
	for _, msg := range validation.IsDNS1123Subdomain(name) {
		errs = append(errs, field.Invalid(field.NewPath("metadata", "name"), name, msg))
	}
	if ns := o.meta.Metadata.Namespace; ns != "" {
		for _, msg := range validation.IsDNS1123Label(ns) {
			errs = append(errs, field.Invalid(field.NewPath("metadata", "namespace"), ns, msg))
		}
	}
	return errs
}

// safeBase is what a file name made by the store may look like: lowercase
// DNS characters and "_" between parts, never a separator, "." or "..".
var safeBase = regexp.MustCompile(`^[a-z0-9]([a-z0-9._-]*[a-z0-9])?$`)

// fileBase is the base name (without extension) of a new object's file:
// <namespace>_<name> for a Pod, <kind>_<namespace>_<name> (lowercase)
// otherwise. It refuses anything that could name a path outside the
// directory, whatever validation let through before.
func fileBase(r ObjectRef) (string, error) {
	parts := []string{}
	if !strings.EqualFold(r.Kind, "Pod") {
		parts = append(parts, r.Kind)
	}
	if r.Namespace != "" {
		parts = append(parts, r.Namespace)
	}
	parts = append(parts, r.Name)
	base := strings.ToLower(strings.Join(parts, "_"))
	if !safeBase.MatchString(base) || strings.Contains(base, "..") {
		return "", fmt.Errorf("kind, namespace or name not usable in a file name: %q", base)
	}
	return base, nil
}
