package source

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

func readDir(t *testing.T, dir string) map[string]string {
	t.Helper()
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	files := map[string]string{}
	for _, e := range entries {
		if strings.HasPrefix(e.Name(), ".") {
			if e.Name() != ".minikubelet.lock" {
				t.Errorf("leftover temporary file %s", e.Name())
			}
			continue
		}
		data, err := os.ReadFile(filepath.Join(dir, e.Name()))
		if err != nil {
			t.Fatal(err)
		}
		files[e.Name()] = string(data)
	}
	return files
}

func mustApply(t *testing.T, dir, name, data string) []string {
	t.Helper()
	lines, err := Apply(context.Background(), dir, name, []byte(data), node)
	if err != nil {
		t.Fatalf("Apply: %v", err)
	}
	return lines
}

// dirPods parses every file of dir the way the source does.
func dirPods(t *testing.T, dir string) map[string]string {
	t.Helper()
	images := map[string]string{}
	for name, content := range readDir(t, dir) {
		pods, _, errs := ParseFile(filepath.Join(dir, name), []byte(content), node)
		if len(errs) > 0 {
			t.Errorf("%s: %v", name, errs)
		}
		for _, p := range pods {
			images[podKey(p)] = p.Spec.Containers[0].Image
		}
	}
	return images
}

func TestApplyCreateConfigureUnchanged(t *testing.T) {
	dir := t.TempDir()
	seed := string(readTestdata(t, "myapp-pod.yaml"))

	if got := mustApply(t, dir, "init.yml", seed); !slices.Equal(got, []string{"pod/myapp-pod created"}) {
		t.Errorf("lines = %q", got)
	}
	files := readDir(t, dir)
	if files["default_myapp-pod.yaml"] != seed {
		t.Errorf("files = %v", files)
	}

	// Same meaning, other formatting: unchanged, and the file is kept.
	same := strings.Replace(seed, "metadata:\n", "metadata:\n  namespace: default\n", 1) + "  restartPolicy: Always\n"
	if got := mustApply(t, dir, "init.yml", same); !slices.Equal(got, []string{"pod/myapp-pod unchanged"}) {
		t.Errorf("lines = %q", got)
	}
	if readDir(t, dir)["default_myapp-pod.yaml"] != seed {
		t.Errorf("an unchanged apply rewrote the file")
	}

	changed := strings.Replace(seed, "  - name: myapp-container\n    image: busybox:latest", "  - name: myapp-container\n    image: busybox:1.36", 1)
	if got := mustApply(t, dir, "init.yml", changed); !slices.Equal(got, []string{"pod/myapp-pod configured"}) {
		t.Errorf("lines = %q", got)
	}
	if files := readDir(t, dir); len(files) != 1 || files["default_myapp-pod.yaml"] != changed {
		t.Errorf("files = %v", files)
	}
}

func TestApplyMultiDocWithOtherKinds(t *testing.T) {
	dir := t.TempDir()
	got := mustApply(t, dir, "all.yaml", string(readTestdata(t, "services-and-pod.yaml")))
	want := []string{"service/myservice created", "service/mydb created", "pod/web created", "deployment.apps/deployment-example created"}
	if !slices.Equal(got, want) {
		t.Errorf("lines = %q, want %q", got, want)
	}
	var names []string
	for name := range readDir(t, dir) {
		names = append(names, name)
	}
	slices.Sort(names)
	wantNames := []string{"default_web.yaml", "deployment_default_deployment-example.yaml", "service_default_mydb.yaml", "service_default_myservice.yaml"}
	if !slices.Equal(names, wantNames) {
		t.Errorf("files = %v, want %v", names, wantNames)
	}
	if got := readDir(t, dir)["service_default_mydb.yaml"]; !strings.HasPrefix(got, "kind: Service\napiVersion: v1\nmetadata:\n  name: mydb\n") {
		t.Errorf("service file = %q", got)
	}
}

const multiDoc = `# services and a pod
apiVersion: v1
kind: Service
metadata:
  name: svc
spec:
  ports: [{port: 80}]
---
# the pod
apiVersion: v1
kind: Pod
metadata:
  name: web
spec:
  containers: [{name: web, image: nginx:1}]
--- # trailing comment
apiVersion: v1
kind: ConfigMap
metadata:
  name: cfg
data: {a: b}
`

