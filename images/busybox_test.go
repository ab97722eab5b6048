package images

import (
	"io"
	"io/fs"
	"os"
	"reflect"
	"strings"
	"testing"

	"github.com/minikubelet/minikubelet/imagebuild"
)

func needBusybox(t *testing.T) {
	t.Helper()
	if _, err := os.Stat(BusyboxPath); err != nil {
		t.Skipf("needs %s (busybox-static)", BusyboxPath)
	}
}

func TestBusybox(t *testing.T) {
	needBusybox(t)
	img, err := Busybox(BusyboxPath)
	if err != nil {
		t.Fatal(err)
	}
	if want := []string{BusyboxLatest, Busybox136}; !reflect.DeepEqual(img.Names, want) {
		t.Errorf("names = %v, want %v", img.Names, want)
	}
	if !reflect.DeepEqual(img.Config.Cmd, []string{"sh"}) || img.Config.Entrypoint != nil {
		t.Errorf("entrypoint %v cmd %v, want none and [sh]", img.Config.Entrypoint, img.Config.Cmd)
	}
	if want := []string{"PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"}; !reflect.DeepEqual(img.Config.Env, want) {
		t.Errorf("env = %v, want %v", img.Config.Env, want)
	}
	if len(img.Layers) != 1 {
		t.Fatalf("%d layers, want 1", len(img.Layers))
	}
	files := map[string]imagebuild.File{}
	for _, f := range img.Layers[0] {
		files[f.Path] = f
	}
	for _, c := range []struct {
		path string
		mode fs.FileMode
		link string
	}{
		{"/bin/busybox", 0o755, ""},
		{"/bin/sh", fs.ModeSymlink | 0o777, "/bin/busybox"},
		{"/bin/sleep", fs.ModeSymlink | 0o777, "/bin/busybox"},
		{"/usr/bin/nslookup", fs.ModeSymlink | 0o777, "/bin/busybox"},
		{"/usr/bin/wget", fs.ModeSymlink | 0o777, "/bin/busybox"},
		{"/usr/bin/nc", fs.ModeSymlink | 0o777, "/bin/busybox"},
		{"/usr/sbin/httpd", fs.ModeSymlink | 0o777, "/bin/busybox"},
		{"/tmp", fs.ModeDir | fs.ModeSticky | 0o777, ""},
		{"/root", fs.ModeDir | 0o700, ""},
		{"/etc/passwd", 0o644, ""},
	} {
		f, ok := files[c.path]
		if !ok {
			t.Errorf("%s missing", c.path)
			continue
		}
		if f.Mode != c.mode || f.Link != c.link {
			t.Errorf("%s: mode %v link %q, want %v %q", c.path, f.Mode, f.Link, c.mode, c.link)
		}
	}
	if f := files["/bin/busybox"]; f.Source != BusyboxPath {
		t.Errorf("/bin/busybox source %q", f.Source)
	}
	if _, ok := files["/linuxrc"]; ok {
		t.Error("/linuxrc should be left out")
	}
	if !strings.Contains(string(files["/etc/passwd"].Data), "nobody:x:65534:65534:") {
		t.Errorf("/etc/passwd = %q", files["/etc/passwd"].Data)
	}
	if err := imagebuild.WriteOCIArchive(io.Discard, img); err != nil {
		t.Errorf("image does not build: %v", err)
	}

	named, err := Busybox(BusyboxPath, "lab/busybox:test")
	if err != nil || !reflect.DeepEqual(named.Names, []string{"lab/busybox:test"}) {
		t.Errorf("Busybox with a name = %v, %v", named.Names, err)
	}
}

func TestBusyboxRefusesUnfitBinaries(t *testing.T) {
	for _, c := range []struct{ name, path, want string }{
		{"missing", "/nonexistent/busybox", "no such file"},
		{"not ELF", "/etc/passwd", "bad magic"},
		{"dynamic", "/bin/ls", "dynamically linked"},
	} {
		t.Run(c.name, func(t *testing.T) {
			if _, err := os.Stat(c.path); c.name != "missing" && err != nil {
				t.Fatalf("test input: %v", err)
			}
			_, err := Busybox(c.path)
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Errorf("Busybox(%s) error = %v, want one containing %q", c.path, err, c.want)
			}
		})
	}
}
