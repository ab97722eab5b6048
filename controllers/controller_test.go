package controllers

import (
	"context"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"go.uber.org/zap/zaptest"
	appsv1 "k8s.io/api/apps/v1"
	v1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/intstr"

	"github.com/minikubelet/minikubelet/events"
	"github.com/minikubelet/minikubelet/source"
	"github.com/minikubelet/minikubelet/status"
)

// fakeStatuses plays the pod workers: a pod is published when the test
// says so.
type fakeStatuses struct {
	mu   sync.Mutex
	pods map[types.UID]*v1.Pod
}

func (f *fakeStatuses) Get(uid types.UID) (*v1.Pod, bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	p, ok := f.pods[uid]
	if !ok {
		return nil, false
	}
	return p.DeepCopy(), true
}

func (f *fakeStatuses) Watch(ctx context.Context, buffer int) <-chan status.Event {
	return make(chan status.Event)
}

// run makes every pod Running and Ready since at, and forgets pods not in
// the set (their workers finished).
func (f *fakeStatuses) run(pods []*v1.Pod, at time.Time) {
	f.mu.Lock()
	defer f.mu.Unlock()
	keep := map[types.UID]bool{}
	for _, p := range pods {
		keep[p.UID] = true
		if _, ok := f.pods[p.UID]; ok {
			continue
		}
		cp := p.DeepCopy()
		cp.Status = v1.PodStatus{Phase: v1.PodRunning, Conditions: []v1.PodCondition{
			{Type: v1.PodReady, Status: v1.ConditionTrue, LastTransitionTime: metav1.NewTime(at)}}}
		f.pods[p.UID] = cp
	}
	for uid := range f.pods {
		if !keep[uid] {
			delete(f.pods, uid)
		}
	}
}

func newTestController(t *testing.T) *Controller {
	t.Helper()
	return newTestControllerIn(t, t.TempDir(), &fakeStatuses{pods: map[types.UID]*v1.Pod{}})
}

func newTestControllerIn(t *testing.T, root string, st PodStatuses) *Controller {
	t.Helper()
	log := zaptest.NewLogger(t)
	c, err := New(log, Config{StateDir: root + "/state", NodeName: "node1", Manifests: root + "/manifests"}, st,
		events.NewStore(log, "node1", 100))
	if err != nil {
		t.Fatal(err)
	}
	return c
}

const labDeploymentYAML = `apiVersion: apps/v1
kind: Deployment
metadata:
  name: deployment-example
spec:
  replicas: 2
  selector:
    matchLabels:
      app: myapp
  template:
    metadata:
      labels:
        app: myapp
    spec:
      containers:
      - name: nginx
        image: myapp:v2
`

func parseDeployment(t *testing.T, text string) *appsv1.Deployment {
	t.Helper()
	objs := source.Parse("d.yaml", []byte(text), "node1")
	if len(objs.Errors) > 0 || len(objs.Deployments) != 1 {
		t.Fatalf("parse: %v", objs.Errors)
	}
	d := objs.Deployments[0]
	d.CreationTimestamp = metav1.Now()
	return d
}

// settle syncs, lets the fake workers run every pod, and repeats until
// nothing changes.
func settle(t *testing.T, c *Controller, st *fakeStatuses, clock *time.Time) {
	t.Helper()
	for i := 0; i < 50; i++ {
		c.sync()
		before := c.published
		st.run(c.Pods(), *clock)
		*clock = clock.Add(time.Second)
		c.sync()
		if samePods(c.published, before) && !c.changed {
			return
		}
	}
	t.Fatal("did not settle")
}

