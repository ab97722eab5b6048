//go:build integration

package agent

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"go.uber.org/zap"
	"go.uber.org/zap/zaptest"
	v1 "k8s.io/api/core/v1"

	"github.com/minikubelet/minikubelet/api"
	"github.com/minikubelet/minikubelet/internal/testenv"
	"github.com/minikubelet/minikubelet/printers"
)

func TestMain(m *testing.M) { testenv.Main(m) }

// testAgent is one agent running in-process on the test's isolated world.
type testAgent struct {
	t      *testing.T
	cfg    Config
	client *api.Client
	cancel context.CancelFunc
	done   chan error
}

func testConfig(t *testing.T, env *testenv.Env) Config {
	cfg := DefaultConfig()
	cfg.Manifests = t.TempDir()
	cfg.Root = env.Root
	cfg.Socket = filepath.Join(env.Root, "api.sock")
	cfg.Containerd = env.Address
	cfg.Namespace = env.Namespace
	cfg.NodeName = "testnode"
	cfg.PodCIDR = env.Subnet
	cfg.Bridge = env.Bridge
	cfg.IPMasq = false
	cfg.LogDir = env.LogDir
	cfg.Images = t.TempDir()
	cfg.PauseBinary = env.PauseBinary
	cfg.Offline = true
	cfg.ManifestRescan = 2 * time.Second
	cfg.APIAddress = freeAPIAddress(t)
	cfg.ResolvConf = "" // the machine's resolver is never handed to test pods
	isolateServices(t, &cfg)
	return cfg
}

func startAgent(t *testing.T, cfg Config) *testAgent {
	t.Helper()
	return startAgentLogging(t, cfg, zaptest.NewLogger(t))
}

