//go:build integration

package agent

import (
	"testing"
	"time"

	v1 "k8s.io/api/core/v1"

	"github.com/minikubelet/minikubelet/internal/testenv"
)

// TestSidecarsPastAppContainers runs a pod whose native sidecars sit at
// init-container indexes at and past the number of app containers, each
// with all three probes. The prober once indexed spec.containers with a
// sidecar's index and took the agent down, and again at every restart
// while it adopted the pod. Here the pod must run and become Ready, its
// neighbour must be undisturbed, and an agent restart must adopt both
// without restarting a container.
func TestSidecarsPastAppContainers(t *testing.T) {
	env := testenv.New(t)
	cfg := testConfig(t, env)
	a := startAgent(t, cfg)
	a.write("neighbour.yaml", pod("neighbour", "Always", "  - {name: c, image: busybox, command: [sleep, '3600']}\n"))
	probes := `
    startupProbe: {exec: {command: [test, -f, /tmp/up]}, periodSeconds: 1}
    readinessProbe: {exec: {command: ['true']}, periodSeconds: 1}
    livenessProbe: {exec: {command: ['true']}, periodSeconds: 1}`
	a.write("sidecars.yaml", `apiVersion: v1
kind: Pod
metadata:
  name: sidecars
spec:
  terminationGracePeriodSeconds: 2
  initContainers:
  - name: setup
    image: busybox
    command: ['true']
  - name: proxy
    image: busybox
    restartPolicy: Always
    command: [sh, -c, 'touch /tmp/up; exec sleep 3600']`+probes+`
  - name: shipper
    image: busybox
    restartPolicy: Always
    command: [sh, -c, 'touch /tmp/up; exec sleep 3600']`+probes+`
  containers:
  - name: app
    image: busybox
    command: [sleep, '3600']
    readinessProbe: {exec: {command: ['true']}, periodSeconds: 1}
`)
	before := a.waitPod("sidecars", "Ready", 2*time.Minute, isReady)
	for _, c := range []string{"proxy", "shipper", "app"} {
		if st := cstatus(before, c); st.State.Running == nil || !st.Ready || st.Started == nil || !*st.Started {
			t.Errorf("%s: %+v", c, st)
		}
	}
	if st := cstatus(before, "setup"); st.State.Terminated == nil || st.State.Terminated.Reason != "Completed" {
		t.Errorf("setup: %+v", st)
	}
	neighbour := a.waitPod("neighbour", "Running", time.Minute, statusIs("Running"))

	a.stop()
	a = startAgent(t, cfg)
	// Probes run again after adoption: wait for the readiness of every
	// container to come back through them.
	after := a.waitPod("sidecars", "Ready after the restart", 2*time.Minute, func(p *v1.Pod) bool {
		return isReady(p) && cstatus(p, "proxy").Ready && cstatus(p, "shipper").Ready
	})
	for _, c := range []string{"setup", "proxy", "shipper", "app"} {
		b, n := cstatus(before, c), cstatus(after, c)
		if b.ContainerID != n.ContainerID || n.RestartCount != 0 {
			t.Errorf("%s not adopted as it was: before %s, after %s restarts %d", c, b.ContainerID, n.ContainerID, n.RestartCount)
		}
	}
	if n := a.waitPod("neighbour", "Running", time.Minute, statusIs("Running")); cstatus(n, "c").ContainerID != cstatus(neighbour, "c").ContainerID {
		t.Error("the neighbour pod was restarted")
	}
	a.remove("sidecars.yaml")
	a.remove("neighbour.yaml")
	a.waitGone("sidecars", time.Minute)
	a.waitGone("neighbour", time.Minute)
	env.AssertPodGone(t, after)
}