func TestDeploymentLifecycle(t *testing.T) {
	st := &fakeStatuses{pods: map[types.UID]*v1.Pod{}}
	root := t.TempDir()
	c := newTestControllerIn(t, root, st)
	clock := time.Now()
	c.now = func() time.Time { return clock }
	d := parseDeployment(t, labDeploymentYAML)
	c.setDeployments([]*appsv1.Deployment{d}, nil)
	settle(t, c, st, &clock)

	pods := c.Pods()
	if len(pods) != 2 {
		t.Fatalf("pods = %d, want 2", len(pods))
	}
	rss := c.ListReplicaSets("default")
	if len(rss) != 1 {
		t.Fatalf("replica sets = %d", len(rss))
	}
	rs := rss[0]
	hash := rs.Labels[LabelPodTemplateHash]
	if rs.Name != "deployment-example-"+hash || len(hash) < 6 {
		t.Errorf("replica set name %q, hash %q", rs.Name, hash)
	}
	for _, p := range pods {
		if !strings.HasPrefix(p.Name, rs.Name+"-") || len(p.Name) != len(rs.Name)+6 {
			t.Errorf("pod name %q", p.Name)
		}
		ref := metav1.GetControllerOf(p)
		if ref == nil || ref.UID != rs.UID || ref.Kind != "ReplicaSet" || !*ref.BlockOwnerDeletion {
			t.Errorf("pod owner %+v", ref)
		}
		if p.Labels[LabelPodTemplateHash] != hash || p.Spec.NodeName != "node1" {
			t.Errorf("pod labels %v node %q", p.Labels, p.Spec.NodeName)
		}
	}
	if ref := metav1.GetControllerOf(rs); ref == nil || ref.UID != d.UID || ref.Kind != "Deployment" {
		t.Errorf("replica set owner %+v", ref)
	}
	got, _ := c.GetDeployment("default", "deployment-example")
	if s := got.Status; s.Replicas != 2 || s.UpdatedReplicas != 2 || s.ReadyReplicas != 2 || s.AvailableReplicas != 2 {
		t.Errorf("status %+v", s)
	}
	if cond := getCondition(&got.Status, appsv1.DeploymentProgressing); cond == nil || cond.Reason != reasonNewRSAvailable {
		t.Errorf("progressing %+v", cond)
	}
	if got.Annotations[AnnotationRevision] != "1" {
		t.Errorf("revision %q", got.Annotations[AnnotationRevision])
	}

	// A deleted pod is replaced.
	if found, err := c.deleteForTest(pods[0]); !found || err != nil {
		t.Fatal("pod not found")
	}
	settle(t, c, st, &clock)
	if now := c.Pods(); len(now) != 2 || now[0].UID == pods[0].UID && now[1].UID == pods[0].UID {
		t.Errorf("pods after delete: %v", names(now))
	}

	// A new template rolls: 2 new pods, none of the old, revision 2.
	d2 := parseDeployment(t, strings.Replace(labDeploymentYAML, "myapp:v2", "myapp:v1", 1))
	c.setDeployments([]*appsv1.Deployment{d2}, nil)
	settle(t, c, st, &clock)
	rss = c.ListReplicaSets("default")
	if len(rss) != 2 {
		t.Fatalf("replica sets %d", len(rss))
	}
	for _, p := range c.Pods() {
		if p.Spec.Containers[0].Image != "myapp:v1" {
			t.Errorf("old pod left: %s %s", p.Name, p.Spec.Containers[0].Image)
		}
	}
	got, _ = c.GetDeployment("default", "deployment-example")
	if got.Annotations[AnnotationRevision] != "2" || got.Status.UpdatedReplicas != 2 || got.Generation != 2 {
		t.Errorf("after rollout: revision %q status %+v generation %d", got.Annotations[AnnotationRevision], got.Status, got.Generation)
	}

	// Back to v2 (an undo): the old ReplicaSet is reused and takes revision 3.
	c.setDeployments([]*appsv1.Deployment{d}, nil)
	settle(t, c, st, &clock)
	if back, _ := c.GetReplicaSet("default", rs.Name); back == nil || back.Annotations[AnnotationRevision] != "3" ||
		back.Annotations[AnnotationRevisionHistory] != "1" || *back.Spec.Replicas != 2 {
		t.Errorf("reused replica set: %+v", back)
	}

	// Scaled to 0 then 3.
	for _, n := range []int32{0, 3} {
		ds := d.DeepCopy()
		ds.Spec.Replicas = &n
		c.setDeployments([]*appsv1.Deployment{ds}, nil)
		settle(t, c, st, &clock)
		if len(c.Pods()) != int(n) {
			t.Errorf("scaled to %d: %d pods", n, len(c.Pods()))
		}
	}

	// The state survives a restart: same ReplicaSets, same pods.
	before := names(c.Pods())
	c2 := newTestControllerIn(t, root, st)
	if after := names(c2.Pods()); strings.Join(after, ",") != strings.Join(before, ",") {
		t.Errorf("after restart pods %v, want %v", after, before)
	}

	// The Deployment deleted: ReplicaSets and pods go.
	c.setDeployments(nil, nil)
	settle(t, c, st, &clock)
	if len(c.Pods()) != 0 || len(c.ListReplicaSets("")) != 0 {
		t.Errorf("left after delete: pods %v, replica sets %d", names(c.Pods()), len(c.ListReplicaSets("")))
	}
}

