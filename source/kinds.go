package source

import (
	"slices"
	"strings"

	appsv1 "k8s.io/api/apps/v1"
	batchv1 "k8s.io/api/batch/v1"
	v1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/validation/path"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/util/validation/field"
)

// knownKinds are the non-Pod kinds decoded strictly (into their Go types)
// when found, although the agent does not run them yet.
var knownKinds = map[schema.GroupKind]func() any{
	{Kind: "Service"}:                    func() any { return &v1.Service{} },
	{Kind: "ConfigMap"}:                  func() any { return &v1.ConfigMap{} },
	{Kind: "Secret"}:                     func() any { return &v1.Secret{} },
	{Kind: "Namespace"}:                  func() any { return &v1.Namespace{} },
	{Kind: "ServiceAccount"}:             func() any { return &v1.ServiceAccount{} },
	{Kind: "Endpoints"}:                  func() any { return &v1.Endpoints{} },
	{Kind: "PersistentVolumeClaim"}:      func() any { return &v1.PersistentVolumeClaim{} },
	{Kind: "PersistentVolume"}:           func() any { return &v1.PersistentVolume{} },
	{Kind: "ReplicationController"}:      func() any { return &v1.ReplicationController{} },
	{Group: "apps", Kind: "Deployment"}:  func() any { return &appsv1.Deployment{} },
	{Group: "apps", Kind: "ReplicaSet"}:  func() any { return &appsv1.ReplicaSet{} },
	{Group: "apps", Kind: "StatefulSet"}: func() any { return &appsv1.StatefulSet{} },
	{Group: "apps", Kind: "DaemonSet"}:   func() any { return &appsv1.DaemonSet{} },
	{Group: "batch", Kind: "Job"}:        func() any { return &batchv1.Job{} },
	{Group: "batch", Kind: "CronJob"}:    func() any { return &batchv1.CronJob{} },
}

// clusterScoped kinds have no namespace (and none is defaulted).
var clusterScoped = map[string]bool{
	"Namespace":                true,
	"Node":                     true,
	"PersistentVolume":         true,
	"ClusterRole":              true,
	"ClusterRoleBinding":       true,
	"StorageClass":             true,
	"CustomResourceDefinition": true,
	"PriorityClass":            true,
	"RuntimeClass":             true,
	"IngressClass":             true,
	"APIService":               true,
}

// validateObjectName keeps names of kinds we do not validate further usable
// as a file name: no path separators, no "." or "..".
func validateObjectName(name string) field.ErrorList {
	var errs field.ErrorList
	for _, msg := range path.IsValidPathSegmentName(name) {
		errs = append(errs, field.Invalid(field.NewPath("metadata", "name"), name, msg))
	}
	return errs
}

// resourceName is kubectl's "<resource>[.<group>]" spelling of a kind in
// "pod/x created"; plural gives the form of `pods "x" not found`.
func resourceName(apiVersion, kind string, plural bool) string {
	r := strings.ToLower(kind)
	if plural {
		r = pluralize(r)
	}
	if g := (objectMeta{APIVersion: apiVersion}).group(); g != "" {
		r += "." + g
	}
	return r
}

func pluralize(s string) string {
	switch {
	case s == "endpoints":
		return s
	case strings.HasSuffix(s, "s"), strings.HasSuffix(s, "x"), strings.HasSuffix(s, "ch"), strings.HasSuffix(s, "sh"):
		return s + "es"
	case strings.HasSuffix(s, "y") && len(s) > 1 && !strings.ContainsRune("aeiou", rune(s[len(s)-2])):
		return s[:len(s)-1] + "ies"
	}
	return s + "s"
}

func sortedKeys[K ~string, V any](m map[K]V) []K {
	keys := make([]K, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}
