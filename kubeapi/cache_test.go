package kubeapi

import (
	"fmt"
	"strconv"
	"testing"

	v1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/watch"
)

func pod(name, phase string, lbls map[string]string) *v1.Pod {
	return &v1.Pod{ObjectMeta: metav1.ObjectMeta{Namespace: "default", Name: name, Labels: lbls},
		Status: v1.PodStatus{Phase: v1.PodPhase(phase)}}
}

func TestCacheResourceVersions(t *testing.T) {
	c := NewCache(3)
	c.Replace(keyPods, []Object{pod("a", "Pending", nil), pod("b", "Pending", nil)}, nil)
	objs, rv := c.List(keyPods, "")
	if len(objs) != 2 || rv != 2 || objs[0].GetName() != "a" || objs[1].GetResourceVersion() != "2" {
		t.Fatalf("list: %v rv %d", objs, rv)
	}
	// No change, no new version.
	c.Replace(keyPods, []Object{pod("a", "Pending", nil), pod("b", "Pending", nil)}, nil)
	if c.ResourceVersion() != 2 {
		t.Fatalf("rv %d after an identical replace", c.ResourceVersion())
	}
	c.Replace(keyPods, []Object{pod("a", "Running", nil)}, nil)
	changes, _, ok := c.since(2)
	if !ok || len(changes) != 2 || changes[0].typ != watch.Modified || changes[1].typ != watch.Deleted ||
		changes[1].obj.GetName() != "b" || changes[1].obj.GetResourceVersion() != "4" {
		t.Fatalf("changes since 2: %+v", changes)
	}
	if got, _ := c.Get(keyPods, "default", "a"); got.GetResourceVersion() != "3" {
		t.Fatalf("a at rv %s", got.GetResourceVersion())
	}
	// History keeps 3 changes: 4 is the newest, 1 was dropped.
	if _, _, ok := c.since(0); ok {
		t.Fatal("since(0) served although change 1 was dropped")
	}
	if ch, _, ok := c.since(1); !ok || len(ch) != 3 {
		t.Fatalf("since(1): %d %v", len(ch), ok)
	}
}

func TestWatchTypeFor(t *testing.T) {
	f := selector{labels: labels.SelectorFromSet(labels.Set{"app": "web"}), fields: fields.Everything(), key: keyPods}
	web, other := pod("a", "", map[string]string{"app": "web"}), pod("a", "", nil)
	for _, tc := range []struct {
		name string
		c    change
		want watch.EventType
	}{
		{"added matching", change{typ: watch.Added, obj: web}, watch.Added},
		{"added not matching", change{typ: watch.Added, obj: other}, ""},
		{"still matching", change{typ: watch.Modified, obj: web, prev: web}, watch.Modified},
		{"stops matching", change{typ: watch.Modified, obj: other, prev: web}, watch.Deleted},
		{"starts matching", change{typ: watch.Modified, obj: web, prev: other}, watch.Added},
		{"deleted matching", change{typ: watch.Deleted, obj: web, prev: web}, watch.Deleted},
		{"deleted not matching", change{typ: watch.Deleted, obj: other, prev: other}, ""},
	} {
		if got, _ := watchTypeFor(f, tc.c); got != tc.want {
			t.Errorf("%s: %q, want %q", tc.name, got, tc.want)
		}
	}
}

func TestParseResourcePath(t *testing.T) {
	core := schema.GroupVersion{Version: "v1"}
	for _, tc := range []struct {
		path                    string
		ok                      bool
		resource, ns, name, sub string
		watch                   bool
	}{
		{path: "pods", ok: true, resource: "pods"},
		{path: "namespaces/default/pods", ok: true, resource: "pods", ns: "default"},
		{path: "namespaces/default/pods/web/log", ok: true, resource: "pods", ns: "default", name: "web", sub: "log"},
		{path: "namespaces/default", ok: true, resource: "namespaces", name: "default"},
		{path: "namespaces", ok: true, resource: "namespaces"},
		{path: "watch/namespaces/x/pods", ok: true, resource: "pods", ns: "x", watch: true},
		{path: "nodes/n1", ok: true, resource: "nodes", name: "n1"},
		{path: "namespaces/default/nodes", ok: false},
		{path: "widgets", ok: false},
		{path: "namespaces/default/pods/web/log/extra", ok: false},
	} {
		segs := splitPath(tc.path)
		req, ok := parseResourcePath(core, segs)
		if ok != tc.ok {
			t.Errorf("%s: ok %v", tc.path, ok)
			continue
		}
		if !ok {
			continue
		}
		if req.info.name != tc.resource || req.namespace != tc.ns || req.name != tc.name || req.subresource != tc.sub || req.watchPath != tc.watch {
			t.Errorf("%s: %+v", tc.path, req)
		}
	}
}

func splitPath(p string) []string {
	var out []string
	start := 0
	for i := 0; i <= len(p); i++ {
		if i == len(p) || p[i] == '/' {
			out = append(out, p[start:i])
			start = i + 1
		}
	}
	return out
}

// Past max, the history is compacted a quarter at a time: a watch can
// always start max changes back, never from a dropped change.
func TestCacheHistoryCompaction(t *testing.T) {
	c := NewCache(8)
	for i := range 40 {
		c.Put(keyPods, pod(fmt.Sprintf("p%d", i%3), strconv.Itoa(i), nil), nil)
		rv := c.ResourceVersion()
		if rv < 8 {
			continue
		}
		if ch, _, ok := c.since(rv - 8); !ok || len(ch) != 8 || ch[7].rv != rv {
			t.Fatalf("after change %d: since(%d) = %d changes, %v", rv, rv-8, len(ch), ok)
		}
		if len(c.history) > 10 {
			t.Fatalf("after change %d: %d changes kept", rv, len(c.history))
		}
		if _, _, ok := c.since(c.compacted - 1); ok && c.compacted > 0 {
			t.Fatalf("after change %d: since(%d) served a dropped change", rv, c.compacted-1)
		}
	}
}
