//go:build integration

package imagebuild_test

import (
	"bytes"
	"encoding/json"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"reflect"
	"sort"
	"syscall"
	"testing"
	"time"

	"github.com/containerd/containerd/content"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/minikubelet/minikubelet/imagebuild"
	"github.com/minikubelet/minikubelet/internal/dockerarchive"
	"github.com/minikubelet/minikubelet/internal/testenv"
)

func TestMain(m *testing.M) { testenv.Main(m) }

func labImage(names ...string) imagebuild.Image {
	return imagebuild.Image{
		Names: names,
		Layers: [][]imagebuild.File{
			{
				{Path: "/bin/busybox", Mode: 0o755, Source: "/bin/busybox"},
				{Path: "/bin/sh", Mode: fs.ModeSymlink | 0o777, Link: "busybox"},
				{Path: "/bin/echo", Mode: fs.ModeSymlink | 0o777, Link: "/bin/busybox"},
				{Path: "/tmp", Mode: fs.ModeDir | fs.ModeSticky | 0o777},
				{Path: "/etc/greeting", Mode: 0o644, Data: []byte("first\n")},
				{Path: "/etc/removed-later", Mode: 0o644, Data: []byte("x")},
			},
			{
				{Path: "/etc/greeting", Mode: 0o600, Data: []byte("second\n")},
				{Path: "/srv/www/index.html", Mode: 0o644, Data: []byte("<p>hi</p>\n")},
			},
		},
		Config: ocispec.ImageConfig{
			Entrypoint:   []string{"/bin/sh", "-c"},
			Cmd:          []string{"echo $GREETING from $(pwd)"},
			Env:          []string{"PATH=/bin", "GREETING=hello"},
			WorkingDir:   "/srv/www",
			ExposedPorts: map[string]struct{}{"8080/tcp": {}},
			StopSignal:   "SIGQUIT",
			Labels:       map[string]string{"lab": "imagebuild"},
		},
	}
}

func TestImportArchives(t *testing.T) {
	if _, err := os.Stat("/bin/busybox"); err != nil {
		t.Skip("needs /bin/busybox (busybox-static)")
	}
	env := testenv.New(t)

	for _, kind := range []struct {
		name  string
		write func(io.Writer, ...imagebuild.Image) error
	}{
		{"oci", imagebuild.WriteOCIArchive},
		{"docker", dockerarchive.Write},
	} {
		t.Run(kind.name, func(t *testing.T) {
			names := []string{"lab.test/" + kind.name + ":1", "lab.test/" + kind.name + ":latest"}
			img := labImage(names...)
			var archive bytes.Buffer
			if err := kind.write(&archive, img); err != nil {
				t.Fatal(err)
			}
			ctx := env.Ctx(t.Context())
			size, start := archive.Len(), time.Now()
			got, err := env.Runtime.ImportArchive(ctx, &archive)
			if err != nil {
				t.Fatal(err)
			}
			t.Logf("%s archive of %d bytes imported in %v", kind.name, size, time.Since(start))
			sort.Strings(got)
			if !reflect.DeepEqual(got, names) {
				t.Fatalf("imported names = %v, want %v", got, names)
			}

			image, err := env.Client.GetImage(ctx, names[0])
			if err != nil {
				t.Fatal(err)
			}
			cfgDesc, err := image.Config(ctx)
			if err != nil {
				t.Fatal(err)
			}
			var cfg ocispec.Image
			raw, err := content.ReadBlob(ctx, env.Client.ContentStore(), cfgDesc)
			if err != nil {
				t.Fatalf("read config: %v", err)
			}
			if err := json.Unmarshal(raw, &cfg); err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(cfg.Config, img.Config) {
				t.Errorf("config = %+v, want %+v", cfg.Config, img.Config)
			}
			if want := imagebuild.Platform(); cfg.OS != want.OS || cfg.Architecture != want.Architecture {
				t.Errorf("platform %s/%s, want %s/%s", cfg.OS, cfg.Architecture, want.OS, want.Architecture)
			}

			rootfs := env.MountImage(t, names[0])
			checkFile(t, rootfs, "/etc/greeting", 0o600, "second\n")
			checkFile(t, rootfs, "/etc/removed-later", 0o644, "x")
			checkFile(t, rootfs, "/srv/www/index.html", 0o644, "<p>hi</p>\n")
			if link, err := os.Readlink(filepath.Join(rootfs, "bin/sh")); err != nil || link != "busybox" {
				t.Errorf("/bin/sh -> %q, %v; want busybox", link, err)
			}
			if fi, err := os.Stat(filepath.Join(rootfs, "tmp")); err != nil || fi.Mode() != fs.ModeDir|fs.ModeSticky|0o777 {
				t.Errorf("/tmp mode = %v, %v; want dtrwxrwxrwx", fi.Mode(), err)
			}
			if fi, err := os.Stat(filepath.Join(rootfs, "srv")); err != nil || fi.Mode() != fs.ModeDir|0o755 {
				t.Errorf("implicit /srv mode = %v, %v; want drwxr-xr-x", fi.Mode(), err)
			}

			// The image's own entrypoint, cmd, env and working dir, in a pod.
			res := env.Run(t, ctx, names[0])
			if res.ExitCode != 0 || res.Output != "hello from /srv/www\n" {
				t.Errorf("run = %+v, want exit 0 and %q", res, "hello from /srv/www\n")
			}
		})
	}
}

func checkFile(t *testing.T, root, path string, mode fs.FileMode, content string) {
	t.Helper()
	p := filepath.Join(root, path)
	fi, err := os.Lstat(p)
	if err != nil {
		t.Errorf("%s: %v", path, err)
		return
	}
	if fi.Mode() != mode {
		t.Errorf("%s: mode %v, want %v", path, fi.Mode(), mode)
	}
	if st, ok := fi.Sys().(*syscall.Stat_t); ok && (st.Uid != 0 || st.Gid != 0) {
		t.Errorf("%s: owned by %d:%d, want 0:0", path, st.Uid, st.Gid)
	}
	b, err := os.ReadFile(p)
	if err != nil || string(b) != content {
		t.Errorf("%s = %q, %v; want %q", path, b, err, content)
	}
}
