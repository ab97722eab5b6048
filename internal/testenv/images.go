package testenv

import (
	"context"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/containerd/containerd"
	"github.com/containerd/containerd/mount"
	"github.com/opencontainers/image-spec/identity"
)

// MountImage mounts a read-only view of the imported image ref's root
// filesystem, as the runtime's snapshotter unpacked it, on a temp dir that
// it returns. It is unmounted and released when the test ends.
func (e *Env) MountImage(t *testing.T, ref string) string {
	t.Helper()
	ctx := e.Ctx(t.Context())
	img, err := e.Client.GetImage(ctx, ref)
	if err != nil {
		t.Fatalf("testenv: get image %s: %v", ref, err)
	}
	diffIDs, err := img.RootFS(ctx)
	if err != nil {
		t.Fatalf("testenv: rootfs of %s: %v", ref, err)
	}
	// A lease keeps the view from the garbage collector, which would
	// otherwise remove it (under the mount) on its next run.
	leaseCtx, deleteLease, err := e.Client.WithLease(ctx)
	if err != nil {
		t.Fatalf("testenv: lease for %s: %v", ref, err)
	}
	sn := e.Client.SnapshotService(containerd.DefaultSnapshotter)
	key := "view-" + randHex(8)
	target := filepath.Join(t.TempDir(), "rootfs")
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(e.Ctx(context.Background()), 30*time.Second)
		defer cancel()
		if err := mount.UnmountAll(target, 0); err != nil {
			t.Errorf("testenv: unmount %s: %v", target, err)
		}
		if err := sn.Remove(ctx, key); err != nil && !isNotFound(err) {
			t.Errorf("testenv: remove snapshot %s: %v", key, err)
		}
		if err := deleteLease(ctx); err != nil {
			t.Errorf("testenv: delete lease: %v", err)
		}
	})
	mounts, err := sn.View(leaseCtx, key, identity.ChainID(diffIDs).String())
	if err != nil {
		t.Fatalf("testenv: view snapshot of %s: %v", ref, err)
	}
	if err := os.Mkdir(target, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := mount.All(mounts, target); err != nil {
		t.Fatalf("testenv: mount snapshot of %s: %v", ref, err)
	}
	return target
}
