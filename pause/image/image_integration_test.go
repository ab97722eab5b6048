//go:build integration

package image_test

import (
	"bytes"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/minikubelet/minikubelet/imagebuild"
	"github.com/minikubelet/minikubelet/internal/gobuild"
	"github.com/minikubelet/minikubelet/internal/testenv"
	"github.com/minikubelet/minikubelet/pause/image"
)

func TestMain(m *testing.M) { testenv.Main(m) }

// TestPauseImageRuns imports the pause image the way the agent does and
// runs its binary in a pod, as the image's user.
func TestPauseImageRuns(t *testing.T) {
	env := testenv.New(t)
	ctx := t.Context()

	bin := filepath.Join(t.TempDir(), "pause")
	start := time.Now()
	if err := gobuild.Pause(t.Context(), bin); err != nil {
		t.Fatal(err)
	}
	t.Logf("pause binary built in %v", time.Since(start))
	binary, err := os.ReadFile(bin)
	if err != nil {
		t.Fatal(err)
	}
	var archive bytes.Buffer
	if err := imagebuild.WriteOCIArchive(&archive, image.Build(binary)); err != nil {
		t.Fatal(err)
	}
	size, start := archive.Len(), time.Now()
	imported, err := env.Runtime.ImportArchive(ctx, &archive)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("pause image (%d bytes) imported in %v", size, time.Since(start))
	if !reflect.DeepEqual(imported, []string{image.Ref}) {
		t.Fatalf("imported %v, want only %s", imported, image.Ref)
	}

	rootfs := env.MountImage(t, image.Ref)
	entries, err := os.ReadDir(rootfs)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, e := range entries {
		names = append(names, e.Name())
	}
	if !reflect.DeepEqual(names, []string{"pause"}) {
		t.Errorf("rootfs holds %v, want only pause", names)
	}

	res := env.Run(t, ctx, image.Ref, "/pause", "-v")
	version := image.Ref[strings.LastIndexByte(image.Ref, ':')+1:]
	if res.ExitCode != 0 || res.Output != "pause.minikubelet "+version+"\n" {
		t.Errorf("/pause -v in the image = %+v, want it to print version %s", res, version)
	}
}
