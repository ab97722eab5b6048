package agent

import "testing"

func TestServiceNames(t *testing.T) {
	for _, tt := range []struct {
		cfg          Config
		iface, table string
	}{
		{Config{Namespace: "minikubelet"}, "mkdns0", "minikubelet"},
		{Config{}, "mkdns0", "minikubelet"},
		{Config{Namespace: "mkt-1a2b3c4d"}, "mkd650ec43e", "mkt-1a2b3c4d"},
		{Config{Namespace: "k8s.io"}, "mkdc241be23", "k8s_io"},
		{Config{Namespace: "1abc"}, "mkde9cb6454", "mk1abc"},
		{Config{Namespace: "x", DNSInterface: "dns9", NFTTable: "t"}, "dns9", "t"},
	} {
		if got := tt.cfg.dnsInterface(); got != tt.iface {
			t.Errorf("%q: interface %q, want %q", tt.cfg.Namespace, got, tt.iface)
		}
		if got := tt.cfg.nftTable(); got != tt.table {
			t.Errorf("%q: table %q, want %q", tt.cfg.Namespace, got, tt.table)
		}
		if len(tt.cfg.dnsInterface()) > 15 {
			t.Errorf("%q: interface name %q longer than 15 bytes", tt.cfg.Namespace, tt.cfg.dnsInterface())
		}
	}
}
