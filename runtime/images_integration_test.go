//go:build integration

package runtime_test

import (
	"bytes"
	"compress/gzip"
	"errors"
	"maps"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/containerd/containerd/namespaces"
	"go.uber.org/zap/zaptest"

	"github.com/minikubelet/minikubelet/imagebuild"
	"github.com/minikubelet/minikubelet/images"
	"github.com/minikubelet/minikubelet/internal/dockerarchive"
	"github.com/minikubelet/minikubelet/internal/testenv"
	"github.com/minikubelet/minikubelet/runtime"
)

// busyboxNamed is the busybox image under other names, with cfg applied.
func busyboxNamed(t *testing.T, stopSignal string, names ...string) imagebuild.Image {
	t.Helper()
	img, err := images.Busybox(images.BusyboxPath, names...)
	if err != nil {
		t.Fatal(err)
	}
	img.Config.StopSignal = stopSignal
	return img
}

func TestStopSignalFromImage(t *testing.T) {
	env := testenv.New(t)
	ctx := testContext(t)
	var buf bytes.Buffer
	if err := imagebuild.WriteOCIArchive(&buf, busyboxNamed(t, "SIGUSR1", "example.com/lab/stopsig:1")); err != nil {
		t.Fatal(err)
	}
	if names, err := env.Runtime.ImportArchive(ctx, &buf); err != nil || len(names) != 1 {
		t.Fatalf("import: %v %v", names, err)
	}
	info, err := env.Runtime.ImageStatus(ctx, "example.com/lab/stopsig:1")
	if err != nil || info.StopSignal != "SIGUSR1" {
		t.Fatalf("image status: %+v %v", info, err)
	}
	pod := env.Pod(t, `
metadata: {name: stopsig}
spec:
  containers:
  - name: main
    image: example.com/lab/stopsig:1
    command: [sh, -c, 'trap "exit 5" USR1; trap "exit 6" TERM; while true; do sleep 0.2; done']
`)
	_, cs := env.StartPod(t, ctx, pod)
	testenv.WaitFor(t, "the shell to run", func() (bool, string) {
		out, _, err := env.Runtime.ExecSync(ctx, cs[0].ID, []string{"pidof", "sleep"}, 10*time.Second)
		return err == nil && len(bytes.TrimSpace(out)) > 0, string(out)
	})
	if err := env.Runtime.StopContainer(ctx, cs[0].ID, time.Minute); err != nil {
		t.Fatal(err)
	}
	if st := containerState(t, env, pod, cs[0].ID); st.ExitCode != 5 {
		t.Errorf("after StopContainer: %+v (want exit 5 from SIGUSR1)", st)
	}
	teardown(t, env, pod)
}