func (c *Controller) deleteForTest(p *v1.Pod) (bool, error) {
	cur := c.pods[p.Namespace+"/"+p.Name]
	if cur == nil {
		return false, nil
	}
	c.deletePod(cur)
	return true, nil
}

func names(pods []*v1.Pod) []string {
	var out []string
	for _, p := range pods {
		out = append(out, p.Name)
	}
	return out
}

func TestClaim(t *testing.T) {
	sel := labels.SelectorFromSet(labels.Set{"app": "web"})
	owner := types.UID("me")
	now := metav1.Now()
	ref := func(uid types.UID, controller bool) []metav1.OwnerReference {
		return []metav1.OwnerReference{{UID: uid, Controller: &controller}}
	}
	for _, tc := range []struct {
		name string
		meta metav1.ObjectMeta
		want claimResult
	}{
		{"orphan matching is adopted", metav1.ObjectMeta{Labels: map[string]string{"app": "web"}}, claimAdopt},
		{"orphan not matching is ignored", metav1.ObjectMeta{Labels: map[string]string{"app": "db"}}, claimIgnore},
		{"ours matching is kept", metav1.ObjectMeta{Labels: map[string]string{"app": "web"}, OwnerReferences: ref(owner, true)}, claimOwned},
		{"ours not matching is released", metav1.ObjectMeta{Labels: map[string]string{"app": "db"}, OwnerReferences: ref(owner, true)}, claimRelease},
		{"another controller's is ignored", metav1.ObjectMeta{Labels: map[string]string{"app": "web"}, OwnerReferences: ref("other", true)}, claimIgnore},
		{"a non-controller owner does not stop adoption", metav1.ObjectMeta{Labels: map[string]string{"app": "web"}, OwnerReferences: ref("other", false)}, claimAdopt},
		{"an orphan being deleted is not adopted", metav1.ObjectMeta{Labels: map[string]string{"app": "web"}, DeletionTimestamp: &now}, claimIgnore},
	} {
		if got := claim(&tc.meta, owner, sel); got != tc.want {
			t.Errorf("%s: %v, want %v", tc.name, got, tc.want)
		}
	}
}

