package source

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
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
