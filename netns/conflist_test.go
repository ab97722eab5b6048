package netns

import (
	"encoding/json"
	"flag"
	"net"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"strings"
	"testing"

	"github.com/containernetworking/cni/libcni"
	current "github.com/containernetworking/cni/pkg/types/100"
	"go.uber.org/zap/zaptest"
)

var update = flag.Bool("update", false, "rewrite golden files in testdata/")

func golden(t *testing.T, name string, got []byte) {
	t.Helper()
	path := filepath.Join("testdata", name)
	if *update {
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("read golden file (run with -update to create it): %v", err)
	}
	if string(got) != string(want) {
		t.Errorf("%s differs from golden file:\n--- got\n%s\n--- want\n%s", name, got, want)
	}
}

func TestPodConflistGolden(t *testing.T) {
	tests := []struct {
		golden string
		cfg    Config
	}{
		{"10-minikubelet.conflist", Config{
			NetworkName: "minikubelet",
			Bridge:      "mkbr0",
			Subnet:      "10.244.0.0/16",
			IPMasq:      true,
			BinDirs:     []string{"/opt/cni/bin", "/usr/lib/cni"},
			ConfDir:     "/var/lib/minikubelet/cni/net.d",
			DataDir:     "/var/lib/minikubelet/cni",
		}},
		// Host bits in the subnet are dropped; MTU appears only when set.
		{"10-lab-nomasq-mtu.conflist", Config{
			NetworkName: "lab",
			Bridge:      "labbr",
			Subnet:      "10.200.7.9/24",
			IPMasq:      false,
			BinDirs:     []string{"/usr/lib/cni"},
			ConfDir:     "/tmp/conf",
			DataDir:     "/tmp/data",
			MTU:         1400,
		}},
		{"10-v6.conflist", Config{
			NetworkName: "v6",
			Bridge:      "v6br",
			Subnet:      "fd00:10:244::/64",
			BinDirs:     []string{"/usr/lib/cni"},
			ConfDir:     "/tmp/conf",
			DataDir:     "/tmp/data",
		}},
	}
	for _, tt := range tests {
		t.Run(tt.golden, func(t *testing.T) {
			if err := tt.cfg.validate(); err != nil {
				t.Fatal(err)
			}
			got, err := podConflist(tt.cfg)
			if err != nil {
				t.Fatal(err)
			}
			golden(t, tt.golden, got)
			// libcni must accept it as it is.
			list, err := libcni.ConfListFromBytes(got)
			if err != nil {
				t.Fatalf("libcni rejects the conflist: %v", err)
			}
			var types []string
			for _, p := range list.Plugins {
				types = append(types, p.Network.Type)
			}
			if want := []string{"bridge", "portmap"}; !reflect.DeepEqual(types, want) {
				t.Errorf("plugins = %v, want %v", types, want)
			}
			if !list.Plugins[1].Network.Capabilities["portMappings"] {
				t.Error("portmap does not declare the portMappings capability")
			}
		})
	}
}

func TestLoopbackConflistGolden(t *testing.T) {
	got, err := loopbackConflist()
	if err != nil {
		t.Fatal(err)
	}
	golden(t, "loopback.conflist", got)
	if _, err := libcni.ConfListFromBytes(got); err != nil {
		t.Fatalf("libcni rejects the loopback conflist: %v", err)
	}
}