// An orphan pod the selector matches is adopted by the ReplicaSet and
// counts towards its replicas (no new pod is made); a pod whose labels no
// longer match is released and a replacement is made.
func TestAdoptAndRelease(t *testing.T) {
	st := &fakeStatuses{pods: map[types.UID]*v1.Pod{}}
	root := t.TempDir()
	c := newTestControllerIn(t, root, st)
	clock := time.Now()
	c.now = func() time.Time { return clock }
	d := parseDeployment(t, labDeploymentYAML)
	c.setDeployments([]*appsv1.Deployment{d}, nil)
	settle(t, c, st, &clock)
	rs := c.ListReplicaSets("default")[0]

	// An annotation changed: the same pods, handed over to the agent's
	// pod workers again, so that the change is served.
	p := c.pods["default/"+c.Pods()[0].Name]
	select {
	case <-c.PodUpdates():
	default:
	}
	p.Annotations = map[string]string{"note": "kept"}
	c.sync()
	select {
	case pods := <-c.PodUpdates():
		if i := slices.IndexFunc(pods, func(q *v1.Pod) bool { return q.UID == p.UID }); i < 0 || pods[i].Annotations["note"] != "kept" {
			t.Errorf("pods handed over after an annotation: %+v", pods)
		}
	default:
		t.Error("no pods handed over after an annotation")
	}

	// Release: a pod's labels changed.
	p.Labels = map[string]string{"app": "other"}
	settle(t, c, st, &clock)
	if ref := metav1.GetControllerOf(p); ref != nil {
		t.Errorf("released pod still owned: %+v", ref)
	}
	if owned := len(c.podsOf(c.rss["default/"+rs.Name])); owned != 2 || len(c.Pods()) != 3 {
		t.Errorf("owned %d, pods %d; want a replacement", owned, len(c.Pods()))
	}
	// The agent's pod workers get the pod's new metadata, and the state
	// file keeps it released.
	select {
	case pods := <-c.PodUpdates():
		i := slices.IndexFunc(pods, func(q *v1.Pod) bool { return q.UID == p.UID })
		if i < 0 || pods[i].Labels["app"] != "other" || len(pods[i].OwnerReferences) != 0 {
			t.Errorf("pods handed over after the release: %+v", pods)
		}
	default:
		t.Error("no pods handed over after the release")
	}
	reloaded := newTestControllerIn(t, root, st)
	if q := reloaded.pods["default/"+p.Name]; q == nil || q.UID != p.UID || q.Labels["app"] != "other" || len(q.OwnerReferences) != 0 {
		t.Errorf("released pod after a reload: %+v", q)
	}

	// Adopt: its labels match again; the ReplicaSet has one too many.
	p.Labels = map[string]string{"app": "myapp", LabelPodTemplateHash: rs.Labels[LabelPodTemplateHash]}
	settle(t, c, st, &clock)
	if ref := metav1.GetControllerOf(p); ref == nil || ref.UID != rs.UID {
		t.Errorf("pod not adopted: %+v", ref)
	}
	if len(c.Pods()) != 2 {
		t.Errorf("pods %d after adoption, want 2", len(c.Pods()))
	}
}

// An update through the API may take a pod's ownerReferences out (and
// bumps its generation when the spec changes): the pod keeps both, is an
// orphan, and its ReplicaSet adopts it again, as upstream's; no
// replacement is made.
func TestUpdatePodOwners(t *testing.T) {
	st := &fakeStatuses{pods: map[types.UID]*v1.Pod{}}
	c := newTestControllerIn(t, t.TempDir(), st)
	clock := time.Now()
	c.now = func() time.Time { return clock }
	c.setDeployments([]*appsv1.Deployment{parseDeployment(t, labDeploymentYAML)}, nil)
	settle(t, c, st, &clock)
	rs := c.ListReplicaSets("default")[0]
	u := c.pods["default/"+c.Pods()[0].Name].DeepCopy()
	u.OwnerReferences, u.Generation = nil, 2
	u.Spec.Containers[0].Image = "myapp:v3"
	go func() { (<-c.requests)() }()
	if found, err := c.UpdatePod(context.Background(), u); !found || err != nil {
		t.Fatalf("update: %v %v", found, err)
	}
	p := c.pods["default/"+u.Name]
	if len(p.OwnerReferences) != 0 || p.Generation != 2 || p.Spec.Containers[0].Image != "myapp:v3" {
		t.Fatalf("stored: owners %+v, generation %d, image %s", p.OwnerReferences, p.Generation, p.Spec.Containers[0].Image)
	}
	settle(t, c, st, &clock)
	if ref := metav1.GetControllerOf(p); ref == nil || ref.UID != rs.UID {
		t.Errorf("orphan not adopted: %+v", p.OwnerReferences)
	}
	if len(c.Pods()) != 2 || c.pods["default/"+u.Name] != p {
		t.Errorf("pods %v after the adoption, want the same two", names(c.Pods()))
	}
}

