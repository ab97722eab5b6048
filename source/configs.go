package source

import (
	"encoding/hex"
	"encoding/json"
	"fmt"
	"hash/fnv"

	v1 "k8s.io/api/core/v1"
	apivalidation "k8s.io/apimachinery/pkg/api/validation"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/validation"
	"k8s.io/apimachinery/pkg/util/validation/field"
)

// ConfigMaps and Secrets in the manifests directory are the store the pods'
// references resolve against. Upstream static pods may not reference them
// (there is no API server behind a static pod); here the directory is the
// API's store, so they may.

// MaxConfigSize is the API server's limit on a ConfigMap's or Secret's
// data (core.MaxSecretSize).
const MaxConfigSize = 1 << 20

func isConfigMap(m objectMeta) bool { return m.Kind == "ConfigMap" && m.group() == "" }
func isSecret(m objectMeta) bool    { return m.Kind == "Secret" && m.group() == "" }

// SetSecretDefaults applies what the API server does to a v1 Secret on its
// way in: stringData merged over data (the conversion to the internal
// type), type Opaque when unset, and the namespace default. Safe to call
// twice.
func SetSecretDefaults(s *v1.Secret) {
	if s.Namespace == "" {
		s.Namespace = v1.NamespaceDefault
	}
	if s.Type == "" {
		s.Type = v1.SecretTypeOpaque
	}
	if len(s.StringData) > 0 && s.Data == nil {
		s.Data = map[string][]byte{}
	}
	for k, v := range s.StringData {
		s.Data[k] = []byte(v)
	}
	s.StringData = nil
}

// ValidateConfigMap checks what the API server's ValidateConfigMap checks:
// metadata, key names, no key in both data and binaryData, total size.
func ValidateConfigMap(cm *v1.ConfigMap) field.ErrorList {
	errs := apivalidation.ValidateObjectMeta(&cm.ObjectMeta, true, apivalidation.NameIsDNSSubdomain, field.NewPath("metadata"))
	size := 0
	for _, k := range sortedKeys(cm.Data) {
		p := field.NewPath("data").Key(k)
		for _, msg := range validation.IsConfigMapKey(k) {
			errs = append(errs, field.Invalid(p, k, msg))
		}
		if _, dup := cm.BinaryData[k]; dup {
			errs = append(errs, field.Invalid(p, k, "duplicate of key present in binaryData"))
		}
		size += len(cm.Data[k])
	}
	for _, k := range sortedKeys(cm.BinaryData) {
		for _, msg := range validation.IsConfigMapKey(k) {
			errs = append(errs, field.Invalid(field.NewPath("binaryData").Key(k), k, msg))
		}
		size += len(cm.BinaryData[k])
	}
	if size > MaxConfigSize {
		errs = append(errs, field.TooLong(field.NewPath(""), "", MaxConfigSize))
	}
	return errs
}

// ValidateSecret checks what the API server's ValidateSecret checks:
// metadata, key names, total size, and the keys each well-known type
// requires.
func ValidateSecret(s *v1.Secret) field.ErrorList {
	errs := apivalidation.ValidateObjectMeta(&s.ObjectMeta, true, apivalidation.NameIsDNSSubdomain, field.NewPath("metadata"))
	data := field.NewPath("data")
	size := 0
	for _, k := range sortedKeys(s.Data) {
		for _, msg := range validation.IsConfigMapKey(k) {
			errs = append(errs, field.Invalid(data.Key(k), k, msg))
		}
		size += len(s.Data[k])
	}
	if size > MaxConfigSize {
		errs = append(errs, field.TooLong(data, "", MaxConfigSize))
	}
	has := func(k string) bool { _, ok := s.Data[k]; return ok }
	wellFormedJSON := func(k string) {
		if !has(k) {
			errs = append(errs, field.Required(data.Key(k), ""))
		} else if err := json.Unmarshal(s.Data[k], &map[string]any{}); err != nil {
			errs = append(errs, field.Invalid(data.Key(k), "<secret contents redacted>", err.Error()))
		}
	}
	switch s.Type {
	case v1.SecretTypeServiceAccountToken:
		if s.Annotations[v1.ServiceAccountNameKey] == "" {
			errs = append(errs, field.Required(field.NewPath("metadata", "annotations").Key(v1.ServiceAccountNameKey), ""))
		}
	case v1.SecretTypeDockercfg:
		wellFormedJSON(v1.DockerConfigKey)
	case v1.SecretTypeDockerConfigJson:
		wellFormedJSON(v1.DockerConfigJsonKey)
	case v1.SecretTypeBasicAuth:
		if !has(v1.BasicAuthUsernameKey) && !has(v1.BasicAuthPasswordKey) {
			errs = append(errs, field.Required(data.Key(v1.BasicAuthUsernameKey), ""),
				field.Required(data.Key(v1.BasicAuthPasswordKey), ""))
		}
	case v1.SecretTypeSSHAuth:
		if len(s.Data[v1.SSHAuthPrivateKey]) == 0 {
			errs = append(errs, field.Required(data.Key(v1.SSHAuthPrivateKey), ""))
		}
	case v1.SecretTypeTLS:
		for _, k := range []string{v1.TLSCertKey, v1.TLSPrivateKeyKey} {
			if !has(k) {
				errs = append(errs, field.Required(data.Key(k), ""))
			}
		}
	}
	return errs
}

// immutableMsg is the API server's refusal to change an immutable object.
const immutableMsg = "field is immutable when `immutable` is set"

