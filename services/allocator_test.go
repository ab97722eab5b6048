package services

import (
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	v1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

func svc(ns, name, clusterIP string) *v1.Service {
	return &v1.Service{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name, CreationTimestamp: metav1.NewTime(time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC))},
		Spec: v1.ServiceSpec{
			Type:      v1.ServiceTypeClusterIP,
			ClusterIP: clusterIP,
			Ports:     []v1.ServicePort{{Port: 80, Protocol: v1.ProtocolTCP}},
		},
	}
}

func ips(out []*v1.Service) map[string]string {
	m := map[string]string{}
	for _, s := range out {
		m[key(s)] = s.Spec.ClusterIP
	}
	return m
}

func newAlloc(t *testing.T, cidr string, path string) *Allocator {
	t.Helper()
	a, err := NewAllocator(cidr, []string{dnsIPFor(cidr)}, path)
	if err != nil {
		t.Fatal(err)
	}
	return a
}

// dnsIPFor is the tenth address, kubeadm's choice for cluster DNS.
func dnsIPFor(cidr string) string {
	_, n, _ := net.ParseCIDR(cidr)
	return uintToIP4(ip4ToUint(n.IP) + 10).String()
}

func TestAllocatorDynamicAddressesAreInTheUpperBand(t *testing.T) {
	a := newAlloc(t, "10.96.0.0/24", filepath.Join(t.TempDir(), "a.json"))
	var svcs []*v1.Service
	for _, n := range []string{"a", "b", "c", "d", "e"} {
		svcs = append(svcs, svc("default", n, ""))
	}
	out, failed, err := a.Sync(svcs)
	if err != nil || len(failed) > 0 {
		t.Fatalf("Sync: %v %v", failed, err)
	}
	seen := map[string]bool{}
	for _, s := range out {
		ip := net.ParseIP(s.Spec.ClusterIP).To4()
		// /24: 254 usable addresses, offset 256/16 = 16, so .17 to .254.
		if ip == nil || ip[3] < 17 || ip[3] > 254 || ip[2] != 0 {
			t.Errorf("%s got %s, want 10.96.0.17-254", key(s), s.Spec.ClusterIP)
		}
		if seen[s.Spec.ClusterIP] {
			t.Errorf("%s given twice", s.Spec.ClusterIP)
		}
		seen[s.Spec.ClusterIP] = true
		if len(s.Spec.ClusterIPs) != 1 || s.Spec.ClusterIPs[0] != s.Spec.ClusterIP ||
			len(s.Spec.IPFamilies) != 1 || s.Spec.IPFamilies[0] != v1.IPv4Protocol ||
			s.Spec.IPFamilyPolicy == nil || *s.Spec.IPFamilyPolicy != v1.IPFamilyPolicySingleStack {
			t.Errorf("%s registry fields: %v %v %v", key(s), s.Spec.ClusterIPs, s.Spec.IPFamilies, s.Spec.IPFamilyPolicy)
		}
	}
	if svcs[0].Spec.ClusterIP != "" {
		t.Error("Sync modified its input")
	}
}

func TestAllocatorRangeOffset(t *testing.T) {
	for _, tt := range []struct {
		total, want uint32
	}{{8, 0}, {16, 0}, {32, 16}, {256, 16}, {1024, 64}, {1 << 20, 256}} {
		if got := rangeOffset(tt.total); got != tt.want {
			t.Errorf("rangeOffset(%d) = %d, want %d", tt.total, got, tt.want)
		}
	}
}

func TestAllocatorStaticRequests(t *testing.T) {
	a := newAlloc(t, "10.96.0.0/24", filepath.Join(t.TempDir(), "a.json"))
	out, failed, err := a.Sync([]*v1.Service{
		svc("default", "fixed", "10.96.0.5"),
		svc("default", "headless", v1.ClusterIPNone),
		svc("default", "kubernetes-ip", "10.96.0.1"),
		svc("default", "dns-ip", "10.96.0.10"),
		svc("default", "outside", "10.97.0.5"),
		svc("default", "same", "10.96.0.5"),
	})
	if err != nil {
		t.Fatal(err)
	}
	got := ips(out)
	if got["default/fixed"] != "10.96.0.5" || got["default/headless"] != "None" || len(got) != 2 {
		t.Errorf("allocated %v", got)
	}
	var msgs []string
	for _, f := range failed {
		msgs = append(msgs, f.Error())
	}
	want := []string{
		`Service "dns-ip" is invalid: spec.clusterIPs: Invalid value: []string{"10.96.0.10"}: failed to allocate IP 10.96.0.10: provided IP is already allocated`,
		`Service "kubernetes-ip" is invalid: spec.clusterIPs: Invalid value: []string{"10.96.0.1"}: failed to allocate IP 10.96.0.1: provided IP is already allocated`,
		`Service "outside" is invalid: spec.clusterIPs: Invalid value: []string{"10.97.0.5"}: failed to allocate IP 10.97.0.5: provided IP is not in the valid range. The range of valid IPs is 10.96.0.0/24`,
		`Service "same" is invalid: spec.clusterIPs: Invalid value: []string{"10.96.0.5"}: failed to allocate IP 10.96.0.5: provided IP is already allocated`,
	}
	if strings.Join(msgs, "\n") != strings.Join(want, "\n") {
		t.Errorf("failures:\n%s\nwant\n%s", strings.Join(msgs, "\n"), strings.Join(want, "\n"))
	}
}

