package testnet

import (
	"net"
	"os"
	"testing"
)

func TestFreeSubnet(t *testing.T) {
	if os.Geteuid() != 0 {
		// Listing routes needs no privilege, but keep unit runs independent
		// of the host's network stack when not root.
		t.Skip("reads the host's routes")
	}
	_, within, _ := net.ParseCIDR("10.200.0.0/13")
	for range 20 {
		s, err := FreeSubnet("10.200.0.0/13")
		if err != nil {
			t.Fatal(err)
		}
		ip, n, err := net.ParseCIDR(s)
		if err != nil || !within.Contains(ip) || n.Mask.String() != net.CIDRMask(24, 32).String() {
			t.Fatalf("FreeSubnet = %s, want a /24 in %s", s, within)
		}
	}
	for _, bad := range []string{"10.0.0.0/25", "fd00::/64", "nonsense"} {
		if _, err := FreeSubnet(bad); err == nil {
			t.Errorf("FreeSubnet(%q) succeeded", bad)
		}
	}
}
