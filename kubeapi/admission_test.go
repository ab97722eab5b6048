package kubeapi

import (
	"encoding/json"
	"os"
	"strings"
	"testing"

	v1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	"k8s.io/utils/ptr"
)

// Every pod gets the Priority plugin's priority and preemptionPolicy and
// DefaultTolerationSeconds' tolerations, unless one it has already
// tolerates the taint (an empty key or effect tolerates any).
func TestAdmitPod(t *testing.T) {
	notReady := v1.Toleration{Key: v1.TaintNodeNotReady, Operator: v1.TolerationOpExists, Effect: v1.TaintEffectNoExecute, TolerationSeconds: ptr.To[int64](5)}
	everything := v1.Toleration{Operator: v1.TolerationOpExists}
	for _, tc := range []struct {
		name            string
		class           string
		tolerations     []v1.Toleration
		wantPriority    *int32
		wantTolerations []v1.Toleration
	}{
		{"none", "", nil, ptr.To[int32](0), defaultTolerations()},
		{"node critical", "system-node-critical", nil, ptr.To[int32](2000001000), defaultTolerations()},
		{"cluster critical", "system-cluster-critical", nil, ptr.To[int32](2000000000), defaultTolerations()},
		{"unknown class", "gold", nil, nil, defaultTolerations()},
		{"tolerates not-ready", "", []v1.Toleration{notReady}, ptr.To[int32](0), []v1.Toleration{notReady, defaultTolerations()[1]}},
		{"tolerates everything", "", []v1.Toleration{everything}, ptr.To[int32](0), []v1.Toleration{everything}},
	} {
		p := &v1.Pod{Spec: v1.PodSpec{PriorityClassName: tc.class, Tolerations: tc.tolerations}}
		admitPod(p)
		if !equality.Semantic.DeepEqual(p.Spec.Priority, tc.wantPriority) {
			t.Errorf("%s: priority %v, want %v", tc.name, p.Spec.Priority, tc.wantPriority)
		}
		if tc.wantPriority != nil && (p.Spec.PreemptionPolicy == nil || *p.Spec.PreemptionPolicy != v1.PreemptLowerPriority) {
			t.Errorf("%s: preemptionPolicy %v", tc.name, p.Spec.PreemptionPolicy)
		}
		if !equality.Semantic.DeepEqual(p.Spec.Tolerations, tc.wantTolerations) {
			t.Errorf("%s: tolerations %+v, want %+v", tc.name, p.Spec.Tolerations, tc.wantTolerations)
		}
		// What is written to a manifest is what the user wrote: served
		// again, the same pod.
		stripped := p.DeepCopy()
		stripAdmitted(stripped)
		if !equality.Semantic.DeepEqual(stripped.Spec.Tolerations, tc.tolerations) || stripped.Spec.Priority != nil || stripped.Spec.PreemptionPolicy != nil {
			t.Errorf("%s: stripped %+v", tc.name, stripped.Spec)
		}
		admitPod(stripped)
		if !equality.Semantic.DeepEqual(stripped, p) {
			t.Errorf("%s: served again as %+v, want %+v", tc.name, stripped.Spec, p.Spec)
		}
	}
}

// A default toleration another toleration covers stays in the manifest:
// without it, admission would not add it again.
func TestStripAdmittedKeepsCoveredToleration(t *testing.T) {
	written := append([]v1.Toleration{{Operator: v1.TolerationOpExists}}, defaultTolerations()...)
	p := &v1.Pod{Spec: v1.PodSpec{Tolerations: written}}
	stripAdmitted(p)
	if !equality.Semantic.DeepEqual(p.Spec.Tolerations, written) {
		t.Errorf("tolerations %+v, want %+v", p.Spec.Tolerations, written)
	}
}

