//go:build integration

package agent

import (
	"bytes"
	"context"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	v1 "k8s.io/api/core/v1"

	"github.com/minikubelet/minikubelet/api"
	"github.com/minikubelet/minikubelet/internal/testenv"
)

// tlsHook is an HTTPS server on loopback with a self-signed certificate; the
// agent dials hooks from the host, so a hook with host 127.0.0.1 reaches it.
type tlsHook struct {
	srv   *httptest.Server
	mu    sync.Mutex
	paths []string
	ua    string
}

func newTLSHook(t *testing.T) *tlsHook {
	h := &tlsHook{}
	h.srv = httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h.mu.Lock()
		h.paths = append(h.paths, r.URL.Path)
		h.ua = r.UserAgent()
		h.mu.Unlock()
	}))
	t.Cleanup(h.srv.Close)
	return h
}

func (h *tlsHook) port() string {
	_, port, _ := net.SplitHostPort(h.srv.Listener.Addr().String())
	return port
}

func (h *tlsHook) seen() ([]string, string) {
	h.mu.Lock()
	defer h.mu.Unlock()
	return append([]string(nil), h.paths...), h.ua
}

func readFile(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil && !os.IsNotExist(err) {
		t.Fatal(err)
	}
	return string(b)
}

func logsOf(t *testing.T, a *testAgent, pod, container string) string {
	t.Helper()
	var out bytes.Buffer
	if err := a.client.Logs(context.Background(), "default", pod, api.LogOptions{Container: container}, &out); err != nil {
		t.Fatalf("logs of %s/%s: %v", pod, container, err)
	}
	return out.String()
}

