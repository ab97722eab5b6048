package runtime

import (
	"slices"
	"testing"

	"github.com/containerd/containerd/containers"
	"k8s.io/apimachinery/pkg/types"
)

func rec(id, uid, kind, sandbox string) containers.Container {
	return containers.Container{ID: id, Labels: map[string]string{LabelPodUID: uid, LabelKind: kind, LabelSandboxID: sandbox}}
}

func TestPodIndex(t *testing.T) {
	var x podIndex
	if _, ok := x.pod("a"); ok {
		t.Fatal("an index never reconciled says it knows")
	}
	// Ours being created before the first reconciliation, one that fails.
	x.creatingStart("a-app", rec("a-app", "a", "app", "a-sb").Labels)
	x.creatingDone("a-app", true)
	x.creatingStart("a-failed", rec("a-failed", "a", "app", "a-sb").Labels)
	x.creatingDone("a-failed", false)
	known := x.known()
	x.reconcile(known, []containers.Container{
		rec("a-sb", "a", kindSandbox, ""), rec("a-app", "a", "app", "a-sb"),
		rec("b-sb", "b", kindSandbox, ""),
		{ID: "foreign", Labels: map[string]string{"x": "y"}},
	})
	want := map[types.UID][]string{"a": {"a-app", "a-sb"}, "b": {"b-sb"}, "c": {}}
	check := func() {
		t.Helper()
		for uid, ids := range want {
			got, ok := x.pod(uid)
			if !ok || !slices.Equal(got, ids) {
				t.Errorf("pod %s: %v, %v; want %v", uid, got, ok, ids)
			}
		}
	}
	check()
	if got, ok := x.sandbox("a-sb"); !ok || !slices.Equal(sorted(got), []string{"a-app", "a-sb"}) {
		t.Errorf("sandbox a-sb: %v %v", got, ok)
	}
	if _, ok := x.sandbox("unknown"); ok {
		t.Error("an unknown sandbox is answered from the index")
	}

	// A creation event of ours, before newContainer returned; one of
	// someone else's needs a lookup.
	x.creatingStart("b-app", rec("b-app", "b", "app", "b-sb").Labels)
	if !x.created("b-app") {
		t.Error("creation event of a container being created needs a lookup")
	}
	x.creatingDone("b-app", false) // its error came after the creation
	if x.created("c-sb") {
		t.Error("an unknown creation needs no lookup")
	}
	x.add(rec("c-sb", "c", kindSandbox, ""))
	want["b"], want["c"] = []string{"b-app", "b-sb"}, []string{"c-sb"}
	check()

	// Deleted while unsubscribed (a-app), created then (d-sb), created
	// during the listing (c-app, not listed), deleted as the listing ran
	// (c-sb, its event follows).
	known = x.known()
	x.add(rec("c-app", "c", "app", "c-sb"))
	x.reconcile(known, []containers.Container{
		rec("a-sb", "a", kindSandbox, ""), rec("b-sb", "b", kindSandbox, ""), rec("b-app", "b", "app", "b-sb"),
		rec("c-sb", "c", kindSandbox, ""), rec("d-sb", "d", kindSandbox, ""),
	})
	x.drop("c-sb")
	want = map[types.UID][]string{"a": {"a-sb"}, "b": {"b-app", "b-sb"}, "c": {"c-app"}, "d": {"d-sb"}}
	check()
	x.drop("a-sb")
	x.drop("never")
	want["a"] = []string{}
	check()
	if len(x.byPod) != 3 {
		t.Errorf("pods without containers kept: %v", x.byPod)
	}
}

func sorted(s []string) []string {
	slices.Sort(s)
	return s
}
