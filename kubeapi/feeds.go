package kubeapi

import (
	"context"
	"fmt"
	"hash/fnv"
	"sort"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	v1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	eventsv1 "k8s.io/api/events/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"

	"github.com/minikubelet/minikubelet/controllers"
	"github.com/minikubelet/minikubelet/internal/qos"
	"github.com/minikubelet/minikubelet/status"
)

// PodStore publishes pods; status.Store implements it.
type PodStore interface {
	List(namespace string) []*v1.Pod
	Get(uid types.UID) (*v1.Pod, bool)
	Watch(ctx context.Context, buffer int) <-chan status.Event
}

// ServiceStore publishes Services and Endpoints; services.Store implements it.
type ServiceStore interface {
	Changed() <-chan struct{}
	ListServices(namespace string) []*v1.Service
	ListEndpoints(namespace string) []*v1.Endpoints
}

// ConfigStore publishes the ConfigMaps and Secrets of the manifests
// directory; source.ConfigStore implements it.
type ConfigStore interface {
	Changed() <-chan struct{}
	ListConfigMaps(namespace string) []*v1.ConfigMap
	ListSecrets(namespace string) []*v1.Secret
}

// EventStore keeps recorded events; events.Store implements it.
type EventStore interface {
	Changed() <-chan struct{}
	// Shared returns the stored events, which nobody modifies: an event
	// that changes is replaced by another.
	Shared() []*v1.Event
}

// Resource keys in the cache: "<group>/<resource>".
const (
	keyPods           = "/pods"
	keyServices       = "/services"
	keyEndpoints      = "/endpoints"
	keyEvents         = "/events"
	keyNamespaces     = "/namespaces"
	keyNodes          = "/nodes"
	keyConfigMaps     = "/configmaps"
	keySecrets        = "/secrets"
	keyEndpointSlices = "discovery.k8s.io/endpointslices"
	keyEventsV1       = "events.k8s.io/events"
	keyDeployments    = "apps/deployments"
	keyReplicaSets    = "apps/replicasets"
	keyLeases         = "coordination.k8s.io/leases"
)

func (r *resourceInfo) key() string { return r.gv.Group + "/" + r.name }

// watchBuffer is how far the pod feed may fall behind the status store
// before it relists.
const watchBuffer = 1024

// feedPods mirrors the status store into the cache. The store keys pods by
// UID; the API by namespace and name. While a pod is being replaced (the
// old UID still terminating) both share a name: the API shows the newest.
func (s *Server) feedPods(ctx context.Context) {
	starts := newPodStarts(time.Now())
	for ctx.Err() == nil {
		ch := s.deps.Pods.Watch(ctx, watchBuffer)
		byName := map[string]map[types.UID]*v1.Pod{}
		current := map[types.UID]bool{}
		var objs []Object
		for _, p := range s.deps.Pods.List("") {
			k := objectKey(p)
			if byName[k] == nil {
				byName[k] = map[types.UID]*v1.Pod{}
			}
			byName[k][p.UID] = p
			current[p.UID] = true
		}
		starts.forgetAllBut(s.metrics, current)
		for _, m := range byName {
			objs = append(objs, apiPod(newest(m)))
		}
		s.cache.Replace(keyPods, objs, nil)
		for e := range ch {
			k := objectKey(e.Pod)
			m := byName[k]
			if m == nil {
				m = map[types.UID]*v1.Pod{}
				byName[k] = m
			}
			// The event's pod may already be stale; the store's current
			// value is the truth (and keeps the order right after a relist).
			if p, ok := s.deps.Pods.Get(e.Pod.UID); ok {
				m[p.UID] = p
				starts.update(s.metrics, p, false)
			} else {
				delete(m, e.Pod.UID)
				starts.update(s.metrics, e.Pod, true)
			}
			if len(m) == 0 {
				delete(byName, k)
				s.cache.Delete(keyPods, e.Pod.Namespace, e.Pod.Name)
				continue
			}
			s.cache.Put(keyPods, apiPod(newest(m)), nil)
		}
	}
}

func newest(m map[types.UID]*v1.Pod) *v1.Pod {
	var best *v1.Pod
	for _, p := range m {
		if best == nil || best.CreationTimestamp.Before(&p.CreationTimestamp) ||
			(best.CreationTimestamp.Equal(&p.CreationTimestamp) && p.UID > best.UID) {
			best = p
		}
	}
	return best
}