func TestApplyReplacesDocumentInPlace(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "app.yaml")
	if err := os.WriteFile(path, []byte(multiDoc), 0o600); err != nil {
		t.Fatal(err)
	}
	got := mustApply(t, dir, "web.yaml", "apiVersion: v1\nkind: Pod\nmetadata:\n  name: web\nspec:\n  containers: [{name: web, image: nginx:2}]\n")
	if !slices.Equal(got, []string{"pod/web configured"}) {
		t.Errorf("lines = %q", got)
	}
	want := strings.Replace(multiDoc, "# the pod\napiVersion: v1\nkind: Pod\nmetadata:\n  name: web\nspec:\n  containers: [{name: web, image: nginx:1}]\n",
		"apiVersion: v1\nkind: Pod\nmetadata:\n  name: web\nspec:\n  containers: [{name: web, image: nginx:2}]\n", 1)
	files := readDir(t, dir)
	if len(files) != 1 || files["app.yaml"] != want {
		t.Errorf("app.yaml =\n%s\nwant\n%s", files["app.yaml"], want)
	}
	if st, _ := os.Stat(path); st.Mode().Perm() != 0o600 {
		t.Errorf("mode = %v, want the file's own 0600", st.Mode().Perm())
	}
	if got := dirPods(t, dir); got["default/web"] != "nginx:2" {
		t.Errorf("pods = %v", got)
	}

	// The last document (after "--- # comment").
	got = mustApply(t, dir, "cfg.yaml", "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: cfg}\ndata: {a: c}\n")
	if !slices.Equal(got, []string{"configmap/cfg configured"}) {
		t.Errorf("lines = %q", got)
	}
	if files := readDir(t, dir); !strings.HasSuffix(files["app.yaml"], "--- # trailing comment\napiVersion: v1\nkind: ConfigMap\nmetadata: {name: cfg}\ndata: {a: c}\n") {
		t.Errorf("app.yaml =\n%s", files["app.yaml"])
	}
}

func TestApplyReplacesLoneObjectInItsFile(t *testing.T) {
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "my-web.json"), []byte(`{"apiVersion":"v1","kind":"Pod","metadata":{"name":"web"},"spec":{"containers":[{"name":"web","image":"nginx:1"}]}}`), 0o644); err != nil {
		t.Fatal(err)
	}
	mustApply(t, dir, "web.yaml", "apiVersion: v1\nkind: Pod\nmetadata: {name: web}\nspec: {containers: [{name: web, image: 'nginx:2'}]}\n")
	files := readDir(t, dir)
	if len(files) != 1 || !strings.Contains(files["my-web.json"], `"image": "nginx:2"`) {
		t.Errorf("files = %v", files)
	}
	if got := dirPods(t, dir); got["default/web"] != "nginx:2" {
		t.Errorf("pods = %v", got)
	}
}

func TestApplyListItems(t *testing.T) {
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "list.json"), readTestdata(t, "list.json"), 0o644); err != nil {
		t.Fatal(err)
	}
	mustApply(t, dir, "two.yaml", "apiVersion: v1\nkind: Pod\nmetadata: {name: two}\nspec: {containers: [{name: c, image: 'busybox:2'}]}\n")
	if got := dirPods(t, dir); got["default/two"] != "busybox:2" || got["team-a/one"] != "busybox:1.36" || len(got) != 2 {
		t.Errorf("pods = %v", got)
	}
	lines, err := Delete(context.Background(), dir, []ObjectRef{{Kind: "Pod", Namespace: "team-a", Name: "one"}})
	if err != nil || !slices.Equal(lines, []string{"pod/one deleted"}) {
		t.Fatalf("Delete = %q, %v", lines, err)
	}
	if got := dirPods(t, dir); len(got) != 1 || got["default/two"] != "busybox:2" {
		t.Errorf("pods = %v", got)
	}
}

func TestApplyRejectsInvalidInputBeforeWriting(t *testing.T) {
	dir := t.TempDir()
	in := string(readTestdata(t, "services-and-pod.yaml")) + "---\napiVersion: v1\nkind: Pod\nmetadata: {name: bad}\nspec:\n  containers:\n  - {name: a, image: busybox}\n  - {name: b}\n"
	_, err := Apply(context.Background(), dir, "manifests/bad.yaml", []byte(in), node)
	if err == nil {
		t.Fatal("invalid input accepted")
	}
	if got, want := err.Error(), "manifests/bad.yaml: spec.containers[1].image: Required value"; got != want {
		t.Errorf("error = %q, want %q", got, want)
	}
	var fe FileError
	if !errors.As(err, &fe) || fe.Pod != "default/bad" {
		t.Errorf("errors.As = %+v", fe)
	}
	if files := readDir(t, dir); len(files) != 0 {
		t.Errorf("files written: %v", files)
	}

	for _, c := range []struct{ data, want string }{
		{"apiVersion: v1\nkind: Service\nmetadata: {name: s}\nspec: {prots: []}\n", `x.yaml: strict decoding error: unknown field "spec.prots"`},
		{"apiVersion: example.com/v1\nkind: Thing\nmetadata: {}\n", `x.yaml: metadata.name: Required value: name or generateName is required`},
		{"apiVersion: example.com/v1\nkind: Thing\nmetadata: {name: ../x}\n", `x.yaml: metadata.name: Invalid value: "../x": may not contain '/'`},
		{named("a", "busybox") + "---\n" + named("a", "busybox:2"), `x.yaml: document 2: pod/a appears more than once`},
	} {
		if _, err := Apply(context.Background(), dir, "x.yaml", []byte(c.data), node); err == nil || err.Error() != c.want {
			t.Errorf("Apply = %v, want %q", err, c.want)
		}
	}
	if files := readDir(t, dir); len(files) != 0 {
		t.Errorf("files written: %v", files)
	}
}

