//go:build integration

package agent

import (
	"bytes"
	"context"
	"fmt"
	"path/filepath"
	"strings"
	"testing"
	"time"

	v1 "k8s.io/api/core/v1"

	"github.com/minikubelet/minikubelet/api"
	"github.com/minikubelet/minikubelet/imagebuild"
	"github.com/minikubelet/minikubelet/images"
	"github.com/minikubelet/minikubelet/internal/testenv"
	"github.com/minikubelet/minikubelet/printers"
)

// importMyApp builds the lab's myapp:v1 image and imports it into env.
func importMyApp(t *testing.T, env *testenv.Env) {
	t.Helper()
	ctx := context.Background()
	bin := filepath.Join(t.TempDir(), "myapp")
	if err := images.BuildMyApp(ctx, "v1", bin); err != nil {
		t.Fatal(err)
	}
	img, err := images.MyApp(images.BusyboxPath, bin, "v1", "docker.io/library/myapp:v1")
	if err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	if err := imagebuild.WriteOCIArchive(&buf, img); err != nil {
		t.Fatal(err)
	}
	if _, err := env.Runtime.ImportArchive(env.Ctx(ctx), &buf); err != nil {
		t.Fatal(err)
	}
}

func (a *testAgent) exec(pod, container string, cmd ...string) (int32, string) {
	a.t.Helper()
	var out bytes.Buffer
	code, err := a.client.Exec(context.Background(), "default", pod, api.ExecOptions{Container: container, Command: cmd, Stdout: &out, Stderr: &out})
	if err != nil {
		a.t.Fatalf("exec %v: %v", cmd, err)
	}
	return code, out.String()
}

func ready(p *v1.Pod, c string) bool { return cstatus(p, c).Ready }

// The lab's liveness and readiness steps on the lab's own image: stopping
// nginx makes the TCP liveness probe restart the container; hiding
// /hostname.html takes the pod out of Ready and back without a restart.
func TestLabProbes(t *testing.T) {
	env := testenv.New(t)
	importMyApp(t, env)
	a := startAgent(t, testConfig(t, env))
	a.write("init.yml", `apiVersion: v1
kind: Pod
metadata:
  name: myapp-pod
  labels: {app: myapp}
spec:
  containers:
  - name: myapp-container
    image: myapp:v1
    imagePullPolicy: IfNotPresent
    livenessProbe:
      tcpSocket: {port: 80}
      initialDelaySeconds: 1
      periodSeconds: 2
      timeoutSeconds: 1
    readinessProbe:
      httpGet: {path: /hostname.html, port: 80}
      initialDelaySeconds: 1
      periodSeconds: 2
      timeoutSeconds: 1
`)
	const c = "myapp-container"
	p := a.waitPod("myapp-pod", "1/1 Running", time.Minute, func(p *v1.Pod) bool { return statusIs("Running")(p) && ready(p, c) })
	first := cstatus(p, c).ContainerID

	// Readiness: 1/1 → 0/1 → 1/1, no restart.
	a.exec("myapp-pod", c, "sh", "-c", `sed -i '/location = \/hostname.html/,/}/ s/^/#/' /etc/nginx/conf.d/default.conf && nginx -s reload`)
	p = a.waitPod("myapp-pod", "0/1 Running", 30*time.Second, func(p *v1.Pod) bool {
		return !ready(p, c) && p.Status.Phase == v1.PodRunning && !isReady(p)
	})
	if cstatus(p, c).ContainerID != first || cstatus(p, c).RestartCount != 0 {
		t.Fatal("a readiness failure restarted the container")
	}
	if got := printers.PodRow(p, printers.Options{})[1]; got != "0/1" {
		t.Errorf("READY %s, want 0/1", got)
	}
	if !hasEvent(a.events("myapp-pod"), "Unhealthy", "Readiness probe failed: HTTP probe failed with statuscode: 404") {
		t.Errorf("no Unhealthy readiness event:\n%s", a.describe("myapp-pod"))
	}
	a.exec("myapp-pod", c, "sh", "-c", `sed -i '/#.*location = \/hostname.html/,/}/ s/^#//' /etc/nginx/conf.d/default.conf && nginx -s reload`)
	a.waitPod("myapp-pod", "1/1 again", 30*time.Second, func(p *v1.Pod) bool { return ready(p, c) && isReady(p) })

	// Liveness: stop the server, the kubelet restarts the container.
	a.exec("myapp-pod", c, "nginx", "-s", "stop")
	p = a.waitPod("myapp-pod", "restarted by liveness", time.Minute, func(p *v1.Pod) bool {
		st := cstatus(p, c)
		return st.RestartCount == 1 && st.State.Running != nil && st.Ready
	})
	if lt := cstatus(p, c).LastTerminationState.Terminated; lt == nil || lt.ContainerID != first {
		t.Errorf("lastState = %+v", lt)
	}
	evs := a.events("myapp-pod")
	if !hasEvent(evs, "Unhealthy", "Liveness probe failed: dial tcp") || !hasEvent(evs, "Killing", "Container myapp-container failed liveness probe, will be restarted") {
		t.Errorf("missing Unhealthy/Killing events:\n%s", a.describe("myapp-pod"))
	}
	desc := a.describe("myapp-pod")
	for _, want := range []string{
		"Liveness:       tcp-socket :80 delay=1s timeout=1s period=2s #success=1 #failure=3",
		"Readiness:      http-get http://:80/hostname.html delay=1s timeout=1s period=2s #success=1 #failure=3",
	} {
		if !strings.Contains(desc, want) {
			t.Errorf("describe lacks %q:\n%s", want, desc)
		}
	}
}

