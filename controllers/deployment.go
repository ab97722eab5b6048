package controllers

import (
	"fmt"
	"sort"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	v1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/uuid"
	"k8s.io/utils/ptr"
)

// The deployment controller's steps, after upstream's
// pkg/controller/deployment (sync.go, rolling.go, recreate.go,
// progress.go). They run on the controller's loop goroutine and change
// the state in place; every change is persisted and published after the
// pass.

// syncDeployment brings one Deployment's ReplicaSets a step closer to what
// it asks for and computes its status.
func (c *Controller) syncDeployment(d *appsv1.Deployment, now time.Time) {
	rss := c.claimReplicaSets(d)
	if d.Spec.Paused {
		c.checkPausedConditions(d, now)
		c.syncScale(d, rss, now)
		return
	}
	c.checkPausedConditions(d, now)
	if c.isScalingEvent(d, rss) {
		c.syncScale(d, rss, now)
		return
	}
	switch d.Spec.Strategy.Type {
	case appsv1.RecreateDeploymentStrategyType:
		c.rolloutRecreate(d, rss, now)
	default:
		c.rolloutRolling(d, rss, now)
	}
}

// claimReplicaSets returns the ReplicaSets d controls, adopting orphans its
// selector matches and releasing its own that no longer match (upstream's
// ClaimReplicaSets).
func (c *Controller) claimReplicaSets(d *appsv1.Deployment) []*appsv1.ReplicaSet {
	sel, err := metav1.LabelSelectorAsSelector(d.Spec.Selector)
	if err != nil {
		return nil
	}
	var out []*appsv1.ReplicaSet
	for _, rs := range c.sortedReplicaSets() {
		if rs.Namespace != d.Namespace {
			continue
		}
		switch claim(&rs.ObjectMeta, d.UID, sel) {
		case claimOwned:
			out = append(out, rs)
		case claimAdopt:
			rs.OwnerReferences = append(rs.OwnerReferences, controllerRef(d.ObjectMeta, "Deployment"))
			c.changed = true
			out = append(out, rs)
		case claimRelease:
			rs.OwnerReferences = withoutController(rs.OwnerReferences, d.UID)
			c.changed = true
		}
	}
	return out
}

type claimResult int

const (
	claimIgnore  claimResult = iota // someone else's, or not ours and not matching
	claimOwned                      // ours and matching
	claimAdopt                      // an orphan that matches: adopt it
	claimRelease                    // ours but no longer matching: release it
)

// claim decides, as upstream's ControllerRefManager, what owner uid does
// with an object: it keeps what it controls and matches, adopts orphans
// that match, releases what it controls and no longer matches; objects
// controlled by another owner, or being deleted, are left alone.
func claim(m *metav1.ObjectMeta, owner types.UID, sel labels.Selector) claimResult {
	ref := metav1.GetControllerOfNoCopy(m)
	matches := sel.Matches(labels.Set(m.Labels))
	switch {
	case ref != nil && ref.UID == owner:
		if matches {
			return claimOwned
		}
		return claimRelease
	case ref != nil, m.DeletionTimestamp != nil:
		return claimIgnore
	case matches:
		return claimAdopt
	}
	return claimIgnore
}

func withoutController(refs []metav1.OwnerReference, uid types.UID) []metav1.OwnerReference {
	var out []metav1.OwnerReference
	for _, r := range refs {
		if r.UID != uid {
			out = append(out, r)
		}
	}
	return out
}

// controllerRef is the ownerReference an owner sets on what it controls.
func controllerRef(owner metav1.ObjectMeta, kind string) metav1.OwnerReference {
	apiVersion := "apps/v1"
	return metav1.OwnerReference{
		APIVersion: apiVersion, Kind: kind, Name: owner.Name, UID: owner.UID,
		Controller: ptr.To(true), BlockOwnerDeletion: ptr.To(true),
	}
}

func deploymentRef(d *appsv1.Deployment) *v1.ObjectReference {
	return &v1.ObjectReference{Kind: "Deployment", APIVersion: "apps/v1", Namespace: d.Namespace, Name: d.Name, UID: d.UID}
}

