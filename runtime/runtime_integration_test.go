//go:build integration

package runtime_test

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

	"github.com/containerd/containerd"
	"github.com/containerd/containerd/errdefs"
	specs "github.com/opencontainers/runtime-spec/specs-go"
	v1 "k8s.io/api/core/v1"

	"github.com/minikubelet/minikubelet/internal/testenv"
	"github.com/minikubelet/minikubelet/netns"
	"github.com/minikubelet/minikubelet/runtime"
)

func TestMain(m *testing.M) { testenv.Main(m) }

// testTimeout bounds every test's calls; conditions are waited for, never
// slept on.
const testTimeout = 2 * time.Minute

func testContext(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), testTimeout)
	t.Cleanup(cancel)
	return ctx
}

// waitLog waits until the container's log file has a record with content.
func waitLog(t *testing.T, path, stream, content string) {
	t.Helper()
	testenv.WaitFor(t, fmt.Sprintf("%q in %s", content, path), func() (bool, string) {
		b, err := os.ReadFile(path)
		if err != nil {
			return false, err.Error()
		}
		for _, line := range strings.Split(string(b), "\n") {
			f := strings.SplitN(line, " ", 4)
			if len(f) == 4 && f[1] == stream && f[2] == "F" && f[3] == content {
				return true, ""
			}
		}
		return false, string(b)
	})
}

// execOut runs cmd in the container and returns its trimmed output; it
// fails the test unless the command exits 0.
func execOut(t *testing.T, env *testenv.Env, id string, cmd ...string) string {
	t.Helper()
	out, code, err := env.Runtime.ExecSync(testContext(t), id, cmd, 30*time.Second)
	if err != nil || code != 0 {
		t.Fatalf("exec %q: code %d, err %v, output %q", cmd, code, err, out)
	}
	return strings.TrimSpace(string(out))
}

func containerState(t *testing.T, env *testenv.Env, pod *v1.Pod, id string) runtime.Container {
	t.Helper()
	ps, err := env.Runtime.PodState(testContext(t), pod.UID)
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range ps.Containers {
		if c.ID == id {
			return c
		}
	}
	t.Fatalf("container %s not in pod state %+v", id, ps)
	return runtime.Container{}
}

// teardown does what the pod worker does when a pod goes away, and then
// checks that nothing of the pod is left anywhere.
func teardown(t *testing.T, env *testenv.Env, pod *v1.Pod) {
	t.Helper()
	ctx := testContext(t)
	ps, err := env.Runtime.PodState(ctx, pod.UID)
	if err != nil {
		t.Fatal(err)
	}
	var ids []string
	for _, c := range ps.Containers {
		if err := env.Runtime.StopContainer(ctx, c.ID, 2*time.Second); err != nil {
			t.Errorf("StopContainer: %v", err)
		}
		if err := env.Runtime.RemoveContainer(ctx, c.ID); err != nil {
			t.Errorf("RemoveContainer: %v", err)
		}
		ids = append(ids, c.ID)
	}
	for _, sb := range ps.Sandboxes {
		for range 2 { // idempotent
			if err := env.Runtime.StopSandbox(ctx, sb.ID); err != nil {
				t.Errorf("StopSandbox: %v", err)
			}
			if err := env.Runtime.RemoveSandbox(ctx, sb.ID); err != nil {
				t.Errorf("RemoveSandbox: %v", err)
			}
		}
		ids = append(ids, sb.ID)
	}
	for range 2 {
		if err := env.Runtime.CleanupPod(ctx, pod.UID); err != nil {
			t.Errorf("CleanupPod: %v", err)
		}
	}
	env.AssertPodGone(t, pod, ids...)
}

func TestSandboxRunsAndContainerLogs(t *testing.T) {
	env := testenv.New(t)
	pod := env.Pod(t, `
metadata: {name: hello}
spec:
  containers:
  - name: main
    image: busybox
    command: [sh, -c, 'echo hello from $(POD_NAME); echo oops >&2; exec sleep 3600']
    env:
    - name: POD_NAME
      valueFrom: {fieldRef: {fieldPath: metadata.name}}
`)
	sb, cs := env.StartPod(t, testContext(t), pod)
	if len(sb.IPs) == 0 || !sb.Ready || sb.PID == 0 {
		t.Fatalf("sandbox = %+v", sb)
	}
	_, subnet, _ := net.ParseCIDR(env.Subnet)
	if !subnet.Contains(net.ParseIP(sb.IPs[0])) {
		t.Errorf("pod IP %s not in %s", sb.IPs[0], env.Subnet)
	}
	waitLog(t, cs[0].LogPath, "stdout", "hello from hello")
	waitLog(t, cs[0].LogPath, "stderr", "oops")

	ps, err := env.Runtime.PodState(testContext(t), pod.UID)
	if err != nil {
		t.Fatal(err)
	}
	if ps.Name != "hello" || ps.Namespace != "default" || len(ps.Sandboxes) != 1 || len(ps.Containers) != 1 {
		t.Fatalf("pod state = %+v", ps)
	}
	got := ps.Containers[0]
	if got.State != runtime.StateRunning || got.PID == 0 || got.StartedAt.IsZero() || got.SandboxID != sb.ID ||
		got.Name != "main" || got.Kind != runtime.KindApp || got.ImageRef != "docker.io/library/busybox:latest" ||
		!strings.HasPrefix(got.ImageID, "docker.io/library/busybox@sha256:") {
		t.Errorf("container = %+v", got)
	}
	if !ps.Sandboxes[0].Ready || ps.Sandboxes[0].IPs[0] != sb.IPs[0] {
		t.Errorf("sandbox state = %+v", ps.Sandboxes[0])
	}
	// The pod's files, as the container sees them.
	if h := execOut(t, env, got.ID, "cat", "/etc/hosts"); !strings.Contains(h, sb.IPs[0]+"\thello") {
		t.Errorf("/etc/hosts:\n%s", h)
	}
	if h := execOut(t, env, got.ID, "hostname"); h != "hello" {
		t.Errorf("hostname = %q", h)
	}
	// No cluster DNS in tests: the pod gets no nameserver, and never the host's.
	if r := execOut(t, env, got.ID, "cat", "/etc/resolv.conf"); strings.Contains(r, "nameserver") {
		t.Errorf("resolv.conf:\n%s", r)
	}
	if m := execOut(t, env, got.ID, "sh", "-c", "grep ' /dev/shm ' /proc/mounts"); !strings.Contains(m, "tmpfs") {
		t.Errorf("/dev/shm: %s", m)
	}
	if p, err := env.Runtime.SavedPod(testContext(t), pod.UID); err != nil || p.Name != "hello" {
		t.Errorf("SavedPod = %v, %v", p, err)
	}
	teardown(t, env, pod)
}

