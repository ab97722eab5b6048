package kubeapi

import (
	"testing"

	v1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// The cache keeps an event as long as it is recorded: an object that points
// into the listed slice keeps the whole slice alive, one per burst.
func TestEventObjectsDoNotPinTheList(t *testing.T) {
	all := []v1.Event{
		{ObjectMeta: metav1.ObjectMeta{Namespace: "default", Name: "a"}, Message: "m1"},
		{ObjectMeta: metav1.ObjectMeta{Namespace: "default", Name: "b"}, Message: "m2"},
	}
	core, v1s := eventObjects(all)
	if len(core) != len(all) || len(v1s) != len(all) {
		t.Fatalf("got %d core and %d events.k8s.io objects for %d events", len(core), len(v1s), len(all))
	}
	for i, o := range core {
		e := o.(*v1.Event)
		for j := range all {
			if e == &all[j] {
				t.Errorf("core object %d points into the listed slice (element %d)", i, j)
			}
		}
		if e.Name != all[i].Name || e.Message != all[i].Message || e.Kind != "Event" || e.APIVersion != "v1" {
			t.Errorf("core object %d = %s/%s %q, want %s %q as v1 Event", i, e.APIVersion, e.Name, e.Message, all[i].Name, all[i].Message)
		}
		if n := v1s[i].GetName(); n != all[i].Name {
			t.Errorf("events.k8s.io object %d named %q, want %q", i, n, all[i].Name)
		}
	}
}
