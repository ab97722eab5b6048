package kubeapi

import (
	"sort"
	"strconv"
	"sync"

	"k8s.io/apimachinery/pkg/api/equality"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/watch"
)

// Object is an API object with metadata.
type Object interface {
	runtime.Object
	metav1.Object
}

// change is one entry of the cache's history: what a watch sends.
type change struct {
	rv       uint64
	resource string // resourceKey of the resource
	typ      watch.EventType
	obj      Object // the object after the change (before, for Deleted)
	prev     Object // the object before, nil for Added
}

// Cache holds the objects served, each stamped with the resourceVersion of
// its last change, and a bounded history of changes for watches. One
// counter numbers every change of every resource, as etcd's revision does,
// so a list's resourceVersion orders it against every later change: a
// watch started from it misses nothing. Objects in the cache are never
// modified; readers share them. Safe for concurrent use.
type Cache struct {
	mu        sync.RWMutex
	rv        uint64
	objs      map[string]map[string]Object // resource → namespace/name → object
	history   []change                     // oldest first
	max       int
	compacted uint64 // rv of the newest change dropped from history
	changed   chan struct{}
}

// NewCache keeps at least the last max changes for watches (up to a
// quarter more between compactions).
func NewCache(max int) *Cache {
	return &Cache{objs: map[string]map[string]Object{}, max: max, changed: make(chan struct{})}
}

func objectKey(o metav1.Object) string { return o.GetNamespace() + "/" + o.GetName() }

// EqualFunc compares two versions of an object, resourceVersion aside.
type EqualFunc func(a, b Object) bool

func semanticEqual(a, b Object) bool { return equality.Semantic.DeepEqual(a, b) }

// Replace makes objs the whole content of resource: objects that differ
// from the cached ones (by equal; nil for semantic equality) are recorded
// as changes. The cache takes objs over: the caller must not modify them.
func (c *Cache) Replace(resource string, objs []Object, equal EqualFunc) {
	c.mu.Lock()
	defer c.mu.Unlock()
	old := c.objs[resource]
	seen := make(map[string]bool, len(objs))
	for _, o := range objs {
		k := objectKey(o)
		seen[k] = true
		c.putLocked(resource, k, o, equal)
	}
	var gone []string
	for k := range old {
		if !seen[k] {
			gone = append(gone, k)
		}
	}
	sort.Strings(gone)
	for _, k := range gone {
		c.deleteLocked(resource, k)
	}
}

// Put adds or updates one object (taken over, as with Replace).
func (c *Cache) Put(resource string, o Object, equal EqualFunc) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.putLocked(resource, objectKey(o), o, equal)
}

// Delete removes the object namespace/name of resource, if cached.
func (c *Cache) Delete(resource, namespace, name string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.deleteLocked(resource, namespace+"/"+name)
}

func (c *Cache) putLocked(resource, k string, o Object, equal EqualFunc) {
	m := c.objs[resource]
	if m == nil {
		m = map[string]Object{}
		c.objs[resource] = m
	}
	prev, ok := m[k]
	if ok {
		o.SetResourceVersion(prev.GetResourceVersion())
		if equal == nil {
			equal = semanticEqual
		}
		if equal(prev, o) {
			return
		}
	}
	c.rv++
	o.SetResourceVersion(strconv.FormatUint(c.rv, 10))
	m[k] = o
	typ := watch.Added
	if ok {
		typ = watch.Modified
	}
	c.recordLocked(change{rv: c.rv, resource: resource, typ: typ, obj: o, prev: prev})
}

func (c *Cache) deleteLocked(resource, k string) {
	prev, ok := c.objs[resource][k]
	if !ok {
		return
	}
	delete(c.objs[resource], k)
	c.rv++
	// A deleted object carries the resourceVersion of its deletion, as the
	// API server's DELETED events do; it is a copy, the cached one is shared.
	gone := prev.DeepCopyObject().(Object)
	gone.SetResourceVersion(strconv.FormatUint(c.rv, 10))
	c.recordLocked(change{rv: c.rv, resource: resource, typ: watch.Deleted, obj: gone, prev: prev})
}

func (c *Cache) recordLocked(ch change) {
	c.history = append(c.history, ch)
	// Compact only once a quarter of max is over it: copying the whole
	// history at every change past max cost a 4096-entry copy (about
	// 400 KB) per pod status update on a busy node; in quarters it is a
	// few entries per change. A watch can start up to max changes back,
	// sometimes a little more.
	if len(c.history) > c.max+c.max/4 {
		drop := len(c.history) - c.max
		c.compacted = c.history[drop-1].rv
		// Copy so the dropped entries' objects can be collected; readers
		// keep the slices since gave them.
		c.history = append(make([]change, 0, c.max+c.max/4+1), c.history[drop:]...)
	}
	close(c.changed)
	c.changed = make(chan struct{})
}

// List returns the objects of resource in namespace ("" for all), sorted by
// namespace and name, and the resourceVersion they are current at.
func (c *Cache) List(resource, namespace string) ([]Object, uint64) {
	c.mu.RLock()
	defer c.mu.RUnlock()
	out := make([]Object, 0, len(c.objs[resource]))
	for _, o := range c.objs[resource] {
		if namespace == "" || o.GetNamespace() == namespace {
			out = append(out, o)
		}
	}
	sort.Slice(out, func(i, j int) bool { return keyLess(out[i], out[j]) })
	return out, c.rv
}

// keyLess orders objects as their objectKeys (etcd's order), without
// making the keys: a sort of thousands of events made two strings per
// comparison.
func keyLess(a, b metav1.Object) bool {
	an, bn := a.GetNamespace(), b.GetNamespace()
	if an == bn {
		return a.GetName() < b.GetName()
	}
	// Compare an+"/" with bn+"/".
	p := 0
	for p < len(an) && p < len(bn) && an[p] == bn[p] {
		p++
	}
	switch {
	case p == len(an):
		return '/' < bn[p]
	case p == len(bn):
		return an[p] < '/'
	}
	return an[p] < bn[p]
}

// AddNamespaces adds the namespaces of resource's objects to set.
func (c *Cache) AddNamespaces(resource string, set map[string]bool) {
	c.mu.RLock()
	defer c.mu.RUnlock()
	for _, o := range c.objs[resource] {
		if ns := o.GetNamespace(); ns != "" {
			set[ns] = true
		}
	}
}

// Get returns the cached object namespace/name of resource.
func (c *Cache) Get(resource, namespace, name string) (Object, bool) {
	c.mu.RLock()
	defer c.mu.RUnlock()
	o, ok := c.objs[resource][namespace+"/"+name]
	return o, ok
}

// ResourceVersion is the newest change's number.
func (c *Cache) ResourceVersion() uint64 {
	c.mu.RLock()
	defer c.mu.RUnlock()
	return c.rv
}

// oldestWatchable is the oldest resourceVersion a watch can still start
// from: the newest change dropped from the history (the API server's
// "oldest - 1" in its 410's message).
func (c *Cache) oldestWatchable() uint64 {
	c.mu.RLock()
	defer c.mu.RUnlock()
	return c.compacted
}

// since returns the changes after rv (of every resource), a channel closed
// at the next change, and false when rv is older than the history kept (the
// watcher must list again: 410 Gone).
func (c *Cache) since(rv uint64) ([]change, <-chan struct{}, bool) {
	c.mu.RLock()
	defer c.mu.RUnlock()
	if rv < c.compacted {
		return nil, nil, false
	}
	i := sort.Search(len(c.history), func(i int) bool { return c.history[i].rv > rv })
	return c.history[i:], c.changed, true
}