// apiPod is the pod as the API serves it; p is a copy the caller owns.
// Its spec has what admission sets (see admitPod) and its status the QoS
// class the API server sets at creation, before the pod runs.
func apiPod(p *v1.Pod) *v1.Pod {
	p.TypeMeta = metav1.TypeMeta{APIVersion: "v1", Kind: "Pod"}
	admitPod(p)
	if p.Status.QOSClass == "" {
		p.Status.QOSClass = qos.PodQOS(p)
	}
	if p.Generation == 0 {
		p.Generation = 1
	}
	// The API server bumps the generation of an object with one when it
	// sets its deletionTimestamp (a graceful delete).
	if p.DeletionTimestamp != nil {
		p.Generation++
	}
	return p
}

// feedServices mirrors Services, Endpoints and the EndpointSlices made
// from them.
func (s *Server) feedServices(ctx context.Context) {
	for {
		changed := s.deps.Services.Changed()
		var svcs, eps, slices []Object
		for _, svc := range s.deps.Services.ListServices("") {
			svc.TypeMeta = metav1.TypeMeta{APIVersion: "v1", Kind: "Service"}
			svcs = append(svcs, svc)
		}
		for _, ep := range s.deps.Services.ListEndpoints("") {
			ep.TypeMeta = metav1.TypeMeta{APIVersion: "v1", Kind: "Endpoints"}
			eps = append(eps, ep)
			slices = append(slices, endpointSlice(ep))
		}
		s.cache.Replace(keyServices, svcs, nil)
		s.cache.Replace(keyEndpoints, eps, nil)
		s.cache.Replace(keyEndpointSlices, slices, nil)
		select {
		case <-ctx.Done():
			return
		case <-changed:
		}
	}
}

// endpointSlice is the EndpointSlice the endpointslice controller would
// make for ep (one slice per Service here: a node has few endpoints).
func endpointSlice(ep *v1.Endpoints) *discoveryv1.EndpointSlice {
	h := fnv.New32a()
	h.Write([]byte(ep.Namespace + "/" + ep.Name))
	es := &discoveryv1.EndpointSlice{
		TypeMeta: metav1.TypeMeta{APIVersion: "discovery.k8s.io/v1", Kind: "EndpointSlice"},
		ObjectMeta: metav1.ObjectMeta{
			Name: fmt.Sprintf("%s-%s", ep.Name, suffix(h.Sum32())), Namespace: ep.Namespace,
			UID: types.UID(fmt.Sprintf("%s-slice", ep.UID)), CreationTimestamp: ep.CreationTimestamp,
			GenerateName: ep.Name + "-", Generation: 1,
			Labels: map[string]string{
				discoveryv1.LabelServiceName: ep.Name,
				discoveryv1.LabelManagedBy:   "endpointslice-controller.k8s.io",
			},
		},
		AddressType: discoveryv1.AddressTypeIPv4,
		Endpoints:   []discoveryv1.Endpoint{},
	}
	if ep.Labels[discoveryv1.LabelSkipMirror] == "true" {
		// Endpoints whose owner writes the slice too: the API server's
		// own `kubernetes` Service, whose slice has the Service's name.
		es.Name, es.GenerateName = ep.Name, ""
		delete(es.Labels, discoveryv1.LabelManagedBy)
	}
	for _, sub := range ep.Subsets {
		add := func(a v1.EndpointAddress, ready bool) {
			es.Endpoints = append(es.Endpoints, discoveryv1.Endpoint{
				Addresses: []string{a.IP},
				Conditions: discoveryv1.EndpointConditions{
					Ready: ptrTo(ready), Serving: ptrTo(ready), Terminating: ptrTo(false),
				},
				TargetRef: a.TargetRef, NodeName: a.NodeName, Hostname: ptrOrNil(a.Hostname),
			})
		}
		for _, a := range sub.Addresses {
			add(a, true)
		}
		for _, a := range sub.NotReadyAddresses {
			add(a, false)
		}
		if es.Ports == nil {
			for _, p := range sub.Ports {
				es.Ports = append(es.Ports, discoveryv1.EndpointPort{
					Name: ptrTo(p.Name), Port: ptrTo(p.Port), Protocol: ptrTo(p.Protocol), AppProtocol: p.AppProtocol,
				})
			}
		}
	}
	return es
}

func ptrOrNil(s string) *string {
	if s == "" {
		return nil
	}
	return &s
}

// suffix spells n in the 5 characters generateName would add.
func suffix(n uint32) string {
	const alphabet = "bcdfghjklmnpqrstvwxz2456789"
	b := make([]byte, 5)
	for i := range b {
		b[i] = alphabet[n%uint32(len(alphabet))]
		n /= uint32(len(alphabet))
	}
	return string(b)
}

// AppsStore publishes the controllers' Deployments and ReplicaSets;
// controllers.Controller implements it.
type AppsStore interface {
	ListDeployments(namespace string) []*appsv1.Deployment
	ListReplicaSets(namespace string) []*appsv1.ReplicaSet
	Watch(ctx context.Context, buffer int) <-chan controllers.Event
}

