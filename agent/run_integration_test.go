//go:build integration

package agent

import (
	"context"
	"errors"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/vishvananda/netlink"
	"go.uber.org/goleak"
	"go.uber.org/zap/zaptest"
	v1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/watch"

	"github.com/minikubelet/minikubelet/api"
	"github.com/minikubelet/minikubelet/internal/testenv"
	"github.com/minikubelet/minikubelet/internal/testnet"
	"github.com/minikubelet/minikubelet/runtime"
)

// verifyNoLeak fails the test when goroutines other than those running
// at before are left. The containerd client's connection goroutines take
// a moment to wind down after Close, so it looks again for a while before
// it fails.
func verifyNoLeak(t *testing.T, before goleak.Option) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		err := goleak.Find(before)
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			t.Errorf("goroutines left after Run returned: %v", err)
			return
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// runAgent runs Run in the background and returns its result channel.
func runAgent(t *testing.T, ctx context.Context, cfg Config) <-chan error {
	done := make(chan error, 1)
	log := zaptest.NewLogger(t).Named("agent")
	go func() { done <- Run(ctx, log, cfg, "test") }()
	return done
}

// waitRun waits for Run's result; a Run that does not return fails the test.
func waitRun(t *testing.T, done <-chan error, what string) error {
	t.Helper()
	select {
	case err := <-done:
		return err
	case <-time.After(2 * time.Minute):
		t.Fatalf("%s: Run did not return", what)
		return nil
	}
}

// A part that fails after the pod workers started (here the API server,
// whose socket another process holds) stops the whole agent: Run returns
// the part's error, and no goroutine it started is left running.
func TestRunFailingPartStopsEverything(t *testing.T) {
	env := testenv.New(t)
	cfg := testConfig(t, env)
	held, err := net.Listen("unix", cfg.Socket)
	if err != nil {
		t.Fatal(err)
	}
	defer held.Close()
	before := goleak.IgnoreCurrent()

	err = waitRun(t, runAgent(t, context.Background(), cfg), "API socket in use")
	if err == nil || !strings.Contains(err.Error(), "API server") || !strings.Contains(err.Error(), "in use") {
		t.Fatalf("Run returned %v, want the API server's error", err)
	}
	verifyNoLeak(t, before)
}

// Stopping a running agent with pods, probes and Services ends every
// goroutine it started.
func TestRunStopLeavesNoGoroutine(t *testing.T) {
	env := testenv.New(t)
	cfg := testConfig(t, env)
	before := goleak.IgnoreCurrent()
	a := startAgent(t, cfg)
	a.write("probed.yaml", pod("probed", "Always", "  - name: c\n    image: busybox\n    command: [sleep, '3600']\n"+
		"    readinessProbe: {exec: {command: ['true']}, periodSeconds: 1}\n"))
	a.write("svc.yaml", "apiVersion: v1\nkind: Service\nmetadata: {name: svc}\nspec: {selector: {app: x}, ports: [{port: 80}]}\n")
	a.waitPod("probed", "ready", time.Minute, func(p *v1.Pod) bool { return cstatus(p, "c").Ready })
	a.waitService("svc", 30*time.Second)
	a.stop()
	verifyNoLeak(t, before)
}

// A second agent started with the same flags fails at once with a clear
// error, before it touches containerd or the host: the first agent's pod
// keeps its container, its Services keep their nftables table and
// interface, and it goes on serving.
func TestSecondAgentOnSameRootRefused(t *testing.T) {
	env := testenv.New(t)
	cfg := testConfig(t, env)
	a := startAgent(t, cfg)
	a.write("p.yaml", pod("p", "Always", "  - {name: c, image: busybox, command: [sleep, '3600']}\n"))
	a.write("svc.yaml", "apiVersion: v1\nkind: Service\nmetadata: {name: svc}\nspec: {selector: {app: x}, ports: [{port: 80}]}\n")
	first := a.waitPod("p", "Running", time.Minute, statusIs("Running"))
	a.waitService("svc", 30*time.Second)

	err := waitRun(t, runAgent(t, context.Background(), cfg), "second agent")
	if !errors.Is(err, ErrLocked) || !strings.Contains(err.Error(), cfg.Root) {
		t.Fatalf("second agent returned %v, want ErrLocked naming %s", err, cfg.Root)
	}
	if strings.Contains(err.Error(), "\n") {
		t.Errorf("error is not one line: %q", err)
	}

	if out, err := exec.Command("nft", "list", "table", "ip", cfg.nftTable()).CombinedOutput(); err != nil {
		t.Errorf("first agent's nft table %s is gone: %v: %s", cfg.nftTable(), err, out)
	}
	if _, err := netlink.LinkByName(cfg.dnsInterface()); err != nil {
		t.Errorf("first agent's interface %s is gone: %v", cfg.dnsInterface(), err)
	}
	again := a.waitPod("p", "Running", time.Second, statusIs("Running"))
	if cstatus(again, "c").ContainerID != cstatus(first, "c").ContainerID || cstatus(again, "c").RestartCount != 0 {
		t.Errorf("the second agent disturbed the first's pod: %+v, was %+v", cstatus(again, "c"), cstatus(first, "c"))
	}
	if _, err := a.client.Version(context.Background()); err != nil {
		t.Errorf("first agent's API: %v", err)
	}
}

