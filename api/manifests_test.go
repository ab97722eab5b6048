package api

import (
	"context"
	"errors"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

const webManifest = `apiVersion: v1
kind: Pod
metadata:
  name: web
spec:
  containers:
  - name: app
    image: busybox
`

func TestApplyAndDelete(t *testing.T) {
	env := startServer(t, Deps{NodeName: "node1"})
	ctx := context.Background()

	results, err := env.client.Apply(ctx, "web.yaml", []byte(webManifest))
	if err != nil || strings.Join(results, "|") != "pod/web created" {
		t.Fatalf("apply: %q, %v", results, err)
	}
	files, _ := filepath.Glob(filepath.Join(env.deps.ManifestDir, "*.yaml"))
	if len(files) != 1 {
		t.Fatalf("manifest files %v", files)
	}
	results, err = env.client.Apply(ctx, "web.yaml", []byte(webManifest))
	if err != nil || strings.Join(results, "|") != "pod/web unchanged" {
		t.Errorf("apply again: %q, %v", results, err)
	}

	results, err = env.client.DeletePod(ctx, "default", "web")
	if err != nil || strings.Join(results, "|") != `pod "web" deleted` {
		t.Errorf("delete: %q, %v", results, err)
	}
	if _, err := os.Stat(files[0]); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("manifest still there: %v", err)
	}
	_, err = env.client.DeletePod(ctx, "default", "web")
	if !apierrors.IsNotFound(err) || err.Error() != `pods "web" not found` {
		t.Errorf("delete again: %v", err)
	}

	// Delete by manifest.
	if _, err := env.client.Apply(ctx, "", []byte(webManifest)); err != nil {
		t.Fatal(err)
	}
	results, err = env.client.Delete(ctx, []byte(webManifest))
	if err != nil || strings.Join(results, "|") != `pod "web" deleted` {
		t.Errorf("delete -f: %q, %v", results, err)
	}
}

func TestApplyInvalid(t *testing.T) {
	env := startServer(t, Deps{})
	ctx := context.Background()
	noImage := strings.Replace(webManifest, "    image: busybox\n", "", 1)
	_, err := env.client.Apply(ctx, "web.yaml", []byte(noImage))
	var se *apierrors.StatusError
	if !errors.As(err, &se) || !apierrors.IsInvalid(err) {
		t.Fatalf("apply without image: %v", err)
	}
	st := se.ErrStatus
	if st.Code != 422 || st.Details == nil || st.Details.Kind != "Pod" || st.Details.Name != "web" ||
		len(st.Details.Causes) != 1 || st.Details.Causes[0].Field != "spec.containers[0].image" ||
		st.Details.Causes[0].Type != metav1.CauseTypeFieldValueRequired {
		t.Errorf("status %+v details %+v", st, st.Details)
	}

	// Unparsable input is refused too, and nothing is written.
	_, err = env.client.Apply(ctx, "", []byte("kind: [\n"))
	if !apierrors.IsInvalid(err) || !strings.Contains(err.Error(), "STDIN") {
		t.Errorf("apply garbage: %v", err)
	}
	files, _ := filepath.Glob(filepath.Join(env.deps.ManifestDir, "*.yaml"))
	if len(files) != 0 {
		t.Errorf("files written: %v", files)
	}
}

// The kind of an applied object never reaches a file path: an attack that
// used to create evilkind_default_x.yaml three levels above the manifests
// directory is refused and writes nothing.
func TestApplyRefusesKindWithPath(t *testing.T) {
	root := t.TempDir()
	manifests := filepath.Join(root, "a", "b", "c", "manifests")
	env := startServer(t, Deps{ManifestDir: manifests})
	_, err := env.client.Apply(context.Background(), "", []byte("apiVersion: v1\nkind: ../../../x/evilkind\nmetadata: {name: x}\n"))
	if !apierrors.IsInvalid(err) || !strings.Contains(err.Error(), `STDIN: no matches for kind "../../../x/evilkind" in version "v1"`) {
		t.Errorf("apply: %v", err)
	}
	err = filepath.WalkDir(root, func(path string, d os.DirEntry, err error) error {
		if err == nil && !d.IsDir() && filepath.Base(path) != ".minikubelet.lock" {
			t.Errorf("file written: %s", path)
		}
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
}

type graces map[string]time.Duration

func (g graces) SetDeletionGrace(namespace, name string, grace time.Duration) {
	g[namespace+"/"+name] = grace
}

// A delete's gracePeriodSeconds reaches the pod workers before the manifest
// goes; a bad one is refused and deletes nothing.
func TestDeleteWithGracePeriod(t *testing.T) {
	got := graces{}
	env := startServer(t, Deps{NodeName: "node1", Terminator: got})
	ctx := context.Background()
	if _, err := env.client.Apply(ctx, "web.yaml", []byte(webManifest)); err != nil {
		t.Fatal(err)
	}
	if _, err := env.client.DeleteObjectWithGrace(ctx, "v1", "Pod", "default", "web", -1); err == nil {
		if _, err := env.client.Apply(ctx, "web.yaml", []byte(webManifest)); err != nil {
			t.Fatal(err)
		}
	}
	if len(got) != 0 {
		t.Fatalf("a delete without a grace period set one: %v", got)
	}
	results, err := env.client.DeleteObjectWithGrace(ctx, "v1", "Pod", "default", "web", 5)
	if err != nil || strings.Join(results, "|") != `pod "web" deleted` || got["default/web"] != 5*time.Second {
		t.Fatalf("delete: %q, %v, graces %v", results, err, got)
	}
	if _, err := env.client.Apply(ctx, "web.yaml", []byte(webManifest)); err != nil {
		t.Fatal(err)
	}
	q := url.Values{"kind": {"Pod"}, "namespace": {"default"}, "name": {"web"}, "gracePeriodSeconds": {"-3"}}
	if _, err := env.client.postResults(ctx, "/delete", q, nil); !apierrors.IsBadRequest(err) || !strings.Contains(err.Error(), "gracePeriodSeconds") {
		t.Fatalf("negative grace period: %v", err)
	}
	if files, _ := filepath.Glob(filepath.Join(env.deps.ManifestDir, "*.yaml")); len(files) != 1 {
		t.Fatalf("a refused delete removed %v", files)
	}
}
