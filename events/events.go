// Package events records kubelet-style events (Pulling, Started, BackOff …)
// about pods and keeps the most recent ones in memory for describe and the API.
package events

import (
	"fmt"
	"slices"
	"sort"
	"sync"
	"time"

	"go.uber.org/zap"
	v1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
)

// Recorder records one event about an object. It never blocks.
type Recorder interface {
	Event(ref *v1.ObjectReference, eventType, reason, message string)
}

// Eventf formats the message and records it through r.
func Eventf(r Recorder, ref *v1.ObjectReference, eventType, reason, format string, args ...any) {
	r.Event(ref, eventType, reason, fmt.Sprintf(format, args...))
}

// PodRef refers to a pod, or to one of its containers when container is set,
// with the fieldPath the kubelet uses (spec.containers{name}).
func PodRef(pod *v1.Pod, container string) *v1.ObjectReference {
	ref := &v1.ObjectReference{
		Kind:       "Pod",
		APIVersion: "v1",
		Namespace:  pod.Namespace,
		Name:       pod.Name,
		UID:        pod.UID,
	}
	if container == "" {
		return ref
	}
	for _, c := range pod.Spec.InitContainers {
		if c.Name == container {
			ref.FieldPath = fmt.Sprintf("spec.initContainers{%s}", container)
			return ref
		}
	}
	ref.FieldPath = fmt.Sprintf("spec.containers{%s}", container)
	return ref
}

// NodeRef refers to the node, as the kubelet's events about it do: no
// namespace, and the node's name for its UID (kubectl describe node looks
// for events under both the Node's UID and its name).
func NodeRef(name string) *v1.ObjectReference {
	return &v1.ObjectReference{Kind: "Node", Name: name, UID: types.UID(name)}
}

// TTL is how long an event is kept after its last occurrence: the API
// server's --event-ttl default.
const TTL = time.Hour

// Store keeps the newest events, folding repeats into a count the way the
// API server's event correlator does, for TTL after their last occurrence
// and at most max of them. An event, once stored, is never modified (a
// repeat replaces it with a copy), so readers share them: the Kubernetes
// API's feed mirrors thousands of events without copying each at every
// change. Safe for concurrent use.
type Store struct {
	log  *zap.Logger
	host string
	max  int
	now  func() time.Time

	mu      sync.Mutex
	seq     uint64
	events  []*v1.Event   // oldest first by last occurrence; never modified
	changed chan struct{} // closed and replaced at every change
	// restored are the UIDs of the events Load brought back: a restarted
	// kubelet's recorder has forgotten them, so a repeat is a new event.
	restored map[types.UID]bool
}

var _ Recorder = (*Store)(nil)

// NewStore keeps at most max events, each for TTL; host names the node in
// event sources.
func NewStore(log *zap.Logger, host string, max int) *Store {
	return &Store{log: log, host: host, max: max, now: time.Now, changed: make(chan struct{})}
}

// Changed returns a channel closed at the next recorded event, for
// watchers (the Kubernetes API's events watch).
func (s *Store) Changed() <-chan struct{} {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.changed
}

// notifyLocked wakes the waiters of Changed; s.mu must be held.
func (s *Store) notifyLocked() {
	close(s.changed)
	s.changed = make(chan struct{})
}

// Event records an event from the kubelet, or bumps the count of an
// identical recent one.
func (s *Store) Event(ref *v1.ObjectReference, eventType, reason, message string) {
	s.EventFrom("kubelet", ref, eventType, reason, message)
}

// For is a Recorder whose events come from component (for example
// "deployment-controller"), as the source and reporting controller show.
func (s *Store) For(component string) Recorder { return componentRecorder{s, component} }

type componentRecorder struct {
	s         *Store
	component string
}

func (r componentRecorder) Event(ref *v1.ObjectReference, eventType, reason, message string) {
	r.s.EventFrom(r.component, ref, eventType, reason, message)
}

