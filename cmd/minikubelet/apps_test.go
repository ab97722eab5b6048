package main

import (
	"strings"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	"k8s.io/utils/ptr"
)

func TestAppsNames(t *testing.T) {
	for _, tc := range []struct {
		args  []string
		kind  appsKind
		names string
		ok    bool
		err   bool
	}{
		{[]string{"deploy"}, kindDeployment, "", true, false},
		{[]string{"deployments", "a", "b"}, kindDeployment, "a,b", true, false},
		{[]string{"deployment.apps/web"}, kindDeployment, "web", true, false},
		{[]string{"rs/x", "replicaset/y"}, kindReplicaSet, "x,y", true, false},
		{[]string{"deploy/x", "rs/y"}, "", "", true, true},
		{[]string{"pods"}, "", "", false, false},
		{[]string{"svc/web"}, "", "", false, false},
	} {
		kind, names, ok, err := appsNames(tc.args)
		if kind != tc.kind || strings.Join(names, ",") != tc.names || ok != tc.ok || (err != nil) != tc.err {
			t.Errorf("%v: %q %v %v %v", tc.args, kind, names, ok, err)
		}
	}
}

// kubectl's DeploymentStatusViewer messages.
func TestRolloutStatus(t *testing.T) {
	d := func(gen, observed int64, replicas, updated, total, available int32) *appsv1.Deployment {
		x := &appsv1.Deployment{}
		x.Name, x.Generation = "web", gen
		x.Spec.Replicas = ptr.To(replicas)
		x.Status = appsv1.DeploymentStatus{ObservedGeneration: observed, UpdatedReplicas: updated, Replicas: total, AvailableReplicas: available}
		return x
	}
	for _, tc := range []struct {
		d    *appsv1.Deployment
		want string
		done bool
	}{
		{d(2, 1, 3, 3, 3, 3), "Waiting for deployment spec update to be observed...", false},
		{d(2, 2, 3, 1, 4, 3), `Waiting for deployment "web" rollout to finish: 1 out of 3 new replicas have been updated...`, false},
		{d(2, 2, 3, 3, 4, 3), `Waiting for deployment "web" rollout to finish: 1 old replicas are pending termination...`, false},
		{d(2, 2, 3, 3, 3, 2), `Waiting for deployment "web" rollout to finish: 2 of 3 updated replicas are available...`, false},
		{d(2, 2, 3, 3, 3, 3), `deployment "web" successfully rolled out`, true},
	} {
		msg, done, err := rolloutStatus(tc.d)
		if err != nil || msg != tc.want || done != tc.done {
			t.Errorf("%+v: %q %v %v, want %q %v", tc.d.Status, msg, done, err, tc.want, tc.done)
		}
	}
	timedOut := d(1, 1, 3, 1, 3, 1)
	timedOut.Status.Conditions = []appsv1.DeploymentCondition{{Type: appsv1.DeploymentProgressing, Reason: "ProgressDeadlineExceeded"}}
	if _, _, err := rolloutStatus(timedOut); err == nil || err.Error() != `deployment "web" exceeded its progress deadline` {
		t.Errorf("timed out: %v", err)
	}
}
