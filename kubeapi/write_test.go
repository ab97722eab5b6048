package kubeapi

import (
	"bytes"
	"encoding/json"
	"net/http/httptest"
	"strings"
	"testing"

	v1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"

	"github.com/minikubelet/minikubelet/source"
)

func servedPod() *v1.Pod {
	p := &v1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: "web", Namespace: "default", UID: "u1", ResourceVersion: "7",
			Annotations: map[string]string{source.AnnotationConfigSource: "file", "mine": "x"}},
		Spec:   v1.PodSpec{Containers: []v1.Container{{Name: "c", Image: "busybox:1"}}, NodeName: "n"},
		Status: v1.PodStatus{Phase: v1.PodRunning},
	}
	source.SetPodDefaults(p)
	return p
}

func TestValidatePodUpdate(t *testing.T) {
	old := servedPod()
	old.Spec.Tolerations = []v1.Toleration{{Operator: v1.TolerationOpExists, Effect: v1.TaintEffectNoExecute}}
	deadline := func(d *int64) func(*v1.Pod) { return func(p *v1.Pod) { p.Spec.ActiveDeadlineSeconds = d } }
	withDeadline := old.DeepCopy()
	withDeadline.Spec.ActiveDeadlineSeconds = ptr.To[int64](60)
	for _, tc := range []struct {
		name   string
		old    *v1.Pod
		change func(*v1.Pod)
		ok     bool
		msg    string
	}{
		{"deadline set", old, deadline(ptr.To[int64](30)), true, ""},
		{"deadline lowered", withDeadline, deadline(ptr.To[int64](30)), true, ""},
		{"deadline raised", withDeadline, deadline(ptr.To[int64](90)), false, "spec.activeDeadlineSeconds: Invalid value: 90: must be less than or equal to previous value"},
		{"deadline removed", withDeadline, deadline(nil), false, "must not update from a positive integer to nil value"},
		{"toleration removed", old, func(p *v1.Pod) { p.Spec.Tolerations = nil }, false, "existing toleration can not be modified except its tolerationSeconds"},
		{"labels", nil, func(p *v1.Pod) { p.Labels = map[string]string{"a": "b"} }, true, ""},
		{"image", nil, func(p *v1.Pod) { p.Spec.Containers[0].Image = "busybox:2" }, true, ""},
		{"tolerations", nil, func(p *v1.Pod) {
			p.Spec.Tolerations = append(p.Spec.Tolerations, v1.Toleration{Key: "k", Operator: v1.TolerationOpExists})
		}, true, ""},
		{"restartPolicy", nil, func(p *v1.Pod) { p.Spec.RestartPolicy = v1.RestartPolicyNever }, false, ""},
		{"command", nil, func(p *v1.Pod) { p.Spec.Containers[0].Command = []string{"sh"} }, false, ""},
	} {
		base := tc.old
		if base == nil {
			base = old
		}
		p := base.DeepCopy()
		tc.change(p)
		err := validatePodUpdate(p, base)
		if (err == nil) != tc.ok {
			t.Errorf("%s: %v", tc.name, err)
		}
		if tc.msg == "" {
			tc.msg = "pod updates may not change fields other than"
		}
		if err != nil && (!apierrors.IsInvalid(err) || !strings.Contains(err.Error(), tc.msg)) {
			t.Errorf("%s: not the API server's error: %v", tc.name, err)
		}
	}
}

func TestManifestOf(t *testing.T) {
	data, err := manifestOf(servedPod())
	if err != nil {
		t.Fatal(err)
	}
	var m map[string]any
	if err := json.Unmarshal(data, &m); err != nil {
		t.Fatal(err)
	}
	md := m["metadata"].(map[string]any)
	if _, ok := m["status"]; ok {
		t.Error("status kept")
	}
	for _, k := range []string{"uid", "resourceVersion", "creationTimestamp"} {
		if _, ok := md[k]; ok {
			t.Errorf("metadata.%s kept", k)
		}
	}
	ann := md["annotations"].(map[string]any)
	if _, ok := ann[source.AnnotationConfigSource]; ok || ann["mine"] != "x" {
		t.Errorf("annotations %v", ann)
	}
	if m["kind"] != "Pod" || m["apiVersion"] != "v1" {
		t.Errorf("type %v %v", m["apiVersion"], m["kind"])
	}
}

