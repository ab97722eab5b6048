package events

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"time"

	"go.uber.org/zap"
	v1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/types"

	"github.com/minikubelet/minikubelet/internal/atomicfile"
)

// The API server keeps events in etcd for their TTL, so a kubelet's
// restart loses none: `kubectl describe node` still shows the node's
// Starting and NodeReady of before, and a pod's events stay with it. The
// agent keeps them in a file under its root, written after changes and
// read at start.

// Load adds the events saved in path (by Save) that have not expired,
// before any recorded since (call it before recording). A repeat of one is
// a new event, as after a kubelet's restart. A missing file is no error:
// the agent's first start.
func (s *Store) Load(path string) error {
	data, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("read events: %w", err)
	}
	var saved []*v1.Event
	if err := json.Unmarshal(data, &saved); err != nil {
		return fmt.Errorf("events file %s: %w", path, err)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.restored == nil {
		s.restored = map[types.UID]bool{}
	}
	for _, e := range saved {
		s.restored[e.UID] = true
	}
	s.events = append(saved, s.events...)
	if len(s.events) > s.max {
		s.dropLocked(len(s.events) - s.max)
	}
	s.expireLocked(s.now())
	s.notifyLocked()
	return nil
}

// Save writes the events to path, atomically, readable by root alone (an
// event's message may name what a pod runs).
func (s *Store) Save(path string) error {
	data, err := json.Marshal(s.Shared())
	if err != nil {
		return fmt.Errorf("encode events: %w", err)
	}
	if err := atomicfile.Write(path, data, 0o600); err != nil {
		return fmt.Errorf("save events: %w", err)
	}
	return nil
}

// Persist saves the events to path at once (those recorded before it
// started), then after each change, at most once per every (a burst of
// events is one write), and once more when ctx ends. A failed write is
// logged; the next change tries again.
func (s *Store) Persist(ctx context.Context, path string, every time.Duration) {
	save := func() {
		if err := s.Save(path); err != nil {
			s.log.Warn("events not saved", zap.String("path", path), zap.Error(err))
		}
	}
	changed := s.Changed()
	save()
	for {
		select {
		case <-ctx.Done():
			save()
			return
		case <-changed:
		}
		select {
		case <-ctx.Done():
		case <-time.After(every):
		}
		// Taken before the save reads the events: a change while it
		// writes is saved next time.
		changed = s.Changed()
		save()
	}
}
