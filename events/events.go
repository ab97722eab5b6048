// Package events records kubelet-style events (Pulling, Started, BackOff …)
// about pods and keeps the most recent ones in memory for describe and the API.
package events

import (
	"fmt"
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

// Store keeps the newest events, folding repeats into a count the way the
// API server's event correlator does. Safe for concurrent use.
type Store struct {
	log  *zap.Logger
	host string
	max  int
	now  func() time.Time

	mu      sync.Mutex
	seq     uint64
	events  []*v1.Event   // oldest first
	changed chan struct{} // closed and replaced at every change
}

var _ Recorder = (*Store)(nil)

// NewStore keeps at most max events; host names the node in event sources.
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
	for i := len(s.events) - 1; i >= 0; i-- {
		e := s.events[i]
		if e.InvolvedObject == *ref && e.Type == eventType && e.Reason == reason && e.Message == message &&
			e.Source.Component == component {
			e.Count++
			e.LastTimestamp = now
			// Move it to the end so List stays ordered by last occurrence.
			copy(s.events[i:], s.events[i+1:])
			s.events[len(s.events)-1] = e
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
		s.events = s.events[len(s.events)-s.max:]
	}
	s.notifyLocked()
}

// List returns copies of the events in namespace (all when ""; the node's
// are in default), about the object named name (all when ""), oldest first
// by last occurrence.
func (s *Store) List(namespace, name string) []v1.Event {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []v1.Event
	for _, e := range s.events {
		if (namespace == "" || e.Namespace == namespace) && (name == "" || e.InvolvedObject.Name == name) {
			out = append(out, *e.DeepCopy())
		}
	}
	sort.SliceStable(out, func(i, j int) bool { return out[i].LastTimestamp.Before(&out[j].LastTimestamp) })
	return out
}
