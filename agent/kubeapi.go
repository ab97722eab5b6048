package agent

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"sync/atomic"
	"time"

	"go.uber.org/zap"

	"github.com/minikubelet/minikubelet/api"
	"github.com/minikubelet/minikubelet/events"
	"github.com/minikubelet/minikubelet/kubeapi"
	"github.com/minikubelet/minikubelet/services"
	"github.com/minikubelet/minikubelet/status"
)

// KubeconfigPath is where the agent writes the admin kubeconfig of its
// Kubernetes API: <root>/admin.kubeconfig.
func (c *Config) KubeconfigPath() string { return filepath.Join(c.Root, kubeapi.KubeconfigFile) }

// kubernetesServiceIP is the first address of the service range, which the
// `kubernetes` Service holds on every cluster.
func kubernetesServiceIP(cidr string) net.IP {
	_, n, err := net.ParseCIDR(cidr)
	if err != nil {
		return nil
	}
	return services.KubernetesIP(n)
}

// inClusterAddress is where pods reach the API through the `kubernetes`
// Service: its ClusterIP (held on the services link) at the API's port.
// Empty when Services do not run, or when the API already listens on every
// address.
func inClusterAddress(cfg Config, servicesRun bool) string {
	host, port, err := net.SplitHostPort(cfg.APIAddress)
	if !servicesRun || err != nil {
		return ""
	}
	if ip := net.ParseIP(host); host == "" || ip != nil && ip.IsUnspecified() {
		return ""
	}
	ip := kubernetesServiceIP(cfg.ServiceCIDR)
	if ip == nil {
		return ""
	}
	return net.JoinHostPort(ip.String(), port)
}

// apiPort is the port of cfg.APIAddress, 0 when the API is off.
func apiPort(cfg Config) int32 {
	_, port, err := net.SplitHostPort(cfg.APIAddress)
	if err != nil {
		return 0
	}
	n, err := strconv.ParseUint(port, 10, 16)
	if err != nil {
		return 0
	}
	return int32(n)
}

// containerStreams run exec, attach and port-forward sessions; the
// runtime does all three.
type containerStreams interface {
	kubeapi.Executor
	kubeapi.Attacher
	kubeapi.PortForwarder
}

// newKubeAPI builds the Kubernetes API server over the agent's stores, or
// returns nil when cfg turns it off. Its credentials are made here, before
// the socket API serves the kubeconfig.
func newKubeAPI(log *zap.Logger, cfg Config, version, runtimeVersion string, store *status.Store,
	svcs api.ServiceSource, configs kubeapi.ConfigStore, rec *events.Store, logs http.Handler, streams containerStreams, apps kubeapi.AppsStore,
	term api.Terminator, ops kubeOps) (*kubeapi.Server, error) {
	if cfg.APIAddress == "" {
		return nil, nil
	}
	names := kubeapi.Names{DNS: []string{cfg.NodeName}}
	if cfg.ClusterDomain != "" {
		// Beside kubernetes.default.svc, as the API server's certificate
		// has it: the name a pod's resolver search list completes to.
		names.DNS = append(names.DNS, "kubernetes.default.svc."+cfg.ClusterDomain)
	}
	for _, ip := range []string{cfg.NodeIP} {
		if p := net.ParseIP(ip); p != nil {
			names.IPs = append(names.IPs, p)
		}
	}
	if ip := kubernetesServiceIP(cfg.ServiceCIDR); ip != nil {
		names.IPs = append(names.IPs, ip)
	}
	node := kubeapi.NodeConfig{
		Name: cfg.NodeName, IP: cfg.NodeIP, PodCIDR: cfg.PodCIDR, RuntimeVersion: runtimeVersion,
		Root: cfg.Root, MaxPods: cfg.MaxPods, Started: time.Now(),
	}
	deps := kubeapi.Deps{
		Pods:   store,
		Events: rec,
		Node:   func() kubeapi.Object { return kubeapi.BuildNode(node) },
		Logs:   logs,
		Exec:   streams,
		Attach: streams,
		Apps:   apps,
		// The manifests directory's ConfigMaps and Secrets.
		Configs: configs,

		ManifestDir: cfg.Manifests,
		NodeName:    cfg.NodeName,
		Terminator:  term,
		Health:      ops.health,
		Metrics:     ops.metrics,
	}
	deps.PortForward = streams
	// The services store, when services run, also says when it changed.
	if ss, ok := svcs.(kubeapi.ServiceStore); ok {
		deps.Services = ss
	}
	srv, err := kubeapi.New(log, kubeapi.Config{
		Address:          cfg.APIAddress,
		PKIDir:           filepath.Join(cfg.Root, "pki"),
		Kubeconfig:       cfg.KubeconfigPath(),
		Names:            names,
		AgentVersion:     version,
		InClusterAddress: inClusterAddress(cfg, deps.Services != nil),
	}, deps)
	if err != nil {
		return nil, err
	}
	if err := srv.EnsureCredentials(time.Now()); err != nil {
		return nil, err
	}
	return srv, nil
}

// kubeOps are what the API serves for operators: /metrics and the checks
// of /livez and /readyz.
type kubeOps struct {
	metrics *kubeapi.Metrics
	health  []kubeapi.HealthCheck
}

// servingChecker is the containerd client's health question.
type servingChecker interface {
	IsServing(ctx context.Context) (bool, error)
}

// healthChecks are the agent's checks beside ping: containerd answers
// (liveness and readiness, as the API server's etcd check), and the
// manifest source has done its first read (readiness only, as the API
// server's informer-sync: before it the node does not know its pods).
func healthChecks(client servingChecker, synced *atomic.Bool) []kubeapi.HealthCheck {
	return []kubeapi.HealthCheck{
		{Name: "containerd", Check: func(ctx context.Context) error {
			ok, err := client.IsServing(ctx)
			if err != nil {
				return fmt.Errorf("containerd: %w", err)
			}
			if !ok {
				return errors.New("containerd is not serving")
			}
			return nil
		}},
		{Name: "manifests-synced", ReadyOnly: true, Check: func(context.Context) error {
			if !synced.Load() {
				return errors.New("the manifests directory has not been read yet")
			}
			return nil
		}},
	}
}

// readKubeconfig returns the admin kubeconfig, for `minikubelet kubeconfig`.
func readKubeconfig(cfg Config) ([]byte, error) {
	if cfg.APIAddress == "" {
		return nil, errors.New("the Kubernetes API is turned off (--api-address \"\")")
	}
	return os.ReadFile(cfg.KubeconfigPath())
}
