package source

import (
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
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
	if err := Edit(dir, ref, node, setReplicas(5)); err != nil {
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
	if err := Edit(dir, ref, node, setReplicas(-1)); err == nil || !strings.Contains(err.Error(), "spec.replicas") {
		t.Errorf("negative replicas: %v", err)
	}
	if again, _ := os.ReadFile(path); string(again) != string(data) {
		t.Error("a refused edit changed the file")
	}

	// A missing object.
	err := Edit(dir, ObjectRef{APIVersion: "apps/v1", Kind: "Deployment", Name: "nope"}, node, setReplicas(1))
	if !errors.Is(err, ErrNotFound) || err.Error() != `deployments.apps "nope" not found` {
		t.Errorf("missing deployment: %v", err)
	}
}
