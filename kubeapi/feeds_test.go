package kubeapi

import (
	"fmt"
	"testing"

	"go.uber.org/zap"
	v1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"

	"github.com/minikubelet/minikubelet/events"
)

// recordChurn records the events of n pods started and deleted, as the
// soak's churn does.
func recordChurn(st *events.Store, from, n int) {
	for i := from; i < from+n; i++ {
		pod := &v1.Pod{ObjectMeta: metav1.ObjectMeta{Namespace: "default", Name: fmt.Sprintf("churn-%d", i), UID: types.UID(fmt.Sprintf("uid-%d", i))}}
		for _, c := range []string{"app", "side"} {
			st.Event(events.PodRef(pod, c), v1.EventTypeNormal, "Started", "Started container "+c)
		}
		st.Event(events.PodRef(pod, "app"), v1.EventTypeNormal, "Killing", "Stopping container app")
	}
}

// The mirror follows the store: new events appear in both APIs, a repeat
// updates its count, and events the store drops (past its size) go.
func TestEventMirrorFollowsStore(t *testing.T) {
	st := events.NewStore(zap.NewNop(), "node1", 30)
	c := NewCache(1024)
	m := newEventMirror(c)
	recordChurn(st, 0, 5)
	m.sync(st.Shared())
	core, _ := c.List(keyEvents, "")
	v1s, _ := c.List(keyEventsV1, "")
	if len(core) != 15 || len(v1s) != 15 {
		t.Fatalf("%d core and %d events.k8s.io events, want 15 of each", len(core), len(v1s))
	}
	if e := core[0].(*v1.Event); e.Kind != "Event" || e.APIVersion != "v1" || e.ResourceVersion == "" {
		t.Errorf("core event %s: kind %q apiVersion %q resourceVersion %q", e.Name, e.Kind, e.APIVersion, e.ResourceVersion)
	}

	// A repeat of the first pod's Killing: one event, count 2, everywhere.
	first := st.Shared()[2]
	st.Event(&first.InvolvedObject, v1.EventTypeNormal, "Killing", "Stopping container app")
	m.sync(st.Shared())
	got, ok := c.Get(keyEvents, first.Namespace, first.Name)
	if !ok || got.(*v1.Event).Count != 2 {
		t.Errorf("repeated event in the cache: %+v (found %v), want count 2", got, ok)
	}
	if first.Count != 1 {
		t.Errorf("the store modified an event a reader holds: count %d", first.Count)
	}

	// Past the store's size, the oldest go from the API too.
	recordChurn(st, 5, 20)
	m.sync(st.Shared())
	core, _ = c.List(keyEvents, "")
	v1s, _ = c.List(keyEventsV1, "")
	if len(core) != 30 || len(v1s) != 30 || len(m.mirrored) != 30 {
		t.Errorf("%d core, %d events.k8s.io and %d mirrored events, want the store's 30", len(core), len(v1s), len(m.mirrored))
	}
	if _, ok := c.Get(keyEvents, first.Namespace, first.Name); ok {
		t.Errorf("event %s, dropped by the store, is still served", first.Name)
	}
}

// A sync of a store that did not change allocates nothing per event: the
// feed used to copy every stored event (thousands) at every burst, and the
// agent's heap grew with the number of events kept (RELIABILITY.md).
func TestEventMirrorSyncCostsNothingPerUnchangedEvent(t *testing.T) {
	st := events.NewStore(zap.NewNop(), "node1", 5000)
	recordChurn(st, 0, 1500) // 4500 events
	m := newEventMirror(NewCache(1024))
	m.sync(st.Shared())
	shared := st.Shared()
	if allocs := testing.AllocsPerRun(10, func() { m.sync(shared) }); allocs > 0 {
		t.Errorf("a sync of %d unchanged events made %v allocations, want 0", len(shared), allocs)
	}
	// One new event costs its two objects (and the cache's entries), not
	// a copy of every event.
	recordChurn(st, 1500, 1)
	shared = st.Shared()
	allocs := testing.AllocsPerRun(1, func() { m.sync(shared) })
	if allocs > 100 {
		t.Errorf("a sync after 3 new events made %v allocations, want a few per new event", allocs)
	}
}

func TestKeyLessIsObjectKeyOrder(t *testing.T) {
	obj := func(ns, name string) *v1.Pod {
		return &v1.Pod{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name}}
	}
	objs := []*v1.Pod{obj("a", "x"), obj("a-b", "x"), obj("a", "y"), obj("", "n"), obj("ab", "a"), obj("a.b", "z"), obj("b", "a")}
	for _, a := range objs {
		for _, b := range objs {
			if got, want := keyLess(a, b), objectKey(a) < objectKey(b); got != want {
				t.Errorf("keyLess(%s, %s) = %v, want %v", objectKey(a), objectKey(b), got, want)
			}
		}
	}
}
