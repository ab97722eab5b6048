package kubeapi

import (
	"slices"

	v1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/uuid"

	"github.com/minikubelet/minikubelet/internal/kuberules"
	"github.com/minikubelet/minikubelet/source"
)

// What kube-apiserver's default mutating admission plugins set on every
// pod it stores, created by a user, a controller or a kubelet (a static
// pod's mirror): Priority (spec.priority and spec.preemptionPolicy from
// the pod's PriorityClass) and DefaultTolerationSeconds (NoExecute
// tolerations of node.kubernetes.io/not-ready and unreachable for 300 s).
// `kubectl get -o yaml` shows them and `kubectl describe pod` prints the
// tolerations. The agent serves them on every pod, from a manifest or the
// API alike, but keeps them out of the manifests: what a user wrote stays
// as written, and serving adds them again (see stripAdmitted).

// defaultTolerationSeconds is DefaultTolerationSeconds' default for both
// tolerations.
const defaultTolerationSeconds = int64(300)

// defaultTolerations are the tolerations DefaultTolerationSeconds adds, in
// its order.
func defaultTolerations() []v1.Toleration {
	seconds := defaultTolerationSeconds
	return []v1.Toleration{
		{Key: v1.TaintNodeNotReady, Operator: v1.TolerationOpExists, Effect: v1.TaintEffectNoExecute, TolerationSeconds: &seconds},
		{Key: v1.TaintNodeUnreachable, Operator: v1.TolerationOpExists, Effect: v1.TaintEffectNoExecute, TolerationSeconds: &seconds},
	}
}

// tolerates says whether one of ts tolerates the NoExecute taint key as
// DefaultTolerationSeconds judges it: an empty key or effect matches any.
func tolerates(ts []v1.Toleration, key string) bool {
	return slices.ContainsFunc(ts, func(t v1.Toleration) bool {
		return (t.Key == key || t.Key == "") && (t.Effect == v1.TaintEffectNoExecute || t.Effect == "")
	})
}

// addDefaultTolerations adds the default tolerations pod lacks.
func addDefaultTolerations(pod *v1.Pod) {
	for _, t := range defaultTolerations() {
		if !tolerates(pod.Spec.Tolerations, t.Key) {
			pod.Spec.Tolerations = append(pod.Spec.Tolerations, t)
		}
	}
}

// admitPod sets on pod what the two plugins set on a create: the priority
// and preemptionPolicy of its class (left unset for an unknown class: the
// API server would have refused such a pod, see kuberules.CheckPriority),
// and the tolerations it lacks.
func admitPod(pod *v1.Pod) {
	if p, ok := kuberules.PriorityOf(pod.Spec.PriorityClassName); ok {
		if pod.Spec.Priority == nil {
			pod.Spec.Priority = &p
		}
		if pod.Spec.PreemptionPolicy == nil {
			policy := v1.PreemptLowerPriority
			pod.Spec.PreemptionPolicy = &policy
		}
	}
	addDefaultTolerations(pod)
}

// admitPodUpdate is what the plugins do on an update: the Priority plugin
// keeps old's priority and preemptionPolicy where pod leaves them out
// (kubectl replace of a manifest), DefaultTolerationSeconds adds the
// tolerations again, so that an update which drops them is no change.
func admitPodUpdate(pod, old *v1.Pod) {
	if pod.Spec.Priority == nil {
		pod.Spec.Priority = old.Spec.Priority
	}
	if pod.Spec.PreemptionPolicy == nil {
		pod.Spec.PreemptionPolicy = old.Spec.PreemptionPolicy
	}
	addDefaultTolerations(pod)
}

// stripAdmitted takes out of a pod about to be written to its manifest
// what admitPod would set again when it is served: the priority and
// preemptionPolicy of its class, and default tolerations no other
// toleration covers. The manifest keeps what its user wrote, and the
// pod served is the same.
func stripAdmitted(pod *v1.Pod) {
	if p, ok := kuberules.PriorityOf(pod.Spec.PriorityClassName); ok {
		if pod.Spec.Priority != nil && *pod.Spec.Priority == p {
			pod.Spec.Priority = nil
		}
		if pp := pod.Spec.PreemptionPolicy; pp != nil && *pp == v1.PreemptLowerPriority {
			pod.Spec.PreemptionPolicy = nil
		}
	}
	for _, d := range defaultTolerations() {
		i := slices.IndexFunc(pod.Spec.Tolerations, func(t v1.Toleration) bool {
			return t.Key == d.Key && t.Operator == d.Operator && t.Effect == d.Effect && t.Value == "" &&
				t.TolerationSeconds != nil && *t.TolerationSeconds == *d.TolerationSeconds
		})
		if i < 0 {
			continue
		}
		rest := slices.Delete(slices.Clone(pod.Spec.Tolerations), i, i+1)
		if !tolerates(rest, d.Key) {
			pod.Spec.Tolerations = rest
		}
	}
	if len(pod.Spec.Tolerations) == 0 {
		pod.Spec.Tolerations = nil
	}
}

// dryRunPod is the pod a create of pod would answer, as the API server
// answers a dry run: defaulted and admitted, with the status it is
// created with (Pending, its QoS class), a UID, creation time and first
// generation, but no resourceVersion (it was never stored).
func dryRunPod(pod *v1.Pod) *v1.Pod {
	p := pod.DeepCopy()
	source.SetPodDefaults(p)
	p.UID = uuid.NewUUID()
	p.CreationTimestamp = metav1.Now()
	p.Generation = 1
	p.Status = v1.PodStatus{Phase: v1.PodPending}
	return apiPod(p)
}

// dryRunUpdatedPod is the pod an update of cur to pod would answer, as
// the API server answers a dry run: defaulted, with cur's identity,
// resourceVersion and status (an update of a pod leaves its status be).
func dryRunUpdatedPod(pod, cur *v1.Pod) *v1.Pod {
	p := pod.DeepCopy()
	source.SetPodDefaults(p)
	p.UID, p.CreationTimestamp, p.ResourceVersion = cur.UID, cur.CreationTimestamp, cur.ResourceVersion
	p.Status = *cur.Status.DeepCopy()
	return p
}
