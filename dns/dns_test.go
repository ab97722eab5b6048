package dns

import (
	"context"
	"net"
	"os/exec"
	"sort"
	"strings"
	"testing"

	"github.com/miekg/dns"
	"go.uber.org/zap/zaptest"
	v1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// fakeSource holds Services and Endpoints by "namespace/name".
type fakeSource struct {
	svcs map[string]*v1.Service
	eps  map[string]*v1.Endpoints
}

func (f *fakeSource) GetService(ns, name string) (*v1.Service, bool) {
	s, ok := f.svcs[ns+"/"+name]
	return s, ok
}

func (f *fakeSource) GetEndpoints(ns, name string) (*v1.Endpoints, bool) {
	e, ok := f.eps[ns+"/"+name]
	return e, ok
}

func (f *fakeSource) ServiceByClusterIP(ip string) (*v1.Service, bool) {
	for _, s := range f.svcs {
		if s.Spec.ClusterIP == ip {
			return s, true
		}
	}
	return nil, false
}

func (f *fakeSource) ListServices(ns string) []*v1.Service {
	var out []*v1.Service
	for _, s := range f.svcs {
		if ns == "" || s.Namespace == ns {
			out = append(out, s)
		}
	}
	return out
}

func service(ns, name, ip string, ports ...v1.ServicePort) *v1.Service {
	return &v1.Service{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name},
		Spec:       v1.ServiceSpec{ClusterIP: ip, Ports: ports},
	}
}

func addr(ip, hostname string) v1.EndpointAddress {
	return v1.EndpointAddress{IP: ip, Hostname: hostname}
}

// labSource: the lab's two Services, a Service with named ports, and two
// headless Services (one with ready endpoints, one without).
func labSource() *fakeSource {
	return &fakeSource{
		svcs: map[string]*v1.Service{
			"default/myservice": service("default", "myservice", "10.96.0.20", v1.ServicePort{Port: 80, Protocol: v1.ProtocolTCP}),
			"default/mydb":      service("default", "mydb", "10.96.0.31", v1.ServicePort{Port: 80, Protocol: v1.ProtocolTCP}),
			"team/web": service("team", "web", "10.96.0.40",
				v1.ServicePort{Name: "http", Port: 80, Protocol: v1.ProtocolTCP},
				v1.ServicePort{Name: "dns", Port: 53, Protocol: v1.ProtocolUDP}),
			"team/db":    service("team", "db", v1.ClusterIPNone, v1.ServicePort{Name: "sql", Port: 5432, Protocol: v1.ProtocolTCP}),
			"team/empty": service("team", "empty", v1.ClusterIPNone),
		},
		eps: map[string]*v1.Endpoints{
			"team/db": {Subsets: []v1.EndpointSubset{{
				Addresses:         []v1.EndpointAddress{addr("10.244.0.5", "db-0"), addr("10.244.0.6", "")},
				NotReadyAddresses: []v1.EndpointAddress{addr("10.244.0.7", "")},
				Ports:             []v1.EndpointPort{{Name: "sql", Port: 15432, Protocol: v1.ProtocolTCP}},
			}}},
			"team/empty": {Subsets: []v1.EndpointSubset{{NotReadyAddresses: []v1.EndpointAddress{addr("10.244.0.8", "")}}}},
		},
	}
}

func newServer(t *testing.T) *Server {
	_, cidr, _ := net.ParseCIDR("10.96.0.0/12")
	return New(zaptest.NewLogger(t), Config{Domain: "cluster.local", ServiceCIDR: cidr}, labSource())
}

// rrs renders records in zone-file notation, sorted, for comparison.
func rrs(records []dns.RR) []string {
	out := make([]string, 0, len(records))
	for _, r := range records {
		out = append(out, strings.ReplaceAll(r.String(), "\t", " "))
	}
	sort.Strings(out)
	return out
}

const soaRR = "cluster.local. 5 IN SOA ns.dns.cluster.local. hostmaster.cluster.local. 1 7200 1800 86400 5"

