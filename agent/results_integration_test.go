//go:build integration

package agent

import (
	"testing"
	"time"

	v1 "k8s.io/api/core/v1"

	"github.com/minikubelet/minikubelet/internal/testenv"
)

// An exec liveness probe that outlives timeoutSeconds is a failure, as
// with kubelet's ExecProbeTimeout (on by default): the runtime kills the
// command, the prober reads its timeout error as Failure with kubelet's
// message, and the container is restarted. Before, the runtime's timeout
// error was not recognised and the probe ended "errored", unknown, so a
// hung probe never restarted anything.
func TestExecProbeTimeoutRestarts(t *testing.T) {
	env := testenv.New(t)
	a := startAgent(t, testConfig(t, env))
	a.write("hang.yaml", pod("hang", "Always", `  - name: c
    image: busybox
    command: [sleep, '3600']
    livenessProbe:
      exec: {command: [sleep, '10']}
      timeoutSeconds: 1
      periodSeconds: 2
      failureThreshold: 1
`))
	a.waitPod("hang", "restarted by its liveness probe", 90*time.Second, func(p *v1.Pod) bool {
		return cstatus(p, "c").RestartCount >= 1
	})
	evs := a.events("hang")
	if !hasEvent(evs, "Unhealthy", `Liveness probe failed: command "sleep 10" timed out`) {
		t.Errorf("no Unhealthy event for the timeout:\n%s", a.describe("hang"))
	}
	if !hasEvent(evs, "Killing", "Container c failed liveness probe, will be restarted") {
		t.Errorf("no Killing event:\n%s", a.describe("hang"))
	}
	if hasEvent(evs, "Unhealthy", "errored") {
		t.Errorf("the timeout was reported as a probe error:\n%s", a.describe("hang"))
	}
	a.remove("hang.yaml")
	a.waitGone("hang", time.Minute)
}
