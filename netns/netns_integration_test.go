//go:build integration

package netns

import (
	"errors"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"golang.org/x/sys/unix"
)

func requireRoot(t *testing.T) {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("needs root (network namespaces, mounts, CNI)")
	}
}

// newTestNS creates a namespace under dir and removes it when the test ends.
func newTestNS(t *testing.T, dir string) *NetNS {
	t.Helper()
	ns, err := New(dir)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := ns.Remove(); err != nil {
			t.Errorf("cleanup: %v", err)
		}
	})
	return ns
}

func nsInode(t *testing.T, path string) uint64 {
	t.Helper()
	var st unix.Stat_t
	if err := unix.Stat(path, &st); err != nil {
		t.Fatal(err)
	}
	return st.Ino
}

func TestNetNSLifecycle(t *testing.T) {
	requireRoot(t)
	dir := filepath.Join(t.TempDir(), "netns") // New creates it
	ns := newTestNS(t, dir)

	if filepath.Dir(ns.Path()) != dir || !strings.HasPrefix(filepath.Base(ns.Path()), "cni-") {
		t.Errorf("path %q: want %s/cni-<uuid>", ns.Path(), dir)
	}
	if !ns.Exists() {
		t.Fatal("new namespace does not exist")
	}
	if nsInode(t, ns.Path()) == nsInode(t, "/proc/self/ns/net") {
		t.Fatal("new namespace is the host's")
	}
	other := newTestNS(t, dir)
	if nsInode(t, ns.Path()) == nsInode(t, other.Path()) {
		t.Fatal("two New calls gave the same namespace")
	}
	// The creating thread is gone, yet the bind mount keeps it alive; a
	// fresh Load sees the same namespace.
	if !Load(ns.Path()).Exists() {
		t.Fatal("Load of a live namespace: Exists is false")
	}

	var inside uint64
	var ifaces []net.Interface
	err := ns.Do(func() error {
		var st unix.Stat_t
		if err := unix.Stat("/proc/thread-self/ns/net", &st); err != nil {
			return err
		}
		inside = st.Ino
		var err error
		ifaces, err = net.Interfaces()
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	if inside != nsInode(t, ns.Path()) {
		t.Errorf("Do ran in namespace %d, want %d", inside, nsInode(t, ns.Path()))
	}
	if len(ifaces) != 1 || ifaces[0].Name != "lo" {
		t.Errorf("interfaces in a new namespace = %v, want only lo", ifaces)
	}
	// Do leaves the caller's thread alone.
	if nsInode(t, "/proc/thread-self/ns/net") != nsInode(t, "/proc/self/ns/net") {
		t.Error("the test goroutine's thread left the host namespace")
	}
	wantErr := errors.New("from fn")
	if err := ns.Do(func() error { return wantErr }); !errors.Is(err, wantErr) {
		t.Errorf("Do returned %v, want fn's error", err)
	}

	if err := ns.Remove(); err != nil {
		t.Fatal(err)
	}
	if ns.Exists() {
		t.Error("Exists after Remove")
	}
	if _, err := os.Stat(ns.Path()); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("file after Remove: %v", err)
	}
	if err := ns.Remove(); err != nil {
		t.Errorf("second Remove: %v", err)
	}
	if err := ns.Do(func() error { return nil }); err == nil {
		t.Error("Do in a removed namespace succeeded")
	}

	// A file whose mount is gone (as after a reboot) is not a namespace,
	// and Remove cleans it up.
	stale := Load(filepath.Join(dir, "cni-stale"))
	if err := os.WriteFile(stale.Path(), nil, 0o444); err != nil {
		t.Fatal(err)
	}
	if stale.Exists() {
		t.Error("plain file counts as a namespace")
	}
	if err := stale.Do(func() error { return nil }); err == nil {
		t.Error("Do in a plain file succeeded")
	}
	if err := stale.Remove(); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(stale.Path()); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("stale file after Remove: %v", err)
	}
}

// TestNoThreadLeftInPodNamespace: after many New and Do calls every thread
// of the process is back in the host namespace, the main thread included
// (a goroutine that lands on it must not leave it behind in a pod's
// namespace, where the runtime would park it for good).
func TestNoThreadLeftInPodNamespace(t *testing.T) {
	requireRoot(t)
	host := nsInode(t, "/proc/self/ns/net")
	dir := t.TempDir()
	for i := 0; i < 50; i++ {
		ns, err := New(dir)
		if err != nil {
			t.Fatal(err)
		}
		if err := ns.Do(func() error { return nil }); err != nil {
			t.Fatal(err)
		}
		if err := ns.Remove(); err != nil {
			t.Fatal(err)
		}
	}
	tasks, err := os.ReadDir("/proc/self/task")
	if err != nil {
		t.Fatal(err)
	}
	for _, task := range tasks {
		p := filepath.Join("/proc/self/task", task.Name(), "ns/net")
		var st unix.Stat_t
		if err := unix.Stat(p, &st); err != nil {
			continue // the thread just exited
		}
		if st.Ino != host {
			t.Errorf("thread %s is in namespace %d, not the host's %d", task.Name(), st.Ino, host)
		}
	}
}
