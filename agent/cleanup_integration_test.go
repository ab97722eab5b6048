//go:build integration

package agent

import (
	"context"
	"errors"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"github.com/containerd/containerd/namespaces"
	"github.com/containerd/containerd/snapshots"
	"github.com/vishvananda/netlink"
	"go.uber.org/zap/zaptest"

	"github.com/minikubelet/minikubelet/internal/testenv"
	"github.com/minikubelet/minikubelet/internal/testhost"
	"github.com/minikubelet/minikubelet/runtime"
	"github.com/minikubelet/minikubelet/services"
)

// `minikubelet cleanup` empties the node on purpose: after an agent
// stopped with pods running and a kill -9 left its Services' nftables table
// and interface behind, Cleanup removes every container, snapshot, image,
// network namespace, IP lease, the bridge, the table, the interface, the
// route, the runc state, the cgroups and the agent's state dirs. While an
// agent runs, it refuses and changes nothing.
func TestCleanupRemovesEverything(t *testing.T) {
	env := testenv.New(t)
	cfg := testConfig(t, env)
	a := startAgent(t, cfg)
	a.write("p.yaml", pod("p", "Always", "  - {name: c, image: busybox, command: [sleep, '3600']}\n"))
	a.write("svc.yaml", "apiVersion: v1\nkind: Service\nmetadata: {name: svc}\nspec: {selector: {app: x}, ports: [{port: 80}]}\n")
	running := a.waitPod("p", "Running", time.Minute, statusIs("Running"))
	a.waitService("svc", 30*time.Second)
	log := zaptest.NewLogger(t).Named("cleanup")

	// A running agent owns the node: cleanup refuses and touches nothing.
	if err := Cleanup(context.Background(), log, cfg); !errors.Is(err, ErrLocked) {
		t.Fatalf("cleanup beside a running agent returned %v, want ErrLocked", err)
	}
	if again := a.waitPod("p", "Running", time.Second, statusIs("Running")); cstatus(again, "c").ContainerID != cstatus(running, "c").ContainerID {
		t.Fatal("the refused cleanup disturbed the pod")
	}
	a.stop() // pods keep running

	// What a kill -9 leaves: the Services' table and interface (a clean
	// stop removes them).
	if out, err := exec.Command("nft", "add", "table", "ip", cfg.nftTable()).CombinedOutput(); err != nil {
		t.Fatalf("nft add table: %v: %s", err, out)
	}
	if err := (services.HostLink{Name: cfg.dnsInterface()}).Ensure(); err != nil {
		t.Fatal(err)
	}

	cgroupRoot := runtime.DefaultCgroupRoot(cfg.Namespace)
	if len(testhost.PodCgroupDirs(cgroupRoot)) == 0 {
		t.Fatal("the running pod has no pod cgroup")
	}

	if err := Cleanup(context.Background(), log, cfg); err != nil {
		t.Fatalf("cleanup: %v", err)
	}

	ctx := namespaces.WithNamespace(context.Background(), cfg.Namespace)
	if cs, err := env.Client.Containers(ctx); err != nil || len(cs) != 0 {
		t.Errorf("containers left: %d (%v)", len(cs), err)
	}
	if imgs, err := env.Client.ImageService().List(ctx); err != nil || len(imgs) != 0 {
		t.Errorf("images left: %d (%v)", len(imgs), err)
	}
	if err := env.Client.SnapshotService("").Walk(ctx, func(context.Context, snapshots.Info) error {
		t.Error("snapshot left")
		return nil
	}); err != nil {
		t.Errorf("walk snapshots: %v", err)
	}
	if out, err := exec.Command("nft", "list", "table", "ip", cfg.nftTable()).CombinedOutput(); err == nil {
		t.Errorf("nft table %s left: %s", cfg.nftTable(), out)
	}
	for _, name := range []string{cfg.dnsInterface(), cfg.Bridge} {
		if _, err := netlink.LinkByName(name); err == nil {
			t.Errorf("interface %s left", name)
		}
	}
	_, dst, _ := net.ParseCIDR(cfg.ServiceCIDR)
	if routes, _ := netlink.RouteListFiltered(netlink.FAMILY_V4, &netlink.Route{Dst: dst}, netlink.RT_FILTER_DST); len(routes) != 0 {
		t.Errorf("route for %s left: %+v", dst, routes)
	}
	entries, err := os.ReadDir(cfg.Root)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range entries {
		if e.Name() != lockFile {
			t.Errorf("left in the root: %s", e.Name())
		}
	}
	if ds, _ := filepath.Glob(filepath.Join(cfg.LogDir, "*_*_"+string(running.UID))); len(ds) != 0 {
		t.Errorf("pod log dirs left: %v", ds)
	}
	if _, err := os.Stat(filepath.Join(runtime.DefaultRuncRoot, cfg.Namespace)); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("runc state dir of %s left (%v)", cfg.Namespace, err)
	}
	left, _ := filepath.Glob(filepath.Join("/sys/fs/cgroup", "*", cgroupRoot))
	if more, _ := filepath.Glob(filepath.Join("/sys/fs/cgroup", cgroupRoot)); len(more) > 0 {
		left = append(left, more...)
	}
	if len(left) > 0 {
		t.Errorf("cgroups left: %v", left)
	}
}
