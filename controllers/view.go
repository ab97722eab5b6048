package controllers

import (
	"context"
	"encoding/json"
	"sort"
	"strconv"
	"sync"

	appsv1 "k8s.io/api/apps/v1"
	v1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/watch"
)

// Event is one change to a Deployment or ReplicaSet, in the Kubernetes
// watch vocabulary. Object is a *appsv1.Deployment or *appsv1.ReplicaSet,
// never mutated after it is sent.
type Event struct {
	Type   watch.EventType
	Object runtime.Object
}

// viewStore holds the copies readers see; the loop replaces them after
// each sync. Every object that changes gets a new resourceVersion.
type viewStore struct {
	mu       sync.Mutex
	deploys  map[string]*appsv1.Deployment
	rss      map[string]*appsv1.ReplicaSet
	pods     []*v1.Pod
	content  map[string]string // kind/ns/name → JSON without resourceVersion
	version  uint64
	watchers map[chan Event]func() bool // the stop of each watch's close on ctx's end
}

func (v *viewStore) init() {
	v.deploys = map[string]*appsv1.Deployment{}
	v.rss = map[string]*appsv1.ReplicaSet{}
	v.content = map[string]string{}
	v.watchers = map[chan Event]func() bool{}
}

// set publishes new copies (owned by the view from now on).
func (v *viewStore) set(ds []*appsv1.Deployment, rss []*appsv1.ReplicaSet, pods []*v1.Pod) {
	v.mu.Lock()
	defer v.mu.Unlock()
	v.pods = pods
	seen := map[string]bool{}
	for _, d := range ds {
		d.TypeMeta.APIVersion, d.TypeMeta.Kind = "apps/v1", "Deployment"
		key := d.Namespace + "/" + d.Name
		seen["Deployment/"+key] = true
		old := v.deploys[key]
		if v.update("Deployment/"+key, d, old != nil) {
			d.ResourceVersion = strconv.FormatUint(v.version, 10)
			v.deploys[key] = d
		}
	}
	for _, rs := range rss {
		rs.TypeMeta.APIVersion, rs.TypeMeta.Kind = "apps/v1", "ReplicaSet"
		key := rs.Namespace + "/" + rs.Name
		seen["ReplicaSet/"+key] = true
		old := v.rss[key]
		if v.update("ReplicaSet/"+key, rs, old != nil) {
			rs.ResourceVersion = strconv.FormatUint(v.version, 10)
			v.rss[key] = rs
		}
	}
	for key, d := range v.deploys {
		if !seen["Deployment/"+key] {
			delete(v.deploys, key)
			delete(v.content, "Deployment/"+key)
			v.notify(Event{Type: watch.Deleted, Object: d})
		}
	}
	for key, rs := range v.rss {
		if !seen["ReplicaSet/"+key] {
			delete(v.rss, key)
			delete(v.content, "ReplicaSet/"+key)
			v.notify(Event{Type: watch.Deleted, Object: rs})
		}
	}
}

// update records obj's content under key; it reports a change (and then
// bumps the version and notifies watchers once the caller stored obj).
func (v *viewStore) update(key string, obj runtime.Object, existed bool) bool {
	j, _ := json.Marshal(obj)
	if existed && v.content[key] == string(j) {
		return false
	}
	v.content[key] = string(j)
	v.version++
	typ := watch.Added
	if existed {
		typ = watch.Modified
	}
	// The caller sets the resourceVersion on obj before anyone reads it:
	// notify with a copy that has it.
	cp := obj.DeepCopyObject()
	switch o := cp.(type) {
	case *appsv1.Deployment:
		o.ResourceVersion = strconv.FormatUint(v.version, 10)
	case *appsv1.ReplicaSet:
		o.ResourceVersion = strconv.FormatUint(v.version, 10)
	}
	v.notify(Event{Type: typ, Object: cp})
	return true
}

// notify must be called with v.mu held.
func (v *viewStore) notify(e Event) {
	for ch := range v.watchers {
		select {
		case ch <- e:
		default:
			// Too far behind: end the watch (the client lists again).
			v.endWatch(ch)
		}
	}
}

// endWatch closes a watch, if not closed yet; v.mu must be held.
func (v *viewStore) endWatch(ch chan Event) {
	if stop, ok := v.watchers[ch]; ok {
		stop()
		delete(v.watchers, ch)
		close(ch)
	}
}

func (v *viewStore) podList() []*v1.Pod {
	v.mu.Lock()
	defer v.mu.Unlock()
	out := make([]*v1.Pod, len(v.pods))
	for i, p := range v.pods {
		out[i] = p.DeepCopy()
	}
	return out
}

// ListDeployments returns copies of the Deployments in namespace ("" for
// all), sorted by namespace and name, with their status.
func (c *Controller) ListDeployments(namespace string) []*appsv1.Deployment {
	c.view.mu.Lock()
	defer c.view.mu.Unlock()
	var out []*appsv1.Deployment
	for _, d := range c.view.deploys {
		if namespace == "" || d.Namespace == namespace {
			out = append(out, d.DeepCopy())
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Namespace+"/"+out[i].Name < out[j].Namespace+"/"+out[j].Name })
	return out
}

// GetDeployment returns a copy of one Deployment.
func (c *Controller) GetDeployment(namespace, name string) (*appsv1.Deployment, bool) {
	c.view.mu.Lock()
	defer c.view.mu.Unlock()
	d, ok := c.view.deploys[namespace+"/"+name]
	if !ok {
		return nil, false
	}
	return d.DeepCopy(), true
}

// ListReplicaSets returns copies of the ReplicaSets in namespace ("" for
// all), sorted by namespace and name.
func (c *Controller) ListReplicaSets(namespace string) []*appsv1.ReplicaSet {
	c.view.mu.Lock()
	defer c.view.mu.Unlock()
	var out []*appsv1.ReplicaSet
	for _, rs := range c.view.rss {
		if namespace == "" || rs.Namespace == namespace {
			out = append(out, rs.DeepCopy())
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Namespace+"/"+out[i].Name < out[j].Namespace+"/"+out[j].Name })
	return out
}

// GetReplicaSet returns a copy of one ReplicaSet.
func (c *Controller) GetReplicaSet(namespace, name string) (*appsv1.ReplicaSet, bool) {
	c.view.mu.Lock()
	defer c.view.mu.Unlock()
	rs, ok := c.view.rss[namespace+"/"+name]
	if !ok {
		return nil, false
	}
	return rs.DeepCopy(), true
}

// Watch streams changes to Deployments and ReplicaSets until ctx ends. A
// watcher more than buffer events behind has its channel closed.
func (c *Controller) Watch(ctx context.Context, buffer int) <-chan Event {
	ch := make(chan Event, buffer)
	v := &c.view
	v.mu.Lock()
	defer v.mu.Unlock()
	// Closed when ctx ends, without a goroutine waiting for it (one stayed
	// for every watch dropped for falling behind).
	v.watchers[ch] = context.AfterFunc(ctx, func() {
		v.mu.Lock()
		defer v.mu.Unlock()
		v.endWatch(ch)
	})
	return ch
}
