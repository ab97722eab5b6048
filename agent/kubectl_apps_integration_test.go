//go:build integration

package agent

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	autoscalingv1 "k8s.io/api/autoscaling/v1"
	v1 "k8s.io/api/core/v1"

	"github.com/minikubelet/minikubelet/internal/testenv"
)

// kubectlWeb is a Deployment of sleeping busybox pods that end at once.
const kubectlWeb = `# the web tier
apiVersion: apps/v1
kind: Deployment
metadata:
  name: web
spec:
  replicas: 2 # two web pods
  selector:
    matchLabels: {app: web}
  template:
    metadata:
      labels: {app: web}
    spec:
      terminationGracePeriodSeconds: 1
      containers:
      - {name: c, image: busybox:latest, command: [sleep, '3600']}
`

// waitReady waits until kubectl get deploy web shows n of n ready and
// the Deployment's pods (not terminating) are n.
func waitReady(t *testing.T, a *testAgent, k *kubectlRunner, n int) {
	t.Helper()
	testenv.WaitFor(t, fmt.Sprintf("deployment web %d/%d", n, n), func() (bool, string) {
		out, _, _ := k.run("", "get", "deploy", "web")
		want := fmt.Sprintf("web %d/%d %d %d *", n, n, n, n)
		pods := a.deploymentPods("web-")
		return linesMatch(out, []string{"NAME READY UP-TO-DATE AVAILABLE AGE", want}) && len(pods) == n,
			fmt.Sprintf("%s pods %v", out, podNames(pods))
	})
}

// controllerOf is kind/name of the controller of pod, as kubectl gets it
// ("" for none).
func controllerOf(k *kubectlRunner, pod string) string {
	return k.ok("get", "pod", pod, "-o", `jsonpath={range .metadata.ownerReferences[?(@.controller==true)]}{.kind}/{.name}{end}`)
}

// kubectl scale through the scale subresource (autoscaling/v1 Scale):
// patched, read and updated with --current-replicas, refused on a wrong
// precondition; the new replicas are written into the manifest, and the
// pods follow. A ReplicaSet scaled by hand goes back to what its
// Deployment wants.
func TestKubectlScale(t *testing.T) {
	_, a, k := startWithKubectl(t)
	a.write("web.yaml", kubectlWeb)
	waitReady(t, a, k, 2)

	if out := k.ok("scale", "deploy/web", "--replicas=3"); out != "deployment.apps/web scaled\n" {
		t.Errorf("scale: %q", out)
	}
	waitReady(t, a, k, 3)
	manifest, err := os.ReadFile(filepath.Join(a.cfg.Manifests, "web.yaml"))
	if err != nil || !strings.Contains(string(manifest), "replicas: 3 # two web pods\n") {
		t.Errorf("manifest after scale (%v):\n%s", err, manifest)
	}

	var sc autoscalingv1.Scale
	raw := k.ok("get", "--raw", "/apis/apps/v1/namespaces/default/deployments/web/scale")
	if err := json.Unmarshal([]byte(raw), &sc); err != nil || sc.Kind != "Scale" || sc.APIVersion != "autoscaling/v1" ||
		sc.Spec.Replicas != 3 || sc.Status.Replicas != 3 || sc.Status.Selector != "app=web" || sc.Name != "web" {
		t.Errorf("scale subresource: %v %s", err, raw)
	}

	// --current-replicas: a get, then an update of the Scale.
	if _, errOut, code := k.run("", "scale", "deploy/web", "--current-replicas=5", "--replicas=1"); code == 0 ||
		!strings.Contains(errOut, "Expected replicas to be 5, was 3") {
		t.Errorf("scale with a wrong precondition: exit %d %s", code, errOut)
	}
	if out := k.ok("scale", "deployment", "web", "--current-replicas=3", "--replicas=1"); out != "deployment.apps/web scaled\n" {
		t.Errorf("scale --current-replicas: %q", out)
	}
	waitReady(t, a, k, 1)

	// A ReplicaSet of the Deployment scaled by hand: accepted, then scaled
	// back by the deployment controller.
	rs := strings.TrimSpace(k.ok("get", "rs", "-l", "app=web", "-o", "name"))
	if !strings.HasPrefix(rs, "replicaset.apps/web-") || strings.Contains(rs, "\n") {
		t.Fatalf("replica sets: %q", rs)
	}
	if out := k.ok("scale", rs, "--replicas=4"); out != rs+" scaled\n" {
		t.Errorf("scale rs: %q", out)
	}
	if out := k.ok("get", rs, "-o", "jsonpath={.spec.replicas}"); out != "1" {
		t.Errorf("replica set after its scale: spec.replicas %q, want 1 (its Deployment's)", out)
	}
	waitReady(t, a, k, 1)

	if _, errOut, code := k.run("", "scale", "deploy/nothere", "--replicas=1"); code == 0 ||
		!strings.Contains(errOut, `deployments.apps "nothere" not found`) {
		t.Errorf("scale of a missing deployment: exit %d %s", code, errOut)
	}
}

