// Package testnet finds room on this machine's network for the networks
// tests and benchmarks make of their own. The agent does not link it.
package testnet

import (
	"crypto/rand"
	"encoding/binary"
	"fmt"
	"net"

	"github.com/vishvananda/netlink"
)

// FreeSubnet picks a random /24 inside within (an IPv4 CIDR of /24 or
// wider) that no route or address on this machine overlaps, for a test or
// a benchmark that needs a network of its own.
func FreeSubnet(within string) (string, error) {
	_, base, err := net.ParseCIDR(within)
	if err != nil || base.IP.To4() == nil {
		return "", fmt.Errorf("free subnet in %q: not an IPv4 CIDR", within)
	}
	ones, _ := base.Mask.Size()
	if ones > 24 {
		return "", fmt.Errorf("free subnet in %s: narrower than a /24", within)
	}
	routes, err := netlink.RouteList(nil, netlink.FAMILY_V4)
	if err != nil {
		return "", fmt.Errorf("free subnet in %s: list routes: %w", within, err)
	}
	addrs, err := netlink.AddrList(nil, netlink.FAMILY_V4)
	if err != nil {
		return "", fmt.Errorf("free subnet in %s: list addresses: %w", within, err)
	}
	n := uint32(1) << (24 - ones) // how many /24s within holds
	start := binary.BigEndian.Uint32(base.IP.To4())
	for range 100 {
		var b [4]byte
		_, _ = rand.Read(b[:])
		ip := make(net.IP, 4)
		binary.BigEndian.PutUint32(ip, start+(binary.BigEndian.Uint32(b[:])%n)<<8)
		candidate := &net.IPNet{IP: ip, Mask: net.CIDRMask(24, 32)}
		if !overlaps(candidate, routes, addrs) {
			return candidate.String(), nil
		}
	}
	return "", fmt.Errorf("free subnet in %s: every /24 tried is in use", within)
}

func overlaps(candidate *net.IPNet, routes []netlink.Route, addrs []netlink.Addr) bool {
	for _, r := range routes {
		if r.Dst != nil && (r.Dst.Contains(candidate.IP) || candidate.Contains(r.Dst.IP)) {
			return true
		}
	}
	for _, a := range addrs {
		if candidate.Contains(a.IP) {
			return true
		}
	}
	return false
}
