//go:build integration

package agent

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	goruntime "runtime"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/containerd/containerd/api/services/tasks/v1"
	"golang.org/x/sys/unix"
	v1 "k8s.io/api/core/v1"

	"github.com/minikubelet/minikubelet/internal/testenv"
	"github.com/minikubelet/minikubelet/internal/testhost"
	"github.com/minikubelet/minikubelet/runtime"
)

// cgroupV2 tells whether /sys/fs/cgroup is the unified hierarchy.
func cgroupV2(t *testing.T) bool {
	t.Helper()
	var st unix.Statfs_t
	if err := unix.Statfs("/sys/fs/cgroup", &st); err != nil {
		t.Fatal(err)
	}
	return st.Type == unix.CGROUP2_SUPER_MAGIC
}

// cgroupDir is a cgroup's directory; ctrl names its v1 hierarchy.
func cgroupDir(t *testing.T, ctrl, cgroup string) string {
	if cgroupV2(t) {
		return filepath.Join("/sys/fs/cgroup", cgroup)
	}
	return filepath.Join("/sys/fs/cgroup", ctrl, cgroup)
}

func cgroupValue(t *testing.T, ctrl, cgroup, file string) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(cgroupDir(t, ctrl, cgroup), file))
	if err != nil {
		t.Fatalf("read %s of cgroup %s: %v", file, cgroup, err)
	}
	return strings.TrimSpace(string(b))
}

// cgroupWant is the value a file of a cgroup should hold; ctrl names its
// v1 hierarchy.
type cgroupWant struct{ ctrl, file, want string }

// checkCgroup checks the files of cgroup against v1 or v2, whichever this
// host has.
func checkCgroup(t *testing.T, cgroup string, v1, v2 []cgroupWant) {
	t.Helper()
	wants := v1
	if cgroupV2(t) {
		wants = v2
	}
	for _, w := range wants {
		if got := cgroupValue(t, w.ctrl, cgroup, w.file); got != w.want {
			t.Errorf("%s = %s, want %s", w.file, got, w.want)
		}
	}
}

// memoryCgroupOf is a process's memory cgroup (v1), or its cgroup (v2).
func memoryCgroupOf(t *testing.T, pid uint32) string {
	t.Helper()
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/cgroup", pid))
	if err != nil {
		t.Fatal(err)
	}
	v2 := cgroupV2(t)
	sc := bufio.NewScanner(strings.NewReader(string(b)))
	for sc.Scan() {
		parts := strings.SplitN(sc.Text(), ":", 3)
		if len(parts) == 3 && ((!v2 && parts[1] == "memory") || (v2 && parts[0] == "0")) {
			return parts[2]
		}
	}
	t.Fatalf("pid %d: no memory cgroup in %q", pid, b)
	return ""
}

