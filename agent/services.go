package agent

import (
	"context"
	"encoding/hex"
	"errors"
	"fmt"
	"hash/fnv"
	"net"
	"path/filepath"
	"strings"
	"time"

	"go.uber.org/zap"
	v1 "k8s.io/api/core/v1"

	"github.com/minikubelet/minikubelet/api"
	"github.com/minikubelet/minikubelet/dns"
	"github.com/minikubelet/minikubelet/events"
	"github.com/minikubelet/minikubelet/services"
	"github.com/minikubelet/minikubelet/status"
)

// defaultNamespace and defaultDNSInterface are the production names; an
// agent on another containerd namespace (a test, a second agent) derives
// its own interface and table names from it, so two agents never share
// them.
const (
	defaultNamespace    = "minikubelet"
	defaultDNSInterface = "mkdns0"
)

// dnsInterface is the interface that holds the DNS address and ClusterIPs.
func (c *Config) dnsInterface() string {
	if c.DNSInterface != "" {
		return c.DNSInterface
	}
	if c.Namespace == "" || c.Namespace == defaultNamespace {
		return defaultDNSInterface
	}
	// Interface names have at most 15 bytes: "mkd" + 8 hex digits.
	h := fnv.New32a()
	h.Write([]byte(c.Namespace))
	return "mkd" + hex.EncodeToString(h.Sum(nil))
}

// nftTable is the agent's nftables table: named after the containerd
// namespace, with what nft does not accept in a name replaced.
func (c *Config) nftTable() string {
	if c.NFTTable != "" {
		return c.NFTTable
	}
	ns := c.Namespace
	if ns == "" {
		ns = defaultNamespace
	}
	name := strings.Map(func(r rune) rune {
		if r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '-' || r == '_' {
			return r
		}
		return '_'
	}, ns)
	if c := name[0]; !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z') {
		name = "mk" + name // nft names start with a letter
	}
	return name
}

// servicesRunner runs the node's Services: the services manager (ClusterIPs,
// Endpoints, nftables) and the cluster DNS server on each cluster DNS
// address. A nil runner (no service CIDR configured) does nothing.
type servicesRunner struct {
	log    *zap.Logger
	mgr    *services.Manager
	dns    []*dns.Server
	cancel context.CancelFunc
}

// startServices sets the node up for Services and starts serving them; it
// returns nil (and no error) when cfg has no service CIDR. Until Set is
// called there are no Services, only the DNS server answering NXDOMAIN.
// The caller must Close the runner.
func startServices(ctx context.Context, log *zap.Logger, cfg Config, pods *status.Store, rec events.Recorder) (_ *servicesRunner, retErr error) {
	if cfg.ServiceCIDR == "" {
		log.Info("no service CIDR: Services are not run")
		return nil, nil
	}
	_, cidr, err := net.ParseCIDR(cfg.ServiceCIDR)
	if err != nil {
		return nil, fmt.Errorf("serviceCIDR %q: %w", cfg.ServiceCIDR, err)
	}
	var dnsIPs []string
	for _, s := range cfg.ClusterDNS {
		ip := net.ParseIP(s).To4()
		if ip == nil {
			return nil, fmt.Errorf("clusterDNS %q: only IPv4 addresses are served", s)
		}
		dnsIPs = append(dnsIPs, ip.String())
	}
	mgr, err := services.New(log.Named("services"), services.Config{
		ServiceCIDR: cidr.String(),
		DNSIPs:      dnsIPs,
		StateDir:    filepath.Join(cfg.Root, "services"),
		Table:       cfg.nftTable(),
		Link:        cfg.dnsInterface(),

		APIServerPort: apiPort(cfg),
	}, services.Deps{Pods: pods, Recorder: rec})
	if err != nil {
		return nil, err
	}
	runCtx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	r := &servicesRunner{log: log, mgr: mgr, cancel: cancel}
	defer func() {
		if retErr != nil {
			r.Close()
		}
	}()
	if err := mgr.Start(runCtx); err != nil {
		// Start failed before its goroutine began: nothing to wait for.
		r.mgr = nil
		cancel()
		cleanupCtx, done := context.WithTimeout(context.Background(), 10*time.Second)
		defer done()
		return nil, errors.Join(err, mgr.Cleanup(cleanupCtx))
	}
	for _, ip := range dnsIPs {
		srv := dns.New(log.Named("dns"), dns.Config{Domain: cfg.ClusterDomain, ServiceCIDR: cidr}, mgr.Store())
		if _, err := srv.Start(net.JoinHostPort(ip, "53")); err != nil {
			return nil, fmt.Errorf("cluster DNS on %s: %w", ip, err)
		}
		r.dns = append(r.dns, srv)
	}
	log.Info("services running", zap.String("serviceCIDR", cidr.String()), zap.Strings("clusterDNS", dnsIPs),
		zap.String("interface", cfg.dnsInterface()), zap.String("nftTable", cfg.nftTable()))
	return r, nil
}

// Set hands over the desired Services (from the manifest source).
func (r *servicesRunner) Set(svcs []*v1.Service) {
	if r == nil || r.mgr == nil {
		return
	}
	r.mgr.Set(svcs)
}

// Flush returns once the Service rules reflect the pod statuses published
// so far (see services.Manager.Flush); at once when Services are not run.
func (r *servicesRunner) Flush(ctx context.Context) error {
	if r == nil || r.mgr == nil {
		return nil
	}
	return r.mgr.Flush(ctx)
}

// Source is what the API serves; nil when Services are not run.
func (r *servicesRunner) Source() api.ServiceSource {
	if r == nil || r.mgr == nil {
		return nil
	}
	return r.mgr.Store()
}

// Close stops the DNS servers and the manager, and removes the nftables
// table and the address interface: a clean shutdown leaves nothing behind.
func (r *servicesRunner) Close() {
	if r == nil {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	for _, srv := range r.dns {
		if err := srv.Shutdown(ctx); err != nil {
			r.log.Warn("stop cluster DNS", zap.Error(err))
		}
	}
	r.dns = nil
	r.cancel()
	if r.mgr == nil {
		return
	}
	r.mgr.Wait()
	if err := r.mgr.Cleanup(ctx); err != nil {
		r.log.Warn("remove services from the node", zap.Error(err))
	}
	r.mgr = nil
}
