package runtime

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	v1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
)

func rl(kv ...string) v1.ResourceList {
	l := v1.ResourceList{}
	for i := 0; i < len(kv); i += 2 {
		l[v1.ResourceName(kv[i])] = resource.MustParse(kv[i+1])
	}
	return l
}

// resPod makes a pod whose app containers have the given requirements.
func resPod(cs ...v1.ResourceRequirements) *v1.Pod {
	p := &v1.Pod{}
	p.UID = "1234"
	for _, r := range cs {
		p.Spec.Containers = append(p.Spec.Containers, v1.Container{Resources: r})
	}
	return p
}

func TestPodCgroupResources(t *testing.T) {
	always := v1.ContainerRestartPolicyAlways
	req := func(requests, limits v1.ResourceList) v1.ResourceRequirements {
		return v1.ResourceRequirements{Requests: requests, Limits: limits}
	}
	full := rl("cpu", "100m", "memory", "64Mi")
	const mi = 1 << 20
	tests := []struct {
		name string
		pod  *v1.Pod
		want podCgroupValues
	}{
		{"best effort: minimum shares, no limits", resPod(v1.ResourceRequirements{}), podCgroupValues{2, -1, -1}},
		{"burstable request only", resPod(req(rl("cpu", "500m"), nil)), podCgroupValues{512, -1, -1}},
		{"guaranteed: summed", resPod(req(nil, full), req(full, full)), podCgroupValues{204, 20000, 128 * mi}},
		{"one container without limits: no pod limits", resPod(req(nil, full), req(rl("cpu", "1"), nil)), podCgroupValues{1126, -1, -1}},
		{"memory limited everywhere, CPU not", resPod(req(nil, rl("memory", "10Mi")), req(rl("cpu", "250m"), rl("memory", "20Mi"))), podCgroupValues{256, -1, 30 * mi}},
		{"CPU limited everywhere, memory not", resPod(req(nil, rl("cpu", "1500m")), req(nil, rl("cpu", "500m", "memory", "1Gi"))), podCgroupValues{2048, 200000, -1}},
		{"tiny CPU: minimum shares and quota", resPod(req(nil, rl("cpu", "1m", "memory", "1Mi"))), podCgroupValues{2, 1000, mi}},
		{"huge CPU request: maximum shares", resPod(req(rl("cpu", "1000"), nil)), podCgroupValues{262144, -1, -1}},
		{"larger init container wins", func() *v1.Pod {
			p := resPod(req(nil, full))
			p.Spec.InitContainers = []v1.Container{{Resources: req(nil, rl("cpu", "2", "memory", "1Gi"))}}
			return p
		}(), podCgroupValues{2048, 200000, 1024 * mi}},
		{"init container beside the sidecars before it", func() *v1.Pod {
			p := resPod(req(nil, full), req(nil, full))
			p.Spec.InitContainers = []v1.Container{
				{Resources: req(nil, full), RestartPolicy: &always},
				{Resources: req(nil, rl("cpu", "1", "memory", "64Mi"))},
			}
			return p
		}(), podCgroupValues{1126, 110000, 192 * mi}},
		{"pod-level limits bound containers without any", func() *v1.Pod {
			p := resPod(v1.ResourceRequirements{})
			p.Spec.Resources = &v1.ResourceRequirements{Limits: rl("cpu", "1", "memory", "1Gi")}
			return p
		}(), podCgroupValues{1024, 100000, 1024 * mi}},
		{"pod-level requests under container limits", func() *v1.Pod {
			p := resPod(req(nil, full))
			p.Spec.Resources = &v1.ResourceRequirements{Requests: rl("cpu", "200m", "memory", "128Mi")}
			return p
		}(), podCgroupValues{204, 10000, 64 * mi}},
	}
	for _, tt := range tests {
		if got := podCgroupResources(tt.pod); got != tt.want {
			t.Errorf("%s: got %+v, want %+v", tt.name, got, tt.want)
		}
	}
}

func TestPodCgroupPath(t *testing.T) {
	full := v1.ResourceRequirements{Limits: rl("cpu", "1", "memory", "1Gi")}
	burst := v1.ResourceRequirements{Requests: rl("cpu", "1")}
	for _, tt := range []struct {
		pod  *v1.Pod
		want string
	}{
		{resPod(full), "/minikubelet/ns/kubepods/pod1234"},
		{resPod(burst), "/minikubelet/ns/kubepods/burstable/pod1234"},
		{resPod(v1.ResourceRequirements{}), "/minikubelet/ns/kubepods/besteffort/pod1234"},
	} {
		if got := podCgroupPath(DefaultCgroupRoot("ns"), tt.pod); got != tt.want {
			t.Errorf("got %s, want %s", got, tt.want)
		}
	}
	c := &Containerd{cfg: Config{CgroupRoot: "/custom"}}
	if got := c.cgroupsPath(resPod(burst), "abc"); got != "/custom/kubepods/burstable/pod1234/abc" {
		t.Errorf("container cgroup %s", got)
	}
}