// splitReplicaSets finds the new ReplicaSet (creating it when create is
// set) and the old ones, syncing revision annotations as upstream's
// getAllReplicaSetsAndSyncRevision.
func (c *Controller) splitReplicaSets(d *appsv1.Deployment, rss []*appsv1.ReplicaSet, create bool, now time.Time) (*appsv1.ReplicaSet, []*appsv1.ReplicaSet) {
	existing := findNewReplicaSet(d, rss)
	var old []*appsv1.ReplicaSet
	for _, rs := range rss {
		if rs != existing {
			old = append(old, rs)
		}
	}
	newRevision := maxRevision(old) + 1
	if existing != nil {
		if setNewReplicaSetAnnotations(d, existing, newRevision, true) || existing.Spec.MinReadySeconds != d.Spec.MinReadySeconds {
			existing.Spec.MinReadySeconds = d.Spec.MinReadySeconds
			c.changed = true
		}
		c.setRevision(d, existing.Annotations[AnnotationRevision])
		if getCondition(&d.Status, appsv1.DeploymentProgressing) == nil {
			setCondition(&d.Status, newCondition(appsv1.DeploymentProgressing, v1.ConditionTrue, reasonFoundNewRS,
				fmt.Sprintf("Found new replica set %q", existing.Name), now))
		}
		return existing, old
	}
	if !create {
		return nil, old
	}

	template := *d.Spec.Template.DeepCopy()
	hash := ComputeHash(&template, d.Status.CollisionCount)
	template.Labels = withLabel(d.Spec.Template.Labels, LabelPodTemplateHash, hash)
	selector := d.Spec.Selector.DeepCopy()
	if selector.MatchLabels == nil {
		selector.MatchLabels = map[string]string{}
	}
	selector.MatchLabels[LabelPodTemplateHash] = hash
	name := replicaSetName(d.Name, hash)
	if other := c.rss[d.Namespace+"/"+name]; other != nil {
		// A ReplicaSet of that name with another template: the hash
		// collided. Count it, so that the next pass hashes differently.
		if d.Status.CollisionCount == nil {
			d.Status.CollisionCount = new(int32)
		}
		*d.Status.CollisionCount++
		c.changed = true
		return nil, old
	}
	rs := &appsv1.ReplicaSet{
		TypeMeta: metav1.TypeMeta{APIVersion: "apps/v1", Kind: "ReplicaSet"},
		ObjectMeta: metav1.ObjectMeta{
			Name: name, Namespace: d.Namespace, UID: uuid.NewUUID(), Generation: 1,
			CreationTimestamp: metav1.NewTime(now),
			Labels:            template.Labels,
			OwnerReferences:   []metav1.OwnerReference{controllerRef(d.ObjectMeta, "Deployment")},
		},
		Spec: appsv1.ReplicaSetSpec{
			Replicas: new(int32), MinReadySeconds: d.Spec.MinReadySeconds, Selector: selector, Template: template,
		},
	}
	*rs.Spec.Replicas = newRSNewReplicas(d, append(append([]*appsv1.ReplicaSet(nil), old...), rs), rs)
	setNewReplicaSetAnnotations(d, rs, newRevision, false)
	c.rss[rs.Namespace+"/"+rs.Name] = rs
	c.changed = true
	if n := *rs.Spec.Replicas; n > 0 {
		c.drec.Event(deploymentRef(d), v1.EventTypeNormal, "ScalingReplicaSet", fmt.Sprintf("Scaled up replica set %s from 0 to %d", rs.Name, n))
	}
	c.setRevision(d, rs.Annotations[AnnotationRevision])
	setCondition(&d.Status, newCondition(appsv1.DeploymentProgressing, v1.ConditionTrue, reasonNewRS,
		fmt.Sprintf("Created new replica set %q", rs.Name), now))
	return rs, old
}

// replicaSetName is <deployment>-<hash>, the deployment part cut so that
// the whole is a valid name (253 characters).
func replicaSetName(deployment, hash string) string {
	if max := 253 - 1 - len(hash); len(deployment) > max {
		deployment = deployment[:max]
	}
	return deployment + "-" + hash
}

func withLabel(in map[string]string, k, v string) map[string]string {
	out := make(map[string]string, len(in)+1)
	for key, val := range in {
		out[key] = val
	}
	out[k] = v
	return out
}

func newCondition(t appsv1.DeploymentConditionType, s v1.ConditionStatus, reason, msg string, now time.Time) appsv1.DeploymentCondition {
	ts := metav1.NewTime(now)
	return appsv1.DeploymentCondition{Type: t, Status: s, Reason: reason, Message: msg, LastUpdateTime: ts, LastTransitionTime: ts}
}

