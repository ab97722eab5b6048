package netns

import (
	"errors"
	"fmt"
	"net"

	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"
)

// EnsureUnreachableRoute adds an "unreachable" route for cidr (e.g. the
// Service CIDR 10.96.0.0/12) to the host's main table unless a route for
// exactly that prefix already exists, of any type. Then a ClusterIP that has
// no DNAT rule (yet) fails fast with "no route to host" instead of leaving
// the machine by the default route. Idempotent; it never changes or removes
// an existing route.
func EnsureUnreachableRoute(cidr string) error {
	dst, routes, err := mainRoutes(cidr)
	if err != nil {
		return err
	}
	if len(routes) > 0 {
		return nil
	}
	err = netlink.RouteAdd(&netlink.Route{
		Dst:   dst,
		Type:  unix.RTN_UNREACHABLE,
		Table: unix.RT_TABLE_MAIN,
	})
	// EEXIST: someone added it between our look and our add; fine either way.
	if err != nil && !errors.Is(err, unix.EEXIST) {
		return fmt.Errorf("add unreachable route for %s: %w", dst, err)
	}
	return nil
}

// RemoveUnreachableRoute deletes the "unreachable" route for exactly cidr
// that EnsureUnreachableRoute adds; a route of another type for that
// prefix is not ours and stays. Missing is no error.
func RemoveUnreachableRoute(cidr string) error {
	dst, routes, err := mainRoutes(cidr)
	if err != nil {
		return err
	}
	for _, r := range routes {
		if r.Type != unix.RTN_UNREACHABLE {
			continue
		}
		if err := netlink.RouteDel(&r); err != nil && !errors.Is(err, unix.ESRCH) {
			return fmt.Errorf("delete unreachable route for %s: %w", dst, err)
		}
	}
	return nil
}

// mainRoutes parses cidr and lists the main table's routes for exactly that
// prefix, of any type.
func mainRoutes(cidr string) (*net.IPNet, []netlink.Route, error) {
	_, dst, err := net.ParseCIDR(cidr)
	if err != nil {
		return nil, nil, fmt.Errorf("unreachable route for %q: %w", cidr, err)
	}
	family := netlink.FAMILY_V4
	if dst.IP.To4() == nil {
		family = netlink.FAMILY_V6
	}
	routes, err := netlink.RouteListFiltered(family,
		&netlink.Route{Table: unix.RT_TABLE_MAIN, Dst: dst},
		netlink.RT_FILTER_TABLE|netlink.RT_FILTER_DST)
	if err != nil {
		return nil, nil, fmt.Errorf("list routes for %s: %w", dst, err)
	}
	return dst, routes, nil
}
