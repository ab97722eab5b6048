package source

import (
	"context"
	"io/fs"
	"os"
	"path/filepath"
	"testing"
)

// listTree lists every file under root, relative to it.
func listTree(t *testing.T, root string) []string {
	t.Helper()
	var files []string
	err := filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if !d.IsDir() {
			rel, _ := filepath.Rel(root, path)
			files = append(files, rel)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return files
}

// Nothing an object says may name a file outside the manifests directory:
// the kind, namespace and name of an applied object are checked, and the
// file name built from them is checked again.
func TestApplyNeverWritesOutsideTheDirectory(t *testing.T) {
	root := t.TempDir()
	dir := filepath.Join(root, "a", "b", "manifests")
	for _, c := range []struct{ name, data, want string }{
		{"kind with a path", "apiVersion: v1\nkind: ../../../x/evilkind\nmetadata: {name: x}\n",
			`x.yaml: no matches for kind "../../../x/evilkind" in version "v1"`},
		{"unknown kind", "apiVersion: example.com/v1\nkind: Thing\nmetadata: {name: x}\n",
			`x.yaml: no matches for kind "Thing" in version "example.com/v1"`},
		{"namespace with a path", "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: x, namespace: ../../..}\n",
			`x.yaml: ConfigMap "x" is invalid: metadata.namespace: Invalid value: "../../..": a lowercase RFC 1123 label must consist of lower case alphanumeric characters or '-', and must start and end with an alphanumeric character (e.g. 'my-name',  or '123-abc', regex used for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?')`},
		{"name with dots", "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: ..}\n",
			`x.yaml: ConfigMap ".." is invalid: metadata.name: Invalid value: "..": a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or '.', and must start and end with an alphanumeric character (e.g. 'example.com', regex used for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*')`},
		{"name not DNS", "apiVersion: v1\nkind: Secret\nmetadata: {name: A_B}\n",
			`x.yaml: Secret "A_B" is invalid: metadata.name: Invalid value: "A_B": a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or '.', and must start and end with an alphanumeric character (e.g. 'example.com', regex used for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*')`},
		{"pod namespace with a path", "apiVersion: v1\nkind: Pod\nmetadata: {name: x, namespace: ../..}\nspec: {containers: [{name: c, image: busybox}]}\n",
			`x.yaml: metadata.namespace: Invalid value: "../..": a lowercase RFC 1123 label must consist of lower case alphanumeric characters or '-', and must start and end with an alphanumeric character (e.g. 'my-name',  or '123-abc', regex used for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?')`},
	} {
		t.Run(c.name, func(t *testing.T) {
			_, err := Apply(context.Background(), dir, "x.yaml", []byte(c.data), node)
			if err == nil || err.Error() != c.want {
				t.Errorf("Apply = %v\nwant %s", err, c.want)
			}
			for _, f := range listTree(t, root) {
				if f != filepath.Join("a", "b", "manifests", ".minikubelet.lock") {
					t.Errorf("file written: %s", f)
				}
			}
		})
	}
}

func TestFileBase(t *testing.T) {
	for _, c := range []struct {
		ref  ObjectRef
		want string // empty: refused
	}{
		{ObjectRef{Kind: "Pod", Namespace: "default", Name: "web"}, "default_web"},
		{ObjectRef{Kind: "ConfigMap", Namespace: "kube-system", Name: "a.b"}, "configmap_kube-system_a.b"},
		{ObjectRef{Kind: "Namespace", Name: "prod"}, "namespace_prod"},
		{ObjectRef{Kind: "../x", Namespace: "default", Name: "web"}, ""},
		{ObjectRef{Kind: "Pod", Namespace: "a/b", Name: "web"}, ""},
		{ObjectRef{Kind: "Pod", Namespace: "default", Name: ".."}, ""},
		{ObjectRef{Kind: "Pod", Name: ".."}, ""},
		{ObjectRef{Kind: "Pod", Namespace: "default", Name: "a..b"}, ""},
		{ObjectRef{Kind: "Pod", Namespace: "default", Name: "a\x00b"}, ""},
		{ObjectRef{Kind: "Pod", Namespace: "default", Name: ""}, ""},
	} {
		got, err := fileBase(c.ref)
		if got != c.want || (err == nil) != (c.want != "") {
			t.Errorf("fileBase(%+v) = %q, %v; want %q", c.ref, got, err, c.want)
		}
	}
}

// newFileName refuses a bad ref even when nothing checked it before.
func TestNewFileNameRefusesPaths(t *testing.T) {
	dir := t.TempDir()
	if _, err := newFileName(dir, ObjectRef{Kind: "../../evil", Namespace: "default", Name: "x"}); err == nil {
		t.Error("a kind with a path was accepted")
	}
	if entries, _ := os.ReadDir(dir); len(entries) != 0 {
		t.Errorf("files created: %v", entries)
	}
}