func TestImportImagesFromDir(t *testing.T) {
	env := testenv.New(t)
	ctx := testContext(t)
	dir := t.TempDir()
	write := func(name string, data []byte) {
		if err := os.WriteFile(filepath.Join(dir, name), data, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	var oci, docker, gz bytes.Buffer
	if err := imagebuild.WriteOCIArchive(&oci, busyboxNamed(t, "", "example.com/lab/oci:1")); err != nil {
		t.Fatal(err)
	}
	if err := dockerarchive.Write(&docker, busyboxNamed(t, "", "example.com/lab/docker:1")); err != nil {
		t.Fatal(err)
	}
	var gzSrc bytes.Buffer
	if err := imagebuild.WriteOCIArchive(&gzSrc, busyboxNamed(t, "", "example.com/lab/gz:1")); err != nil {
		t.Fatal(err)
	}
	zw := gzip.NewWriter(&gz)
	zw.Write(gzSrc.Bytes())
	zw.Close()
	write("a-oci.tar", oci.Bytes())
	write("b-docker.tar", docker.Bytes())
	write("c-compressed.tar.gz", gz.Bytes())
	write("d-broken.tar", []byte("this is not a tarball"))
	write("notes.txt", []byte("ignored"))
	write(".hidden.tar", []byte("ignored too"))

	// The broken file is logged and skipped; the others are imported.
	if err := env.Runtime.ImportImages(ctx, dir); err != nil {
		t.Errorf("ImportImages: %v", err)
	}
	for _, ref := range []string{"example.com/lab/oci:1", "example.com/lab/docker:1", "example.com/lab/gz:1"} {
		if _, err := env.Runtime.ImageStatus(ctx, ref); err != nil {
			t.Errorf("%s: %v", ref, err)
		}
	}
	if err := env.Runtime.ImportImages(ctx, filepath.Join(dir, "missing")); err != nil {
		t.Errorf("missing dir: %v", err)
	}

	// A start imports again only the archives that changed or whose
	// images are gone: containerd rewrites an image's record (its update
	// time) at each import of it.
	imgs := env.Runtime.Client().ImageService()
	nsCtx := namespaces.WithNamespace(ctx, env.Runtime.Namespace())
	updated := func() map[string]time.Time {
		out := map[string]time.Time{}
		for _, ref := range []string{"example.com/lab/oci:1", "example.com/lab/docker:1", "example.com/lab/gz:1"} {
			img, err := imgs.Get(nsCtx, ref)
			if err != nil {
				t.Fatalf("%s: %v", ref, err)
			}
			out[ref] = img.UpdatedAt
		}
		return out
	}
	first := updated()
	if err := env.Runtime.ImportImages(ctx, dir); err != nil {
		t.Fatal(err)
	}
	if again := updated(); !maps.Equal(again, first) {
		t.Errorf("unchanged archives imported again: updated %v, then %v", first, again)
	}
	if err := imgs.Delete(nsCtx, "example.com/lab/docker:1"); err != nil {
		t.Fatal(err)
	}
	later := time.Now().Add(time.Minute)
	if err := os.Chtimes(filepath.Join(dir, "a-oci.tar"), later, later); err != nil {
		t.Fatal(err)
	}
	if err := env.Runtime.ImportImages(ctx, dir); err != nil {
		t.Fatal(err)
	}
	third := updated() // fails if the deleted image did not come back
	if third["example.com/lab/oci:1"].Equal(first["example.com/lab/oci:1"]) {
		t.Error("an archive touched since its import was not imported again")
	}
	if !third["example.com/lab/gz:1"].Equal(first["example.com/lab/gz:1"]) {
		t.Error("an unchanged archive was imported again")
	}
}

func TestPullFromLocalRegistry(t *testing.T) {
	env := testenv.New(t)
	host := testenv.StartRegistry(t)
	ctx := testContext(t)
	ref := host + "/lab/busybox:v1"
	env.Push(t, env.BusyboxRef, ref)
	if _, err := env.Runtime.ImageStatus(ctx, ref); !errors.Is(err, runtime.ErrImageNotPresent) {
		t.Fatalf("before pull: %v", err)
	}
	info, err := env.Runtime.PullImage(ctx, ref)
	if err != nil {
		t.Fatal(err)
	}
	if info.Ref != ref || !strings.HasPrefix(info.ID, host+"/lab/busybox@sha256:") || info.Size == 0 {
		t.Errorf("pulled = %+v", info)
	}
	if _, err := env.Runtime.PullImage(ctx, host+"/lab/busybox:missing"); err == nil {
		t.Error("pulling a missing tag succeeded")
	}
	pod := env.Pod(t, `
metadata: {name: pulled}
spec:
  containers:
  - {name: main, image: "`+ref+`", command: [sh, -c, 'echo from the registry; exec sleep 3600']}
`)
	_, cs := env.StartPod(t, ctx, pod)
	waitLog(t, cs[0].LogPath, "stdout", "from the registry")
	if cs[0].ImageID != info.ID {
		t.Errorf("container image ID %s, pulled %s", cs[0].ImageID, info.ID)
	}
	teardown(t, env, pod)
}

// What the runtime keeps of an image's content is tied to its digest: a
// tag imported again over different content reads as the new image, in
// ImageStatus and in the containers started from it.
func TestImageRetaggedReadsAsTheNewImage(t *testing.T) {
	env := testenv.New(t)
	ctx := testContext(t)
	const ref = "example.com/lab/moving:1"
	load := func(stopSignal string) runtime.ImageInfo {
		t.Helper()
		var buf bytes.Buffer
		if err := imagebuild.WriteOCIArchive(&buf, busyboxNamed(t, stopSignal, ref)); err != nil {
			t.Fatal(err)
		}
		if names, err := env.Runtime.ImportArchive(ctx, &buf); err != nil || len(names) != 1 {
			t.Fatalf("import: %v %v", names, err)
		}
		info, err := env.Runtime.ImageStatus(ctx, ref)
		if err != nil || info.StopSignal != stopSignal {
			t.Fatalf("image status after importing %s: %+v %v", stopSignal, info, err)
		}
		return info
	}
	pod := env.Pod(t, `
metadata: {name: moving}
spec:
  containers:
  - {name: main, image: "example.com/lab/moving:1", command: [sleep, "3600"]}
`)
	started := func(info runtime.ImageInfo) {
		t.Helper()
		_, cs := env.StartPod(t, ctx, pod)
		if st := containerState(t, env, pod, cs[0].ID); st.ImageID != info.ID {
			t.Errorf("container's image ID %s, want %s", st.ImageID, info.ID)
		}
		teardown(t, env, pod)
	}
	first := load("SIGUSR1")
	started(first)
	second := load("SIGUSR2")
	if second.ID == first.ID {
		t.Fatalf("the new content kept the old ID %s", first.ID)
	}
	started(second)
}

// An archive that failed to import at start and is replaced while the
// runtime runs is imported when a pod asks for its image (offline), and
// recorded: the next start does not import it again.
func TestReplacedArchiveImportRecorded(t *testing.T) {
	env := testenv.New(t)
	ctx := testContext(t)
	cfg := env.RuntimeConfig()
	cfg.Offline = true
	rt, err := runtime.New(ctx, zaptest.NewLogger(t), env.Runtime.Client(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = rt.Close() })
	dir := t.TempDir()
	archive := filepath.Join(dir, "fixed.tar")
	if err := os.WriteFile(archive, []byte("not yet a tarball"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := rt.ImportImages(ctx, dir); err != nil {
		t.Fatal(err)
	}
	const ref = "example.com/lab/fixed:1"
	if _, err := rt.ImageStatus(ctx, ref); !errors.Is(err, runtime.ErrImageNotPresent) {
		t.Fatalf("image before the archive is fixed: %v", err)
	}
	var fixed bytes.Buffer
	if err := imagebuild.WriteOCIArchive(&fixed, busyboxNamed(t, "", ref)); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(archive, fixed.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := rt.PullImage(ctx, ref); err != nil {
		t.Fatalf("pull of the fixed archive's image: %v", err)
	}
	img, err := rt.Client().ImageService().Get(namespaces.WithNamespace(ctx, rt.Namespace()), ref)
	if err != nil {
		t.Fatal(err)
	}
	// The next start: containerd rewrites an image's record (its update
	// time) at each import of it.
	if err := rt.ImportImages(ctx, dir); err != nil {
		t.Fatal(err)
	}
	again, err := rt.Client().ImageService().Get(namespaces.WithNamespace(ctx, rt.Namespace()), ref)
	if err != nil {
		t.Fatal(err)
	}
	if !again.UpdatedAt.Equal(img.UpdatedAt) {
		t.Errorf("the archive imported while running was imported again at the next start (updated %v, then %v)", img.UpdatedAt, again.UpdatedAt)
	}
	if _, err := os.Stat(filepath.Join(cfg.Root, "imported-archives.json.tmp")); !os.IsNotExist(err) {
		t.Errorf("temporary record left: %v", err)
	}
}
