package kubeapi

import (
	"testing"
	"time"

	v1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

func TestFormatEndpoints(t *testing.T) {
	addrs := func(ips ...string) []v1.EndpointAddress {
		var out []v1.EndpointAddress
		for _, ip := range ips {
			out = append(out, v1.EndpointAddress{IP: ip})
		}
		return out
	}
	for _, tc := range []struct {
		name string
		ep   v1.Endpoints
		want string
	}{
		{"none", v1.Endpoints{}, "<none>"},
		{"one", v1.Endpoints{Subsets: []v1.EndpointSubset{{Addresses: addrs("10.0.0.1"), Ports: []v1.EndpointPort{{Port: 80}}}}}, "10.0.0.1:80"},
		{"more than three", v1.Endpoints{Subsets: []v1.EndpointSubset{{Addresses: addrs("10.0.0.1", "10.0.0.2", "10.0.0.3", "10.0.0.4", "10.0.0.5"),
			Ports: []v1.EndpointPort{{Port: 80}}}}}, "10.0.0.1:80,10.0.0.2:80,10.0.0.3:80 + 2 more..."},
		{"no ports", v1.Endpoints{Subsets: []v1.EndpointSubset{{Addresses: addrs("10.0.0.1")}}}, "10.0.0.1"},
	} {
		if got := formatEndpoints(&tc.ep); got != tc.want {
			t.Errorf("%s: %q, want %q", tc.name, got, tc.want)
		}
	}
}

func TestEventCells(t *testing.T) {
	now := time.Date(2026, 1, 1, 12, 0, 0, 0, time.UTC)
	e := &v1.Event{
		ObjectMeta:     metav1.ObjectMeta{Name: "web.1"},
		InvolvedObject: v1.ObjectReference{Kind: "Pod", Name: "web", FieldPath: "spec.containers{c}"},
		Reason:         "Started", Message: "Started container c\n", Type: "Normal",
		Source:         v1.EventSource{Component: "kubelet", Host: "node1"},
		FirstTimestamp: metav1.NewTime(now.Add(-5 * time.Minute)), LastTimestamp: metav1.NewTime(now.Add(-30 * time.Second)),
		Count: 3,
	}
	got := eventCells(e, now)
	want := []any{"30s", "Normal", "Started", "pod/web", "spec.containers{c}", "kubelet, node1", "Started container c", "5m", int64(3), "web.1"}
	if len(got) != len(want) {
		t.Fatalf("%v", got)
	}
	for i := range want {
		if got[i] != want[i] {
			t.Errorf("cell %d (%s): %v, want %v", i, eventColumns[i].Name, got[i], want[i])
		}
	}
}

func TestNodeCells(t *testing.T) {
	n := BuildNode(NodeConfig{Name: "node1", IP: "192.0.2.1", Root: "/", Started: time.Now().Add(-time.Hour), RuntimeVersion: "containerd://1.7.0"})
	cells := nodeCells(n, time.Now())
	if cells[0] != "node1" || cells[1] != "Ready" || cells[2] != "<none>" || cells[3] != "60m" || cells[4] != ServedVersion ||
		cells[5] != "192.0.2.1" || cells[6] != "<none>" || cells[9] != "containerd://1.7.0" {
		t.Errorf("node cells %v", cells)
	}
	n.Spec.Unschedulable = true
	n.Labels["node-role.kubernetes.io/control-plane"] = ""
	if cells := nodeCells(n, time.Now()); cells[1] != "Ready,SchedulingDisabled" || cells[2] != "control-plane" {
		t.Errorf("cordoned control plane: %v", cells)
	}
}
