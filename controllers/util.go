package controllers

import (
	"math"
	"sort"
	"strconv"

	appsv1 "k8s.io/api/apps/v1"
	v1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
)

// Deployment arithmetic and helpers, after upstream's
// pkg/controller/deployment/util.

func replicasOf(p *int32) int32 {
	if p == nil {
		return 1
	}
	return *p
}

// resolveFenceposts turns maxSurge and maxUnavailable into numbers of
// pods for desired replicas: surge rounds up, unavailable rounds down, and
// when both come to 0 one pod may be unavailable (or a rollout could never
// move).
func resolveFenceposts(maxSurge, maxUnavailable *intstr.IntOrString, desired int32) (surge, unavailable int32, err error) {
	zero := intstr.FromInt32(0)
	s, err := intstr.GetScaledValueFromIntOrPercent(intstr.ValueOrDefault(maxSurge, zero), int(desired), true)
	if err != nil {
		return 0, 0, err
	}
	u, err := intstr.GetScaledValueFromIntOrPercent(intstr.ValueOrDefault(maxUnavailable, zero), int(desired), false)
	if err != nil {
		return 0, 0, err
	}
	if s == 0 && u == 0 {
		u = 1
	}
	return int32(s), int32(u), nil
}

func isRollingUpdate(d *appsv1.Deployment) bool {
	return d.Spec.Strategy.Type == appsv1.RollingUpdateDeploymentStrategyType && d.Spec.Strategy.RollingUpdate != nil
}

// maxSurge is how many pods above replicas a rolling update may run.
func maxSurge(d *appsv1.Deployment) int32 {
	if !isRollingUpdate(d) {
		return 0
	}
	s, _, _ := resolveFenceposts(d.Spec.Strategy.RollingUpdate.MaxSurge, d.Spec.Strategy.RollingUpdate.MaxUnavailable, replicasOf(d.Spec.Replicas))
	return s
}

// maxUnavailable is how many of replicas may be unavailable during a
// rolling update, never more than replicas.
func maxUnavailable(d *appsv1.Deployment) int32 {
	r := replicasOf(d.Spec.Replicas)
	if !isRollingUpdate(d) || r == 0 {
		return 0
	}
	_, u, _ := resolveFenceposts(d.Spec.Strategy.RollingUpdate.MaxSurge, d.Spec.Strategy.RollingUpdate.MaxUnavailable, r)
	return min(u, r)
}

// newRSNewReplicas is the size the new ReplicaSet may grow to now: for a
// rolling update as far as replicas+maxSurge pods in all and never above
// replicas; for Recreate, replicas at once.
func newRSNewReplicas(d *appsv1.Deployment, all []*appsv1.ReplicaSet, newRS *appsv1.ReplicaSet) int32 {
	want := replicasOf(d.Spec.Replicas)
	if !isRollingUpdate(d) {
		return want
	}
	current := specReplicas(all)
	maxTotal := want + maxSurge(d)
	if current >= maxTotal {
		return replicasOf(newRS.Spec.Replicas)
	}
	up := min(maxTotal-current, want-replicasOf(newRS.Spec.Replicas))
	return replicasOf(newRS.Spec.Replicas) + up
}

func specReplicas(rss []*appsv1.ReplicaSet) int32 {
	var n int32
	for _, rs := range rss {
		if rs != nil {
			n += replicasOf(rs.Spec.Replicas)
		}
	}
	return n
}

func statusSum(rss []*appsv1.ReplicaSet, f func(appsv1.ReplicaSetStatus) int32) int32 {
	var n int32
	for _, rs := range rss {
		if rs != nil {
			n += f(rs.Status)
		}
	}
	return n
}

func actualReplicas(rss []*appsv1.ReplicaSet) int32 {
	return statusSum(rss, func(s appsv1.ReplicaSetStatus) int32 { return s.Replicas })
}

func readyReplicas(rss []*appsv1.ReplicaSet) int32 {
	return statusSum(rss, func(s appsv1.ReplicaSetStatus) int32 { return s.ReadyReplicas })
}

func availableReplicas(rss []*appsv1.ReplicaSet) int32 {
	return statusSum(rss, func(s appsv1.ReplicaSetStatus) int32 { return s.AvailableReplicas })
}

// activeReplicaSets are those asked for pods.
func activeReplicaSets(rss []*appsv1.ReplicaSet) []*appsv1.ReplicaSet {
	var out []*appsv1.ReplicaSet
	for _, rs := range rss {
		if rs != nil && replicasOf(rs.Spec.Replicas) > 0 {
			out = append(out, rs)
		}
	}
	return out
}

// byCreation sorts oldest first, then by name (upstream's
// ReplicaSetsByCreationTimestamp).
func byCreation(rss []*appsv1.ReplicaSet) {
	sort.SliceStable(rss, func(i, j int) bool {
		a, b := rss[i], rss[j]
		if a.CreationTimestamp.Equal(&b.CreationTimestamp) {
			return a.Name < b.Name
		}
		return a.CreationTimestamp.Before(&b.CreationTimestamp)
	})
}

