package runtime

import (
	"reflect"
	"strings"
	"testing"

	v1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

func TestPodHostname(t *testing.T) {
	long := strings.Repeat("a", 62) + "-b"
	yes := true
	for _, tc := range []struct {
		name             string
		pod              v1.Pod
		wantHost, domain string
		uts              string
		wantErr          bool
	}{
		{name: "pod name", pod: v1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "web", Namespace: "ns"}}, wantHost: "web", uts: "web"},
		{name: "spec.hostname", pod: v1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "web"}, Spec: v1.PodSpec{Hostname: "h1"}}, wantHost: "h1", uts: "h1"},
		{name: "truncated and trimmed", pod: v1.Pod{ObjectMeta: metav1.ObjectMeta{Name: long}}, wantHost: strings.Repeat("a", 62), uts: strings.Repeat("a", 62)},
		{name: "subdomain", pod: v1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "web", Namespace: "ns"}, Spec: v1.PodSpec{Subdomain: "sub"}},
			wantHost: "web", domain: "sub.ns.svc.cluster.local", uts: "web"},
		{name: "fqdn", pod: v1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "web", Namespace: "ns"}, Spec: v1.PodSpec{Subdomain: "sub", SetHostnameAsFQDN: &yes}},
			wantHost: "web", domain: "sub.ns.svc.cluster.local", uts: "web.sub.ns.svc.cluster.local"},
		{name: "bad hostname", pod: v1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "web"}, Spec: v1.PodSpec{Hostname: "Bad_Name"}}, wantErr: true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h, d, err := podHostname(&tc.pod, "")
			if (err != nil) != tc.wantErr {
				t.Fatalf("err = %v", err)
			}
			if err != nil {
				return
			}
			if h != tc.wantHost || d != tc.domain {
				t.Errorf("got %q %q, want %q %q", h, d, tc.wantHost, tc.domain)
			}
			uts, err := utsHostname(&tc.pod, h, d)
			if err != nil || uts != tc.uts {
				t.Errorf("uts = %q, %v; want %q", uts, err, tc.uts)
			}
		})
	}
}

func TestHostsFileContent(t *testing.T) {
	got := string(hostsFileContent("web", "", []string{"10.1.0.5"}, nil))
	want := "# Kubernetes-managed hosts file.\n" +
		"127.0.0.1\tlocalhost\n" +
		"::1\tlocalhost ip6-localhost ip6-loopback\n" +
		"fe00::0\tip6-localnet\n" +
		"fe00::0\tip6-mcastprefix\n" +
		"fe00::1\tip6-allnodes\n" +
		"fe00::2\tip6-allrouters\n" +
		"10.1.0.5\tweb\n"
	if got != want {
		t.Errorf("hosts:\n%s\nwant:\n%s", got, want)
	}
	got = string(hostsFileContent("web", "sub.ns.svc.cluster.local", []string{"10.1.0.5"},
		[]v1.HostAlias{{IP: "127.0.0.1", Hostnames: []string{"foo.local", "bar.local"}}}))
	if !strings.Contains(got, "10.1.0.5\tweb.sub.ns.svc.cluster.local\tweb\n") ||
		!strings.HasSuffix(got, "\n# Entries added by HostAliases.\n127.0.0.1\tfoo.local\tbar.local\n") {
		t.Errorf("hosts with domain and aliases:\n%s", got)
	}
}