// The rollout commands and set image with the real kubectl.
func TestKubectlRollout(t *testing.T) {
	_, a, k := startWithKubectl(t)
	a.write("web.yaml", kubectlWeb)
	waitReady(t, a, k, 2)
	if out := k.ok("rollout", "status", "deploy/web"); !strings.Contains(out, `deployment "web" successfully rolled out`) {
		t.Errorf("rollout status: %q", out)
	}

	if out := k.ok("set", "image", "deploy/web", "c=busybox:1.36"); out != "deployment.apps/web image updated\n" {
		t.Errorf("set image: %q", out)
	}
	if out := k.ok("rollout", "status", "deploy/web", "--timeout=2m"); !strings.Contains(out, `deployment "web" successfully rolled out`) {
		t.Errorf("rollout status after set image: %q", out)
	}
	waitReady(t, a, k, 2)
	if got := webImages(a); got != "busybox:1.36 busybox:1.36" {
		t.Errorf("images after set image: %q", got)
	}
	out := k.ok("rollout", "history", "deploy/web")
	if !linesMatch(out, []string{"deployment.apps/web", "REVISION CHANGE-CAUSE", "1 <none>", "2 <none>"}) {
		t.Errorf("rollout history:\n%s", out)
	}
	if out := k.ok("rollout", "history", "deploy/web", "--revision=1"); !strings.Contains(out, "busybox:latest") {
		t.Errorf("rollout history --revision=1:\n%s", out)
	}

	if out := k.ok("rollout", "undo", "deploy/web"); out != "deployment.apps/web rolled back\n" {
		t.Errorf("rollout undo: %q", out)
	}
	k.ok("rollout", "status", "deploy/web", "--timeout=2m")
	waitReady(t, a, k, 2)
	if got := webImages(a); got != "busybox:latest busybox:latest" {
		t.Errorf("images after undo: %q", got)
	}
	out = k.ok("rollout", "history", "deploy/web")
	if !linesMatch(out, []string{"deployment.apps/web", "REVISION CHANGE-CAUSE", "2 <none>", "3 <none>"}) {
		t.Errorf("rollout history after undo:\n%s", out)
	}

	if out := k.ok("rollout", "pause", "deploy/web"); out != "deployment.apps/web paused\n" {
		t.Errorf("rollout pause: %q", out)
	}
	if _, errOut, code := k.run("", "rollout", "restart", "deploy/web"); code == 0 || !strings.Contains(errOut, "paused") {
		t.Errorf("rollout restart of a paused deployment: exit %d %s", code, errOut)
	}
	if out := k.ok("rollout", "resume", "deploy/web"); out != "deployment.apps/web resumed\n" {
		t.Errorf("rollout resume: %q", out)
	}
	before := a.deploymentPods("web-")
	if out := k.ok("rollout", "restart", "deploy/web"); out != "deployment.apps/web restarted\n" {
		t.Errorf("rollout restart: %q", out)
	}
	k.ok("rollout", "status", "deploy/web", "--timeout=2m")
	waitReady(t, a, k, 2)
	// The manifest holds the changes, not what the API server fills in,
	// and keeps the user's comments.
	manifest, err := os.ReadFile(filepath.Join(a.cfg.Manifests, "web.yaml"))
	if err != nil || !strings.Contains(string(manifest), "kubectl.kubernetes.io/restartedAt") ||
		!strings.Contains(string(manifest), "busybox:latest") ||
		!strings.HasPrefix(string(manifest), "# the web tier\napiVersion: apps/v1\n") || !strings.Contains(string(manifest), "replicas: 2 # two web pods\n") {
		t.Errorf("manifest after the rollouts (%v):\n%s", err, manifest)
	}
	for _, server := range []string{"deployment.kubernetes.io/revision", "terminationMessagePath", "progressDeadlineSeconds", "status:"} {
		if strings.Contains(string(manifest), server) {
			t.Errorf("manifest after the rollouts has %s:\n%s", server, manifest)
		}
	}
	after := podNames(a.deploymentPods("web-"))
	for _, p := range before {
		if slices.Contains(after, p.Name) {
			t.Errorf("pod %s still running after rollout restart: %v", p.Name, after)
		}
	}
}