// bySizeNewer sorts larger first, then newer first (scaling up goes to the
// newest); bySizeOlder larger first, then older first (scaling down).
func bySize(rss []*appsv1.ReplicaSet, newerFirst bool) {
	sort.SliceStable(rss, func(i, j int) bool {
		a, b := rss[i], rss[j]
		if ra, rb := replicasOf(a.Spec.Replicas), replicasOf(b.Spec.Replicas); ra != rb {
			return ra > rb
		}
		if a.CreationTimestamp.Equal(&b.CreationTimestamp) {
			return a.Name < b.Name
		}
		if newerFirst {
			return b.CreationTimestamp.Before(&a.CreationTimestamp)
		}
		return a.CreationTimestamp.Before(&b.CreationTimestamp)
	})
}

// equalIgnoreHash compares templates without their pod-template-hash label.
func equalIgnoreHash(a, b *v1.PodTemplateSpec) bool {
	a, b = a.DeepCopy(), b.DeepCopy()
	delete(a.Labels, LabelPodTemplateHash)
	delete(b.Labels, LabelPodTemplateHash)
	if len(a.Labels) == 0 {
		a.Labels = nil
	}
	if len(b.Labels) == 0 {
		b.Labels = nil
	}
	return equality.Semantic.DeepEqual(a, b)
}

// findNewReplicaSet is the oldest ReplicaSet whose template is the
// Deployment's.
func findNewReplicaSet(d *appsv1.Deployment, rss []*appsv1.ReplicaSet) *appsv1.ReplicaSet {
	sorted := append([]*appsv1.ReplicaSet(nil), rss...)
	byCreation(sorted)
	for _, rs := range sorted {
		if equalIgnoreHash(&rs.Spec.Template, &d.Spec.Template) {
			return rs
		}
	}
	return nil
}

func revisionOf(annotations map[string]string) int64 {
	n, err := strconv.ParseInt(annotations[AnnotationRevision], 10, 64)
	if err != nil {
		return 0
	}
	return n
}

func maxRevision(rss []*appsv1.ReplicaSet) int64 {
	var m int64
	for _, rs := range rss {
		m = max(m, revisionOf(rs.Annotations))
	}
	return m
}

// findActiveOrLatest is the one ReplicaSet to scale when only one has pods
// (or none has: the new one, else the newest old one); nil when several do.
func findActiveOrLatest(newRS *appsv1.ReplicaSet, old []*appsv1.ReplicaSet) *appsv1.ReplicaSet {
	if newRS == nil && len(old) == 0 {
		return nil
	}
	sorted := append([]*appsv1.ReplicaSet(nil), old...)
	byCreation(sorted)
	for i, j := 0, len(sorted)-1; i < j; i, j = i+1, j-1 {
		sorted[i], sorted[j] = sorted[j], sorted[i]
	}
	active := activeReplicaSets(append(sorted, newRS))
	switch len(active) {
	case 0:
		if newRS != nil {
			return newRS
		}
		return sorted[0]
	case 1:
		return active[0]
	}
	return nil
}

func intAnnotation(rs *appsv1.ReplicaSet, key string) (int32, bool) {
	v, ok := rs.Annotations[key]
	if !ok {
		return 0, false
	}
	n, err := strconv.ParseInt(v, 10, 32)
	if err != nil {
		return 0, false
	}
	return int32(n), true
}

// isSaturated: the new ReplicaSet has all the Deployment's pods, available.
func isSaturated(d *appsv1.Deployment, rs *appsv1.ReplicaSet) bool {
	if rs == nil {
		return false
	}
	desired, ok := intAnnotation(rs, AnnotationDesiredReplicas)
	want := replicasOf(d.Spec.Replicas)
	return ok && replicasOf(rs.Spec.Replicas) == want && desired == want && rs.Status.AvailableReplicas == want
}

// replicaSetProportion is how many of toAdd pods (negative: remove) a
// ReplicaSet gets when a Deployment is scaled in the middle of a rollout:
// its share of the size the Deployment had when it last scaled it, bounded
// by what is left to hand out.
func replicaSetProportion(rs *appsv1.ReplicaSet, d *appsv1.Deployment, toAdd, added int32) int32 {
	if rs == nil || replicasOf(rs.Spec.Replicas) == 0 || toAdd == 0 || toAdd == added {
		return 0
	}
	fraction := replicaSetFraction(rs, d)
	allowed := toAdd - added
	if toAdd > 0 {
		return min(fraction, allowed)
	}
	return max(fraction, allowed)
}

func replicaSetFraction(rs *appsv1.ReplicaSet, d *appsv1.Deployment) int32 {
	want := replicasOf(d.Spec.Replicas)
	size := replicasOf(rs.Spec.Replicas)
	if want == 0 {
		return -size
	}
	maxNow := want + maxSurge(d)
	before, ok := intAnnotation(rs, AnnotationMaxReplicas)
	if !ok || before == 0 {
		before = d.Status.Replicas
		if before == 0 {
			return 0
		}
	}
	scaled := float64(size*maxNow) / float64(before)
	return int32(math.Round(scaled)) - size
}

