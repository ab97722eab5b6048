//go:build integration

package netns

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/vishvananda/netlink"
	"go.uber.org/zap/zaptest"

	"github.com/minikubelet/minikubelet/internal/portmaptest"
)

var testBinDirs = []string{"/opt/cni/bin", "/usr/lib/cni"}

// testNetwork builds a Network with its own bridge, /24 inside 10.200.0.0/13
// and state directories, and removes the bridge when the test ends.
func testNetwork(t *testing.T, ipMasq bool) (*Network, Config) {
	t.Helper()
	requireRoot(t)
	for _, p := range requiredPlugins {
		if err := findPlugin(p, testBinDirs); err != nil {
			t.Fatal(err) // scripts/install.sh installs the plugins
		}
	}
	suffix := fmt.Sprintf("%05x", rand.IntN(1<<20))
	cfg := Config{
		NetworkName: "mkt-" + suffix,
		Bridge:      "mkt" + suffix,
		Subnet:      freeSubnet(t),
		IPMasq:      ipMasq,
		BinDirs:     testBinDirs,
		ConfDir:     t.TempDir(),
		DataDir:     t.TempDir(),
	}
	nw, err := NewNetwork(zaptest.NewLogger(t), cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := nw.RemoveBridge(); err != nil {
			t.Errorf("cleanup: %v", err)
		}
		if err := nw.Close(); err != nil {
			t.Errorf("cleanup: %v", err)
		}
	})
	return nw, cfg
}

// freeSubnet picks a random /24 in 10.200.0.0/13 that no route of the host
// covers other than a default route through a gateway.
func freeSubnet(t *testing.T) string {
	t.Helper()
	for i := 0; i < 20; i++ {
		cidr := fmt.Sprintf("10.%d.%d.0/24", 200+rand.IntN(8), rand.IntN(256))
		_, subnet, _ := net.ParseCIDR(cidr)
		routes, err := netlink.RouteGet(subnet.IP)
		if err != nil || (len(routes) > 0 && routes[0].Gw != nil) {
			return cidr
		}
	}
	t.Fatal("no free /24 found in 10.200.0.0/13")
	return ""
}

// testPod is a namespace and the metadata to attach it with.
type testPod struct {
	ns   *NetNS
	meta PodMeta
	ip   net.IP
}

// newTestPod creates a namespace, with cleanups that tear the pod down and
// remove the namespace even if the test fails half-way.
func newTestPod(t *testing.T, nw *Network, nsDir, name string, ports ...PortMapping) *testPod {
	t.Helper()
	ns := newTestNS(t, nsDir)
	meta := PodMeta{
		Namespace:    "default",
		Name:         name,
		UID:          fmt.Sprintf("uid-%s-%x", name, rand.Uint32()),
		SandboxID:    fmt.Sprintf("%016x%016x", rand.Uint64(), rand.Uint64()),
		PortMappings: ports,
	}
	t.Cleanup(func() {
		// Runs before the namespace's own cleanup (registered earlier).
		if err := nw.Teardown(context.Background(), ns.Path(), meta); err != nil {
			t.Errorf("cleanup: %v", err)
		}
	})
	return &testPod{ns: ns, meta: meta}
}

func (p *testPod) setup(t *testing.T, nw *Network, subnet *net.IPNet) time.Duration {
	t.Helper()
	start := time.Now()
	res, err := nw.Setup(context.Background(), p.ns.Path(), p.meta)
	took := time.Since(start)
	if err != nil {
		t.Fatalf("setup %s: %v", p.meta.Name, err)
	}
	if len(res.IPs) != 1 || !subnet.Contains(res.IPs[0]) {
		t.Fatalf("setup %s: IPs %v, want one in %s", p.meta.Name, res.IPs, subnet)
	}
	p.ip = res.IPs[0]
	return took
}

// serveEcho listens on addr inside ns and echoes one line per connection.
func serveEcho(t *testing.T, ns *NetNS, addr string) *net.TCPAddr {
	t.Helper()
	var l net.Listener
	if err := ns.Do(func() (err error) {
		l, err = net.Listen("tcp", addr)
		return err
	}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				line, err := bufio.NewReader(c).ReadString('\n')
				if err == nil {
					io.WriteString(c, "echo "+line)
				}
			}()
		}
	}()
	return l.Addr().(*net.TCPAddr)
}

func echo(addr string) error {
	c, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		return err
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(5 * time.Second))
	if _, err := io.WriteString(c, "hi\n"); err != nil {
		return err
	}
	got, err := bufio.NewReader(c).ReadString('\n')
	if err != nil {
		return err
	}
	if got != "echo hi\n" {
		return fmt.Errorf("got %q", got)
	}
	return nil
}

