package podworker

import (
	"reflect"
	"testing"
	"time"

	v1 "k8s.io/api/core/v1"

	"github.com/minikubelet/minikubelet/runtime"
)

func testPod(policy v1.RestartPolicy, inits []string, apps ...string) *v1.Pod {
	p := &v1.Pod{}
	p.Name, p.Namespace, p.UID = "p", "default", "uid-1"
	p.Spec.RestartPolicy = policy
	for _, n := range inits {
		p.Spec.InitContainers = append(p.Spec.InitContainers, v1.Container{Name: n, Image: "busybox"})
	}
	for _, n := range apps {
		p.Spec.Containers = append(p.Spec.Containers, v1.Container{Name: n, Image: "busybox"})
	}
	return p
}

var readySandbox = runtime.Sandbox{ID: "sb1", Ready: true, IPs: []string{"10.0.0.2"}}

func ctr(name string, kind runtime.ContainerKind, state runtime.ContainerState, exit int32) runtime.Container {
	return runtime.Container{ID: name + "-id", Name: name, Kind: kind, State: state, ExitCode: exit, SandboxID: "sb1"}
}

// outdated marks c as made from an earlier definition of its container
// (before an image update).
func outdated(c runtime.Container) runtime.Container {
	c.SpecHash = "0"
	return c
}

// sidecars is a pod with one app container and the named init containers,
// those named s* or side* being sidecars.
func sidecars(policy v1.RestartPolicy, inits ...string) *v1.Pod {
	always := v1.ContainerRestartPolicyAlways
	p := testPod(policy, inits, "app")
	for i := range p.Spec.InitContainers {
		if n := p.Spec.InitContainers[i].Name; n[0] == 's' {
			p.Spec.InitContainers[i].RestartPolicy = &always
		}
	}
	return p
}

type fakeProbes struct {
	failed  map[string]string
	started map[string]bool
}

func (f fakeProbes) Failed(id string) string { return f.failed[id] }
func (f fakeProbes) Started(c *v1.Container, id string) bool {
	if s, ok := f.started[id]; ok {
		return s
	}
	return c.StartupProbe == nil
}

