package kubeapi

import (
	"net/http"
	"testing"
)

// Only a WebSocket asking for the SPDY tunnel of port-forward is unwrapped;
// a plain SPDY upgrade and the kubelet's own WebSocket protocol are not.
func TestIsTunnelRequest(t *testing.T) {
	ws := func(protos ...string) http.Header {
		h := http.Header{"Connection": {"Upgrade"}, "Upgrade": {"websocket"}}
		for _, p := range protos {
			h.Add("Sec-WebSocket-Protocol", p)
		}
		return h
	}
	for _, c := range []struct {
		name   string
		header http.Header
		want   bool
	}{
		{"kubectl 1.30+", ws("SPDY/3.1+portforward.k8s.io"), true},
		{"listed with others", ws("v4.channel.k8s.io, SPDY/3.1+portforward.k8s.io"), true},
		{"kubelet websocket protocol", ws("portforward.k8s.io"), false},
		{"no protocol", ws(), false},
		{"SPDY upgrade", http.Header{"Connection": {"Upgrade"}, "Upgrade": {"SPDY/3.1"}}, false},
		{"not an upgrade", http.Header{"Sec-WebSocket-Protocol": {"SPDY/3.1+portforward.k8s.io"}}, false},
	} {
		r := &http.Request{Header: c.header}
		if got := isTunnelRequest(r); got != c.want {
			t.Errorf("%s: %v, want %v", c.name, got, c.want)
		}
	}
}
