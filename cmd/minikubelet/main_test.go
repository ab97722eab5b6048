package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"go.uber.org/zap"
	"go.uber.org/zap/zaptest"
	v1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/yaml"

	"github.com/minikubelet/minikubelet/agent"
	"github.com/minikubelet/minikubelet/api"
	"github.com/minikubelet/minikubelet/events"
	"github.com/minikubelet/minikubelet/logs"
	"github.com/minikubelet/minikubelet/runtime"
	mkruntime "github.com/minikubelet/minikubelet/runtime"
	"github.com/minikubelet/minikubelet/status"
)

type (
	mkConfig  = agent.Config
	zapLogger = zap.Logger
)

// fakeAgent is an API server over real stores and a scripted exec.
type fakeAgent struct {
	socket    string
	pods      *status.Store
	events    *events.Store
	logDir    string
	manifests string
	warnings  warnings
}

type warnings struct {
	mu   sync.Mutex
	list []string
}

func (w *warnings) Warnings() []string {
	w.mu.Lock()
	defer w.mu.Unlock()
	return append([]string(nil), w.list...)
}

// scriptedExec runs `exit N` and echoes stdin for `cat`.
type scriptedExec struct{}

func (scriptedExec) Exec(ctx context.Context, id string, o mkruntime.ExecOptions) (int32, error) {
	switch {
	case len(o.Cmd) == 3 && o.Cmd[0] == "sh" && strings.HasPrefix(o.Cmd[2], "exit "):
		var n int32
		fmt.Sscanf(o.Cmd[2], "exit %d", &n)
		return n, nil
	case len(o.Cmd) == 1 && o.Cmd[0] == "cat" && o.Stdin != nil:
		_, err := io.Copy(o.Stdout, o.Stdin)
		return 0, err
	}
	fmt.Fprintf(o.Stdout, "ran %s in %s\n", strings.Join(o.Cmd, " "), id)
	return 0, nil
}

func startAgent(t *testing.T) *fakeAgent {
	t.Helper()
	dir := t.TempDir()
	a := &fakeAgent{
		socket:    filepath.Join(dir, "api.sock"),
		pods:      status.NewStore(),
		events:    events.NewStore(zaptest.NewLogger(t), "node1", 100),
		logDir:    filepath.Join(dir, "logs"),
		manifests: filepath.Join(dir, "manifests"),
	}
	srv := api.NewServer(zaptest.NewLogger(t), api.Deps{
		Pods: a.pods, Events: a.events, Exec: scriptedExec{}, Warnings: &a.warnings,
		ManifestDir: a.manifests, NodeName: "node1", LogDir: a.logDir,
		Version: api.VersionInfo{Version: "v9.9.9"},
	})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- srv.Serve(ctx, a.socket) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Error(err)
		}
	})
	deadline := time.Now().Add(10 * time.Second)
	for {
		c, err := net.Dial("unix", a.socket)
		if err == nil {
			c.Close()
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("server not up: %v", err)
		}
		time.Sleep(5 * time.Millisecond)
	}
	return a
}

type result struct {
	out, err string
	code     int
}

// cli runs the command line against the agent, with stdin.
func (a *fakeAgent) cliIn(t *testing.T, stdin string, args ...string) result {
	t.Helper()
	var out, errOut bytes.Buffer
	getenv := func(k string) string {
		if k == socketEnv {
			return a.socket
		}
		return ""
	}
	code := run(context.Background(), args, IOStreams{In: strings.NewReader(stdin), Out: &out, ErrOut: &errOut}, getenv)
	return result{out.String(), errOut.String(), code}
}

func (a *fakeAgent) cli(t *testing.T, args ...string) result {
	t.Helper()
	return a.cliIn(t, "", args...)
}