func TestPodDNS(t *testing.T) {
	val := func(s string) *string { return &s }
	host := dnsConfig{Nameservers: []string{"192.0.2.53"}, Searches: []string{"lab.example"}, Options: []string{"edns0"}}
	node := dnsSettings{ClusterDNS: []string{"10.96.0.10"}, ClusterDomain: "cluster.local", Host: host}
	const clusterConf = "search ns.svc.cluster.local svc.cluster.local cluster.local lab.example\nnameserver 10.96.0.10\noptions ndots:5\n"
	const hostConf = "search lab.example\nnameserver 192.0.2.53\noptions edns0\n"
	for _, tc := range []struct {
		name     string
		spec     v1.PodSpec
		settings dnsSettings
		want     string
		fellBack bool
		wantErr  bool
	}{
		{name: "cluster first", settings: node, want: clusterConf},
		{name: "cluster first without cluster DNS", settings: dnsSettings{Host: host}, want: hostConf, fellBack: true},
		{name: "default policy", spec: v1.PodSpec{DNSPolicy: v1.DNSDefault}, settings: node, want: hostConf},
		{name: "default policy without node resolver", spec: v1.PodSpec{DNSPolicy: v1.DNSDefault}, settings: dnsSettings{ClusterDNS: []string{"10.96.0.10"}}, want: ""},
		{name: "none with config", settings: node, spec: v1.PodSpec{DNSPolicy: v1.DNSNone, DNSConfig: &v1.PodDNSConfig{
			Nameservers: []string{"1.2.3.4"}, Searches: []string{"a.b"}, Options: []v1.PodDNSConfigOption{{Name: "ndots", Value: val("2")}, {Name: "edns0"}}}},
			want: "search a.b\nnameserver 1.2.3.4\noptions ndots:2 edns0\n"},
		{name: "cluster first merged with config", settings: node, spec: v1.PodSpec{DNSConfig: &v1.PodDNSConfig{
			Nameservers: []string{"10.96.0.10", "1.1.1.1", "2.2.2.2", "3.3.3.3"}, Searches: []string{"svc.cluster.local", "x.y"},
			Options: []v1.PodDNSConfigOption{{Name: "ndots", Value: val("1")}}}},
			want: "search ns.svc.cluster.local svc.cluster.local cluster.local lab.example x.y\nnameserver 10.96.0.10\nnameserver 1.1.1.1\nnameserver 2.2.2.2\noptions ndots:1\n"},
		{name: "default merged with config", settings: node, spec: v1.PodSpec{DNSPolicy: v1.DNSDefault, DNSConfig: &v1.PodDNSConfig{
			Nameservers: []string{"192.0.2.54"}, Options: []v1.PodDNSConfigOption{{Name: "edns0"}, {Name: "ndots", Value: val("2")}}}},
			want: "search lab.example\nnameserver 192.0.2.53\nnameserver 192.0.2.54\noptions edns0 ndots:2\n"},
		{name: "none without config", spec: v1.PodSpec{DNSPolicy: v1.DNSNone}, wantErr: true},
		// hostNetwork falls back to the node's resolver unless it asks
		// for the cluster's (dns.go getPodDNSType).
		{name: "host network", spec: v1.PodSpec{HostNetwork: true}, settings: node, want: hostConf},
		{name: "host network cluster first", spec: v1.PodSpec{HostNetwork: true, DNSPolicy: v1.DNSClusterFirst}, settings: node, want: hostConf},
		{name: "host network default", spec: v1.PodSpec{HostNetwork: true, DNSPolicy: v1.DNSDefault}, settings: node, want: hostConf},
		{name: "host network with cluster DNS", spec: v1.PodSpec{HostNetwork: true, DNSPolicy: v1.DNSClusterFirstWithHostNet}, settings: node, want: clusterConf},
		{name: "host network with cluster DNS but none configured", spec: v1.PodSpec{HostNetwork: true, DNSPolicy: v1.DNSClusterFirstWithHostNet},
			settings: dnsSettings{Host: host}, want: hostConf, fellBack: true},
		{name: "cluster first with host net off", spec: v1.PodSpec{DNSPolicy: v1.DNSClusterFirstWithHostNet}, settings: node, want: clusterConf},
		{name: "host network none", spec: v1.PodSpec{HostNetwork: true, DNSPolicy: v1.DNSNone, DNSConfig: &v1.PodDNSConfig{Nameservers: []string{"1.2.3.4"}}},
			settings: node, want: "nameserver 1.2.3.4\n"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			pod := &v1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "p", Namespace: "ns"}, Spec: tc.spec}
			cfg, fellBack, err := podDNS(pod, tc.settings)
			if (err != nil) != tc.wantErr {
				t.Fatalf("err = %v", err)
			}
			if err != nil {
				return
			}
			if got := string(resolvConfContent(cfg)); got != tc.want {
				t.Errorf("resolv.conf:\n%s\nwant:\n%s", got, tc.want)
			}
			if fellBack != tc.fellBack {
				t.Errorf("fellBack = %v", fellBack)
			}
		})
	}
}

func TestParseResolvConf(t *testing.T) {
	for _, tc := range []struct {
		name, in string
		want     dnsConfig
	}{
		{name: "empty", in: "", want: dnsConfig{}},
		{name: "full", in: "# generated\n; also a comment\nnameserver 192.0.2.1\nnameserver  2001:db8::1 \nsearch a.example. b.example\noptions ndots:2 edns0\n",
			want: dnsConfig{Nameservers: []string{"192.0.2.1", "2001:db8::1"}, Searches: []string{"a.example", "b.example"}, Options: []string{"ndots:2", "edns0"}}},
		{name: "last search wins, root dropped", in: "search x.example\nsearch . y.example.\n",
			want: dnsConfig{Searches: []string{"y.example"}}},
		{name: "options merged by name", in: "options ndots:2 timeout:1\noptions ndots:3\n",
			want: dnsConfig{Options: []string{"ndots:3", "timeout:1"}}},
		{name: "nameserver without address", in: "nameserver\nnameserver 192.0.2.9\n",
			want: dnsConfig{Nameservers: []string{"192.0.2.9"}}},
		{name: "unknown keywords", in: "domain lab.example\nsortlist 10.0.0.0/8\n", want: dnsConfig{}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := parseResolvConf(strings.NewReader(tc.in))
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got, tc.want) {
				t.Errorf("got %+v, want %+v", got, tc.want)
			}
		})
	}
}