func bridgePorts(t *testing.T, bridge string) []string {
	t.Helper()
	br, err := netlink.LinkByName(bridge)
	if err != nil {
		t.Fatalf("bridge %s: %v", bridge, err)
	}
	links, err := netlink.LinkList()
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, l := range links {
		if l.Attrs().MasterIndex == br.Attrs().Index {
			names = append(names, l.Attrs().Name)
		}
	}
	return names
}

// leases lists the IPs host-local holds for the network.
func leases(t *testing.T, cfg Config) []string {
	t.Helper()
	entries, err := os.ReadDir(filepath.Join(cfg.ipamDir(), cfg.NetworkName))
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err != nil {
		t.Fatal(err)
	}
	var ips []string
	for _, e := range entries {
		if net.ParseIP(e.Name()) != nil {
			ips = append(ips, e.Name())
		}
	}
	return ips
}

// masqRules lists the NAT POSTROUTING rules the bridge plugin made for a sandbox.
func masqRules(t *testing.T, cfg Config, sandboxID string) []ipMasqRule {
	t.Helper()
	out, err := exec.Command("iptables", "-w", "-t", "nat", "-S", "POSTROUTING").Output()
	if err != nil {
		t.Fatalf("iptables: %v", err)
	}
	return ipMasqRules(string(out), fmt.Sprintf("name: %q id: %q", cfg.NetworkName, sandboxID))
}

func chainExists(chain string) bool {
	return exec.Command("iptables", "-w", "-t", "nat", "-S", chain).Run() == nil
}

func TestNetworkTwoPods(t *testing.T) {
	nw, cfg := testNetwork(t, true)
	_, subnet, _ := net.ParseCIDR(cfg.Subnet)
	nsDir := t.TempDir()
	ctx := context.Background()

	a := newTestPod(t, nw, nsDir, "pod-a")
	b := newTestPod(t, nw, nsDir, "pod-b")
	tookA := a.setup(t, nw, subnet)
	tookB := b.setup(t, nw, subnet)
	t.Logf("Setup took %v (first pod, creates the bridge) and %v", tookA, tookB)
	if a.ip.Equal(b.ip) {
		t.Fatalf("both pods got %s", a.ip)
	}
	if got := leases(t, cfg); len(got) != 2 {
		t.Errorf("leases after setup = %v, want 2", got)
	}
	if got := bridgePorts(t, cfg.Bridge); len(got) != 2 {
		t.Errorf("bridge ports after setup = %v, want 2 veths", got)
	}

	for _, p := range []*testPod{a, b} {
		if err := p.ns.Do(func() error {
			eth0, err := net.InterfaceByName("eth0")
			if err != nil {
				return err
			}
			addrs, err := eth0.Addrs()
			if err != nil {
				return err
			}
			for _, ad := range addrs {
				if ipn, ok := ad.(*net.IPNet); ok && ipn.IP.Equal(p.ip) {
					return nil
				}
			}
			return fmt.Errorf("eth0 addresses %v lack %s", addrs, p.ip)
		}); err != nil {
			t.Errorf("%s: %v", p.meta.Name, err)
		}
		if err := nw.Check(ctx, p.ns.Path(), p.meta); err != nil {
			t.Errorf("check %s: %v", p.meta.Name, err)
		}
		if got := masqRules(t, cfg, p.meta.SandboxID); len(got) != 1 {
			t.Errorf("masquerade rules of %s = %v, want 1", p.meta.Name, got)
		}
	}

	// Host to pod, through the bridge's route.
	addrA := serveEcho(t, a.ns, net.JoinHostPort(a.ip.String(), "0"))
	if err := echo(addrA.String()); err != nil {
		t.Errorf("host -> pod A %s: %v", addrA, err)
	}
	// Pod B to pod A, across the bridge.
	if err := b.ns.Do(func() error { return echo(addrA.String()) }); err != nil {
		t.Errorf("pod B -> pod A %s: %v", addrA, err)
	}
	// And loopback inside a pod is up.
	if err := a.ns.Do(func() error {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return err
		}
		defer l.Close()
		go serveOne(l)
		return echo(l.Addr().String())
	}); err != nil {
		t.Errorf("pod A -> its own lo: %v", err)
	}

	// Teardown: no veth, no lease, no NAT rule left; then the namespaces go.
	for _, p := range []*testPod{a, b} {
		start := time.Now()
		if err := nw.Teardown(ctx, p.ns.Path(), p.meta); err != nil {
			t.Fatalf("teardown %s: %v", p.meta.Name, err)
		}
		t.Logf("Teardown of %s took %v", p.meta.Name, time.Since(start))
		for _, r := range masqRules(t, cfg, p.meta.SandboxID) {
			t.Errorf("masquerade rule of %s left: %v", p.meta.Name, r)
		}
		if err := p.ns.Remove(); err != nil {
			t.Fatal(err)
		}
		if p.ns.Exists() {
			t.Errorf("namespace of %s exists after Remove", p.meta.Name)
		}
	}
	if got := bridgePorts(t, cfg.Bridge); len(got) != 0 {
		t.Errorf("bridge ports after teardown = %v, want none", got)
	}
	if got := leases(t, cfg); len(got) != 0 {
		t.Errorf("leases after teardown = %v, want none", got)
	}
	if err := echo(addrA.String()); err == nil {
		t.Error("pod A still answers after teardown")
	}

	// Teardown again: idempotent, with the namespace now gone too.
	for _, p := range []*testPod{a, b} {
		if err := nw.Teardown(ctx, p.ns.Path(), p.meta); err != nil {
			t.Errorf("second teardown of %s: %v", p.meta.Name, err)
		}
	}
}