func TestComputePodActions(t *testing.T) {
	always := v1.ContainerRestartPolicyAlways
	sidecarPod := testPod(v1.RestartPolicyAlways, []string{"side", "init"}, "app")
	sidecarPod.Spec.InitContainers[0].RestartPolicy = &always
	sidecarPod.Spec.InitContainers[0].StartupProbe = &v1.Probe{}

	tests := []struct {
		name   string
		pod    *v1.Pod
		ps     runtime.PodState
		probes probeView
		want   podActions
	}{
		{
			name: "new pod gets a sandbox and its first init container",
			pod:  testPod(v1.RestartPolicyAlways, []string{"i1", "i2"}, "app"),
			want: podActions{CreateSandbox: true, InitContainersToStart: []int{0}},
		},
		{
			name: "new pod without init containers starts all apps",
			pod:  testPod(v1.RestartPolicyAlways, nil, "a", "b"),
			want: podActions{CreateSandbox: true, ContainersToStart: []int{0, 1}},
		},
		{
			name: "running init container: wait",
			pod:  testPod(v1.RestartPolicyAlways, []string{"i1", "i2"}, "app"),
			ps:   runtime.PodState{Sandboxes: []runtime.Sandbox{readySandbox}, Containers: []runtime.Container{ctr("i1", runtime.KindInit, runtime.StateRunning, 0)}},
			want: podActions{SandboxID: "sb1"},
		},
		{
			name: "init 1 done: start init 2",
			pod:  testPod(v1.RestartPolicyAlways, []string{"i1", "i2"}, "app"),
			ps:   runtime.PodState{Sandboxes: []runtime.Sandbox{readySandbox}, Containers: []runtime.Container{ctr("i1", runtime.KindInit, runtime.StateExited, 0)}},
			want: podActions{SandboxID: "sb1", InitContainersToStart: []int{1}},
		},
		{
			name: "all init done: start apps",
			pod:  testPod(v1.RestartPolicyAlways, []string{"i1", "i2"}, "app"),
			ps: runtime.PodState{Sandboxes: []runtime.Sandbox{readySandbox}, Containers: []runtime.Container{
				ctr("i2", runtime.KindInit, runtime.StateExited, 0), ctr("i1", runtime.KindInit, runtime.StateExited, 0)}},
			want: podActions{SandboxID: "sb1", ContainersToStart: []int{0}},
		},
		{
			name: "failed init with Always: retry it",
			pod:  testPod(v1.RestartPolicyAlways, []string{"i1"}, "app"),
			ps:   runtime.PodState{Sandboxes: []runtime.Sandbox{readySandbox}, Containers: []runtime.Container{ctr("i1", runtime.KindInit, runtime.StateExited, 1)}},
			want: podActions{SandboxID: "sb1", InitContainersToStart: []int{0}},
		},
		{
			name: "failed init with Never: pod fails",
			pod:  testPod(v1.RestartPolicyNever, []string{"i1"}, "app"),
			ps:   runtime.PodState{Sandboxes: []runtime.Sandbox{readySandbox}, Containers: []runtime.Container{ctr("i1", runtime.KindInit, runtime.StateExited, 1)}},
			want: podActions{SandboxID: "sb1", KillPod: true, Terminal: true},
		},
		{
			name: "completed init not re-run once an app started",
			pod:  testPod(v1.RestartPolicyAlways, []string{"i1"}, "app"),
			ps:   runtime.PodState{Sandboxes: []runtime.Sandbox{readySandbox}, Containers: []runtime.Container{ctr("app", runtime.KindApp, runtime.StateRunning, 0)}},
			want: podActions{SandboxID: "sb1"},
		},
		{
			name: "Always restarts an app that exited 0",
			pod:  testPod(v1.RestartPolicyAlways, nil, "app"),
			ps:   runtime.PodState{Sandboxes: []runtime.Sandbox{readySandbox}, Containers: []runtime.Container{ctr("app", runtime.KindApp, runtime.StateExited, 0)}},
			want: podActions{SandboxID: "sb1", ContainersToStart: []int{0}},
		},
		{
			name: "OnFailure leaves a succeeded app and finishes the pod",
			pod:  testPod(v1.RestartPolicyOnFailure, nil, "app"),
			ps:   runtime.PodState{Sandboxes: []runtime.Sandbox{readySandbox}, Containers: []runtime.Container{ctr("app", runtime.KindApp, runtime.StateExited, 0)}},
			want: podActions{SandboxID: "sb1", KillPod: true, Terminal: true},
		},
		{
			name: "OnFailure restarts a failed app",
			pod:  testPod(v1.RestartPolicyOnFailure, nil, "app"),
			ps:   runtime.PodState{Sandboxes: []runtime.Sandbox{readySandbox}, Containers: []runtime.Container{ctr("app", runtime.KindApp, runtime.StateExited, 2)}},
			want: podActions{SandboxID: "sb1", ContainersToStart: []int{0}},
		},
		{
			name: "Never keeps the pod while another app runs",
			pod:  testPod(v1.RestartPolicyNever, nil, "a", "b"),
			ps: runtime.PodState{Sandboxes: []runtime.Sandbox{readySandbox}, Containers: []runtime.Container{
				ctr("a", runtime.KindApp, runtime.StateExited, 1), ctr("b", runtime.KindApp, runtime.StateRunning, 0)}},
			want: podActions{SandboxID: "sb1"},
		},
		{
			name:   "liveness failure kills and restarts",
			pod:    testPod(v1.RestartPolicyAlways, nil, "app"),
			ps:     runtime.PodState{Sandboxes: []runtime.Sandbox{readySandbox}, Containers: []runtime.Container{ctr("app", runtime.KindApp, runtime.StateRunning, 0)}},
			probes: fakeProbes{failed: map[string]string{"app-id": "liveness"}},
			want: podActions{SandboxID: "sb1", ContainersToStart: []int{0}, ContainersToKill: map[string]killInfo{
				"app-id": {name: "app", probe: "liveness", message: "Container app failed liveness probe, will be restarted"}}},
		},
		{
			name:   "liveness failure with Never kills only",
			pod:    testPod(v1.RestartPolicyNever, nil, "app"),
			ps:     runtime.PodState{Sandboxes: []runtime.Sandbox{readySandbox}, Containers: []runtime.Container{ctr("app", runtime.KindApp, runtime.StateRunning, 0)}},
			probes: fakeProbes{failed: map[string]string{"app-id": "liveness"}},
			want: podActions{SandboxID: "sb1", KillPod: true, Terminal: true, ContainersToKill: map[string]killInfo{
				"app-id": {name: "app", probe: "liveness", message: "Container app failed liveness probe"}}},
		},
		{
			name: "dead sandbox is replaced and init runs again",
			pod:  testPod(v1.RestartPolicyAlways, []string{"i1"}, "app"),
			ps: runtime.PodState{Sandboxes: []runtime.Sandbox{{ID: "sb1", Attempt: 0}}, Containers: []runtime.Container{
				ctr("app", runtime.KindApp, runtime.StateExited, 137), ctr("i1", runtime.KindInit, runtime.StateExited, 0)}},
			want: podActions{KillPod: true, CreateSandbox: true, Attempt: 1, InitContainersToStart: []int{0}},
		},
		{
			name: "Never pod is not given a second sandbox",
			pod:  testPod(v1.RestartPolicyNever, nil, "app"),
			ps:   runtime.PodState{Sandboxes: []runtime.Sandbox{{ID: "sb1"}}, Containers: []runtime.Container{ctr("app", runtime.KindApp, runtime.StateExited, 0)}},
			want: podActions{KillPod: true, Terminal: true},
		},
		{
			name: "sidecar waits for its startup probe before the next init",
			pod:  sidecarPod,
			ps:   runtime.PodState{Sandboxes: []runtime.Sandbox{readySandbox}, Containers: []runtime.Container{ctr("side", runtime.KindInit, runtime.StateRunning, 0)}},
			want: podActions{SandboxID: "sb1"},
		},
		{
			name:   "started sidecar lets the next init run",
			pod:    sidecarPod,
			ps:     runtime.PodState{Sandboxes: []runtime.Sandbox{readySandbox}, Containers: []runtime.Container{ctr("side", runtime.KindInit, runtime.StateRunning, 0)}},
			probes: fakeProbes{started: map[string]bool{"side-id": true}},
			want:   podActions{SandboxID: "sb1", InitContainersToStart: []int{1}},
		},
		{
			name: "sidecar without a startup probe lets the next init run once running",
			pod:  sidecars(v1.RestartPolicyAlways, "side", "init"),
			ps:   runtime.PodState{Sandboxes: []runtime.Sandbox{readySandbox}, Containers: []runtime.Container{ctr("side", runtime.KindInit, runtime.StateRunning, 0)}},
			want: podActions{SandboxID: "sb1", InitContainersToStart: []int{1}},
		},
		{
			name: "sidecar that exited after init is restarted, whatever its code",
			pod:  sidecars(v1.RestartPolicyNever, "side", "init"),
			ps: runtime.PodState{Sandboxes: []runtime.Sandbox{readySandbox}, Containers: []runtime.Container{
				ctr("app", runtime.KindApp, runtime.StateRunning, 0), ctr("side", runtime.KindInit, runtime.StateExited, 0), ctr("init", runtime.KindInit, runtime.StateExited, 0)}},
			want: podActions{SandboxID: "sb1", InitContainersToStart: []int{0}},
		},
		{
			name: "every exited sidecar restarts in the same sync, in spec order",
			pod:  sidecars(v1.RestartPolicyAlways, "s1", "s2"),
			ps: runtime.PodState{Sandboxes: []runtime.Sandbox{readySandbox}, Containers: []runtime.Container{
				ctr("app", runtime.KindApp, runtime.StateRunning, 0), ctr("s2", runtime.KindInit, runtime.StateExited, 1), ctr("s1", runtime.KindInit, runtime.StateExited, 0)}},
			want: podActions{SandboxID: "sb1", InitContainersToStart: []int{0, 1}},
		},
		{
			name: "apps done: the pod ends and its running sidecars are not kept",
			pod:  sidecars(v1.RestartPolicyOnFailure, "side"),
			ps: runtime.PodState{Sandboxes: []runtime.Sandbox{readySandbox}, Containers: []runtime.Container{
				ctr("app", runtime.KindApp, runtime.StateExited, 0), ctr("side", runtime.KindInit, runtime.StateRunning, 0)}},
			want: podActions{SandboxID: "sb1", KillPod: true, Terminal: true},
		},
		{
			name: "failed init after a sidecar with Never fails the pod",
			pod:  sidecars(v1.RestartPolicyNever, "side", "init"),
			ps: runtime.PodState{Sandboxes: []runtime.Sandbox{readySandbox}, Containers: []runtime.Container{
				ctr("init", runtime.KindInit, runtime.StateExited, 1), ctr("side", runtime.KindInit, runtime.StateRunning, 0)}},
			want: podActions{SandboxID: "sb1", KillPod: true, Terminal: true},
		},
		{
			name: "failed init after a sidecar with OnFailure is retried",
			pod:  sidecars(v1.RestartPolicyOnFailure, "side", "init"),
			ps: runtime.PodState{Sandboxes: []runtime.Sandbox{readySandbox}, Containers: []runtime.Container{
				ctr("init", runtime.KindInit, runtime.StateExited, 1), ctr("side", runtime.KindInit, runtime.StateRunning, 0)}},
			want: podActions{SandboxID: "sb1", InitContainersToStart: []int{1}},
		},
		{
			name:   "sidecar failing its startup probe is killed and restarted",
			pod:    sidecarPod,
			ps:     runtime.PodState{Sandboxes: []runtime.Sandbox{readySandbox}, Containers: []runtime.Container{ctr("side", runtime.KindInit, runtime.StateRunning, 0)}},
			probes: fakeProbes{failed: map[string]string{"side-id": "startup"}},
			want: podActions{SandboxID: "sb1", InitContainersToStart: []int{0}, ContainersToKill: map[string]killInfo{
				"side-id": {name: "side", probe: "startup", message: "Init container side failed startup probe"}}},
		},
		{
			name: "sidecar failing liveness after init is killed and restarted, apps kept",
			pod:  sidecars(v1.RestartPolicyAlways, "side"),
			ps: runtime.PodState{Sandboxes: []runtime.Sandbox{readySandbox}, Containers: []runtime.Container{
				ctr("app", runtime.KindApp, runtime.StateRunning, 0), ctr("side", runtime.KindInit, runtime.StateRunning, 0)}},
			probes: fakeProbes{failed: map[string]string{"side-id": "liveness"}},
			want: podActions{SandboxID: "sb1", InitContainersToStart: []int{0}, ContainersToKill: map[string]killInfo{
				"side-id": {name: "side", probe: "liveness", message: "Init container side failed liveness probe"}}},
		},
		{
			name: "sidecar with a new image is restarted, apps kept",
			pod:  sidecars(v1.RestartPolicyAlways, "side"),
			ps: runtime.PodState{Sandboxes: []runtime.Sandbox{readySandbox}, Containers: []runtime.Container{
				ctr("app", runtime.KindApp, runtime.StateRunning, 0), outdated(ctr("side", runtime.KindInit, runtime.StateRunning, 0))}},
			want: podActions{SandboxID: "sb1", InitContainersToStart: []int{0}, ContainersToKill: map[string]killInfo{
				"side-id": {name: "side", message: "Init container side definition changed"}}},
		},
		{
			name: "sidecar with a new image waits for its startup probe first",
			pod:  sidecarPod,
			ps:   runtime.PodState{Sandboxes: []runtime.Sandbox{readySandbox}, Containers: []runtime.Container{outdated(ctr("side", runtime.KindInit, runtime.StateRunning, 0))}},
			want: podActions{SandboxID: "sb1"},
		},
		{
			name: "completed init container with a new image is not run again",
			pod:  sidecars(v1.RestartPolicyAlways, "init"),
			ps: runtime.PodState{Sandboxes: []runtime.Sandbox{readySandbox}, Containers: []runtime.Container{
				ctr("app", runtime.KindApp, runtime.StateRunning, 0), outdated(ctr("init", runtime.KindInit, runtime.StateExited, 0))}},
			want: podActions{SandboxID: "sb1"},
		},
		{
			name: "app with a new image is restarted whatever the policy",
			pod:  testPod(v1.RestartPolicyNever, nil, "app"),
			ps:   runtime.PodState{Sandboxes: []runtime.Sandbox{readySandbox}, Containers: []runtime.Container{outdated(ctr("app", runtime.KindApp, runtime.StateRunning, 0))}},
			want: podActions{SandboxID: "sb1", ContainersToStart: []int{0}, ContainersToKill: map[string]killInfo{
				"app-id": {name: "app", message: "Container app definition changed, will be restarted"}}},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			probes := tt.probes
			if probes == nil {
				probes = noProbes{}
			}
			got := computePodActions(tt.pod, &tt.ps, probes)
			if tt.want.ContainersToKill == nil {
				tt.want.ContainersToKill = map[string]killInfo{}
			}
			if !reflect.DeepEqual(got, tt.want) {
				t.Fatalf("got  %+v\nwant %+v", got, tt.want)
			}
		})
	}
}

