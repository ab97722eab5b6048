// Package services runs Kubernetes Services on the node: it gives each
// Service a ClusterIP from the service CIDR (kept across agent restarts),
// builds its Endpoints from the published pods like the endpoints
// controller, publishes both for the API and the cluster DNS, and programs
// kube-proxy-like forwarding with nftables: ClusterIP:port is DNATed to a
// random ready endpoint, for traffic from pods and from the node itself.
//
// One Manager goroutine owns all of it. Its inputs are the desired Services
// (Set, from the manifest source) and pod changes (the status store's
// watch); each change recomputes everything, and the kernel is touched only
// when the rendered ruleset or the set of addresses differs from what was
// applied.
package services

import (
	"context"
	"errors"
	"fmt"
	"net"
	"path/filepath"
	"slices"
	"time"

	"go.uber.org/zap"
	v1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/minikubelet/minikubelet/status"
)

// Config configures a Manager.
type Config struct {
	// ServiceCIDR is the range ClusterIPs come from (e.g. 10.96.0.0/12).
	ServiceCIDR string
	// DNSIPs are the cluster DNS addresses served on this node: reserved in
	// the range, held on Link, and open on port 53 only.
	DNSIPs []string
	// StateDir holds allocations.json.
	StateDir string
	// Table is the nftables table (family ip) the manager owns.
	Table string
	// Link is the name of the interface that holds the ClusterIPs and the
	// DNS addresses.
	Link string
	// APIServerPort, when not 0, publishes the `kubernetes` Service (the
	// range's first address, port 443) with Endpoints at that address and
	// this port, where the Kubernetes API also listens.
	APIServerPort int32
}

// Pods is where pods are read from; status.Store implements it.
type Pods interface {
	List(namespace string) []*v1.Pod
	Watch(ctx context.Context, buffer int) <-chan status.Event
}

// Firewall programs the proxy table; NFT implements it.
type Firewall interface {
	Apply(ctx context.Context, ruleset string) error
	DeleteTable(ctx context.Context, table string) error
}

// Addresses holds the node-local addresses; HostLink implements it.
type Addresses interface {
	Ensure() error
	SetAddresses(ips []string) error
	Delete() error
}

// Recorder records events about Services; events.Store implements it.
type Recorder interface {
	Event(ref *v1.ObjectReference, eventType, reason, message string)
}

// Deps are the Manager's collaborators. Pods is required; a nil Firewall
// means NFT{}, a nil Addresses HostLink{Config.Link}, a nil Recorder none.
type Deps struct {
	Pods      Pods
	Firewall  Firewall
	Addresses Addresses
	Recorder  Recorder
}

// retry bounds the back-off after a failed kernel update.
const (
	retryInitial = time.Second
	retryMax     = 30 * time.Second
)

// Manager runs the Services. Create it with New, then Start.
type Manager struct {
	log   *zap.Logger
	cfg   Config
	deps  Deps
	alloc *Allocator
	store *Store
	// kubeSvc and kubeEP are the built-in `kubernetes` Service and its
	// Endpoints, nil without Config.APIServerPort.
	kubeSvc *v1.Service
	kubeEP  *v1.Endpoints

	desired chan []*v1.Service // buffer 1: the newest set wins
	flushes chan chan error    // Flush's requests, each answered after a sync
	done    chan struct{}

	// Owned by the Run goroutine.
	services  []*v1.Service
	known     bool     // services holds a desired set (Set was called)
	applied   string   // the ruleset in the kernel
	linkIPs   []string // the addresses on the link, sorted
	reported  map[string]bool
	saveFails bool
	shadowed  bool // a manifest's default/kubernetes was reported
	retry     time.Duration
}

// New checks cfg and loads the saved allocations. Nothing on the machine
// changes until Start.
func New(log *zap.Logger, cfg Config, deps Deps) (*Manager, error) {
	if deps.Pods == nil {
		return nil, errors.New("services: no pod source")
	}
	if cfg.Table == "" || cfg.Link == "" {
		return nil, errors.New("services: table and link names are required")
	}
	_, cidr, err := net.ParseCIDR(cfg.ServiceCIDR)
	if err != nil {
		return nil, fmt.Errorf("service CIDR %q: %w", cfg.ServiceCIDR, err)
	}
	for _, ip := range cfg.DNSIPs {
		if net.ParseIP(ip).To4() == nil {
			return nil, fmt.Errorf("cluster DNS address %q: not an IPv4 address", ip)
		}
	}
	alloc, err := NewAllocator(cidr.String(), cfg.DNSIPs, filepath.Join(cfg.StateDir, "allocations.json"))
	if err != nil {
		return nil, err
	}
	if deps.Firewall == nil {
		deps.Firewall = NFT{}
	}
	if deps.Addresses == nil {
		deps.Addresses = HostLink{Name: cfg.Link}
	}
	m := &Manager{
		log:      log,
		cfg:      cfg,
		deps:     deps,
		alloc:    alloc,
		store:    NewStore(),
		desired:  make(chan []*v1.Service, 1),
		flushes:  make(chan chan error),
		done:     make(chan struct{}),
		reported: map[string]bool{},
	}
	if cfg.APIServerPort != 0 {
		m.kubeSvc, m.kubeEP = kubernetesService(KubernetesIP(cidr), cfg.APIServerPort, metav1.Now())
	}
	return m, nil
}

