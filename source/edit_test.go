package source

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	v1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

func TestEdit(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "lab.yaml")
	svc := "# the service\nkind: Service\napiVersion: v1\nmetadata:\n  name: web\nspec:\n  ports: [{port: 80}]\n"
	if err := os.WriteFile(path, []byte(svc+"---\n"+labDeployment), 0o644); err != nil {
		t.Fatal(err)
	}
	ref := ObjectRef{APIVersion: "apps/v1", Kind: "Deployment", Name: "deployment-example"}
	setReplicas := func(n int32) func([]byte) ([]byte, error) {
		return func(obj []byte) ([]byte, error) {
			d := &appsv1.Deployment{}
			if err := json.Unmarshal(obj, d); err != nil {
				return nil, err
			}
			d.Spec.Replicas = &n
			return json.Marshal(d)
		}
	}
	if err := Edit(context.Background(), dir, ref, node, setReplicas(5)); err != nil {
		t.Fatal(err)
	}
	data, _ := os.ReadFile(path)
	objs := Parse(path, data, node)
	if len(objs.Errors) > 0 || len(objs.Services) != 1 || len(objs.Deployments) != 1 || *objs.Deployments[0].Spec.Replicas != 5 {
		t.Fatalf("after edit: %s\n%v", data, objs.Errors)
	}
	if !strings.HasPrefix(string(data), svc) {
		t.Errorf("the other document changed:\n%s", data)
	}

	// An invalid result is refused and the file is left alone.
	if err := Edit(context.Background(), dir, ref, node, setReplicas(-1)); err == nil || !strings.Contains(err.Error(), "spec.replicas") {
		t.Errorf("negative replicas: %v", err)
	}
	if again, _ := os.ReadFile(path); string(again) != string(data) {
		t.Error("a refused edit changed the file")
	}

	// A missing object.
	err := Edit(context.Background(), dir, ObjectRef{APIVersion: "apps/v1", Kind: "Deployment", Name: "nope"}, node, setReplicas(1))
	if !errors.Is(err, ErrNotFound) || err.Error() != `deployments.apps "nope" not found` {
		t.Errorf("missing deployment: %v", err)
	}
}

// An in-place update keeps the pod's UID; the same content edited by hand,
// or copied to another file, is a new pod.
func TestUpdatePodKeepsIdentity(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "web.yaml")
	orig := "apiVersion: v1\nkind: Pod\nmetadata:\n  name: web\nspec:\n  containers: [{name: c, image: busybox:1.36}]\n"
	if err := os.WriteFile(path, []byte(orig), 0o644); err != nil {
		t.Fatal(err)
	}
	load := func(p string) *v1.Pod {
		t.Helper()
		data, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		objs := Parse(p, data, node)
		if len(objs.Errors) > 0 || len(objs.Pods) != 1 {
			t.Fatalf("%s: %v\n%s", p, objs.Errors, data)
		}
		return objs.Pods[0]
	}
	before := load(path)

	updated := before.DeepCopy()
	updated.Labels = map[string]string{"tier": "front"}
	updated.Spec.Containers[0].Image = "busybox:1.37"
	updated.Status = v1.PodStatus{}
	updated.Generation = 2
	mf := []metav1.ManagedFieldsEntry{{Manager: "kubectl-label", Operation: metav1.ManagedFieldsOperationUpdate, APIVersion: "v1",
		Time: &metav1.Time{Time: time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)}, FieldsType: "FieldsV1",
		FieldsV1: &metav1.FieldsV1{Raw: []byte(`{"f:metadata":{"f:labels":{"f:tier":{}}}}`)}}}
	updated.ManagedFields = mf
	data, err := json.Marshal(updated)
	if err != nil {
		t.Fatal(err)
	}
	ref := ObjectRef{Kind: "Pod", Name: "web"}
	if err := UpdatePod(context.Background(), dir, ref, node, before.UID, data); err != nil {
		t.Fatal(err)
	}
	after := load(path)
	if after.UID != before.UID || after.Labels["tier"] != "front" || after.Spec.Containers[0].Image != "busybox:1.37" || after.Generation != 2 {
		t.Fatalf("after the update: uid %s (was %s), labels %v, image %s, generation %d", after.UID, before.UID, after.Labels, after.Spec.Containers[0].Image, after.Generation)
	}
	if got, want := jsonOf(t, after.ManagedFields), jsonOf(t, mf); got != want {
		t.Errorf("managedFields after the update: %s, want %s", got, want)
	}
	if _, ok := after.Annotations[AnnotationIdentity]; ok {
		t.Error("the identity annotation is served")
	}

	// Copied elsewhere, the seal no longer holds.
	written, _ := os.ReadFile(path)
	other := filepath.Join(dir, "copy.yaml")
	if err := os.WriteFile(other, written, 0o644); err != nil {
		t.Fatal(err)
	}
	if load(other).UID == before.UID {
		t.Error("a copy of the file kept the UID")
	}
	// Edited by hand, it is a new pod.
	edited := strings.Replace(string(written), "front", "back", 1)
	if edited == string(written) {
		t.Fatalf("label not found in\n%s", written)
	}
	if err := os.WriteFile(path, []byte(edited), 0o644); err != nil {
		t.Fatal(err)
	}
	if p := load(path); p.UID == before.UID || p.Generation != 0 || p.ManagedFields != nil {
		t.Errorf("a file edited by hand kept the UID (%v), the generation %d or managedFields %+v", p.UID == before.UID, p.Generation, p.ManagedFields)
	}

	if err := UpdatePod(context.Background(), dir, ref, node, "../../etc", data); err == nil {
		t.Error("a UID not of this node's form was accepted")
	}
	if err := UpdatePod(context.Background(), dir, ObjectRef{Kind: "Pod", Name: "nope"}, node, before.UID, data); !errors.Is(err, ErrNotFound) {
		t.Errorf("missing pod: %v", err)
	}
}

