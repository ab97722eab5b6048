package api

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"strings"
	"testing"
	"time"

	v1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/minikubelet/minikubelet/logs"
	"github.com/minikubelet/minikubelet/runtime"
)

// writeLog writes lines to the CRI log of one container instance through
// the logs package, as the runtime would.
func writeLog(t *testing.T, logDir string, pod *v1.Pod, container string, attempt int32, lines ...string) *logs.File {
	t.Helper()
	f, err := logs.OpenFile(runtime.LogPath(logDir, pod, container, attempt))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { f.Close() })
	out := f.Stream(logs.Stdout)
	for _, l := range lines {
		if _, err := io.WriteString(out, l+"\n"); err != nil {
			t.Fatal(err)
		}
	}
	return f
}

func readLogs(t *testing.T, env *testEnv, name string, opts LogOptions) (string, error) {
	t.Helper()
	var b strings.Builder
	err := env.client.Logs(context.Background(), "default", name, opts, &b)
	return b.String(), err
}

func ptr[T any](v T) *T { return &v }

func TestLogs(t *testing.T) {
	env := startServer(t, Deps{})
	pod := testPod("default", "web", nil)
	// Restarted once: 0.log is the previous instance, 1.log the current.
	pod.Status.ContainerStatuses[0].RestartCount = 1
	pod.Status.ContainerStatuses[0].LastTerminationState = v1.ContainerState{Terminated: &v1.ContainerStateTerminated{
		ExitCode: 1, ContainerID: "containerd://old",
	}}
	env.pods.Set(pod)
	writeLog(t, env.deps.LogDir, pod, "app", 0, "old one", "old two")
	writeLog(t, env.deps.LogDir, pod, "app", 1, "one", "two", "three")

	for _, tc := range []struct {
		name string
		opts LogOptions
		want string
	}{
		{"current", LogOptions{}, "one\ntwo\nthree\n"},
		{"named container", LogOptions{Container: "app"}, "one\ntwo\nthree\n"},
		{"tail", LogOptions{TailLines: ptr(int64(2))}, "two\nthree\n"},
		{"previous", LogOptions{Previous: true}, "old one\nold two\n"},
		{"limit", LogOptions{LimitBytes: ptr(int64(5))}, "one\nt"},
	} {
		got, err := readLogs(t, env, "web", tc.opts)
		if err != nil || got != tc.want {
			t.Errorf("%s: got %q, %v; want %q", tc.name, got, err, tc.want)
		}
	}
	got, err := readLogs(t, env, "web", LogOptions{Timestamps: true, TailLines: ptr(int64(1))})
	if err != nil || !strings.HasSuffix(got, " three\n") || !strings.HasPrefix(got, fmt.Sprint(time.Now().Year())) {
		t.Errorf("timestamps: %q, %v", got, err)
	}
}

func TestLogErrors(t *testing.T) {
	env := startServer(t, Deps{})
	fresh := testPod("default", "fresh", nil) // running, never restarted
	two := testPod("default", "two", nil)
	two.Spec.Containers = append(two.Spec.Containers, v1.Container{Name: "side"})
	two.Spec.InitContainers = []v1.Container{{Name: "init"}}
	waiting := testPod("default", "waiting", nil)
	waiting.Status.ContainerStatuses[0].State = v1.ContainerState{Waiting: &v1.ContainerStateWaiting{Reason: "ContainerCreating"}}
	pulling := testPod("default", "pulling", nil)
	pulling.Status.ContainerStatuses[0].State = v1.ContainerState{Waiting: &v1.ContainerStateWaiting{Reason: "ImagePullBackOff"}}
	for _, p := range []*v1.Pod{fresh, two, waiting, pulling} {
		env.pods.Set(p)
	}
	for _, tc := range []struct {
		pod  string
		opts LogOptions
		want string
	}{
		{"nope", LogOptions{}, `pods "nope" not found`},
		{"fresh", LogOptions{Previous: true}, `previous terminated container "app" in pod "fresh" not found`},
		{"fresh", LogOptions{Container: "zzz"}, `container zzz is not valid for pod fresh`},
		{"two", LogOptions{}, `a container name must be specified for pod two, choose one of: [app side] or one of the init containers: [init]`},
		{"waiting", LogOptions{}, `container "app" in pod "waiting" is waiting to start: ContainerCreating`},
		{"pulling", LogOptions{}, `container "app" in pod "pulling" is waiting to start: trying and failing to pull image`},
	} {
		_, err := readLogs(t, env, tc.pod, tc.opts)
		if err == nil || err.Error() != tc.want {
			t.Errorf("%s %+v: got %v, want %q", tc.pod, tc.opts, err, tc.want)
		}
		if tc.pod != "nope" && !apierrors.IsBadRequest(err) {
			t.Errorf("%s: %v is not a BadRequest", tc.pod, err)
		}
	}
}