// webImages lists the images of the Deployment web's running pods.
func webImages(a *testAgent) string {
	var out []string
	for _, p := range a.deploymentPods("web-") {
		out = append(out, p.Spec.Containers[0].Image)
	}
	return strings.Join(out, " ")
}

// kubectl label, annotate and set image of a pod a Deployment made: the
// API stores the update and the pod keeps running (a new image restarts
// that container), as upstream. An annotation or a label the selector
// does not look at leaves it with its ReplicaSet; a
// selector label removed makes the ReplicaSet release it (no controller
// reference) and make a replacement. The released pod stays released,
// and the ReplicaSet at its count, across an agent restart.
func TestKubectlLabelControllerPod(t *testing.T) {
	_, a, k := startWithKubectl(t)
	a.write("web.yaml", kubectlWeb)
	waitReady(t, a, k, 2)
	pods := a.deploymentPods("web-")
	p := pods[0]
	owner := func(name string) string { return controllerOf(k, name) }
	rs := owner(p.Name)
	if !strings.HasPrefix(rs, "ReplicaSet/web-") {
		t.Fatalf("owner of %s: %q", p.Name, rs)
	}

	if out := k.ok("annotate", "pod", p.Name, "note=kept"); out != "pod/"+p.Name+" annotated\n" {
		t.Errorf("annotate: %q", out)
	}
	if out := k.ok("label", "pod", p.Name, "tier=front"); out != "pod/"+p.Name+" labeled\n" {
		t.Errorf("label: %q", out)
	}
	a.waitPod(p.Name, "the annotation and label", time.Minute, func(q *v1.Pod) bool {
		return q.Annotations["note"] == "kept" && q.Labels["tier"] == "front"
	})
	if got := owner(p.Name); got != rs {
		t.Errorf("owner after annotate and label: %q, want %q", got, rs)
	}
	a.samePods(pods, "after an annotation and a label outside the selector")

	// A new image: the pod's container restarts with it, in place.
	if out := k.ok("set", "image", "pod/"+p.Name, "c=docker.io/library/busybox:1.36"); out != "pod/"+p.Name+" image updated\n" {
		t.Errorf("set image: %q", out)
	}
	imaged := a.waitPod(p.Name, "c restarted with the new image", time.Minute, func(q *v1.Pod) bool {
		st := cstatus(q, "c")
		return st.ContainerID != cstatus(p, "c").ContainerID && st.State.Running != nil
	})
	if imaged.UID != p.UID || imaged.Spec.Containers[0].Image != "docker.io/library/busybox:1.36" || owner(p.Name) != rs {
		t.Errorf("after set image: uid %s (was %s), image %s, owner %s", imaged.UID, p.UID, imaged.Spec.Containers[0].Image, owner(p.Name))
	}

	if out := k.ok("label", "pod", p.Name, "app-"); out != "pod/"+p.Name+" unlabeled\n" {
		t.Errorf("label app-: %q", out)
	}
	testenv.WaitFor(t, p.Name+" released", func() (bool, string) {
		got := owner(p.Name)
		return got == "", got
	})
	waitReady(t, a, k, 2)
	released := a.waitPod(p.Name, "the released pod", time.Minute, func(q *v1.Pod) bool { return q.Labels["app"] == "" })
	if released.UID != p.UID || released.Status.Phase != v1.PodRunning || released.Annotations["note"] != "kept" {
		t.Errorf("released pod: uid %s (was %s), phase %s, annotations %v", released.UID, p.UID, released.Status.Phase, released.Annotations)
	}
	after := a.deploymentPods("web-")
	if slices.ContainsFunc(after, func(q *v1.Pod) bool { return q.UID == p.UID }) {
		t.Errorf("the released pod still counts among app=web: %v", podNames(after))
	}
	if !slices.ContainsFunc(after, func(q *v1.Pod) bool { return q.UID == pods[1].UID }) {
		t.Errorf("the other pod was replaced: %v", podNames(after))
	}

	cfg := a.cfg
	a.stop()
	a = startAgent(t, cfg)
	waitReady(t, a, k, 2)
	a.samePods(after, "after a restart")
	kept := a.waitPod(p.Name, "the released pod after a restart", time.Minute, func(q *v1.Pod) bool { return q.Status.Phase == v1.PodRunning })
	if kept.UID != p.UID || kept.Labels["app"] != "" || kept.Labels["tier"] != "front" || len(kept.OwnerReferences) != 0 ||
		kept.Spec.Containers[0].Image != "docker.io/library/busybox:1.36" {
		t.Errorf("released pod after a restart: uid %s (was %s), labels %v, owners %v, image %s",
			kept.UID, p.UID, kept.Labels, kept.OwnerReferences, kept.Spec.Containers[0].Image)
	}
}

