package status

import (
	"context"
	"fmt"
	"testing"

	"go.uber.org/goleak"
	v1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/types"
)

func podWith(uid types.UID, phase v1.PodPhase) *v1.Pod {
	p := &v1.Pod{}
	p.UID, p.Name, p.Namespace = uid, "p", "default"
	p.Status.Phase = phase
	return p
}

// Only the newest Owner of a UID publishes: an older owner's Set and
// Delete (a worker still terminating the UID's previous life) change
// nothing.
func TestOwnerOnlyNewestPublishes(t *testing.T) {
	type step struct {
		who       string // "old" or "new"
		op        string // "set" or "delete"
		phase     v1.PodPhase
		wantDone  bool
		wantPhase v1.PodPhase // "" = not in the store
	}
	tests := []struct {
		name  string
		steps []step
	}{
		{"old writes are ignored once a new owner exists", []step{
			{"old", "set", v1.PodRunning, false, ""},
			{"new", "set", v1.PodPending, true, v1.PodPending},
			{"old", "set", v1.PodSucceeded, false, v1.PodPending},
			{"old", "delete", "", false, v1.PodPending},
			{"new", "set", v1.PodRunning, true, v1.PodRunning},
		}},
		{"the new owner deletes", []step{
			{"new", "set", v1.PodRunning, true, v1.PodRunning},
			{"new", "delete", "", true, ""},
			{"new", "set", v1.PodRunning, false, ""},
			{"old", "set", v1.PodRunning, false, ""},
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := NewStore()
			owners := map[string]*Owner{"old": s.Own("u1")}
			owners["new"] = s.Own("u1")
			other := s.Own("u2")
			if !other.Set(podWith("u2", v1.PodRunning)) {
				t.Fatal("another UID's owner could not publish")
			}
			for i, st := range tt.steps {
				var done bool
				switch st.op {
				case "set":
					done = owners[st.who].Set(podWith("u1", st.phase))
				case "delete":
					done = owners[st.who].Delete()
				}
				if done != st.wantDone {
					t.Errorf("step %d (%s %s): done %v, want %v", i, st.who, st.op, done, st.wantDone)
				}
				p, ok := s.Get("u1")
				switch {
				case st.wantPhase == "" && ok:
					t.Errorf("step %d: pod present (%s), want gone", i, p.Status.Phase)
				case st.wantPhase != "" && (!ok || p.Status.Phase != st.wantPhase):
					t.Errorf("step %d: pod %v, want phase %s", i, p, st.wantPhase)
				}
			}
			if _, ok := s.Get("u2"); !ok {
				t.Error("another UID's pod was touched")
			}
		})
	}
}

// An owner publishes only its own UID.
func TestOwnerSetOtherUIDRefused(t *testing.T) {
	s := NewStore()
	if s.Own("u1").Set(podWith("u2", v1.PodRunning)) {
		t.Fatal("owner of u1 published u2")
	}
	if _, ok := s.Get("u2"); ok {
		t.Fatal("u2 in the store")
	}
}

// A watch dropped for falling behind leaves nothing running, though its
// context goes on: the pod feeds relist and watch again under the same
// context, and each relist left a goroutine parked on it.
func TestDroppedWatchLeavesNoGoroutine(t *testing.T) {
	before := goleak.IgnoreCurrent()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	s := NewStore()
	for i := range 100 {
		ch := s.Watch(ctx, 1)
		s.Set(podWith(types.UID(fmt.Sprintf("uid-%d", i)), v1.PodPending))
		s.Set(podWith(types.UID(fmt.Sprintf("uid-%d", i)), v1.PodRunning)) // one too many
		n := 0
		for range ch {
			n++
		}
		if n != 1 {
			t.Fatalf("watch %d: %d events before it closed, want its buffer's 1", i, n)
		}
	}
	if len(s.watchers) != 0 {
		t.Errorf("%d watchers left", len(s.watchers))
	}
	goleak.VerifyNone(t, before) // ctx still going
	// A watch whose context ends is closed.
	wctx, wcancel := context.WithCancel(ctx)
	ch := s.Watch(wctx, 1)
	wcancel()
	for range ch {
	}
}

// Peek shares the stored pod: what it returned must stay as it was through
// later publications and through changes to the publisher's own object.
func TestPeekSharesAnUnchangingPod(t *testing.T) {
	s := NewStore()
	pod := podWith("u1", v1.PodPending)
	s.Set(pod)
	first, ok := s.Peek("u1")
	if !ok || first.Status.Phase != v1.PodPending {
		t.Fatalf("Peek = %v, %v; want the pending pod", first, ok)
	}
	pod.Status.Phase = v1.PodRunning // the publisher's object, not the store's
	if first.Status.Phase != v1.PodPending {
		t.Fatal("a change to the published object reached the stored pod")
	}
	s.Set(pod)
	second, _ := s.Peek("u1")
	if second.Status.Phase != v1.PodRunning {
		t.Errorf("Peek after Set: phase %s, want Running", second.Status.Phase)
	}
	if first.Status.Phase != v1.PodPending {
		t.Error("Set changed a pod Peek had returned; stored pods must be replaced, not mutated")
	}
	s.Delete("u1")
	if _, ok := s.Peek("u1"); ok {
		t.Error("Peek found a deleted pod")
	}
}