// Output that comes after the streams were quiet for longer than the
// log copier waits with a goroutine of its own (5 s: they are parked in
// the runtime's one epoll set then) is logged as any other, a line begun
// before a quiet spell as one record, and a stop ends parked streams.
func TestContainerLogsAfterQuietSpells(t *testing.T) {
	env := testenv.New(t)
	pod := env.Pod(t, `
metadata: {name: quiet}
spec:
  containers:
  - name: main
    image: busybox
    command: [sh, -c, 'echo before; sleep 7; printf "after\\npart"; echo err >&2; sleep 7; echo ial; exec sleep 3600']
`)
	_, cs := env.StartPod(t, testContext(t), pod)
	waitLog(t, cs[0].LogPath, "stdout", "partial")
	waitLog(t, cs[0].LogPath, "stderr", "err")
	b, err := os.ReadFile(cs[0].LogPath)
	if err != nil {
		t.Fatal(err)
	}
	var stdout []string
	for _, line := range strings.Split(strings.TrimSuffix(string(b), "\n"), "\n") {
		if f := strings.SplitN(line, " ", 4); len(f) == 4 && f[1] == "stdout" {
			stdout = append(stdout, f[2]+" "+f[3])
		}
	}
	if want := []string{"F before", "F after", "F partial"}; !slices.Equal(stdout, want) {
		t.Errorf("stdout records %q, want %q; log:\n%s", stdout, want, b)
	}
	// Quiet again for longer than 5 s: the streams are parked when the
	// container is stopped, and its end must still end their copies (or
	// RemoveContainer waits 10 s for them, then cuts them off).
	time.Sleep(6 * time.Second)
	teardown(t, env, pod)
}

func TestContainersShareNetworkIPCAndUTS(t *testing.T) {
	env := testenv.New(t)
	pod := env.Pod(t, `
metadata: {name: pair}
spec:
  containers:
  - name: server
    image: busybox
    command: [sh, -c, 'echo pong > /tmp/index.html && exec httpd -f -p 8080 -h /tmp']
  - name: client
    image: busybox
    command: [sleep, "3600"]
`)
	_, cs := env.StartPod(t, testContext(t), pod)
	server, client := cs[0].ID, cs[1].ID
	testenv.WaitFor(t, "the client to reach the server on localhost", func() (bool, string) {
		out, code, err := env.Runtime.ExecSync(testContext(t), client, []string{"wget", "-q", "-O-", "http://127.0.0.1:8080/index.html"}, 10*time.Second)
		return err == nil && code == 0 && strings.TrimSpace(string(out)) == "pong", fmt.Sprintf("%d %v %q", code, err, out)
	})
	for _, ns := range []string{"net", "ipc", "uts"} {
		a := execOut(t, env, server, "readlink", "/proc/self/ns/"+ns)
		b := execOut(t, env, client, "readlink", "/proc/self/ns/"+ns)
		if a != b {
			t.Errorf("%s namespace not shared: %s vs %s", ns, a, b)
		}
	}
	if a, b := execOut(t, env, server, "readlink", "/proc/self/ns/pid"), execOut(t, env, client, "readlink", "/proc/self/ns/pid"); a == b {
		t.Errorf("PID namespace shared without shareProcessNamespace")
	}
	if h := execOut(t, env, client, "hostname"); h != "pair" {
		t.Errorf("hostname = %q", h)
	}
	teardown(t, env, pod)
}

func TestEnvCommandArgsAndWorkingDir(t *testing.T) {
	env := testenv.New(t)
	pod := env.Pod(t, `
metadata: {name: envpod, labels: {app: demo}}
spec:
  containers:
  - name: main
    image: busybox
    workingDir: /tmp
    command: [sh, -c]
    args:
    - 'printf "%s\n" "$@"; echo "env=$GREETING ip=$POD_IP app=$APP pwd=$(pwd) host=$HOSTNAME"; exec sleep 3600'
    - sh
    - 'cmd=$(GREETING) esc=$$(GREETING) unknown=$(NOPE)'
    env:
    - {name: WHO, value: world}
    - {name: GREETING, value: "hello $(WHO)"}
    - name: POD_IP
      valueFrom: {fieldRef: {fieldPath: status.podIP}}
    - name: APP
      valueFrom: {fieldRef: {fieldPath: "metadata.labels['app']"}}
`)
	sb, cs := env.StartPod(t, testContext(t), pod)
	waitLog(t, cs[0].LogPath, "stdout", "cmd=hello world esc=$(GREETING) unknown=$(NOPE)")
	waitLog(t, cs[0].LogPath, "stdout", fmt.Sprintf("env=hello world ip=%s app=demo pwd=/tmp host=envpod", sb.IPs[0]))
	teardown(t, env, pod)
}