// Delete options come as JSON (kubectl) or protobuf (client-go's typed
// clients); both carry the grace period.
func TestDeleteOptions(t *testing.T) {
	s := &Server{codec: newCodec()}
	grace := int64(3)
	want := metav1.DeleteOptions{GracePeriodSeconds: &grace}
	js, _ := json.Marshal(want)
	want.TypeMeta = metav1.TypeMeta{APIVersion: "v1", Kind: "DeleteOptions"}
	var pb bytes.Buffer
	if err := s.codec.proto.Encode(&want, &pb); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		name, contentType string
		body              []byte
		wantErr           bool
	}{
		{"json", "application/json", js, false},
		{"protobuf", "application/vnd.kubernetes.protobuf", pb.Bytes(), false},
		{"empty", "", nil, false},
		{"garbage", "application/json", []byte("k8s\x00"), true},
	} {
		r := httptest.NewRequest("DELETE", "/api/v1/namespaces/default/pods/x", bytes.NewReader(c.body))
		r.Header.Set("Content-Type", c.contentType)
		got, err := s.deleteOptions(r)
		switch {
		case c.wantErr:
			if !apierrors.IsBadRequest(err) {
				t.Errorf("%s: %v, want BadRequest", c.name, err)
			}
		case err != nil:
			t.Errorf("%s: %v", c.name, err)
		case c.body != nil && (got.GracePeriodSeconds == nil || *got.GracePeriodSeconds != 3):
			t.Errorf("%s: %+v", c.name, got)
		}
	}
}

// The generation of a pod update: one more on any change of the spec, the
// same on one of metadata alone (the API server's pod strategy).
func TestPodGeneration(t *testing.T) {
	old := servedPod()
	admitPod(old)
	old.Generation = 3
	for _, tc := range []struct {
		name   string
		change func(*v1.Pod)
		want   int64
	}{
		{"labels", func(p *v1.Pod) { p.Labels = map[string]string{"a": "b"} }, 3},
		{"owners", func(p *v1.Pod) { p.OwnerReferences = nil }, 3},
		{"image", func(p *v1.Pod) { p.Spec.Containers[0].Image = "busybox:2" }, 4},
		{"deadline", func(p *v1.Pod) { p.Spec.ActiveDeadlineSeconds = ptr.To[int64](9) }, 4},
		{"toleration", func(p *v1.Pod) {
			p.Spec.Tolerations = append(p.Spec.Tolerations, v1.Toleration{Key: "k", Operator: v1.TolerationOpExists})
		}, 4},
	} {
		p := old.DeepCopy()
		tc.change(p)
		if got := podGeneration(p, old); got != tc.want {
			t.Errorf("%s: generation %d, want %d", tc.name, got, tc.want)
		}
	}
	// Served while terminating, it counted the graceful delete once more.
	deleting := old.DeepCopy()
	deleting.DeletionTimestamp = &metav1.Time{}
	deleting.Generation = 4
	if got := podGeneration(deleting.DeepCopy(), deleting); got != 3 {
		t.Errorf("terminating: generation %d, want 3", got)
	}
}

// A pod's manifest carries its generation once an update bumped it.
func TestWithGeneration(t *testing.T) {
	m := []byte(`{"kind":"Pod","metadata":{"name":"web"}}`)
	if got, err := withGeneration(m, 1); err != nil || string(got) != string(m) {
		t.Errorf("first generation: %s %v", got, err)
	}
	got, err := withGeneration(m, 2)
	var p v1.Pod
	if err != nil || json.Unmarshal(got, &p) != nil || p.Generation != 2 || p.Name != "web" {
		t.Errorf("second generation: %s %v", got, err)
	}
}

// An update may change a pod's ownerReferences (the API server's
// ObjectMeta rules), but not to invalid ones.
func TestValidatePodUpdateOwners(t *testing.T) {
	old := servedPod()
	p := old.DeepCopy()
	p.OwnerReferences = []metav1.OwnerReference{{APIVersion: "apps/v1", Kind: "ReplicaSet", Name: "rs", UID: "u"}}
	if err := validatePodUpdate(p, old); err != nil {
		t.Errorf("valid owner: %v", err)
	}
	p.OwnerReferences[0].UID = ""
	if err := validatePodUpdate(p, old); !apierrors.IsInvalid(err) || !strings.Contains(err.Error(), "metadata.ownerReferences.uid") {
		t.Errorf("owner without uid: %v", err)
	}
}
