package services

import (
	"context"
	"errors"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"go.uber.org/zap/zaptest"
	v1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"

	"github.com/minikubelet/minikubelet/status"
)

// fakeKernel records what the manager would do to the machine, in order.
type fakeKernel struct {
	mu      sync.Mutex
	ops     []string
	ruleset string
	addrs   []string
	failNFT int // fail this many Apply calls
	link    bool
	// slow makes each Apply take this long, as a loaded machine's nft.
	slow time.Duration
}

func (k *fakeKernel) Apply(_ context.Context, r string) error {
	k.mu.Lock()
	slow := k.slow
	k.mu.Unlock()
	time.Sleep(slow)
	k.mu.Lock()
	defer k.mu.Unlock()
	if k.failNFT > 0 {
		k.failNFT--
		k.ops = append(k.ops, "apply failed")
		return errors.New("nft: boom")
	}
	k.ruleset = r
	k.ops = append(k.ops, "apply")
	return nil
}

func (k *fakeKernel) DeleteTable(_ context.Context, table string) error {
	k.mu.Lock()
	defer k.mu.Unlock()
	k.ruleset = ""
	k.ops = append(k.ops, "delete table "+table)
	return nil
}

func (k *fakeKernel) Ensure() error {
	k.mu.Lock()
	defer k.mu.Unlock()
	k.link = true
	k.ops = append(k.ops, "ensure link")
	return nil
}

func (k *fakeKernel) SetAddresses(ips []string) error {
	k.mu.Lock()
	defer k.mu.Unlock()
	k.addrs = slices.Clone(ips)
	k.ops = append(k.ops, "addrs "+strings.Join(ips, ","))
	return nil
}

func (k *fakeKernel) Delete() error {
	k.mu.Lock()
	defer k.mu.Unlock()
	k.link, k.addrs = false, nil
	k.ops = append(k.ops, "delete link")
	return nil
}

func (k *fakeKernel) state() (string, []string, []string) {
	k.mu.Lock()
	defer k.mu.Unlock()
	return k.ruleset, slices.Clone(k.addrs), slices.Clone(k.ops)
}

type recorded struct{ reason, msg string }

type fakeRecorder struct {
	mu     sync.Mutex
	events []recorded
}

func (r *fakeRecorder) Event(_ *v1.ObjectReference, _, reason, msg string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.events = append(r.events, recorded{reason, msg})
}

func startManager(t *testing.T, pods *status.Store) (*Manager, *fakeKernel, *fakeRecorder, context.CancelFunc) {
	t.Helper()
	return startManagerWith(t, pods, 0)
}

func startManagerWith(t *testing.T, pods *status.Store, apiPort int32) (*Manager, *fakeKernel, *fakeRecorder, context.CancelFunc) {
	t.Helper()
	k := &fakeKernel{}
	rec := &fakeRecorder{}
	m, err := New(zaptest.NewLogger(t), Config{
		ServiceCIDR: "10.112.7.0/24",
		DNSIPs:      []string{"10.112.7.10"},
		StateDir:    filepath.Join(t.TempDir(), "services"),
		Table:       "mk-test",
		Link:        "mktest0",

		APIServerPort: apiPort,
	}, Deps{Pods: pods, Firewall: k, Addresses: k, Recorder: rec})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	if err := m.Start(ctx); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		cancel()
		m.Wait()
	})
	return m, k, rec, cancel
}

