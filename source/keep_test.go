package source

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	sigsyaml "sigs.k8s.io/yaml"
)

func TestKeepLayout(t *testing.T) {
	orig := `# the lab's v2
apiVersion: apps/v1
kind: Deployment
metadata:
  name: web # the name kubectl shows
spec:
  replicas: 2 # two is enough
  selector:
    matchLabels: {app: web}
  template:
    metadata:
      labels: {app: web}
    spec:
      containers:
      # the server
      - name: c
        image: 'myapp:v2'
        command: ["sleep", "3600"]
`
	newJSON := `{"apiVersion":"apps/v1","kind":"Deployment","metadata":{"name":"web"},"spec":{"replicas":3,
"selector":{"matchLabels":{"app":"web"}},"template":{"metadata":{"annotations":{"kubectl.kubernetes.io/restartedAt":"2026-12-02T23:00:00Z"},
"labels":{"app":"web"}},"spec":{"containers":[{"name":"c","image":"myapp:v1","command":["sleep","3600"]}]}}}}`
	got, err := keepLayout([]byte(orig), []byte(newJSON))
	if err != nil {
		t.Fatal(err)
	}
	want := `# the lab's v2
apiVersion: apps/v1
kind: Deployment
metadata:
  name: web # the name kubectl shows
spec:
  replicas: 3 # two is enough
  selector:
    matchLabels: {app: web}
  template:
    metadata:
      labels: {app: web}
      annotations:
        kubectl.kubernetes.io/restartedAt: "2026-12-02T23:00:00Z"
    spec:
      containers:
        # the server
        - name: c
          image: 'myapp:v1'
          command: ["sleep", "3600"]
`
	if string(got) != want {
		t.Errorf("got:\n%s\nwant:\n%s", got, want)
	}

	// Removed keys go, with their comments; a changed type is written anew.
	got, err = keepLayout([]byte("a: 1 # one\nb: [x, y] # list\nc: keep\n"), []byte(`{"b":{"k":"v"},"c":"keep"}`))
	if err != nil {
		t.Fatal(err)
	}
	if want := "b: # list\n  k: v\nc: keep\n"; string(got) != want {
		t.Errorf("got:\n%s\nwant:\n%s", got, want)
	}
}

// An edit (scale, rollout …) keeps the rest of the user's document: its
// comments and order, and the other documents of the file untouched.
func TestEditKeepsComments(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "app.yaml")
	svc := "# the service\napiVersion: v1\nkind: Service\nmetadata: {name: web}\nspec:\n  selector: {app: web}\n  ports: [{port: 80}]\n"
	deploy := "# two replicas of v2\napiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: web\nspec:\n  replicas: 2 # scaled by kubectl\n" +
		"  selector:\n    matchLabels: {app: web}\n  template:\n    metadata:\n      labels: {app: web}\n    spec:\n      containers:\n      - name: c\n        image: busybox\n"
	if err := os.WriteFile(file, []byte(svc+"---\n"+deploy), 0o644); err != nil {
		t.Fatal(err)
	}
	ref := ObjectRef{APIVersion: "apps/v1", Kind: "Deployment", Namespace: "default", Name: "web"}
	err := Edit(context.Background(), dir, ref, "node1", func(obj []byte) ([]byte, error) {
		return []byte(strings.Replace(string(obj), `"replicas":2`, `"replicas":5`, 1)), nil
	})
	if err != nil {
		t.Fatal(err)
	}
	got, _ := os.ReadFile(file)
	want := svc + "---\n" + strings.Replace(strings.Replace(deploy, "replicas: 2", "replicas: 5", 1),
		"      containers:\n      - name: c\n        image: busybox\n", "      containers:\n        - name: c\n          image: busybox\n", 1)
	if string(got) != want {
		t.Errorf("got:\n%s\nwant:\n%s", got, want)
	}
}

// Strings that YAML 1.1 reads as something else (the manifests are read
// with its rules) must be quoted when an edit writes them, also as new keys.
func TestKeepLayoutQuotesYAML11Words(t *testing.T) {
	orig := "apiVersion: v1\nkind: Pod\nmetadata:\n  name: p # keep\n  labels:\n    a: x\nspec: {}\n"
	for _, v := range []string{"yes", "no", "on", "off", "y", "N", "true", "null", "~", "1", "0x1f", "1e3", "2026-12-02", "a: b", "plain"} {
		t.Run(v, func(t *testing.T) {
			j, err := json.Marshal(map[string]any{"apiVersion": "v1", "kind": "Pod",
				"metadata": map[string]any{"name": "p", "labels": map[string]string{"a": v, "b": v}}, "spec": map[string]any{}})
			if err != nil {
				t.Fatal(err)
			}
			got, err := keepLayout([]byte(orig), j)
			if err != nil {
				t.Fatalf("keepLayout: %v", err)
			}
			var pod struct {
				Metadata struct {
					Labels map[string]string `json:"labels"`
				} `json:"metadata"`
			}
			if err := sigsyaml.Unmarshal(got, &pod); err != nil || pod.Metadata.Labels["a"] != v || pod.Metadata.Labels["b"] != v {
				t.Errorf("read back (%v): %v from\n%s", err, pod.Metadata.Labels, got)
			}
			if !strings.Contains(string(got), "# keep") {
				t.Errorf("comment lost:\n%s", got)
			}
		})
	}
}