func TestContainerStatusCrashLoop(t *testing.T) {
	pod := testPod(v1.RestartPolicyAlways, nil, "app")
	t1 := time.Unix(100, 0)
	ps := runtime.PodState{Containers: []runtime.Container{
		{ID: "b", Name: "app", State: runtime.StateExited, ExitCode: 1, Reason: "Error", RestartCount: 1, FinishedAt: t1},
		{ID: "a", Name: "app", State: runtime.StateExited, ExitCode: 1, Reason: "Error", RestartCount: 0},
	}}
	reasons := map[string]waitReason{"app": {Reason: "CrashLoopBackOff", Message: "back-off 10s"}}
	_, app := containerStatuses(pod, &ps, reasons)
	st := app[0]
	if st.State.Waiting == nil || st.State.Waiting.Reason != "CrashLoopBackOff" {
		t.Fatalf("state = %+v, want waiting CrashLoopBackOff", st.State)
	}
	if lt := st.LastTerminationState.Terminated; lt == nil || lt.ContainerID != "containerd://b" || lt.ExitCode != 1 {
		t.Fatalf("lastState = %+v, want the newest exited instance", st.LastTerminationState)
	}
	if st.RestartCount != 1 || st.Ready {
		t.Fatalf("restartCount=%d ready=%v", st.RestartCount, st.Ready)
	}

	_, app = containerStatuses(pod, &ps, nil)
	if st := app[0]; st.State.Terminated == nil || st.LastTerminationState.Terminated.ContainerID != "containerd://a" {
		t.Fatalf("without a wait reason: state %+v last %+v", st.State, st.LastTerminationState)
	}
}

