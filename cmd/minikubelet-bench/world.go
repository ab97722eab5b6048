package main

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/containerd/containerd"
	"github.com/containerd/containerd/errdefs"
	"github.com/containerd/containerd/namespaces"
	"github.com/containerd/containerd/platforms"
	"github.com/distribution/reference"
	"github.com/vishvananda/netlink"
	"go.uber.org/zap"

	"github.com/minikubelet/minikubelet/imagebuild"
	imgs "github.com/minikubelet/minikubelet/images"
	"github.com/minikubelet/minikubelet/internal/testnet"
	pauseimage "github.com/minikubelet/minikubelet/pause/image"
	"github.com/minikubelet/minikubelet/runtime"
)

// busyboxRef is the image every bench container runs.
const busyboxRef = imgs.BusyboxLatest

// world is everything the bench creates on the host: a temp root, a
// private containerd under it, and per user (floor, agent) a containerd
// namespace, a bridge and a subnet. Its cleanups run in reverse order, on
// success, failure and interrupt alike.
type world struct {
	log    *zap.Logger
	root   string // temp dir holding every file the bench writes
	client *containerd.Client
	daemon *runtime.Daemon
	// archive is an OCI archive with the pause and busybox images.
	archive []byte
	// imagesDir holds the same images as a tarball for the agent's --images.
	imagesDir string

	mu       sync.Mutex
	cleanups []func(context.Context) error
}

// netSpec is one isolated pod network.
type netSpec struct {
	Namespace string // containerd namespace
	Bridge    string
	Subnet    string
}

// newWorld starts the private containerd and builds the images; cri, when
// set, gives the config of containerd's CRI plugin (for the world's root),
// which is off otherwise. On error, what was created is already removed.
func newWorld(ctx context.Context, log *zap.Logger, pauseBinary string, cri func(root string) string) (_ *world, retErr error) {
	root, err := os.MkdirTemp("", "mkbench-")
	if err != nil {
		return nil, err
	}
	w := &world{log: log, root: root}
	w.defer_(func(context.Context) error {
		if err := runtime.UnmountUnder(root); err != nil {
			return err
		}
		return os.RemoveAll(root)
	})
	defer func() {
		if retErr != nil {
			retErr = errors.Join(retErr, w.close())
		}
	}()

	// Nothing answers at this address, so Connect starts a containerd of
	// our own under root: the agent's embedded default, shared here by the
	// floor and the agent so that both talk to the same daemon.
	var opts []runtime.EmbeddedOption
	if cri != nil {
		opts = append(opts, runtime.WithCRI(cri(root)))
	}
	client, daemon, err := runtime.Connect(ctx, log.Named("containerd"), filepath.Join(root, "none.sock"), root, opts...)
	if err != nil {
		return nil, err
	}
	if daemon == nil {
		client.Close()
		return nil, errors.New("expected a private containerd, found one already running for this root")
	}
	w.client, w.daemon = client, daemon
	w.defer_(func(ctx context.Context) error {
		client.Close()
		err := daemon.Stop(ctx)
		// The daemon's state dir (sockets) lives under /run, apart from root.
		return errors.Join(err, os.RemoveAll(filepath.Dir(filepath.Dir(daemon.Address()))))
	})

	pause, err := os.ReadFile(pauseBinary)
	if err != nil {
		return nil, err
	}
	busybox, err := imgs.Busybox(imgs.BusyboxPath)
	if err != nil {
		return nil, err
	}
	var buf bytes.Buffer
	if err := imagebuild.WriteOCIArchive(&buf, pauseimage.Build(pause), busybox); err != nil {
		return nil, err
	}
	w.archive = buf.Bytes()
	var agentImages bytes.Buffer // the agent makes its pause image itself
	if err := imagebuild.WriteOCIArchive(&agentImages, busybox); err != nil {
		return nil, err
	}
	w.imagesDir = filepath.Join(root, "images")
	if err := os.MkdirAll(w.imagesDir, 0o755); err != nil {
		return nil, err
	}
	if err := os.WriteFile(filepath.Join(w.imagesDir, "busybox.tar"), agentImages.Bytes(), 0o644); err != nil {
		return nil, err
	}
	return w, nil
}

