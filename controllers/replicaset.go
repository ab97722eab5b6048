package controllers

import (
	"slices"
	"sort"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	v1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/util/uuid"
	"k8s.io/utils/ptr"

	"github.com/minikubelet/minikubelet/internal/kuberules"
	"github.com/minikubelet/minikubelet/source"
)

// The replicaset controller's steps, after upstream's
// pkg/controller/replicaset.

// burstReplicas bounds the pods one pass creates or deletes (upstream's
// default --concurrent… burst is 500).
const burstReplicas = 500

// live is a pod with the status its worker published (Pending until the
// worker published one).
func (c *Controller) live(p *v1.Pod) *v1.Pod {
	if st, ok := c.statuses.Get(p.UID); ok {
		out := p.DeepCopy()
		out.Status = st.Status
		return out
	}
	out := p.DeepCopy()
	out.Status.Phase = v1.PodPending
	return out
}

// podsOf claims the pods of a ReplicaSet (adopting and releasing by
// selector) and returns them with their live status.
func (c *Controller) podsOf(rs *appsv1.ReplicaSet) []*v1.Pod {
	sel, err := metav1.LabelSelectorAsSelector(rs.Spec.Selector)
	if err != nil {
		return nil
	}
	var out []*v1.Pod
	for _, p := range c.sortedPods() {
		if p.Namespace != rs.Namespace {
			continue
		}
		switch claim(&p.ObjectMeta, rs.UID, sel) {
		case claimOwned:
			out = append(out, c.live(p))
		case claimAdopt:
			p.OwnerReferences = append(p.OwnerReferences, controllerRef(rs.ObjectMeta, "ReplicaSet"))
			c.changed = true
			out = append(out, c.live(p))
		case claimRelease:
			p.OwnerReferences = withoutController(p.OwnerReferences, rs.UID)
			c.changed = true
		}
	}
	return out
}

func isActive(p *v1.Pod) bool {
	return p.Status.Phase != v1.PodSucceeded && p.Status.Phase != v1.PodFailed && p.DeletionTimestamp == nil
}

// manageReplicas creates or deletes pods until the ReplicaSet has as many
// active pods as it asks for. A pod that failed (or completed) is not
// active: it is replaced, and deleted as the pod garbage collector would.
func (c *Controller) manageReplicas(rs *appsv1.ReplicaSet, now time.Time) {
	var active []*v1.Pod
	for _, p := range c.podsOf(rs) {
		if isActive(p) {
			active = append(active, p)
			continue
		}
		if p.DeletionTimestamp == nil {
			c.deletePod(p)
		}
	}
	diff := len(active) - int(replicasOf(rs.Spec.Replicas))
	switch {
	case diff < 0:
		if r, ok := c.manageErrs[rs.UID]; ok && r.err != nil && r.sync == c.syncs {
			// Refused once in this sync already: upstream tries again
			// when the ReplicaSet is requeued, not at once.
			return
		}
		for i := 0; i < min(-diff, burstReplicas); i++ {
			p := c.newPod(rs, now)
			if err := c.admit(p); err != nil {
				// Upstream's slow start stops at the first refusal; the
				// error is the ReplicaFailure condition's message.
				c.rsrec.Event(rsRef(rs), v1.EventTypeWarning, "FailedCreate", "Error creating: "+err.Error())
				c.manageErrs[rs.UID] = manageResult{err: err, sync: c.syncs}
				return
			}
			c.pods[p.Namespace+"/"+p.Name] = p
			c.changed = true
			c.rsrec.Event(rsRef(rs), v1.EventTypeNormal, "SuccessfulCreate", "Created pod: "+p.Name)
		}
	case diff > 0:
		rankForDeletion(active, now)
		for _, p := range active[:min(diff, burstReplicas)] {
			c.deletePod(p)
			c.rsrec.Event(rsRef(rs), v1.EventTypeNormal, "SuccessfulDelete", "Deleted pod: "+p.Name)
		}
	}
	c.manageErrs[rs.UID] = manageResult{sync: c.syncs}
}

// manageResult is how a ReplicaSet's last manageReplicas ended, and in
// which sync.
type manageResult struct {
	err  error
	sync int
}

// admit refuses a pod the ReplicaSet controller creates as the API
// server's admission would: the Priority plugin (the pod has no name yet
// when admission sees it, only its generateName).
func (c *Controller) admit(p *v1.Pod) error {
	return kuberules.CheckPriority(&v1.Pod{ObjectMeta: metav1.ObjectMeta{GenerateName: p.GenerateName}, Spec: p.Spec})
}

func rsRef(rs *appsv1.ReplicaSet) *v1.ObjectReference {
	return &v1.ObjectReference{Kind: "ReplicaSet", APIVersion: "apps/v1", Namespace: rs.Namespace, Name: rs.Name, UID: rs.UID}
}

// rankForDeletion orders pods so the ones to delete come first, as
// upstream's ActivePods ordering on one node: pending before running, not
// ready before ready, ready for less time first, more restarts first,
// newer first.
func rankForDeletion(pods []*v1.Pod, now time.Time) {
	phaseRank := map[v1.PodPhase]int{v1.PodPending: 0, v1.PodUnknown: 1, v1.PodRunning: 2}
	sort.SliceStable(pods, func(i, j int) bool {
		a, b := pods[i], pods[j]
		if pa, pb := phaseRank[a.Status.Phase], phaseRank[b.Status.Phase]; pa != pb {
			return pa < pb
		}
		ra, ta := readySince(a)
		rb, tb := readySince(b)
		if ra != rb {
			return !ra
		}
		if ra && !ta.Equal(tb) {
			return ta.After(tb)
		}
		if na, nb := restarts(a), restarts(b); na != nb {
			return na > nb
		}
		return b.CreationTimestamp.Before(&a.CreationTimestamp)
	})
}