func TestEmptyDirSurvivesContainerRecreation(t *testing.T) {
	env := testenv.New(t)
	pod := env.Pod(t, `
metadata: {name: vol}
spec:
  volumes:
  - {name: data, emptyDir: {}}
  - {name: mem, emptyDir: {medium: Memory}}
  containers:
  - name: main
    image: busybox
    command: [sh, -c, 'if [ -f /data/first ]; then cat /data/first /mem/first; else echo one > /data/first; echo mem > /mem/first; fi; exec sleep 3600']
    volumeMounts:
    - {name: data, mountPath: /data}
    - {name: mem, mountPath: /mem}
`)
	ctx := testContext(t)
	sb, cs := env.StartPod(t, ctx, pod)
	first := cs[0]
	testenv.WaitFor(t, "the first instance to write", func() (bool, string) {
		_, err := os.Stat(filepath.Join(env.Root, "pods", string(pod.UID), "volumes", "empty-dir", "data", "first"))
		return err == nil, fmt.Sprint(err)
	})
	if m := execOut(t, env, first.ID, "sh", "-c", "grep ' /mem ' /proc/mounts"); !strings.Contains(m, "tmpfs") {
		t.Errorf("memory emptyDir is not tmpfs: %q", m)
	}
	// The container "crashes" and is re-created: the data is still there.
	if err := env.Runtime.StopContainer(ctx, first.ID, 0); err != nil {
		t.Fatal(err)
	}
	if st := containerState(t, env, pod, first.ID); st.State != runtime.StateExited || st.ExitCode != 137 {
		t.Errorf("after SIGKILL: %+v", st)
	}
	second, err := env.Runtime.StartContainer(ctx, sb, pod, &pod.Spec.Containers[0], runtime.ContainerOptions{
		RestartCount: 1, LogPath: env.LogPath(pod, "main", 1),
	})
	if err != nil {
		t.Fatal(err)
	}
	waitLog(t, second.LogPath, "stdout", "one")
	waitLog(t, second.LogPath, "stdout", "mem")
	if st := containerState(t, env, pod, second.ID); st.RestartCount != 1 {
		t.Errorf("restart count = %d", st.RestartCount)
	}
	teardown(t, env, pod)
}

func TestExitEventsIgnoreExecs(t *testing.T) {
	env := testenv.New(t)
	pod := env.Pod(t, `
metadata: {name: exits}
spec:
  containers:
  - name: main
    image: busybox
    command: [sh, -c, 'while [ ! -f /tmp/stop ]; do sleep 0.1; done; echo bye > /dev/termination-log; exit 7']
`)
	ctx, cancel := context.WithCancel(testContext(t))
	defer cancel()
	events := env.Runtime.Subscribe(ctx)
	_, cs := env.StartPod(t, testContext(t), pod)
	id := cs[0].ID

	out, code, err := env.Runtime.ExecSync(ctx, id, []string{"false"}, 10*time.Second)
	if err != nil || code != 1 {
		t.Fatalf("exec false: %d %v %q", code, err, out)
	}
	if _, code, _ := env.Runtime.ExecSync(ctx, id, []string{"sh", "-c", "exit 3"}, 10*time.Second); code != 3 {
		t.Fatalf("exec exit 3: code %d", code)
	}
	execOut(t, env, id, "touch", "/tmp/stop")
	// Events arrive in order: had an exec's exit looked like the
	// container's, it would come first, with code 1 or 3.
	for {
		select {
		case ev := <-events:
			if ev.ContainerID != id {
				continue
			}
			if ev.Type != runtime.ContainerExited || ev.ExitCode != 7 || ev.PodUID != pod.UID {
				t.Fatalf("first event for the container = %+v", ev)
			}
		case <-ctx.Done():
			t.Fatal("no exit event")
		}
		break
	}
	st := containerState(t, env, pod, id)
	if st.State != runtime.StateExited || st.ExitCode != 7 || st.Reason != "Error" || st.FinishedAt.IsZero() || st.Message != "bye\n" {
		t.Errorf("exited container = %+v", st)
	}
	// Finalized by the exit monitor after the event: the task (and its
	// shim) goes, the status stays.
	c, err := env.Client.LoadContainer(env.Ctx(ctx), id)
	if err != nil {
		t.Fatal(err)
	}
	testenv.WaitFor(t, "the exited container's task to be deleted", func() (bool, string) {
		_, err := c.Task(env.Ctx(ctx), nil)
		return errdefs.IsNotFound(err), fmt.Sprint(err)
	})
	if st2 := containerState(t, env, pod, id); st2.State != st.State || st2.ExitCode != st.ExitCode || st2.Reason != st.Reason ||
		!st2.FinishedAt.Equal(st.FinishedAt) || st2.Message != st.Message {
		t.Errorf("status changed by the finalization:\nbefore %+v\nafter  %+v", st, st2)
	}
	teardown(t, env, pod)
}

func TestStopContainerGraceAndStopSignal(t *testing.T) {
	env := testenv.New(t)
	pod := env.Pod(t, `
metadata: {name: stopper}
spec:
  containers:
  - name: polite
    image: busybox
    command: [sh, -c, 'trap "exit 0" TERM; while true; do sleep 0.2; done']
  - name: stubborn
    image: busybox
    command: [sh, -c, 'trap "" TERM; while true; do sleep 0.2; done']
`)
	ctx := testContext(t)
	_, cs := env.StartPod(t, ctx, pod)
	// Let the shells install their traps before signalling.
	for _, c := range cs {
		testenv.WaitFor(t, "the shell to run", func() (bool, string) {
			out, _, err := env.Runtime.ExecSync(ctx, c.ID, []string{"sh", "-c", "pidof sleep"}, 10*time.Second)
			return err == nil && len(strings.TrimSpace(string(out))) > 0, string(out)
		})
	}
	if err := env.Runtime.StopContainer(ctx, cs[0].ID, time.Minute); err != nil {
		t.Fatal(err)
	}
	if st := containerState(t, env, pod, cs[0].ID); st.ExitCode != 0 || st.Reason != "Completed" {
		t.Errorf("polite container after SIGTERM: %+v", st)
	}
	if err := env.Runtime.StopContainer(ctx, cs[1].ID, time.Second); err != nil {
		t.Fatal(err)
	}
	if st := containerState(t, env, pod, cs[1].ID); st.ExitCode != 137 || st.Reason != "Error" {
		t.Errorf("stubborn container after grace: %+v", st)
	}
	// Stopping again is fine.
	if err := env.Runtime.StopContainer(ctx, cs[1].ID, time.Second); err != nil {
		t.Error(err)
	}
	teardown(t, env, pod)
}

