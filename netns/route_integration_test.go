//go:build integration

package netns

import (
	"net"
	"testing"

	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"
)

func routesFor(t *testing.T, cidr string) []netlink.Route {
	t.Helper()
	_, dst, err := net.ParseCIDR(cidr)
	if err != nil {
		t.Fatal(err)
	}
	routes, err := netlink.RouteListFiltered(netlink.FAMILY_V4,
		&netlink.Route{Table: unix.RT_TABLE_MAIN, Dst: dst},
		netlink.RT_FILTER_TABLE|netlink.RT_FILTER_DST)
	if err != nil {
		t.Fatal(err)
	}
	return routes
}

// deleteRouteAtEnd removes the route for cidr when the test ends, if the
// test is the one that made it.
func deleteRouteAtEnd(t *testing.T, cidr string) {
	t.Helper()
	if len(routesFor(t, cidr)) != 0 {
		t.Skipf("a route for %s already exists on this host; not touching it", cidr)
	}
	t.Cleanup(func() {
		for _, r := range routesFor(t, cidr) {
			if err := netlink.RouteDel(&r); err != nil {
				t.Errorf("cleanup: delete route %s: %v", cidr, err)
			}
		}
	})
}

func TestEnsureUnreachableRoute(t *testing.T) {
	requireRoot(t)
	const cidr = "10.199.250.0/24"
	deleteRouteAtEnd(t, cidr)

	for i := 0; i < 3; i++ { // idempotent
		if err := EnsureUnreachableRoute(cidr); err != nil {
			t.Fatal(err)
		}
	}
	routes := routesFor(t, cidr)
	if len(routes) != 1 || routes[0].Type != unix.RTN_UNREACHABLE {
		t.Fatalf("routes for %s = %+v, want one unreachable route", cidr, routes)
	}
	// Traffic to the prefix is refused locally instead of following the
	// default route.
	if _, err := netlink.RouteGet(net.ParseIP("10.199.250.7")); err == nil {
		t.Error("route lookup for an address in the prefix succeeded, want unreachable")
	}
	c, err := net.Dial("udp", "10.199.250.7:53") // connect only; nothing is sent
	if err == nil {
		c.Close()
		t.Error("connect into the unreachable prefix succeeded")
	}
}

func TestEnsureUnreachableRouteKeepsExisting(t *testing.T) {
	requireRoot(t)
	const cidr = "10.199.251.0/24"
	deleteRouteAtEnd(t, cidr)
	_, dst, _ := net.ParseCIDR(cidr)
	if err := netlink.RouteAdd(&netlink.Route{Dst: dst, Type: unix.RTN_BLACKHOLE, Table: unix.RT_TABLE_MAIN}); err != nil {
		t.Fatal(err)
	}
	if err := EnsureUnreachableRoute(cidr); err != nil {
		t.Fatal(err)
	}
	routes := routesFor(t, cidr)
	if len(routes) != 1 || routes[0].Type != unix.RTN_BLACKHOLE {
		t.Fatalf("routes for %s = %+v, want the existing blackhole route untouched", cidr, routes)
	}

	// The host's real Service CIDR route, if any, is left as it is.
	const services = "10.96.0.0/12"
	before := routesFor(t, services)
	if len(before) == 0 {
		t.Logf("no route for %s on this host; not adding one from a test", services)
		return
	}
	if err := EnsureUnreachableRoute(services); err != nil {
		t.Fatal(err)
	}
	after := routesFor(t, services)
	if len(after) != len(before) || after[0].Type != before[0].Type || after[0].LinkIndex != before[0].LinkIndex {
		t.Errorf("routes for %s changed: %+v -> %+v", services, before, after)
	}
}

func TestEnsureUnreachableRouteBadCIDR(t *testing.T) {
	if err := EnsureUnreachableRoute("10.96.0.0"); err == nil {
		t.Error("no error for a CIDR without a prefix length")
	}
}