// A server that listens a moment after its container starts is ready well
// within the readiness probe's first period: the probe refused at the
// container's start is retried early, quietly, instead of a period later.
func TestReadyBeforeTheFirstPeriod(t *testing.T) {
	const period = 20 * time.Second
	env := testenv.New(t)
	a := startAgent(t, testConfig(t, env))
	// Within a period of the agent's start a worker waits a random part of
	// the period before its first probe, as kubelet's do (for the pods an
	// agent restart adopts); this pod is to be probed at once.
	time.Sleep(period)
	a.write("late.yaml", fmt.Sprintf(`apiVersion: v1
kind: Pod
metadata: {name: late}
spec:
  terminationGracePeriodSeconds: 1
  containers:
  - name: web
    image: busybox
    command: [sh, -c, 'sleep 0.5; mkdir -p /www && echo ok >/www/index.html && exec httpd -f -p 8080 -h /www']
    readinessProbe:
      httpGet: {path: /, port: 8080}
      periodSeconds: %d
`, int(period.Seconds())))
	p := a.waitPod("late", "Ready", time.Minute, isReady)
	started := cstatus(p, "web").State.Running.StartedAt.Time
	var readyAt time.Time
	for _, c := range p.Status.Conditions {
		if c.Type == v1.PodReady {
			readyAt = c.LastTransitionTime.Time
		}
	}
	// Without the early retries the pod is ready a period after its start
	// (the probe at the start is refused); half a period is no measure of
	// speed, only which side of the period it fell on.
	if d := readyAt.Sub(started); d >= period/2 {
		t.Errorf("ready %v after the container started, want well within the first period (%v)", d, period)
	}
	unhealthy := int32(0)
	for _, e := range a.events("late") {
		if e.Reason == "Unhealthy" {
			unhealthy += max(e.Count, 1)
		}
	}
	// The early retries record no event; only a regular probe's failure
	// (the one at the container's start, if it came too early) does.
	if unhealthy > 1 {
		t.Errorf("%d Unhealthy events, want at most 1:\n%s", unhealthy, a.describe("late"))
	}
	a.remove("late.yaml")
	a.waitGone("late", time.Minute)
	env.AssertPodGone(t, p)
}

// exec liveness (the upstream docs' `cat /tmp/healthy`), a startup probe
// holding liveness off, and a readiness probe that never passes.
func TestExecStartupAndFailingReadiness(t *testing.T) {
	env := testenv.New(t)
	a := startAgent(t, testConfig(t, env))
	a.write("probes.yaml", `apiVersion: v1
kind: Pod
metadata: {name: probes}
spec:
  terminationGracePeriodSeconds: 2
  containers:
  - name: exec
    image: busybox
    command: [sh, -c, 'touch /tmp/healthy; sleep 3600']
    livenessProbe:
      exec: {command: [cat, /tmp/healthy]}
      periodSeconds: 1
      failureThreshold: 2
  - name: slow
    image: busybox
    command: [sh, -c, 'sleep 4; touch /tmp/started; sleep 3600']
    startupProbe:
      exec: {command: [cat, /tmp/started]}
      periodSeconds: 1
      failureThreshold: 30
    livenessProbe:
      exec: {command: [cat, /tmp/started]}
      periodSeconds: 1
      failureThreshold: 1
  - name: never
    image: busybox
    command: [sleep, '3600']
    readinessProbe:
      exec: {command: ['false']}
      periodSeconds: 1
`)
	p := a.waitPod("probes", "all running", time.Minute, func(p *v1.Pod) bool {
		return cstatus(p, "exec").State.Running != nil && cstatus(p, "slow").State.Running != nil && cstatus(p, "never").State.Running != nil
	})
	// While the startup probe has not passed, slow is not started and its
	// liveness probe (which would fail) does not run.
	if st := cstatus(p, "slow"); st.Started != nil && *st.Started {
		t.Errorf("slow started before its startup probe passed")
	}
	a.waitPod("probes", "slow started", 30*time.Second, func(p *v1.Pod) bool {
		st := cstatus(p, "slow")
		return st.Started != nil && *st.Started && st.Ready
	})

	a.exec("probes", "exec", "rm", "/tmp/healthy")
	p = a.waitPod("probes", "exec restarted", 30*time.Second, func(p *v1.Pod) bool {
		st := cstatus(p, "exec")
		return st.RestartCount == 1 && st.State.Running != nil
	})
	if !hasEvent(a.events("probes"), "Unhealthy", "Liveness probe failed: cat: can't open '/tmp/healthy'") {
		t.Errorf("no exec Unhealthy event:\n%s", a.describe("probes"))
	}
	if st := cstatus(p, "slow"); st.RestartCount != 0 {
		t.Errorf("slow restarted %d times: the startup probe did not hold liveness off", st.RestartCount)
	}
	st := cstatus(p, "never")
	if st.Ready || st.RestartCount != 0 || st.State.Running == nil || p.Status.Phase != v1.PodRunning || isReady(p) {
		t.Errorf("never: %+v phase %s", st, p.Status.Phase)
	}
	if got := printers.PodStatus(p); got != "Running" {
		t.Errorf("STATUS %s, want Running", got)
	}
}
