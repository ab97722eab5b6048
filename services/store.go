package services

import (
	"sort"
	"sync"

	v1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/equality"
)

// Store holds the published Services (with their ClusterIPs) and their
// Endpoints, as the API would serve them. The manager replaces the whole
// state at once; readers get copies. Safe for concurrent use.
type Store struct {
	mu        sync.RWMutex
	services  map[string]*v1.Service
	endpoints map[string]*v1.Endpoints
	byIP      map[string]*v1.Service
	changed   chan struct{} // closed and replaced at every change
}

// NewStore returns an empty store.
func NewStore() *Store {
	return &Store{
		services:  map[string]*v1.Service{},
		endpoints: map[string]*v1.Endpoints{},
		byIP:      map[string]*v1.Service{},
		changed:   make(chan struct{}),
	}
}

// set replaces the state; it reports whether anything changed. The objects
// given are kept: the caller must not modify them afterwards.
func (s *Store) set(svcs []*v1.Service, eps []*v1.Endpoints) bool {
	services := make(map[string]*v1.Service, len(svcs))
	byIP := map[string]*v1.Service{}
	for _, svc := range svcs {
		services[key(svc)] = svc
		if ip := svc.Spec.ClusterIP; ip != "" && ip != v1.ClusterIPNone {
			byIP[ip] = svc
		}
	}
	endpoints := make(map[string]*v1.Endpoints, len(eps))
	for _, ep := range eps {
		endpoints[ep.Namespace+"/"+ep.Name] = ep
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if equality.Semantic.DeepEqual(s.services, services) && equality.Semantic.DeepEqual(s.endpoints, endpoints) {
		return false
	}
	s.services, s.endpoints, s.byIP = services, endpoints, byIP
	close(s.changed)
	s.changed = make(chan struct{})
	return true
}

// Changed returns a channel closed at the next change, for waiters.
func (s *Store) Changed() <-chan struct{} {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return s.changed
}

// ListServices returns copies of the Services in namespace ("" for all),
// sorted by namespace and name.
func (s *Store) ListServices(namespace string) []*v1.Service {
	s.mu.RLock()
	out := make([]*v1.Service, 0, len(s.services))
	for _, svc := range s.services {
		if namespace == "" || svc.Namespace == namespace {
			out = append(out, svc.DeepCopy())
		}
	}
	s.mu.RUnlock()
	sort.Slice(out, func(i, j int) bool { return key(out[i]) < key(out[j]) })
	return out
}

// GetService returns a copy of the named Service.
func (s *Store) GetService(namespace, name string) (*v1.Service, bool) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	svc, ok := s.services[namespace+"/"+name]
	if !ok {
		return nil, false
	}
	return svc.DeepCopy(), true
}

// ServiceByClusterIP returns a copy of the Service that holds ip.
func (s *Store) ServiceByClusterIP(ip string) (*v1.Service, bool) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	svc, ok := s.byIP[ip]
	if !ok {
		return nil, false
	}
	return svc.DeepCopy(), true
}

// ListEndpoints returns copies of the Endpoints in namespace ("" for all),
// sorted by namespace and name.
func (s *Store) ListEndpoints(namespace string) []*v1.Endpoints {
	s.mu.RLock()
	out := make([]*v1.Endpoints, 0, len(s.endpoints))
	for _, ep := range s.endpoints {
		if namespace == "" || ep.Namespace == namespace {
			out = append(out, ep.DeepCopy())
		}
	}
	s.mu.RUnlock()
	sort.Slice(out, func(i, j int) bool {
		if out[i].Namespace != out[j].Namespace {
			return out[i].Namespace < out[j].Namespace
		}
		return out[i].Name < out[j].Name
	})
	return out
}

// GetEndpoints returns a copy of the named Endpoints.
func (s *Store) GetEndpoints(namespace, name string) (*v1.Endpoints, bool) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	ep, ok := s.endpoints[namespace+"/"+name]
	if !ok {
		return nil, false
	}
	return ep.DeepCopy(), true
}