// podAged returns a running pod created age ago.
func podAged(ns, name string, age time.Duration, containers ...string) *v1.Pod {
	if len(containers) == 0 {
		containers = []string{"app"}
	}
	p := &v1.Pod{
		ObjectMeta: metav1.ObjectMeta{
			Namespace: ns, Name: name, UID: types.UID(ns + "-" + name),
			CreationTimestamp: metav1.NewTime(time.Now().Add(-age)),
		},
		Spec: v1.PodSpec{NodeName: "node1"},
		Status: v1.PodStatus{
			Phase:      v1.PodRunning,
			PodIP:      "10.244.0.7",
			PodIPs:     []v1.PodIP{{IP: "10.244.0.7"}},
			Conditions: []v1.PodCondition{{Type: v1.PodReady, Status: v1.ConditionTrue}},
		},
	}
	for _, c := range containers {
		p.Spec.Containers = append(p.Spec.Containers, v1.Container{Name: c, Image: "busybox"})
		p.Status.ContainerStatuses = append(p.Status.ContainerStatuses, v1.ContainerStatus{
			Name: c, Ready: true, ContainerID: "containerd://" + name + "-" + c, Image: "docker.io/library/busybox:latest",
			State: v1.ContainerState{Running: &v1.ContainerStateRunning{StartedAt: p.CreationTimestamp}},
		})
	}
	return p
}

func TestGetPodsTable(t *testing.T) {
	a := startAgent(t)
	r := a.cli(t, "get", "pods")
	if r.code != 0 || r.out != "" || r.err != "No resources found in default namespace.\n" {
		t.Errorf("empty: %+v", r)
	}

	a.pods.Set(podAged("default", "web", 3*time.Hour))
	a.pods.Set(podAged("default", "db", 3*time.Hour, "db", "metrics"))
	a.pods.Set(podAged("kube-system", "dns", 3*time.Hour))

	want := "NAME   READY   STATUS    RESTARTS   AGE\n" +
		"db     2/2     Running   0          3h\n" +
		"web    1/1     Running   0          3h\n"
	for _, args := range [][]string{{"get", "pods"}, {"get", "po"}, {"get", "pod"}} {
		if r := a.cli(t, args...); r.code != 0 || r.out != want || r.err != "" {
			t.Errorf("%v:\n%s\nstderr %q code %d", args, r.out, r.err, r.code)
		}
	}

	r = a.cli(t, "get", "pods", "-A", "--no-headers")
	wantA := "default       db    2/2   Running   0     3h\n" +
		"default       web   1/1   Running   0     3h\n" +
		"kube-system   dns   1/1   Running   0     3h\n"
	if r.out != wantA {
		t.Errorf("-A --no-headers:\n%s", r.out)
	}

	r = a.cli(t, "get", "pod/web", "-o", "wide")
	if !strings.HasPrefix(r.out, "NAME   READY   STATUS    RESTARTS   AGE   IP           NODE    NOMINATED NODE   READINESS GATES\n") ||
		!strings.Contains(r.out, "10.244.0.7   node1   <none>           <none>") {
		t.Errorf("-o wide:\n%s", r.out)
	}

	r = a.cli(t, "get", "pods", "-o", "name", "-n", "kube-system")
	if r.out != "pod/dns\n" {
		t.Errorf("-o name: %q", r.out)
	}

	r = a.cli(t, "get", "pods", "web", "nope")
	if r.code != 1 || !strings.Contains(r.out, "web ") ||
		r.err != "Error from server (NotFound): pods \"nope\" not found\n" {
		t.Errorf("get web nope: %+v", r)
	}
	r = a.cli(t, "get", "pods", "-o", "table")
	if r.code != 1 || !strings.Contains(r.err, `unable to match a printer suitable for the output format "table"`) {
		t.Errorf("-o table: %+v", r)
	}
}

