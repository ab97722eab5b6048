package controllers

import (
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/utils/ptr"
)

func testDeployment(replicas int32, surge, unavailable intstr.IntOrString) *appsv1.Deployment {
	return &appsv1.Deployment{
		ObjectMeta: metav1.ObjectMeta{Name: "foo", Namespace: "default", UID: "d-uid"},
		Spec: appsv1.DeploymentSpec{
			Replicas: ptr.To(replicas),
			Selector: &metav1.LabelSelector{MatchLabels: map[string]string{"foo": "bar"}},
			Strategy: appsv1.DeploymentStrategy{Type: appsv1.RollingUpdateDeploymentStrategyType,
				RollingUpdate: &appsv1.RollingUpdateDeployment{MaxSurge: &surge, MaxUnavailable: &unavailable}},
		},
	}
}

func testRS(name string, replicas, available int32) *appsv1.ReplicaSet {
	return &appsv1.ReplicaSet{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: "default"},
		Spec:       appsv1.ReplicaSetSpec{Replicas: ptr.To(replicas)},
		Status:     appsv1.ReplicaSetStatus{Replicas: replicas, AvailableReplicas: available},
	}
}

// Cases of upstream's TestResolveFenceposts and the 25% defaults.
func TestResolveFenceposts(t *testing.T) {
	for _, tc := range []struct {
		surge, unavailable  intstr.IntOrString
		desired             int32
		wantSurge, wantUnav int32
	}{
		{intstr.FromString("0%"), intstr.FromString("0%"), 0, 0, 1},
		{intstr.FromString("39%"), intstr.FromString("39%"), 10, 4, 3},
		{intstr.FromString("oops"), intstr.FromString("39%"), 10, 0, 0},
		{intstr.FromString("55%"), intstr.FromString("urg"), 10, 0, 0},
		{intstr.FromString("25%"), intstr.FromString("25%"), 10, 3, 2},
		{intstr.FromString("25%"), intstr.FromString("25%"), 2, 1, 0},
		{intstr.FromString("25%"), intstr.FromString("25%"), 1, 1, 0},
		{intstr.FromString("25%"), intstr.FromString("25%"), 20, 5, 5},
		{intstr.FromInt32(0), intstr.FromInt32(0), 5, 0, 1},
		{intstr.FromInt32(2), intstr.FromString("50%"), 3, 2, 1},
	} {
		s, u, err := resolveFenceposts(&tc.surge, &tc.unavailable, tc.desired)
		bad := tc.surge.String() == "oops" || tc.unavailable.String() == "urg"
		if bad != (err != nil) {
			t.Errorf("%v/%v/%d: err = %v", tc.surge.String(), tc.unavailable.String(), tc.desired, err)
			continue
		}
		if !bad && (s != tc.wantSurge || u != tc.wantUnav) {
			t.Errorf("%v/%v/%d: surge %d unavailable %d, want %d %d", tc.surge.String(), tc.unavailable.String(), tc.desired, s, u, tc.wantSurge, tc.wantUnav)
		}
	}
}

// The table of upstream's TestDeploymentController_reconcileNewReplicaSet.
func TestNewRSNewReplicas(t *testing.T) {
	for i, tc := range []struct {
		replicas, surge, old, new int32
		want                      int32
	}{
		{10, 0, 10, 0, 0},
		{10, 2, 10, 0, 2},
		{10, 2, 5, 0, 7},
		{10, 2, 10, 2, 2},
	} {
		d := testDeployment(tc.replicas, intstr.FromInt32(tc.surge), intstr.FromInt32(0))
		newRS, oldRS := testRS("new", tc.new, 0), testRS("old", tc.old, 0)
		if got := newRSNewReplicas(d, []*appsv1.ReplicaSet{newRS, oldRS}, newRS); got != tc.want {
			t.Errorf("case %d: new replica set size %d, want %d", i, got, tc.want)
		}
	}
}

