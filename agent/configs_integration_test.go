//go:build integration

package agent

import (
	"strings"
	"testing"
	"time"

	v1 "k8s.io/api/core/v1"

	"github.com/minikubelet/minikubelet/api"
	"github.com/minikubelet/minikubelet/internal/testenv"
)

// A container whose env refers to a Secret or ConfigMap that is not there
// does not start: CreateContainerConfigError with the kubelet's message
// (the API server's NotFound, `secret "x" not found`), a Failed event; the
// pod stays Pending. Once each object is written into the manifests
// directory, the container starts with their values, without any change to
// the pod.
func TestMissingConfigMapThenCreated(t *testing.T) {
	env := testenv.New(t)
	a := startAgent(t, testConfig(t, env))
	a.write("needs.yaml", `apiVersion: v1
kind: Pod
metadata:
  name: needs
spec:
  terminationGracePeriodSeconds: 1
  containers:
  - name: c
    image: busybox
    command: [sh, -c, 'echo "mode=$MODE user=$DB_user opt=${OPT-unset}"; exec sleep 3600']
    env:
    - {name: MODE, valueFrom: {configMapKeyRef: {name: app-config, key: mode}}}
    - {name: OPT, valueFrom: {configMapKeyRef: {name: nowhere, key: k, optional: true}}}
    envFrom:
    - {secretRef: {name: db}, prefix: DB_}
`)
	waiting := func(reason, msg string) func(*v1.Pod) bool {
		return func(p *v1.Pod) bool {
			w := cstatus(p, "c").State.Waiting
			return w != nil && w.Reason == reason && w.Message == msg
		}
	}
	// envFrom is resolved before env, as by the kubelet.
	p := a.waitPod("needs", "secret not found", 2*time.Minute, waiting("CreateContainerConfigError", `secret "db" not found`))
	if p.Status.Phase != v1.PodPending {
		t.Errorf("phase %s, want Pending", p.Status.Phase)
	}
	if !hasEvent(a.events("needs"), "Failed", `Error: secret "db" not found`) {
		t.Errorf("no Failed event with the kubelet's message:\n%s", a.describe("needs"))
	}

	a.write("db.yaml", "apiVersion: v1\nkind: Secret\nmetadata: {name: db}\nstringData: {user: admin}\n")
	a.waitPod("needs", "configmap not found", time.Minute, waiting("CreateContainerConfigError", `configmap "app-config" not found`))

	a.write("config.yaml", "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: app-config}\ndata: {mode: fast}\n")
	a.waitPod("needs", "Running", time.Minute, statusIs("Running"))
	if got := strings.TrimSpace(a.waitLogs("needs", api.LogOptions{})); got != "mode=fast user=admin opt=unset" {
		t.Errorf("container printed %q", got)
	}
}