func TestPodPhase(t *testing.T) {
	running := v1.ContainerState{Running: &v1.ContainerStateRunning{}}
	exited := func(code int32) v1.ContainerState {
		return v1.ContainerState{Terminated: &v1.ContainerStateTerminated{ExitCode: code}}
	}
	waiting := v1.ContainerState{Waiting: &v1.ContainerStateWaiting{Reason: "ContainerCreating"}}
	st := func(name string, s v1.ContainerState, last *int32) v1.ContainerStatus {
		cs := v1.ContainerStatus{Name: name, State: s}
		if last != nil {
			cs.LastTerminationState.Terminated = &v1.ContainerStateTerminated{ExitCode: *last}
		}
		return cs
	}
	one := int32(1)
	tests := []struct {
		name     string
		policy   v1.RestartPolicy
		inits    []string
		initSt   []v1.ContainerStatus
		apps     []v1.ContainerStatus
		expected v1.PodPhase
	}{
		{"running", v1.RestartPolicyAlways, nil, nil, []v1.ContainerStatus{st("a", running, nil)}, v1.PodRunning},
		{"always exited", v1.RestartPolicyAlways, nil, nil, []v1.ContainerStatus{st("a", exited(1), nil)}, v1.PodRunning},
		{"crashloop", v1.RestartPolicyAlways, nil, nil, []v1.ContainerStatus{st("a", waiting, &one)}, v1.PodRunning},
		{"onfailure exit 0", v1.RestartPolicyOnFailure, nil, nil, []v1.ContainerStatus{st("a", exited(0), nil)}, v1.PodSucceeded},
		{"onfailure exit 1", v1.RestartPolicyOnFailure, nil, nil, []v1.ContainerStatus{st("a", exited(1), nil)}, v1.PodRunning},
		{"never exit 1", v1.RestartPolicyNever, nil, nil, []v1.ContainerStatus{st("a", exited(1), nil)}, v1.PodFailed},
		{"never one running", v1.RestartPolicyNever, nil, nil, []v1.ContainerStatus{st("a", exited(0), nil), st("b", running, nil)}, v1.PodRunning},
		{"pulling", v1.RestartPolicyAlways, nil, nil, []v1.ContainerStatus{st("a", waiting, nil)}, v1.PodPending},
		{"init running", v1.RestartPolicyAlways, []string{"i"}, []v1.ContainerStatus{st("i", running, nil)}, []v1.ContainerStatus{st("a", waiting, nil)}, v1.PodPending},
		{"init failed never", v1.RestartPolicyNever, []string{"i"}, []v1.ContainerStatus{st("i", exited(1), nil)}, []v1.ContainerStatus{st("a", waiting, nil)}, v1.PodFailed},
		{"init failed always", v1.RestartPolicyAlways, []string{"i"}, []v1.ContainerStatus{st("i", exited(1), nil)}, []v1.ContainerStatus{st("a", waiting, nil)}, v1.PodPending},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			pod := testPod(tt.policy, tt.inits)
			for _, a := range tt.apps {
				pod.Spec.Containers = append(pod.Spec.Containers, v1.Container{Name: a.Name})
			}
			if got := podPhase(&pod.Spec, tt.initSt, tt.apps); got != tt.expected {
				t.Fatalf("phase = %s, want %s", got, tt.expected)
			}
		})
	}
}