func TestSharesToWeight(t *testing.T) {
	for shares, want := range map[uint64]uint64{2: 1, 1024: 39, 262144: 10000} {
		if got := sharesToWeight(shares); got != want {
			t.Errorf("sharesToWeight(%d) = %d, want %d", shares, got, want)
		}
	}
}

func readValue(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// On cgroup v1 the values go into the cpu and memory hierarchies; the
// BestEffort cgroup gets the minimum shares.
func TestEnsurePodCgroupV1(t *testing.T) {
	mount := t.TempDir()
	cg := cgroups{mount: mount}
	p := "/minikubelet/ns/kubepods/besteffort/pod1234"
	if err := cg.ensurePod(p, podCgroupValues{cpuShares: 2, cpuQuota: -1, memory: -1}); err != nil {
		t.Fatal(err)
	}
	for file, want := range map[string]string{
		"cpu" + p + "/cpu.shares":                           "2",
		"cpu" + p + "/cpu.cfs_period_us":                    "100000",
		"cpu" + p + "/cpu.cfs_quota_us":                     "-1",
		"memory" + p + "/memory.limit_in_bytes":             "-1",
		"cpu/minikubelet/ns/kubepods/besteffort/cpu.shares": "2",
	} {
		if got := readValue(t, filepath.Join(mount, file)); got != want {
			t.Errorf("%s = %q, want %q", file, got, want)
		}
	}
	g := "/r/kubepods/pod1"
	if err := cg.ensurePod(g, podCgroupValues{cpuShares: 204, cpuQuota: 20000, memory: 1 << 20}); err != nil {
		t.Fatal(err)
	}
	for file, want := range map[string]string{
		"cpu" + g + "/cpu.shares":               "204",
		"cpu" + g + "/cpu.cfs_quota_us":         "20000",
		"memory" + g + "/memory.limit_in_bytes": "1048576",
	} {
		if got := readValue(t, filepath.Join(mount, file)); got != want {
			t.Errorf("%s = %q, want %q", file, got, want)
		}
	}
	if _, err := os.Stat(filepath.Join(mount, "cpu/r/kubepods/cpu.shares")); !os.IsNotExist(err) {
		t.Errorf("the kubepods cgroup got the minimum shares of BestEffort: %v", err)
	}
	if got := cg.podCgroups("/minikubelet/ns"); len(got) != 1 || got["1234"] != p {
		t.Errorf("podCgroups = %v", got)
	}
}

// On cgroup v2 every ancestor enables cpu and memory for its children, and
// the pod cgroup gets cpu.weight, cpu.max and memory.max.
func TestEnsurePodCgroupV2(t *testing.T) {
	mount := t.TempDir()
	cg := cgroups{mount: mount, v2: true}
	p := "/minikubelet/ns/kubepods/burstable/pod1234"
	// cgroupfs makes cgroup.controllers in every cgroup; the fake has them
	// where the controllers are available, io included, which is not asked.
	dir := mount
	for _, part := range append([]string{""}, strings.Split(strings.Trim(p, "/"), "/")...) {
		dir = filepath.Join(dir, part)
		if err := os.MkdirAll(dir, 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, "cgroup.controllers"), []byte("cpuset cpu io memory pids\n"), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	if err := cg.ensurePod(p, podCgroupValues{cpuShares: 1024, cpuQuota: 50000, memory: -1}); err != nil {
		t.Fatal(err)
	}
	for _, anc := range []string{"", "minikubelet", "minikubelet/ns", "minikubelet/ns/kubepods", "minikubelet/ns/kubepods/burstable"} {
		if got := readValue(t, filepath.Join(mount, anc, "cgroup.subtree_control")); got != "+cpu +memory" {
			t.Errorf("%s/cgroup.subtree_control = %q", anc, got)
		}
	}
	if _, err := os.Stat(filepath.Join(mount, p, "cgroup.subtree_control")); !os.IsNotExist(err) {
		t.Errorf("the pod cgroup enables controllers itself (runc does for its containers): %v", err)
	}
	for file, want := range map[string]string{
		"cpu.weight": "39",
		"cpu.max":    "50000 100000",
		"memory.max": "max",
	} {
		if got := readValue(t, filepath.Join(mount, p, file)); got != want {
			t.Errorf("%s = %q, want %q", file, got, want)
		}
	}
	be := "/minikubelet/ns/kubepods/besteffort/pod5"
	if err := os.MkdirAll(filepath.Join(mount, be), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(mount, filepath.Dir(be), "cgroup.controllers"), []byte("cpu memory"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := cg.ensurePod(be, podCgroupValues{cpuShares: 2, cpuQuota: -1, memory: 1 << 20}); err != nil {
		t.Fatal(err)
	}
	for file, want := range map[string]string{
		filepath.Dir(be) + "/cpu.weight": "1",
		be + "/cpu.max":                  "max 100000",
		be + "/memory.max":               "1048576",
	} {
		if got := readValue(t, filepath.Join(mount, file)); got != want {
			t.Errorf("%s = %q, want %q", file, got, want)
		}
	}
	if got := cg.podCgroups("/minikubelet/ns"); len(got) != 2 || got["1234"] != p || got["5"] != be {
		t.Errorf("podCgroups = %v", got)
	}
}

// The OOM kill count of a container's cgroup, as each cgroup version's
// kernel interface reports it.
func TestOOMKills(t *testing.T) {
	const p = "/minikubelet/ns/kubepods/podu/c1"
	tests := []struct {
		name string
		v2   bool
		file string // relative to the mount
		data string
		want uint64
		ok   bool
	}{
		{"v1 killed", false, "memory" + p + "/memory.oom_control", "oom_kill_disable 0\nunder_oom 0\noom_kill 2\n", 2, true},
		{"v1 not killed", false, "memory" + p + "/memory.oom_control", "oom_kill_disable 0\nunder_oom 0\noom_kill 0\n", 0, true},
		{"v1 kernel without the count", false, "memory" + p + "/memory.oom_control", "oom_kill_disable 0\nunder_oom 0\n", 0, false},
		{"v2 killed", true, p[1:] + "/memory.events", "low 0\nhigh 0\nmax 12\noom 1\noom_kill 1\noom_group_kill 0\n", 1, true},
		{"v2 not killed", true, p[1:] + "/memory.events", "low 0\nhigh 0\nmax 0\noom 0\noom_kill 0\n", 0, true},
		{"gone", true, "", "", 0, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			mount := t.TempDir()
			if tt.file != "" {
				f := filepath.Join(mount, tt.file)
				if err := os.MkdirAll(filepath.Dir(f), 0o755); err != nil {
					t.Fatal(err)
				}
				if err := os.WriteFile(f, []byte(tt.data), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			if got, ok := (cgroups{mount: mount, v2: tt.v2}).oomKills(p); got != tt.want || ok != tt.ok {
				t.Errorf("oomKills = %d, %v, want %d, %v", got, ok, tt.want, tt.ok)
			}
		})
	}
}

// The Burstable QoS cgroup's CPU shares follow the sum of its pods' CPU
// requests as pods come and go; other classes' pods do not count, and a
// missing QoS cgroup is not made.
func TestBurstableShares(t *testing.T) {
	const root = "/minikubelet/ns"
	burstable := func(uid, cpu string) *v1.Pod {
		return &v1.Pod{ObjectMeta: metav1.ObjectMeta{UID: types.UID(uid)}, Spec: v1.PodSpec{Containers: []v1.Container{{
			Name: "c", Resources: v1.ResourceRequirements{Requests: v1.ResourceList{v1.ResourceCPU: resource.MustParse(cpu)}},
		}}}}
	}
	guaranteed := &v1.Pod{Spec: v1.PodSpec{Containers: []v1.Container{{Name: "c", Resources: v1.ResourceRequirements{
		Limits: v1.ResourceList{v1.ResourceCPU: resource.MustParse("1"), v1.ResourceMemory: resource.MustParse("1Gi")},
	}}}}}
	for _, v2 := range []bool{false, true} {
		t.Run(fmt.Sprintf("v2=%v", v2), func(t *testing.T) {
			cg := cgroups{mount: t.TempDir(), v2: v2}
			dir, file := filepath.Join(cg.mount, "cpu", root, "kubepods/burstable"), "cpu.shares"
			if v2 {
				dir, file = filepath.Join(cg.mount, root, "kubepods/burstable"), "cpu.weight"
			}
			var b burstableShares
			if err := b.set(cg, root, "a", burstable("a", "100m")); err != nil {
				t.Fatal(err)
			}
			if _, err := os.Stat(dir); !errors.Is(err, os.ErrNotExist) {
				t.Fatalf("QoS cgroup made: %v", err)
			}
			if err := os.MkdirAll(dir, 0o755); err != nil {
				t.Fatal(err)
			}
			steps := []struct {
				uid            types.UID
				pod            *v1.Pod
				shares, weight string
			}{
				{"b", burstable("b", "250m"), "358", "14"}, // 350m with a
				{"g", guaranteed, "358", "14"},
				{"a", nil, "256", "10"},
				{"b", burstable("b", "2"), "2048", "79"},
				{"b", nil, "2", "1"},
			}
			for _, st := range steps {
				if err := b.set(cg, root, st.uid, st.pod); err != nil {
					t.Fatal(err)
				}
				want := st.shares
				if v2 {
					want = st.weight
				}
				if got, err := os.ReadFile(filepath.Join(dir, file)); err != nil || string(got) != want {
					t.Errorf("after %s: %s = %q (%v), want %s", st.uid, file, got, err, want)
				}
			}
		})
	}
}
