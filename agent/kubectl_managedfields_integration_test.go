//go:build integration

package agent

import (
	"bytes"
	"encoding/json"
	"slices"
	"strings"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// Writes through the API record who set which fields, as the API server's
// do: kubectl create, label, annotate and apply each add their manager's entry,
// `get --show-managed-fields` shows them (plain -o yaml does not: kubectl
// leaves them out), and they are kept in the manifest, so the same entries
// are served after the agent restarts.
func TestKubectlManagedFields(t *testing.T) {
	_, a, k := startWithKubectl(t)
	pod := "apiVersion: v1\nkind: Pod\nmetadata:\n  name: mf\nspec:\n  terminationGracePeriodSeconds: 1\n" +
		"  containers:\n  - {name: c, image: docker.io/library/busybox:latest, imagePullPolicy: IfNotPresent, command: [sleep, '3600']}\n"
	if out, errOut, code := k.run(pod, "create", "-f", "-"); code != 0 {
		t.Fatalf("create pod: exit %d %s %s", code, out, errOut)
	}
	before := a.waitPod("mf", "Running", time.Minute, statusIs("Running"))
	k.ok("label", "pod", "mf", "tier=front")
	k.ok("create", "service", "clusterip", "mf", "--tcp=80:80")
	k.ok("create", "deployment", "mf", "--image=docker.io/library/busybox:latest", "--replicas=0")
	k.ok("annotate", "deployment", "mf", "note=kept")
	// kubectl's client-side apply: a create, then a patch.
	for _, v := range []string{"one", "two"} {
		if out, errOut, code := k.run("apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: mf\ndata:\n  k: "+v+"\n", "apply", "-f", "-"); code != 0 {
			t.Fatalf("apply configmap: exit %d %s %s", code, out, errOut)
		}
	}

	type entry struct{ Manager, Operation, APIVersion, FieldsType, Fields string }
	managed := func(kind string) ([]metav1.ManagedFieldsEntry, []entry) {
		t.Helper()
		var obj struct {
			Metadata metav1.ObjectMeta `json:"metadata"`
		}
		if err := json.Unmarshal([]byte(k.ok("get", kind, "mf", "-o", "json", "--show-managed-fields")), &obj); err != nil {
			t.Fatalf("get %s mf: %v", kind, err)
		}
		var got []entry
		for _, m := range obj.Metadata.ManagedFields {
			if m.Time == nil || m.FieldsV1 == nil {
				t.Errorf("%s mf: entry of %s without a time or fields", kind, m.Manager)
				continue
			}
			var fields bytes.Buffer
			if err := json.Compact(&fields, m.FieldsV1.Raw); err != nil {
				t.Fatalf("%s mf: fields of %s: %v", kind, m.Manager, err)
			}
			got = append(got, entry{m.Manager, string(m.Operation), m.APIVersion, m.FieldsType, fields.String()})
		}
		// The API server sorts entries by time, to the second, then by
		// manager: these were all written within seconds.
		slices.SortFunc(got, func(a, b entry) int { return strings.Compare(a.Manager, b.Manager) })
		return obj.Metadata.ManagedFields, got
	}
	check := func(kind string, want []entry) []metav1.ManagedFieldsEntry {
		t.Helper()
		all, got := managed(kind)
		if len(got) != len(want) {
			t.Fatalf("%s mf: managedFields %+v, want %d entries", kind, got, len(want))
		}
		for i, w := range want {
			g := got[i]
			// The creator's fields are the defaulted spec (the reference
			// tests hold them to kube-apiserver's): checked here by a
			// field every create sets.
			if w.Fields == "" && strings.Contains(g.Fields, `"f:spec"`) {
				g.Fields = ""
			}
			if g != w {
				t.Errorf("%s mf: entry %d\n got %+v\nwant %+v", kind, i, g, w)
			}
		}
		return all
	}
	wantPod := []entry{
		{"kubectl-create", "Update", "v1", "FieldsV1", ""},
		{"kubectl-label", "Update", "v1", "FieldsV1", `{"f:metadata":{"f:labels":{".":{},"f:tier":{}}}}`},
	}
	wantService := []entry{{"kubectl-create", "Update", "v1", "FieldsV1", ""}}
	wantDeployment := []entry{
		{"kubectl-annotate", "Update", "apps/v1", "FieldsV1", `{"f:metadata":{"f:annotations":{".":{},"f:note":{}}}}`},
		{"kubectl-create", "Update", "apps/v1", "FieldsV1", ""},
	}
	wantConfigMap := []entry{{"kubectl-client-side-apply", "Update", "v1", "FieldsV1",
		`{"f:data":{".":{},"f:k":{}},"f:metadata":{"f:annotations":{".":{},"f:kubectl.kubernetes.io/last-applied-configuration":{}}}}`}}
	podFields := check("pod", wantPod)
	check("service", wantService)
	check("deployment", wantDeployment)
	check("configmap", wantConfigMap)
	if out := k.ok("get", "pod", "mf", "-o", "yaml"); strings.Contains(out, "managedFields") {
		t.Errorf("plain -o yaml shows managedFields:\n%s", out)
	}

	cfg := a.cfg
	a.stop()
	a = startAgent(t, cfg)
	after := a.waitPod("mf", "Running again", time.Minute, statusIs("Running"))
	if after.UID != before.UID {
		t.Errorf("the restart replaced the pod: uid %s → %s", before.UID, after.UID)
	}
	eventually(t, "the deployment served again", func() bool {
		_, _, code := k.run("", "get", "deployment", "mf")
		return code == 0
	})
	again := check("pod", wantPod)
	check("service", wantService)
	check("deployment", wantDeployment)
	check("configmap", wantConfigMap)
	if b, a := mustJSON(t, podFields), mustJSON(t, again); b != a {
		t.Errorf("the pod's managedFields changed across the restart:\n%s\n%s", b, a)
	}
}

func mustJSON(t *testing.T, v any) string {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}