// setRevision keeps the Deployment's revision annotation, which lives in
// the controller's own state (the Deployment's file is the user's).
func (c *Controller) setRevision(d *appsv1.Deployment, rev string) {
	if d.Annotations == nil {
		d.Annotations = map[string]string{}
	}
	if d.Annotations[AnnotationRevision] != rev {
		d.Annotations[AnnotationRevision] = rev
		c.extra(d).Revision = rev
		c.changed = true
	}
}

// scaleReplicaSet sets rs's size (and the replica annotations), recording
// ScalingReplicaSet when the size changes. It reports a size change.
func (c *Controller) scaleReplicaSet(rs *appsv1.ReplicaSet, size int32, d *appsv1.Deployment) bool {
	old := replicasOf(rs.Spec.Replicas)
	annotated := setReplicasAnnotations(rs, replicasOf(d.Spec.Replicas), replicasOf(d.Spec.Replicas)+maxSurge(d))
	if old == size {
		if annotated {
			c.changed = true
		}
		return false
	}
	rs.Spec.Replicas = ptr.To(size)
	rs.Generation++
	c.changed = true
	op := "up"
	if size < old {
		op = "down"
	}
	c.drec.Event(deploymentRef(d), v1.EventTypeNormal, "ScalingReplicaSet",
		fmt.Sprintf("Scaled %s replica set %s from %d to %d", op, rs.Name, old, size))
	return true
}

// scaleIfNeeded is upstream's scaleReplicaSetAndRecordEvent: nothing
// happens when the size is already right.
func (c *Controller) scaleIfNeeded(rs *appsv1.ReplicaSet, size int32, d *appsv1.Deployment) bool {
	if replicasOf(rs.Spec.Replicas) == size {
		return false
	}
	return c.scaleReplicaSet(rs, size, d)
}

// isScalingEvent: an active ReplicaSet was last sized for another replica
// count than the Deployment now asks for.
func (c *Controller) isScalingEvent(d *appsv1.Deployment, rss []*appsv1.ReplicaSet) bool {
	for _, rs := range activeReplicaSets(rss) {
		if desired, ok := intAnnotation(rs, AnnotationDesiredReplicas); ok && desired != replicasOf(d.Spec.Replicas) {
			return true
		}
	}
	return false
}

// syncScale handles a paused Deployment or a scaling event: sizes change,
// no rollout step is taken.
func (c *Controller) syncScale(d *appsv1.Deployment, rss []*appsv1.ReplicaSet, now time.Time) {
	newRS, old := c.splitReplicaSets(d, rss, false, now)
	c.scale(d, newRS, old)
	if d.Spec.Paused && newRS == nil {
		// A paused rollout keeps its old ReplicaSets: nothing to clean.
	} else if deploymentComplete(d, &d.Status) {
		c.cleanup(d, old)
	}
	c.setStatus(d, append(old, newRS), newRS, now, false)
}

// scale sizes the ReplicaSets for the Deployment's replicas: the one active
// ReplicaSet takes them all; otherwise a rolling update spreads the change
// over the active ReplicaSets in proportion to their sizes.
func (c *Controller) scale(d *appsv1.Deployment, newRS *appsv1.ReplicaSet, old []*appsv1.ReplicaSet) {
	want := replicasOf(d.Spec.Replicas)
	if rs := findActiveOrLatest(newRS, old); rs != nil {
		c.scaleIfNeeded(rs, want, d)
		return
	}
	if isSaturated(d, newRS) {
		for _, rs := range activeReplicaSets(old) {
			c.scaleIfNeeded(rs, 0, d)
		}
		return
	}
	if !isRollingUpdate(d) {
		return
	}
	all := activeReplicaSets(append(append([]*appsv1.ReplicaSet(nil), old...), newRS))
	allowed := int32(0)
	if want > 0 {
		allowed = want + maxSurge(d)
	}
	toAdd := allowed - specReplicas(all)
	switch {
	case toAdd > 0:
		bySize(all, true)
	case toAdd < 0:
		bySize(all, false)
	}
	added := int32(0)
	sizes := make(map[*appsv1.ReplicaSet]int32, len(all))
	for _, rs := range all {
		sizes[rs] = replicasOf(rs.Spec.Replicas)
		if toAdd != 0 {
			p := replicaSetProportion(rs, d, toAdd, added)
			sizes[rs] += p
			added += p
		}
	}
	for i, rs := range all {
		if i == 0 && toAdd != 0 {
			sizes[rs] = max(sizes[rs]+toAdd-added, 0)
		}
		c.scaleReplicaSet(rs, sizes[rs], d)
	}
}

