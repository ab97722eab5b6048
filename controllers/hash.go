// Package controllers runs Deployments and ReplicaSets on the node, after
// upstream's deployment and replicaset controllers (pkg/controller/
// deployment, pkg/controller/replicaset): a Deployment from the manifests
// directory owns ReplicaSets named <deployment>-<pod-template-hash>, each
// owning pods named <replicaset>-<5 random characters>. The ReplicaSets and
// pods are the agent's own: kept under --root, never in the user's
// directory, and run by the same pod workers as static pods.
package controllers

import (
	"encoding/binary"
	"fmt"
	"hash/fnv"

	v1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/util/dump"
	"k8s.io/apimachinery/pkg/util/rand"
)

// Labels and annotations upstream's controllers and kubectl use.
const (
	// LabelPodTemplateHash is added to a ReplicaSet's selector, labels and
	// template, so that the ReplicaSets of one Deployment select disjoint pods.
	LabelPodTemplateHash = "pod-template-hash"
	// AnnotationRevision numbers a Deployment's templates (on the Deployment:
	// the newest).
	AnnotationRevision = "deployment.kubernetes.io/revision"
	// AnnotationRevisionHistory lists the earlier revisions a ReplicaSet held.
	AnnotationRevisionHistory = "deployment.kubernetes.io/revision-history"
	// AnnotationDesiredReplicas and AnnotationMaxReplicas are what the
	// Deployment wanted when it last scaled a ReplicaSet (proportional
	// scaling reads them).
	AnnotationDesiredReplicas = "deployment.kubernetes.io/desired-replicas"
	AnnotationMaxReplicas     = "deployment.kubernetes.io/max-replicas"
	// AnnotationChangeCause is kubectl's CHANGE-CAUSE in rollout history.
	AnnotationChangeCause = "kubernetes.io/change-cause"
	// AnnotationRestartedAt is what `rollout restart` sets on the template.
	AnnotationRestartedAt = "kubectl.kubernetes.io/restartedAt"
)

// ComputeHash is the pod-template-hash of a template, as upstream's
// controller.ComputeHash: FNV-32a over the template printed by the deep-hash
// printer (apimachinery's dump.ForHash, which upstream's DeepHashObject
// uses), then the collision count as 8 little-endian bytes (the upper four
// zero), and the decimal value mapped into the alphabet of SafeEncodeString.
// The template must be defaulted as the API server defaults it, or the
// value differs from a cluster's.
func ComputeHash(template *v1.PodTemplateSpec, collisionCount *int32) string {
	h := fnv.New32a()
	fmt.Fprintf(h, "%v", dump.ForHash(*template))
	if collisionCount != nil {
		b := make([]byte, 8)
		binary.LittleEndian.PutUint32(b, uint32(*collisionCount))
		h.Write(b)
	}
	return rand.SafeEncodeString(fmt.Sprint(h.Sum32()))
}

// maxGeneratedNameLength leaves room for the 5 random characters in a
// 63-character name (apiserver's storage/names).
const maxGeneratedNameLength = 63 - 5

// generateName is the API server's generateName: base, truncated to 58
// characters, then 5 random characters of SafeEncodeString's alphabet.
func generateName(base string) string {
	if len(base) > maxGeneratedNameLength {
		base = base[:maxGeneratedNameLength]
	}
	return base + rand.String(5)
}