func TestAnswer(t *testing.T) {
	s := newServer(t)
	tests := []struct {
		name  string
		qtype uint16
		rcode int
		ans   []string
		ns    []string
		extra []string
	}{
		{name: "myservice.default.svc.cluster.local.", qtype: dns.TypeA,
			ans: []string{"myservice.default.svc.cluster.local. 5 IN A 10.96.0.20"}},
		{name: "MyService.Default.SVC.cluster.local.", qtype: dns.TypeA,
			ans: []string{"MyService.Default.SVC.cluster.local. 5 IN A 10.96.0.20"}},
		// The name exists: AAAA is an empty success, so nslookup succeeds.
		{name: "mydb.default.svc.cluster.local.", qtype: dns.TypeAAAA, ns: []string{soaRR}},
		{name: "nosuch.default.svc.cluster.local.", qtype: dns.TypeA, rcode: dns.RcodeNameError, ns: []string{soaRR}},
		{name: "nosuch.default.svc.cluster.local.", qtype: dns.TypeAAAA, rcode: dns.RcodeNameError, ns: []string{soaRR}},
		// Search-list expansions of a full name.
		{name: "myservice.default.svc.cluster.local.default.svc.cluster.local.", qtype: dns.TypeA, rcode: dns.RcodeNameError, ns: []string{soaRR}},
		{name: "default.svc.cluster.local.", qtype: dns.TypeA, ns: []string{soaRR}},
		{name: "nons.svc.cluster.local.", qtype: dns.TypeA, rcode: dns.RcodeNameError, ns: []string{soaRR}},
		{name: "cluster.local.", qtype: dns.TypeSOA, ans: []string{soaRR}},
		{name: "kubernetes.default.svc.cluster.local.", qtype: dns.TypeA, rcode: dns.RcodeNameError, ns: []string{soaRR}},
		// Headless: the ready endpoints only.
		{name: "db.team.svc.cluster.local.", qtype: dns.TypeA, ans: []string{
			"db.team.svc.cluster.local. 5 IN A 10.244.0.5", "db.team.svc.cluster.local. 5 IN A 10.244.0.6"}},
		{name: "db-0.db.team.svc.cluster.local.", qtype: dns.TypeA, ans: []string{"db-0.db.team.svc.cluster.local. 5 IN A 10.244.0.5"}},
		{name: "10-244-0-6.db.team.svc.cluster.local.", qtype: dns.TypeA, ans: []string{"10-244-0-6.db.team.svc.cluster.local. 5 IN A 10.244.0.6"}},
		{name: "10-244-0-7.db.team.svc.cluster.local.", qtype: dns.TypeA, rcode: dns.RcodeNameError, ns: []string{soaRR}},
		{name: "empty.team.svc.cluster.local.", qtype: dns.TypeA, rcode: dns.RcodeNameError, ns: []string{soaRR}},
		// SRV for named ports.
		{name: "_http._tcp.web.team.svc.cluster.local.", qtype: dns.TypeSRV,
			ans:   []string{"_http._tcp.web.team.svc.cluster.local. 5 IN SRV 0 100 80 web.team.svc.cluster.local."},
			extra: []string{"web.team.svc.cluster.local. 5 IN A 10.96.0.40"}},
		{name: "_dns._udp.web.team.svc.cluster.local.", qtype: dns.TypeSRV,
			ans:   []string{"_dns._udp.web.team.svc.cluster.local. 5 IN SRV 0 100 53 web.team.svc.cluster.local."},
			extra: []string{"web.team.svc.cluster.local. 5 IN A 10.96.0.40"}},
		{name: "_http._udp.web.team.svc.cluster.local.", qtype: dns.TypeSRV, rcode: dns.RcodeNameError, ns: []string{soaRR}},
		{name: "web.team.svc.cluster.local.", qtype: dns.TypeSRV,
			ans: []string{
				"web.team.svc.cluster.local. 5 IN SRV 0 50 53 web.team.svc.cluster.local.",
				"web.team.svc.cluster.local. 5 IN SRV 0 50 80 web.team.svc.cluster.local."},
			extra: []string{"web.team.svc.cluster.local. 5 IN A 10.96.0.40"}},
		{name: "_sql._tcp.db.team.svc.cluster.local.", qtype: dns.TypeSRV,
			ans: []string{
				"_sql._tcp.db.team.svc.cluster.local. 5 IN SRV 0 50 15432 10-244-0-6.db.team.svc.cluster.local.",
				"_sql._tcp.db.team.svc.cluster.local. 5 IN SRV 0 50 15432 db-0.db.team.svc.cluster.local."},
			extra: []string{"10-244-0-6.db.team.svc.cluster.local. 5 IN A 10.244.0.6", "db-0.db.team.svc.cluster.local. 5 IN A 10.244.0.5"}},
		{name: "myservice.default.svc.cluster.local.", qtype: dns.TypeSRV, ns: []string{soaRR}},
		// PTR for ClusterIPs; the rest of the service CIDR is ours too.
		{name: "20.0.96.10.in-addr.arpa.", qtype: dns.TypePTR,
			ans: []string{"20.0.96.10.in-addr.arpa. 5 IN PTR myservice.default.svc.cluster.local."}},
		{name: "99.0.96.10.in-addr.arpa.", qtype: dns.TypePTR, rcode: dns.RcodeNameError},
		// Never forwarded.
		{name: "example.com.", qtype: dns.TypeA, rcode: dns.RcodeRefused},
		{name: "myservice.default.svc.cluster.local.example.com.", qtype: dns.TypeA, rcode: dns.RcodeRefused},
		{name: "1.1.168.192.in-addr.arpa.", qtype: dns.TypePTR, rcode: dns.RcodeRefused},
		{name: ".", qtype: dns.TypeNS, rcode: dns.RcodeRefused},
	}
	for _, tt := range tests {
		t.Run(tt.name+"/"+dns.TypeToString[tt.qtype], func(t *testing.T) {
			q := new(dns.Msg).SetQuestion(tt.name, tt.qtype)
			m := s.Answer(q)
			if m.Rcode != tt.rcode {
				t.Errorf("rcode = %s, want %s", dns.RcodeToString[m.Rcode], dns.RcodeToString[tt.rcode])
			}
			if m.Id != q.Id || !m.Response {
				t.Errorf("not a reply to the query: id %d response %v", m.Id, m.Response)
			}
			for _, c := range []struct {
				what      string
				got, want []string
			}{{"answer", rrs(m.Answer), tt.ans}, {"authority", rrs(m.Ns), tt.ns}, {"additional", rrs(m.Extra), tt.extra}} {
				sort.Strings(c.want)
				if strings.Join(c.got, "\n") != strings.Join(c.want, "\n") {
					t.Errorf("%s:\n%s\nwant\n%s", c.what, strings.Join(c.got, "\n"), strings.Join(c.want, "\n"))
				}
			}
			inZone := strings.HasSuffix(strings.ToLower(tt.name), "cluster.local.") || strings.HasSuffix(tt.name, ".96.10.in-addr.arpa.")
			if m.Authoritative != inZone {
				t.Errorf("authoritative = %v", m.Authoritative)
			}
		})
	}
}