// ValidateConfigMapUpdate refuses what ValidateConfigMapUpdate refuses: an
// immutable ConfigMap keeps its data and stays immutable.
func ValidateConfigMapUpdate(cm, old *v1.ConfigMap) field.ErrorList {
	errs := ValidateConfigMap(cm)
	if old.Immutable == nil || !*old.Immutable {
		return errs
	}
	if cm.Immutable == nil || !*cm.Immutable {
		errs = append(errs, field.Forbidden(field.NewPath("immutable"), immutableMsg))
	}
	if !mapsEqual(cm.Data, old.Data, func(a, b string) bool { return a == b }) {
		errs = append(errs, field.Forbidden(field.NewPath("data"), immutableMsg))
	}
	if !mapsEqual(cm.BinaryData, old.BinaryData, bytesEqual) {
		errs = append(errs, field.Forbidden(field.NewPath("binaryData"), immutableMsg))
	}
	return errs
}

// ValidateSecretUpdate refuses what ValidateSecretUpdate refuses: a new
// type, and for an immutable Secret new data or immutability dropped.
func ValidateSecretUpdate(s, old *v1.Secret) field.ErrorList {
	errs := ValidateSecret(s)
	if s.Type != old.Type {
		errs = append(errs, field.Invalid(field.NewPath("type"), s.Type, "field is immutable"))
	}
	if old.Immutable == nil || !*old.Immutable {
		return errs
	}
	if s.Immutable == nil || !*s.Immutable {
		errs = append(errs, field.Forbidden(field.NewPath("immutable"), immutableMsg))
	}
	if !mapsEqual(s.Data, old.Data, bytesEqual) {
		errs = append(errs, field.Forbidden(field.NewPath("data"), immutableMsg))
	}
	return errs
}

func bytesEqual(a, b []byte) bool { return string(a) == string(b) }

func mapsEqual[V any](a, b map[string]V, eq func(V, V) bool) bool {
	if len(a) != len(b) {
		return false
	}
	for k, va := range a {
		vb, ok := b[k]
		if !ok || !eq(va, vb) {
			return false
		}
	}
	return true
}

// objectUID names an object of a kind on this node by namespace and name,
// so that an edit keeps it, as an update through the API server would (a
// Service keeps its ClusterIP, a Deployment's ReplicaSets their owner).
// The content's hash (objectHash) tells an edit apart.
func objectUID(kind, namespace, name, nodeName string) types.UID {
	h := fnv.New128a()
	fmt.Fprintf(h, "%s:%s/%s", kind, namespace, name)
	fmt.Fprintf(h, "host:%s", nodeName)
	return types.UID(hex.EncodeToString(h.Sum(nil)))
}

// objectHash identifies an object's full content, for change detection.
func objectHash(obj any) string {
	j, err := json.Marshal(obj)
	if err != nil {
		return ""
	}
	h := fnv.New128a()
	h.Write(j)
	return hex.EncodeToString(h.Sum(nil))
}

// loadConfigMap decodes, validates and identifies one ConfigMap.
func loadConfigMap(o object, path, nodeName string, multi bool) (*v1.ConfigMap, []FileError) {
	cm := &v1.ConfigMap{}
	if errs := decodeV1(o, path, multi, cm); errs != nil {
		return nil, errs
	}
	if cm.Namespace == "" {
		cm.Namespace = v1.NamespaceDefault
	}
	if errs := invalid(o, path, multi, "ConfigMap", cm.Name, ValidateConfigMap(cm)); errs != nil {
		return nil, errs
	}
	cm.UID = objectUID("configmap", cm.Namespace, cm.Name, nodeName)
	cm.TypeMeta.APIVersion, cm.TypeMeta.Kind = "v1", "ConfigMap"
	return cm, nil
}

// loadSecret decodes, defaults, validates and identifies one Secret.
func loadSecret(o object, path, nodeName string, multi bool) (*v1.Secret, []FileError) {
	s := &v1.Secret{}
	if errs := decodeV1(o, path, multi, s); errs != nil {
		return nil, errs
	}
	SetSecretDefaults(s)
	if errs := invalid(o, path, multi, "Secret", s.Name, ValidateSecret(s)); errs != nil {
		return nil, errs
	}
	s.UID = objectUID("secret", s.Namespace, s.Name, nodeName)
	s.TypeMeta.APIVersion, s.TypeMeta.Kind = "v1", "Secret"
	return s, nil
}

// decodeV1 decodes a core v1 object strictly.
func decodeV1(o object, path string, multi bool, into any) []FileError {
	if o.meta.APIVersion != "v1" {
		return []FileError{{File: path,
			Err: fmt.Errorf("%sno matches for kind %q in version %q", o.where(multi), o.meta.Kind, o.meta.APIVersion)}}
	}
	if err := decodeStrict(o.json, into); err != nil {
		return []FileError{{File: path, Err: fmt.Errorf("%s%w", o.where(multi), err)}}
	}
	return nil
}

// invalid turns validation errors into file errors naming the object, as
// the API server's "ConfigMap "x" is invalid: data[a b]: …".
func invalid(o object, path string, multi bool, kind, name string, errs field.ErrorList) []FileError {
	if len(errs) == 0 {
		return nil
	}
	out := make([]FileError, 0, len(errs))
	for _, e := range errs {
		out = append(out, FileError{File: path, Err: fmt.Errorf("%s%s %q is invalid: %w", o.where(multi), kind, name, e)})
	}
	return out
}

func objectKey(o interface {
	GetNamespace() string
	GetName() string
}) string {
	return o.GetNamespace() + "/" + o.GetName()
}