func TestGetJSONAndYAML(t *testing.T) {
	a := startAgent(t)
	web := podAged("default", "web", time.Hour)
	web.Status.ContainerStatuses[0].RestartCount = 2
	web.Status.ContainerStatuses[0].LastTerminationState = v1.ContainerState{Terminated: &v1.ContainerStateTerminated{ExitCode: 137, Reason: "Error"}}
	a.pods.Set(web)
	a.pods.Set(podAged("default", "db", time.Hour))

	r := a.cli(t, "get", "pods", "-o", "json")
	var list v1.PodList
	if err := json.Unmarshal([]byte(r.out), &list); err != nil || r.code != 0 {
		t.Fatalf("-o json: %v\n%s", err, r.out)
	}
	if list.Kind != "List" || list.APIVersion != "v1" || len(list.Items) != 2 || list.Items[1].Kind != "Pod" ||
		list.Items[1].Status.ContainerStatuses[0].RestartCount != 2 ||
		list.Items[1].Status.ContainerStatuses[0].LastTerminationState.Terminated.ExitCode != 137 {
		t.Errorf("list: %+v", list)
	}
	// kubectl's layout: four-space indent, keys sorted.
	if !strings.HasPrefix(r.out, "{\n    \"apiVersion\": \"v1\",\n    \"items\": [") {
		t.Errorf("layout:\n%.200s", r.out)
	}

	r = a.cli(t, "get", "pod", "web", "-o", "json")
	var pod v1.Pod
	if err := json.Unmarshal([]byte(r.out), &pod); err != nil || pod.Kind != "Pod" || pod.Name != "web" ||
		pod.Status.PodIPs[0].IP != "10.244.0.7" {
		t.Errorf("get pod -o json: %v %+v", err, pod)
	}

	r = a.cli(t, "get", "pod", "web", "-o", "yaml")
	pod = v1.Pod{}
	if err := yaml.Unmarshal([]byte(r.out), &pod); err != nil || pod.Name != "web" ||
		!strings.HasPrefix(r.out, "apiVersion: v1\nkind: Pod\nmetadata:\n") {
		t.Errorf("-o yaml: %v\n%s", err, r.out)
	}

	// An empty listing is still a List in JSON, with no note.
	r = a.cli(t, "get", "pods", "-n", "empty", "-o", "json")
	if r.err != "" || !strings.Contains(r.out, `"items": []`) {
		t.Errorf("empty -o json: %+v", r)
	}
}

func TestWarningsOnStderr(t *testing.T) {
	a := startAgent(t)
	a.warnings.list = []string{`bad.yaml: spec.containers[0].image: Required value`}
	a.pods.Set(podAged("default", "web", time.Hour))
	for _, args := range [][]string{{"get", "pods"}, {"describe", "pod", "web"}} {
		r := a.cli(t, args...)
		if r.code != 0 || r.err != "Warning: bad.yaml: spec.containers[0].image: Required value\n" {
			t.Errorf("%v: stderr %q", args, r.err)
		}
	}
}

func TestDescribe(t *testing.T) {
	a := startAgent(t)
	web := podAged("default", "web", time.Hour)
	a.pods.Set(web)
	a.events.Event(events.PodRef(web, "app"), v1.EventTypeNormal, "Started", "Started container app")
	a.events.Event(events.PodRef(podAged("default", "other", time.Hour), ""), v1.EventTypeNormal, "Pulled", "not mine")

	r := a.cli(t, "describe", "pod", "web")
	for _, want := range []string{"Name:", "web\n", "Namespace:", "default", "Containers:", "  app:",
		"Conditions:", "Events:", "Started container app"} {
		if !strings.Contains(r.out, want) {
			t.Errorf("describe lacks %q:\n%s", want, r.out)
		}
	}
	if strings.Contains(r.out, "not mine") {
		t.Errorf("describe shows another pod's events:\n%s", r.out)
	}
	// A prefix describes the pods it starts.
	if r := a.cli(t, "describe", "pods", "we"); !strings.Contains(r.out, "Started container app") {
		t.Errorf("describe by prefix: %+v", r)
	}
	if r := a.cli(t, "describe", "pod", "zzz"); r.code != 1 || r.err != "Error from server (NotFound): pods \"zzz\" not found\n" {
		t.Errorf("describe missing: %+v", r)
	}
}

func TestLogsCommand(t *testing.T) {
	a := startAgent(t)
	web := podAged("default", "web", time.Hour, "app", "side")
	a.pods.Set(web)
	for _, c := range []string{"app", "side"} {
		f, err := logs.OpenFile(runtime.LogPath(a.logDir, web, c, 0))
		if err != nil {
			t.Fatal(err)
		}
		fmt.Fprintf(f.Stream(logs.Stdout), "hello from %s\nbye from %s\n", c, c)
		f.Close()
	}
	r := a.cli(t, "logs", "web")
	if r.code != 0 || r.out != "hello from app\nbye from app\n" || r.err != "Defaulted container \"app\" out of: app, side\n" {
		t.Errorf("logs web: %+v", r)
	}
	r = a.cli(t, "logs", "web", "-c", "side", "--tail", "1")
	if r.out != "bye from side\n" || r.err != "" {
		t.Errorf("logs -c side --tail 1: %+v", r)
	}
	r = a.cli(t, "logs", "web", "-c", "side", "--previous")
	if r.code != 1 || r.err != "Error from server (BadRequest): previous terminated container \"side\" in pod \"web\" not found\n" {
		t.Errorf("logs --previous: %+v", r)
	}
}

