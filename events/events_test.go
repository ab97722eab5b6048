package events

import (
	"testing"

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