// postStart (exec, httpGet over HTTP, HTTPS with a self-signed certificate
// and an HTTPS hook answered in plain HTTP, sleep) runs right after its
// container starts, and the next container waits for it; preStop (exec,
// httpGet over HTTP and HTTPS, sleep) runs before the stop signal when the
// pod is deleted.
func TestLifecycleHooks(t *testing.T) {
	env := testenv.New(t)
	importMyApp(t, env)
	a := startAgent(t, testConfig(t, env))
	shared := t.TempDir()
	tlsSrv := newTLSHook(t)

	a.write("target.yaml", pod("target", "Always", "  - {name: web, image: 'myapp:v1'}\n"))
	target := a.waitPod("target", "Running", time.Minute, statusIs("Running"))
	ip := target.Status.PodIP

	a.write("hooks.yaml", fmt.Sprintf(`apiVersion: v1
kind: Pod
metadata: {name: hooks}
spec:
  terminationGracePeriodSeconds: 20
  volumes: [{name: shared, hostPath: {path: %[1]s}}]
  containers:
  - name: exec
    image: busybox
    command: [sh, -c, 'trap "if [ -f /shared/prestop-exec ]; then echo after-prestop; else echo before-prestop; fi > /shared/term; exit 0" TERM; while true; do sleep 0.1; done']
    volumeMounts: [{name: shared, mountPath: /shared}]
    lifecycle:
      postStart: {exec: {command: [sh, -c, 'sleep 2; touch /shared/poststart-done']}}
      preStop: {exec: {command: [sh, -c, 'touch /shared/prestop-exec']}}
  - name: next
    image: busybox
    command: [sh, -c, 'if [ -f /shared/poststart-done ]; then echo saw-hook; else echo hook-not-done; fi; sleep 3600']
    volumeMounts: [{name: shared, mountPath: /shared}]
    lifecycle:
      postStart: {httpGet: {host: '%[2]s', port: 80, path: /poststart-http}}
      preStop: {httpGet: {host: '%[2]s', port: 80, path: /prestop-http}}
  - name: https
    image: busybox
    command: [sleep, '3600']
    lifecycle:
      postStart: {httpGet: {host: 127.0.0.1, port: %[3]s, path: /poststart-tls, scheme: HTTPS}}
      preStop: {httpGet: {host: 127.0.0.1, port: %[3]s, path: /prestop-tls, scheme: HTTPS}}
  - name: fallback
    image: busybox
    command: [sleep, '3600']
    lifecycle:
      postStart: {httpGet: {host: '%[2]s', port: 80, path: /poststart-fallback, scheme: HTTPS}}
  - name: sleeper
    image: busybox
    command: [sh, -c, 'trap "date +%%s > /shared/sleeper-term; exit 0" TERM; while true; do sleep 0.1; done']
    volumeMounts: [{name: shared, mountPath: /shared}]
    lifecycle:
      postStart: {sleep: {seconds: 1}}
      preStop: {sleep: {seconds: 2}}
`, shared, ip, tlsSrv.port()))

	p := a.waitPod("hooks", "Running and ready", 2*time.Minute, func(p *v1.Pod) bool { return statusIs("Running")(p) && isReady(p) })
	for _, c := range p.Status.ContainerStatuses {
		if c.State.Running == nil || c.RestartCount != 0 {
			t.Errorf("%s: %+v restarts %d", c.Name, c.State, c.RestartCount)
		}
	}
	if got := logsOf(t, a, "hooks", "next"); got != "saw-hook\n" {
		t.Errorf("the next container started before the postStart hook returned: %q", got)
	}
	// Any HTTP answer, a 404 here, is a successful hook.
	access := logsOf(t, a, "target", "web")
	for _, path := range []string{"/poststart-http", "/poststart-fallback"} {
		if !strings.Contains(access, "GET "+path+" HTTP/1.1\" 404") || !strings.Contains(access, "kube-lifecycle/1.34") {
			t.Errorf("no hook request for %s in the target's access log:\n%s", path, access)
		}
	}
	if paths, ua := tlsSrv.seen(); len(paths) != 1 || paths[0] != "/poststart-tls" || ua != "kube-lifecycle/1.34" {
		t.Errorf("HTTPS hook server saw %v (User-Agent %q)", paths, ua)
	}
	evs := a.events("hooks")
	if !hasEvent(evs, "LifecycleHTTPFallback", "request to HTTPS lifecycle hook "+ip+":80 got HTTP response, retry with HTTP succeeded") {
		t.Errorf("no LifecycleHTTPFallback event: %+v", evs)
	}
	for _, r := range []string{"FailedPostStartHook", "FailedPreStopHook"} {
		if hasEvent(evs, r, "") {
			t.Errorf("unexpected %s event", r)
		}
	}

	deleted := time.Now()
	a.remove("hooks.yaml")
	a.waitGone("hooks", time.Minute)
	if got := readFile(t, filepath.Join(shared, "term")); got != "after-prestop\n" {
		t.Errorf("exec container saw SIGTERM %q; want it after its preStop hook", got)
	}
	if access := logsOf(t, a, "target", "web"); !strings.Contains(access, "GET /prestop-http HTTP/1.1\" 404") {
		t.Errorf("no preStop request in the target's access log:\n%s", access)
	}
	if !hasEvent(a.events("hooks"), "Killing", "Stopping container exec") {
		t.Error("no Killing event")
	}
	if paths, _ := tlsSrv.seen(); len(paths) != 2 || paths[1] != "/prestop-tls" {
		t.Errorf("HTTPS hook server saw %v, want the preStop request last", paths)
	}
	// The sleep preStop hook holds SIGTERM back for its 2 s: the signal
	// comes no earlier than 2 s after the deletion (a lower bound only,
	// which a slow machine cannot break).
	term := strings.TrimSpace(readFile(t, filepath.Join(shared, "sleeper-term")))
	if at, err := strconv.ParseInt(term, 10, 64); err != nil || at < deleted.Unix()+2 {
		t.Errorf("sleeper got SIGTERM at %q, want 2 s or more after the deletion at %d", term, deleted.Unix())
	}
	a.remove("target.yaml")
	a.waitGone("target", time.Minute)
}

// A failing postStart hook kills its container (FailedPostStartHook, then
// Killing "FailedPostStartHook") and the container restarts per
// restartPolicy with back-off.
func TestFailedPostStartHook(t *testing.T) {
	env := testenv.New(t)
	cfg := testConfig(t, env)
	cfg.CrashLoopBackOff.MaxContainerRestartPeriod = &Duration{time.Second}
	a := startAgent(t, cfg)
	a.write("bad.yaml", pod("bad", "Always", `  - name: c
    image: busybox
    command: [sleep, '3600']
    lifecycle: {postStart: {exec: {command: [sh, -c, 'echo hook broke; exit 3']}}}
`))
	p := a.waitPod("bad", "restarted twice", 2*time.Minute, func(p *v1.Pod) bool { return cstatus(p, "c").RestartCount >= 2 })
	st := cstatus(p, "c")
	// sleep as PID 1 ignores SIGTERM: killed at the end of the pod's 2s grace.
	if lt := st.LastTerminationState.Terminated; lt == nil || lt.ExitCode != 137 {
		t.Errorf("last state %+v, want the killed instance (137)", st.LastTerminationState)
	}
	evs := a.events("bad")
	if !hasEvent(evs, "FailedPostStartHook", "PostStartHook failed") || !hasEvent(evs, "Killing", "FailedPostStartHook") {
		t.Errorf("events: %+v", evs)
	}
	a.waitPod("bad", "waiting with PostStartHookError or CrashLoopBackOff", time.Minute, func(p *v1.Pod) bool {
		w := cstatus(p, "c").State.Waiting
		return w != nil && (w.Reason == "CrashLoopBackOff" ||
			(w.Reason == "PostStartHookError" && strings.Contains(w.Message, "Exec lifecycle hook ([sh -c echo hook broke; exit 3]) for Container \"c\" in Pod \"bad_default(")))
	})
}