// startAgentLogging is startAgent with the agent logging to log.
func startAgentLogging(t *testing.T, cfg Config, log *zap.Logger) *testAgent {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	a := &testAgent{t: t, cfg: cfg, client: api.NewClient(cfg.Socket), cancel: cancel, done: make(chan error, 1)}
	go func() { a.done <- Run(ctx, log.Named("agent"), cfg, "test") }()
	t.Cleanup(a.stop)
	deadline := time.Now().Add(30 * time.Second)
	for {
		if _, err := a.client.Version(ctx); err == nil {
			// Once the socket answers, so does the Kubernetes API:
			// clients such as kubectl start on the agent's word.
			if cfg.APIAddress != "" {
				c, err := net.DialTimeout("tcp", cfg.APIAddress, 5*time.Second)
				if err != nil {
					t.Fatalf("agent socket answers, Kubernetes API does not: %v", err)
				}
				_ = c.Close()
			}
			return a
		}
		select {
		case err := <-a.done:
			t.Fatalf("agent exited: %v", err)
		case <-time.After(50 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			t.Fatal("agent API did not come up")
		}
	}
}

// stop ends the agent the way a restart would: pods keep running.
func (a *testAgent) stop() {
	if a.cancel == nil {
		return
	}
	a.cancel()
	a.cancel = nil
	select {
	case err := <-a.done:
		if err != nil && !errors.Is(err, context.Canceled) {
			a.t.Errorf("agent returned %v", err)
		}
	case <-time.After(60 * time.Second):
		a.t.Error("agent did not stop")
	}
}

func (a *testAgent) write(name, manifest string) {
	a.t.Helper()
	tmp := filepath.Join(a.cfg.Manifests, "."+name+".tmp")
	if err := os.WriteFile(tmp, []byte(manifest), 0o644); err != nil {
		a.t.Fatal(err)
	}
	if err := os.Rename(tmp, filepath.Join(a.cfg.Manifests, name)); err != nil {
		a.t.Fatal(err)
	}
}

func (a *testAgent) remove(name string) {
	a.t.Helper()
	if err := os.Remove(filepath.Join(a.cfg.Manifests, name)); err != nil {
		a.t.Fatal(err)
	}
}

// waitPod polls the API until cond holds for the named pod.
func (a *testAgent) waitPod(name, what string, timeout time.Duration, cond func(*v1.Pod) bool) *v1.Pod {
	a.t.Helper()
	deadline := time.Now().Add(timeout)
	var last *v1.Pod
	for time.Now().Before(deadline) {
		p, err := a.client.GetPod(context.Background(), "default", name)
		if err == nil {
			last = p
			if cond(p) {
				return p
			}
		}
		time.Sleep(100 * time.Millisecond)
	}
	st := "<none>"
	if last != nil {
		st = printers.PodStatus(last)
	}
	a.t.Fatalf("pod %s: timed out waiting for %s (STATUS %s)\n%s", name, what, st, a.describe(name))
	return nil
}

func (a *testAgent) waitGone(name string, timeout time.Duration) {
	a.t.Helper()
	deadline := time.Now().Add(timeout)
	for time.Now().Before(deadline) {
		if _, err := a.client.GetPod(context.Background(), "default", name); err != nil {
			return
		}
		time.Sleep(100 * time.Millisecond)
	}
	a.t.Fatalf("pod %s still present", name)
}

func (a *testAgent) describe(name string) string {
	p, err := a.client.GetPod(context.Background(), "default", name)
	if err != nil {
		return err.Error()
	}
	evs, _ := a.client.ListEvents(context.Background(), "default", "involvedObject.name="+name)
	var b strings.Builder
	var items []v1.Event
	if evs != nil {
		items = evs.Items
	}
	_ = printers.DescribePod(&b, p, items, time.Now())
	return b.String()
}

func (a *testAgent) events(name string) []v1.Event {
	evs, err := a.client.ListEvents(context.Background(), "default", "involvedObject.name="+name)
	if err != nil {
		a.t.Fatal(err)
	}
	return evs.Items
}

func hasEvent(evs []v1.Event, reason, substr string) bool {
	return slices.ContainsFunc(evs, func(e v1.Event) bool { return e.Reason == reason && strings.Contains(e.Message, substr) })
}

func cstatus(p *v1.Pod, name string) v1.ContainerStatus {
	for _, s := range append(p.Status.InitContainerStatuses, p.Status.ContainerStatuses...) {
		if s.Name == name {
			return s
		}
	}
	return v1.ContainerStatus{}
}

func statusIs(want string) func(*v1.Pod) bool {
	return func(p *v1.Pod) bool { return printers.PodStatus(p) == want }
}

// The lab's init-container pod: two init containers wait on a condition
// (here a file in a hostPath volume, standing in for the Services' DNS
// names), then the app runs. A watcher sees kubectl's STATUS sequence.
func TestInitContainersInOrder(t *testing.T) {
	env := testenv.New(t)
	a := startAgent(t, testConfig(t, env))
	gate := t.TempDir()

	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	w, err := a.client.WatchPods(ctx, "default", api.WatchOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()

	a.write("init.yml", fmt.Sprintf(`apiVersion: v1
kind: Pod
metadata:
  name: myapp-pod
  labels:
    app: myapp
spec:
  volumes:
  - name: gate
    hostPath:
      path: %s
  initContainers:
  - name: init-myservice
    image: busybox:latest
    command: ['sh', '-c', "until [ -f /gate/myservice ]; do echo waiting for myservice; sleep 0.2; done"]
    volumeMounts: [{name: gate, mountPath: /gate}]
  - name: init-mydb
    image: busybox:latest
    command: ['sh', '-c', "until [ -f /gate/mydb ]; do echo waiting for mydb; sleep 0.2; done"]
    volumeMounts: [{name: gate, mountPath: /gate}]
  containers:
  - name: myapp-container
    image: busybox:latest
    command: ['sh', '-c', 'echo The app is running! && sleep 3600']
`, gate))

	var seen []string
	next := func(want string) {
		t.Helper()
		for {
			ev, err := w.Next()
			if err != nil {
				t.Fatalf("watch ended waiting for %s after %v: %v", want, seen, err)
			}
			if ev.Pod == nil || ev.Pod.Name != "myapp-pod" {
				continue
			}
			st := printers.PodStatus(ev.Pod)
			if len(seen) == 0 || seen[len(seen)-1] != st {
				seen = append(seen, st)
			}
			if st == want {
				return
			}
		}
	}
	next("Init:0/2")
	p := a.waitPod("myapp-pod", "init-myservice running", time.Minute, func(p *v1.Pod) bool {
		return cstatus(p, "init-myservice").State.Running != nil
	})
	if p.Status.Phase != v1.PodPending || p.Status.PodIP == "" {
		t.Fatalf("phase %s ip %q", p.Status.Phase, p.Status.PodIP)
	}
	os.WriteFile(filepath.Join(gate, "myservice"), nil, 0o644)
	next("Init:1/2")
	os.WriteFile(filepath.Join(gate, "mydb"), nil, 0o644)
	next("Running")
	if i := slices.Index(seen, "Init:1/2"); i < 0 || !slices.Contains(seen[i:], "PodInitializing") {
		t.Errorf("STATUS sequence %v lacks PodInitializing after Init:1/2", seen)
	}
	p = a.waitPod("myapp-pod", "ready", 30*time.Second, isReady)
	for _, c := range []string{"init-myservice", "init-mydb"} {
		st := cstatus(p, c)
		if st.State.Terminated == nil || st.State.Terminated.ExitCode != 0 || st.State.Terminated.Reason != "Completed" || !st.Ready {
			t.Errorf("%s: %+v", c, st)
		}
	}
	var out strings.Builder
	if err := a.client.Logs(ctx, "default", "myapp-pod", api.LogOptions{Container: "init-myservice"}, &out); err != nil || !strings.Contains(out.String(), "waiting for myservice") {
		t.Errorf("init logs %q, %v", out.String(), err)
	}
	if got := a.waitLogs("myapp-pod", api.LogOptions{}); got != "The app is running!\n" {
		t.Errorf("app logs %q", got)
	}
	evs := a.events("myapp-pod")
	for _, r := range []string{"Pulled", "Created", "Started"} {
		if !hasEvent(evs, r, "") {
			t.Errorf("no %s event", r)
		}
	}
}

// waitLogs returns the pod's log as soon as it is not empty, or the empty
// log after 30 s. A container is reported Running (and Ready, without a
// readiness probe) when its task starts, which can be before its first
// write reaches the log: a single read right after Running races with it.
func (a *testAgent) waitLogs(name string, opts api.LogOptions) string {
	a.t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		var out strings.Builder
		if err := a.client.Logs(context.Background(), "default", name, opts, &out); err != nil {
			a.t.Fatalf("logs %s: %v", name, err)
		}
		if out.Len() > 0 || time.Now().After(deadline) {
			return out.String()
		}
		time.Sleep(100 * time.Millisecond)
	}
}

func isReady(p *v1.Pod) bool {
	for _, c := range p.Status.Conditions {
		if c.Type == v1.PodReady {
			return c.Status == v1.ConditionTrue
		}
	}
	return false
}