func serveOne(l net.Listener) {
	c, err := l.Accept()
	if err != nil {
		return
	}
	defer c.Close()
	line, _ := bufio.NewReader(c).ReadString('\n')
	io.WriteString(c, "echo "+line)
}

// TestTeardownAfterNamespaceGone: the namespace disappears first (a crash,
// a reboot, a manual cleanup); Teardown still frees the lease and the
// masquerade rules, and stays idempotent.
func TestTeardownAfterNamespaceGone(t *testing.T) {
	nw, cfg := testNetwork(t, true)
	_, subnet, _ := net.ParseCIDR(cfg.Subnet)
	nsDir := t.TempDir()
	ctx := context.Background()

	p := newTestPod(t, nw, nsDir, "pod-gone")
	p.setup(t, nw, subnet)
	rules := masqRules(t, cfg, p.meta.SandboxID)
	if len(rules) != 1 {
		t.Fatalf("masquerade rules = %v, want 1", rules)
	}
	if err := p.ns.Remove(); err != nil {
		t.Fatal(err)
	}

	start := time.Now()
	if err := nw.Teardown(ctx, p.ns.Path(), p.meta); err != nil {
		t.Fatalf("teardown without namespace: %v", err)
	}
	t.Logf("Teardown without namespace took %v", time.Since(start))
	if got := leases(t, cfg); len(got) != 0 {
		t.Errorf("leases = %v, want none", got)
	}
	if got := masqRules(t, cfg, p.meta.SandboxID); len(got) != 0 {
		t.Errorf("masquerade rules left: %v", got)
	}
	if chainExists(rules[0].chain) {
		t.Errorf("chain %s left", rules[0].chain)
	}
	// The veth dies with its namespace, but the kernel destroys a network
	// namespace in a work queue after its last reference goes: the port
	// can outlive the unmount for a moment.
	var ports []string
	for deadline := time.Now().Add(30 * time.Second); time.Now().Before(deadline); time.Sleep(50 * time.Millisecond) {
		if ports = bridgePorts(t, cfg.Bridge); len(ports) == 0 {
			break
		}
	}
	if len(ports) != 0 {
		t.Errorf("bridge ports = %v, want none (the veth dies with its namespace)", ports)
	}
	if err := nw.Teardown(ctx, p.ns.Path(), p.meta); err != nil {
		t.Errorf("second teardown: %v", err)
	}

	// A file left without its mount (as after a reboot) is treated the same.
	q := newTestPod(t, nw, nsDir, "pod-stale")
	q.setup(t, nw, subnet)
	if err := unmountOnly(q.ns.Path()); err != nil {
		t.Fatal(err)
	}
	if err := nw.Teardown(ctx, q.ns.Path(), q.meta); err != nil {
		t.Fatalf("teardown with a stale netns file: %v", err)
	}
	if got := leases(t, cfg); len(got) != 0 {
		t.Errorf("leases = %v, want none", got)
	}
}

func unmountOnly(path string) error {
	return exec.Command("umount", "-l", path).Run()
}