func TestPodConditions(t *testing.T) {
	pod := testPod(v1.RestartPolicyAlways, []string{"i1", "i2"}, "web")
	initSt := []v1.ContainerStatus{{Name: "i1", Ready: true}, {Name: "i2"}}
	appSt := []v1.ContainerStatus{{Name: "web", State: v1.ContainerState{Waiting: &v1.ContainerStateWaiting{Reason: "PodInitializing"}}}}
	got := podConditions(pod, v1.PodPending, true, initSt, appSt)
	want := []struct {
		typ    v1.PodConditionType
		status v1.ConditionStatus
		msg    string
	}{
		{v1.PodReadyToStartContainers, v1.ConditionTrue, ""},
		{v1.PodInitialized, v1.ConditionFalse, "containers with incomplete status: [i2]"},
		{v1.PodReady, v1.ConditionFalse, "containers with unready status: [web]"},
		{v1.ContainersReady, v1.ConditionFalse, "containers with unready status: [web]"},
		{v1.PodScheduled, v1.ConditionTrue, ""},
	}
	if len(got) != len(want) {
		t.Fatalf("got %d conditions", len(got))
	}
	for i, w := range want {
		if got[i].Type != w.typ || got[i].Status != w.status || got[i].Message != w.msg {
			t.Errorf("condition %d = %s %s %q, want %s %s %q", i, got[i].Type, got[i].Status, got[i].Message, w.typ, w.status, w.msg)
		}
	}
}
