package services

import (
	"crypto/rand"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"sort"
	"time"

	v1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// Allocation is what the allocator remembers about one Service.
type Allocation struct {
	// ClusterIP is the Service's address, or "None" for a headless Service.
	ClusterIP string `json:"clusterIP"`
	// Created is the Service's creationTimestamp, kept so that AGE survives
	// agent restarts as it survives API server restarts.
	Created time.Time `json:"created"`
}

// allocationsFile is the on-disk form of the allocator's state.
type allocationsFile struct {
	ServiceCIDR string                `json:"serviceCIDR"`
	Services    map[string]Allocation `json:"services"` // by namespace/name
}

// AllocationError is a Service that got no ClusterIP, with the API server's
// wording of why.
type AllocationError struct {
	Namespace, Name string
	Err             error
}

func (e *AllocationError) Error() string {
	return fmt.Sprintf("Service %q is invalid: spec.clusterIPs: %v", e.Name, e.Err)
}

func (e *AllocationError) Unwrap() error { return e.Err }

// Allocator hands out ClusterIPs from the service CIDR the way the API
// server's bitmap allocator does: a requested spec.clusterIP is honoured
// when it is inside the range and free; otherwise a random free address is
// taken, preferring the upper part of the range (above an offset of
// min(max(size/16, 16), 256) addresses) and keeping the lower part for
// static requests. The network and broadcast addresses are never used, and
// neither are the reserved ones: the first address (the `kubernetes`
// Service's on a real cluster) and the cluster DNS address.
//
// Allocations are persisted (atomically, temp file and rename) in path, so
// a Service keeps its ClusterIP across agent restarts. A Service that
// disappears from the manifests releases its address.
//
// Not safe for concurrent use: the services manager's goroutine owns it.
type Allocator struct {
	cidr     *net.IPNet
	base     uint32 // first usable address (network + 1)
	size     uint32 // number of usable addresses
	offset   uint32 // start of the dynamic (upper) band, relative to base
	reserved map[uint32]bool
	path     string
	state    map[string]Allocation
	rand     func(n uint32) uint32
}

// NewAllocator loads the allocations in path (if any) for cidr, an IPv4
// range of at least 8 addresses. Addresses in reserved that fall inside the
// range are never handed out. A state file written for another CIDR, or one
// that cannot be read, is started afresh.
func NewAllocator(cidr string, reserved []string, path string) (*Allocator, error) {
	ip, ipnet, err := net.ParseCIDR(cidr)
	if err != nil {
		return nil, fmt.Errorf("service CIDR %q: %w", cidr, err)
	}
	if ip.To4() == nil {
		return nil, fmt.Errorf("service CIDR %q: only IPv4 is supported", cidr)
	}
	ones, bits := ipnet.Mask.Size()
	if bits-ones < 3 || bits-ones > 24 {
		return nil, fmt.Errorf("service CIDR %q: prefix must be between /8 and /29", cidr)
	}
	total := uint32(1) << uint(bits-ones)
	a := &Allocator{
		cidr:     ipnet,
		base:     ip4ToUint(ipnet.IP) + 1,
		size:     total - 2, // no network, no broadcast address
		reserved: map[uint32]bool{},
		path:     path,
		state:    map[string]Allocation{},
		rand:     cryptoRand,
	}
	a.offset = rangeOffset(total)
	a.reserved[a.base] = true // the kubernetes Service's address
	for _, r := range reserved {
		if rip := net.ParseIP(r).To4(); rip != nil && ipnet.Contains(rip) {
			a.reserved[ip4ToUint(rip)] = true
		}
	}
	if err := a.load(); err != nil {
		return nil, err
	}
	return a, nil
}

// rangeOffset is upstream's calculateRangeOffset: where the dynamic band
// begins, for a CIDR of total addresses.
func rangeOffset(total uint32) uint32 {
	const minOffset, maxOffset, step = 16, 256, 16
	if total <= minOffset {
		return 0
	}
	return min(max(total/step, minOffset), maxOffset)
}

func (a *Allocator) load() error {
	data, err := os.ReadFile(a.path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("read service allocations %s: %w", a.path, err)
	}
	var f allocationsFile
	if err := json.Unmarshal(data, &f); err != nil || f.ServiceCIDR != a.cidr.String() {
		// A corrupt file, or one from another service CIDR: the addresses
		// in it mean nothing here. Services get new ones.
		return nil
	}
	for key, al := range f.Services {
		if al.ClusterIP == v1.ClusterIPNone {
			a.state[key] = al
			continue
		}
		if ip := net.ParseIP(al.ClusterIP).To4(); ip != nil && a.usable(ip4ToUint(ip)) {
			a.state[key] = al
		}
	}
	return nil
}

// usable reports whether n is inside the range and not reserved.
func (a *Allocator) usable(n uint32) bool {
	return n >= a.base && n < a.base+a.size && !a.reserved[n]
}

// CIDR returns the service range.
func (a *Allocator) CIDR() *net.IPNet { return a.cidr }

// Sync allocates for svcs (the complete desired set) and releases what
// Services no longer in it held. It returns copies of the Services that got
// an address (or are headless), with the fields the API server's registry
// sets at creation: spec.clusterIP, spec.clusterIPs, spec.ipFamilies,
// spec.ipFamilyPolicy, and the creationTimestamp kept from the first
// allocation. Services that could not be given an address are left out and
// reported as *AllocationError. The state file is rewritten when anything
// changed; an error writing it is returned with the result, which is still
// valid for this run.
func (a *Allocator) Sync(svcs []*v1.Service) (out []*v1.Service, failed []*AllocationError, saveErr error) {
	sorted := append([]*v1.Service(nil), svcs...)
	sort.Slice(sorted, func(i, j int) bool { return key(sorted[i]) < key(sorted[j]) })

	next := map[string]Allocation{}
	used := map[uint32]string{}
	// 1. Services keep what they hold, if they still ask for it (no
	// request, or a request for exactly that address).
	for _, s := range sorted {
		k := key(s)
		held, ok := a.state[k]
		if !ok {
			continue
		}
		req := s.Spec.ClusterIP
		switch {
		case req == v1.ClusterIPNone && held.ClusterIP == v1.ClusterIPNone:
			next[k] = held
		case held.ClusterIP != v1.ClusterIPNone && (req == "" || req == held.ClusterIP):
			n := ip4ToUint(net.ParseIP(held.ClusterIP).To4())
			if used[n] != "" {
				continue // a hand-edited file gave two Services one address
			}
			next[k] = held
			used[n] = k
		}
	}
	created := func(s *v1.Service) time.Time {
		if old, ok := a.state[key(s)]; ok && !old.Created.IsZero() {
			return old.Created
		}
		if !s.CreationTimestamp.IsZero() {
			return s.CreationTimestamp.Time
		}
		return time.Now()
	}
	// 2. Headless Services and static requests.
	for _, s := range sorted {
		k := key(s)
		if _, done := next[k]; done {
			continue
		}
		req := s.Spec.ClusterIP
		if req == v1.ClusterIPNone {
			next[k] = Allocation{ClusterIP: v1.ClusterIPNone, Created: created(s)}
			continue
		}
		if req == "" {
			continue
		}
		ip := net.ParseIP(req).To4()
		switch {
		case ip == nil || !a.cidr.Contains(ip) || ip4ToUint(ip) < a.base || ip4ToUint(ip) >= a.base+a.size:
			failed = append(failed, &AllocationError{s.Namespace, s.Name, fmt.Errorf(
				"Invalid value: []string{%q}: failed to allocate IP %s: provided IP is not in the valid range. The range of valid IPs is %s",
				req, req, a.cidr)})
		case a.reserved[ip4ToUint(ip)] || used[ip4ToUint(ip)] != "":
			failed = append(failed, &AllocationError{s.Namespace, s.Name, fmt.Errorf(
				"Invalid value: []string{%q}: failed to allocate IP %s: provided IP is already allocated", req, req)})
		default:
			next[k] = Allocation{ClusterIP: ip.String(), Created: created(s)}
			used[ip4ToUint(ip)] = k
		}
	}
	// 3. Dynamic allocation.
	for _, s := range sorted {
		k := key(s)
		if _, done := next[k]; done || s.Spec.ClusterIP != "" {
			continue
		}
		n, ok := a.pick(used)
		if !ok {
			failed = append(failed, &AllocationError{s.Namespace, s.Name, fmt.Errorf(
				"Internal error: failed to allocate a serviceIP: range is full")})
			continue
		}
		next[k] = Allocation{ClusterIP: uintToIP4(n).String(), Created: created(s)}
		used[n] = k
	}

	for _, s := range sorted {
		al, ok := next[key(s)]
		if !ok {
			continue
		}
		c := s.DeepCopy()
		c.CreationTimestamp = metav1.NewTime(al.Created)
		c.Spec.ClusterIP = al.ClusterIP
		c.Spec.ClusterIPs = []string{al.ClusterIP}
		c.Spec.IPFamilies = []v1.IPFamily{v1.IPv4Protocol}
		if c.Spec.IPFamilyPolicy == nil {
			policy := v1.IPFamilyPolicySingleStack
			c.Spec.IPFamilyPolicy = &policy
		}
		out = append(out, c)
	}

	if !sameAllocations(a.state, next) {
		a.state = next
		saveErr = a.save()
	}
	return out, failed, saveErr
}

// pick chooses a random free address, from the upper band first.
func (a *Allocator) pick(used map[uint32]string) (uint32, bool) {
	free := func(n uint32) bool { return !a.reserved[n] && used[n] == "" }
	for _, band := range [][2]uint32{{a.offset, a.size}, {0, a.offset}} {
		lo, hi := band[0], band[1]
		if hi <= lo {
			continue
		}
		// Start at a random point of the band and walk it once, as the
		// bitmap allocator's random scan strategy does.
		start := a.rand(hi - lo)
		for i := uint32(0); i < hi-lo; i++ {
			n := a.base + lo + (start+i)%(hi-lo)
			if free(n) {
				return n, true
			}
		}
	}
	return 0, false
}

func (a *Allocator) save() error {
	f := allocationsFile{ServiceCIDR: a.cidr.String(), Services: a.state}
	data, err := json.MarshalIndent(f, "", "  ")
	if err != nil {
		return err
	}
	if err := os.MkdirAll(filepath.Dir(a.path), 0o755); err != nil {
		return fmt.Errorf("save service allocations: %w", err)
	}
	tmp, err := os.CreateTemp(filepath.Dir(a.path), ".allocations-*.json")
	if err != nil {
		return fmt.Errorf("save service allocations: %w", err)
	}
	defer os.Remove(tmp.Name())
	if _, err := tmp.Write(append(data, '\n')); err != nil {
		tmp.Close()
		return fmt.Errorf("save service allocations: %w", err)
	}
	if err := tmp.Sync(); err != nil {
		tmp.Close()
		return fmt.Errorf("save service allocations: %w", err)
	}
	if err := tmp.Close(); err != nil {
		return fmt.Errorf("save service allocations: %w", err)
	}
	if err := os.Rename(tmp.Name(), a.path); err != nil {
		return fmt.Errorf("save service allocations: %w", err)
	}
	return nil
}

func sameAllocations(a, b map[string]Allocation) bool {
	if len(a) != len(b) {
		return false
	}
	for k, x := range a {
		y, ok := b[k]
		if !ok || x.ClusterIP != y.ClusterIP || !x.Created.Equal(y.Created) {
			return false
		}
	}
	return true
}

func key(s *v1.Service) string { return s.Namespace + "/" + s.Name }

func ip4ToUint(ip net.IP) uint32 { return binary.BigEndian.Uint32(ip.To4()) }

func uintToIP4(n uint32) net.IP {
	ip := make(net.IP, 4)
	binary.BigEndian.PutUint32(ip, n)
	return ip
}

func cryptoRand(n uint32) uint32 {
	v, err := rand.Int(rand.Reader, big.NewInt(int64(n)))
	if err != nil {
		return 0
	}
	return uint32(v.Int64())
}
