// Package agent wires the node agent together: containerd, images, the
// manifest source, pod workers, prober and the API server.
package agent

import (
	"fmt"
	"time"

	"k8s.io/apimachinery/pkg/api/resource"

	"github.com/minikubelet/minikubelet/internal/nodecap"
	"github.com/minikubelet/minikubelet/runtime"
)

// Config is the agent's configuration. Every field is a flag of
// `minikubelet agent` and a key of its YAML --config file (flags win).
type Config struct {
	Manifests  string `json:"manifests"`
	Root       string `json:"root"`
	Socket     string `json:"socket"`
	Containerd string `json:"containerd"`
	Namespace  string `json:"namespace"`
	NodeName   string `json:"nodeName"`
	// NodeIP is reported as the pods' hostIP (default: the first global
	// IPv4 address of an interface that is up).
	NodeIP    string `json:"nodeIP"`
	PodCIDR   string `json:"podCIDR"`
	CNIBinDir string `json:"cniBinDir"` // colon-separated search list
	Images    string `json:"images"`
	LogDir    string `json:"logDir"`
	LogLevel  string `json:"logLevel"`

	// Bridge is the Linux bridge pods attach to.
	Bridge string `json:"bridge"`
	// IPMasq masquerades pod traffic leaving the pod network.
	IPMasq bool `json:"ipMasq"`
	// ServiceCIDR gets a local unreachable route so that a ClusterIP without
	// a rule never leaves the machine.
	ServiceCIDR   string   `json:"serviceCIDR"`
	ClusterDNS    []string `json:"clusterDNS"`
	ClusterDomain string   `json:"clusterDomain"`
	// ResolvConf is the node's resolver file, the kubelet's resolvConf:
	// pods with dnsPolicy Default (or ClusterFirst on the host network)
	// get its nameservers, search domains and options, and the cluster
	// policies its search domains. "" gives them none.
	ResolvConf string `json:"resolvConf"`
	// DNSInterface is the dummy interface the agent creates to hold the
	// cluster DNS address and the ClusterIPs (default: mkdns0, or a name
	// derived from Namespace when that is not the default).
	DNSInterface string `json:"dnsInterface"`
	// NFTTable is the nftables table (family ip) the agent programs the
	// Services into (default: named after Namespace).
	NFTTable string `json:"nftTable"`

	// CgroupRoot is the cgroup the pods' cgroups are made under (kubepods/…
	// below it), the kubelet's --cgroup-root; default /minikubelet/<namespace>,
	// so that agents with different namespaces never share one.
	CgroupRoot string `json:"cgroupRoot"`

	// AllowedUnsafeSysctls are the sysctls beyond the safe set that pods
	// may set, names or prefixes ending in '*' (the kubelet's
	// allowedUnsafeSysctls); a pod asking for another fails with
	// SysctlForbidden.
	AllowedUnsafeSysctls []string `json:"allowedUnsafeSysctls"`

	// Offline nodes never contact a remote registry: imported images satisfy
	// imagePullPolicy Always, and only registries on loopback are pulled from.
	Offline bool `json:"offline"`

	// PauseBinary is the pause program the agent turns into its sandbox image.
	PauseBinary string `json:"pauseBinary"`

	CrashLoopBackOff CrashLoopBackOffConfig `json:"crashLoopBackOff"`

	// ContainerLogMaxSize is the size (a quantity: "10Mi") at which a
	// container's log file is rotated, and ContainerLogMaxFiles how many
	// files (at least 2) a container's log may have, as the kubelet's.
	ContainerLogMaxSize  string `json:"containerLogMaxSize"`
	ContainerLogMaxFiles int    `json:"containerLogMaxFiles"`

	// MaxPods is how many pods the node admits (the kubelet's maxPods);
	// one more is rejected with OutOfpods.
	MaxPods int `json:"maxPods"`

	// ResyncPeriod is the safety-net period at which each pod worker re-checks
	// containerd even when no event arrived.
	ResyncPeriod time.Duration `json:"resyncPeriod"`
	// ManifestRescan is the safety-net period of the manifest directory relist.
	ManifestRescan time.Duration `json:"manifestRescan"`

	// APIAddress is host:port of the Kubernetes API (HTTPS, client
	// certificates) that kubectl talks to; "" turns it off. Anything but a
	// loopback address exposes it beyond this machine: an explicit choice.
	APIAddress string `json:"apiAddress"`
}

