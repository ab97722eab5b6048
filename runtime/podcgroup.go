package runtime

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/containerd/containerd/containers"
	"go.uber.org/zap"
	"golang.org/x/sys/unix"
	v1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/types"

	"github.com/minikubelet/minikubelet/internal/qos"
)

// Pod cgroups, laid out as the kubelet's cgroupfs driver lays them out
// (pkg/kubelet/cm: qos_container_manager, pod_container_manager):
//
//	<cgroupRoot>/kubepods/pod<uid>/<container id>             Guaranteed
//	<cgroupRoot>/kubepods/burstable/pod<uid>/<container id>   Burstable
//	<cgroupRoot>/kubepods/besteffort/pod<uid>/<container id>  BestEffort
//
// The agent creates the pod cgroup, with the pod's limits, before the
// sandbox; runc creates each container's cgroup inside it from the OCI
// spec's cgroupsPath and removes it with the container. The files are
// written directly: four values per version do not need a cgroup library,
// and the layout stays testable on a plain directory.

// DefaultCgroupRoot is the cgroup the pods of a containerd namespace live
// under when Config.CgroupRoot is not set: per namespace, so that agents
// (and test runs) with different namespaces never share pod cgroups.
func DefaultCgroupRoot(namespace string) string {
	return "/" + path.Join("minikubelet", namespace)
}

// cgroupMount is where the cgroup hierarchies are mounted.
const cgroupFSMount = "/sys/fs/cgroup"

// Kernel and kubelet constants of the CPU controller (pkg/kubelet/cm
// helpers_linux.go).
const (
	minShares     = 2
	maxShares     = 262144
	sharesPerCPU  = 1024
	quotaPeriod   = 100000 // µs, the CFS default
	minQuotaUsecs = 1000
)

// podCgroupValues is what the kubelet writes into a pod cgroup.
type podCgroupValues struct {
	cpuShares uint64
	cpuQuota  int64 // µs per quotaPeriod; -1: unlimited
	memory    int64 // bytes; -1: unlimited
}

// podCgroupResources computes the pod cgroup's values as the kubelet's
// ResourceConfigForPod does: CPU shares from the pod's CPU request (2 for
// BestEffort pods), a CFS quota only when every container limits CPU, a
// memory limit only when every container limits memory (or when
// spec.resources sets the pod's limit).
func podCgroupResources(pod *v1.Pod) podCgroupValues {
	out := podCgroupValues{cpuShares: minShares, cpuQuota: -1, memory: -1}
	if qos.PodQOS(pod) == v1.PodQOSBestEffort {
		return out
	}
	cpuDeclared, memDeclared := true, true
	limits := qos.PodLimits(pod, func(l v1.ResourceList) {
		if l.Cpu().IsZero() {
			cpuDeclared = false
		}
		if l.Memory().IsZero() {
			memDeclared = false
		}
	})
	if r := pod.Spec.Resources; r != nil {
		cpuDeclared = cpuDeclared || !r.Limits.Cpu().IsZero()
		memDeclared = memDeclared || !r.Limits.Memory().IsZero()
	}
	requests := qos.PodRequests(pod)
	out.cpuShares = milliCPUToShares(requests.Cpu().MilliValue())
	if cpuDeclared {
		out.cpuQuota = milliCPUToQuota(limits.Cpu().MilliValue())
	}
	if memDeclared {
		out.memory = limits.Memory().Value()
	}
	return out
}

// milliCPUToShares is the kubelet's MilliCPUToShares.
func milliCPUToShares(milli int64) uint64 {
	if milli <= 0 {
		return minShares
	}
	return uint64(min(max(milli*sharesPerCPU/1000, minShares), maxShares))
}

// milliCPUToQuota is the kubelet's MilliCPUToQuota: -1 for no limit, at
// least the kernel's 1 ms.
func milliCPUToQuota(milli int64) int64 {
	if milli <= 0 {
		return -1
	}
	return max(milli*quotaPeriod/1000, minQuotaUsecs)
}

// sharesToWeight converts cpu.shares to cgroup v2's cpu.weight the way runc
// and the CRI do: [2, 262144] onto [1, 10000].
func sharesToWeight(shares uint64) uint64 {
	if shares == 0 {
		return 0
	}
	return 1 + ((shares-minShares)*9999)/(maxShares-minShares)
}

