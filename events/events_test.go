package events

import (
	"fmt"
	"testing"
	"time"

	"go.uber.org/zap/zaptest"
	v1 "k8s.io/api/core/v1"
)

// An event about the node (a cluster-scoped object) is kept in default, as
// the API server's event recorder puts it, with the reference as given.
func TestNodeEventNamespace(t *testing.T) {
	s := NewStore(zaptest.NewLogger(t), "node1", 10)
	s.Event(NodeRef("node1"), v1.EventTypeNormal, "Starting", "Starting kubelet.")
	got := s.List("default", "node1")
	if len(got) != 1 {
		t.Fatalf("events in default about node1: %+v", got)
	}
	e := got[0]
	want := v1.ObjectReference{Kind: "Node", Name: "node1", UID: "node1"}
	if e.Namespace != "default" || e.InvolvedObject != want || e.Source != (v1.EventSource{Component: "kubelet", Host: "node1"}) {
		t.Errorf("event: namespace %q, involvedObject %+v, source %+v", e.Namespace, e.InvolvedObject, e.Source)
	}
	if other := s.List("kube-system", ""); len(other) != 0 {
		t.Errorf("events in kube-system: %+v", other)
	}
}

// Events go an hour (TTL) after their last occurrence, as the API
// server's --event-ttl makes them; a repeat keeps an event. Reads see the
// expiry without a new event.
func TestEventsExpire(t *testing.T) {
	now := time.Date(2026, 1, 1, 10, 0, 0, 0, time.UTC)
	s := NewStore(zaptest.NewLogger(t), "node1", 100)
	s.now = func() time.Time { return now }
	ref := func(name string) *v1.ObjectReference {
		return &v1.ObjectReference{Kind: "Pod", Namespace: "default", Name: name}
	}
	s.Event(ref("old"), v1.EventTypeNormal, "Started", "Started container app")
	s.Event(ref("repeated"), v1.EventTypeWarning, "BackOff", "Back-off restarting failed container")
	now = now.Add(50 * time.Minute)
	s.Event(ref("repeated"), v1.EventTypeWarning, "BackOff", "Back-off restarting failed container")
	now = now.Add(11 * time.Minute)
	got := s.List("", "")
	if len(got) != 1 || got[0].InvolvedObject.Name != "repeated" || got[0].Count != 2 {
		t.Fatalf("61 minutes on: %+v, want only the repeated event, count 2", got)
	}
	if n := len(s.Shared()); n != 1 {
		t.Errorf("Shared: %d events, want 1", n)
	}
	now = now.Add(50 * time.Minute)
	if got := s.List("", ""); len(got) != 0 {
		t.Errorf("an hour after the last repeat: %+v, want none", got)
	}
}

// However many events are recorded, at most max are kept, and the store's
// array does not keep the dropped ones alive; an event a reader holds is
// never modified, a repeat replaces it.
func TestEventsBoundedAndImmutable(t *testing.T) {
	s := NewStore(zaptest.NewLogger(t), "node1", 10)
	ref := &v1.ObjectReference{Kind: "Pod", Namespace: "default", Name: "p"}
	for i := range 1000 {
		s.Event(ref, v1.EventTypeNormal, "Created", fmt.Sprintf("Created container c%d", i))
	}
	held := s.Shared()
	if len(held) != 10 {
		t.Fatalf("%d events kept, want 10", len(held))
	}
	if c := cap(s.events); c > 40 {
		t.Errorf("the store's array has room for %d events, want about 10", c)
	}
	for _, e := range s.events[len(s.events):cap(s.events)] {
		if e != nil {
			t.Errorf("the store's array still holds dropped event %s", e.Message)
		}
	}
	last := held[len(held)-1]
	s.Event(ref, v1.EventTypeNormal, "Created", last.Message)
	if last.Count != 1 {
		t.Errorf("a repeat modified the event a reader holds: count %d", last.Count)
	}
	if now := s.Shared(); now[len(now)-1] == last || now[len(now)-1].Count != 2 {
		t.Errorf("the repeat is not a new event with count 2: %+v", now[len(now)-1])
	}
}