func TestRestartAdoptsContainersAndReattachesLogs(t *testing.T) {
	env := testenv.New(t)
	pod := env.Pod(t, `
metadata: {name: survivor}
spec:
  containers:
  - name: long
    image: busybox
    command: [sh, -c, 'echo before; exec sleep 3600']
  - name: short
    image: busybox
    command: [sh, -c, 'while [ ! -f /tmp/stop ]; do sleep 0.1; done; exit 4']
`)
	ctx := testContext(t)
	_, cs := env.StartPod(t, ctx, pod)
	long, short := cs[0], cs[1]
	waitLog(t, long.LogPath, "stdout", "before")

	// The agent goes away: containers keep running.
	if err := env.Runtime.Close(); err != nil {
		t.Fatal(err)
	}
	// Meanwhile one container writes (the shim holds it) and the other
	// exits (its status must not be lost).
	first := env.Runtime
	if _, code, err := first.ExecSync(ctx, long.ID, []string{"sh", "-c", "echo during-downtime > /proc/1/fd/1"}, 10*time.Second); err != nil || code != 0 {
		t.Fatalf("write while detached: %d %v", code, err)
	}
	if _, code, err := first.ExecSync(ctx, short.ID, []string{"touch", "/tmp/stop"}, 10*time.Second); err != nil || code != 0 {
		t.Fatalf("stop short: %d %v", code, err)
	}
	sc, err := env.Client.LoadContainer(env.Ctx(ctx), short.ID)
	if err != nil {
		t.Fatal(err)
	}
	testenv.WaitFor(t, "the short container to exit", func() (bool, string) {
		task, err := sc.Task(env.Ctx(ctx), nil)
		if err != nil {
			return false, err.Error()
		}
		st, err := task.Status(env.Ctx(ctx))
		return err == nil && st.Status == "stopped", fmt.Sprint(st.Status, err)
	})

	// A new agent over the same state.
	second, err := runtime.New(ctx, env.Log.Named("restarted"), env.Client, env.RuntimeConfig())
	if err != nil {
		t.Fatal(err)
	}
	env.Runtime = second // teardown and cleanup use the live one
	// The pods as its start-up listing found them: what a listing says
	// (also once the exit monitor has finalized the short one's exit).
	startup, err := second.StartupPods(ctx)
	if err != nil {
		t.Fatal(err)
	}
	listed, err := second.ListPods(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(startup) != 1 || len(listed) != 1 || startup[0].UID != pod.UID {
		t.Fatalf("StartupPods = %+v, ListPods = %+v, want pod %s", startup, listed, pod.UID)
	}
	if got, want := podSummary(startup[0]), podSummary(listed[0]); got != want {
		t.Errorf("StartupPods: %s\nListPods: %s", got, want)
	}
	if again, err := second.StartupPods(ctx); err != nil || len(again) != 1 || podSummary(again[0]) != podSummary(listed[0]) {
		t.Errorf("StartupPods again = %+v, %v; want a listing: %s", again, err, podSummary(listed[0]))
	}
	ps, err := second.PodState(ctx, pod.UID)
	if err != nil {
		t.Fatal(err)
	}
	byID := map[string]runtime.Container{}
	for _, c := range ps.Containers {
		byID[c.ID] = c
	}
	if got := byID[long.ID]; got.State != runtime.StateRunning || got.PID != long.PID {
		t.Errorf("long container after restart: %+v (before: pid %d)", got, long.PID)
	}
	if got := byID[short.ID]; got.State != runtime.StateExited || got.ExitCode != 4 {
		t.Errorf("short container after restart: %+v", got)
	}
	waitLog(t, long.LogPath, "stdout", "during-downtime")
	execOut(t, env, long.ID, "sh", "-c", "echo after-restart > /proc/1/fd/1")
	waitLog(t, long.LogPath, "stdout", "after-restart")
	pods, err := second.ListPods(ctx)
	if err != nil || len(pods) != 1 || pods[0].UID != pod.UID {
		t.Errorf("ListPods = %+v, %v", pods, err)
	}
	teardown(t, env, pod)
}

// podSummary is what a pod's state says of its sandboxes and containers:
// IDs, states, PIDs, exit codes and start times.
func podSummary(ps runtime.PodState) string {
	var b strings.Builder
	fmt.Fprintf(&b, "%s %s/%s", ps.UID, ps.Namespace, ps.Name)
	for _, sb := range ps.Sandboxes {
		fmt.Fprintf(&b, "; sandbox %s ready %v pid %d %v", sb.ID, sb.Ready, sb.PID, sb.IPs)
	}
	for _, c := range ps.Containers {
		fmt.Fprintf(&b, "; %s %s %v pid %d exit %d started %s", c.Name, c.ID, c.State, c.PID, c.ExitCode, c.StartedAt.UTC().Format(time.RFC3339Nano))
	}
	return b.String()
}

func TestExecSyncLimits(t *testing.T) {
	env := testenv.New(t)
	pod := env.Pod(t, `
metadata: {name: execs}
spec:
  containers:
  - {name: main, image: busybox, command: [sleep, "3600"]}
`)
	ctx := testContext(t)
	_, cs := env.StartPod(t, ctx, pod)
	id := cs[0].ID
	out, code, err := env.Runtime.ExecSync(ctx, id, []string{"sh", "-c", "yes | head -c 100000"}, 10*time.Second)
	if err != nil || code != 0 || len(out) != 10<<10 {
		t.Errorf("large output: code %d err %v len %d", code, err, len(out))
	}
	_, _, err = env.Runtime.ExecSync(ctx, id, []string{"sleep", "30"}, time.Second)
	if !errors.Is(err, runtime.ErrExecTimeout) || !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("timeout: %v (the prober knows a timeout by context.DeadlineExceeded)", err)
	}
	if ps := execOut(t, env, id, "sh", "-c", "ps -o comm | grep -c sleep || true"); ps != "1" {
		t.Errorf("the timed-out exec still runs: %s sleep processes", ps)
	}
	// Interactive exec with stdin.
	var stdout strings.Builder
	code, err = env.Runtime.Exec(ctx, id, runtime.ExecOptions{
		Cmd: []string{"sh", "-c", "read line; echo got $line; exit 5"}, Stdin: strings.NewReader("hi\n"), Stdout: &stdout, Stderr: &stdout,
	})
	if err != nil || code != 5 || strings.TrimSpace(stdout.String()) != "got hi" {
		t.Errorf("interactive exec: code %d err %v out %q", code, err, stdout.String())
	}
	if left, _ := os.ReadDir(filepath.Join(env.Root, "fifo", "exec")); len(left) > 0 {
		t.Errorf("exec FIFOs left: %d", len(left))
	}
	teardown(t, env, pod)
}

