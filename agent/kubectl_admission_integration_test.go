//go:build integration

package agent

import (
	"encoding/json"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	v1 "k8s.io/api/core/v1"

	"github.com/minikubelet/minikubelet/internal/testenv"
)

// describeLines are the lines of kubectl describe pod that start with one
// of fields (and the Tolerations' continuation lines), their runs of
// spaces squeezed.
func describeLines(out string, fields ...string) []string {
	var got []string
	inTolerations := false
	for _, l := range strings.Split(out, "\n") {
		if inTolerations && strings.HasPrefix(l, " ") {
			got = append(got, strings.Join(strings.Fields(l), " "))
			continue
		}
		inTolerations = false
		for _, f := range fields {
			if strings.HasPrefix(l, f+":") {
				got = append(got, strings.Join(strings.Fields(l), " "))
				inTolerations = f == "Tolerations"
				break
			}
		}
	}
	return got
}

// A pod kubectl creates is described as a real cluster describes it: the
// Priority plugin's priority and DefaultTolerationSeconds' tolerations,
// which its manifest does not get; a pod from a manifest written by hand
// is a static pod, with the kubelet's NoExecute toleration instead (as its
// mirror pod has), and the same priority.
func TestKubectlDescribeAdmittedPod(t *testing.T) {
	_, a, k := startWithKubectl(t)
	if out, errOut, code := k.run("apiVersion: v1\nkind: Pod\nmetadata:\n  name: made\nspec:\n  containers:\n  - {name: c, image: busybox:latest, command: [sleep, '3600']}\n",
		"create", "-f", "-"); code != 0 || out != "pod/made created\n" {
		t.Fatalf("create: exit %d, %q %q", code, out, errOut)
	}
	a.write("hand.yaml", "apiVersion: v1\nkind: Pod\nmetadata:\n  name: hand\nspec:\n  containers:\n  - {name: c, image: busybox:latest, command: [sleep, '3600']}\n")
	for _, tc := range []struct {
		pod  string
		want []string
	}{
		{"made", []string{"Priority: 0", "Tolerations: node.kubernetes.io/not-ready:NoExecute op=Exists for 300s",
			"node.kubernetes.io/unreachable:NoExecute op=Exists for 300s"}},
		{"hand", []string{"Priority: 0", "Tolerations: :NoExecute op=Exists"}},
	} {
		testenv.WaitFor(t, "describe pod "+tc.pod, func() (bool, string) {
			out, errOut, _ := k.run("", "describe", "pod", tc.pod)
			got := describeLines(out, "Priority", "Tolerations")
			return strings.Join(got, "\n") == strings.Join(tc.want, "\n"), strings.Join(got, "\n") + errOut
		})
	}
	// The manifest kubectl's pod is kept in is as written: no admission.
	data, err := os.ReadFile(filepath.Join(a.cfg.Manifests, "default_made.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	for _, field := range []string{"priority", "tolerations", "preemptionPolicy"} {
		if strings.Contains(string(data), field) {
			t.Errorf("manifest has %s:\n%s", field, data)
		}
	}
}

// A ReplicaSet's pod whose ownerReferences a patch takes out is updated
// (no 405), is an orphan, and its ReplicaSet adopts it again, as
// upstream's: the same pods keep running. A new image bumps its
// generation, and the agent's status reports it observed.
func TestKubectlOrphanControllerPod(t *testing.T) {
	_, a, k := startWithKubectl(t)
	a.write("web.yaml", kubectlWeb)
	waitReady(t, a, k, 2)
	pods := a.deploymentPods("web-")
	p := pods[0]
	owner := func() string { return controllerOf(k, p.Name) }
	rs := owner()
	if !strings.HasPrefix(rs, "ReplicaSet/web-") {
		t.Fatalf("owner of %s: %q", p.Name, rs)
	}
	if out := k.ok("patch", "pod", p.Name, "--type=json", "-p", `[{"op":"remove","path":"/metadata/ownerReferences"}]`); out != "pod/"+p.Name+" patched\n" {
		t.Errorf("patch: %q", out)
	}
	testenv.WaitFor(t, p.Name+" adopted again", func() (bool, string) {
		got := owner()
		return got == rs, got
	})
	waitReady(t, a, k, 2)
	a.samePods(pods, "after the orphaned pod was adopted")

	generations := func() (bool, string) {
		out := k.ok("get", "pod", p.Name, "-o", `jsonpath={.metadata.generation} {.status.observedGeneration} {.status.conditions[*].observedGeneration}`)
		return out == "2 2 2 2 2 2 2", out
	}
	if out := k.ok("get", "pod", p.Name, "-o", "jsonpath={.metadata.generation}"); out != "1" {
		t.Errorf("generation before an update of the spec: %q", out)
	}
	if out := k.ok("set", "image", "pod/"+p.Name, "c=docker.io/library/busybox:1.36"); out != "pod/"+p.Name+" image updated\n" {
		t.Errorf("set image: %q", out)
	}
	testenv.WaitFor(t, p.Name+" generation 2, observed", generations)
}

// The node's events survive an agent restart, as they survive a kubelet's
// in the API server: kubectl still lists the Starting event of before,
// next to the new run's own.
func TestKubectlNodeEventsSurviveRestart(t *testing.T) {
	_, a, k := startWithKubectl(t)
	starting := func() []string {
		out := k.ok("get", "events", "--field-selector", "involvedObject.kind=Node,reason=Starting",
			"-o", `jsonpath={range .items[*]}{.metadata.name}{"\n"}{end}`)
		return strings.Fields(out)
	}
	var before []string
	testenv.WaitFor(t, "the node's Starting event", func() (bool, string) {
		before = starting()
		return len(before) == 1, strings.Join(before, " ")
	})
	cfg := a.cfg
	a.stop()
	startAgent(t, cfg)
	testenv.WaitFor(t, "both runs' Starting events", func() (bool, string) {
		after := starting()
		return len(after) == 2 && slices.Contains(after, before[0]), strings.Join(after, " ")
	})
}

// kubectl create --dry-run=server answers the pod a create would make, as
// an API server does: its admission defaults (priority, preemptionPolicy,
// the default tolerations) and the QoS class of its status; but the pod
// is neither served nor written.
func TestKubectlDryRunCreatePod(t *testing.T) {
	_, a, k := startWithKubectl(t)
	pod := "apiVersion: v1\nkind: Pod\nmetadata:\n  name: dry\nspec:\n  containers:\n  - {name: c, image: busybox:latest, command: [sleep, '3600']}\n"
	out, errOut, code := k.run(pod, "create", "-f", "-", "--dry-run=server", "-o", "jsonpath="+admittedDryRun)
	want := `0 PreemptLowerPriority node.kubernetes.io/not-ready:300 node.kubernetes.io/unreachable:300 ; Pending BestEffort`
	if code != 0 || out != want {
		t.Errorf("create --dry-run=server: exit %d\n got %q\nwant %q\n%s", code, out, want, errOut)
	}
	if _, errOut, code := k.run("", "get", "pod", "dry"); code != 1 || errOut != "Error from server (NotFound): pods \"dry\" not found\n" {
		t.Errorf("get pod dry after a dry run: exit %d %q", code, errOut)
	}
	entries, err := os.ReadDir(a.cfg.Manifests)
	if err != nil && !os.IsNotExist(err) {
		t.Fatal(err)
	}
	for _, e := range entries {
		if strings.Contains(e.Name(), "dry") {
			t.Errorf("dry run wrote %s", e.Name())
		}
	}
}

// kubectl replace --dry-run=server of a pod as served, its image changed,
// and without its status, answers the pod as the update would leave it, as an API server does:
// defaulted, with its UID and status; the pod keeps its image.
func TestKubectlDryRunReplacePod(t *testing.T) {
	_, a, k := startWithKubectl(t)
	pod := "apiVersion: v1\nkind: Pod\nmetadata:\n  name: dry\nspec:\n  containers:\n  - {name: c, image: busybox:latest, command: [sleep, '3600']}\n"
	if out, errOut, code := k.run(pod, "create", "-f", "-"); code != 0 || out != "pod/dry created\n" {
		t.Fatalf("create: exit %d %q %s", code, out, errOut)
	}
	// kubectl replace fills a missing resourceVersion with the one it reads
	// just before its PUT, so a status write in between gets 409 Conflict,
	// from kube-apiserver as from us: wait until the pod's status has settled.
	a.waitPod("dry", "Ready", time.Minute, func(p *v1.Pod) bool {
		return statusIs("Running")(p) && len(p.Status.ContainerStatuses) == 1 && p.Status.ContainerStatuses[0].Ready
	})
	uid := k.ok("get", "pod", "dry", "-o", "jsonpath={.metadata.uid}")
	// Without its resourceVersion and status, as a manifest would be.
	var served map[string]any
	if err := json.Unmarshal([]byte(k.ok("get", "pod", "dry", "-o", "json")), &served); err != nil {
		t.Fatal(err)
	}
	delete(served["metadata"].(map[string]any), "resourceVersion")
	delete(served, "status")
	sent, err := json.Marshal(served)
	if err != nil {
		t.Fatal(err)
	}
	out, errOut, code := k.run(strings.Replace(string(sent), `"busybox:latest"`, `"busybox:1.36.1"`, 1), "replace", "-f", "-", "--dry-run=server", "-o",
		"jsonpath={.metadata.uid} {.spec.containers[0].image} {.spec.containers[0].terminationMessagePath} {.status.qosClass}")
	if want := uid + " busybox:1.36.1 /dev/termination-log BestEffort"; code != 0 || uid == "" || out != want {
		t.Errorf("replace --dry-run=server: exit %d\n got %q\nwant %q\n%s", code, out, want, errOut)
	}
	if out := k.ok("get", "pod", "dry", "-o", "jsonpath={.spec.containers[0].image}"); out != "busybox:latest" {
		t.Errorf("image after a dry-run replace: %q", out)
	}
}

// admittedDryRun prints what admission and the pod's creation set.
const admittedDryRun = `{.spec.priority} {.spec.preemptionPolicy} {range .spec.tolerations[*]}{.key}:{.tolerationSeconds} {end}; {.status.phase} {.status.qosClass}`
