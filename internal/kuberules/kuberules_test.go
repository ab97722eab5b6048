package kuberules

import (
	"testing"

	v1 "k8s.io/api/core/v1"
)

func TestIsSidecar(t *testing.T) {
	always, never := v1.ContainerRestartPolicyAlways, v1.ContainerRestartPolicy("Never")
	for _, tc := range []struct {
		policy *v1.ContainerRestartPolicy
		want   bool
	}{{nil, false}, {&always, true}, {&never, false}} {
		if got := IsSidecar(&v1.Container{RestartPolicy: tc.policy}); got != tc.want {
			t.Errorf("IsSidecar(restartPolicy %v) = %v, want %v", tc.policy, got, tc.want)
		}
	}
}

func TestInitContainerReady(t *testing.T) {
	for _, tc := range []struct {
		name string
		st   v1.ContainerState
		want bool
	}{
		{"waiting", v1.ContainerState{Waiting: &v1.ContainerStateWaiting{}}, false},
		{"running", v1.ContainerState{Running: &v1.ContainerStateRunning{}}, false},
		{"failed", v1.ContainerState{Terminated: &v1.ContainerStateTerminated{ExitCode: 1}}, false},
		{"completed", v1.ContainerState{Terminated: &v1.ContainerStateTerminated{ExitCode: 0}}, true},
	} {
		if got := InitContainerReady(tc.st); got != tc.want {
			t.Errorf("%s: InitContainerReady = %v, want %v", tc.name, got, tc.want)
		}
	}
}

func TestContainerIDs(t *testing.T) {
	if got := StatusContainerID("abc"); got != "containerd://abc" {
		t.Errorf("StatusContainerID = %q", got)
	}
	for in, want := range map[string]string{"containerd://abc": "abc", "docker://x": "x", "abc": "abc"} {
		if got := BareContainerID(in); got != want {
			t.Errorf("BareContainerID(%q) = %q, want %q", in, got, want)
		}
	}
	if got := RuntimeVersion("1.6.20"); got != "containerd://1.6.20" {
		t.Errorf("RuntimeVersion = %q", got)
	}
}