func TestImageStatusNormalizesNames(t *testing.T) {
	env := testenv.New(t)
	ctx := testContext(t)
	info, err := env.Runtime.ImageStatus(ctx, "busybox")
	if err != nil {
		t.Fatal(err)
	}
	if info.Ref != "docker.io/library/busybox:latest" || !strings.HasPrefix(info.ID, "docker.io/library/busybox@sha256:") || info.Size == 0 {
		t.Errorf("busybox = %+v", info)
	}
	if _, err := env.Runtime.ImageStatus(ctx, "docker.io/library/busybox:1.36"); err != nil {
		t.Error(err)
	}
	if _, err := env.Runtime.ImageStatus(ctx, "busybox:nope"); !errors.Is(err, runtime.ErrImageNotPresent) {
		t.Errorf("missing image: %v", err)
	}
	if _, err := env.Runtime.ImageStatus(ctx, "Not A Name"); !errors.Is(err, runtime.ErrInvalidImageName) {
		t.Errorf("bad name: %v", err)
	}
	digestRef := strings.Replace(info.ID, "docker.io/library/", "", 1)
	if got, err := env.Runtime.ImageStatus(ctx, digestRef); err != nil || got.ID != info.ID {
		t.Errorf("by digest %s: %+v %v", digestRef, got, err)
	}
}

func TestStartErrorReturnsTheContainer(t *testing.T) {
	env := testenv.New(t)
	pod := env.Pod(t, `
metadata: {name: broken}
spec:
  containers:
  - {name: main, image: busybox, command: [/no/such/binary]}
`)
	ctx := testContext(t)
	sb, err := env.Runtime.RunSandbox(ctx, pod, 0)
	if err != nil {
		t.Fatal(err)
	}
	c, err := env.Runtime.StartContainer(ctx, sb, pod, &pod.Spec.Containers[0], runtime.ContainerOptions{LogPath: env.LogPath(pod, "main", 0)})
	if err == nil || c.ID == "" {
		t.Fatalf("StartContainer = %+v, %v; want the container and an error", c, err)
	}
	st := containerState(t, env, pod, c.ID)
	if st.State != runtime.StateExited || st.ExitCode != 128 || st.Reason != "StartError" || st.Message == "" {
		t.Errorf("failed container = %+v", st)
	}
	teardown(t, env, pod)
}

func TestOOMKilled(t *testing.T) {
	env := testenv.New(t)
	pod := env.Pod(t, `
metadata: {name: hungry}
spec:
  containers:
  - name: main
    image: busybox
    command: [sh, -c, 'head -c 500m /dev/zero | tail']
    resources: {limits: {memory: 32Mi}}
`)
	ctx := testContext(t)
	events := env.Runtime.Subscribe(ctx)
	_, cs := env.StartPod(t, ctx, pod)
	var sawOOM, sawExit bool
	for !sawExit {
		select {
		case ev := <-events:
			if ev.ContainerID != cs[0].ID {
				continue
			}
			switch ev.Type {
			case runtime.ContainerOOM:
				sawOOM = true
			case runtime.ContainerExited:
				sawExit = true
			}
		case <-ctx.Done():
			t.Fatal("no exit event")
		}
	}
	if !sawOOM {
		t.Error("no OOM event before the exit")
	}
	testenv.WaitFor(t, "reason OOMKilled", func() (bool, string) {
		st := containerState(t, env, pod, cs[0].ID)
		return st.State == runtime.StateExited && st.Reason == "OOMKilled", fmt.Sprintf("%+v", st)
	})
	teardown(t, env, pod)
}