func TestExecCommand(t *testing.T) {
	a := startAgent(t)
	a.pods.Set(podAged("default", "web", time.Hour))

	r := a.cli(t, "exec", "web", "--", "sh", "-c", "exit 3")
	if r.code != 3 || r.err != "command terminated with exit code 3\n" {
		t.Errorf("exit 3: %+v", r)
	}
	r = a.cli(t, "exec", "web", "--", "date")
	if r.code != 0 || r.out != "ran date in web-app\n" {
		t.Errorf("date: %+v", r)
	}
	r = a.cliIn(t, "piped\n", "exec", "-i", "web", "--", "cat")
	if r.code != 0 || r.out != "piped\n" {
		t.Errorf("-i cat: %+v", r)
	}
	// -t with a stdin that is no terminal falls back like kubectl.
	r = a.cliIn(t, "x", "exec", "-it", "web", "--", "cat")
	if r.code != 0 || r.out != "x" || r.err != "Unable to use a TTY - input is not a terminal or the right kind of file\n" {
		t.Errorf("-it without a terminal: %+v", r)
	}
	r = a.cli(t, "exec", "web", "date")
	if r.code != 1 || !strings.Contains(r.err, "Use exec [POD] -- [COMMAND] instead") {
		t.Errorf("old syntax: %+v", r)
	}
}

func TestApplyDeleteCommands(t *testing.T) {
	a := startAgent(t)
	dir := t.TempDir()
	good := filepath.Join(dir, "web.yaml")
	os.WriteFile(good, []byte("apiVersion: v1\nkind: Pod\nmetadata:\n  name: web\nspec:\n  containers:\n  - name: app\n    image: busybox\n"), 0o644)
	bad := filepath.Join(dir, "bad.yaml")
	os.WriteFile(bad, []byte("apiVersion: v1\nkind: Pod\nmetadata:\n  name: bad\nspec:\n  containers:\n  - name: app\n"), 0o644)

	r := a.cli(t, "apply", "-f", good)
	if r.code != 0 || r.out != "pod/web created\n" {
		t.Errorf("apply: %+v", r)
	}
	r = a.cli(t, "apply", "-f", good)
	if r.out != "pod/web unchanged\n" {
		t.Errorf("apply again: %+v", r)
	}
	r = a.cli(t, "apply", "-f", bad)
	if r.code != 1 || r.err != "The Pod \"bad\" is invalid: spec.containers[0].image: Required value\n" {
		t.Errorf("apply invalid: %+v", r)
	}
	// A directory: the good file applies, the bad one is reported.
	r = a.cli(t, "apply", "-f", dir)
	if r.code != 1 || r.out != "pod/web unchanged\n" || !strings.Contains(r.err, `The Pod "bad" is invalid`) {
		t.Errorf("apply dir: %+v", r)
	}
	r = a.cliIn(t, "apiVersion: v1\nkind: Pod\nmetadata:\n  name: cat\nspec:\n  containers:\n  - name: c\n    image: busybox\n", "apply", "-f", "-")
	if r.code != 0 || r.out != "pod/cat created\n" {
		t.Errorf("apply -f -: %+v", r)
	}

	// The pod is running: delete waits until the agent reports it gone.
	a.pods.Set(podAged("default", "web", time.Minute))
	go func() {
		time.Sleep(50 * time.Millisecond)
		a.pods.Delete("default-web")
	}()
	r = a.cli(t, "delete", "-f", good)
	if r.code != 0 || r.out != "pod \"web\" deleted\n" {
		t.Errorf("delete -f: %+v", r)
	}
	if _, ok := a.pods.Get("default-web"); ok {
		t.Error("delete returned before the pod was gone")
	}
	r = a.cli(t, "delete", "pod", "web")
	if r.code != 1 || r.err != "Error from server (NotFound): pods \"web\" not found\n" {
		t.Errorf("delete missing: %+v", r)
	}
	r = a.cli(t, "delete", "pod", "web", "--ignore-not-found")
	if r.code != 0 || r.err != "" {
		t.Errorf("--ignore-not-found: %+v", r)
	}
	r = a.cli(t, "delete", "pod/cat")
	if r.code != 0 || r.out != "pod \"cat\" deleted\n" {
		t.Errorf("delete pod/cat: %+v", r)
	}
}