func TestApplyAvoidsExistingFileNames(t *testing.T) {
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "default_web.yaml"), []byte("# not a pod\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	mustApply(t, dir, "web.yaml", named("web", "nginx"))
	files := readDir(t, dir)
	if files["default_web.yaml"] != "# not a pod\n" || files["default_web-2.yaml"] == "" {
		t.Errorf("files = %v", files)
	}
}

func TestDelete(t *testing.T) {
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "app.yaml"), []byte(multiDoc), 0o644); err != nil {
		t.Fatal(err)
	}
	mustApply(t, dir, "a.yaml", named("alone", "busybox"))

	lines, err := Delete(context.Background(), dir, []ObjectRef{{APIVersion: "v1", Kind: "Pod", Name: "alone"}, {Kind: "Pod", Name: "web"}})
	if err != nil || !slices.Equal(lines, []string{"pod/alone deleted", "pod/web deleted"}) {
		t.Fatalf("Delete = %q, %v", lines, err)
	}
	files := readDir(t, dir)
	if _, ok := files["default_alone.yaml"]; ok || len(files) != 1 {
		t.Errorf("files = %v", files)
	}
	wantApp := "# services and a pod\napiVersion: v1\nkind: Service\nmetadata:\n  name: svc\nspec:\n  ports: [{port: 80}]\n" +
		"--- # trailing comment\napiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: cfg\ndata: {a: b}\n"
	if files["app.yaml"] != wantApp {
		t.Errorf("app.yaml =\n%s\nwant\n%s", files["app.yaml"], wantApp)
	}

	// The first document, then the last one: the file goes with it.
	if _, err := Delete(context.Background(), dir, []ObjectRef{{Kind: "Service", Name: "svc"}}); err != nil {
		t.Fatal(err)
	}
	if got := readDir(t, dir)["app.yaml"]; got != "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: cfg\ndata: {a: b}\n" {
		t.Errorf("app.yaml =\n%s", got)
	}
	if _, err := Delete(context.Background(), dir, []ObjectRef{{Kind: "ConfigMap", Name: "cfg"}}); err != nil {
		t.Fatal(err)
	}
	if files := readDir(t, dir); len(files) != 0 {
		t.Errorf("files = %v", files)
	}
}

func TestDeleteNotFound(t *testing.T) {
	dir := t.TempDir()
	mustApply(t, dir, "a.yaml", named("a", "busybox"))
	lines, err := Delete(context.Background(), dir, []ObjectRef{
		{Kind: "Pod", Name: "x"},
		{Kind: "Pod", Name: "a", Namespace: "other"},
		{APIVersion: "apps/v1", Kind: "Deployment", Name: "d"},
		{Kind: "Pod", Name: "a"},
	})
	if !slices.Equal(lines, []string{"pod/a deleted"}) {
		t.Errorf("lines = %q", lines)
	}
	want := "pods \"x\" not found\npods \"a\" not found\ndeployments.apps \"d\" not found"
	if err == nil || err.Error() != want {
		t.Errorf("error = %v, want %q", err, want)
	}
	if _, err := Delete(context.Background(), filepath.Join(dir, "missing"), []ObjectRef{{Kind: "Pod", Name: "x"}}); err == nil || err.Error() != `pods "x" not found` {
		t.Errorf("missing dir: %v", err)
	}
}

func TestDeleteRemovesDuplicatesToo(t *testing.T) {
	dir := t.TempDir()
	for _, name := range []string{"a.yaml", "b.yaml"} {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(named("web", "nginx")), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := Delete(context.Background(), dir, []ObjectRef{{Kind: "Pod", Name: "web"}}); err != nil {
		t.Fatal(err)
	}
	if files := readDir(t, dir); len(files) != 0 {
		t.Errorf("files = %v", files)
	}
}

func TestObjectsIn(t *testing.T) {
	refs, err := ObjectsIn(readTestdata(t, "services-and-pod.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	want := []ObjectRef{
		{APIVersion: "v1", Kind: "Service", Name: "myservice"},
		{APIVersion: "v1", Kind: "Service", Name: "mydb"},
		{APIVersion: "v1", Kind: "Pod", Name: "web"},
		{APIVersion: "apps/v1", Kind: "Deployment", Name: "deployment-example"},
	}
	if !slices.Equal(refs, want) {
		t.Errorf("refs = %+v", refs)
	}
	refs, err = ObjectsIn(readTestdata(t, "list.json"))
	if err != nil || len(refs) != 2 || refs[0].Namespace != "team-a" {
		t.Errorf("list: %+v, %v", refs, err)
	}
	if _, err := ObjectsIn([]byte("metadata: {name: x}\n")); err == nil {
		t.Errorf("an object without kind was accepted")
	}
}

func TestPluralize(t *testing.T) {
	for in, want := range map[string]string{"pod": "pods", "ingress": "ingresses", "networkpolicy": "networkpolicies",
		"endpoints": "endpoints", "gateway": "gateways", "service": "services"} {
		if got := pluralize(in); got != want {
			t.Errorf("pluralize(%s) = %s, want %s", in, got, want)
		}
	}
}
