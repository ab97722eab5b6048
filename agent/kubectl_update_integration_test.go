//go:build integration

package agent

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	v1 "k8s.io/api/core/v1"
)

// A Pod update through the API follows the API server's rules and is
// applied in place, as the kubelet applies it: a label or an annotation
// changes nothing that runs (and the Service's endpoints follow the new
// labels); a new image restarts that container alone; other changes are
// refused. The same pod's manifest edited by hand is a new pod, as a
// changed static pod is.
func TestKubectlUpdatesPodInPlace(t *testing.T) {
	_, a, k := startWithKubectl(t)
	a.write("app.yaml", `apiVersion: v1
kind: Pod
metadata:
  name: app
spec:
  terminationGracePeriodSeconds: 1
  containers:
  - name: web
    image: docker.io/library/busybox:latest
    imagePullPolicy: IfNotPresent
    command: [sleep, '3600']
  - name: side
    image: docker.io/library/busybox:latest
    imagePullPolicy: IfNotPresent
    command: [sleep, '3600']
`)
	before := a.waitPod("app", "Running", time.Minute, statusIs("Running"))
	web, side := cstatus(before, "web").ContainerID, cstatus(before, "side").ContainerID
	k.ok("create", "service", "clusterip", "front", "--tcp=80:80")
	if out := k.ok("get", "endpoints", "front", "-o", "jsonpath={.subsets}"); out != "" {
		t.Fatalf("endpoints of front before the label: %q", out)
	}

	if out := k.ok("label", "pod", "app", "app=front"); out != "pod/app labeled\n" {
		t.Errorf("label: %q", out)
	}
	if out := k.ok("annotate", "pod", "app", "note=kept"); out != "pod/app annotated\n" {
		t.Errorf("annotate: %q", out)
	}
	labelled := a.waitPod("app", "the new label and annotation", time.Minute, func(p *v1.Pod) bool {
		return p.Labels["app"] == "front" && p.Annotations["note"] == "kept"
	})
	if labelled.UID != before.UID || cstatus(labelled, "web").ContainerID != web || cstatus(labelled, "web").RestartCount != 0 {
		t.Fatalf("a label change replaced the pod or its containers: uid %s → %s, web %s → %s (restarts %d)",
			before.UID, labelled.UID, web, cstatus(labelled, "web").ContainerID, cstatus(labelled, "web").RestartCount)
	}
	ip := labelled.Status.PodIP
	eventually(t, "endpoints of front to name the pod", func() bool {
		return k.ok("get", "endpoints", "front", "-o", "jsonpath={.subsets[*].addresses[*].ip}") == ip
	})

	// kubectl set image: only that container restarts.
	if out := k.ok("set", "image", "pod/app", "web=docker.io/library/busybox:1.36"); out != "pod/app image updated\n" {
		t.Errorf("set image: %q", out)
	}
	imaged := a.waitPod("app", "web restarted with the new image", time.Minute, func(p *v1.Pod) bool {
		st := cstatus(p, "web")
		return st.State.Running != nil && st.ContainerID != web && st.RestartCount == 1
	})
	if st := cstatus(imaged, "side"); st.ContainerID != side || st.RestartCount != 0 {
		t.Errorf("side restarted with web: %s → %s, restarts %d", side, st.ContainerID, st.RestartCount)
	}
	if imaged.UID != before.UID || imaged.Spec.Containers[0].Image != "docker.io/library/busybox:1.36" {
		t.Errorf("after set image: uid %s, image %s", imaged.UID, imaged.Spec.Containers[0].Image)
	}
	if !hasEvent(a.events("app"), "Killing", "Container web definition changed, will be restarted") {
		t.Errorf("no Killing event for web:\n%s", a.describe("app"))
	}

	// A deadline may be set, then only lowered.
	k.ok("patch", "pod", "app", "-p", `{"spec":{"activeDeadlineSeconds":3600}}`)
	_, errOut, code := k.run("", "patch", "pod", "app", "-p", `{"spec":{"activeDeadlineSeconds":7200}}`)
	if code != 1 || !strings.Contains(errOut, `The Pod "app" is invalid: spec.activeDeadlineSeconds: Invalid value: 7200: must be less than or equal to previous value`) {
		t.Errorf("raised deadline: exit %d\n%s", code, errOut)
	}
	_, errOut, code = k.run("", "patch", "pod", "app", "-p", `{"spec":{"containers":[{"name":"web","command":["sleep","1"]}]}}`)
	if code != 1 || !strings.Contains(errOut, `The Pod "app" is invalid: spec: Forbidden: pod updates may not change fields other than`) {
		t.Errorf("changed command: exit %d\n%s", code, errOut)
	}
	if p := a.waitPod("app", "the deadline", time.Minute, func(p *v1.Pod) bool { return p.Spec.ActiveDeadlineSeconds != nil }); cstatus(p, "side").ContainerID != side {
		t.Errorf("the deadline restarted side")
	}

	// The manifest edited by hand: a new pod replaces the old one.
	path := filepath.Join(a.cfg.Manifests, "app.yaml")
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	edited := strings.Replace(string(data), "note: kept", "note: by-hand", 1)
	if edited == string(data) {
		t.Fatalf("annotation not in the stored manifest:\n%s", data)
	}
	a.write("app.yaml", edited)
	replaced := a.waitPod("app", "the pod replaced", 2*time.Minute, func(p *v1.Pod) bool {
		return p.UID != before.UID && p.Annotations["note"] == "by-hand" && cstatus(p, "side").State.Running != nil
	})
	if cstatus(replaced, "side").ContainerID == side {
		t.Error("the edited manifest's pod kept the old side container")
	}
}