// minReadySeconds: pods Ready for less are not available, and the rollout
// waits for them.
func TestMinReadySeconds(t *testing.T) {
	st := &fakeStatuses{pods: map[types.UID]*v1.Pod{}}
	c := newTestControllerIn(t, t.TempDir(), st)
	clock := time.Now()
	c.now = func() time.Time { return clock }
	d := parseDeployment(t, strings.Replace(labDeploymentYAML, "  replicas: 2\n", "  replicas: 2\n  minReadySeconds: 30\n", 1))
	c.setDeployments([]*appsv1.Deployment{d}, nil)
	c.sync()
	st.run(c.Pods(), clock)
	c.sync()
	got, _ := c.GetDeployment("default", d.Name)
	if got.Status.ReadyReplicas != 2 || got.Status.AvailableReplicas != 0 {
		t.Errorf("status before minReadySeconds %+v", got.Status)
	}
	if c.wake.IsZero() || c.wake.Sub(clock) > 31*time.Second {
		t.Errorf("wake at %v, want within 30s", c.wake)
	}
	clock = clock.Add(31 * time.Second)
	c.sync()
	got, _ = c.GetDeployment("default", d.Name)
	if got.Status.AvailableReplicas != 2 {
		t.Errorf("status after minReadySeconds %+v", got.Status)
	}
}

func TestRecreate(t *testing.T) {
	st := &fakeStatuses{pods: map[types.UID]*v1.Pod{}}
	c := newTestControllerIn(t, t.TempDir(), st)
	clock := time.Now()
	c.now = func() time.Time { return clock }
	text := strings.Replace(labDeploymentYAML, "  replicas: 2\n", "  replicas: 2\n  strategy:\n    type: Recreate\n", 1)
	c.setDeployments([]*appsv1.Deployment{parseDeployment(t, text)}, nil)
	settle(t, c, st, &clock)
	c.setDeployments([]*appsv1.Deployment{parseDeployment(t, strings.Replace(text, "myapp:v2", "myapp:v1", 1))}, nil)
	c.sync()
	// The old pods are deleted first; no new pod while they terminate.
	for _, p := range c.Pods() {
		t.Errorf("pod %s (%s) while the old ones terminate", p.Name, p.Spec.Containers[0].Image)
	}
	settle(t, c, st, &clock)
	if pods := c.Pods(); len(pods) != 2 || pods[0].Spec.Containers[0].Image != "myapp:v1" {
		t.Errorf("pods after recreate: %v", names(pods))
	}
}

func TestMaxSurgeRounding(t *testing.T) {
	d := testDeployment(10, intstr.FromString("25%"), intstr.FromString("25%"))
	if maxSurge(d) != 3 || maxUnavailable(d) != 2 {
		t.Errorf("surge %d unavailable %d", maxSurge(d), maxUnavailable(d))
	}
}

// A Deployment whose file turns invalid keeps running as it was, also
// when the controller starts again with the file still broken; once the
// file is gone for good, its pods go.
func TestBrokenManifestKeepsDeployment(t *testing.T) {
	st := &fakeStatuses{pods: map[types.UID]*v1.Pod{}}
	root := t.TempDir()
	c := newTestControllerIn(t, root, st)
	clock := time.Now()
	c.now = func() time.Time { return clock }
	d := parseDeployment(t, labDeploymentYAML)
	c.setDesired(desired{deployments: []*appsv1.Deployment{d}, files: map[string]string{"default/deployment-example": "/m/d.yaml"}})
	settle(t, c, st, &clock)
	before := names(c.Pods())
	if len(before) != 2 {
		t.Fatalf("pods: %v", before)
	}
	broken := desired{badFiles: map[string][]string{"/m/d.yaml": {"spec.replicas: Invalid value"}}}

	c.setDesired(broken)
	settle(t, c, st, &clock)
	if after := names(c.Pods()); strings.Join(after, ",") != strings.Join(before, ",") {
		t.Errorf("pods after the manifest broke: %v, want %v", after, before)
	}
	if _, ok := c.GetDeployment("default", "deployment-example"); !ok {
		t.Error("deployment dropped while its manifest is broken")
	}
	// Another file's problem does not keep it.
	other := desired{badFiles: map[string][]string{"/m/other.yaml": {"bad"}}}

	// The agent restarts: a new controller on the same state, whose first
	// set of Deployments has the file still broken.
	c2 := newTestControllerIn(t, root, st)
	c2.now = c.now
	c2.setDesired(broken)
	settle(t, c2, st, &clock)
	if after := names(c2.Pods()); strings.Join(after, ",") != strings.Join(before, ",") {
		t.Errorf("pods after a restart with the manifest broken: %v, want %v", after, before)
	}
	got, ok := c2.GetDeployment("default", "deployment-example")
	if !ok || got.UID != d.UID || *got.Spec.Replicas != 2 {
		t.Errorf("deployment after a restart with the manifest broken: %v", got)
	}

	c2.setDesired(other)
	settle(t, c2, st, &clock)
	if len(c2.Pods()) != 0 {
		t.Errorf("pods left after the deployment went: %v", names(c2.Pods()))
	}
}