// The table of upstream's TestDeploymentController_reconcileOldReplicaSets
// (maxSurge 0): the old ReplicaSet's size after one step.
func TestPlanOldScaleDown(t *testing.T) {
	for i, tc := range []struct {
		replicas, unavailable, old, new int32
		oldAvailable, newAvailable      int32
		want                            int32 // -1: no scaling
	}{
		{10, 0, 10, 0, 10, 0, 9},
		{10, 2, 10, 0, 10, 0, 8},
		{10, 2, 10, 0, 8, 0, 8},
		{10, 2, 10, 0, 9, 0, 8},
		{10, 2, 8, 2, 8, 0, -1},
	} {
		d := testDeployment(tc.replicas, intstr.FromInt32(0), intstr.FromInt32(tc.unavailable))
		newRS, oldRS := testRS("new", tc.new, tc.newAvailable), testRS("old", tc.old, tc.oldAvailable)
		plan := planOldScaleDown([]*appsv1.ReplicaSet{oldRS, newRS}, []*appsv1.ReplicaSet{oldRS}, newRS, d)
		got := int32(-1)
		for _, s := range plan {
			if s.size != replicasOf(s.rs.Spec.Replicas) {
				got = s.size
			}
		}
		if got != tc.want {
			t.Errorf("case %d: old replica set scaled to %d, want %d (plan %+v)", i, got, tc.want, plan)
		}
	}
}

// A Deployment of 4 (25%/25%: surge 1, unavailable 1) rolled from old to
// new, one step at a time, with every pod becoming available at once:
// never more than 5 pods, never fewer than 3 available.
func TestRollingUpdateSteps(t *testing.T) {
	c := newTestController(t)
	d := testDeployment(4, intstr.FromString("25%"), intstr.FromString("25%"))
	oldRS, newRS := testRS("old", 4, 4), testRS("new", 0, 0)
	all := []*appsv1.ReplicaSet{oldRS, newRS}
	for step := 0; step < 20 && (replicasOf(newRS.Spec.Replicas) != 4 || replicasOf(oldRS.Spec.Replicas) != 0); step++ {
		if !c.reconcileNewReplicaSet(all, newRS, d) {
			c.reconcileOldReplicaSets(all, activeReplicaSets([]*appsv1.ReplicaSet{oldRS}), newRS, d)
		}
		total := replicasOf(oldRS.Spec.Replicas) + replicasOf(newRS.Spec.Replicas)
		if total > 5 {
			t.Fatalf("step %d: %d pods, more than replicas+maxSurge", step, total)
		}
		// Pods go away at once and the new ones become available.
		for _, rs := range all {
			rs.Status.Replicas = replicasOf(rs.Spec.Replicas)
			rs.Status.AvailableReplicas = rs.Status.Replicas
		}
		if avail := availableReplicas(all); avail < 3 {
			t.Fatalf("step %d: %d available, fewer than replicas-maxUnavailable", step, avail)
		}
	}
	if replicasOf(newRS.Spec.Replicas) != 4 || replicasOf(oldRS.Spec.Replicas) != 0 {
		t.Fatalf("rollout did not finish: new %d old %d", replicasOf(newRS.Spec.Replicas), replicasOf(oldRS.Spec.Replicas))
	}
}

// Proportional scaling while two ReplicaSets are active (upstream's
// TestScale "proportional scaling: 5 -> 10" style cases).
func TestScaleProportionally(t *testing.T) {
	for _, tc := range []struct {
		name               string
		from, to           int32
		old, new           int32
		wantOld, wantNew   int32
		surge, unavailable intstr.IntOrString
	}{
		{"up 10 -> 20", 10, 20, 5, 5, 10, 10, intstr.FromInt32(0), intstr.FromInt32(1)},
		{"down 10 -> 5", 10, 5, 6, 4, 3, 2, intstr.FromInt32(0), intstr.FromInt32(1)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := newTestController(t)
			d := testDeployment(tc.to, tc.surge, tc.unavailable)
			d.Status.Replicas = tc.from
			oldRS, newRS := testRS("old", tc.old, tc.old), testRS("new", tc.new, tc.new)
			newRS.CreationTimestamp = metav1.Now()
			for _, rs := range []*appsv1.ReplicaSet{oldRS, newRS} {
				setReplicasAnnotations(rs, tc.from, tc.from)
			}
			c.scale(d, newRS, []*appsv1.ReplicaSet{oldRS})
			if o, n := replicasOf(oldRS.Spec.Replicas), replicasOf(newRS.Spec.Replicas); o != tc.wantOld || n != tc.wantNew {
				t.Errorf("old %d new %d, want %d %d", o, n, tc.wantOld, tc.wantNew)
			}
		})
	}
}