func TestVersionAndErrors(t *testing.T) {
	a := startAgent(t)
	r := a.cli(t, "version")
	if r.code != 0 || r.out != "Client Version: dev\nServer Version: v9.9.9\n" {
		t.Errorf("version: %+v", r)
	}
	r = a.cli(t, "get", "pods", "--bogus")
	if r.code != 1 || !strings.HasPrefix(r.err, "error: unknown flag: --bogus\n") {
		t.Errorf("bad flag: %+v", r)
	}
	r = a.cli(t, "get", "statefulsets")
	if r.code != 1 || r.err != "error: the server doesn't have a resource type \"statefulsets\"\n" {
		t.Errorf("bad resource: %+v", r)
	}

	none := filepath.Join(t.TempDir(), "none.sock")
	var out, errOut bytes.Buffer
	code := run(context.Background(), []string{"get", "pods", "--socket", none}, IOStreams{In: strings.NewReader(""), Out: &out, ErrOut: &errOut}, func(string) string { return "" })
	if code != 1 || errOut.String() != "The connection to the agent at "+none+" was refused - is the agent running?\n" {
		t.Errorf("no agent: %d %q", code, errOut.String())
	}
}

// syncBuffer is a bytes.Buffer safe to read while a command writes it.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

func TestGetWatch(t *testing.T) {
	a := startAgent(t)
	a.pods.Set(podAged("default", "web", 3*time.Hour))
	ctx, cancel := context.WithCancelCause(context.Background())
	var out, errOut syncBuffer
	done := make(chan int, 1)
	go func() {
		done <- run(ctx, []string{"get", "pods", "-w", "--socket", a.socket},
			IOStreams{In: strings.NewReader(""), Out: &out, ErrOut: &errOut}, func(string) string { return "" })
	}()
	waitOutput := func(want string) {
		t.Helper()
		deadline := time.Now().Add(10 * time.Second)
		for out.String() != want {
			if time.Now().After(deadline) {
				t.Fatalf("output:\n%s\nwant:\n%s", out.String(), want)
			}
			time.Sleep(5 * time.Millisecond)
		}
	}
	table := "NAME   READY   STATUS    RESTARTS   AGE\n" +
		"web    1/1     Running   0          3h\n"
	waitOutput(table)

	crashed := podAged("default", "web", 3*time.Hour)
	crashed.Status.ContainerStatuses[0].Ready = false
	crashed.Status.ContainerStatuses[0].State = v1.ContainerState{Waiting: &v1.ContainerStateWaiting{Reason: "CrashLoopBackOff"}}
	a.pods.Set(crashed)
	table += "web    0/1     CrashLoopBackOff   0          3h\n"
	waitOutput(table)

	cancel(signalError{syscall.SIGINT})
	if code := <-done; code != 130 {
		t.Errorf("exit code %d after SIGINT, want 130", code)
	}
}

