package printers

import (
	"bytes"
	"strings"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	v1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	kptr "k8s.io/utils/ptr"
)

func labDeployment(now time.Time) *appsv1.Deployment {
	return &appsv1.Deployment{
		ObjectMeta: metav1.ObjectMeta{Name: "deployment-example", Namespace: "default", UID: "d1",
			CreationTimestamp: metav1.NewTime(now.Add(-5 * time.Second)),
			Annotations:       map[string]string{"deployment.kubernetes.io/revision": "1"}},
		Spec: appsv1.DeploymentSpec{
			Replicas: kptr.To[int32](2),
			Selector: &metav1.LabelSelector{MatchLabels: map[string]string{"app": "myapp"}},
			Strategy: appsv1.DeploymentStrategy{Type: appsv1.RollingUpdateDeploymentStrategyType, RollingUpdate: &appsv1.RollingUpdateDeployment{
				MaxSurge: kptr.To(intstr.FromString("25%")), MaxUnavailable: kptr.To(intstr.FromString("25%"))}},
			Template: v1.PodTemplateSpec{
				ObjectMeta: metav1.ObjectMeta{Labels: map[string]string{"app": "myapp"}},
				Spec:       v1.PodSpec{Containers: []v1.Container{{Name: "nginx", Image: "myapp:v2"}}},
			},
		},
		Status: appsv1.DeploymentStatus{Replicas: 2, UpdatedReplicas: 2, ReadyReplicas: 2, AvailableReplicas: 2,
			Conditions: []appsv1.DeploymentCondition{
				{Type: appsv1.DeploymentAvailable, Status: v1.ConditionTrue, Reason: "MinimumReplicasAvailable"},
				{Type: appsv1.DeploymentProgressing, Status: v1.ConditionTrue, Reason: "NewReplicaSetAvailable"},
			}},
	}
}

func TestDeploymentTables(t *testing.T) {
	now := time.Now()
	d := labDeployment(now)
	var b bytes.Buffer
	if err := PrintDeployments(&b, []*appsv1.Deployment{d}, Options{Now: now, Wide: true}); err != nil {
		t.Fatal(err)
	}
	want := "NAME                 READY   UP-TO-DATE   AVAILABLE   AGE   CONTAINERS   IMAGES     SELECTOR\n" +
		"deployment-example   2/2     2            2           5s    nginx        myapp:v2   app=myapp\n"
	if b.String() != want {
		t.Errorf("get deploy -o wide:\n%s\nwant:\n%s", b.String(), want)
	}
	rs := &appsv1.ReplicaSet{
		ObjectMeta: metav1.ObjectMeta{Name: "deployment-example-5c9fb4c54c", Namespace: "default", CreationTimestamp: metav1.NewTime(now.Add(-5 * time.Second)),
			OwnerReferences: []metav1.OwnerReference{{Kind: "Deployment", Name: "deployment-example", UID: "d1", Controller: kptr.To(true)}}},
		Spec:   appsv1.ReplicaSetSpec{Replicas: kptr.To[int32](2), Template: d.Spec.Template, Selector: d.Spec.Selector},
		Status: appsv1.ReplicaSetStatus{Replicas: 2, ReadyReplicas: 1},
	}
	b.Reset()
	if err := PrintReplicaSets(&b, []*appsv1.ReplicaSet{rs}, Options{Now: now}); err != nil {
		t.Fatal(err)
	}
	want = "NAME                            DESIRED   CURRENT   READY   AGE\n" +
		"deployment-example-5c9fb4c54c   2         2         1       5s\n"
	if b.String() != want {
		t.Errorf("get rs:\n%s\nwant:\n%s", b.String(), want)
	}

	b.Reset()
	if err := DescribeDeployment(&b, d, []*appsv1.ReplicaSet{rs}, nil, now); err != nil {
		t.Fatal(err)
	}
	for _, line := range []string{
		"Name:                   deployment-example\n",
		"Selector:               app=myapp\n",
		"Replicas:               2 desired | 2 updated | 2 total | 2 available | 0 unavailable\n",
		"StrategyType:           RollingUpdate\n",
		"RollingUpdateStrategy:  25% max unavailable, 25% max surge\n",
		"Pod Template:\n  Labels:  app=myapp\n  Containers:\n   nginx:\n    Image:         myapp:v2\n",
		"  Available      True    MinimumReplicasAvailable\n",
		"OldReplicaSets:  <none>\n",
		"NewReplicaSet:   deployment-example-5c9fb4c54c (2/2 replicas created)\n",
		"Events:          <none>\n",
	} {
		if !strings.Contains(b.String(), line) {
			t.Errorf("describe deployment lacks %q:\n%s", line, b.String())
		}
	}
	b.Reset()
	if err := DescribeReplicaSet(&b, rs, nil, nil, now); err != nil {
		t.Fatal(err)
	}
	for _, line := range []string{"Controlled By:  Deployment/deployment-example\n", "Replicas:       2 current / 2 desired\n",
		"Pods Status:    0 Running / 0 Waiting / 0 Succeeded / 0 Failed\n"} {
		if !strings.Contains(b.String(), line) {
			t.Errorf("describe rs lacks %q:\n%s", line, b.String())
		}
	}
}

func TestRolloutHistory(t *testing.T) {
	var b bytes.Buffer
	if err := RolloutHistory(&b, "deployment.apps", "web", []int64{3, 2}, []string{"", "kubectl set image"}); err != nil {
		t.Fatal(err)
	}
	want := "deployment.apps/web \nREVISION  CHANGE-CAUSE\n2         kubectl set image\n3         <none>\n\n"
	if b.String() != want {
		t.Errorf("history:\n%q\nwant\n%q", b.String(), want)
	}
}