// Store is what the manager publishes, for the API and the DNS server.
func (m *Manager) Store() *Store { return m.store }

// Set hands over the complete desired set of Services. It never blocks: a
// set not yet taken is replaced by the newer one.
func (m *Manager) Set(svcs []*v1.Service) {
	for {
		select {
		case m.desired <- svcs:
			return
		default:
		}
		select {
		case <-m.desired:
		default:
		}
	}
}

// Flush returns once the proxy rules reflect every pod status published
// before the call: it has the manager's goroutine sync once more and waits
// for that sync to end, returning its error. A pod worker calls it between
// marking a pod as terminating and signalling its containers, so that no
// new connection is sent to a backend that is about to stop listening (the
// kubelet and kube-proxy of a cluster race there; on one node the order
// can be kept).
func (m *Manager) Flush(ctx context.Context) error {
	reply := make(chan error, 1)
	select {
	case m.flushes <- reply:
	case <-m.done:
		return errors.New("services: manager stopped")
	case <-ctx.Done():
		return ctx.Err()
	}
	select {
	case err := <-reply:
		return err
	case <-ctx.Done():
		return ctx.Err()
	}
}

// Start sets the node up (the address interface with the DNS addresses and
// an empty proxy table), synchronously so that the DNS server can bind
// right after, then runs the manager until ctx ends.
func (m *Manager) Start(ctx context.Context) error {
	if err := m.deps.Addresses.Ensure(); err != nil {
		return err
	}
	if err := m.sync(ctx); err != nil {
		return err
	}
	go m.run(ctx)
	return nil
}

// Wait blocks until the manager's goroutine has ended (ctx of Start done).
func (m *Manager) Wait() { <-m.done }

// Cleanup removes what the manager put on the machine: the proxy table and
// the address interface. Call it after Wait, on a clean shutdown; running
// pods lose their Services until the next agent sets them up again.
func (m *Manager) Cleanup(ctx context.Context) error {
	var errs []error
	if err := m.deps.Firewall.DeleteTable(ctx, m.cfg.Table); err != nil {
		errs = append(errs, err)
	}
	if err := m.deps.Addresses.Delete(); err != nil {
		errs = append(errs, err)
	}
	return errors.Join(errs...)
}

func (m *Manager) run(ctx context.Context) {
	defer close(m.done)
	events := m.deps.Pods.Watch(ctx, 256)
	var retry <-chan time.Time
	var timer *time.Timer
	defer func() {
		if timer != nil {
			timer.Stop()
		}
	}()
	for {
		var flushed []chan error
		select {
		case <-ctx.Done():
			return
		case svcs := <-m.desired:
			m.services, m.known = svcs, true
		case _, ok := <-events:
			if !ok {
				// Fell behind: watch again; the sync below lists anyway.
				events = m.deps.Pods.Watch(ctx, 256)
			}
			drain(events)
		case reply := <-m.flushes:
			flushed = append(flushed, reply)
		case <-retry:
			retry = nil
		}
		// One sync answers every flush already waiting, and takes the
		// Services handed over before them: a flush covers every input
		// given before it, not only the pods' statuses.
		for more := true; more; {
			select {
			case reply := <-m.flushes:
				flushed = append(flushed, reply)
			case svcs := <-m.desired:
				m.services, m.known = svcs, true
			default:
				more = false
			}
		}
		err := m.sync(ctx)
		for _, reply := range flushed {
			reply <- err
		}
		if err != nil {
			if ctx.Err() != nil {
				return
			}
			m.retry = min(max(2*m.retry, retryInitial), retryMax)
			m.log.Warn("services: kernel update failed; retrying", zap.Duration("in", m.retry), zap.Error(err))
			if timer != nil {
				timer.Stop()
			}
			timer = time.NewTimer(m.retry)
			retry = timer.C
			continue
		}
		m.retry = 0
	}
}

// drain takes the events already queued, so one sync covers a burst.
func drain(ch <-chan status.Event) {
	for {
		select {
		case _, ok := <-ch:
			if !ok {
				return
			}
		default:
			return
		}
	}
}