// An update that leaves out what admission set (kubectl replace of the
// manifest as written) keeps the old priority and gets the tolerations
// again, so it is no forbidden change of the spec.
func TestAdmitPodUpdate(t *testing.T) {
	old := servedPod()
	admitPod(old)
	p := servedPod()
	p.Spec.Containers[0].Image = "busybox:2"
	if err := validatePodUpdate(p.DeepCopy(), old); err == nil {
		t.Fatal("dropping the tolerations and priority was allowed without admission")
	}
	admitPodUpdate(p, old)
	if err := validatePodUpdate(p, old); err != nil {
		t.Fatal(err)
	}
	if *p.Spec.Priority != 0 || !equality.Semantic.DeepEqual(p.Spec.Tolerations, old.Spec.Tolerations) {
		t.Errorf("spec %+v", p.Spec)
	}
}

// A dry-run create of a pod answers what a create answers, as
// kube-apiserver's (the golden of the pod it created): defaults, the
// admission plugins' priority and tolerations, the status it is created
// with, a UID; but no resourceVersion, and nothing is written. An invalid
// pod is refused as a create refuses it.
func TestDryRunCreatePod(t *testing.T) {
	s := referenceServer(t)
	create := func(body string) (int, []byte) {
		code, _, got := ask(t, s, exchange{method: "POST", path: "/api/v1/namespaces/default/pods?dryRun=All",
			header: jsonBody, body: body})
		return code, got
	}
	code, body := create(podJSON("dry", ""))
	if code != 201 {
		t.Fatalf("dry run: %d %s", code, body)
	}
	var raw map[string]any
	if err := json.Unmarshal(body, &raw); err != nil {
		t.Fatal(err)
	}
	want := golden(t, "object-pod").(map[string]any)
	reportDiff(t, "dry-run pod spec", raw["spec"], want["spec"])
	reportDiff(t, "dry-run pod status", raw["status"], want["status"])
	md := raw["metadata"].(map[string]any)
	if md["uid"] == nil || md["creationTimestamp"] == nil || md["generation"] != 1.0 || md["resourceVersion"] != nil {
		t.Errorf("dry-run pod metadata: %v", md)
	}
	if entries, err := os.ReadDir(s.deps.ManifestDir); err != nil || len(entries) > 0 {
		t.Errorf("dry run wrote %v (%v)", entries, err)
	}
	if _, ok := s.cache.Get(keyPods, "default", "dry"); ok {
		t.Error("dry-run pod is served")
	}
	if code, body := create(podJSON("bad", `"image": ""`)); code != 422 || !strings.Contains(string(body), "spec.containers[0].image") {
		t.Errorf("dry run of an invalid pod: %d %s", code, body)
	}
}

// A dry-run update of a pod (kubectl replace or apply --dry-run=server)
// answers the pod as the update would leave it: defaulted, with its UID,
// resourceVersion and status, the new image, the next generation; the
// pod served is unchanged.
func TestDryRunUpdatePod(t *testing.T) {
	s := referenceServer(t)
	before, _ := s.cache.Get(keyPods, "default", "web")
	code, _, body := ask(t, s, exchange{method: "PUT", path: "/api/v1/namespaces/default/pods/web?dryRun=All", header: jsonBody,
		body: strings.Replace(podJSON("web", ""), `"busybox"`, `"busybox:latest"`, 1)})
	if code != 200 {
		t.Fatalf("dry-run update: %d %s", code, body)
	}
	var got v1.Pod
	if err := json.Unmarshal(body, &got); err != nil {
		t.Fatal(err)
	}
	cur := before.(*v1.Pod)
	want := cur.DeepCopy()
	want.Spec.Containers[0].Image = "busybox:latest"
	want.Generation = 2
	if got.UID != cur.UID || got.ResourceVersion != cur.ResourceVersion || got.Generation != 2 ||
		!equality.Semantic.DeepEqual(got.Spec, want.Spec) || !equality.Semantic.DeepEqual(got.Status, cur.Status) {
		t.Errorf("dry-run update answered\n%s\nwant the pod served but for its image and generation", body)
	}
	if after, _ := s.cache.Get(keyPods, "default", "web"); !equality.Semantic.DeepEqual(after, before) {
		t.Error("dry-run update changed the pod served")
	}
}
