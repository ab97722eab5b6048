package kuberules

import (
	"testing"

	v1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"
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

// A pod with a priority class that does not exist, or a priority its
// class does not have, is refused as the Priority plugin refuses it; a
// pod with only a generateName is named by it.
func TestCheckPriority(t *testing.T) {
	for _, tc := range []struct {
		name string
		pod  v1.Pod
		want string
	}{
		{"none", v1.Pod{}, ""},
		{"node critical", v1.Pod{Spec: v1.PodSpec{PriorityClassName: "system-node-critical", Priority: ptr.To[int32](2000001000)}}, ""},
		{"unknown", v1.Pod{Spec: v1.PodSpec{PriorityClassName: "gold"}}, `pods "p" is forbidden: no PriorityClass with name gold was found`},
		{"generated", v1.Pod{ObjectMeta: metav1.ObjectMeta{GenerateName: "web-6d4f-"}, Spec: v1.PodSpec{PriorityClassName: "gold"}},
			`pods "web-6d4f-" is forbidden: no PriorityClass with name gold was found`},
		{"priority", v1.Pod{Spec: v1.PodSpec{Priority: ptr.To[int32](7)}},
			`pods "p" is forbidden: the integer value of priority (7) must not be provided in pod spec; priority admission controller computed 0 from the given PriorityClass name`},
		{"preemption", v1.Pod{Spec: v1.PodSpec{PreemptionPolicy: ptr.To(v1.PreemptNever)}},
			`pods "p" is forbidden: the string value of PreemptionPolicy (Never) must not be provided in pod spec; priority admission controller computed PreemptLowerPriority from the given PriorityClass name`},
	} {
		p := tc.pod
		if p.GenerateName == "" {
			p.Name = "p"
		}
		err := CheckPriority(&p)
		switch {
		case tc.want == "" && err != nil:
			t.Errorf("%s: %v", tc.name, err)
		case tc.want != "" && (!apierrors.IsForbidden(err) || err.Error() != tc.want):
			t.Errorf("%s: %v, want Forbidden %q", tc.name, err, tc.want)
		}
	}
}