// rolloutRolling is one step of a RollingUpdate: grow the new ReplicaSet
// within maxSurge, or shrink old ones within maxUnavailable.
func (c *Controller) rolloutRolling(d *appsv1.Deployment, rss []*appsv1.ReplicaSet, now time.Time) {
	newRS, old := c.splitReplicaSets(d, rss, true, now)
	if newRS == nil {
		return // a hash collision was counted; the next pass retries
	}
	all := append(append([]*appsv1.ReplicaSet(nil), old...), newRS)
	if c.reconcileNewReplicaSet(all, newRS, d) || c.reconcileOldReplicaSets(all, activeReplicaSets(old), newRS, d) {
		c.setStatus(d, all, newRS, now, true)
		return
	}
	if deploymentComplete(d, &d.Status) {
		c.cleanup(d, old)
	}
	c.setStatus(d, all, newRS, now, true)
}

func (c *Controller) reconcileNewReplicaSet(all []*appsv1.ReplicaSet, newRS *appsv1.ReplicaSet, d *appsv1.Deployment) bool {
	want := replicasOf(d.Spec.Replicas)
	have := replicasOf(newRS.Spec.Replicas)
	if have == want {
		return false
	}
	if have > want {
		return c.scaleIfNeeded(newRS, want, d)
	}
	return c.scaleIfNeeded(newRS, newRSNewReplicas(d, all, newRS), d)
}

// reconcileOldReplicaSets scales old ReplicaSets down as far as
// maxUnavailable allows, unhealthy pods first (upstream's comment in
// rolling.go explains the arithmetic).
func (c *Controller) reconcileOldReplicaSets(all, old []*appsv1.ReplicaSet, newRS *appsv1.ReplicaSet, d *appsv1.Deployment) bool {
	if specReplicas(old) == 0 {
		return false
	}
	plan := planOldScaleDown(all, old, newRS, d)
	scaled := false
	for _, step := range plan {
		if c.scaleIfNeeded(step.rs, step.size, d) {
			scaled = true
		}
	}
	return scaled
}

// scaleStep is one ReplicaSet's new size.
type scaleStep struct {
	rs   *appsv1.ReplicaSet
	size int32
}

// planOldScaleDown computes, without changing anything, how the old
// ReplicaSets shrink in one rolling-update step: first the unavailable
// pods of old ReplicaSets (bounded so that unavailable new pods are not
// counted twice), then available ones down to replicas-maxUnavailable
// available in all.
func planOldScaleDown(all, old []*appsv1.ReplicaSet, newRS *appsv1.ReplicaSet, d *appsv1.Deployment) []scaleStep {
	want := replicasOf(d.Spec.Replicas)
	minAvailable := want - maxUnavailable(d)
	newUnavailable := replicasOf(newRS.Spec.Replicas) - newRS.Status.AvailableReplicas
	maxScaledDown := specReplicas(all) - minAvailable - newUnavailable
	if maxScaledDown <= 0 {
		return nil
	}
	sizes := map[*appsv1.ReplicaSet]int32{}
	size := func(rs *appsv1.ReplicaSet) int32 {
		if n, ok := sizes[rs]; ok {
			return n
		}
		return replicasOf(rs.Spec.Replicas)
	}
	sorted := append([]*appsv1.ReplicaSet(nil), old...)
	byCreation(sorted)
	var plan []scaleStep
	cleaned := int32(0)
	for _, rs := range sorted {
		if cleaned >= maxScaledDown {
			break
		}
		n := size(rs)
		if n == 0 || n == rs.Status.AvailableReplicas {
			continue
		}
		down := min(maxScaledDown-cleaned, n-rs.Status.AvailableReplicas)
		sizes[rs] = n - down
		cleaned += down
		plan = append(plan, scaleStep{rs, n - down})
	}
	// Available pods of all ReplicaSets, as upstream counts them after the
	// clean-up (the status of a ReplicaSet does not change with its size).
	available := availableReplicas(all)
	if available <= minAvailable {
		return plan
	}
	total := available - minAvailable
	done := int32(0)
	for _, rs := range sorted {
		if done >= total {
			break
		}
		n := size(rs)
		if n == 0 {
			continue
		}
		down := min(n, total-done)
		sizes[rs] = n - down
		done += down
		plan = append(plan, scaleStep{rs, n - down})
	}
	return plan
}