func TestConfigValidate(t *testing.T) {
	good := Config{NetworkName: "n", Bridge: "br", Subnet: "10.1.0.0/16", BinDirs: []string{"/x"}, ConfDir: "/c", DataDir: "/d"}
	tests := []struct {
		name    string
		mutate  func(*Config)
		wantErr string
	}{
		{"valid", func(*Config) {}, ""},
		{"no name", func(c *Config) { c.NetworkName = "" }, "network name is empty"},
		{"slash in name", func(c *Config) { c.NetworkName = "a/b" }, "must not contain"},
		{"long bridge", func(c *Config) { c.Bridge = "abcdefghijklmnop" }, "1 to 15 characters"},
		{"no bridge", func(c *Config) { c.Bridge = "" }, "1 to 15 characters"},
		{"bad subnet", func(c *Config) { c.Subnet = "10.1.0.0" }, "pod subnet"},
		{"no bin dirs", func(c *Config) { c.BinDirs = nil }, "plugin directories"},
		{"no data dir", func(c *Config) { c.DataDir = "" }, "data dir"},
		{"negative mtu", func(c *Config) { c.MTU = -1 }, "mtu"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := good
			tt.mutate(&c)
			err := c.validate()
			if tt.wantErr == "" {
				if err != nil {
					t.Fatalf("unexpected error: %v", err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Fatalf("error = %v, want one containing %q", err, tt.wantErr)
			}
		})
	}
}

func TestCNIArgs(t *testing.T) {
	meta := PodMeta{Namespace: "default", Name: "web-0", UID: "0b6e-uid", SandboxID: "abc123"}
	want := [][2]string{
		{"IgnoreUnknown", "1"},
		{"K8S_POD_NAMESPACE", "default"},
		{"K8S_POD_NAME", "web-0"},
		{"K8S_POD_INFRA_CONTAINER_ID", "abc123"},
		{"K8S_POD_UID", "0b6e-uid"},
	}
	if got := cniArgs(meta); !reflect.DeepEqual(got, want) {
		t.Errorf("cniArgs = %v, want %v", got, want)
	}
}

func TestCapabilityArgs(t *testing.T) {
	tests := []struct {
		name  string
		ports []PortMapping
		want  string // JSON of the capability args; "null" for none
	}{
		{"no ports", nil, "null"},
		{"only container ports", []PortMapping{{ContainerPort: 80, Protocol: "TCP"}}, "null"},
		{"host ports, protocol folded, default tcp", []PortMapping{
			{HostPort: 8080, ContainerPort: 80, Protocol: "TCP"},
			{HostPort: 0, ContainerPort: 443, Protocol: "TCP"},
			{HostPort: 5353, ContainerPort: 53, Protocol: "UDP", HostIP: "127.0.0.1"},
			{HostPort: 9000, ContainerPort: 9000},
			{HostPort: 3868, ContainerPort: 3868, Protocol: "SCTP"},
		}, `{"portMappings":[` +
			`{"hostPort":8080,"containerPort":80,"protocol":"tcp"},` +
			`{"hostPort":5353,"containerPort":53,"protocol":"udp","hostIP":"127.0.0.1"},` +
			`{"hostPort":9000,"containerPort":9000,"protocol":"tcp"},` +
			`{"hostPort":3868,"containerPort":3868,"protocol":"sctp"}]}`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := json.Marshal(capabilityArgs(PodMeta{PortMappings: tt.ports}))
			if err != nil {
				t.Fatal(err)
			}
			if string(got) != tt.want {
				t.Errorf("capability args = %s\nwant %s", got, tt.want)
			}
		})
	}
}

func TestRuntimeConf(t *testing.T) {
	n := &Network{}
	meta := PodMeta{Namespace: "ns", Name: "p", UID: "u", SandboxID: "sb"}
	rt := n.runtimeConf("/run/netns/cni-1", "eth0", meta)
	if rt.ContainerID != "sb" || rt.NetNS != "/run/netns/cni-1" || rt.IfName != "eth0" {
		t.Errorf("runtime conf = %+v", rt)
	}
	if rt.CapabilityArgs != nil {
		t.Errorf("capability args without host ports = %v, want none", rt.CapabilityArgs)
	}
}

