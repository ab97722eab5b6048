package kubeapi

import (
	"encoding/json"
	"net/http/httptest"
	"strings"
	"testing"

	"go.uber.org/zap/zaptest"
	v1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/minikubelet/minikubelet/source"
)

func TestFieldManagerName(t *testing.T) {
	for _, tc := range []struct {
		name, query, userAgent, want string
		invalid                      bool
	}{
		{name: "kubectl's parameter", query: "?fieldManager=kubectl-label", userAgent: "kubectl/v1.34.2 (linux/amd64) kubernetes/abc", want: "kubectl-label"},
		{name: "user agent prefix", userAgent: "kubectl/v1.34.2 (linux/amd64) kubernetes/abc", want: "kubectl"},
		{name: "Go's default agent", userAgent: "Go-http-client/1.1", want: "Go-http-client"},
		{name: "no slash", userAgent: "curl", want: "curl"},
		{name: "no agent", want: ""},
		{name: "unprintable dropped", userAgent: "my\x01tool/1", want: "mytool"},
		{name: "cut at 128 bytes", userAgent: strings.Repeat("a", 200) + "/1", want: strings.Repeat("a", 128)},
		{name: "too long a parameter", query: "?fieldManager=" + strings.Repeat("m", 129), invalid: true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := httptest.NewRequest("PATCH", "/api/v1/namespaces/default/pods/p"+tc.query, nil)
			r.Header.Set("User-Agent", tc.userAgent)
			got, err := fieldManagerOf(r, "PatchOptions")
			if tc.invalid {
				if err == nil || !strings.Contains(err.Error(), "PatchOptions") {
					t.Fatalf("got %q, %v; want PatchOptions refused", got, err)
				}
				return
			}
			if err != nil || got != tc.want {
				t.Fatalf("got %q, %v; want %q", got, err, tc.want)
			}
		})
	}
}

// What a create records is what kube-apiserver recorded for the same
// request (the reference's exchanges, sent by Go's default client): the
// defaulted fields of the object as sent, not what admission or the
// registry add later.
func TestReferenceManagedFieldsOnCreate(t *testing.T) {
	s := referenceServer(t)
	for golden, create := range map[string]string{"object-pod": "create web", "object-service": "create service web",
		"object-deployment": "create deployment web"} {
		e := exchangeByName(t, create)
		e.path += "?dryRun=All"
		// The reference server serves objects named web already.
		e.body = strings.Replace(e.body, `"name": "web"`, `"name": "fresh"`, 1)
		e.header = map[string]string{"Content-Type": "application/json", "User-Agent": "Go-http-client/1.1"}
		code, _, body := ask(t, s, e)
		if code != 201 {
			t.Fatalf("%s: %d %s", create, code, body)
		}
		got := decodeNormalized(t, create, body).(map[string]any)["metadata"].(map[string]any)["managedFields"]
		want := goldenManagedFields(t, golden)
		reportDiff(t, golden+" managedFields", got, want)
	}
}

// goldenManagedFields are the managedFields of the golden object name.
func goldenManagedFields(t *testing.T, name string) any {
	t.Helper()
	return golden(t, name).(map[string]any)["metadata"].(map[string]any)["managedFields"]
}

// A patch adds the patching manager's entry for the fields it changed, and
// takes them from the manager that had them; the creator keeps the rest.
func TestManagedFieldsAfterPatch(t *testing.T) {
	s := referenceServer(t)
	var created v1.Pod
	if err := json.Unmarshal([]byte(podJSON("web", "")), &created); err != nil {
		t.Fatal(err)
	}
	created.Labels = map[string]string{"app": "web"}
	if err := s.fields.track(v1.SchemeGroupVersion.WithKind("Pod"), nil, &created, "kubectl-create"); err != nil {
		t.Fatal(err)
	}
	// What the API serves of it: with the agent's annotations, node and
	// status, which no manager owns.
	served := created.DeepCopy()
	source.SetPodDefaults(served)
	served.Annotations = map[string]string{"kubernetes.io/config.source": "file"}
	served.Spec.NodeName = "node1"
	served.Status.Phase = v1.PodRunning
	patched := served.DeepCopy()
	patched.Labels["app"] = "api"
	patched.Labels["tier"] = "front"
	if err := s.fields.track(v1.SchemeGroupVersion.WithKind("Pod"), served, patched, "kubectl-label"); err != nil {
		t.Fatal(err)
	}
	type entry struct{ manager, operation, fields string }
	var got []entry
	for _, m := range patched.ManagedFields {
		if m.APIVersion != "v1" || m.FieldsType != "FieldsV1" || m.Time == nil || m.Subresource != "" {
			t.Errorf("entry %+v: want v1, FieldsV1, a time, no subresource", m)
		}
		got = append(got, entry{m.Manager, string(m.Operation), string(m.FieldsV1.Raw)})
	}
	want := []entry{
		// The labels map stays the creator's, its changed keys are the
		// patcher's.
		{"kubectl-create", string(metav1.ManagedFieldsOperationUpdate), `{"f:metadata":{"f:labels":{}},"f:spec":{"f:containers":{"k:{\"name\":\"c\"}":{".":{},"f:command":{},"f:image":{},"f:imagePullPolicy":{},"f:name":{},"f:resources":{},"f:terminationMessagePath":{},"f:terminationMessagePolicy":{}}},"f:dnsPolicy":{},"f:enableServiceLinks":{},"f:restartPolicy":{},"f:schedulerName":{},"f:securityContext":{},"f:terminationGracePeriodSeconds":{}}}`},
		{"kubectl-label", string(metav1.ManagedFieldsOperationUpdate), `{"f:metadata":{"f:labels":{"f:app":{},"f:tier":{}}}}`},
	}
	if len(got) != len(want) {
		t.Fatalf("entries %+v, want %+v", got, want)
	}
	for i := range want {
		if got[i] != want[i] {
			t.Errorf("entry %d:\n got %+v\nwant %+v", i, got[i], want[i])
		}
	}
}

// The type converter (about 150 KiB of heap) is built on the first write,
// not by reads: an agent nobody writes to through the API holds none of it.
func TestFieldManagersBuiltOnFirstWrite(t *testing.T) {
	s, err := New(zaptest.NewLogger(t), Config{Address: "127.0.0.1:6443"}, Deps{ManifestDir: t.TempDir(), NodeName: "node1"})
	if err != nil {
		t.Fatal(err)
	}
	if code, _, body := ask(t, s, exchange{method: "GET", path: "/api/v1/namespaces/default/pods"}); code != 200 {
		t.Fatalf("list pods: %d %s", code, body)
	}
	if s.fields.tc != nil {
		t.Fatal("a read built the type converter")
	}
	code, _, body := ask(t, s, exchange{method: "POST", path: "/api/v1/namespaces/default/pods?dryRun=All", header: jsonBody, body: podJSON("p", "")})
	if code != 201 || s.fields.tc == nil {
		t.Fatalf("a write (%d %s) did not build the type converter", code, body)
	}
}