// A template whose PriorityClass does not exist makes no pod: the API
// server's Priority admission refuses each, so the ReplicaSet records one
// FailedCreate event per sync with its message, and it and its Deployment
// show the ReplicaFailure condition, until a template that is admitted
// rolls out (the old ReplicaSet, scaled to 0, is no longer failing).
func TestUnknownPriorityClassFailedCreate(t *testing.T) {
	st := &fakeStatuses{pods: map[types.UID]*v1.Pod{}}
	log := zaptest.NewLogger(t)
	rec := events.NewStore(log, "node1", 100)
	root := t.TempDir()
	c, err := New(log, Config{StateDir: root + "/state", NodeName: "node1", Manifests: root + "/manifests"}, st, rec)
	if err != nil {
		t.Fatal(err)
	}
	clock := time.Now()
	c.now = func() time.Time { return clock }
	gold := strings.Replace(labDeploymentYAML, "      containers:", "      priorityClassName: gold\n      containers:", 1)
	c.setDeployments([]*appsv1.Deployment{parseDeployment(t, gold)}, nil)
	settle(t, c, st, &clock)
	c.sync()
	if pods := c.Pods(); len(pods) != 0 {
		t.Fatalf("pods made: %v", names(pods))
	}
	rss := c.ListReplicaSets("default")
	if len(rss) != 1 {
		t.Fatalf("replica sets %d", len(rss))
	}
	rs := rss[0]
	msg := `pods "` + rs.Name + `-" is forbidden: no PriorityClass with name gold was found`
	var failed []v1.Event
	for _, e := range rec.List("default", "") {
		if e.InvolvedObject.UID == rs.UID && e.Reason == "FailedCreate" {
			failed = append(failed, e)
		}
	}
	if len(failed) != 1 || failed[0].Type != v1.EventTypeWarning || failed[0].Message != "Error creating: "+msg ||
		failed[0].Source.Component != "replicaset-controller" {
		t.Errorf("FailedCreate events: %+v", failed)
	} else if syncs := c.syncs; failed[0].Count != int32(syncs) {
		t.Errorf("FailedCreate count %d after %d syncs", failed[0].Count, syncs)
	}
	if len(rs.Status.Conditions) != 1 {
		t.Fatalf("replica set conditions %+v", rs.Status.Conditions)
	}
	if cond := rs.Status.Conditions[0]; cond.Type != appsv1.ReplicaSetReplicaFailure || cond.Status != v1.ConditionTrue ||
		cond.Reason != "FailedCreate" || cond.Message != msg || cond.LastTransitionTime.IsZero() {
		t.Errorf("replica set condition %+v", cond)
	}
	d, _ := c.GetDeployment("default", "deployment-example")
	if cond := getCondition(&d.Status, appsv1.DeploymentReplicaFailure); cond == nil || cond.Status != v1.ConditionTrue ||
		cond.Reason != "FailedCreate" || cond.Message != msg {
		t.Errorf("deployment ReplicaFailure %+v", cond)
	}

	c.setDeployments([]*appsv1.Deployment{parseDeployment(t, labDeploymentYAML)}, nil)
	settle(t, c, st, &clock)
	if pods := c.Pods(); len(pods) != 2 {
		t.Errorf("pods after a good template: %v", names(pods))
	}
	for _, rs := range c.ListReplicaSets("default") {
		if len(rs.Status.Conditions) != 0 {
			t.Errorf("%s conditions %+v", rs.Name, rs.Status.Conditions)
		}
	}
	d, _ = c.GetDeployment("default", "deployment-example")
	if cond := getCondition(&d.Status, appsv1.DeploymentReplicaFailure); cond != nil {
		t.Errorf("deployment ReplicaFailure left: %+v", cond)
	}
}
