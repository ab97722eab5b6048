package netns

import (
	"net"
	"strings"
	"testing"
)

func TestBridgeAddrsFit(t *testing.T) {
	_, subnet, _ := net.ParseCIDR("10.244.0.0/16")
	addr := func(s string) net.IPNet {
		ip, n, err := net.ParseCIDR(s)
		if err != nil {
			t.Fatal(err)
		}
		return net.IPNet{IP: ip, Mask: n.Mask}
	}
	tests := []struct {
		name    string
		addrs   []net.IPNet
		wantErr string
	}{
		{"no address yet", nil, ""},
		{"the gateway", []net.IPNet{addr("10.244.0.1/16")}, ""},
		{"IPv6 beside the gateway", []net.IPNet{addr("10.244.0.1/16"), addr("fd00::1/64")}, ""},
		{"another subnet", []net.IPNet{addr("10.88.0.1/16")}, "bridge mkbr0 has address 10.88.0.1/16, not 10.244.0.1/16, the gateway of pod CIDR 10.244.0.0/16"},
		{"same subnet, other prefix", []net.IPNet{addr("10.244.0.1/24")}, "has address 10.244.0.1/24"},
		{"gateway plus another", []net.IPNet{addr("10.244.0.1/16"), addr("192.168.5.1/24")}, "has address 192.168.5.1/24"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := bridgeAddrsFit("mkbr0", tt.addrs, subnet)
			switch {
			case tt.wantErr == "" && err != nil:
				t.Errorf("unexpected error: %v", err)
			case tt.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tt.wantErr)):
				t.Errorf("error %v, want one containing %q", err, tt.wantErr)
			case err != nil && !strings.Contains(err.Error(), "ip link delete mkbr0"):
				t.Errorf("error %v does not give the fix", err)
			}
		})
	}
}

func TestGatewayOf(t *testing.T) {
	for in, want := range map[string]string{"10.244.0.0/16": "10.244.0.1/16", "10.1.2.0/24": "10.1.2.1/24"} {
		_, n, _ := net.ParseCIDR(in)
		if g := gatewayOf(n); g.String() != want {
			t.Errorf("gatewayOf(%s) = %s, want %s", in, g.String(), want)
		}
	}
}
