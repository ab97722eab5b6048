package source

import (
	"encoding/hex"
	"encoding/json"
	"fmt"
	"hash/fnv"
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
// UID, node name, annotations, the NoExecute toleration and phase Pending.
// The status in a manifest means nothing and is dropped before hashing.
//
// The UID is always the content hash, also when the manifest sets
// metadata.uid (which is then hashed with the rest). The kubelet keeps a
// UID given in the file and restarts changed containers in place; our pod
// workers know a changed pod only by a new UID, so a kept UID meant an
// edited manifest was never applied. A UID taken from the file would also
// reach paths (the pod's state and log directories) unchecked.
func makeStatic(pod *v1.Pod, path, nodeName string) error {
	pod.Status = v1.PodStatus{}
	uid, err := podUID(pod, path, nodeName)
	if err != nil {
		return err
	}
	pod.UID = uid
	pod.Spec.NodeName = nodeName
	if pod.Annotations == nil {
		pod.Annotations = map[string]string{}
	}
	pod.Annotations[AnnotationConfigSource] = SourceFile
	pod.Annotations[AnnotationConfigHash] = string(pod.UID)
	pod.Annotations[AnnotationManifest] = path
	if !hasNoExecuteTolerateAll(pod.Spec.Tolerations) {
		pod.Spec.Tolerations = append(pod.Spec.Tolerations, v1.Toleration{
			Operator: v1.TolerationOpExists,
			Effect:   v1.TaintEffectNoExecute,
		})
	}
	pod.Status.Phase = v1.PodPending
	return nil
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