// A Deployment whose template names a PriorityClass that does not exist
// makes no pod: as upstream's Priority admission refuses them, its
// ReplicaSet records FailedCreate warnings with the API server's message
// (kubectl describe rs shows them) and has the ReplicaFailure condition,
// as its Deployment has. A patch that drops the class makes the pods.
func TestKubectlUnknownPriorityClass(t *testing.T) {
	_, a, k := startWithKubectl(t)
	gold := strings.Replace(strings.Replace(kubectlWeb, "replicas: 2", "replicas: 1", 1),
		"      containers:", "      priorityClassName: gold\n      containers:", 1)
	if out, errOut, code := k.run(gold, "create", "-f", "-"); code != 0 || out != "deployment.apps/web created\n" {
		t.Fatalf("create: exit %d %q %s", code, out, errOut)
	}
	var rs string
	testenv.WaitFor(t, "the ReplicaSet's ReplicaFailure condition", func() (bool, string) {
		out, _, _ := k.run("", "get", "rs", "-l", "app=web", "-o",
			`jsonpath={range .items[*]}{.metadata.name}|{range .status.conditions[*]}{.type} {.status} {.reason}: {.message}{end}{"\n"}{end}`)
		name, cond, _ := strings.Cut(strings.TrimSpace(out), "|")
		rs = name
		return name != "" && cond == `ReplicaFailure True FailedCreate: pods "`+name+`-" is forbidden: no PriorityClass with name gold was found`, out
	})
	msg := `Error creating: pods "` + rs + `-" is forbidden: no PriorityClass with name gold was found`
	// The condition and the event come from one sync, but the API's event
	// feed copies events in on its own: the event may follow a moment later.
	testenv.WaitFor(t, "describe rs to show the FailedCreate event", func() (bool, string) {
		out := k.ok("describe", "rs", rs)
		return hasLineWith(out, "Warning", "FailedCreate", "replicaset-controller", msg), out
	})
	if out := k.ok("get", "deploy", "web", "-o", `jsonpath={.status.conditions[?(@.type=="ReplicaFailure")].reason}`); out != "FailedCreate" {
		t.Errorf("deployment ReplicaFailure: %q", out)
	}
	if pods := a.deploymentPods("web-"); len(pods) != 0 {
		t.Errorf("pods made: %v", podNames(pods))
	}

	if out := k.ok("patch", "deploy", "web", "--type=json", "-p", `[{"op":"remove","path":"/spec/template/spec/priorityClassName"}]`); out != "deployment.apps/web patched\n" {
		t.Errorf("patch: %q", out)
	}
	waitReady(t, a, k, 1)
	if out := k.ok("get", "deploy", "web", "-o", `jsonpath={.status.conditions[?(@.type=="ReplicaFailure")].reason}`); out != "" {
		t.Errorf("deployment ReplicaFailure after the patch: %q", out)
	}
}
