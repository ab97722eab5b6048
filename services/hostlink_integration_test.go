//go:build integration

package services

import (
	"context"
	"net"
	"os"
	"os/exec"
	"runtime"
	"slices"
	"strings"
	"testing"

	"github.com/vishvananda/netlink"
	"github.com/vishvananda/netns"
)

// inNewNetns runs f on a thread moved into a fresh network namespace, so
// nothing it does (interfaces, addresses, nft tables, even child processes
// forked from that thread) touches the host. The namespace goes away with
// the thread's last reference.
func inNewNetns(t *testing.T, f func()) {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("integration test: needs root")
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		// The thread is never unlocked: it dies with the goroutine, and
		// with it the namespace, instead of going back to the pool.
		runtime.LockOSThread()
		ns, err := netns.New()
		if err != nil {
			t.Errorf("new network namespace: %v", err)
			return
		}
		defer ns.Close()
		f()
	}()
	<-done
}

func linkAddrs(t *testing.T, name string) []string {
	t.Helper()
	link, err := netlink.LinkByName(name)
	if err != nil {
		t.Fatalf("link %s: %v", name, err)
	}
	addrs, err := netlink.AddrList(link, netlink.FAMILY_V4)
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, a := range addrs {
		out = append(out, a.IPNet.String())
	}
	slices.Sort(out)
	return out
}

func TestHostLink(t *testing.T) {
	inNewNetns(t, func() {
		h := HostLink{Name: "mktest0"}
		if err := h.Ensure(); err != nil {
			t.Fatal(err)
		}
		if err := h.Ensure(); err != nil {
			t.Fatalf("second Ensure: %v", err)
		}
		link, _ := netlink.LinkByName("mktest0")
		if typ := link.Type(); typ != "dummy" && typ != "bridge" {
			t.Errorf("type %s", typ)
		}
		if err := h.SetAddresses([]string{"10.112.1.10", "10.112.1.20"}); err != nil {
			t.Fatal(err)
		}
		if got := linkAddrs(t, "mktest0"); !slices.Equal(got, []string{"10.112.1.10/32", "10.112.1.20/32"}) {
			t.Errorf("addresses %v", got)
		}
		if err := h.SetAddresses([]string{"10.112.1.10", "10.112.1.30"}); err != nil {
			t.Fatal(err)
		}
		if got := linkAddrs(t, "mktest0"); !slices.Equal(got, []string{"10.112.1.10/32", "10.112.1.30/32"}) {
			t.Errorf("addresses after the change %v", got)
		}
		// The addresses are local: a listener on one is reachable.
		l, err := net.Listen("tcp", "10.112.1.30:0")
		if err != nil {
			t.Fatalf("listen on a link address: %v", err)
		}
		l.Close()
		if err := h.Delete(); err != nil {
			t.Fatal(err)
		}
		if err := h.Delete(); err != nil {
			t.Errorf("second Delete: %v", err)
		}
		if _, err := netlink.LinkByName("mktest0"); err == nil {
			t.Error("link still there")
		}
	})
}

// A bridge with ports (a pod bridge given the link's name by mistake) is
// never taken over or deleted, and neither is another kind of interface.
func TestHostLinkRefusesOthersInterfaces(t *testing.T) {
	inNewNetns(t, func() {
		attrs := netlink.NewLinkAttrs()
		attrs.Name = "mkbusy0"
		br := &netlink.Bridge{LinkAttrs: attrs}
		if err := netlink.LinkAdd(br); err != nil {
			t.Fatal(err)
		}
		vattrs := netlink.NewLinkAttrs()
		vattrs.Name = "mkveth0"
		veth := &netlink.Veth{LinkAttrs: vattrs, PeerName: "mkveth1"}
		if err := netlink.LinkAdd(veth); err != nil {
			t.Fatal(err)
		}
		v, _ := netlink.LinkByName("mkveth0")
		if err := netlink.LinkSetMaster(v, br); err != nil {
			t.Fatal(err)
		}
		for _, name := range []string{"mkbusy0", "mkveth1"} {
			h := HostLink{Name: name}
			if err := h.Ensure(); err == nil || !strings.Contains(err.Error(), "left alone") {
				t.Errorf("Ensure %s: %v", name, err)
			}
			if err := h.Delete(); err == nil {
				t.Errorf("Delete %s succeeded", name)
			}
			if _, err := netlink.LinkByName(name); err != nil {
				t.Errorf("%s gone: %v", name, err)
			}
		}
	})
}

// The rendered lab ruleset goes into the kernel, is replaced atomically by
// the next one, and DeleteTable removes it (twice is fine).
func TestNFTApplyAndDelete(t *testing.T) {
	if _, err := exec.LookPath("nft"); err != nil {
		t.Skip("nft not installed")
	}
	inNewNetns(t, func() {
		ctx := context.Background()
		n := NFT{}
		in := labInput()
		in.Table = "mktest"
		if err := n.Apply(ctx, RenderRuleset(in)); err != nil {
			t.Fatal(err)
		}
		out, err := exec.Command("nft", "list", "table", "ip", "mktest").CombinedOutput()
		if err != nil || !strings.Contains(string(out), "dnat to 10.244.0.12:80") {
			t.Fatalf("nft list: %v\n%s", err, out)
		}
		in.Services = in.Services[1:] // myservice goes
		if err := n.Apply(ctx, RenderRuleset(in)); err != nil {
			t.Fatal(err)
		}
		out, _ = exec.Command("nft", "list", "table", "ip", "mktest").CombinedOutput()
		if strings.Contains(string(out), "myservice") || !strings.Contains(string(out), "team/dns") {
			t.Errorf("after the replace:\n%s", out)
		}
		if err := n.Apply(ctx, "table ip mktest { chain broken { nonsense } }"); err == nil || !strings.Contains(err.Error(), "nft -f") {
			t.Errorf("broken ruleset: %v", err)
		}
		for range 2 {
			if err := n.DeleteTable(ctx, "mktest"); err != nil {
				t.Fatal(err)
			}
		}
		if out, err := exec.Command("nft", "list", "tables").CombinedOutput(); err != nil || strings.Contains(string(out), "mktest") {
			t.Errorf("tables after delete: %v %s", err, out)
		}
	})
}
