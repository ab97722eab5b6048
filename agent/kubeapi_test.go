package agent

import "testing"

func TestInClusterAddress(t *testing.T) {
	for _, tc := range []struct {
		api, cidr string
		services  bool
		want      string
	}{
		{"127.0.0.1:6443", "10.96.0.0/12", true, "10.96.0.1:6443"},
		{"192.168.56.10:7443", "10.112.3.0/24", true, "10.112.3.1:7443"},
		{"127.0.0.1:6443", "10.96.0.0/12", false, ""}, // no Services: no address to listen on
		{"0.0.0.0:6443", "10.96.0.0/12", true, ""},    // already listening everywhere
		{":6443", "10.96.0.0/12", true, ""},
		{"", "10.96.0.0/12", true, ""},
		{"127.0.0.1:6443", "fd00::/108", true, ""},
	} {
		cfg := Config{APIAddress: tc.api, ServiceCIDR: tc.cidr}
		if got := inClusterAddress(cfg, tc.services); got != tc.want {
			t.Errorf("inClusterAddress(%q, %q, %v) = %q, want %q", tc.api, tc.cidr, tc.services, got, tc.want)
		}
	}
}
