package source

import (
	v1 "k8s.io/api/core/v1"
	apivalidation "k8s.io/apimachinery/pkg/api/validation"
	"k8s.io/apimachinery/pkg/util/validation"
	"k8s.io/apimachinery/pkg/util/validation/field"
)

// References to ConfigMaps and Secrets, validated as the API server does
// (pkg/apis/core/validation): they resolve against the manifests
// directory's objects when the container starts.

// validateKeySelector checks a configMapKeyRef or secretKeyRef.
func validateKeySelector(name, key string, fld *field.Path) field.ErrorList {
	var errs field.ErrorList
	for _, msg := range apivalidation.NameIsDNSSubdomain(name, false) {
		errs = append(errs, field.Invalid(fld.Child("name"), name, msg))
	}
	if key == "" {
		return append(errs, field.Required(fld.Child("key"), ""))
	}
	for _, msg := range validation.IsConfigMapKey(key) {
		errs = append(errs, field.Invalid(fld.Child("key"), key, msg))
	}
	return errs
}

// validateEnvFrom checks a container's envFrom (validateEnvFrom), with the
// relaxed name rule for prefixes, as for env names.
func validateEnvFrom(vars []v1.EnvFromSource, fld *field.Path) field.ErrorList {
	var errs field.ErrorList
	refName := func(name string, p *field.Path) {
		if name == "" {
			errs = append(errs, field.Required(p.Child("name"), ""))
			return
		}
		for _, msg := range apivalidation.NameIsDNSSubdomain(name, false) {
			errs = append(errs, field.Invalid(p.Child("name"), name, msg))
		}
	}
	for i, ev := range vars {
		idx := fld.Index(i)
		if ev.Prefix != "" {
			for _, msg := range validation.IsRelaxedEnvVarName(ev.Prefix) {
				errs = append(errs, field.Invalid(idx.Child("prefix"), ev.Prefix, msg))
			}
		}
		n := 0
		if ev.ConfigMapRef != nil {
			n++
			refName(ev.ConfigMapRef.Name, idx.Child("configMapRef"))
		}
		if ev.SecretRef != nil {
			n++
			refName(ev.SecretRef.Name, idx.Child("secretRef"))
		}
		switch {
		case n == 0:
			errs = append(errs, field.Invalid(fld, "", "must specify one of: `configMapRef` or `secretRef`"))
		case n > 1:
			errs = append(errs, field.Invalid(fld, "", "may not have more than one field specified at a time"))
		}
	}
	return errs
}

const fileModeMsg = "must be a number between 0 and 0777 (octal), both inclusive"

func validateMode(mode *int32, fld *field.Path) field.ErrorList {
	if mode != nil && (*mode > 0o777 || *mode < 0) {
		return field.ErrorList{field.Invalid(fld, *mode, fileModeMsg)}
	}
	return nil
}

// validateLocalNonReservedPath is a relative path inside the volume that
// does not start with "..", which the atomic writer keeps for itself.
func validateLocalNonReservedPath(p string, fld *field.Path) field.ErrorList {
	errs := validateLocalDescendingPath(p, fld)
	if len(p) >= 2 && p[:2] == ".." {
		errs = append(errs, field.Invalid(fld, p, "must not start with '..'"))
	}
	return errs
}

func validateKeyToPath(kp *v1.KeyToPath, fld *field.Path) field.ErrorList {
	var errs field.ErrorList
	if kp.Key == "" {
		errs = append(errs, field.Required(fld.Child("key"), ""))
	}
	if kp.Path == "" {
		errs = append(errs, field.Required(fld.Child("path"), ""))
	}
	errs = append(errs, validateLocalNonReservedPath(kp.Path, fld.Child("path"))...)
	return append(errs, validateMode(kp.Mode, fld.Child("mode"))...)
}

// validateKeyItems checks a configMap's or secret's items; paths records
// the paths used, for the duplicates of a projected volume.
func validateKeyItems(items []v1.KeyToPath, fld *field.Path, paths map[string]bool, projected *field.Path, name string) field.ErrorList {
	var errs field.ErrorList
	for i := range items {
		errs = append(errs, validateKeyToPath(&items[i], fld.Index(i))...)
		if p := items[i].Path; paths != nil && p != "" {
			if paths[p] {
				errs = append(errs, field.Invalid(projected, name, "conflicting duplicate paths"))
			}
			paths[p] = true
		}
	}
	return errs
}

var validVolumeFieldPaths = map[string]bool{
	"metadata.annotations": true, "metadata.labels": true, "metadata.name": true, "metadata.namespace": true, "metadata.uid": true,
}