// qosCgroup is the QoS-class cgroup a pod's cgroup goes in, relative to
// the cgroup root.
func qosCgroup(class v1.PodQOSClass) string {
	switch class {
	case v1.PodQOSBurstable:
		return "kubepods/burstable"
	case v1.PodQOSBestEffort:
		return "kubepods/besteffort"
	}
	return "kubepods"
}

// podCgroupPath is the pod's cgroup, absolute within a hierarchy.
func podCgroupPath(root string, pod *v1.Pod) string {
	return path.Join(root, qosCgroup(qos.PodQOS(pod)), "pod"+string(pod.UID))
}

// cgroups writes and removes pod cgroups in the hierarchies mounted at
// mount: one cgroup2 hierarchy, or one per controller (cgroup v1).
type cgroups struct {
	mount string
	v2    bool
}

// hostCgroups describes this host's cgroups.
func hostCgroups() cgroups {
	var st unix.Statfs_t
	v2 := unix.Statfs(cgroupFSMount, &st) == nil && st.Type == unix.CGROUP2_SUPER_MAGIC
	return cgroups{mount: cgroupFSMount, v2: v2}
}

// ensurePod creates the pod cgroup at p (and its parents) with values v.
// Safe to repeat: the values are written again.
func (cg cgroups) ensurePod(p string, v podCgroupValues) error {
	if cg.v2 {
		return cg.ensureV2(p, v)
	}
	return cg.ensureV1(p, v)
}

func (cg cgroups) ensureV1(p string, v podCgroupValues) error {
	cpu, mem := filepath.Join(cg.mount, "cpu", p), filepath.Join(cg.mount, "memory", p)
	for _, d := range []string{cpu, mem} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			return fmt.Errorf("pod cgroup %s: %w", p, err)
		}
	}
	writes := [][3]string{
		{cpu, "cpu.shares", strconv.FormatUint(v.cpuShares, 10)},
		{cpu, "cpu.cfs_period_us", strconv.Itoa(quotaPeriod)},
		{cpu, "cpu.cfs_quota_us", strconv.FormatInt(v.cpuQuota, 10)},
		{mem, "memory.limit_in_bytes", strconv.FormatInt(v.memory, 10)},
	}
	if isBestEffortCgroup(path.Dir(p)) {
		writes = append(writes, [3]string{filepath.Dir(cpu), "cpu.shares", strconv.Itoa(minShares)})
	}
	for _, w := range writes {
		if err := writeCgroupFile(w[0], w[1], w[2]); err != nil {
			return fmt.Errorf("pod cgroup %s: %w", p, err)
		}
	}
	return nil
}

// isBestEffortCgroup: the BestEffort QoS cgroup gets the minimum CPU shares,
// as the kubelet's QoS container manager gives it.
func isBestEffortCgroup(p string) bool {
	return strings.HasSuffix(p, "/"+qosCgroup(v1.PodQOSBestEffort))
}

func (cg cgroups) ensureV2(p string, v podCgroupValues) error {
	dir := filepath.Join(cg.mount, p)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("pod cgroup %s: %w", p, err)
	}
	// A cgroup has the cpu and memory files only when its parent enables
	// those controllers for its children, all the way from the root.
	parts := strings.Split(strings.Trim(p, "/"), "/")
	for i := range parts {
		parent := filepath.Join(cg.mount, filepath.Join(parts[:i]...))
		if err := enableControllers(parent, "cpu", "memory"); err != nil {
			return fmt.Errorf("pod cgroup %s: %w", p, err)
		}
		if isBestEffortCgroup(parent) {
			if err := writeCgroupFile(parent, "cpu.weight", strconv.FormatUint(sharesToWeight(minShares), 10)); err != nil {
				return fmt.Errorf("pod cgroup %s: %w", p, err)
			}
		}
	}
	quota, memory := "max", "max"
	if v.cpuQuota > 0 {
		quota = strconv.FormatInt(v.cpuQuota, 10)
	}
	if v.memory > 0 {
		memory = strconv.FormatInt(v.memory, 10)
	}
	for _, w := range [][2]string{
		{"cpu.weight", strconv.FormatUint(sharesToWeight(v.cpuShares), 10)},
		{"cpu.max", quota + " " + strconv.Itoa(quotaPeriod)},
		{"memory.max", memory},
	} {
		if err := writeCgroupFile(dir, w[0], w[1]); err != nil {
			return fmt.Errorf("pod cgroup %s: %w", p, err)
		}
	}
	return nil
}