func TestAgentConfig(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "agent.yaml")
	os.WriteFile(file, []byte("manifests: /from/file\nroot: /file/root\nclusterDNS: [10.0.0.10]\n"+
		"resyncPeriod: 30s\ncrashLoopBackOff:\n  maxContainerRestartPeriod: 20s\n  reducedDecay: true\n"+
		"containerLogMaxSize: 20Mi\ncontainerLogMaxFiles: 3\n"), 0o644)

	for _, tc := range []struct {
		args  []string
		check func(c mkConfig) string
	}{
		{[]string{"--config", file, "--root", "/flag/root"}, func(c mkConfig) string {
			if c.Manifests != "/from/file" || c.Root != "/flag/root" || c.ClusterDNS[0] != "10.0.0.10" ||
				c.Socket != "/run/minikubelet/minikubelet.sock" || c.Namespace != "minikubelet" ||
				c.ResyncPeriod != 30*time.Second || !c.CrashLoopBackOff.ReducedDecay ||
				c.CrashLoopBackOff.MaxContainerRestartPeriod.Duration != 20*time.Second ||
				c.ContainerLogMaxSize != "20Mi" || c.ContainerLogMaxFiles != 3 {
				return fmt.Sprintf("%+v", c)
			}
			return ""
		}},
		{[]string{"--namespace", "test-ns", "--cluster-dns", "1.1.1.1,2.2.2.2", "--resync-period", "3s"}, func(c mkConfig) string {
			if c.Namespace != "test-ns" || len(c.ClusterDNS) != 2 || c.ResyncPeriod != 3*time.Second || c.Manifests != "/etc/minikubelet/manifests" ||
				c.ContainerLogMaxSize != "10Mi" || c.ContainerLogMaxFiles != 5 {
				return fmt.Sprintf("%+v", c)
			}
			return ""
		}},
		// A nested flag changes only its own key of the file's object.
		{[]string{"--config", file, "--max-container-restart-period", "40s", "--offline", "--container-log-max-size", "1Gi"}, func(c mkConfig) string {
			if c.CrashLoopBackOff.MaxContainerRestartPeriod.Duration != 40*time.Second || !c.CrashLoopBackOff.ReducedDecay ||
				!c.Offline || c.ResyncPeriod != 30*time.Second || c.ContainerLogMaxSize != "1Gi" || c.ContainerLogMaxFiles != 3 {
				return fmt.Sprintf("%+v", c)
			}
			return ""
		}},
	} {
		var got mkConfig
		var errOut bytes.Buffer
		cmd := newAgentCommand(IOStreams{Out: io.Discard, ErrOut: &errOut}, func(ctx context.Context, _ *zapLogger, cfg mkConfig, v string) error {
			got = cfg
			return nil
		})
		cmd.SetArgs(tc.args)
		if err := cmd.ExecuteContext(context.Background()); err != nil {
			t.Fatalf("%v: %v", tc.args, err)
		}
		if msg := tc.check(got); msg != "" {
			t.Errorf("%v: %s", tc.args, msg)
		}
	}

	os.WriteFile(file, []byte("manifest: /typo\n"), 0o644)
	cmd := newAgentCommand(IOStreams{Out: io.Discard, ErrOut: io.Discard}, func(context.Context, *zapLogger, mkConfig, string) error { return nil })
	cmd.SetArgs([]string{"--config", file})
	if err := cmd.ExecuteContext(context.Background()); err == nil || !strings.Contains(err.Error(), "unknown field") {
		t.Errorf("unknown key: %v", err)
	}
}

// TestAgentFlagsThroughRoot checks that the agent's own --namespace and
// --socket shadow the client commands' global flags of the same names.
func TestAgentFlagsThroughRoot(t *testing.T) {
	var got mkConfig
	root := newRootCommand(context.Background(), IOStreams{In: strings.NewReader(""), Out: io.Discard, ErrOut: io.Discard},
		func(string) string { return "/env/socket" },
		func(ctx context.Context, _ *zapLogger, cfg mkConfig, v string) error { got = cfg; return nil })
	root.SetArgs([]string{"agent", "--namespace", "ctr-ns", "--socket", "/tmp/x.sock"})
	if err := root.Execute(); err != nil {
		t.Fatal(err)
	}
	if got.Namespace != "ctr-ns" || got.Socket != "/tmp/x.sock" {
		t.Errorf("agent got namespace %q socket %q", got.Namespace, got.Socket)
	}
	root = newRootCommand(context.Background(), IOStreams{In: strings.NewReader(""), Out: io.Discard, ErrOut: io.Discard},
		func(string) string { return "" },
		func(ctx context.Context, _ *zapLogger, cfg mkConfig, v string) error { got = cfg; return nil })
	root.SetArgs([]string{"agent"})
	if err := root.Execute(); err != nil {
		t.Fatal(err)
	}
	if got.Namespace != "minikubelet" || got.Socket != "/run/minikubelet/minikubelet.sock" {
		t.Errorf("agent defaults: namespace %q socket %q", got.Namespace, got.Socket)
	}
}