// rolloutRecreate scales every old ReplicaSet to zero, waits until none of
// their pods runs, then scales the new one up.
func (c *Controller) rolloutRecreate(d *appsv1.Deployment, rss []*appsv1.ReplicaSet, now time.Time) {
	newRS, old := c.splitReplicaSets(d, rss, false, now)
	all := append(append([]*appsv1.ReplicaSet(nil), old...), newRS)
	scaled := false
	for _, rs := range activeReplicaSets(old) {
		if c.scaleIfNeeded(rs, 0, d) {
			scaled = true
		}
	}
	if scaled || c.oldPodsRunning(newRS, old) {
		c.setStatus(d, all, newRS, now, true)
		return
	}
	if newRS == nil {
		newRS, old = c.splitReplicaSets(d, rss, true, now)
		if newRS == nil {
			return
		}
		all = append(append([]*appsv1.ReplicaSet(nil), old...), newRS)
	}
	c.scaleIfNeeded(newRS, replicasOf(d.Spec.Replicas), d)
	if deploymentComplete(d, &d.Status) {
		c.cleanup(d, old)
	}
	c.setStatus(d, all, newRS, now, true)
}

// oldPodsRunning: an old ReplicaSet still has pods, or a pod of one is
// still being terminated (Recreate waits for both).
func (c *Controller) oldPodsRunning(newRS *appsv1.ReplicaSet, old []*appsv1.ReplicaSet) bool {
	if actualReplicas(old) > 0 {
		return true
	}
	for _, rs := range old {
		for _, p := range c.podsOf(rs) {
			if p.Status.Phase != v1.PodSucceeded && p.Status.Phase != v1.PodFailed {
				return true
			}
		}
		if c.terminating(rs.UID) {
			return true
		}
	}
	return false
}

// cleanup deletes the oldest empty old ReplicaSets beyond
// revisionHistoryLimit.
func (c *Controller) cleanup(d *appsv1.Deployment, old []*appsv1.ReplicaSet) {
	if d.Spec.RevisionHistoryLimit == nil {
		return
	}
	diff := len(old) - int(*d.Spec.RevisionHistoryLimit)
	if diff <= 0 {
		return
	}
	sorted := append([]*appsv1.ReplicaSet(nil), old...)
	sort.SliceStable(sorted, func(i, j int) bool {
		ri, rj := revisionOf(sorted[i].Annotations), revisionOf(sorted[j].Annotations)
		if ri != rj {
			return ri < rj
		}
		return sorted[i].CreationTimestamp.Before(&sorted[j].CreationTimestamp)
	})
	for _, rs := range sorted[:diff] {
		if rs.Status.Replicas != 0 || replicasOf(rs.Spec.Replicas) != 0 || rs.Generation > rs.Status.ObservedGeneration {
			continue
		}
		c.deleteReplicaSet(rs)
	}
}