func readySince(p *v1.Pod) (bool, time.Time) {
	for _, c := range p.Status.Conditions {
		if c.Type == v1.PodReady {
			return c.Status == v1.ConditionTrue, c.LastTransitionTime.Time
		}
	}
	return false, time.Time{}
}

func restarts(p *v1.Pod) int32 {
	var n int32
	for _, cs := range p.Status.ContainerStatuses {
		n = max(n, cs.RestartCount)
	}
	return n
}

// isAvailable: Ready for at least minReadySeconds. When it is ready but
// not yet for long enough, the controller wakes when it becomes available.
func (c *Controller) isAvailable(p *v1.Pod, minReady int32, now time.Time) bool {
	ready, since := readySince(p)
	if !ready {
		return false
	}
	if minReady == 0 {
		return true
	}
	at := since.Add(time.Duration(minReady) * time.Second)
	if at.After(now) {
		c.wakeAt(at)
		return false
	}
	return true
}

// updateReplicaSetStatus counts the ReplicaSet's pods.
func (c *Controller) updateReplicaSetStatus(rs *appsv1.ReplicaSet, now time.Time) {
	tmpl := labels.SelectorFromSet(rs.Spec.Template.Labels)
	s := appsv1.ReplicaSetStatus{ObservedGeneration: rs.Generation, Conditions: rs.Status.Conditions}
	for _, p := range c.podsOf(rs) {
		if !isActive(p) {
			continue
		}
		s.Replicas++
		if tmpl.Matches(labels.Set(p.Labels)) {
			s.FullyLabeledReplicas++
		}
		if ready, _ := readySince(p); ready {
			s.ReadyReplicas++
			if c.isAvailable(p, rs.Spec.MinReadySeconds, now) {
				s.AvailableReplicas++
			}
		}
	}
	// The ReplicaFailure condition of upstream's calculateStatus: set
	// while creating pods fails, removed once it works (known only after
	// the controller managed the ReplicaSet since it started).
	if r, ok := c.manageErrs[rs.UID]; ok {
		i := slices.IndexFunc(s.Conditions, func(c appsv1.ReplicaSetCondition) bool { return c.Type == appsv1.ReplicaSetReplicaFailure })
		switch {
		case r.err != nil && i < 0:
			s.Conditions = append(slices.Clone(s.Conditions), appsv1.ReplicaSetCondition{Type: appsv1.ReplicaSetReplicaFailure,
				Status: v1.ConditionTrue, Reason: "FailedCreate", Message: r.err.Error(), LastTransitionTime: metav1.NewTime(now)})
		case r.err == nil && i >= 0:
			s.Conditions = slices.Delete(slices.Clone(s.Conditions), i, i+1)
		}
	}
	if !rsStatusEqual(&rs.Status, &s) {
		rs.Status = s
		c.changed = true
	}
}

func rsStatusEqual(a, b *appsv1.ReplicaSetStatus) bool {
	return a.Replicas == b.Replicas && a.FullyLabeledReplicas == b.FullyLabeledReplicas && a.ReadyReplicas == b.ReadyReplicas &&
		a.AvailableReplicas == b.AvailableReplicas && a.ObservedGeneration == b.ObservedGeneration &&
		slices.EqualFunc(a.Conditions, b.Conditions, func(x, y appsv1.ReplicaSetCondition) bool {
			return x.Type == y.Type && x.Status == y.Status && x.Reason == y.Reason && x.Message == y.Message
		})
}

func statusEqual(a, b *appsv1.DeploymentStatus) bool {
	if a.ObservedGeneration != b.ObservedGeneration || a.Replicas != b.Replicas || a.UpdatedReplicas != b.UpdatedReplicas ||
		a.ReadyReplicas != b.ReadyReplicas || a.AvailableReplicas != b.AvailableReplicas ||
		a.UnavailableReplicas != b.UnavailableReplicas || ptr.Deref(a.CollisionCount, -1) != ptr.Deref(b.CollisionCount, -1) ||
		len(a.Conditions) != len(b.Conditions) {
		return false
	}
	for i := range a.Conditions {
		x, y := a.Conditions[i], b.Conditions[i]
		if x.Type != y.Type || x.Status != y.Status || x.Reason != y.Reason || x.Message != y.Message ||
			!x.LastUpdateTime.Equal(&y.LastUpdateTime) || !x.LastTransitionTime.Equal(&y.LastTransitionTime) {
			return false
		}
	}
	return true
}

// newPod makes a pod from the ReplicaSet's template, as the API server
// would store it: generated name, a fresh UID, the controller reference,
// defaults and the node (the API adds what admission adds where it serves
// every pod).
func (c *Controller) newPod(rs *appsv1.ReplicaSet, now time.Time) *v1.Pod {
	t := rs.Spec.Template.DeepCopy()
	name := generateName(rs.Name + "-")
	for c.pods[rs.Namespace+"/"+name] != nil {
		name = generateName(rs.Name + "-")
	}
	p := &v1.Pod{
		TypeMeta: metav1.TypeMeta{APIVersion: "v1", Kind: "Pod"},
		ObjectMeta: metav1.ObjectMeta{
			Name: name, GenerateName: rs.Name + "-", Namespace: rs.Namespace, UID: uuid.NewUUID(),
			CreationTimestamp: metav1.NewTime(now),
			Labels:            t.Labels, Annotations: t.Annotations,
			OwnerReferences: []metav1.OwnerReference{controllerRef(rs.ObjectMeta, "ReplicaSet")},
		},
		Spec: t.Spec,
	}
	source.SetPodDefaults(p)
	p.Spec.NodeName = c.cfg.NodeName
	p.Status.Phase = v1.PodPending
	return p
}