// A Service that holds an address keeps it against a newcomer asking for it,
// as the API server refuses to create a Service with a taken address.
func TestAllocatorHolderWins(t *testing.T) {
	a := newAlloc(t, "10.96.0.0/24", filepath.Join(t.TempDir(), "a.json"))
	out, _, _ := a.Sync([]*v1.Service{svc("default", "zz", "")})
	held := out[0].Spec.ClusterIP
	out, failed, _ := a.Sync([]*v1.Service{svc("default", "aa", held), svc("default", "zz", "")})
	if got := ips(out); got["default/zz"] != held || len(got) != 1 {
		t.Errorf("allocated %v, want zz to keep %s", got, held)
	}
	if len(failed) != 1 || failed[0].Name != "aa" {
		t.Errorf("failed = %v", failed)
	}
}

func TestAllocatorPersistsAcrossRestarts(t *testing.T) {
	path := filepath.Join(t.TempDir(), "services", "allocations.json")
	a := newAlloc(t, "10.96.0.0/24", path)
	first, _, err := a.Sync([]*v1.Service{svc("default", "a", ""), svc("team", "b", ""), svc("default", "h", "None")})
	if err != nil {
		t.Fatal(err)
	}
	// The next agent: same addresses, same creation times, even though the
	// source stamps a new first-seen time.
	b := newAlloc(t, "10.96.0.0/24", path)
	later := []*v1.Service{svc("default", "a", ""), svc("team", "b", ""), svc("default", "h", "None")}
	for _, s := range later {
		s.CreationTimestamp = metav1.NewTime(time.Now())
	}
	second, _, err := b.Sync(later)
	if err != nil {
		t.Fatal(err)
	}
	for i := range first {
		if first[i].Spec.ClusterIP != second[i].Spec.ClusterIP || !first[i].CreationTimestamp.Equal(&second[i].CreationTimestamp) {
			t.Errorf("%s: %s %v → %s %v", key(first[i]), first[i].Spec.ClusterIP, first[i].CreationTimestamp,
				second[i].Spec.ClusterIP, second[i].CreationTimestamp)
		}
	}
	// A removed Service releases its address; the file follows.
	if _, _, err := b.Sync(later[:1]); err != nil {
		t.Fatal(err)
	}
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(string(data), "team/b") || !strings.Contains(string(data), "default/a") {
		t.Errorf("state file after release:\n%s", data)
	}
	// Another service CIDR makes the saved addresses meaningless.
	c := newAlloc(t, "10.100.0.0/24", path)
	out, _, _ := c.Sync(later[:1])
	if !strings.HasPrefix(out[0].Spec.ClusterIP, "10.100.0.") {
		t.Errorf("address %s outside the new CIDR", out[0].Spec.ClusterIP)
	}
}

func TestAllocatorCorruptStateStartsAfresh(t *testing.T) {
	path := filepath.Join(t.TempDir(), "allocations.json")
	if err := os.WriteFile(path, []byte("{not json"), 0o644); err != nil {
		t.Fatal(err)
	}
	a := newAlloc(t, "10.96.0.0/24", path)
	out, failed, err := a.Sync([]*v1.Service{svc("default", "a", "")})
	if err != nil || len(failed) > 0 || len(out) != 1 {
		t.Fatalf("Sync: %v %v %v", out, failed, err)
	}
}

func TestAllocatorRequestChangeMovesTheService(t *testing.T) {
	a := newAlloc(t, "10.96.0.0/24", filepath.Join(t.TempDir(), "a.json"))
	a.Sync([]*v1.Service{svc("default", "a", "")})
	out, failed, _ := a.Sync([]*v1.Service{svc("default", "a", "10.96.0.7")})
	if len(failed) > 0 || ips(out)["default/a"] != "10.96.0.7" {
		t.Errorf("got %v %v", ips(out), failed)
	}
}

func TestAllocatorFullRange(t *testing.T) {
	// /29: 6 usable addresses, .1 and the DNS address (.10 is outside, so
	// only .1) reserved: 5 left.
	a, err := NewAllocator("10.96.0.0/29", nil, filepath.Join(t.TempDir(), "a.json"))
	if err != nil {
		t.Fatal(err)
	}
	var svcs []*v1.Service
	for _, n := range []string{"a", "b", "c", "d", "e", "f"} {
		svcs = append(svcs, svc("default", n, ""))
	}
	out, failed, _ := a.Sync(svcs)
	if len(out) != 5 || len(failed) != 1 || failed[0].Name != "f" {
		t.Fatalf("out %v failed %v", ips(out), failed)
	}
	for _, s := range out {
		if s.Spec.ClusterIP == "10.96.0.0" || s.Spec.ClusterIP == "10.96.0.1" || s.Spec.ClusterIP == "10.96.0.7" {
			t.Errorf("%s got %s", key(s), s.Spec.ClusterIP)
		}
	}
}

func TestNewAllocatorRejectsBadCIDRs(t *testing.T) {
	for _, c := range []string{"nope", "fd00::/108", "10.0.0.0/30", "10.0.0.0/7"} {
		if _, err := NewAllocator(c, nil, filepath.Join(t.TempDir(), "a.json")); err == nil {
			t.Errorf("NewAllocator(%q) succeeded", c)
		}
	}
}