// A new image for a sidecar (kubectl set image on an init container with
// restartPolicy Always) restarts that sidecar alone, as upstream's
// computeInitContainerActions restarts a started sidecar whose definition
// changed; a completed regular init container given a new image is not run
// again, and the app container keeps running through both.
func TestKubectlSetImageRestartsSidecar(t *testing.T) {
	_, a, k := startWithKubectl(t)
	a.write("app.yaml", `apiVersion: v1
kind: Pod
metadata:
  name: app
spec:
  terminationGracePeriodSeconds: 1
  initContainers:
  - name: init
    image: docker.io/library/busybox:latest
    imagePullPolicy: IfNotPresent
    command: ['true']
  - name: side
    image: docker.io/library/busybox:latest
    imagePullPolicy: IfNotPresent
    restartPolicy: Always
    command: [sleep, '3600']
  containers:
  - name: web
    image: docker.io/library/busybox:latest
    imagePullPolicy: IfNotPresent
    command: [sleep, '3600']
`)
	before := a.waitPod("app", "Running", time.Minute, statusIs("Running"))
	initID, side, web := cstatus(before, "init").ContainerID, cstatus(before, "side").ContainerID, cstatus(before, "web").ContainerID

	if out := k.ok("set", "image", "pod/app", "side=docker.io/library/busybox:1.36"); out != "pod/app image updated\n" {
		t.Errorf("set image: %q", out)
	}
	imaged := a.waitPod("app", "side restarted with the new image", time.Minute, func(p *v1.Pod) bool {
		st := cstatus(p, "side")
		return st.State.Running != nil && st.ContainerID != side && st.RestartCount == 1
	})
	if st := cstatus(imaged, "side"); st.Image != "docker.io/library/busybox:1.36" {
		t.Errorf("side runs image %q", st.Image)
	}
	if st := cstatus(imaged, "web"); st.ContainerID != web || st.RestartCount != 0 {
		t.Errorf("web restarted with side: %s → %s, restarts %d", web, st.ContainerID, st.RestartCount)
	}
	if !hasEvent(a.events("app"), "Killing", "Init container side definition changed") {
		t.Errorf("no Killing event for side:\n%s", a.describe("app"))
	}

	// A completed init container's new image is recorded, not run.
	k.ok("set", "image", "pod/app", "init=docker.io/library/busybox:1.36")
	a.waitPod("app", "the init container's new image", time.Minute, func(p *v1.Pod) bool {
		return p.Spec.InitContainers[0].Image == "docker.io/library/busybox:1.36"
	})
	// A sidecar change after it is still acted on, so a sync has run since
	// the init container's update when it shows.
	k.ok("set", "image", "pod/app", "side=docker.io/library/busybox:latest")
	after := a.waitPod("app", "side restarted again", time.Minute, func(p *v1.Pod) bool {
		st := cstatus(p, "side")
		return st.State.Running != nil && st.RestartCount == 2
	})
	if st := cstatus(after, "init"); st.ContainerID != initID || st.RestartCount != 0 || st.State.Terminated == nil {
		t.Errorf("the completed init container ran again: %s → %s, restarts %d, state %+v", initID, st.ContainerID, st.RestartCount, st.State)
	}
	if st := cstatus(after, "web"); st.ContainerID != web || st.RestartCount != 0 {
		t.Errorf("web restarted: %s → %s, restarts %d", web, st.ContainerID, st.RestartCount)
	}
}

// eventually polls cond (a check made with kubectl, say) for up to a
// minute.
func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(time.Minute)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(100 * time.Millisecond)
	}
}
