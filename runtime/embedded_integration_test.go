//go:build integration

package runtime

import (
	"context"
	"os"
	"path/filepath"
	"testing"
	"time"

	"go.uber.org/zap/zaptest"
)

// TestConnectStartsEmbeddedDaemon: nothing answers at the address, so Connect
// starts a private containerd under root; a second Connect over the same root
// finds that daemon; Stop ends it.
func TestConnectStartsEmbeddedDaemon(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root")
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	root := t.TempDir()
	log := zaptest.NewLogger(t)

	client, d, err := Connect(ctx, log, filepath.Join(root, "nothing.sock"), root)
	if err != nil {
		t.Fatal(err)
	}
	if d == nil {
		t.Fatal("expected an embedded daemon")
	}
	t.Cleanup(func() {
		client.Close()
		stopCtx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		if err := d.Stop(stopCtx); err != nil {
			t.Error(err)
		}
		_ = os.RemoveAll(filepath.Dir(d.cfg.State))
	})
	v, err := client.Version(ctx)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("embedded containerd %s at %s", v.Version, d.Address())

	// The daemon's own socket answers now: a second Connect uses it.
	client2, d2, err := Connect(ctx, log, d.Address(), root)
	if err != nil {
		t.Fatal(err)
	}
	client2.Close()
	if d2 != nil {
		t.Fatal("second Connect started another daemon")
	}
}