func TestAnswerRejectsOddQueries(t *testing.T) {
	s := newServer(t)
	two := new(dns.Msg).SetQuestion("myservice.default.svc.cluster.local.", dns.TypeA)
	two.Question = append(two.Question, two.Question[0])
	if m := s.Answer(two); m.Rcode != dns.RcodeFormatError {
		t.Errorf("two questions: rcode %s", dns.RcodeToString[m.Rcode])
	}
	upd := new(dns.Msg).SetUpdate("cluster.local.")
	if m := s.Answer(upd); m.Rcode != dns.RcodeNotImplemented {
		t.Errorf("update: rcode %s", dns.RcodeToString[m.Rcode])
	}
	chaos := new(dns.Msg).SetQuestion("version.bind.", dns.TypeTXT)
	chaos.Question[0].Qclass = dns.ClassCHAOS
	if m := s.Answer(chaos); m.Rcode != dns.RcodeRefused {
		t.Errorf("chaos: rcode %s", dns.RcodeToString[m.Rcode])
	}
}

// The server over real sockets on loopback, with a DNS client, over UDP and
// TCP.
func TestServeUDPAndTCP(t *testing.T) {
	s := newServer(t)
	addr, err := s.Start("127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := s.Shutdown(context.Background()); err != nil {
			t.Error(err)
		}
	})
	for _, proto := range []string{"udp", "tcp"} {
		c := &dns.Client{Net: proto}
		q := new(dns.Msg).SetQuestion("myservice.default.svc.cluster.local.", dns.TypeA)
		q.SetEdns0(1232, false)
		m, _, err := c.Exchange(q, addr.String())
		if err != nil {
			t.Fatalf("%s: %v", proto, err)
		}
		if got := rrs(m.Answer); len(got) != 1 || got[0] != "myservice.default.svc.cluster.local. 5 IN A 10.96.0.20" {
			t.Errorf("%s: answer %v", proto, got)
		}
		if m.IsEdns0() == nil {
			t.Errorf("%s: no OPT record in the reply to an EDNS query", proto)
		}
		q = new(dns.Msg).SetQuestion("example.org.", dns.TypeA)
		if m, _, err = c.Exchange(q, addr.String()); err != nil || m.Rcode != dns.RcodeRefused {
			t.Errorf("%s: outside the domain: %v %v", proto, m, err)
		}
	}
}