func TestSharedPIDNamespaceAndHostPath(t *testing.T) {
	env := testenv.New(t)
	hostDir := t.TempDir()
	if err := os.WriteFile(filepath.Join(hostDir, "greeting"), []byte("from the host\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	pod := env.Pod(t, `
metadata: {name: sharing}
spec:
  shareProcessNamespace: true
  volumes:
  - {name: host, hostPath: {path: "`+hostDir+`", type: Directory}}
  containers:
  - {name: a, image: busybox, command: [sleep, "3601"]}
  - name: b
    image: busybox
    command: [sleep, "3602"]
    volumeMounts: [{name: host, mountPath: /host, readOnly: true}]
`)
	_, cs := env.StartPod(t, testContext(t), pod)
	if ps := execOut(t, env, cs[1].ID, "ps", "-o", "args"); !strings.Contains(ps, "sleep 3601") {
		t.Errorf("b does not see a's processes:\n%s", ps)
	}
	if g := execOut(t, env, cs[1].ID, "cat", "/host/greeting"); g != "from the host" {
		t.Errorf("hostPath content = %q", g)
	}
	if _, code, _ := env.Runtime.ExecSync(testContext(t), cs[1].ID, []string{"touch", "/host/x"}, 10*time.Second); code == 0 {
		t.Error("read-only hostPath is writable")
	}
	teardown(t, env, pod)
}

func TestTTYContainerAndExec(t *testing.T) {
	env := testenv.New(t)
	pod := env.Pod(t, `
metadata: {name: terminal}
spec:
  containers:
  - {name: main, image: busybox, tty: true, command: [sh, -c, 'echo on-a-tty; tty; exec sleep 3600']}
`)
	_, cs := env.StartPod(t, testContext(t), pod)
	waitLog(t, cs[0].LogPath, "stdout", "on-a-tty")
	waitLog(t, cs[0].LogPath, "stdout", "/dev/pts/0")
	var out strings.Builder
	resize := make(chan runtime.TerminalSize, 1)
	resize <- runtime.TerminalSize{Width: 100, Height: 40}
	code, err := env.Runtime.Exec(testContext(t), cs[0].ID, runtime.ExecOptions{
		Cmd: []string{"tty"}, TTY: true, Stdout: &out, Resize: resize,
	})
	if err != nil || code != 0 || !strings.HasPrefix(strings.TrimSpace(out.String()), "/dev/pts/") {
		t.Errorf("exec with TTY: code %d err %v out %q", code, err, out.String())
	}
	// The process starts on a terminal of the size first sent, not on
	// one the size reaches after it ran.
	out.Reset()
	resize = make(chan runtime.TerminalSize, 1)
	resize <- runtime.TerminalSize{Width: 120, Height: 40}
	code, err = env.Runtime.Exec(testContext(t), cs[0].ID, runtime.ExecOptions{
		Cmd: []string{"stty", "size"}, TTY: true, Stdout: &out, Resize: resize,
	})
	if err != nil || code != 0 || strings.TrimSpace(out.String()) != "40 120" {
		t.Errorf("stty size at the start of an exec with TTY: code %d err %v out %q, want 40 120", code, err, out.String())
	}
	teardown(t, env, pod)
}

// A CNI plugin that hangs: RunSandbox fails once NetworkTimeout has passed,
// naming the timeout, undoes what it made, and a sandbox starts once the
// plugin answers again.
func TestHungCNIPluginTimesOut(t *testing.T) {
	env := testenv.New(t)
	var real string
	for _, d := range []string{"/opt/cni/bin", "/usr/lib/cni"} {
		if _, err := os.Stat(filepath.Join(d, "bridge")); err == nil {
			real = filepath.Join(d, "bridge")
			break
		}
	}
	if real == "" {
		t.Fatal("no bridge CNI plugin in /opt/cni/bin or /usr/lib/cni")
	}
	binDir, hang := t.TempDir(), filepath.Join(t.TempDir(), "hang")
	script := fmt.Sprintf("#!/bin/sh\nif [ \"$CNI_COMMAND\" = ADD ] && [ -f %q ]; then exec sleep 3600; fi\nexec %q \"$@\"\n", hang, real)
	if err := os.WriteFile(filepath.Join(binDir, "bridge"), []byte(script), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(hang, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	network, err := netns.NewNetwork(env.Log.Named("hung-cni"), netns.Config{
		NetworkName: env.Namespace, Bridge: env.Bridge, Subnet: env.Subnet,
		BinDirs: []string{binDir, filepath.Dir(real)},
		ConfDir: filepath.Join(env.Root, "cni", "conf"), DataDir: filepath.Join(env.Root, "cni", "data"),
	})
	if err != nil {
		t.Fatal(err)
	}
	cfg := env.RuntimeConfig()
	cfg.Network = network
	cfg.NetworkTimeout = 2 * time.Second
	ctx := testContext(t)
	rt, err := runtime.New(ctx, env.Log.Named("hung-cni"), env.Client, cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer rt.Close()
	pod := env.Pod(t, `
metadata: {name: hung}
spec:
  containers: [{name: c, image: busybox}]
`)
	if _, err := rt.RunSandbox(ctx, pod, 0); err == nil || !strings.Contains(err.Error(), "CNI ADD did not finish within 2s") {
		t.Fatalf("RunSandbox with a hung plugin: %v", err)
	}
	if ns, _ := filepath.Glob(filepath.Join(cfg.NetNSDir, "*")); len(ns) > 0 {
		t.Errorf("netns left after the failed sandbox: %v", ns)
	}

	if err := os.Remove(hang); err != nil {
		t.Fatal(err)
	}
	sb, err := rt.RunSandbox(ctx, pod, 1)
	if err != nil {
		t.Fatalf("RunSandbox once the plugin answers: %v", err)
	}
	if len(sb.IPs) == 0 || !sb.Ready {
		t.Errorf("sandbox = %+v", sb)
	}
	if err := rt.RemoveSandbox(ctx, sb.ID); err != nil {
		t.Fatal(err)
	}
	if err := rt.CleanupPod(ctx, pod.UID); err != nil {
		t.Fatal(err)
	}
	env.AssertPodGone(t, pod, sb.ID)
}

// A pod's containers share the shim of its sandbox: one shim per pod, which
// serves exec and stop of each container, outlives the removal of one of
// them and exits once the pod is gone.
func TestOneShimPerPod(t *testing.T) {
	env := testenv.New(t)
	pod := env.Pod(t, `
metadata: {name: grouped}
spec:
  containers:
  - name: a
    image: busybox
    command: [sleep, "3600"]
  - name: b
    image: busybox
    command: [sleep, "3600"]
`)
	ctx := testContext(t)
	sb, cs := env.StartPod(t, ctx, pod)
	shims := env.Shims()
	if want := fmt.Sprintf("id %s", sb.ID); len(shims) != 1 || !strings.HasSuffix(shims[0], want) {
		t.Fatalf("shims = %q, want one, for the sandbox %s", shims, sb.ID)
	}

	// One container stopped and removed: the other lives on in the shim.
	if err := env.Runtime.StopContainer(ctx, cs[0].ID, 2*time.Second); err != nil {
		t.Fatal(err)
	}
	if st := containerState(t, env, pod, cs[0].ID); st.State != runtime.StateExited {
		t.Errorf("stopped container is %v", st.State)
	}
	if err := env.Runtime.RemoveContainer(ctx, cs[0].ID); err != nil {
		t.Fatal(err)
	}
	if got := execOut(t, env, cs[1].ID, "echo", "alive"); got != "alive" {
		t.Errorf("exec = %q", got)
	}
	if shims := env.Shims(); len(shims) != 1 {
		t.Errorf("shims after one container went = %q", shims)
	}

	teardown(t, env, pod)
	testenv.WaitFor(t, "the pod's shim to exit", func() (bool, string) {
		shims := env.Shims()
		return len(shims) == 0, strings.Join(shims, ", ")
	})
}

// The sandbox's pause process runs as 65535:65535, as upstream's pause image
// does (USER 65535:65535): it holds namespaces and reaps children, neither
// needs root. A pod's runAsUser and runAsGroup replace that user, and its
// fsGroup and supplementalGroups are pause's groups, as containerd's CRI
// applies the sandbox security context the kubelet gives it. Checked in
// /proc, where nothing the container says can hide it.
func TestPauseRunsAsNonRoot(t *testing.T) {
	env := testenv.New(t)
	tests := []struct {
		name, securityContext string
		// want holds /proc's Uid, Gid (real, effective, saved and
		// filesystem alike) and Groups lines.
		uid, gid, groups string
	}{
		{"image user", "{}", "65535", "65535", "65535"},
		{"pod user", "{runAsUser: 1000, runAsGroup: 3000, fsGroup: 2000, supplementalGroups: [4000]}", "1000", "3000", "2000 4000"},
	}
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			pod := env.Pod(t, fmt.Sprintf(`
metadata: {name: pause-user-%d}
spec:
  securityContext: %s
  containers:
  - {name: main, image: busybox, command: [sleep, '3600']}
`, i, tt.securityContext))
			sb, _ := env.StartPod(t, testContext(t), pod)
			status, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", sb.PID))
			if err != nil {
				t.Fatal(err)
			}
			got := map[string]string{}
			for _, line := range strings.Split(string(status), "\n") {
				if k, v, ok := strings.Cut(line, ":"); ok {
					got[k] = strings.Join(strings.Fields(v), " ")
				}
			}
			four := func(id string) string { return strings.Repeat(id+" ", 3) + id }
			if got["Uid"] != four(tt.uid) || got["Gid"] != four(tt.gid) || got["Groups"] != tt.groups {
				t.Errorf("pause (pid %d) runs as Uid %q Gid %q Groups %q, want %s:%s groups %s",
					sb.PID, got["Uid"], got["Gid"], got["Groups"], tt.uid, tt.gid, tt.groups)
			}
		})
	}
}

// A container is not started into a sandbox whose pause process is gone:
// it would join namespaces that no longer exist, or another process's.
func TestStartContainerNeedsARunningSandbox(t *testing.T) {
	env := testenv.New(t)
	pod := env.Pod(t, `
metadata: {name: nosandbox}
spec:
  containers:
  - {name: main, image: busybox, command: [sleep, "3600"]}
`)
	ctx := testContext(t)
	sb, err := env.Runtime.RunSandbox(ctx, pod, 0)
	if err != nil {
		t.Fatal(err)
	}
	if err := env.Runtime.StopSandbox(ctx, sb.ID); err != nil {
		t.Fatal(err)
	}
	c, err := env.Runtime.StartContainer(ctx, sb, pod, &pod.Spec.Containers[0], runtime.ContainerOptions{LogPath: env.LogPath(pod, "main", 0)})
	if err == nil || !strings.Contains(err.Error(), "is not running") || c.ID != "" {
		t.Errorf("StartContainer in a stopped sandbox = %+v, %v; want no container and a sandbox error", c, err)
	}
	if ps, err := env.Runtime.PodState(ctx, pod.UID); err != nil || len(ps.Containers) != 0 {
		t.Errorf("pod state = %+v, %v; want no container", ps, err)
	}
	teardown(t, env, pod)
}

// An exit is finalized a moment after it is streamed; a runtime closed in
// that moment leaves it to the next one, which finalizes it with the exit
// code the task had.
func TestExitFinalizedByTheNextRuntime(t *testing.T) {
	env := testenv.New(t)
	pod := env.Pod(t, `
metadata: {name: handover}
spec:
  containers:
  - name: main
    image: busybox
    command: [sh, -c, 'while [ ! -f /tmp/stop ]; do sleep 0.1; done; exit 5']
`)
	ctx := testContext(t)
	sctx, cancel := context.WithCancel(ctx)
	defer cancel()
	events := env.Runtime.Subscribe(sctx)
	_, cs := env.StartPod(t, ctx, pod)
	id := cs[0].ID
	execOut(t, env, id, "touch", "/tmp/stop")
	for ev := range events {
		if ev.ContainerID == id && ev.Type == runtime.ContainerExited {
			break
		}
	}
	if err := env.Runtime.Close(); err != nil {
		t.Fatal(err)
	}
	second, err := runtime.New(ctx, env.Log.Named("next"), env.Client, env.RuntimeConfig())
	if err != nil {
		t.Fatal(err)
	}
	env.Runtime = second // teardown and cleanup use the live one
	c, err := env.Client.LoadContainer(env.Ctx(ctx), id)
	if err != nil {
		t.Fatal(err)
	}
	testenv.WaitFor(t, "the exit to be finalized", func() (bool, string) {
		labels, err := c.Labels(env.Ctx(ctx))
		if err != nil || labels[runtime.LabelExitCode] == "" {
			return false, fmt.Sprint(labels, err)
		}
		_, err = c.Task(env.Ctx(ctx), nil)
		return errdefs.IsNotFound(err), fmt.Sprint(err)
	})
	if st := containerState(t, env, pod, id); st.State != runtime.StateExited || st.ExitCode != 5 || st.Reason != "Error" {
		t.Errorf("container after the handover = %+v", st)
	}
	teardown(t, env, pod)
}

// TestPodStateSeesContainersMadeBehindItsBack checks that a pod's state
// stays containerd's, though the runtime reads it by the IDs it knows: a
// container of the pod created or deleted by someone else, while the
// runtime runs or while none does, shows in PodState or leaves it.
func TestPodStateSeesContainersMadeBehindItsBack(t *testing.T) {
	env := testenv.New(t)
	pod := env.Pod(t, `
metadata: {name: watched}
spec:
  containers:
  - name: main
    image: busybox
    command: [sleep, "3600"]
`)
	ctx := testContext(t)
	sb, cs := env.StartPod(t, ctx, pod)
	cctx := env.Ctx(ctx)
	// A container record with the pod's labels and no task: PodState
	// reports it Created.
	create := func(id string) {
		t.Helper()
		_, err := env.Client.NewContainer(cctx, id,
			containerd.WithRuntime("io.containerd.runc.v2", nil),
			containerd.WithSpec(&specs.Spec{}),
			containerd.WithContainerLabels(map[string]string{
				runtime.LabelPodUID: string(pod.UID), runtime.LabelPodName: pod.Name, runtime.LabelPodNamespace: pod.Namespace,
				runtime.LabelKind: string(runtime.KindApp), runtime.LabelContainerName: id, runtime.LabelSandboxID: sb.ID,
			}))
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = env.Client.ContainerService().Delete(env.Ctx(context.Background()), id) })
	}
	remove := func(id string) {
		t.Helper()
		if err := env.Client.ContainerService().Delete(cctx, id); err != nil {
			t.Fatal(err)
		}
	}
	// has waits until PodState has (or lacks) id, and checks the pod's own
	// container is still there.
	has := func(id string, want bool) {
		t.Helper()
		testenv.WaitFor(t, fmt.Sprintf("container %s in the pod state: %v", id, want), func() (bool, string) {
			ps, err := env.Runtime.PodState(ctx, pod.UID)
			if err != nil {
				return false, err.Error()
			}
			found, main := false, false
			for _, c := range ps.Containers {
				found = found || c.ID == id
				main = main || c.ID == cs[0].ID && c.State == runtime.StateRunning
			}
			if !main {
				t.Fatalf("the pod's own container is missing or not running: %+v", ps)
			}
			return found == want && len(ps.Sandboxes) == 1, fmt.Sprintf("%+v", ps)
		})
	}

	create("while-running")
	has("while-running", true)
	if st := containerState(t, env, pod, "while-running"); st.State != runtime.StateCreated {
		t.Errorf("container created behind the runtime's back: %+v", st)
	}
	remove("while-running")
	has("while-running", false)

	// The same while no runtime runs: the next one finds out.
	if err := env.Runtime.Close(); err != nil {
		t.Fatal(err)
	}
	create("while-down")
	next, err := runtime.New(ctx, env.Log.Named("next"), env.Client, env.RuntimeConfig())
	if err != nil {
		t.Fatal(err)
	}
	env.Runtime = next // teardown and cleanup use the live one
	has("while-down", true)
	// Deleted and created while the next runtime reads by ID (its index is
	// ready once it has been subscribed a moment).
	remove("while-down")
	has("while-down", false)
	create("again")
	has("again", true)
	remove("again")
	has("again", false)
	teardown(t, env, pod)
}

// A container's user comes from its image's /etc/passwd and /etc/group
// (the lab's busybox has root and nobody, 65534:65534), read once per
// image and user: containers of the same image and user that follow get
// the same user and groups, and another user of the image its own.
func TestUserFromTheImage(t *testing.T) {
	env := testenv.New(t)
	pod := env.Pod(t, `
metadata: {name: users}
spec:
  securityContext: {supplementalGroups: [4000]}
  containers:
  - {name: root1, image: busybox, command: [sleep, '3600']}
  - {name: nobody1, image: busybox, command: [sleep, '3600'], securityContext: {runAsUser: 65534}}
  - {name: root2, image: busybox, command: [sleep, '3600']}
  - {name: unlisted, image: busybox, command: [sleep, '3600'], securityContext: {runAsUser: 1}}
  - {name: nobody2, image: busybox, command: [sleep, '3600'], securityContext: {runAsUser: 65534}}
`)
	_, cs := env.StartPod(t, testContext(t), pod)
	want := map[string]string{
		"root1":    "0 0 0 4000",
		"root2":    "0 0 0 4000",
		"nobody1":  "65534 65534 4000 65534",
		"nobody2":  "65534 65534 4000 65534",
		"unlisted": "1 0 0 4000", // not in /etc/passwd: group 0
	}
	for _, c := range cs {
		got := execOut(t, env, c.ID, "sh", "-c", `echo $(id -u) $(id -g) $(id -G | tr " " "\n" | sort -n)`)
		if got != want[c.Name] {
			t.Errorf("%s: uid, gid and groups %q, want %q", c.Name, got, want[c.Name])
		}
	}
	teardown(t, env, pod)
}