// preStop runs on a liveness kill too, within the probe's
// terminationGracePeriodSeconds (not the pod's 10 minutes): a hook that
// overruns it is cut (FailedPreStopHook) and the container is restarted.
func TestPreStopOnLivenessKill(t *testing.T) {
	env := testenv.New(t)
	a := startAgent(t, testConfig(t, env))
	shared := t.TempDir()
	a.write("live.yaml", fmt.Sprintf(`apiVersion: v1
kind: Pod
metadata: {name: live}
spec:
  terminationGracePeriodSeconds: 600
  volumes: [{name: shared, hostPath: {path: %s}}]
  containers:
  - name: c
    image: busybox
    command: [sh, -c, 'trap "" TERM; while true; do sleep 0.1; done']
    volumeMounts: [{name: shared, mountPath: /shared}]
    livenessProbe:
      exec: {command: [sh, -c, 'test ! -f /shared/unhealthy']}
      periodSeconds: 1
      failureThreshold: 1
      terminationGracePeriodSeconds: 2
    lifecycle:
      preStop: {exec: {command: [sh, -c, 'echo prestop >> /shared/prestop; sleep 3600']}}
`, shared))
	a.waitPod("live", "Running", time.Minute, statusIs("Running"))
	if err := os.WriteFile(filepath.Join(shared, "unhealthy"), nil, 0o644); err != nil {
		t.Fatal(err)
	}
	p := a.waitPod("live", "restarted after the liveness failure", 90*time.Second, func(p *v1.Pod) bool {
		return cstatus(p, "c").RestartCount >= 1
	})
	os.Remove(filepath.Join(shared, "unhealthy"))
	if lt := cstatus(p, "c").LastTerminationState.Terminated; lt == nil || lt.ExitCode != 137 {
		t.Errorf("last state %+v, want SIGKILL after the cut hook and ignored SIGTERM", cstatus(p, "c").LastTerminationState)
	}
	if got := readFile(t, filepath.Join(shared, "prestop")); !strings.HasPrefix(got, "prestop\n") {
		t.Errorf("preStop did not run on the liveness kill: %q", got)
	}
	evs := a.events("live")
	if !hasEvent(evs, "Killing", "Container c failed liveness probe, will be restarted") || !hasEvent(evs, "FailedPreStopHook", "PreStopHook failed") {
		t.Errorf("events: %+v", evs)
	}
}

// preStop runs when a startup probe fails too, as on any kill of a
// running container (Killing "failed startup probe, will be restarted").
func TestPreStopOnStartupProbeFailure(t *testing.T) {
	env := testenv.New(t)
	a := startAgent(t, testConfig(t, env))
	shared := t.TempDir()
	a.write("startup.yaml", fmt.Sprintf(`apiVersion: v1
kind: Pod
metadata: {name: startup}
spec:
  terminationGracePeriodSeconds: 2
  volumes: [{name: shared, hostPath: {path: %s}}]
  containers:
  - name: c
    image: busybox
    command: [sleep, '3600']
    volumeMounts: [{name: shared, mountPath: /shared}]
    startupProbe: {exec: {command: ['false']}, periodSeconds: 1, failureThreshold: 1}
    lifecycle:
      preStop: {exec: {command: [sh, -c, 'echo prestop >> /shared/prestop']}}
`, shared))
	a.waitPod("startup", "restarted after the startup probe failed", 90*time.Second, func(p *v1.Pod) bool {
		return cstatus(p, "c").RestartCount >= 1
	})
	if got := readFile(t, filepath.Join(shared, "prestop")); !strings.HasPrefix(got, "prestop\n") {
		t.Errorf("preStop did not run on the startup probe's kill: %q", got)
	}
	if evs := a.events("startup"); !hasEvent(evs, "Killing", "Container c failed startup probe, will be restarted") {
		t.Errorf("no Killing event for the startup probe: %+v", evs)
	}
	a.remove("startup.yaml")
	a.waitGone("startup", time.Minute)
}