// enableControllers enables the named controllers for dir's children, those
// of them dir has.
func enableControllers(dir string, names ...string) error {
	have, err := os.ReadFile(filepath.Join(dir, "cgroup.controllers"))
	if err != nil {
		return err
	}
	var add []string
	for _, n := range names {
		if slices.Contains(strings.Fields(string(have)), n) {
			add = append(add, "+"+n)
		}
	}
	if len(add) == 0 {
		return nil
	}
	return writeCgroupFile(dir, "cgroup.subtree_control", strings.Join(add, " "))
}

func writeCgroupFile(dir, file, value string) error {
	// O_TRUNC|O_CREATE: cgroupfs ignores both; a test's plain directory
	// gets a file holding the value.
	if err := os.WriteFile(filepath.Join(dir, file), []byte(value), 0o644); err != nil {
		return fmt.Errorf("write %s to %s: %w", value, filepath.Join(dir, file), err)
	}
	return nil
}

// hierarchies lists the directories p has in every hierarchy.
func (cg cgroups) hierarchies(p string) []string {
	if cg.v2 {
		return []string{filepath.Join(cg.mount, p)}
	}
	dirs, _ := filepath.Glob(filepath.Join(cg.mount, "*", p))
	return dirs
}

// oomKills returns how many processes of cgroup p the kernel's OOM killer
// has killed, wherever the limit was reached: p's own, or an ancestor's
// such as the pod cgroup's (cgroup v1: memory.oom_control's oom_kill,
// kernel 4.13 and later; v2: memory.events' oom_kill), and false when p
// is gone or the kernel does not count.
func (cg cgroups) oomKills(p string) (uint64, bool) {
	file := filepath.Join(cg.mount, "memory", p, "memory.oom_control")
	if cg.v2 {
		file = filepath.Join(cg.mount, p, "memory.events")
	}
	b, err := os.ReadFile(file)
	if err != nil {
		return 0, false
	}
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, "oom_kill "); ok {
			n, err := strconv.ParseUint(v, 10, 64)
			return n, err == nil
		}
	}
	return 0, false
}

// podCgroups lists the pod cgroups under root by pod UID, with their path
// relative to the mount (the same in every hierarchy).
func (cg cgroups) podCgroups(root string) map[types.UID]string {
	out := map[types.UID]string{}
	for _, class := range []v1.PodQOSClass{v1.PodQOSGuaranteed, v1.PodQOSBurstable, v1.PodQOSBestEffort} {
		parent := path.Join(root, qosCgroup(class))
		for _, h := range cg.hierarchies(parent) {
			entries, _ := os.ReadDir(h)
			for _, e := range entries {
				if e.IsDir() && strings.HasPrefix(e.Name(), "pod") {
					out[types.UID(strings.TrimPrefix(e.Name(), "pod"))] = path.Join(parent, e.Name())
				}
			}
		}
	}
	return out
}

// killTree SIGKILLs every process left in cgroup p or below it, in every
// hierarchy, and waits until they have left it (within ctx, and at most
// strayExitWait). The kubelet does the same before it removes a pod cgroup
// (its pod container manager's Destroy): once the pod's containers are
// gone, a process still there is a stray, such as the runc init of a
// container whose create an agent kill cut short, and it would keep the
// cgroup busy for good.
func (cg cgroups) killTree(ctx context.Context, p string) error {
	pids := cg.procsUnder(p)
	if len(pids) == 0 {
		return nil
	}
	for _, pid := range pids {
		if err := unix.Kill(pid, unix.SIGKILL); err != nil && !errors.Is(err, unix.ESRCH) {
			return fmt.Errorf("kill process %d left in cgroup %s: %w", pid, p, err)
		}
	}
	ctx, cancel := context.WithTimeout(ctx, strayExitWait)
	defer cancel()
	for {
		left := cg.procsUnder(p)
		if len(left) == 0 {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("processes %v still in cgroup %s after SIGKILL: %w", left, p, ctx.Err())
		case <-time.After(10 * time.Millisecond):
		}
	}
}

// strayExitWait bounds killTree's wait for the processes it killed.
const strayExitWait = 5 * time.Second

// procsUnder lists the processes in cgroup p and below it, in every
// hierarchy.
func (cg cgroups) procsUnder(p string) []int {
	seen := map[int]bool{}
	var pids []int
	for _, d := range cg.tree(p) {
		b, err := os.ReadFile(filepath.Join(d, "cgroup.procs"))
		if err != nil {
			continue
		}
		for _, f := range strings.Fields(string(b)) {
			if pid, err := strconv.Atoi(f); err == nil && !seen[pid] {
				seen[pid] = true
				pids = append(pids, pid)
			}
		}
	}
	return pids
}

