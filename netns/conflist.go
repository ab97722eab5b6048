package netns

import (
	"encoding/json"
	"fmt"
	"net"
	"path/filepath"
	"strings"
)

// cniVersion is the newest spec version Debian 12's plugins (1.1.1) speak;
// libcni 1.3 handles it too.
const cniVersion = "1.0.0"

// loopbackNetworkName is the built-in loopback network, named as containerd
// names its own.
const loopbackNetworkName = "cni-loopback"

// The plugins our two networks run; NewNetwork checks all of them up front.
var requiredPlugins = []string{"bridge", "host-local", "portmap", "loopback"}

type conflist struct {
	CNIVersion string `json:"cniVersion"`
	Name       string `json:"name"`
	Plugins    []any  `json:"plugins"`
}

type bridgePlugin struct {
	Type        string        `json:"type"`
	Bridge      string        `json:"bridge"`
	IsGateway   bool          `json:"isGateway"`
	IPMasq      bool          `json:"ipMasq"`
	HairpinMode bool          `json:"hairpinMode"`
	MTU         int           `json:"mtu,omitempty"`
	IPAM        hostLocalIPAM `json:"ipam"`
}

type hostLocalIPAM struct {
	Type    string        `json:"type"`
	Ranges  [][]ipamRange `json:"ranges"`
	Routes  []ipamRoute   `json:"routes"`
	DataDir string        `json:"dataDir"`
}

type ipamRange struct {
	Subnet string `json:"subnet"`
}

type ipamRoute struct {
	Dst string `json:"dst"`
}

type portmapPlugin struct {
	Type         string          `json:"type"`
	Capabilities map[string]bool `json:"capabilities"`
}

type loopbackPlugin struct {
	Type string `json:"type"`
}

// ipamDir is host-local's dataDir: one file per leased IP under
// <ipamDir>/<network name>/.
func (c Config) ipamDir() string { return filepath.Join(c.DataDir, "ipam") }

// cacheDir is libcni's result cache (what CHECK and DEL get as prevResult).
func (c Config) cacheDir() string { return filepath.Join(c.DataDir, "cache") }

// confFileName is where NewNetwork writes the pod network's conflist.
func (c Config) confFileName() string {
	return filepath.Join(c.ConfDir, "10-"+c.NetworkName+".conflist")
}

// validate checks what the plugins would otherwise reject late, at the first
// pod, with a less helpful message.
func (c Config) validate() error {
	if c.NetworkName == "" {
		return fmt.Errorf("network name is empty")
	}
	if strings.ContainsAny(c.NetworkName, "/\\ \t\n") {
		return fmt.Errorf("network name %q: must not contain slashes or spaces", c.NetworkName)
	}
	// IFNAMSIZ is 16 including the terminating NUL.
	if c.Bridge == "" || len(c.Bridge) > 15 {
		return fmt.Errorf("bridge name %q: must be 1 to 15 characters", c.Bridge)
	}
	if _, _, err := net.ParseCIDR(c.Subnet); err != nil {
		return fmt.Errorf("pod subnet %q: %w", c.Subnet, err)
	}
	if len(c.BinDirs) == 0 {
		return fmt.Errorf("no CNI plugin directories given")
	}
	if c.ConfDir == "" || c.DataDir == "" {
		return fmt.Errorf("CNI conf dir (%q) and data dir (%q) must both be set", c.ConfDir, c.DataDir)
	}
	if c.MTU < 0 {
		return fmt.Errorf("mtu %d: must not be negative", c.MTU)
	}
	return nil
}

// podConflist renders the pod network: a bridge that is the pods' gateway,
// host-local addresses from the node's subnet and portmap for hostPorts. It
// is a pure function of cfg (cfg must be valid) so it can be golden-tested.
func podConflist(cfg Config) ([]byte, error) {
	_, subnet, err := net.ParseCIDR(cfg.Subnet)
	if err != nil {
		return nil, fmt.Errorf("pod subnet %q: %w", cfg.Subnet, err)
	}
	defaultRoute := "0.0.0.0/0"
	if subnet.IP.To4() == nil {
		defaultRoute = "::/0"
	}
	list := conflist{
		CNIVersion: cniVersion,
		Name:       cfg.NetworkName,
		Plugins: []any{
			bridgePlugin{
				Type:        "bridge",
				Bridge:      cfg.Bridge,
				IsGateway:   true,
				IPMasq:      cfg.IPMasq,
				HairpinMode: true,
				MTU:         cfg.MTU,
				IPAM: hostLocalIPAM{
					Type:    "host-local",
					Ranges:  [][]ipamRange{{{Subnet: subnet.String()}}},
					Routes:  []ipamRoute{{Dst: defaultRoute}},
					DataDir: cfg.ipamDir(),
				},
			},
			portmapPlugin{
				Type:         "portmap",
				Capabilities: map[string]bool{"portMappings": true},
			},
		},
	}
	return marshalConf(list)
}

// loopbackConflist is the network that brings up lo in every pod.
func loopbackConflist() ([]byte, error) {
	return marshalConf(conflist{
		CNIVersion: cniVersion,
		Name:       loopbackNetworkName,
		Plugins:    []any{loopbackPlugin{Type: "loopback"}},
	})
}

func marshalConf(list conflist) ([]byte, error) {
	b, err := json.MarshalIndent(list, "", "  ")
	if err != nil {
		return nil, fmt.Errorf("encode CNI network %q: %w", list.Name, err)
	}
	return append(b, '\n'), nil
}

// cniPortMapping is one entry of the portMappings capability argument, in
// the JSON shape the portmap plugin reads.
type cniPortMapping struct {
	HostPort      int32  `json:"hostPort"`
	ContainerPort int32  `json:"containerPort"`
	Protocol      string `json:"protocol"`
	HostIP        string `json:"hostIP,omitempty"`
}

// cniArgs is CNI_ARGS for a pod, the keys kubelet's runtime (containerd CRI)
// passes; IgnoreUnknown keeps plugins that know none of them from failing.
func cniArgs(meta PodMeta) [][2]string {
	return [][2]string{
		{"IgnoreUnknown", "1"},
		{"K8S_POD_NAMESPACE", meta.Namespace},
		{"K8S_POD_NAME", meta.Name},
		{"K8S_POD_INFRA_CONTAINER_ID", meta.SandboxID},
		{"K8S_POD_UID", meta.UID},
	}
}

// capabilityArgs is the runtimeConfig offered to plugins (libcni passes each
// key only to plugins that declare that capability). As in containerd, port
// mappings without a host port are dropped: they publish nothing.
func capabilityArgs(meta PodMeta) map[string]any {
	var pms []cniPortMapping
	for _, pm := range meta.PortMappings {
		if pm.HostPort <= 0 {
			continue
		}
		proto := strings.ToLower(pm.Protocol)
		if proto == "" {
			proto = "tcp"
		}
		pms = append(pms, cniPortMapping{
			HostPort:      pm.HostPort,
			ContainerPort: pm.ContainerPort,
			Protocol:      proto,
			HostIP:        pm.HostIP,
		})
	}
	if len(pms) == 0 {
		return nil
	}
	return map[string]any{"portMappings": pms}
}