// While a deleted pod's preStop hook runs, its readiness probe goes on and
// its liveness probe stops, as the kubelet stops only liveness and startup
// probes when a pod starts terminating. The probes and the hook write to
// one log: the hook waits for two readiness runs after its start (so it
// ends by itself only if readiness goes on), and no liveness run may come
// after the second (any liveness run begun before the hook is long done by
// then).
func TestProbesDuringPreStop(t *testing.T) {
	env := testenv.New(t)
	a := startAgent(t, testConfig(t, env))
	shared := t.TempDir()
	a.write("probes.yaml", fmt.Sprintf(`apiVersion: v1
kind: Pod
metadata: {name: probes}
spec:
  terminationGracePeriodSeconds: 60
  volumes: [{name: shared, hostPath: {path: %s}}]
  containers:
  - name: c
    image: busybox
    command: [sh, -c, 'trap "echo T >> /shared/log; exit 0" TERM; while true; do sleep 0.1; done']
    volumeMounts: [{name: shared, mountPath: /shared}]
    readinessProbe: {exec: {command: [sh, -c, 'echo R >> /shared/log']}, periodSeconds: 1}
    livenessProbe: {exec: {command: [sh, -c, 'echo L >> /shared/log']}, periodSeconds: 1}
    lifecycle:
      preStop:
        exec:
          command: [sh, -c, 'echo P >> /shared/log; until [ "$(sed -n "/^P$/,\$p" /shared/log | grep -c "^R$")" -ge 2 ]; do sleep 0.1; done; echo E >> /shared/log']
`, shared))
	a.waitPod("probes", "Running and ready", time.Minute, func(p *v1.Pod) bool { return statusIs("Running")(p) && isReady(p) })
	a.remove("probes.yaml")
	a.waitGone("probes", 2*time.Minute)
	log := strings.Fields(readFile(t, filepath.Join(shared, "log")))
	p := slices.Index(log, "P")
	e := slices.Index(log, "E")
	if p < 0 || e < p || slices.Index(log, "T") < e {
		t.Fatalf("log %v: want the hook to start (P), see readiness run twice and end (E), then SIGTERM (T)", log)
	}
	second := p
	for n := 0; n < 2; n++ {
		second += 1 + slices.Index(log[second+1:], "R")
	}
	if slices.Contains(log[second:], "L") {
		t.Errorf("log %v: the liveness probe ran during preStop", log)
	}
	if hasEvent(a.events("probes"), "FailedPreStopHook", "") {
		t.Error("the preStop hook failed")
	}
}

// A container whose postStart hook has not returned does not count as
// running or started yet: the kubelet publishes its status only once the
// hook is done, so until then it shows what it showed before it started
// (waiting, ContainerCreating; the pod Pending).
func TestNotRunningUntilPostStartReturns(t *testing.T) {
	env := testenv.New(t)
	a := startAgent(t, testConfig(t, env))
	shared := t.TempDir()
	a.write("held.yaml", fmt.Sprintf(`apiVersion: v1
kind: Pod
metadata: {name: held}
spec:
  terminationGracePeriodSeconds: 2
  volumes: [{name: shared, hostPath: {path: %s}}]
  containers:
  - name: c
    image: busybox
    command: [sleep, '3600']
    volumeMounts: [{name: shared, mountPath: /shared}]
    lifecycle:
      postStart: {exec: {command: [sh, -c, 'touch /shared/hook-started; until [ -f /shared/release ]; do sleep 0.1; done']}}
`, shared))
	testenv.WaitFor(t, "the postStart hook to start", func() (bool, string) {
		_, err := os.Stat(filepath.Join(shared, "hook-started"))
		return err == nil, fmt.Sprint(err)
	})
	p := a.waitPod("held", "listed", time.Minute, func(p *v1.Pod) bool { return len(p.Status.ContainerStatuses) == 1 })
	st := cstatus(p, "c")
	if w := st.State.Waiting; w == nil || w.Reason != "ContainerCreating" || (st.Started != nil && *st.Started) || p.Status.Phase != v1.PodPending {
		t.Errorf("during postStart: phase %s, container %+v started %v; want Pending, waiting ContainerCreating, not started", p.Status.Phase, st.State, st.Started)
	}
	if err := os.WriteFile(filepath.Join(shared, "release"), nil, 0o644); err != nil {
		t.Fatal(err)
	}
	p = a.waitPod("held", "Running once the hook returned", time.Minute, statusIs("Running"))
	if st := cstatus(p, "c"); st.State.Running == nil || st.Started == nil || !*st.Started {
		t.Errorf("after postStart: %+v started %v, want running and started", st.State, st.Started)
	}
	a.remove("held.yaml")
	a.waitGone("held", time.Minute)
}
