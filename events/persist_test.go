package events

import (
	"context"
	"os"
	"path/filepath"
	"testing"
	"time"

	"go.uber.org/zap/zaptest"
	v1 "k8s.io/api/core/v1"
)

// Saved events come back in a new store (a restarted agent) before what it
// records, with their names, counts and times; those expired meanwhile do
// not. The file is root's alone; a missing one is a first start.
func TestSaveAndLoad(t *testing.T) {
	path := filepath.Join(t.TempDir(), "events.json")
	now := time.Date(2026, 1, 1, 10, 0, 0, 0, time.UTC)
	s := NewStore(zaptest.NewLogger(t), "node1", 100)
	s.now = func() time.Time { return now }
	node := NodeRef("node1")
	s.Event(node, v1.EventTypeNormal, "Starting", "Starting kubelet.")
	now = now.Add(30 * time.Minute)
	s.Event(node, v1.EventTypeNormal, "NodeReady", "Node node1 status is now: NodeReady")
	s.Event(node, v1.EventTypeNormal, "NodeReady", "Node node1 status is now: NodeReady")
	if err := s.Save(path); err != nil {
		t.Fatal(err)
	}
	if fi, err := os.Stat(path); err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("events file: %v %v", fi, err)
	}
	want := s.List("", "")

	fresh := func(at time.Time) *Store {
		r := NewStore(zaptest.NewLogger(t), "node1", 100)
		r.now = func() time.Time { return at }
		if err := r.Load(path); err != nil {
			t.Fatal(err)
		}
		return r
	}
	now = now.Add(time.Minute)
	r := fresh(now)
	r.Event(node, v1.EventTypeNormal, "Starting", "Starting kubelet.")
	got := r.List("", "")
	if len(got) != 3 || got[0].Name != want[0].Name || got[1].Name != want[1].Name || got[1].Count != 2 ||
		!got[0].FirstTimestamp.Equal(&want[0].FirstTimestamp) || got[2].Reason != "Starting" || got[2].Name == want[0].Name {
		t.Errorf("after a restart: %+v\nsaved: %+v", got, want)
	}
	// 45 minutes on, the first Starting has expired.
	if got := fresh(now.Add(45*time.Minute)).List("", ""); len(got) != 1 || got[0].Reason != "NodeReady" {
		t.Errorf("45 minutes later: %+v", got)
	}
	if err := NewStore(zaptest.NewLogger(t), "node1", 100).Load(filepath.Join(t.TempDir(), "none.json")); err != nil {
		t.Errorf("missing file: %v", err)
	}
	if err := os.WriteFile(path, []byte("{"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := NewStore(zaptest.NewLogger(t), "node1", 100).Load(path); err == nil {
		t.Error("a broken file loaded")
	}
}

// Persist writes the events after a change, and once more when it ends.
func TestPersist(t *testing.T) {
	path := filepath.Join(t.TempDir(), "events.json")
	s := NewStore(zaptest.NewLogger(t), "node1", 100)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	done := make(chan struct{})
	go func() { defer close(done); s.Persist(ctx, path, time.Millisecond) }()
	s.Event(NodeRef("node1"), v1.EventTypeNormal, "Starting", "Starting kubelet.")
	loaded := func() int {
		r := NewStore(zaptest.NewLogger(t), "node1", 100)
		if err := r.Load(path); err != nil {
			return -1
		}
		return len(r.List("", ""))
	}
	for ctx.Err() == nil && loaded() != 1 {
		time.Sleep(10 * time.Millisecond)
	}
	if n := loaded(); n != 1 {
		t.Fatalf("%d events saved after the first, want 1", n)
	}
	s.Event(NodeRef("node1"), v1.EventTypeNormal, "NodeReady", "Node node1 status is now: NodeReady")
	cancel()
	<-done
	if n := loaded(); n != 2 {
		t.Errorf("after Persist ended: %d events saved, want 2", n)
	}
}