func TestChooseLogTarget(t *testing.T) {
	term := func(id string) *v1.ContainerStateTerminated {
		return &v1.ContainerStateTerminated{ContainerID: id}
	}
	for _, tc := range []struct {
		name     string
		cs       v1.ContainerStatus
		previous bool
		attempt  int32
		running  bool
	}{
		{"running", v1.ContainerStatus{ContainerID: "c2", RestartCount: 2,
			State: v1.ContainerState{Running: &v1.ContainerStateRunning{}}}, false, 2, true},
		// Waiting to restart: containerID and restartCount are the newest
		// instance's, which is also lastState (the pod worker's status, as
		// the kubelet's).
		{"crash loop shows the newest instance", v1.ContainerStatus{ContainerID: "c2", RestartCount: 2,
			State:                v1.ContainerState{Waiting: &v1.ContainerStateWaiting{Reason: "CrashLoopBackOff"}},
			LastTerminationState: v1.ContainerState{Terminated: term("c2")}}, false, 2, false},
		{"crash loop previous is lastState too, as upstream", v1.ContainerStatus{ContainerID: "c2", RestartCount: 2,
			State:                v1.ContainerState{Waiting: &v1.ContainerStateWaiting{Reason: "CrashLoopBackOff"}},
			LastTerminationState: v1.ContainerState{Terminated: term("c2")}}, true, 2, false},
		{"completed and restarting", v1.ContainerStatus{ContainerID: "c1", RestartCount: 1,
			State:                v1.ContainerState{Terminated: term("c1")},
			LastTerminationState: v1.ContainerState{Terminated: term("c0")}}, false, 1, false},
		{"completed, previous", v1.ContainerStatus{ContainerID: "c1", RestartCount: 1,
			State:                v1.ContainerState{Terminated: term("c1")},
			LastTerminationState: v1.ContainerState{Terminated: term("c0")}}, true, 0, false},
		{"completed", v1.ContainerStatus{ContainerID: "c0",
			State: v1.ContainerState{Terminated: term("c0")}}, false, 0, false},
		{"previous", v1.ContainerStatus{ContainerID: "c1", RestartCount: 1,
			State:                v1.ContainerState{Running: &v1.ContainerStateRunning{}},
			LastTerminationState: v1.ContainerState{Terminated: term("c0")}}, true, 0, false},
	} {
		tc.cs.Name = "app"
		pod := &v1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "p"}, Status: v1.PodStatus{ContainerStatuses: []v1.ContainerStatus{tc.cs}}}
		got, err := chooseLogTarget(pod, "app", tc.previous)
		if err != nil || got.attempt != tc.attempt || got.running != tc.running {
			t.Errorf("%s: got %+v, %v; want attempt %d running %v", tc.name, got, err, tc.attempt, tc.running)
		}
	}
}

// TestLogFollow follows a running container's log: lines appended show up,
// and the stream ends once the status says that instance exited.
func TestLogFollow(t *testing.T) {
	env := startServer(t, Deps{})
	pod := testPod("default", "web", nil)
	env.pods.Set(pod)
	f := writeLog(t, env.deps.LogDir, pod, "app", 0, "first")
	out := f.Stream(logs.Stdout)

	pr, pw := io.Pipe()
	done := make(chan error, 1)
	go func() {
		err := env.client.Logs(context.Background(), "default", "web", LogOptions{Follow: true}, pw)
		pw.CloseWithError(err)
		done <- err
	}()
	lines := bufio.NewScanner(pr)
	next := func() string {
		t.Helper()
		if !lines.Scan() {
			t.Fatalf("follow ended early: %v", lines.Err())
		}
		return lines.Text()
	}
	if l := next(); l != "first" {
		t.Fatalf("got %q", l)
	}
	io.WriteString(out, "second\n")
	if l := next(); l != "second" {
		t.Fatalf("got %q", l)
	}

	// The container exits: its last line still comes, then the stream ends.
	io.WriteString(out, "last\n")
	exited := pod.DeepCopy()
	exited.Status.ContainerStatuses[0].State = v1.ContainerState{Terminated: &v1.ContainerStateTerminated{
		ExitCode: 0, ContainerID: "containerd://defaultweb",
	}}
	env.pods.Set(exited)
	if l := next(); l != "last" {
		t.Fatalf("got %q", l)
	}
	if lines.Scan() {
		t.Errorf("unexpected line %q after exit", lines.Text())
	}
	if err := <-done; err != nil {
		t.Errorf("Logs: %v", err)
	}
}

// TestLogFollowClientGone checks that a follow stops serving when the client
// cancels (Serve's cleanup would hang on a stuck handler otherwise).
func TestLogFollowClientGone(t *testing.T) {
	env := startServer(t, Deps{})
	pod := testPod("default", "web", nil)
	env.pods.Set(pod)
	writeLog(t, env.deps.LogDir, pod, "app", 0, "first")
	ctx, cancel := context.WithCancel(context.Background())
	pr, pw := io.Pipe()
	done := make(chan error, 1)
	go func() {
		done <- env.client.Logs(ctx, "default", "web", LogOptions{Follow: true}, pw)
		pw.Close()
	}()
	if l, _ := bufio.NewReader(pr).ReadString('\n'); l != "first\n" {
		t.Fatalf("got %q", l)
	}
	cancel()
	go io.Copy(io.Discard, pr)
	if err := <-done; err == nil {
		t.Error("cancelled follow returned no error")
	}
}
