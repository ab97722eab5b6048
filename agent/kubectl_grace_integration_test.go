//go:build integration

package agent

import (
	"encoding/json"
	"strings"
	"testing"
	"time"

	v1 "k8s.io/api/core/v1"

	"github.com/minikubelet/minikubelet/internal/testenv"
)

// negativeGraceWarning is the API server's warning for a negative
// terminationGracePeriodSeconds at fld (pkg/api/pod/warnings.go).
func negativeGraceWarning(fld string) string {
	return fld + ".terminationGracePeriodSeconds: must be >= 0; negative values are invalid and will be treated as 1"
}

// A negative terminationGracePeriodSeconds is accepted, as by the API
// server, and read as 1: a Pod is served with 1 and terminates with 1 (no
// warning: the API server converts it before it looks), a Deployment keeps
// its template's value with kubectl printing the API server's warning, and
// the pods it makes get 1. A manifest written by hand is named in the
// agent's warnings. A delete asking for a negative grace period is not
// refused either: it is 1.
func TestKubectlNegativeGracePeriod(t *testing.T) {
	env, a, k := startWithKubectl(t)
	// The container ignores SIGTERM: the pod goes after its grace period.
	const stubborn = "  - {name: c, image: busybox, command: [sh, -c, 'trap \"\" TERM; while true; do sleep 0.1; done']}\n"
	out, errOut, code := k.run("apiVersion: v1\nkind: Pod\nmetadata: {name: neg}\nspec:\n  terminationGracePeriodSeconds: -5\n  containers:\n"+stubborn,
		"create", "-f", "-")
	if code != 0 || out != "pod/neg created\n" || errOut != "" {
		t.Fatalf("create: exit %d, %q %q", code, out, errOut)
	}
	if got := k.ok("get", "pod", "neg", "-o", "jsonpath={.spec.terminationGracePeriodSeconds}"); got != "1" {
		t.Errorf("served terminationGracePeriodSeconds %q, want 1", got)
	}
	p := a.waitPod("neg", "Running", time.Minute, statusIs("Running"))

	a.write("hand.yaml", "apiVersion: v1\nkind: Pod\nmetadata: {name: hand}\nspec:\n  terminationGracePeriodSeconds: -7\n  containers:\n"+stubborn)
	hand := a.waitPod("hand", "Running", time.Minute, statusIs("Running"))
	if g := hand.Spec.TerminationGracePeriodSeconds; g == nil || *g != 1 {
		t.Errorf("hand-written pod's terminationGracePeriodSeconds %s, want 1", ptrString(g))
	}
	want := a.cfg.Manifests + "/hand.yaml: " + negativeGraceWarning("spec")
	if warnings, ok := a.waitWarnings([]string{want}, time.Minute); !ok {
		t.Errorf("agent warnings %q, want one ending %q", warnings, want)
	}

	// A delete with gracePeriodSeconds -3 (kubectl itself never sends a
	// negative one: --grace-period=-1 means the pod's own).
	out, errOut, code = k.run("", "delete", "--raw", "/api/v1/namespaces/default/pods/neg?gracePeriodSeconds=-3")
	if code != 0 {
		t.Fatalf("delete with gracePeriodSeconds=-3: exit %d, %q %q", code, out, errOut)
	}
	var gone v1.Pod
	if err := json.Unmarshal([]byte(out), &gone); err != nil {
		t.Fatalf("delete answer: %v\n%s", err, out)
	}
	if g := gone.DeletionGracePeriodSeconds; g == nil || *g != 1 {
		t.Errorf("delete answer's deletionGracePeriodSeconds %s, want 1", ptrString(g))
	}
	// The grace period the pod worker kills with is the one the pod
	// reports while terminating.
	d := a.waitPod("neg", "Terminating", 30*time.Second, statusIs("Terminating"))
	if g := d.DeletionGracePeriodSeconds; g == nil || *g != 1 {
		t.Errorf("terminating pod's deletionGracePeriodSeconds %s, want 1", ptrString(g))
	}
	a.waitGone("neg", 90*time.Second)

	a.remove("hand.yaml")
	d = a.waitPod("hand", "Terminating", 30*time.Second, statusIs("Terminating"))
	if g := d.DeletionGracePeriodSeconds; g == nil || *g != 1 {
		t.Errorf("terminating hand-written pod's deletionGracePeriodSeconds %s, want 1", ptrString(g))
	}
	a.waitGone("hand", 90*time.Second)

	deploy := `apiVersion: apps/v1
kind: Deployment
metadata: {name: negd}
spec:
  replicas: 1
  selector:
    matchLabels: {app: negd}
  template:
    metadata:
      labels: {app: negd}
    spec:
      terminationGracePeriodSeconds: -5
      containers:
      - {name: c, image: busybox, command: [sleep, '3600']}
`
	out, errOut, code = k.run(deploy, "apply", "-f", "-")
	if code != 0 || out != "deployment.apps/negd created\n" {
		t.Fatalf("apply: exit %d, %q %q", code, out, errOut)
	}
	if w := "Warning: " + negativeGraceWarning("spec.template.spec") + "\n"; errOut != w {
		t.Errorf("apply's stderr %q, want %q", errOut, w)
	}
	if got := k.ok("get", "deploy", "negd", "-o", "jsonpath={.spec.template.spec.terminationGracePeriodSeconds}"); got != "-5" {
		t.Errorf("deployment's template terminationGracePeriodSeconds %q, want -5 as written", got)
	}
	testenv.WaitFor(t, "the deployment's pod", func() (bool, string) {
		out, _, _ := k.run("", "get", "pods", "-l", "app=negd", "-o", "jsonpath={.items[*].spec.terminationGracePeriodSeconds}")
		return out == "1", out
	})
	// An update that leaves the spec alone warns of nothing.
	out, errOut, code = k.run("", "label", "deploy", "negd", "x=y")
	if code != 0 || strings.Contains(errOut, "Warning") {
		t.Errorf("label: exit %d, %q %q", code, out, errOut)
	}
	k.ok("delete", "deploy", "negd")
	testenv.WaitFor(t, "the deployment's pod gone", func() (bool, string) {
		out, _, _ := k.run("", "get", "pods", "-o", "name")
		return out == "", out
	})
	env.AssertPodGone(t, p)
	env.AssertPodGone(t, hand)
}
