// Package status holds the published state of every pod: an immutable
// v1.Pod (spec and status) per UID, written by its pod worker and read by the
// API. Readers get copies, but for Peek and watch events, which share
// the stored pod read-only.
package status

import (
	"context"
	"sort"
	"sync"

	v1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/watch"
)

// Event is one change to the store, in the Kubernetes watch vocabulary.
type Event struct {
	Type watch.EventType // Added, Modified or Deleted
	Pod  *v1.Pod
}

// Store is safe for concurrent use.
type Store struct {
	mu   sync.Mutex
	pods map[types.UID]*v1.Pod
	// watchers holds each watch's channel and the stop of its close on
	// ctx's end (context.AfterFunc).
	watchers map[chan Event]func() bool
	// owners holds the generation of each UID's current Owner; lastGen is
	// the newest generation handed out (0 is never one).
	owners  map[types.UID]uint64
	lastGen uint64
}

// NewStore returns an empty store.
func NewStore() *Store {
	return &Store{pods: map[types.UID]*v1.Pod{}, watchers: map[chan Event]func() bool{}, owners: map[types.UID]uint64{}}
}

// Owner is the right to publish the pod of one UID. A UID can come back
// while the worker of its previous life still terminates; each worker
// gets its own Owner, and only the newest one's Set and Delete have any
// effect, so the old worker's last words never overwrite or remove what
// the new one published.
type Owner struct {
	s   *Store
	uid types.UID
	gen uint64
}

// Own makes the caller the only publisher of uid from now on: every Owner
// handed out before for uid becomes powerless.
func (s *Store) Own(uid types.UID) *Owner {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.lastGen++
	s.owners[uid] = s.lastGen
	return &Owner{s: s, uid: uid, gen: s.lastGen}
}

// Set publishes pod (its UID must be the owned one) if o is still the
// UID's owner; it reports whether it did.
func (o *Owner) Set(pod *v1.Pod) bool {
	pod = pod.DeepCopy()
	o.s.mu.Lock()
	defer o.s.mu.Unlock()
	if pod.UID != o.uid || o.s.owners[o.uid] != o.gen {
		return false
	}
	o.s.set(pod)
	return true
}

// Delete removes the pod and gives up ownership, if o is still the UID's
// owner; it reports whether it did.
func (o *Owner) Delete() bool {
	o.s.mu.Lock()
	defer o.s.mu.Unlock()
	if o.s.owners[o.uid] != o.gen {
		return false
	}
	delete(o.s.owners, o.uid)
	o.s.delete(o.uid)
	return true
}

// Set publishes pod (a copy is kept), whoever owns its UID: for writers
// that are not pod workers (tests, tools). Watchers hear of it only if it
// changed.
func (s *Store) Set(pod *v1.Pod) {
	pod = pod.DeepCopy()
	s.mu.Lock()
	defer s.mu.Unlock()
	s.set(pod)
}

// set must be called with s.mu held; pod is the store's own copy.
func (s *Store) set(pod *v1.Pod) {
	old, ok := s.pods[pod.UID]
	if ok && equality.Semantic.DeepEqual(old, pod) {
		return
	}
	s.pods[pod.UID] = pod
	typ := watch.Added
	if ok {
		typ = watch.Modified
	}
	s.notify(Event{Type: typ, Pod: pod})
}

// Delete removes the pod with uid, if present, whoever owns it.
func (s *Store) Delete(uid types.UID) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.delete(uid)
}

// delete must be called with s.mu held.
func (s *Store) delete(uid types.UID) {
	pod, ok := s.pods[uid]
	if !ok {
		return
	}
	delete(s.pods, uid)
	s.notify(Event{Type: watch.Deleted, Pod: pod})
}

// Get returns a copy of the pod with uid.
func (s *Store) Get(uid types.UID) (*v1.Pod, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	p, ok := s.pods[uid]
	if !ok {
		return nil, false
	}
	return p.DeepCopy(), true
}

// Peek returns the pod with uid as stored, not a copy: for readers on a hot
// path (the prober, at every probe) that only read it. Stored pods are
// never mutated (set replaces them whole), so reading one needs no lock;
// the caller must not change it.
func (s *Store) Peek(uid types.UID) (*v1.Pod, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	p, ok := s.pods[uid]
	return p, ok
}

// List returns copies of all pods in namespace ("" for all), sorted by
// namespace and name; pods sharing a name (an old UID still terminating and
// its replacement) are ordered by creation time.
func (s *Store) List(namespace string) []*v1.Pod {
	s.mu.Lock()
	out := make([]*v1.Pod, 0, len(s.pods))
	for _, p := range s.pods {
		if namespace == "" || p.Namespace == namespace {
			out = append(out, p.DeepCopy())
		}
	}
	s.mu.Unlock()
	sort.Slice(out, func(i, j int) bool {
		a, b := out[i], out[j]
		if a.Namespace != b.Namespace {
			return a.Namespace < b.Namespace
		}
		if a.Name != b.Name {
			return a.Name < b.Name
		}
		return a.CreationTimestamp.Before(&b.CreationTimestamp)
	})
	return out
}

// Watch streams changes until ctx ends. A watcher that falls more than
// buffer events behind has its channel closed: like an API watch, the
// client lists again and re-watches.
func (s *Store) Watch(ctx context.Context, buffer int) <-chan Event {
	ch := make(chan Event, buffer)
	s.mu.Lock()
	defer s.mu.Unlock()
	// Closed when ctx ends, without a goroutine waiting for it: a watch
	// dropped for falling behind also drops this, where a goroutine parked
	// on ctx stayed for as long as ctx, one more at each relist.
	s.watchers[ch] = context.AfterFunc(ctx, func() {
		s.mu.Lock()
		defer s.mu.Unlock()
		s.endWatch(ch)
	})
	return ch
}

// endWatch closes a watch, if not closed yet; s.mu must be held.
func (s *Store) endWatch(ch chan Event) {
	if stop, ok := s.watchers[ch]; ok {
		stop()
		delete(s.watchers, ch)
		close(ch)
	}
}

// notify must be called with s.mu held; the pods sent are never mutated.
func (s *Store) notify(e Event) {
	for ch := range s.watchers {
		select {
		case ch <- e:
		default:
			s.endWatch(ch)
		}
	}
}