func TestPodResult(t *testing.T) {
	idx := func(i int) *int { return &i }
	ipnet := func(s string) net.IPNet {
		ip, n, err := net.ParseCIDR(s)
		if err != nil {
			t.Fatal(err)
		}
		n.IP = ip
		return *n
	}
	res := &current.Result{
		CNIVersion: "1.0.0",
		Interfaces: []*current.Interface{
			{Name: "mkbr0"},
			{Name: "veth1234"},
			{Name: "eth0", Sandbox: "/run/netns/cni-x"},
		},
		IPs: []*current.IPConfig{
			{Interface: idx(0), Address: ipnet("10.244.0.1/16")}, // the bridge's gateway address
			{Interface: idx(2), Address: ipnet("fd00::5/64")},
			{Interface: idx(2), Address: ipnet("10.244.0.5/16")},
			{Address: ipnet("10.9.9.9/32")}, // no interface: not the pod's
		},
	}
	got, err := podResult(res, "eth0")
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"10.244.0.5", "fd00::5"}
	var gotS []string
	for _, ip := range got.IPs {
		gotS = append(gotS, ip.String())
	}
	if !reflect.DeepEqual(gotS, want) {
		t.Errorf("IPs = %v, want %v", gotS, want)
	}

	res.IPs = res.IPs[:1]
	if _, err := podResult(res, "eth0"); err == nil || !strings.Contains(err.Error(), "failed to find network info") {
		t.Errorf("error without eth0 address = %v", err)
	}
}

func TestIPMasqRules(t *testing.T) {
	listing := `-P POSTROUTING ACCEPT
-A POSTROUTING -s 10.200.3.2/32 -m comment --comment "name: \"mk\" id: \"sb1\"" -j CNI-0123456789abcdef01234567
-A POSTROUTING -s 10.200.3.3/32 -m comment --comment "name: \"mk\" id: \"sb10\"" -j CNI-fedcba9876543210fedcba98
-A POSTROUTING -s 10.200.3.4/32 -m comment --comment "name: \"other\" id: \"sb1\"" -j CNI-aaaaaaaaaaaaaaaaaaaaaaaa
-A POSTROUTING -m comment --comment "name: \"mk\" id: \"sb1\"" -j MASQUERADE
-A POSTROUTING -s 10.200.3.2/32 -j CNI-0123456789abcdef01234567 -m comment --comment "name: \"mk\" id: \"sb1\""
`
	got := ipMasqRules(listing, `name: "mk" id: "sb1"`)
	want := []ipMasqRule{
		{"10.200.3.2/32", "CNI-0123456789abcdef01234567"},
		{"10.200.3.2/32", "CNI-0123456789abcdef01234567"},
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("rules = %v, want %v", got, want)
	}
}

func TestRandomName(t *testing.T) {
	re := regexp.MustCompile(`^cni-[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$`)
	a, err := randomName()
	if err != nil {
		t.Fatal(err)
	}
	b, _ := randomName()
	if !re.MatchString(a) || a == b {
		t.Errorf("names %q, %q: want distinct cni-<uuid v4>", a, b)
	}
}

func TestNewNetworkNamesMissingPlugin(t *testing.T) {
	bin := t.TempDir()
	for _, p := range []string{"bridge", "host-local", "loopback"} {
		if err := os.WriteFile(filepath.Join(bin, p), []byte("#!/bin/sh\n"), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	// Present but not executable does not count.
	if err := os.WriteFile(filepath.Join(bin, "portmap"), nil, 0o644); err != nil {
		t.Fatal(err)
	}
	cfg := Config{NetworkName: "n", Bridge: "br", Subnet: "10.1.0.0/16",
		BinDirs: []string{filepath.Join(bin, "nope"), bin}, ConfDir: t.TempDir(), DataDir: t.TempDir()}
	_, err := NewNetwork(zaptest.NewLogger(t), cfg)
	if err == nil || !strings.Contains(err.Error(), `"portmap"`) {
		t.Fatalf("error = %v, want one naming portmap", err)
	}

	if err := os.Chmod(filepath.Join(bin, "portmap"), 0o755); err != nil {
		t.Fatal(err)
	}
	if _, err := NewNetwork(zaptest.NewLogger(t), cfg); err != nil {
		t.Fatal(err)
	}
	written, err := os.ReadFile(filepath.Join(cfg.ConfDir, "10-n.conflist"))
	if err != nil {
		t.Fatal(err)
	}
	want, _ := podConflist(cfg)
	if string(written) != string(want) {
		t.Errorf("written conflist:\n%s\nwant:\n%s", written, want)
	}
}