// TestSetupFailureUndoes: when a later plugin fails, Setup removes what the
// earlier ones made: no lease, no veth.
func TestSetupFailureUndoes(t *testing.T) {
	nw, cfg := testNetwork(t, false)
	portmaptest.CleanupChains(t)
	nsDir := t.TempDir()
	// portmap rejects the protocol after bridge and host-local succeeded.
	p := newTestPod(t, nw, nsDir, "pod-bad", PortMapping{HostPort: 30080, ContainerPort: 80, Protocol: "bogus"})
	_, err := nw.Setup(context.Background(), p.ns.Path(), p.meta)
	if err == nil {
		t.Fatal("setup with an invalid port protocol succeeded")
	}
	t.Logf("setup error: %v", err)
	if got := leases(t, cfg); len(got) != 0 {
		t.Errorf("leases after failed setup = %v, want none", got)
	}
	if got := bridgePorts(t, cfg.Bridge); len(got) != 0 {
		t.Errorf("bridge ports after failed setup = %v, want none", got)
	}
	if err := p.ns.Do(func() error {
		if _, err := net.InterfaceByName("eth0"); err == nil {
			return errors.New("eth0 still present")
		}
		return nil
	}); err != nil {
		t.Error(err)
	}
}

// TestHostPort: a hostPort mapping reaches the pod from the host through the
// bridge's gateway address.
func TestHostPort(t *testing.T) {
	nw, cfg := testNetwork(t, false)
	portmaptest.CleanupChains(t)
	_, subnet, _ := net.ParseCIDR(cfg.Subnet)
	nsDir := t.TempDir()
	hostPort := int32(30000 + rand.IntN(2000))

	ns := newTestNS(t, nsDir)
	// Listen before the network exists (as a container could not, but the
	// port must be known for the mapping): 0.0.0.0 needs no interface.
	addr := serveEcho(t, ns, "0.0.0.0:0")
	p := &testPod{ns: ns, meta: PodMeta{
		Namespace: "default", Name: "pod-hp", UID: "uid-hp",
		SandboxID:    fmt.Sprintf("%016x", rand.Uint64()),
		PortMappings: []PortMapping{{HostPort: hostPort, ContainerPort: int32(addr.Port), Protocol: "TCP"}},
	}}
	t.Cleanup(func() {
		if err := nw.Teardown(context.Background(), ns.Path(), p.meta); err != nil {
			t.Errorf("cleanup: %v", err)
		}
	})
	p.setup(t, nw, subnet)

	gw := make(net.IP, 4)
	copy(gw, subnet.IP.To4())
	gw[3] = 1
	target := net.JoinHostPort(gw.String(), fmt.Sprint(hostPort))
	if err := echo(target); err != nil {
		t.Errorf("host -> %s (hostPort) -> pod %s:%d: %v", target, p.ip, addr.Port, err)
	}
	// Teardown after an agent restart may not know the pod's ports any
	// more; the mapping goes all the same.
	bare := p.meta
	bare.PortMappings = nil
	if err := nw.Teardown(context.Background(), ns.Path(), bare); err != nil {
		t.Fatal(err)
	}
	if out, _ := exec.Command("iptables", "-w", "-t", "nat", "-S", "CNI-HOSTPORT-DNAT").Output(); strings.Contains(string(out), p.meta.SandboxID) {
		t.Errorf("hostPort rules left:\n%s", out)
	}
	if err := echo(target); err == nil {
		t.Errorf("hostPort %s still forwards after teardown", target)
	}
}

// TestParallelSetup: concurrent Setup/Teardown on one network (the agent's
// pod workers run in parallel) gives distinct addresses and leaves nothing.
func TestParallelSetup(t *testing.T) {
	nw, cfg := testNetwork(t, true)
	_, subnet, _ := net.ParseCIDR(cfg.Subnet)
	nsDir := t.TempDir()
	const n = 6
	pods := make([]*testPod, n)
	for i := range pods {
		pods[i] = newTestPod(t, nw, nsDir, fmt.Sprintf("pod-%d", i))
	}
	errc := make(chan error, n)
	for _, p := range pods {
		go func() {
			res, err := nw.Setup(context.Background(), p.ns.Path(), p.meta)
			if err == nil {
				p.ip = res.IPs[0]
			}
			errc <- err
		}()
	}
	for range pods {
		if err := <-errc; err != nil {
			t.Error(err)
		}
	}
	if t.Failed() {
		return
	}
	seen := map[string]bool{}
	for _, p := range pods {
		if !subnet.Contains(p.ip) || seen[p.ip.String()] {
			t.Errorf("pod %s got %s (duplicate or outside %s)", p.meta.Name, p.ip, subnet)
		}
		seen[p.ip.String()] = true
	}
	for _, p := range pods {
		go func() { errc <- nw.Teardown(context.Background(), p.ns.Path(), p.meta) }()
	}
	for range pods {
		if err := <-errc; err != nil {
			t.Error(err)
		}
	}
	if got := leases(t, cfg); len(got) != 0 {
		t.Errorf("leases = %v, want none", got)
	}
	if got := bridgePorts(t, cfg.Bridge); len(got) != 0 {
		t.Errorf("bridge ports = %v, want none", got)
	}
}