// setStatus computes the Deployment's status from its ReplicaSets; with
// progress it also moves the Progressing condition (upstream's
// syncRolloutStatus), else only counts and Available (syncDeploymentStatus).
func (c *Controller) setStatus(d *appsv1.Deployment, all []*appsv1.ReplicaSet, newRS *appsv1.ReplicaSet, now time.Time, progress bool) {
	var rss []*appsv1.ReplicaSet
	for _, rs := range all {
		if rs != nil {
			rss = append(rss, rs)
		}
	}
	available := availableReplicas(rss)
	s := appsv1.DeploymentStatus{
		ObservedGeneration:  d.Generation,
		Replicas:            actualReplicas(rss),
		ReadyReplicas:       readyReplicas(rss),
		AvailableReplicas:   available,
		UnavailableReplicas: max(specReplicas(rss)-available, 0),
		CollisionCount:      d.Status.CollisionCount,
		Conditions:          append([]appsv1.DeploymentCondition(nil), d.Status.Conditions...),
	}
	if newRS != nil {
		s.UpdatedReplicas = newRS.Status.Replicas
	}
	if available >= replicasOf(d.Spec.Replicas)-maxUnavailable(d) {
		setCondition(&s, newCondition(appsv1.DeploymentAvailable, v1.ConditionTrue, reasonMinimumAvailable, "Deployment has minimum availability.", now))
	} else {
		setCondition(&s, newCondition(appsv1.DeploymentAvailable, v1.ConditionFalse, reasonMinimumUnavailable, "Deployment does not have minimum availability.", now))
	}
	if progress && d.Spec.ProgressDeadlineSeconds != nil {
		cur := getCondition(&d.Status, appsv1.DeploymentProgressing)
		complete := s.Replicas == s.UpdatedReplicas && cur != nil && cur.Reason == reasonNewRSAvailable
		if !complete {
			subject := fmt.Sprintf("Deployment %q", d.Name)
			if newRS != nil {
				subject = fmt.Sprintf("ReplicaSet %q", newRS.Name)
			}
			switch {
			case deploymentComplete(d, &s):
				setCondition(&s, newCondition(appsv1.DeploymentProgressing, v1.ConditionTrue, reasonNewRSAvailable, subject+" has successfully progressed.", now))
			case deploymentProgressing(&d.Status, &s):
				cond := newCondition(appsv1.DeploymentProgressing, v1.ConditionTrue, reasonRSUpdated, subject+" is progressing.", now)
				if cur != nil && cur.Status == v1.ConditionTrue {
					cond.LastTransitionTime = cur.LastTransitionTime
				}
				removeCondition(&s, appsv1.DeploymentProgressing)
				s.Conditions = append(s.Conditions, cond)
			case timedOut(d, &s, now):
				setCondition(&s, newCondition(appsv1.DeploymentProgressing, v1.ConditionFalse, reasonTimedOut, subject+" has timed out progressing.", now))
			}
		}
		if cond := getCondition(&s, appsv1.DeploymentProgressing); cond != nil && !deploymentComplete(d, &s) &&
			cond.Reason != reasonTimedOut && cond.Reason != reasonNewRSAvailable {
			c.wakeAt(cond.LastUpdateTime.Add(time.Duration(*d.Spec.ProgressDeadlineSeconds)*time.Second + time.Second))
		}
	} else if d.Spec.ProgressDeadlineSeconds == nil {
		removeCondition(&s, appsv1.DeploymentProgressing)
	}
	if progress {
		// A ReplicaSet's failure to make pods is the Deployment's too
		// (upstream's syncRolloutStatus): the new one's first.
		if cond := replicaFailure(newRS, rss); cond != nil {
			setCondition(&s, *cond)
		} else {
			removeCondition(&s, appsv1.DeploymentReplicaFailure)
		}
	}
	if !statusEqual(&d.Status, &s) {
		d.Status = s
		c.changed = true
	}
}

// replicaFailure is the ReplicaFailure condition of newRS, or else of the
// first of rss that has one, as a Deployment condition.
func replicaFailure(newRS *appsv1.ReplicaSet, rss []*appsv1.ReplicaSet) *appsv1.DeploymentCondition {
	for _, rs := range append([]*appsv1.ReplicaSet{newRS}, rss...) {
		if rs == nil {
			continue
		}
		for _, c := range rs.Status.Conditions {
			if c.Type == appsv1.ReplicaSetReplicaFailure {
				return &appsv1.DeploymentCondition{Type: appsv1.DeploymentReplicaFailure, Status: c.Status, Reason: c.Reason,
					Message: c.Message, LastUpdateTime: c.LastTransitionTime, LastTransitionTime: c.LastTransitionTime}
			}
		}
	}
	return nil
}

// timedOut: the Progressing condition was last updated longer ago than
// progressDeadlineSeconds.
func timedOut(d *appsv1.Deployment, s *appsv1.DeploymentStatus, now time.Time) bool {
	cond := getCondition(s, appsv1.DeploymentProgressing)
	if cond == nil || cond.Reason == reasonNewRSAvailable {
		return false
	}
	if cond.Reason == reasonTimedOut {
		return true
	}
	return cond.LastUpdateTime.Add(time.Duration(*d.Spec.ProgressDeadlineSeconds) * time.Second).Before(now)
}

// checkPausedConditions sets Progressing Unknown while paused, and notes
// the resume, as upstream does.
func (c *Controller) checkPausedConditions(d *appsv1.Deployment, now time.Time) {
	if d.Spec.ProgressDeadlineSeconds == nil {
		return
	}
	cond := getCondition(&d.Status, appsv1.DeploymentProgressing)
	if cond != nil && cond.Reason == reasonTimedOut {
		return
	}
	pausedCond := cond != nil && cond.Reason == reasonPaused
	switch {
	case d.Spec.Paused && !pausedCond:
		setCondition(&d.Status, newCondition(appsv1.DeploymentProgressing, v1.ConditionUnknown, reasonPaused, "Deployment is paused", now))
		c.changed = true
	case !d.Spec.Paused && pausedCond:
		setCondition(&d.Status, newCondition(appsv1.DeploymentProgressing, v1.ConditionUnknown, reasonResumed, "Deployment is resumed", now))
		c.changed = true
	}
}
