//go:build integration

package agent

import (
	"context"
	"fmt"
	"regexp"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	v1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/minikubelet/minikubelet/api"
	"github.com/minikubelet/minikubelet/internal/testenv"
)

// webDeployment is a Deployment of busybox httpd pods answering their
// version, ready once httpd answers.
const webDeployment = `apiVersion: apps/v1
kind: Deployment
metadata:
  name: web
spec:
  replicas: %d
  selector:
    matchLabels: {app: web}
  template:
    metadata:
      labels: {app: web}
    spec:
      terminationGracePeriodSeconds: 1
      containers:
      - name: httpd
        image: busybox:latest
        command: ['sh', '-c', 'mkdir -p /www && echo %s > /www/index.html && exec httpd -f -p 8080 -h /www']
        readinessProbe:
          httpGet: {path: /, port: 8080}
          periodSeconds: 1
`

// webPods lists the running pods of the Deployment web (not terminating).
func (a *testAgent) deploymentPods(prefix string) []*v1.Pod {
	list, err := a.client.ListPods(context.Background(), "default", api.ListOptions{LabelSelector: "app=web"})
	if err != nil {
		a.t.Fatal(err)
	}
	var out []*v1.Pod
	for i := range list.Items {
		p := &list.Items[i]
		if strings.HasPrefix(p.Name, prefix) && p.DeletionTimestamp == nil {
			out = append(out, p)
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out
}

// waitDeployment polls until the Deployment's pods are n, all ready, all
// of the current template, and its status says so; with a generation
// above the last one this agent saw, so that a change not yet read from
// the manifests does not pass for done.
func (a *testAgent) waitDeployment(name string, n int32, what string) *appsv1.Deployment {
	return a.waitDeploymentAfter(name, n, what, 0)
}

func (a *testAgent) waitDeploymentAfter(name string, n int32, what string, generation int64) *appsv1.Deployment {
	a.t.Helper()
	var last *appsv1.Deployment
	var err error
	deadline := time.Now().Add(2 * time.Minute)
	for time.Now().Before(deadline) {
		last, err = a.client.GetDeployment(context.Background(), "default", name)
		if err == nil {
			s := last.Status
			if last.Generation > generation && s.ObservedGeneration >= last.Generation && s.Replicas == n && s.UpdatedReplicas == n && s.AvailableReplicas == n &&
				s.ReadyReplicas == n && len(a.deploymentPods(name+"-")) == int(n) {
				return last
			}
		}
		time.Sleep(200 * time.Millisecond)
	}
	a.t.Fatalf("deployment %s: timed out waiting for %s: %+v %v (pods %v)", name, what, last, err, podNames(a.deploymentPods(name+"-")))
	return nil
}

// samePods checks that the Deployment web's running pods are before's,
// with the same containers, never restarted, and returns them.
func (a *testAgent) samePods(before []*v1.Pod, what string) []*v1.Pod {
	a.t.Helper()
	now := a.deploymentPods("web-")
	if strings.Join(podNames(now), ",") != strings.Join(podNames(before), ",") {
		a.t.Fatalf("%s: pods %v, before %v", what, podNames(now), podNames(before))
	}
	for i := range now {
		if now[i].UID != before[i].UID || len(before[i].Status.ContainerStatuses) == 0 {
			a.t.Errorf("%s: pod %s not kept as it was: uid %s -> %s, containers before %d", what, now[i].Name,
				before[i].UID, now[i].UID, len(before[i].Status.ContainerStatuses))
		}
		for _, b := range before[i].Status.ContainerStatuses {
			if c := cstatus(now[i], b.Name); b.ContainerID != c.ContainerID || c.RestartCount != 0 {
				a.t.Errorf("%s: pod %s not kept as it was: %+v -> %+v", what, now[i].Name, b, c)
			}
		}
	}
	return now
}

func podNames(pods []*v1.Pod) []string {
	var out []string
	for _, p := range pods {
		out = append(out, p.Name)
	}
	return out
}

// Scale up and down (the file and the API), a deleted pod replaced, a
// rolling update that never goes beyond maxSurge, an undo, an agent
// restart that adopts the Deployment's pods without restarting any, and
// a reboot after which they start again.
func TestDeploymentOnContainerd(t *testing.T) {
	env := testenv.New(t)
	cfg := testConfig(t, env)
	a := startAgent(t, cfg)
	ctx := context.Background()

	a.write("web.yaml", fmt.Sprintf(webDeployment, 3, "v1"))
	d := a.waitDeployment("web", 3, "3 ready pods")
	rss, err := a.client.ListReplicaSets(ctx, "default", "")
	if err != nil || len(rss.Items) != 1 {
		t.Fatalf("replica sets: %v %v", rss, err)
	}
	rs1 := rss.Items[0]
	hash := rs1.Labels["pod-template-hash"]
	if rs1.Name != "web-"+hash || *rs1.Spec.Replicas != 3 || rs1.Status.ReadyReplicas != 3 {
		t.Errorf("replica set %s: %+v", rs1.Name, rs1.Status)
	}
	if ref := metav1.GetControllerOf(&rs1); ref == nil || ref.UID != d.UID {
		t.Errorf("replica set owner %+v, deployment uid %s", ref, d.UID)
	}
	name := regexp.MustCompile(`^web-` + hash + `-[bcdfghjklmnpqrstvwxz2456789]{5}$`)
	for _, p := range a.deploymentPods("web-") {
		if !name.MatchString(p.Name) {
			t.Errorf("pod name %q", p.Name)
		}
		if ref := metav1.GetControllerOf(p); ref == nil || ref.UID != rs1.UID {
			t.Errorf("pod %s owner %+v", p.Name, ref)
		}
	}

	// Scale down by editing the file, up through the API (kubectl scale).
	a.write("web.yaml", fmt.Sprintf(webDeployment, 1, "v1"))
	d = a.waitDeploymentAfter("web", 1, "scaled down to 1", d.Generation)
	if err := a.client.ScaleDeployment(ctx, "default", "web", 3); err != nil {
		t.Fatal(err)
	}
	d = a.waitDeploymentAfter("web", 3, "scaled up to 3", d.Generation)
	if evs := a.events("web"); !hasEvent(evs, "ScalingReplicaSet", "Scaled down replica set web-"+hash+" from 3 to 1") ||
		!hasEvent(evs, "ScalingReplicaSet", "Scaled up replica set web-"+hash+" from 1 to 3") {
		t.Errorf("deployment events: %v", evs)
	}

	// A pod deleted under the ReplicaSet is replaced.
	victim := a.deploymentPods("web-")[0]
	if _, err := a.client.DeletePod(ctx, "default", victim.Name); err != nil {
		t.Fatal(err)
	}
	a.waitGone(victim.Name, time.Minute)
	a.waitDeployment("web", 3, "a replacement pod")
	if evs := a.events(rs1.Name); !hasEvent(evs, "SuccessfulCreate", "Created pod: ") || !hasEvent(evs, "SuccessfulDelete", "Deleted pod: ") {
		t.Errorf("replica set events: %v", evs)
	}

	// Rolling update to v2: never more than replicas+maxSurge (3+1) pods
	// in the ReplicaSets at once, never fewer than replicas-maxUnavailable
	// available (25% of 3 rounds down to 0 unavailable). Counted from the
	// ReplicaSets: a pod the controller deleted stays listed, not yet
	// terminating, until its worker publishes its deletionTimestamp.
	stop := make(chan struct{})
	peak := make(chan [2]int32, 1)
	go func() {
		most, fewest := int32(0), int32(99)
		for {
			select {
			case <-stop:
				peak <- [2]int32{most, fewest}
				return
			case <-time.After(50 * time.Millisecond):
			}
			list, err := a.client.ListReplicaSets(context.Background(), "default", "")
			if err != nil {
				continue
			}
			var pods, available int32
			for _, rs := range list.Items {
				pods += rs.Status.Replicas
				available += rs.Status.AvailableReplicas
			}
			most, fewest = max(most, pods), min(fewest, available)
		}
	}()
	a.write("web.yaml", fmt.Sprintf(webDeployment, 3, "v2"))
	d = a.waitDeploymentAfter("web", 3, "rolled to v2", d.Generation)
	close(stop)
	p := <-peak
	if p[0] > 4 || p[1] < 3 {
		t.Errorf("during the rollout: up to %d pods, as few as %d available; want at most 4 and at least 3", p[0], p[1])
	}
	if d.Annotations["deployment.kubernetes.io/revision"] != "2" {
		t.Errorf("revision %q", d.Annotations["deployment.kubernetes.io/revision"])
	}
	for _, p := range a.deploymentPods("web-") {
		if strings.HasPrefix(p.Name, rs1.Name) || !strings.Contains(p.Spec.Containers[0].Command[2], "echo v2") {
			t.Errorf("pod %s is not of v2", p.Name)
		}
	}

	// Undo: back to the first ReplicaSet, now revision 3.
	if msg, err := a.client.Rollout(ctx, "default", "web", "undo", 0); err != nil || msg != "rolled back" {
		t.Fatalf("undo: %q %v", msg, err)
	}
	a.waitDeploymentAfter("web", 3, "rolled back to v1", d.Generation)
	back, err := a.client.GetReplicaSet(ctx, "default", rs1.Name)
	if err != nil || *back.Spec.Replicas != 3 || back.Annotations["deployment.kubernetes.io/revision"] != "3" {
		t.Fatalf("undo did not bring back %s: %+v %v", rs1.Name, back, err)
	}

	// An agent restart adopts every pod as it is.
	before := a.deploymentPods("web-")
	a.stop()
	a = startAgent(t, cfg)
	time.Sleep(3 * time.Second) // a few controller passes and pod syncs
	a.waitDeployment("web", 3, "the same 3 pods after a restart")
	now := a.samePods(before, "after a restart")

	// A reboot: containerd has lost every container. The agent starts the
	// ReplicaSets' pods again from its state: the same pods (names, UIDs),
	// new containers.
	a.stop()
	for _, p := range now {
		if err := env.RemovePod(ctx, p.UID); err != nil {
			t.Fatal(err)
		}
	}
	a = startAgent(t, cfg)
	a.waitDeployment("web", 3, "the same 3 pods started again after a reboot")
	again := a.deploymentPods("web-")
	if strings.Join(podNames(again), ",") != strings.Join(podNames(now), ",") {
		t.Fatalf("pods after the reboot %v, before %v", podNames(again), podNames(now))
	}
	for i := range again {
		if again[i].UID != now[i].UID || cstatus(again[i], "httpd").ContainerID == cstatus(now[i], "httpd").ContainerID {
			t.Errorf("pod %s after the reboot: uid %s container %s", again[i].Name, again[i].UID, cstatus(again[i], "httpd").ContainerID)
		}
	}
	now = again

	// Deleting the Deployment takes its ReplicaSets and pods.
	a.remove("web.yaml")
	for _, p := range now {
		a.waitGone(p.Name, time.Minute)
	}
	for _, p := range now {
		env.AssertPodGone(t, p)
	}
	if rss, _ := a.client.ListReplicaSets(ctx, "default", ""); rss != nil && len(rss.Items) != 0 {
		t.Errorf("replica sets left: %d", len(rss.Items))
	}
}

// markerDeployment is a Deployment of no pods: once the API serves it, the
// controllers have taken up a snapshot of the manifests that holds every
// file written before it.
const markerDeployment = `apiVersion: apps/v1
kind: Deployment
metadata:
  name: marker%d
spec:
  replicas: 0
  selector:
    matchLabels: {app: marker}
  template:
    metadata:
      labels: {app: marker}
    spec:
      containers:
      - name: c
        image: busybox:latest
`

// waitMarker writes marker Deployment n and waits until the API serves it.
func (a *testAgent) waitMarker(n int) {
	a.t.Helper()
	a.write(fmt.Sprintf("marker%d.yaml", n), fmt.Sprintf(markerDeployment, n))
	deadline := time.Now().Add(time.Minute)
	for time.Now().Before(deadline) {
		if _, err := a.client.GetDeployment(context.Background(), "default", fmt.Sprintf("marker%d", n)); err == nil {
			return
		}
		time.Sleep(100 * time.Millisecond)
	}
	a.t.Fatalf("marker deployment %d never served", n)
}

// A Deployment whose file turns invalid (a field the API server would
// refuse, then YAML that does not parse) keeps its ReplicaSet and pods as
// they were, also across an agent restart, with the file's problem
// reported; once the file is valid again it is the same Deployment, and
// only removing the file deletes its pods.
func TestDeploymentBrokenManifestOnContainerd(t *testing.T) {
	env := testenv.New(t)
	cfg := testConfig(t, env)
	a := startAgent(t, cfg)
	ctx := context.Background()

	a.write("web.yaml", fmt.Sprintf(webDeployment, 2, "v1"))
	d := a.waitDeployment("web", 2, "2 ready pods")
	before := a.deploymentPods("web-")
	same := func(what string) {
		t.Helper()
		a.samePods(before, what)
		got, err := a.client.GetDeployment(ctx, "default", "web")
		if err != nil || got.UID != d.UID || *got.Spec.Replicas != 2 {
			t.Fatalf("%s: deployment %+v %v", what, got, err)
		}
	}

	// A bad edit: refused, the last valid Deployment keeps running, and
	// the problem names the file and the field.
	a.write("web.yaml", strings.Replace(fmt.Sprintf(webDeployment, 2, "v1"), "replicas: 2", "replicas: -1", 1))
	a.waitMarker(1)
	same("after an invalid edit")
	if evs := a.events("web.yaml"); !hasEvent(evs, "FailedValidation", "spec.replicas") {
		t.Errorf("no FailedValidation event naming spec.replicas for web.yaml: %v", evs)
	}

	// YAML that does not parse, and an agent restart while it is so: the
	// agent knows the ReplicaSet's Deployment from its file.
	a.write("web.yaml", "apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: web\nspec: [\n")
	a.waitMarker(2)
	same("after an unparsable edit")
	a.stop()
	a = startAgent(t, cfg)
	a.waitMarker(3)
	same("after a restart with the file unparsable")

	// Valid again: the same Deployment, scaled as the file now says.
	a.write("web.yaml", fmt.Sprintf(webDeployment, 3, "v1"))
	a.waitDeploymentAfter("web", 3, "scaled to 3 from the repaired file", d.Generation)
	now := a.deploymentPods("web-")
	for _, p := range before {
		if !slices.ContainsFunc(now, func(q *v1.Pod) bool { return q.UID == p.UID }) {
			t.Errorf("pod %s replaced after the file was repaired", p.Name)
		}
	}

	// Removing the file deletes them.
	a.remove("web.yaml")
	for _, p := range now {
		a.waitGone(p.Name, time.Minute)
	}
	for _, p := range now {
		env.AssertPodGone(t, p)
	}
}