// The pod cgroup as the kubelet makes it: kubepods/burstable/pod<uid> under
// the agent's cgroup root, with the pod's summed requests and limits, the
// sandbox and containers inside it; removed with the pod; the cgroup of a
// pod that went while no agent ran is removed when the agent starts.
func TestPodCgroups(t *testing.T) {
	env := testenv.New(t)
	cfg := testConfig(t, env)
	root := runtime.DefaultCgroupRoot(env.Namespace)

	stale := filepath.Join(root, "kubepods", "burstable", "pod0c6c7ef3-0000-4000-8000-000000000000")
	for _, ctrl := range []string{"cpu", "memory"} {
		if err := os.MkdirAll(cgroupDir(t, ctrl, stale), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	a := startAgent(t, cfg)
	for _, d := range testhost.PodCgroupDirs(root) {
		t.Errorf("stale pod cgroup not removed at start: %s", d)
	}

	a.write("res.yaml", `apiVersion: v1
kind: Pod
metadata: {name: res}
spec:
  terminationGracePeriodSeconds: 1
  containers:
  - name: a
    image: busybox
    command: [sleep, '3600']
    resources:
      requests: {cpu: 100m}
      limits: {cpu: 500m, memory: 64Mi}
  - name: b
    image: busybox
    command: [sleep, '3600']
    resources:
      limits: {cpu: 200m, memory: 32Mi}
`)
	a.write("small.yaml", pod("small", "Always", "  - {name: c, image: busybox, command: [sleep, '3600'], resources: {requests: {cpu: 50m}}}\n"))
	p := a.waitPod("res", "Running", time.Minute, statusIs("Running"))
	if p.Status.QOSClass != v1.PodQOSBurstable {
		t.Errorf("qosClass %q, want Burstable", p.Status.QOSClass)
	}
	// The Burstable QoS cgroup's shares: the sum of its pods' CPU requests
	// (300m + 50m), as the kubelet's QoS container manager writes them.
	qosDir := filepath.Join(root, "kubepods", "burstable")
	a.waitPod("small", "Running", time.Minute, statusIs("Running"))
	checkCgroup(t, qosDir, []cgroupWant{{"cpu", "cpu.shares", "358"}}, []cgroupWant{{"", "cpu.weight", "14"}})
	a.remove("small.yaml")
	a.waitGone("small", time.Minute)
	checkCgroup(t, qosDir, []cgroupWant{{"cpu", "cpu.shares", "307"}}, []cgroupWant{{"", "cpu.weight", "12"}})
	// A restarted agent counts the pods it finds: res's request is still
	// in the sum when small comes back.
	a.stop()
	a = startAgent(t, cfg)
	a.write("small.yaml", pod("small", "Always", "  - {name: c, image: busybox, command: [sleep, '3600'], resources: {requests: {cpu: 50m}}}\n"))
	a.waitPod("small", "Running after the restart", time.Minute, statusIs("Running"))
	checkCgroup(t, qosDir, []cgroupWant{{"cpu", "cpu.shares", "358"}}, []cgroupWant{{"", "cpu.weight", "14"}})
	a.remove("small.yaml")
	a.waitGone("small", time.Minute)
	pod := filepath.Join(root, "kubepods", "burstable", "pod"+string(p.UID))
	// Shares from the summed requests (100m + the 200m defaulted from b's
	// limit), a quota and a memory limit since both containers set limits.
	checkCgroup(t, pod,
		[]cgroupWant{{"cpu", "cpu.shares", "307"}, {"cpu", "cpu.cfs_quota_us", "70000"}, {"cpu", "cpu.cfs_period_us", "100000"}, {"memory", "memory.limit_in_bytes", "100663296"}},
		[]cgroupWant{{"", "cpu.weight", "12"}, {"", "cpu.max", "70000 100000"}, {"", "memory.max", "100663296"}})
	// Every process of the pod (pause and both containers) is inside.
	ctx, cancel := context.WithTimeout(env.Ctx(context.Background()), time.Minute)
	defer cancel()
	resp, err := env.Client.TaskService().List(ctx, &tasks.ListTasksRequest{})
	if err != nil {
		t.Fatal(err)
	}
	if len(resp.Tasks) != 3 {
		t.Errorf("%d tasks, want 3", len(resp.Tasks))
	}
	for _, tk := range resp.Tasks {
		if got := memoryCgroupOf(t, tk.Pid); got != pod+"/"+tk.ID {
			t.Errorf("task %s (pid %d) in cgroup %s, want %s/%s", tk.ID, tk.Pid, got, pod, tk.ID)
		}
	}
	// oom_score_adj as the kubelet sets it (pkg/kubelet/qos/policy.go):
	// Burstable containers by their memory request against the node's
	// memory, the sandbox -998; never below the agent's own.
	own := readInt(t, "/proc/self/oom_score_adj")
	memTotal := readMemTotal(t)
	burstable := func(req int64) int64 { return min(max(1000-1000*req/memTotal, 3), 999) }
	wantAdj := map[string]int64{
		strings.TrimPrefix(cstatus(p, "a").ContainerID, "containerd://"): burstable(64 << 20),
		strings.TrimPrefix(cstatus(p, "b").ContainerID, "containerd://"): burstable(32 << 20),
	}
	for _, tk := range resp.Tasks {
		want, ok := wantAdj[tk.ID]
		if !ok {
			want = -998 // the pause process
		}
		if got := readInt(t, fmt.Sprintf("/proc/%d/oom_score_adj", tk.Pid)); got != max(want, own) {
			t.Errorf("task %s: oom_score_adj %d, want %d", tk.ID, got, max(want, own))
		}
	}
	// The container's own cgroup keeps its own limit.
	if !cgroupV2(t) {
		id := strings.TrimPrefix(cstatus(p, "b").ContainerID, "containerd://")
		if got := cgroupValue(t, "memory", pod+"/"+id, "memory.limit_in_bytes"); got != "33554432" {
			t.Errorf("container b: memory.limit_in_bytes = %s", got)
		}
	}

	a.remove("res.yaml")
	a.waitGone("res", time.Minute)
	env.AssertPodGone(t, p)
	if _, err := os.Stat(cgroupDir(t, "memory", pod)); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("pod cgroup left after deletion: %v", err)
	}
	// No Burstable pod left: the kubelet's minimum.
	checkCgroup(t, qosDir, []cgroupWant{{"cpu", "cpu.shares", "2"}}, []cgroupWant{{"", "cpu.weight", "1"}})
}

// A container that outgrows its memory limit is OOM-killed: reason
// OOMKilled, exit code 137, and restarted as its restartPolicy says.
func TestMemoryLimitOOMKillsAndRestarts(t *testing.T) {
	env := testenv.New(t)
	a := startAgent(t, testConfig(t, env))
	// tail keeps the last lines; /dev/zero never ends one, so it keeps all.
	a.write("oom.yaml", `apiVersion: v1
kind: Pod
metadata: {name: oom}
spec:
  terminationGracePeriodSeconds: 1
  containers:
  - name: hog
    image: busybox
    command: [sh, -c, 'echo started; tail /dev/zero']
    resources:
      limits: {memory: 16Mi}
`)
	p := a.waitPod("oom", "restarted after an OOM kill", 2*time.Minute, func(p *v1.Pod) bool {
		return cstatus(p, "hog").RestartCount >= 1
	})
	last := cstatus(p, "hog").LastTerminationState.Terminated
	if last == nil || last.Reason != "OOMKilled" || last.ExitCode != 137 {
		t.Errorf("last state %+v, want OOMKilled with exit code 137", last)
	}
	a.remove("oom.yaml")
	a.waitGone("oom", time.Minute)
	env.AssertPodGone(t, p)
}

// A container without a limit of its own, killed when the pod cgroup
// reaches the pod's limit (spec.resources), reads OOMKilled with exit code
// 137 as well (the kubelet passes on the runtime's reason), and from the
// first status that shows it terminated. containerd's OOM event alone did
// not do: on cgroup v1 it sometimes came after the exit, or not at all
// (Error for good in 2 runs of 10); the kernel's count in the container's
// cgroup does. Only the killed container reads OOMKilled: on cgroup v1
// containerd's OOM event reaches every container of the pod cgroup that
// reached its limit, and the bystander, which exits 1 later for a reason
// of its own, reads Error.
func TestPodMemoryLimitOOMKill(t *testing.T) {
	env := testenv.New(t)
	a := startAgent(t, testConfig(t, env))
	a.write("podoom.yaml", `apiVersion: v1
kind: Pod
metadata: {name: podoom}
spec:
  restartPolicy: Never
  terminationGracePeriodSeconds: 1
  resources:
    limits: {memory: 16Mi}
  containers:
  - name: bystander
    image: busybox
    command: [sh, -c, 'until [ -e /tmp/fail ]; do sleep 0.2; done; exit 1']
  - name: hog
    image: busybox
    command: [sh, -c, 'echo started; tail /dev/zero']
`)
	p := a.waitPod("podoom", "the hog killed", 2*time.Minute, func(p *v1.Pod) bool {
		return cstatus(p, "hog").State.Terminated != nil
	})
	if st := cstatus(p, "hog").State.Terminated; st.Reason != "OOMKilled" || st.ExitCode != 137 {
		t.Errorf("hog terminated %+v, want OOMKilled with exit code 137", st)
	}
	if st := cstatus(p, "bystander").State; st.Running == nil {
		t.Fatalf("bystander %+v after the hog's OOM kill, want running", st)
	}
	if code, out := a.exec("podoom", "bystander", "touch", "/tmp/fail"); code != 0 {
		t.Fatalf("touch /tmp/fail in the bystander: exit code %d: %s", code, out)
	}
	p = a.waitPod("podoom", "Failed", time.Minute, func(p *v1.Pod) bool { return p.Status.Phase == v1.PodFailed })
	if st := cstatus(p, "hog").State.Terminated; st == nil || st.Reason != "OOMKilled" {
		t.Errorf("hog finally %+v, want OOMKilled", cstatus(p, "hog").State)
	}
	if st := cstatus(p, "bystander").State.Terminated; st == nil || st.Reason != "Error" || st.ExitCode != 1 {
		t.Errorf("bystander finally %+v, want Error with exit code 1", cstatus(p, "bystander").State)
	}
	a.remove("podoom.yaml")
	a.waitGone("podoom", time.Minute)
	env.AssertPodGone(t, p)
}

// Pod-level resources (beta and on by default in 1.34): spec.resources
// limits bound the pod cgroup even where no container sets a limit, the
// requests default from them, and the QoS class follows them.
func TestPodLevelResources(t *testing.T) {
	env := testenv.New(t)
	a := startAgent(t, testConfig(t, env))
	a.write("pl.yaml", `apiVersion: v1
kind: Pod
metadata: {name: pl}
spec:
  terminationGracePeriodSeconds: 1
  resources:
    limits: {cpu: 500m, memory: 64Mi}
  containers:
  - {name: a, image: busybox, command: [sleep, '3600']}
  - {name: b, image: busybox, command: [sleep, '3600']}
`)
	p := a.waitPod("pl", "Running", time.Minute, statusIs("Running"))
	if p.Status.QOSClass != v1.PodQOSGuaranteed {
		t.Errorf("qosClass %q, want Guaranteed", p.Status.QOSClass)
	}
	if r := p.Spec.Resources; r == nil || r.Requests.Cpu().String() != "500m" || r.Requests.Memory().String() != "64Mi" {
		t.Errorf("spec.resources %+v: requests not defaulted from the limits", r)
	}
	pod := filepath.Join(runtime.DefaultCgroupRoot(env.Namespace), "kubepods", "pod"+string(p.UID))
	checkCgroup(t, pod,
		[]cgroupWant{{"cpu", "cpu.shares", "512"}, {"cpu", "cpu.cfs_quota_us", "50000"}, {"memory", "memory.limit_in_bytes", "67108864"}},
		[]cgroupWant{{"", "cpu.max", "50000 100000"}, {"", "memory.max", "67108864"}})
	a.remove("pl.yaml")
	a.waitGone("pl", time.Minute)
	env.AssertPodGone(t, p)
}

func readInt(t *testing.T, path string) int64 {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	v, err := strconv.ParseInt(strings.TrimSpace(string(b)), 10, 64)
	if err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	return v
}

// readMemTotal is the node's memory in bytes.
func readMemTotal(t *testing.T) int64 {
	t.Helper()
	b, err := os.ReadFile("/proc/meminfo")
	if err != nil {
		t.Fatal(err)
	}
	for _, line := range strings.Split(string(b), "\n") {
		if f := strings.Fields(line); len(f) >= 2 && f[0] == "MemTotal:" {
			kb, err := strconv.ParseInt(f[1], 10, 64)
			if err != nil {
				t.Fatal(err)
			}
			return kb << 10
		}
	}
	t.Fatal("no MemTotal in /proc/meminfo")
	return 0
}

// Admission against the node's resources, as the kubelet's: a pod asking
// for more huge pages or CPU than the node has fails at once (Failed,
// reason OutOf<resource>, "Pod was rejected: " and the kubelet's message,
// a Warning event) and nothing of it runs; an extended resource the node
// does not have at all is not checked (the kubelet drops it from the
// check, as it may be a cluster-level resource), so that pod runs; with
// maxPods 1, a second pod is one too many (OutOfpods), and the node's
// capacity and allocatable, as kubectl reads them, say 1 pod.
func TestResourceAdmission(t *testing.T) {
	env := testenv.New(t)
	cfg := testConfig(t, env)
	cfg.MaxPods = 1
	a := startAgent(t, cfg)
	k := newKubectl(t, a)
	if out := k.ok("get", "node", "testnode", "-o", "jsonpath={.status.capacity.pods} {.status.allocatable.pods}"); out != "1 1" {
		t.Errorf("node's capacity and allocatable pods %q, want maxPods: \"1 1\"", out)
	}
	// The node's 2 MiB huge pages: whatever this host reserved, plus one.
	b, err := os.ReadFile("/sys/kernel/mm/hugepages/hugepages-2048kB/nr_hugepages")
	if err != nil {
		t.Fatalf("this test needs 2 MiB huge pages in the kernel: %v", err)
	}
	pages, err := strconv.ParseInt(strings.TrimSpace(string(b)), 10, 64)
	if err != nil {
		t.Fatal(err)
	}
	cpus := int64(goruntime.NumCPU())
	a.write("huge.yaml", pod("huge", "Never", fmt.Sprintf("  - {name: c, image: busybox, command: ['true'], resources: {limits: {memory: 16Mi, hugepages-2Mi: %dMi}}}\n", 2*(pages+1))))
	a.write("cpu.yaml", pod("cpu", "Never", fmt.Sprintf("  - {name: c, image: busybox, command: ['true'], resources: {requests: {cpu: '%d'}}}\n", cpus+1)))
	for _, tt := range []struct{ pod, reason, message string }{
		{"huge", "OutOfhugepages-2Mi", fmt.Sprintf("Node didn't have enough resource: hugepages-2Mi, requested: %d, used: 0, capacity: %d", (pages+1)<<21, pages<<21)},
		{"cpu", "OutOfcpu", fmt.Sprintf("Node didn't have enough resource: cpu, requested: %d, used: 0, capacity: %d", (cpus+1)*1000, cpus*1000)},
	} {
		p := a.waitPod(tt.pod, "Failed", time.Minute, func(p *v1.Pod) bool { return p.Status.Phase == v1.PodFailed })
		if p.Status.Reason != tt.reason || p.Status.Message != "Pod was rejected: "+tt.message {
			t.Errorf("%s: reason %q message %q; want %q, %q", tt.pod, p.Status.Reason, p.Status.Message, tt.reason, "Pod was rejected: "+tt.message)
		}
		if st := cstatus(p, "c").State; st.Running != nil || st.Terminated != nil {
			t.Errorf("%s: container %+v, want never started", tt.pod, st)
		}
		if !hasEvent(a.events(tt.pod), tt.reason, tt.message) {
			t.Errorf("%s: no %s event:\n%s", tt.pod, tt.reason, a.describe(tt.pod))
		}
		env.AssertPodGone(t, p) // nothing of it was made
	}
	a.write("ext.yaml", pod("ext", "Never", "  - {name: c, image: busybox, command: [sleep, '3600'], resources: {limits: {example.com/foo: 1}}}\n"))
	a.waitPod("ext", "Running", time.Minute, statusIs("Running"))
	a.write("extra.yaml", pod("extra", "Never", "  - {name: c, image: busybox, command: ['true']}\n"))
	p := a.waitPod("extra", "Failed", time.Minute, func(p *v1.Pod) bool { return p.Status.Phase == v1.PodFailed })
	if want := "Pod was rejected: Node didn't have enough resource: pods, requested: 1, used: 1, capacity: 1"; p.Status.Reason != "OutOfpods" || p.Status.Message != want {
		t.Errorf("extra: reason %q message %q; want OutOfpods, %q", p.Status.Reason, p.Status.Message, want)
	}
	for _, name := range []string{"huge", "cpu", "ext", "extra"} {
		a.remove(name + ".yaml")
		a.waitGone(name, time.Minute)
	}
}
