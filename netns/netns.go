// Package netns owns the network side of pod sandboxes: named network
// namespaces (bind-mounted files, as containerd's pkg/netns makes them) and
// the CNI calls that wire them to the node's bridge (see network.go).
//
// A namespace outlives the process that created it because it is bind-mounted
// onto a file; the file path is the namespace's only identity, so the agent
// can find it again after a restart with Load.
package netns

import (
	"crypto/rand"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"runtime"

	"golang.org/x/sys/unix"
)

// NetNS is a named network namespace bind-mounted at a path.
// A NetNS value holds no file descriptor: it is just the path, safe to copy
// and to use from any goroutine.
type NetNS struct {
	path string
}

// New creates dir if needed and a new network namespace bind-mounted at
// dir/cni-<random uuid>. The namespace contains only a (down) loopback device
// until CNI sets it up.
func New(dir string) (*NetNS, error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, fmt.Errorf("create netns directory %s: %w", dir, err)
	}
	name, err := randomName()
	if err != nil {
		return nil, err
	}
	path := filepath.Join(dir, name)

	// O_EXCL: a clash with an existing name must fail, never mount over it.
	f, err := os.OpenFile(path, os.O_RDONLY|os.O_CREATE|os.O_EXCL, 0o444)
	if err != nil {
		return nil, fmt.Errorf("create netns mount point %s: %w", path, err)
	}
	_ = f.Close()

	errc := make(chan error, 1)
	go func() {
		errc <- onLockedThread(func() error { return unshareAndBind(path) })
	}()
	if err := <-errc; err != nil {
		_ = os.Remove(path)
		return nil, fmt.Errorf("create netns %s: %w", path, err)
	}
	return &NetNS{path: path}, nil
}

// onLockedThread runs fn, which may switch the calling thread's network
// namespace, on a thread locked to the calling goroutine, and then moves the
// thread back to the namespace it started in. Call it from a goroutine of its
// own. The thread returns to the scheduler only once it is back home; if that
// fails the goroutine exits still locked and the Go runtime discards the
// thread. Restoring matters even so: the goroutine may have landed on the
// main thread, which the runtime cannot discard (it parks it forever), and a
// main thread parked inside a pod's namespace would keep that namespace alive
// and make /proc/self/ns/net point into it.
func onLockedThread(fn func() error) error {
	runtime.LockOSThread()
	home, err := unix.Open("/proc/thread-self/ns/net", unix.O_RDONLY|unix.O_CLOEXEC, 0)
	if err != nil {
		runtime.UnlockOSThread()
		return fmt.Errorf("open current netns: %w", err)
	}
	defer unix.Close(home)
	fnErr := fn()
	if err := unix.Setns(home, unix.CLONE_NEWNET); err != nil {
		return errors.Join(fnErr, fmt.Errorf("return thread to its netns: %w", err))
	}
	runtime.UnlockOSThread()
	return fnErr
}

// unshareAndBind moves the calling (locked) thread into a new network
// namespace and pins that namespace by bind-mounting it onto path.
func unshareAndBind(path string) error {
	if err := unix.Unshare(unix.CLONE_NEWNET); err != nil {
		return fmt.Errorf("unshare network namespace: %w", err)
	}
	// /proc/self/ns/net is the namespace of the thread group leader, not of
	// this thread, so name the thread explicitly.
	src := fmt.Sprintf("/proc/self/task/%d/ns/net", unix.Gettid())
	if err := unix.Mount(src, path, "none", unix.MS_BIND, ""); err != nil {
		return fmt.Errorf("bind mount %s on %s: %w", src, path, err)
	}
	return nil
}

// randomName returns "cni-" and a random version-4 UUID, the shape
// containerd gives its pod namespaces.
func randomName() (string, error) {
	var b [16]byte
	if _, err := rand.Read(b[:]); err != nil {
		return "", fmt.Errorf("generate netns name: %w", err)
	}
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	return fmt.Sprintf("cni-%x-%x-%x-%x-%x", b[0:4], b[4:6], b[6:8], b[8:10], b[10:16]), nil
}

// Load refers to an existing namespace at path, e.g. one recorded before an
// agent restart. It does not check anything; use Exists for that.
func Load(path string) *NetNS {
	return &NetNS{path: path}
}

// Path is the bind-mount file, suitable for an OCI spec's network namespace
// path and for CNI_NETNS.
func (n *NetNS) Path() string {
	return n.path
}

// Exists reports whether path still holds a mounted network namespace. A file
// left behind without its mount (e.g. after a reboot, or a half-done Remove)
// does not count.
func (n *NetNS) Exists() bool {
	fd, err := unix.Open(n.path, unix.O_RDONLY|unix.O_CLOEXEC|unix.O_NOFOLLOW, 0)
	if err != nil {
		return false
	}
	defer unix.Close(fd)
	return isNetNSFD(fd)
}

func isNetNSFD(fd int) bool {
	var st unix.Statfs_t
	if err := unix.Fstatfs(fd, &st); err != nil || st.Type != unix.NSFS_MAGIC {
		return false
	}
	typ, err := unix.IoctlRetInt(fd, unix.NS_GET_NSTYPE)
	return err == nil && typ == unix.CLONE_NEWNET
}

// Remove unmounts the namespace (lazily, so processes still inside keep it
// alive until they exit) and deletes the file. It returns nil when the
// namespace is already gone, so it is safe to call twice and after a crash
// that left only the file.
func (n *NetNS) Remove() error {
	// A path mounted more than once (which we never do, but a crash-retry
	// could) needs one unmount per mount; stop at "not a mount point".
	for i := 0; i < 8; i++ {
		err := unix.Unmount(n.path, unix.MNT_DETACH|unix.UMOUNT_NOFOLLOW)
		if err == nil {
			continue
		}
		if errors.Is(err, unix.EINVAL) || errors.Is(err, unix.ENOENT) {
			break
		}
		return fmt.Errorf("unmount netns %s: %w", n.path, err)
	}
	if err := os.Remove(n.path); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("remove netns file %s: %w", n.path, err)
	}
	return nil
}

// Do runs fn on an OS thread that is inside the namespace and returns fn's
// error. Sockets fn creates belong to the namespace and stay usable after Do
// returns (a listener opened in fn can be served from any goroutine), but
// goroutines fn starts run outside it. Meant for tests and diagnostics.
func (n *NetNS) Do(fn func() error) error {
	fd, err := unix.Open(n.path, unix.O_RDONLY|unix.O_CLOEXEC, 0)
	if err != nil {
		return fmt.Errorf("open netns %s: %w", n.path, err)
	}
	defer unix.Close(fd)

	errc := make(chan error, 1)
	go func() {
		errc <- onLockedThread(func() error {
			// CLONE_NEWNET makes setns refuse any other kind of namespace.
			if err := unix.Setns(fd, unix.CLONE_NEWNET); err != nil {
				return fmt.Errorf("enter netns %s: %w", n.path, err)
			}
			return fn()
		})
	}()
	return <-errc
}
