//go:build integration

package image_test

import (
	"bytes"
	"os"
	"path/filepath"
	"reflect"
	"testing"
	"time"

	"github.com/minikubelet/minikubelet/imagebuild"
	"github.com/minikubelet/minikubelet/imagebuild/imagetest"
	"github.com/minikubelet/minikubelet/pause/image"
)

// TestPauseImageRuns imports the pause image the way the agent does and
// runs its binary with runc as the image's user.
func TestPauseImageRuns(t *testing.T) {
	c := imagetest.StartContainerd(t)

	bin := filepath.Join(t.TempDir(), "pause")
	start := time.Now()
	if err := image.BuildBinary(t.Context(), bin); err != nil {
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
	start = time.Now()
	imported := c.Import(t, archive.Bytes())
	t.Logf("pause image (%d bytes) imported in %v", archive.Len(), time.Since(start))
	if len(imported) != 1 || imported[0].Name != image.Ref {
		t.Fatalf("imported %+v, want only %s", imported, image.Ref)
	}

	rootfs := c.Mount(t, image.Ref)
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

	res := c.Run(t, t.Context(), image.Ref, "/pause", "-v")
	if res.ExitCode != 0 || res.Output != "pause.minikubelet 1.0\n" {
		t.Errorf("/pause -v in the image = %+v", res)
	}
}