// validateDownwardAPIFile is upstream's validateDownwardAPIVolumeFile,
// whose errors name the volume's path rather than the item's.
func validateDownwardAPIFile(f *v1.DownwardAPIVolumeFile, fld *field.Path) field.ErrorList {
	var errs field.ErrorList
	if f.Path == "" {
		errs = append(errs, field.Required(fld.Child("path"), ""))
	}
	errs = append(errs, validateLocalNonReservedPath(f.Path, fld.Child("path"))...)
	switch {
	case f.FieldRef != nil:
		errs = append(errs, validateFieldRef(f.FieldRef, validVolumeFieldPaths, fld.Child("fieldRef"))...)
		if f.ResourceFieldRef != nil {
			errs = append(errs, field.Invalid(fld, "resource", "fieldRef and resourceFieldRef can not be specified simultaneously"))
		}
	case f.ResourceFieldRef != nil:
		r, p := f.ResourceFieldRef, fld.Child("resourceFieldRef")
		if r.ContainerName == "" {
			errs = append(errs, field.Required(p.Child("containerName"), ""))
		}
		errs = append(errs, validateResourceFieldPath(r.Resource, p)...)
	default:
		errs = append(errs, field.Required(fld, "one of fieldRef and resourceFieldRef is required"))
	}
	return append(errs, validateMode(f.Mode, fld.Child("mode"))...)
}

// validateProjectedSources checks the configMap, secret, downwardAPI and
// projected volume sources (upstream validate*VolumeSource).
func validateProjectedSources(src *v1.VolumeSource, fld *field.Path) field.ErrorList {
	var errs field.ErrorList
	switch {
	case src.ConfigMap != nil:
		p := fld.Child("configMap")
		if src.ConfigMap.Name == "" {
			errs = append(errs, field.Required(p.Child("name"), ""))
		}
		errs = append(errs, validateMode(src.ConfigMap.DefaultMode, p.Child("defaultMode"))...)
		errs = append(errs, validateKeyItems(src.ConfigMap.Items, p.Child("items"), nil, nil, "")...)
	case src.Secret != nil:
		p := fld.Child("secret")
		if src.Secret.SecretName == "" {
			errs = append(errs, field.Required(p.Child("secretName"), ""))
		}
		errs = append(errs, validateMode(src.Secret.DefaultMode, p.Child("defaultMode"))...)
		errs = append(errs, validateKeyItems(src.Secret.Items, p.Child("items"), nil, nil, "")...)
	case src.DownwardAPI != nil:
		p := fld.Child("downwardAPI")
		errs = append(errs, validateMode(src.DownwardAPI.DefaultMode, p.Child("defaultMode"))...)
		for i := range src.DownwardAPI.Items {
			errs = append(errs, validateDownwardAPIFile(&src.DownwardAPI.Items[i], p)...)
		}
	case src.Projected != nil:
		p := fld.Child("projected")
		errs = append(errs, validateMode(src.Projected.DefaultMode, p.Child("defaultMode"))...)
		paths := map[string]bool{}
		for i, s := range src.Projected.Sources {
			sp := p.Child("sources").Index(i)
			n := 0
			if s.ConfigMap != nil {
				n++
				if s.ConfigMap.Name == "" {
					errs = append(errs, field.Required(sp.Child("configMap", "name"), ""))
				}
				errs = append(errs, validateKeyItems(s.ConfigMap.Items, sp.Child("configMap", "items"), paths, p, s.ConfigMap.Name)...)
			}
			if s.Secret != nil {
				n++
				if s.Secret.Name == "" {
					errs = append(errs, field.Required(sp.Child("secret", "name"), ""))
				}
				errs = append(errs, validateKeyItems(s.Secret.Items, sp.Child("secret", "items"), paths, p, s.Secret.Name)...)
			}
			if s.DownwardAPI != nil {
				n++
				for j := range s.DownwardAPI.Items {
					f := &s.DownwardAPI.Items[j]
					errs = append(errs, validateDownwardAPIFile(f, sp.Child("downwardAPI"))...)
					if f.Path != "" {
						if paths[f.Path] {
							errs = append(errs, field.Invalid(p, f.Path, "conflicting duplicate paths"))
						}
						paths[f.Path] = true
					}
				}
			}
			// Tokens and certificates come from the API server's
			// issuers, which a node alone does not have.
			for _, o := range []struct {
				name string
				set  bool
			}{{"serviceAccountToken", s.ServiceAccountToken != nil}, {"clusterTrustBundle", s.ClusterTrustBundle != nil},
				{"podCertificate", s.PodCertificate != nil}} {
				if o.set {
					n++
					errs = append(errs, field.Forbidden(sp.Child(o.name), msgNotSupported))
				}
			}
			if n > 1 {
				errs = append(errs, field.Forbidden(sp, "may not specify more than 1 volume type per source"))
			}
		}
	}
	return errs
}