// defer_ registers a cleanup; cleanups run last-registered first.
func (w *world) defer_(f func(context.Context) error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.cleanups = append(w.cleanups, f)
}

// close runs every cleanup, even when some fail, on a fresh context: the
// bench's own may have been cancelled by an interrupt. Safe to call twice.
func (w *world) close() error {
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	w.mu.Lock()
	list := w.cleanups
	w.cleanups = nil
	w.mu.Unlock()
	var errs []error
	for i := len(list) - 1; i >= 0; i-- {
		if err := list[i](ctx); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// newNet picks a fresh namespace, bridge name and free /24 for one user of
// the world and registers their removal: every task, container, snapshot,
// image, lease and blob of the namespace, the bridge and the namespace's
// cgroups. Mounts and files under the root go with the root.
func (w *world) newNet(prefix string) (netSpec, error) {
	id := randHex(3)
	subnet, err := testnet.FreeSubnet("10.200.0.0/13")
	if err != nil {
		return netSpec{}, err
	}
	n := netSpec{Namespace: prefix + "-" + id, Bridge: "mkb" + prefix[:1] + id, Subnet: subnet}
	w.defer_(func(ctx context.Context) error {
		err := runtime.PurgeNamespace(ctx, w.client, n.Namespace, nil)
		if link, lerr := netlink.LinkByName(n.Bridge); lerr == nil {
			err = errors.Join(err, netlink.LinkDel(link))
		}
		_ = runtime.RemoveCgroups(runtime.DefaultCgroupRoot(n.Namespace))
		// runc's state dir of the agent's namespace (RuncRoot defaults
		// to /run/minikubelet/runc): empty once its tasks are deleted.
		if err := os.Remove(filepath.Join("/run/minikubelet/runc", n.Namespace)); err != nil && !errors.Is(err, os.ErrNotExist) {
			w.log.Warn("remove runc state dir", zap.Error(err))
		}
		return err
	})
	return n, nil
}

// removeIfNew registers the removal of path, a file or directory outside
// the world's root that a peer creates, when it does not exist yet. It
// reports whether it did.
func (w *world) removeIfNew(path string) bool {
	if _, err := os.Lstat(path); !errors.Is(err, os.ErrNotExist) {
		return false
	}
	w.defer_(func(context.Context) error { return os.RemoveAll(path) })
	return true
}

// importImages puts the bench images into namespace, unpacked.
func (w *world) importImages(ctx context.Context, namespace string) error {
	ctx = namespaces.WithNamespace(ctx, namespace)
	// One lease for the whole import, so nothing is collected half-way.
	ctx, done, err := w.client.WithLease(ctx)
	if err != nil {
		return err
	}
	defer func() { _ = done(context.WithoutCancel(ctx)) }()
	list, err := w.client.Import(ctx, bytes.NewReader(w.archive),
		containerd.WithImportPlatform(platforms.Default()),
		// imagebuild names images with io.containerd.image.name and a
		// ref.name that holds the whole reference.
		containerd.WithImageRefTranslator(func(name string) string {
			named, err := reference.ParseDockerRef(name)
			if err != nil {
				return ""
			}
			return named.String()
		}))
	if err != nil {
		return fmt.Errorf("import bench images into %s: %w", namespace, err)
	}
	for _, img := range list {
		if err := containerd.NewImageWithPlatform(w.client, img, platforms.Default()).Unpack(ctx, containerd.DefaultSnapshotter); err != nil {
			return fmt.Errorf("unpack %s: %w", img.Name, err)
		}
	}
	return nil
}

func randHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

// isNotFound tells errors that mean "already gone".
func isNotFound(err error) bool {
	return errdefs.IsNotFound(err) || errors.Is(err, os.ErrNotExist)
}

// containerdVersion is the daemon's version string.
func (w *world) containerdVersion(ctx context.Context) string {
	v, err := w.client.Version(ctx)
	if err != nil {
		return "unknown"
	}
	return strings.TrimPrefix(v.Version, "v")
}