// A manifest removed and put back while its pod still terminates brings
// the pod back under the same UID: the old worker's final removal of its
// status must not remove the new worker's. A watcher of the pod never sees
// it deleted, and it runs again.
func TestPodBackDuringTerminationStaysPublished(t *testing.T) {
	env := testenv.New(t)
	a := startAgent(t, testConfig(t, env))
	// The container ignores SIGTERM: its termination takes the whole grace
	// period, long enough to put the manifest back meanwhile.
	manifest := "apiVersion: v1\nkind: Pod\nmetadata:\n  name: back\nspec:\n  terminationGracePeriodSeconds: 15\n  containers:\n" +
		"  - {name: c, image: busybox, command: [sh, -c, \"trap '' TERM; while true; do sleep 1; done\"]}\n"
	a.write("back.yaml", manifest)
	first := a.waitPod("back", "Running", time.Minute, statusIs("Running"))

	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	w, err := a.client.WatchPods(ctx, "default", api.WatchOptions{Name: "back"})
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	a.remove("back.yaml")
	a.waitPod("back", "terminating", 30*time.Second, func(p *v1.Pod) bool { return p.DeletionTimestamp != nil })
	a.write("back.yaml", manifest)

	for {
		ev, err := w.Next()
		if err != nil {
			t.Fatalf("watch ended before the pod ran again: %v\n%s", err, a.describe("back"))
		}
		if ev.Type == watch.Deleted {
			t.Fatalf("pod deleted from the API after its manifest came back (uid %s)", ev.Pod.UID)
		}
		c := cstatus(ev.Pod, "c")
		if ev.Pod.DeletionTimestamp == nil && c.State.Running != nil && c.ContainerID != cstatus(first, "c").ContainerID {
			break
		}
	}
	if p := a.waitPod("back", "Running", time.Second, statusIs("Running")); p.UID != first.UID {
		t.Errorf("UID %s, want the manifest's %s", p.UID, first.UID)
	}
}

// A bridge left by an earlier agent with another pod CIDR is refused at
// start with the reason and the fix (before, every sandbox failed with a
// CNI error, retried forever); once cleanup removed it, the agent starts.
func TestStaleBridgeRefusedAtStart(t *testing.T) {
	env := testenv.New(t)
	cfg := testConfig(t, env)
	other, err := testnet.FreeSubnet("10.200.0.0/13")
	if err != nil {
		t.Fatal(err)
	}
	br := &netlink.Bridge{LinkAttrs: netlink.LinkAttrs{Name: cfg.Bridge}}
	if err := netlink.LinkAdd(br); err != nil {
		t.Fatal(err)
	}
	ip, n, _ := net.ParseCIDR(other)
	n.IP = ip.To4()
	n.IP[3] = 1
	if err := netlink.AddrAdd(br, &netlink.Addr{IPNet: n}); err != nil {
		t.Fatal(err)
	}

	err = waitRun(t, runAgent(t, context.Background(), cfg), "stale bridge")
	want := "bridge " + cfg.Bridge + " has address " + n.String() + ", not "
	if err == nil || !strings.Contains(err.Error(), want) || !strings.Contains(err.Error(), "ip link delete "+cfg.Bridge) {
		t.Fatalf("Run returned %v, want an error containing %q and the fix", err, want)
	}
	// The fix the error gives: cleanup removes the stale bridge (and the
	// namespace's images with everything else), then the agent starts.
	if err := Cleanup(context.Background(), zaptest.NewLogger(t).Named("cleanup"), cfg); err != nil {
		t.Fatalf("cleanup: %v", err)
	}
	if _, err := netlink.LinkByName(cfg.Bridge); err == nil {
		t.Fatal("cleanup left the stale bridge")
	}
	startAgent(t, cfg)
}

// runc's per-namespace state dir, which the shim creates and never
// removes, goes when the agent stops with no container left in it.
func TestRuncStateDirGoesWithLastContainer(t *testing.T) {
	env := testenv.New(t)
	cfg := testConfig(t, env)
	a := startAgent(t, cfg)
	dir := filepath.Join(runtime.DefaultRuncRoot, cfg.Namespace)
	a.write("p.yaml", pod("p", "Always", "  - {name: c, image: busybox, command: [sleep, '3600']}\n"))
	a.waitPod("p", "Running", time.Minute, statusIs("Running"))
	if _, err := os.Stat(dir); err != nil {
		t.Fatalf("runc state dir: %v", err)
	}
	a.remove("p.yaml")
	a.waitGone("p", time.Minute)
	a.stop()
	if _, err := os.Stat(dir); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("runc state dir %s left after the agent stopped with no container (%v)", dir, err)
	}
}