// sync brings everything in line with the desired Services and the pods.
func (m *Manager) sync(ctx context.Context) error {
	var svcs []*v1.Service
	if m.known {
		// Before the first set, the saved allocations must not be taken
		// for released: the Services are just not read yet.
		var failed []*AllocationError
		var saveErr error
		svcs, failed, saveErr = m.alloc.Sync(m.userServices())
		m.report(failed, saveErr)
	}

	pods := m.deps.Pods.List("")
	eps := map[string]*v1.Endpoints{}
	var epList []*v1.Endpoints
	if m.kubeSvc != nil {
		// Built in, so present before the manifests are read: the API
		// listens on its address as soon as it starts.
		svcs = append([]*v1.Service{m.kubeSvc}, svcs...)
		eps[key(m.kubeSvc)] = m.kubeEP
		epList = append(epList, m.kubeEP)
	}
	for _, svc := range svcs {
		if svc == m.kubeSvc {
			continue
		}
		if ep := ComputeEndpoints(svc, pods); ep != nil {
			eps[key(svc)] = ep
			epList = append(epList, ep)
		}
	}

	want := slices.Clone(m.cfg.DNSIPs)
	for _, svc := range svcs {
		if ip := svc.Spec.ClusterIP; ip != "" && ip != v1.ClusterIPNone {
			want = append(want, ip)
		}
	}
	sortIPs(want)
	want = slices.Compact(want)

	ruleset := RenderRuleset(RulesetInput{Table: m.cfg.Table, Services: svcs, Endpoints: eps, DNSIPs: m.cfg.DNSIPs})
	var errs []error
	// Order the changes so that an address is never local without the
	// rules that reject what is not meant for it: drop addresses first,
	// then replace the rules, then add addresses.
	if keep := intersect(m.linkIPs, want); len(keep) < len(m.linkIPs) {
		if err := m.deps.Addresses.SetAddresses(keep); err != nil {
			errs = append(errs, err)
		} else {
			m.linkIPs = keep
		}
	}
	if ruleset != m.applied {
		if err := m.deps.Firewall.Apply(ctx, ruleset); err != nil {
			errs = append(errs, fmt.Errorf("program nftables table %s: %w", m.cfg.Table, err))
		} else {
			m.applied = ruleset
			if ce := m.log.Check(zap.DebugLevel, "proxy rules applied"); ce != nil {
				ce.Write(zap.Strings("backends", backendsOf(svcs, eps)))
			}
		}
	}
	if len(errs) == 0 && !slices.Equal(m.linkIPs, want) {
		if err := m.deps.Addresses.SetAddresses(want); err != nil {
			errs = append(errs, err)
		} else {
			m.linkIPs = want
		}
	}
	if m.store.set(svcs, epList) {
		m.log.Debug("services published", zap.Int("services", len(svcs)), zap.Int("endpoints", len(epList)))
	}
	return errors.Join(errs...)
}

// userServices are the desired Services less one that takes the built-in
// `kubernetes` Service's name, which the API server would refuse to create
// (it exists): it is reported once, as an allocation failure is.
func (m *Manager) userServices() []*v1.Service {
	if m.kubeSvc == nil {
		return m.services
	}
	out := make([]*v1.Service, 0, len(m.services))
	for _, s := range m.services {
		if s.Namespace == KubernetesNamespace && s.Name == KubernetesName {
			if !m.shadowed {
				m.log.Warn("service default/kubernetes in the manifests ignored: the API server's own Service has that name")
				m.shadowed = true
			}
			continue
		}
		out = append(out, s)
	}
	return out
}

// report logs and records each allocation failure once, while it lasts.
func (m *Manager) report(failed []*AllocationError, saveErr error) {
	current := map[string]bool{}
	for _, f := range failed {
		msg := f.Error()
		current[msg] = true
		if m.reported[msg] {
			continue
		}
		m.log.Warn("service not created: no ClusterIP", zap.String("service", f.Namespace+"/"+f.Name), zap.Error(f))
		if m.deps.Recorder != nil {
			ref := &v1.ObjectReference{Kind: "Service", APIVersion: "v1", Namespace: f.Namespace, Name: f.Name}
			m.deps.Recorder.Event(ref, v1.EventTypeWarning, "ClusterIPNotAllocated", msg)
		}
	}
	m.reported = current
	if saveErr != nil && !m.saveFails {
		m.log.Warn("service allocations not saved: ClusterIPs may change at the next agent start", zap.Error(saveErr))
	}
	m.saveFails = saveErr != nil
}

func intersect(have, want []string) []string {
	var out []string
	for _, ip := range have {
		if slices.Contains(want, ip) {
			out = append(out, ip)
		}
	}
	return out
}

// backendsOf lists "namespace/name:port -> ip:port" for each ready backend,
// for the debug log of what the rules send where.
func backendsOf(svcs []*v1.Service, eps map[string]*v1.Endpoints) []string {
	var out []string
	for _, svc := range svcs {
		for _, p := range svc.Spec.Ports {
			for _, be := range ReadyEndpoints(eps[key(svc)], p.Name) {
				out = append(out, fmt.Sprintf("%s/%s:%d -> %s", svc.Namespace, svc.Name, p.Port, be))
			}
		}
	}
	return out
}