// waitUntil polls cond with a deadline (no fixed sleeps).
func waitUntil(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func TestManagerLifecycle(t *testing.T) {
	pods := status.NewStore()
	m, k, _, cancel := startManager(t, pods)

	// Start: the link with the DNS address and a table with no Service.
	rules, addrs, ops := k.state()
	if !slices.Equal(addrs, []string{"10.112.7.10"}) || !strings.Contains(rules, "table ip mk-test {") {
		t.Fatalf("after Start: addrs %v ops %v", addrs, ops)
	}
	if want := []string{"ensure link", "apply", "addrs 10.112.7.10"}; !slices.Equal(ops, want) {
		t.Errorf("start ops = %v, want %v", ops, want)
	}

	s := svc("default", "myservice", "")
	s.Spec.Selector = map[string]string{"app": "myapp"}
	s.Spec.Ports[0].TargetPort = intstr.FromInt32(9376)
	m.Set([]*v1.Service{s, svc("default", "mydb", "")})
	waitUntil(t, "two services published", func() bool { return len(m.Store().ListServices("")) == 2 })
	got, ok := m.Store().GetService("default", "myservice")
	if !ok || !strings.HasPrefix(got.Spec.ClusterIP, "10.112.7.") {
		t.Fatalf("myservice = %+v", got)
	}
	if ep, ok := m.Store().GetEndpoints("default", "myservice"); !ok || len(ep.Subsets) != 0 {
		t.Errorf("endpoints without pods = %+v %v", ep, ok)
	}
	if _, ok := m.Store().GetEndpoints("default", "mydb"); ok {
		t.Error("a Service without selector has managed Endpoints")
	}
	if byIP, ok := m.Store().ServiceByClusterIP(got.Spec.ClusterIP); !ok || byIP.Name != "myservice" {
		t.Errorf("ServiceByClusterIP = %v %v", byIP, ok)
	}
	waitUntil(t, "ClusterIPs on the link", func() bool { _, a, _ := k.state(); return len(a) == 3 })

	// A ready pod becomes an endpoint and a DNAT rule.
	pods.Set(mkPod("myapp-pod", "10.244.9.5", true))
	waitUntil(t, "the DNAT rule", func() bool {
		r, _, _ := k.state()
		return strings.Contains(r, "dnat to 10.244.9.5:9376")
	})
	// Not ready any more: out of the rules, into notReadyAddresses.
	pods.Set(mkPod("myapp-pod", "10.244.9.5", false))
	waitUntil(t, "the rule gone", func() bool {
		r, _, _ := k.state()
		return !strings.Contains(r, "dnat to")
	})
	// The rules are applied before the Endpoints are published.
	waitUntil(t, "the address not ready in the Endpoints", func() bool {
		ep, _ := m.Store().GetEndpoints("default", "myservice")
		return summary(ep) == "ready= notready=10.244.9.5 ports=:9376/TCP"
	})

	// Removing a Service removes its address before the rules that
	// covered it.
	m.Set([]*v1.Service{s})
	waitUntil(t, "mydb gone", func() bool { _, a, _ := k.state(); return len(a) == 2 })
	_, _, ops = k.state()
	last := ops[len(ops)-2:]
	if !strings.HasPrefix(last[0], "addrs ") || last[1] != "apply" {
		t.Errorf("removal order = %v, want addresses then rules", last)
	}

	cancel()
	m.Wait()
	if err := m.Cleanup(context.Background()); err != nil {
		t.Fatal(err)
	}
	r, a, _ := k.state()
	if r != "" || a != nil || k.link {
		t.Errorf("after Cleanup: ruleset %q addrs %v link %v", r, a, k.link)
	}
}

func TestManagerRetriesAFailedApply(t *testing.T) {
	pods := status.NewStore()
	m, k, _, _ := startManager(t, pods)
	k.mu.Lock()
	k.failNFT = 1
	k.mu.Unlock()
	m.Set([]*v1.Service{svc("default", "a", "")})
	waitUntil(t, "the retried apply", func() bool {
		r, a, _ := k.state()
		return strings.Contains(r, "cluster-ips") && len(a) == 2
	})
	_, _, ops := k.state()
	if !slices.Contains(ops, "apply failed") {
		t.Errorf("ops = %v", ops)
	}
	// Addresses are only added once their rules are in.
	failed := slices.Index(ops, "apply failed")
	if failed+1 < len(ops) && strings.HasPrefix(ops[failed+1], "addrs") {
		t.Errorf("addresses added right after a failed apply: %v", ops)
	}
}

func TestManagerReportsAllocationFailuresOnce(t *testing.T) {
	pods := status.NewStore()
	m, _, rec, _ := startManager(t, pods)
	bad := svc("default", "bad", "10.112.7.10") // the DNS address
	m.Set([]*v1.Service{bad})
	waitUntil(t, "the event", func() bool { rec.mu.Lock(); defer rec.mu.Unlock(); return len(rec.events) == 1 })
	m.Set([]*v1.Service{bad, svc("default", "ok", "")})
	waitUntil(t, "ok published", func() bool { return len(m.Store().ListServices("")) == 1 })
	rec.mu.Lock()
	defer rec.mu.Unlock()
	if len(rec.events) != 1 || rec.events[0].reason != "ClusterIPNotAllocated" ||
		!strings.Contains(rec.events[0].msg, "provided IP is already allocated") {
		t.Errorf("events = %+v", rec.events)
	}
}

func TestManagerSetNeverBlocks(t *testing.T) {
	m, err := New(zaptest.NewLogger(t), Config{ServiceCIDR: "10.112.8.0/24", StateDir: t.TempDir(), Table: "t", Link: "l"},
		Deps{Pods: status.NewStore(), Firewall: &fakeKernel{}, Addresses: &fakeKernel{}})
	if err != nil {
		t.Fatal(err)
	}
	for range 10 {
		m.Set(nil) // not started: only the newest is kept
	}
	m.Set([]*v1.Service{svc("default", "last", "")})
	if got := <-m.desired; len(got) != 1 || got[0].Name != "last" {
		t.Errorf("pending set = %v", got)
	}
}

// A new manager on the same state directory (the agent restarted) gives
// the Services their addresses back, although it starts before the first
// set of Services arrives.
func TestManagerKeepsAddressesAcrossRestarts(t *testing.T) {
	dir := t.TempDir()
	run := func() string {
		k := &fakeKernel{}
		m, err := New(zaptest.NewLogger(t), Config{ServiceCIDR: "10.112.9.0/24", DNSIPs: []string{"10.112.9.10"},
			StateDir: dir, Table: "t", Link: "l"}, Deps{Pods: status.NewStore(), Firewall: k, Addresses: k})
		if err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithCancel(context.Background())
		defer func() { cancel(); m.Wait() }()
		if err := m.Start(ctx); err != nil {
			t.Fatal(err)
		}
		m.Set([]*v1.Service{svc("default", "a", "")})
		waitUntil(t, "a published", func() bool { return len(m.Store().ListServices("")) == 1 })
		s, _ := m.Store().GetService("default", "a")
		return s.Spec.ClusterIP
	}
	first, second := run(), run()
	if first != second {
		t.Errorf("ClusterIP %s after the restart, was %s", second, first)
	}
}

// The `kubernetes` Service is there from Start, before any manifest is
// read: its address on the link and its DNAT to the API's port, with
// Endpoints naming that address; a manifest cannot take its name.
func TestManagerKubernetesService(t *testing.T) {
	m, k, _, _ := startManagerWith(t, status.NewStore(), 6443)
	rules, addrs, _ := k.state()
	if !slices.Equal(addrs, []string{"10.112.7.1", "10.112.7.10"}) {
		t.Errorf("addresses after Start = %v, want the kubernetes ClusterIP and the DNS address", addrs)
	}
	if !strings.Contains(rules, "ip daddr 10.112.7.1 tcp dport 443 goto") || !strings.Contains(rules, "dnat to 10.112.7.1:6443") {
		t.Errorf("ruleset has no DNAT for the kubernetes Service:\n%s", rules)
	}
	got, ok := m.Store().GetService("default", "kubernetes")
	if !ok || got.Spec.ClusterIP != "10.112.7.1" || got.Spec.Ports[0].Port != 443 || got.Spec.Ports[0].Name != "https" ||
		got.Spec.Ports[0].TargetPort.IntValue() != 6443 || got.Spec.Selector != nil {
		t.Fatalf("kubernetes Service = %+v", got)
	}
	ep, _ := m.Store().GetEndpoints("default", "kubernetes")
	if summary(ep) != "ready=10.112.7.1 notready= ports=https:6443/TCP" {
		t.Errorf("kubernetes Endpoints = %s", summary(ep))
	}

	impostor := svc("default", "kubernetes", "")
	m.Set([]*v1.Service{impostor, svc("default", "mydb", "")})
	waitUntil(t, "mydb published", func() bool { _, ok := m.Store().GetService("default", "mydb"); return ok })
	if got, _ := m.Store().GetService("default", "kubernetes"); got.Spec.ClusterIP != "10.112.7.1" || len(m.Store().ListServices("")) != 2 {
		t.Errorf("a manifest's default/kubernetes replaced the built-in one: %+v", got)
	}
}

// Flush returns only after a sync that saw every pod status published
// before it: a pod just marked as terminating is out of the rules when
// Flush returns, however slow nft is. It returns the sync's error, and
// gives up with its context.
func TestManagerFlush(t *testing.T) {
	pods := status.NewStore()
	m, k, _, _ := startManager(t, pods)
	s := svc("default", "myservice", "")
	s.Spec.Selector = map[string]string{"app": "myapp"}
	s.Spec.Ports[0].TargetPort = intstr.FromInt32(80)
	m.Set([]*v1.Service{s})
	pods.Set(mkPod("old", "10.244.9.5", true))
	pods.Set(mkPod("new", "10.244.9.6", true))
	ctx := context.Background()
	if err := m.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	if r, _, _ := k.state(); !strings.Contains(r, "dnat to 10.244.9.5:80") || !strings.Contains(r, "dnat to 10.244.9.6:80") {
		t.Fatalf("after Flush the rules lack a ready pod:\n%s", r)
	}

	k.mu.Lock()
	k.slow = 50 * time.Millisecond
	k.mu.Unlock()
	terminating := mkPod("old", "10.244.9.5", false)
	now := metav1.Now()
	terminating.DeletionTimestamp = &now
	pods.Set(terminating)
	if err := m.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	if r, _, _ := k.state(); strings.Contains(r, "10.244.9.5") || !strings.Contains(r, "dnat to 10.244.9.6:80") {
		t.Fatalf("after Flush the rules still send to the terminating pod:\n%s", r)
	}

	k.mu.Lock()
	k.failNFT, k.slow = 1, 0
	k.mu.Unlock()
	pods.Set(mkPod("third", "10.244.9.7", true))
	if err := m.Flush(ctx); err == nil || !strings.Contains(err.Error(), "nft: boom") {
		t.Fatalf("Flush after a failed apply = %v, want the apply's error", err)
	}

	idle, err := New(zaptest.NewLogger(t), Config{ServiceCIDR: "10.112.8.0/24", StateDir: t.TempDir(), Table: "t", Link: "l"},
		Deps{Pods: status.NewStore(), Firewall: &fakeKernel{}, Addresses: &fakeKernel{}})
	if err != nil {
		t.Fatal(err)
	}
	short, cancel := context.WithTimeout(ctx, 20*time.Millisecond)
	defer cancel()
	if err := idle.Flush(short); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Flush of a manager not started = %v, want its context's error", err)
	}
}