// tree lists the directories of cgroup p and of every cgroup below it, in
// every hierarchy, each parent before its children.
func (cg cgroups) tree(p string) []string {
	var dirs []string
	for _, h := range cg.hierarchies(p) {
		_ = filepath.WalkDir(h, func(d string, e fs.DirEntry, err error) error {
			if err == nil && e.IsDir() {
				dirs = append(dirs, d)
			}
			return nil
		})
	}
	return dirs
}

// removeTree removes the cgroup p with every cgroup below it, deepest
// first, in every hierarchy. rmdir removes only cgroups without processes,
// so a cgroup still in use stays, and is reported.
func (cg cgroups) removeTree(p string) error {
	var errs []error
	dirs := cg.tree(p)
	slices.Reverse(dirs) // children before their parents
	for _, d := range dirs {
		if err := unix.Rmdir(d); err != nil && !errors.Is(err, unix.ENOENT) {
			errs = append(errs, fmt.Errorf("remove cgroup %s: %w", d, err))
		}
	}
	return errors.Join(errs...)
}

// burstableShares keeps the CPU requests of the Burstable pods that have a
// pod cgroup and writes their sum as the Burstable QoS cgroup's CPU
// shares, as the kubelet's QoS container manager does (setCPUCgroupConfig,
// on every pod cgroup it makes): the class as a whole then weighs against
// the Guaranteed pods beside it, under kubepods, by what its pods asked
// for rather than by the kernel's default 1024.
type burstableShares struct {
	mu    sync.Mutex
	milli map[types.UID]int64 // CPU request by pod
}

// set records the pod's CPU request when it is Burstable, forgets it
// otherwise, and writes the sum under root's Burstable QoS cgroup if
// that cgroup exists (it is made with its first pod).
func (b *burstableShares) set(cg cgroups, root string, uid types.UID, pod *v1.Pod) error {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.milli == nil {
		b.milli = map[types.UID]int64{}
	}
	delete(b.milli, uid)
	if pod != nil && qos.PodQOS(pod) == v1.PodQOSBurstable {
		requests := qos.PodRequests(pod)
		b.milli[uid] = requests.Cpu().MilliValue()
	}
	var sum int64
	for _, m := range b.milli {
		sum += m
	}
	return cg.setShares(path.Join(root, qosCgroup(v1.PodQOSBurstable)), milliCPUToShares(sum))
}

// setShares writes the CPU shares (v2: the weight they map to) of cgroup
// p, if it exists.
func (cg cgroups) setShares(p string, shares uint64) error {
	dir, file, value := filepath.Join(cg.mount, "cpu", p), "cpu.shares", strconv.FormatUint(shares, 10)
	if cg.v2 {
		dir, file, value = filepath.Join(cg.mount, p), "cpu.weight", strconv.FormatUint(sharesToWeight(shares), 10)
	}
	if _, err := os.Stat(dir); errors.Is(err, os.ErrNotExist) {
		return nil
	}
	return writeCgroupFile(dir, file, value)
}

// removeStalePodCgroups removes the pod cgroups of pods that have no
// container left in containerd: pods removed while no agent ran, or whose
// cleanup was cut short. Run at start, before any pod worker, on recs,
// the namespace's containers of this package.
func (c *Containerd) removeStalePodCgroups(ctx context.Context, recs []containers.Container) {
	present := map[types.UID]bool{}
	for _, r := range recs {
		present[types.UID(r.Labels[LabelPodUID])] = true
	}
	for uid, p := range c.cgroups.podCgroups(c.cfg.CgroupRoot) {
		if present[uid] {
			// An earlier agent's pod: its request counts in its class's
			// shares (from the pod as its sandbox was last made).
			pod, err := c.SavedPod(ctx, uid)
			if err != nil {
				c.log.Warn("pod's CPU request not counted in its QoS cgroup's shares", zap.String("uid", string(uid)), zap.Error(err))
				continue
			}
			if err := c.burstable.set(c.cgroups, c.cfg.CgroupRoot, uid, pod); err != nil {
				c.log.Warn("QoS cgroup's CPU shares not written", zap.Error(err))
			}
			continue
		}
		if err := c.cgroups.removeTree(p); err != nil {
			c.log.Warn("stale pod cgroup not removed", zap.String("uid", string(uid)), zap.Error(err))
			continue
		}
		c.log.Info("removed stale pod cgroup", zap.String("uid", string(uid)), zap.String("cgroup", p))
	}
}