// A headless Service with many endpoints is truncated over UDP (the client
// retries over TCP and gets everything).
func TestTruncation(t *testing.T) {
	src := labSource()
	var addrs []v1.EndpointAddress
	for i := 0; i < 100; i++ {
		addrs = append(addrs, addr(net.IPv4(10, 244, 1, byte(i)).String(), ""))
	}
	src.eps["team/db"] = &v1.Endpoints{Subsets: []v1.EndpointSubset{{Addresses: addrs}}}
	s := New(zaptest.NewLogger(t), Config{Domain: "cluster.local"}, src)
	a, err := s.Start("127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Shutdown(context.Background()) })
	q := new(dns.Msg).SetQuestion("db.team.svc.cluster.local.", dns.TypeA)
	m, _, err := (&dns.Client{Net: "udp"}).Exchange(q, a.String())
	if m != nil {
		m.Compress = true // as sent, for Len
	}
	if err != nil || !m.Truncated || m.Len() > dns.MinMsgSize {
		t.Fatalf("udp: truncated %v size %d err %v", m != nil && m.Truncated, m.Len(), err)
	}
	m, _, err = (&dns.Client{Net: "tcp"}).Exchange(q, a.String())
	if err != nil || m.Truncated || len(m.Answer) != 100 {
		t.Fatalf("tcp: %d answers, err %v", len(m.Answer), err)
	}
}

func TestReverseIP(t *testing.T) {
	for name, want := range map[string]string{
		"20.0.96.10.in-addr.arpa.":  "10.96.0.20",
		"0.96.10.in-addr.arpa.":     "<nil>",
		"020.0.96.10.in-addr.arpa.": "<nil>",
		"300.0.96.10.in-addr.arpa.": "<nil>",
	} {
		if got := reverseIP(name).String(); got != want {
			t.Errorf("reverseIP(%q) = %s, want %s", name, got, want)
		}
	}
}

// busybox nslookup (what the lab's init containers run) against the server
// on loopback: it succeeds for a Service (its AAAA query gets an empty
// success) and fails for a missing name or one outside the cluster domain.
func TestBusyboxNslookup(t *testing.T) {
	busybox, err := exec.LookPath("busybox")
	if err != nil {
		t.Skip("busybox not installed")
	}
	s := newServer(t)
	a, err := s.Start("127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Shutdown(context.Background()) })
	for name, wantOK := range map[string]bool{
		"myservice.default.svc.cluster.local": true,
		"db.team.svc.cluster.local":           true,
		"nosuch.default.svc.cluster.local":    false,
		"example.com":                         false,
	} {
		// The server is given explicitly: nothing is sent anywhere else.
		out, err := exec.Command(busybox, "nslookup", name, a.String()).CombinedOutput()
		if (err == nil) != wantOK {
			t.Errorf("nslookup %s: err %v, want success %v\n%s", name, err, wantOK, out)
		}
	}
}