// CrashLoopBackOffConfig mirrors the kubelet's crashLoopBackOff settings
// (KEP-4603).
type CrashLoopBackOffConfig struct {
	// MaxContainerRestartPeriod caps the restart back-off (1s–300s).
	MaxContainerRestartPeriod *Duration `json:"maxContainerRestartPeriod,omitempty"`
	// ReducedDecay opts into the 1s initial / 60s cap curve.
	ReducedDecay bool `json:"reducedDecay,omitempty"`
}

// cgroupRoot is CgroupRoot or its default.
func (c *Config) cgroupRoot() string {
	if c.CgroupRoot != "" {
		return c.CgroupRoot
	}
	return runtime.DefaultCgroupRoot(c.Namespace)
}

// logRotation checks and parses the container log rotation settings.
func (c *Config) logRotation() (maxSize int64, maxFiles int, err error) {
	q, err := resource.ParseQuantity(c.ContainerLogMaxSize)
	if err != nil {
		return 0, 0, fmt.Errorf("containerLogMaxSize %q: %w", c.ContainerLogMaxSize, err)
	}
	if q.Sign() <= 0 {
		return 0, 0, fmt.Errorf("containerLogMaxSize %q: must be greater than 0", c.ContainerLogMaxSize)
	}
	if c.ContainerLogMaxFiles < 2 {
		return 0, 0, fmt.Errorf("containerLogMaxFiles %d: must be greater than 1", c.ContainerLogMaxFiles)
	}
	return q.Value(), c.ContainerLogMaxFiles, nil
}

// Duration is a time.Duration that reads "10s" style strings from YAML.
type Duration struct{ time.Duration }

// UnmarshalJSON parses a Go duration string.
func (d *Duration) UnmarshalJSON(b []byte) error {
	s := string(b)
	if len(s) >= 2 && s[0] == '"' {
		s = s[1 : len(s)-1]
	}
	v, err := time.ParseDuration(s)
	if err != nil {
		return err
	}
	d.Duration = v
	return nil
}

// MarshalJSON writes a Go duration string.
func (d Duration) MarshalJSON() ([]byte, error) { return []byte(`"` + d.Duration.String() + `"`), nil }

// DefaultConfig returns the contract's defaults.
func DefaultConfig() Config {
	return Config{
		Manifests:      "/etc/minikubelet/manifests",
		Root:           "/var/lib/minikubelet",
		Socket:         "/run/minikubelet/minikubelet.sock",
		Containerd:     "/run/containerd/containerd.sock",
		Namespace:      "minikubelet",
		PodCIDR:        "10.244.0.0/16",
		CNIBinDir:      "/opt/cni/bin:/usr/lib/cni",
		LogDir:         "/var/log/pods",
		LogLevel:       "info",
		Bridge:         "mkbr0",
		IPMasq:         true,
		ServiceCIDR:    "10.96.0.0/12",
		ClusterDNS:     []string{"10.96.0.10"},
		ClusterDomain:  "cluster.local",
		ResolvConf:     "/etc/resolv.conf",
		ResyncPeriod:   time.Minute,
		ManifestRescan: 20 * time.Second,
		APIAddress:     "127.0.0.1:6443",

		ContainerLogMaxSize:  "10Mi",
		ContainerLogMaxFiles: 5,
		MaxPods:              nodecap.MaxPods,
	}
}
