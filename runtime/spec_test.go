package runtime

import (
	"context"
	"slices"
	"testing"

	"github.com/containerd/containerd/oci"
	specs "github.com/opencontainers/runtime-spec/specs-go"
	v1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
)

func baseSpec() *oci.Spec {
	return &oci.Spec{
		Process: &specs.Process{
			Rlimits: []specs.POSIXRlimit{{Type: "RLIMIT_NOFILE", Hard: 1024, Soft: 1024}},
			Capabilities: &specs.LinuxCapabilities{
				Bounding: []string{"CAP_CHOWN", "CAP_KILL"}, Effective: []string{"CAP_CHOWN", "CAP_KILL"},
				Permitted: []string{"CAP_CHOWN", "CAP_KILL"}, Ambient: []string{"CAP_KILL"},
			},
			NoNewPrivileges: true,
		},
		Root:   &specs.Root{Path: "rootfs"},
		Linux:  &specs.Linux{},
		Mounts: []specs.Mount{{Destination: "/proc", Type: "proc"}, {Destination: "/dev/shm", Type: "tmpfs"}},
	}
}

func apply(t *testing.T, s *oci.Spec, opts ...oci.SpecOpts) {
	t.Helper()
	for _, o := range opts {
		if err := o(context.Background(), nil, nil, s); err != nil {
			t.Fatal(err)
		}
	}
}

func TestWithOOMScoreAdjNeverBelowFloor(t *testing.T) {
	for _, tc := range []struct{ want, floor, got int }{{-998, 0, 0}, {1000, 0, 1000}, {-997, -1000, -997}, {5, 10, 10}} {
		s := baseSpec()
		apply(t, s, withOOMScoreAdj(tc.want, tc.floor))
		if *s.Process.OOMScoreAdj != tc.got {
			t.Errorf("want %d floor %d: got %d", tc.want, tc.floor, *s.Process.OOMScoreAdj)
		}
	}
}

func TestWithoutDefaultRlimits(t *testing.T) {
	s := baseSpec()
	apply(t, s, withoutDefaultRlimits)
	if s.Process.Rlimits != nil {
		t.Errorf("rlimits = %v", s.Process.Rlimits)
	}
}

func TestWithPodNamespaces(t *testing.T) {
	s := baseSpec()
	apply(t, s, withPodNamespaces(42, false))
	want := []specs.LinuxNamespace{
		{Type: specs.NetworkNamespace, Path: "/proc/42/ns/net"},
		{Type: specs.IPCNamespace, Path: "/proc/42/ns/ipc"},
		{Type: specs.UTSNamespace, Path: "/proc/42/ns/uts"},
	}
	if !slices.Equal(s.Linux.Namespaces, want) {
		t.Errorf("namespaces = %v", s.Linux.Namespaces)
	}
	s = baseSpec()
	apply(t, s, withPodNamespaces(42, true))
	if !slices.Contains(s.Linux.Namespaces, specs.LinuxNamespace{Type: specs.PIDNamespace, Path: "/proc/42/ns/pid"}) {
		t.Errorf("shared PID namespace missing: %v", s.Linux.Namespaces)
	}
}

func TestWithMountsReplacesDefaults(t *testing.T) {
	s := baseSpec()
	apply(t, s, withMounts([]specs.Mount{
		bindMount("/pod/vol/sub", "/data/sub", false),
		bindMount("/pod/shm", "/dev/shm", false),
		bindMount("/pod/vol", "/data", true),
	}))
	var dests []string
	for _, m := range s.Mounts {
		dests = append(dests, m.Destination)
	}
	if want := []string{"/proc", "/data", "/data/sub", "/dev/shm"}; !slices.Equal(dests, want) {
		t.Errorf("mount order = %v, want %v", dests, want)
	}
	if s.Mounts[1].Options[2] != "ro" || s.Mounts[3].Type != "bind" {
		t.Errorf("mounts = %+v", s.Mounts)
	}
}

func TestWithResources(t *testing.T) {
	s := baseSpec()
	apply(t, s, withResources(v1.ResourceRequirements{
		Limits:   v1.ResourceList{v1.ResourceCPU: resource.MustParse("500m"), v1.ResourceMemory: resource.MustParse("128Mi")},
		Requests: v1.ResourceList{v1.ResourceCPU: resource.MustParse("250m")},
	}))
	r := s.Linux.Resources
	if *r.CPU.Shares != 256 || *r.CPU.Quota != 50000 || *r.CPU.Period != 100000 || *r.Memory.Limit != 128<<20 {
		t.Errorf("resources = shares %d quota %d period %d mem %d", *r.CPU.Shares, *r.CPU.Quota, *r.CPU.Period, *r.Memory.Limit)
	}
	// The largest CPU validation lets through: shares clamped to the
	// kernel's maximum, the quota exact.
	s = baseSpec()
	apply(t, s, withResources(v1.ResourceRequirements{Limits: v1.ResourceList{v1.ResourceCPU: resource.MustParse("1M")}}))
	if r := s.Linux.Resources; *r.CPU.Shares != 262144 || *r.CPU.Quota != 100000000000 {
		t.Errorf("1M cpu = shares %d quota %d", *r.CPU.Shares, *r.CPU.Quota)
	}
	s = baseSpec()
	apply(t, s, withResources(v1.ResourceRequirements{}))
	if *s.Linux.Resources.CPU.Shares != 2 || s.Linux.Resources.CPU.Quota != nil || s.Linux.Resources.Memory != nil {
		t.Errorf("best effort resources = %+v", s.Linux.Resources)
	}
}

func TestQOSOOMScoreAdj(t *testing.T) {
	rl := func(cpu, mem string) v1.ResourceList {
		l := v1.ResourceList{}
		if cpu != "" {
			l[v1.ResourceCPU] = resource.MustParse(cpu)
		}
		if mem != "" {
			l[v1.ResourceMemory] = resource.MustParse(mem)
		}
		return l
	}
	const node = 1 << 30
	for _, tc := range []struct {
		name string
		res  v1.ResourceRequirements
		want int
	}{
		{"best effort", v1.ResourceRequirements{}, 1000},
		{"guaranteed", v1.ResourceRequirements{Limits: rl("1", "1Gi")}, -997},
		{"guaranteed explicit", v1.ResourceRequirements{Limits: rl("1", "1Gi"), Requests: rl("1", "1Gi")}, -997},
		{"burstable half", v1.ResourceRequirements{Requests: rl("", "512Mi")}, 500},
		{"burstable tiny", v1.ResourceRequirements{Requests: rl("100m", "")}, 999},
		{"burstable huge", v1.ResourceRequirements{Requests: rl("", "2Gi")}, 3},
		// 1000 times the request overflows int64: still the floor.
		{"burstable past int64", v1.ResourceRequirements{Requests: rl("", "8Ei")}, 3},
	} {
		c := v1.Container{Name: "c", Resources: tc.res}
		pod := &v1.Pod{Spec: v1.PodSpec{Containers: []v1.Container{c}}}
		if got := qosOOMScoreAdj(pod, &c, node); got != tc.want {
			t.Errorf("%s: got %d, want %d", tc.name, got, tc.want)
		}
	}
}