// A pod the API creates is written sealed: it has no static pod's
// toleration (the API serves it with the API server's defaults), keeps its
// UID, and once edited by hand it is a static pod, toleration and all.
func TestApplyFromAPISealsNewPods(t *testing.T) {
	dir := t.TempDir()
	manifest := []byte(`{"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "web"}, "spec": {"containers": [{"name": "c", "image": "busybox:1.36"}]}}`)
	if _, err := ApplyFromAPI(context.Background(), dir, "pods/default/web", manifest, node); err != nil {
		t.Fatal(err)
	}
	if _, err := Apply(context.Background(), dir, "static", bytes.Replace(manifest, []byte(`"web"`), []byte(`"static"`), 1), node); err != nil {
		t.Fatal(err)
	}
	load := func(name string) (*v1.Pod, string) {
		t.Helper()
		path, err := filepath.Abs(filepath.Join(dir, "default_"+name+".yaml"))
		if err != nil {
			t.Fatal(err)
		}
		data, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		objs := Parse(path, data, node)
		if len(objs.Errors) > 0 || len(objs.Pods) != 1 {
			t.Fatalf("%s: %v\n%s", path, objs.Errors, data)
		}
		return objs.Pods[0], path
	}
	api, path := load("web")
	if len(api.Spec.Tolerations) != 0 {
		t.Errorf("a pod the API made has tolerations %+v", api.Spec.Tolerations)
	}
	if _, ok := api.Annotations[AnnotationIdentity]; ok {
		t.Error("the identity annotation is served")
	}
	if static, _ := load("static"); len(static.Spec.Tolerations) != 1 || static.Spec.Tolerations[0].Effect != v1.TaintEffectNoExecute {
		t.Errorf("a static pod has tolerations %+v", static.Spec.Tolerations)
	}
	if again, _ := load("web"); again.UID != api.UID {
		t.Errorf("uid %s, then %s", api.UID, again.UID)
	}
	written, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.HasPrefix(written, []byte("apiVersion: v1\n")) {
		t.Errorf("not written as YAML:\n%s", written)
	}
	if err := os.WriteFile(path, bytes.Replace(written, []byte("busybox:1.36"), []byte("busybox:1.37"), 1), 0o644); err != nil {
		t.Fatal(err)
	}
	if edited, _ := load("web"); edited.UID == api.UID || len(edited.Spec.Tolerations) != 1 {
		t.Errorf("edited by hand: uid %s (was %s), tolerations %+v", edited.UID, api.UID, edited.Spec.Tolerations)
	}
}

func jsonOf(t *testing.T, v any) string {
	t.Helper()
	data, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return string(data)
}