// feedApps mirrors Deployments and ReplicaSets: each change relists them
// (a node has few) and the cache records what differs.
func (s *Server) feedApps(ctx context.Context) {
	for ctx.Err() == nil {
		ch := s.deps.Apps.Watch(ctx, watchBuffer)
		for {
			var deps, rss []Object
			for _, d := range s.deps.Apps.ListDeployments("") {
				d.TypeMeta = metav1.TypeMeta{APIVersion: "apps/v1", Kind: "Deployment"}
				deps = append(deps, d)
			}
			for _, rs := range s.deps.Apps.ListReplicaSets("") {
				rs.TypeMeta = metav1.TypeMeta{APIVersion: "apps/v1", Kind: "ReplicaSet"}
				rss = append(rss, rs)
			}
			s.cache.Replace(keyDeployments, deps, nil)
			s.cache.Replace(keyReplicaSets, rss, nil)
			if _, ok := <-ch; !ok {
				break
			}
			// Take a burst of changes together.
			for drained := false; !drained; {
				select {
				case _, ok := <-ch:
					if !ok {
						drained = true
					}
				default:
					drained = true
				}
			}
		}
	}
}

// feedEvents mirrors the recorded events, core and events.k8s.io.
func (s *Server) feedEvents(ctx context.Context) {
	// Events also expire (events.TTL) without any change; look again now
	// and then so that the API drops them too.
	tick := time.NewTicker(time.Minute)
	defer tick.Stop()
	m := newEventMirror(s.cache)
	for {
		changed := s.deps.Events.Changed()
		m.sync(s.deps.Events.Shared())
		select {
		case <-ctx.Done():
			return
		case <-changed:
		case <-tick.C:
		}
		// Events come in bursts (a pod start records several): take them
		// together rather than syncing for each.
		select {
		case <-ctx.Done():
			return
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// eventMirror keeps the cache's events (core and events.k8s.io) those of
// the store. The store's events are never modified, so an event mirrored
// before is the same pointer: a sync costs a map lookup per event and
// allocates only for new or changed ones. (Copying the whole store at
// every burst, thousands of events, made the agent's heap grow with the
// number of events kept; see RELIABILITY.md.)
type eventMirror struct {
	cache *Cache
	// mirrored is the store's event last put in the cache, by UID.
	mirrored map[types.UID]*v1.Event
	// present is sync's scratch set, kept to reuse its memory.
	present map[types.UID]bool
}

func newEventMirror(c *Cache) *eventMirror {
	return &eventMirror{cache: c, mirrored: map[types.UID]*v1.Event{}, present: map[types.UID]bool{}}
}

func (m *eventMirror) sync(events []*v1.Event) {
	clear(m.present)
	for _, e := range events {
		m.present[e.UID] = true
		if m.mirrored[e.UID] == e {
			continue
		}
		m.mirrored[e.UID] = e
		// A copy of its own for the cache, which stamps resourceVersions
		// on it; it shares the store's strings and maps.
		core := new(v1.Event)
		*core = *e
		core.TypeMeta = metav1.TypeMeta{APIVersion: "v1", Kind: "Event"}
		m.cache.Put(keyEvents, core, nil)
		m.cache.Put(keyEventsV1, eventV1(core), nil)
	}
	for uid, e := range m.mirrored {
		if !m.present[uid] {
			delete(m.mirrored, uid)
			m.cache.Delete(keyEvents, e.Namespace, e.Name)
			m.cache.Delete(keyEventsV1, e.Namespace, e.Name)
		}
	}
}

// eventV1 converts a core event as the API server does for events.k8s.io.
func eventV1(e *v1.Event) *eventsv1.Event {
	return &eventsv1.Event{
		TypeMeta:                 metav1.TypeMeta{APIVersion: "events.k8s.io/v1", Kind: "Event"},
		ObjectMeta:               e.ObjectMeta,
		EventTime:                e.EventTime,
		Series:                   nil,
		ReportingController:      e.ReportingController,
		ReportingInstance:        e.ReportingInstance,
		Action:                   e.Action,
		Reason:                   e.Reason,
		Regarding:                e.InvolvedObject,
		Related:                  e.Related,
		Note:                     e.Message,
		Type:                     e.Type,
		DeprecatedSource:         e.Source,
		DeprecatedFirstTimestamp: e.FirstTimestamp,
		DeprecatedLastTimestamp:  e.LastTimestamp,
		DeprecatedCount:          e.Count,
	}
}

// systemNamespaces always exist, as on a fresh cluster.
var systemNamespaces = []string{"default", "kube-node-lease", "kube-public", "kube-system"}

// RootCAConfigMap is the ConfigMap every namespace carries with the API's
// CA, for clients in pods.
const RootCAConfigMap = "kube-root-ca.crt"

// feedDerived keeps the namespaces (the system ones and every namespace an
// object lives in), the ConfigMaps (the manifests directory's, and each
// namespace's kube-root-ca.crt unless a file has one) and Secrets, and the
// node.
func (s *Server) feedDerived(ctx context.Context) {
	// The tick also renews the node's Lease, at the kubelet's interval.
	tick := time.NewTicker(leaseRenewInterval)
	var renewed time.Time
	defer tick.Stop()
	for {
		// Read the channel before the state, so no change is missed.
		s.cache.mu.RLock()
		changed := s.cache.changed
		s.cache.mu.RUnlock()
		var (
			configsChanged <-chan struct{}
			stored         []*v1.ConfigMap
			secrets        []Object
		)
		if s.deps.Configs != nil {
			configsChanged = s.deps.Configs.Changed()
			stored = s.deps.Configs.ListConfigMaps("")
			for _, sec := range s.deps.Configs.ListSecrets("") {
				secrets = append(secrets, sec)
			}
		}

		names := map[string]bool{}
		for _, n := range systemNamespaces {
			names[n] = true
		}
		for _, key := range []string{keyPods, keyServices, keyEvents, keyDeployments} {
			s.cache.AddNamespaces(key, names)
		}
		var cms []Object
		hasRootCA := map[string]bool{}
		for _, cm := range stored {
			names[cm.Namespace] = true
			hasRootCA[cm.Namespace] = hasRootCA[cm.Namespace] || cm.Name == RootCAConfigMap
			cms = append(cms, cm)
		}
		for _, sec := range secrets {
			names[sec.GetNamespace()] = true
		}
		sorted := make([]string, 0, len(names))
		for n := range names {
			sorted = append(sorted, n)
		}
		sort.Strings(sorted)
		var nss []Object
		for _, n := range sorted {
			nss = append(nss, s.namespace(n))
			if !hasRootCA[n] {
				cms = append(cms, s.rootCAConfigMap(n))
			}
		}
		s.cache.Replace(keyNamespaces, nss, nil)
		s.cache.Replace(keyConfigMaps, cms, nil)
		s.cache.Replace(keySecrets, secrets, nil)
		if s.deps.Node != nil {
			node := s.deps.Node()
			s.cache.Replace(keyNodes, []Object{node}, nil)
			if now := time.Now(); now.Sub(renewed) >= leaseRenewInterval {
				renewed = now
				s.cache.Replace(keyLeases, []Object{s.nodeLease(node, now)}, nil)
			}
		}
		select {
		case <-ctx.Done():
			return
		case <-changed:
		case <-configsChanged:
		case <-tick.C:
		}
	}
}

func (s *Server) namespace(name string) *v1.Namespace {
	return &v1.Namespace{
		TypeMeta: metav1.TypeMeta{APIVersion: "v1", Kind: "Namespace"},
		ObjectMeta: metav1.ObjectMeta{
			Name: name, UID: nameUID("namespace", name), CreationTimestamp: metav1.NewTime(s.started),
			Labels: map[string]string{"kubernetes.io/metadata.name": name},
		},
		Spec:   v1.NamespaceSpec{Finalizers: []v1.FinalizerName{v1.FinalizerKubernetes}},
		Status: v1.NamespaceStatus{Phase: v1.NamespaceActive},
	}
}

func (s *Server) rootCAConfigMap(namespace string) *v1.ConfigMap {
	s.mu.RLock()
	ca := string(s.pki.CAPEM)
	s.mu.RUnlock()
	return &v1.ConfigMap{
		TypeMeta: metav1.TypeMeta{APIVersion: "v1", Kind: "ConfigMap"},
		ObjectMeta: metav1.ObjectMeta{
			Name: RootCAConfigMap, Namespace: namespace, UID: nameUID("configmap", namespace+"/"+RootCAConfigMap),
			CreationTimestamp: metav1.NewTime(s.started),
			Annotations:       map[string]string{"kubernetes.io/description": "Contains a CA bundle that can be used to verify the kube-apiserver when using internal endpoints such as the internal service IP or kubernetes.default.svc. No other usage is guaranteed across distributions of Kubernetes clusters."},
		},
		Data: map[string]string{"ca.crt": ca},
	}
}

// nameUID is a stable UID for an object the agent derives rather than
// stores, so it stays the same across restarts.
func nameUID(kind, name string) types.UID {
	h := fnv.New128a()
	h.Write([]byte(kind + "/" + name))
	b := h.Sum(nil)
	return types.UID(fmt.Sprintf("%x-%x-%x-%x-%x", b[0:4], b[4:6], b[6:8], b[8:10], b[10:16]))
}

func ptrTo[T any](v T) *T { return &v }