// EventFrom is Event with the component that reports it. Controllers'
// events carry no host, as upstream's.
func (s *Store) EventFrom(component string, ref *v1.ObjectReference, eventType, reason, message string) {
	now := metav1.NewTime(s.now())
	fields := []zap.Field{
		zap.String("object", ref.Namespace+"/"+ref.Name), zap.String("type", eventType),
		zap.String("reason", reason), zap.String("message", message),
	}
	if ref.FieldPath != "" {
		fields = append(fields, zap.String("fieldPath", ref.FieldPath))
	}
	if eventType == v1.EventTypeWarning {
		s.log.Warn("event", fields...)
	} else {
		s.log.Info("event", fields...)
	}

	s.mu.Lock()
	defer s.mu.Unlock()
	s.expireLocked(now.Time)
	for i := len(s.events) - 1; i >= 0; i-- {
		e := s.events[i]
		if e.InvolvedObject == *ref && e.Type == eventType && e.Reason == reason && e.Message == message &&
			e.Source.Component == component && !s.restored[e.UID] {
			// A copy, as readers may hold e; the fields it shares with e
			// (strings, the reference) are never modified either.
			bumped := *e
			bumped.Count++
			bumped.LastTimestamp = now
			// Move it to the end so List stays ordered by last occurrence.
			copy(s.events[i:], s.events[i+1:])
			s.events[len(s.events)-1] = &bumped
			s.notifyLocked()
			return
		}
	}
	s.seq++
	host := s.host
	if component != "kubelet" {
		host = ""
	}
	// An event about a cluster-scoped object (the node) lives in default,
	// as the API server's event recorder puts it.
	namespace := ref.Namespace
	if namespace == "" {
		namespace = metav1.NamespaceDefault
	}
	s.events = append(s.events, &v1.Event{
		ObjectMeta: metav1.ObjectMeta{
			Name:              fmt.Sprintf("%s.%x", ref.Name, uint64(now.UnixNano())+s.seq),
			Namespace:         namespace,
			UID:               types.UID(fmt.Sprintf("%x-%d", now.UnixNano(), s.seq)),
			CreationTimestamp: now,
		},
		InvolvedObject:      *ref,
		Reason:              reason,
		Message:             message,
		Source:              v1.EventSource{Component: component, Host: host},
		FirstTimestamp:      now,
		LastTimestamp:       now,
		Count:               1,
		Type:                eventType,
		ReportingController: component,
		ReportingInstance:   host,
	})
	if len(s.events) > s.max {
		s.dropLocked(len(s.events) - s.max)
	}
	s.notifyLocked()
}

// expireLocked drops the events last seen more than TTL before now. They
// are the oldest, as events are ordered by last occurrence.
func (s *Store) expireLocked(now time.Time) {
	n := 0
	for n < len(s.events) && now.Sub(s.events[n].LastTimestamp.Time) > TTL {
		n++
	}
	if n > 0 {
		s.dropLocked(n)
		s.notifyLocked()
	}
}

// dropLocked drops the n oldest events. The slice is moved down rather
// than resliced, so that its array does not keep the dropped events alive.
func (s *Store) dropLocked(n int) {
	kept := copy(s.events, s.events[n:])
	clear(s.events[kept:])
	s.events = s.events[:kept]
}

// List returns copies of the events in namespace (all when ""; the node's
// are in default), about the object named name (all when ""), oldest first
// by last occurrence. The copies share the events' strings and maps, which
// nobody modifies.
func (s *Store) List(namespace, name string) []v1.Event {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.expireLocked(s.now())
	var out []v1.Event
	for _, e := range s.events {
		if (namespace == "" || e.Namespace == namespace) && (name == "" || e.InvolvedObject.Name == name) {
			out = append(out, *e)
		}
	}
	sort.SliceStable(out, func(i, j int) bool { return out[i].LastTimestamp.Before(&out[j].LastTimestamp) })
	return out
}

// Shared returns the stored events themselves, oldest first by last
// occurrence. The caller must not modify them; an event that changes is
// replaced by another, so the same pointer means the same event.
func (s *Store) Shared() []*v1.Event {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.expireLocked(s.now())
	return slices.Clone(s.events)
}
