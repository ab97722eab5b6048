package source

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"hash/fnv"
	"strings"
	"time"

	v1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
)

// Annotations carried by every pod from the source. The kubernetes.io ones
// are the kubelet's own (pkg/kubelet/types); tools that know static pods read
// them.
const (
	// AnnotationConfigSource is always "file".
	AnnotationConfigSource = "kubernetes.io/config.source"
	// AnnotationConfigHash is the pod's UID (the content hash).
	AnnotationConfigHash = "kubernetes.io/config.hash"
	// AnnotationConfigSeen is when this UID was first seen, RFC 3339 with
	// nanoseconds.
	AnnotationConfigSeen = "kubernetes.io/config.seen"
	// AnnotationManifest is the path of the file the pod came from.
	AnnotationManifest = "minikubelet.io/manifest"
	// AnnotationIdentity, in a manifest, keeps a pod's UID across an
	// in-place update made through the Kubernetes API: "<uid>/<seal>",
	// where the seal is a digest of the UID, the file, the node and the
	// pod as written (see identitySeal). Only UpdatePod writes it; it is
	// never part of the pod served.
	AnnotationIdentity = "minikubelet.io/identity"
)

// SourceFile is the value of AnnotationConfigSource.
const SourceFile = "file"

// podUID is the static pod's identity when its manifest sets none, after the
// kubelet's pkg/kubelet/config/common.go applyDefaults: FNV-128a over the
// defaulted pod, then "host:<node>" and "file:<path>". Upstream feeds the
// object through a deep-hash printer; we feed its JSON encoding, which is
// just as deterministic (struct fields in order, map keys sorted). The same
// content in the same file on the same node gives the same UID across agent
// restarts, which is how running containers are re-adopted; any change to
// the content gives a new UID, as for the kubelet.
func podUID(pod *v1.Pod, path, nodeName string) (types.UID, error) {
	j, err := json.Marshal(pod)
	if err != nil {
		return "", fmt.Errorf("encode pod %s/%s for hashing: %w", pod.Namespace, pod.Name, err)
	}
	h := fnv.New128a()
	h.Write(j)
	fmt.Fprintf(h, "host:%s", nodeName)
	fmt.Fprintf(h, "file:%s", path)
	return types.UID(hex.EncodeToString(h.Sum(nil))), nil
}

// makeStatic turns a defaulted, valid pod into the static pod the agent runs:
// UID, node name, annotations, the NoExecute toleration (unless the API
// made it) and phase Pending.
// The status in a manifest means nothing and is dropped before hashing.
//
// The UID is the content hash, also when the manifest sets metadata.uid
// (which is then hashed with the rest): a file edited by hand gives a new
// pod, which replaces the old one, as a changed static pod does. A UID
// taken from the file would also reach paths (the pod's state and log
// directories) unchecked. The one exception is a pod updated in place
// through the Kubernetes API (UpdatePod): its identity annotation names the
// UID it keeps, and is honoured only while its seal matches the pod, the
// file and the node, so any edit by hand breaks it and the pod is replaced.
func makeStatic(pod *v1.Pod, path, nodeName string) error {
	pod.Status = v1.PodStatus{}
	identity, sealed := pod.Annotations[AnnotationIdentity]
	delete(pod.Annotations, AnnotationIdentity)
	if len(pod.Annotations) == 0 {
		pod.Annotations = nil
	}
	uid, err := podUID(pod, path, nodeName)
	if err != nil {
		return err
	}
	fromAPI := false
	if sealed {
		if kept, ok := unseal(identity, pod, path, nodeName); ok {
			uid, fromAPI = kept, true
		}
	}
	pod.UID = uid
	// The generation is the API server's to count (it ignores one given on
	// create), and so are the managed fields: kept only in a file the API
	// wrote (see UpdatePod).
	if !fromAPI {
		pod.Generation = 0
		pod.ManagedFields = nil
	}
	pod.Spec.NodeName = nodeName
	if pod.Annotations == nil {
		pod.Annotations = map[string]string{}
	}
	pod.Annotations[AnnotationConfigSource] = SourceFile
	pod.Annotations[AnnotationConfigHash] = string(pod.UID)
	pod.Annotations[AnnotationManifest] = path
	// The kubelet's toleration of a static pod, which its mirror pod
	// shows; a pod the API made or updated (sealed) has the API server's
	// default tolerations instead (added where the API serves it).
	if !fromAPI && !hasNoExecuteTolerateAll(pod.Spec.Tolerations) {
		pod.Spec.Tolerations = append(pod.Spec.Tolerations, v1.Toleration{
			Operator: v1.TolerationOpExists,
			Effect:   v1.TaintEffectNoExecute,
		})
	}
	pod.Status.Phase = v1.PodPending
	return nil
}

// identitySeal is the digest that binds a kept UID to one pod, as decoded
// and defaulted without its identity annotation, in one file on one node.
func identitySeal(uid types.UID, pod *v1.Pod, path, nodeName string) (string, error) {
	j, err := json.Marshal(pod)
	if err != nil {
		return "", fmt.Errorf("encode pod %s/%s for its identity seal: %w", pod.Namespace, pod.Name, err)
	}
	h := sha256.New()
	fmt.Fprintf(h, "uid:%s\x00host:%s\x00file:%s\x00", uid, nodeName, path)
	h.Write(j)
	return hex.EncodeToString(h.Sum(nil)), nil
}

// unseal returns the UID an identity annotation keeps, if its seal holds.
// The UID must look like one podUID makes, as it names directories.
func unseal(identity string, pod *v1.Pod, path, nodeName string) (types.UID, bool) {
	uid, seal, ok := strings.Cut(identity, "/")
	if !ok || !isPodUID(uid) {
		return "", false
	}
	want, err := identitySeal(types.UID(uid), pod, path, nodeName)
	if err != nil || want != seal {
		return "", false
	}
	return types.UID(uid), true
}

// isPodUID reports whether s has podUID's form: 32 lowercase hex digits.
func isPodUID(s string) bool {
	if len(s) != 32 {
		return false
	}
	for _, c := range s {
		if !('0' <= c && c <= '9' || 'a' <= c && c <= 'f') {
			return false
		}
	}
	return true
}

func hasNoExecuteTolerateAll(ts []v1.Toleration) bool {
	for _, t := range ts {
		if t.Key == "" && t.Operator == v1.TolerationOpExists && (t.Effect == "" || t.Effect == v1.TaintEffectNoExecute) {
			return true
		}
	}
	return false
}

// stampSeen records when a pod (by UID) was first seen.
func stampSeen(pod *v1.Pod, seen time.Time) {
	pod.CreationTimestamp = metav1.NewTime(seen)
	if pod.Annotations == nil {
		pod.Annotations = map[string]string{}
	}
	pod.Annotations[AnnotationConfigSeen] = seen.Format(time.RFC3339Nano)
}

// contentHash identifies a pod's full content (for pods whose UID does not).
func contentHash(pod *v1.Pod) string {
	j, err := json.Marshal(pod)
	if err != nil {
		return ""
	}
	h := fnv.New128a()
	h.Write(j)
	return hex.EncodeToString(h.Sum(nil))
}