// setReplicasAnnotations records what the Deployment wanted when it scaled
// rs; it reports whether anything changed.
func setReplicasAnnotations(rs *appsv1.ReplicaSet, desired, maxReplicas int32) bool {
	if rs.Annotations == nil {
		rs.Annotations = map[string]string{}
	}
	d, m := strconv.Itoa(int(desired)), strconv.Itoa(int(maxReplicas))
	changed := rs.Annotations[AnnotationDesiredReplicas] != d || rs.Annotations[AnnotationMaxReplicas] != m
	rs.Annotations[AnnotationDesiredReplicas] = d
	rs.Annotations[AnnotationMaxReplicas] = m
	return changed
}

// skipCopy are the Deployment annotations a ReplicaSet does not inherit.
var skipCopy = map[string]bool{
	v1.LastAppliedConfigAnnotation: true,
	AnnotationRevision:             true,
	AnnotationRevisionHistory:      true,
	AnnotationDesiredReplicas:      true,
	AnnotationMaxReplicas:          true,
	appsv1.DeprecatedRollbackTo:    true,
}

// setNewReplicaSetAnnotations copies the Deployment's annotations, raises
// the revision (keeping earlier ones in revision-history) and, for a new
// ReplicaSet, records the replica annotations. It reports a change.
func setNewReplicaSetAnnotations(d *appsv1.Deployment, rs *appsv1.ReplicaSet, newRevision int64, exists bool) bool {
	changed := false
	if rs.Annotations == nil {
		rs.Annotations = map[string]string{}
	}
	for k, v := range d.Annotations {
		if old, ok := rs.Annotations[k]; skipCopy[k] || (ok && old == v) {
			continue
		}
		rs.Annotations[k] = v
		changed = true
	}
	oldRev, had := rs.Annotations[AnnotationRevision]
	oldN := revisionOf(rs.Annotations)
	if oldN < newRevision {
		rs.Annotations[AnnotationRevision] = strconv.FormatInt(newRevision, 10)
		changed = true
		if had {
			if h := rs.Annotations[AnnotationRevisionHistory]; h == "" {
				rs.Annotations[AnnotationRevisionHistory] = oldRev
			} else {
				rs.Annotations[AnnotationRevisionHistory] = h + "," + oldRev
			}
		}
	}
	if !exists && setReplicasAnnotations(rs, replicasOf(d.Spec.Replicas), replicasOf(d.Spec.Replicas)+maxSurge(d)) {
		changed = true
	}
	return changed
}

func getCondition(s *appsv1.DeploymentStatus, t appsv1.DeploymentConditionType) *appsv1.DeploymentCondition {
	for i := range s.Conditions {
		if s.Conditions[i].Type == t {
			return &s.Conditions[i]
		}
	}
	return nil
}

// setCondition sets c, keeping the transition time when the status did not
// change (upstream's SetDeploymentCondition).
func setCondition(s *appsv1.DeploymentStatus, c appsv1.DeploymentCondition) {
	cur := getCondition(s, c.Type)
	if cur != nil && cur.Status == c.Status && cur.Reason == c.Reason {
		return
	}
	if cur != nil && cur.Status == c.Status {
		c.LastTransitionTime = cur.LastTransitionTime
	}
	removeCondition(s, c.Type)
	s.Conditions = append(s.Conditions, c)
}

func removeCondition(s *appsv1.DeploymentStatus, t appsv1.DeploymentConditionType) {
	var out []appsv1.DeploymentCondition
	for _, c := range s.Conditions {
		if c.Type != t {
			out = append(out, c)
		}
	}
	s.Conditions = out
}

// Reasons of the Deployment conditions (upstream's deployment util).
const (
	reasonMinimumAvailable   = "MinimumReplicasAvailable"
	reasonMinimumUnavailable = "MinimumReplicasUnavailable"
	reasonNewRS              = "NewReplicaSetCreated"
	reasonFoundNewRS         = "FoundNewReplicaSet"
	reasonRSUpdated          = "ReplicaSetUpdated"
	reasonNewRSAvailable     = "NewReplicaSetAvailable"
	reasonTimedOut           = "ProgressDeadlineExceeded"
	reasonPaused             = "DeploymentPaused"
	reasonResumed            = "DeploymentResumed"
)

func deploymentComplete(d *appsv1.Deployment, s *appsv1.DeploymentStatus) bool {
	want := replicasOf(d.Spec.Replicas)
	return s.UpdatedReplicas == want && s.Replicas == want && s.AvailableReplicas == want &&
		s.ObservedGeneration >= d.Generation
}

func deploymentProgressing(old, s *appsv1.DeploymentStatus) bool {
	return s.UpdatedReplicas > old.UpdatedReplicas ||
		s.Replicas-s.UpdatedReplicas < old.Replicas-old.UpdatedReplicas ||
		s.ReadyReplicas > old.ReadyReplicas ||
		s.AvailableReplicas > old.AvailableReplicas
}

func controllerOf(rs *appsv1.ReplicaSet) *metav1.OwnerReference {
	return metav1.GetControllerOfNoCopy(rs)
}
