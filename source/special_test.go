package source

import (
	"context"
	"net"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// hangGuard fails the test when f has not returned long after it should
// have: what it guards used to block forever. Not a timing target.
func hangGuard(t *testing.T, what string, f func()) {
	t.Helper()
	done := make(chan struct{})
	go func() {
		defer close(done)
		f()
	}()
	select {
	case <-done:
	case <-time.After(time.Minute):
		t.Fatalf("%s hangs", what)
	}
}

// specialFiles puts a named pipe, a unix socket and a symlink to the pipe
// in dir under manifest names.
func specialFiles(t *testing.T, dir string) {
	t.Helper()
	if err := syscall.Mkfifo(filepath.Join(dir, "fifo.yaml"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink("fifo.yaml", filepath.Join(dir, "link-to-fifo.yaml")); err != nil {
		t.Fatal(err)
	}
	l, err := net.Listen("unix", filepath.Join(dir, "sock.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
}

// Only regular files are read: a named pipe, a socket or a symlink to one
// is reported once as a problem of that file and skipped, and pods in
// other files still run. A symlink to a regular file is read, as by the
// kubelet.
func TestSourceSkipsSpecialFiles(t *testing.T) {
	dir := t.TempDir()
	specialFiles(t, dir)
	if err := os.WriteFile(filepath.Join(dir, "real.yaml.txt"), []byte(named("linked", "busybox")), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink("real.yaml.txt", filepath.Join(dir, "link.yaml")); err != nil {
		t.Fatal(err)
	}
	h := startSource(t, Config{Dir: dir, NodeName: node, Rescan: time.Hour})
	h.write("a.yaml", named("a", "busybox"))
	var u Update
	hangGuard(t, "the source", func() {
		u = h.waitFor("pods a and linked", func(u Update) bool { return len(u.Pods) == 2 })
	})
	if got := strings.Join(podNames(u), " "); got != "default/a default/linked" {
		t.Errorf("pods = %s", got)
	}
	want := []string{
		filepath.Join(dir, "fifo.yaml") + ": not a regular file (named pipe): skipped",
		filepath.Join(dir, "link-to-fifo.yaml") + ": not a regular file (named pipe): skipped",
		filepath.Join(dir, "sock.yaml") + ": not a regular file (socket): skipped",
	}
	if got := errStrings(u.Errors); strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("errors =\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
}

// Apply and Delete list the directory too: a named pipe there must not
// block them.
func TestApplyAndDeleteIgnoreSpecialFiles(t *testing.T) {
	dir := t.TempDir()
	specialFiles(t, dir)
	hangGuard(t, "apply and delete", func() {
		if _, err := Apply(context.Background(), dir, "a.yaml", []byte(named("a", "busybox")), node); err != nil {
			t.Errorf("Apply: %v", err)
		}
		if _, err := Delete(context.Background(), dir, []ObjectRef{{Kind: "Pod", Name: "a"}}); err != nil {
			t.Errorf("Delete: %v", err)
		}
	})
}

func TestReadManifestKinds(t *testing.T) {
	dir := t.TempDir()
	specialFiles(t, dir)
	if err := os.Mkdir(filepath.Join(dir, "d.yaml"), 0o755); err != nil {
		t.Fatal(err)
	}
	big := filepath.Join(dir, "big.yaml")
	if err := os.WriteFile(big, make([]byte, MaxFileSize+1), 0o644); err != nil {
		t.Fatal(err)
	}
	for name, want := range map[string]string{
		"fifo.yaml":    "not a regular file (named pipe): skipped",
		"sock.yaml":    "not a regular file (socket): skipped",
		"d.yaml":       "not a regular file (directory): skipped",
		"big.yaml":     "file is larger than the 10485760 byte limit",
		"missing.yaml": "no such file",
		"/dev/null":    "not a regular file (character device): skipped",
	} {
		path := name
		if !filepath.IsAbs(name) {
			path = filepath.Join(dir, name)
		}
		hangGuard(t, "readManifest "+name, func() {
			if _, err := readManifest(path); err == nil || err.Error() != want {
				t.Errorf("readManifest(%s) = %v, want %s", name, err, want)
			}
		})
	}
}
