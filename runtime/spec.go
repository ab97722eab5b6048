package runtime

import (
	"context"
	"fmt"
	"path/filepath"
	"slices"
	"sort"
	"strings"

	"github.com/containerd/containerd/containers"
	"github.com/containerd/containerd/oci"
	specs "github.com/opencontainers/runtime-spec/specs-go"
	v1 "k8s.io/api/core/v1"

	"github.com/minikubelet/minikubelet/internal/qos"
)

// The spec options below are small and free of side effects so they can be
// tested by calling them on a bare spec with nil collaborators; the code that
// creates directories, mounts or reads the host lives elsewhere and hands them
// plain values.

// withoutDefaultRlimits drops the default spec's RLIMIT_NOFILE so the
// container inherits the shim's limits: asking for more than the hard limit
// fails for a root without CAP_SYS_RESOURCE, and containerd's CRI does the same.
func withoutDefaultRlimits(_ context.Context, _ oci.Client, _ *containers.Container, s *oci.Spec) error {
	if s.Process != nil {
		s.Process.Rlimits = nil
	}
	return nil
}

// shimGroupAnnotation groups tasks into shims: the runc v2 shim derives
// its socket from this annotation of the OCI spec (its StartShim; containerd's
// CRI gets the same through io.kubernetes.cri.sandbox-id, the shim's other
// grouping key), so tasks with the same value are served by one shim
// process, which exits once its last task is deleted. A shim per container
// cost 2.2 MiB per pod more than one per pod (BENCHMARKS.md).
const shimGroupAnnotation = "io.containerd.runc.v2.group"

// withShimGroup runs the task in the shim of the pod's sandbox: the pause
// container's shim serves the pod's init, app and sidecar containers too.
func withShimGroup(sandboxID string) oci.SpecOpts {
	return oci.WithAnnotations(map[string]string{shimGroupAnnotation: sandboxID})
}

// withOOMScoreAdj sets the process's oom_score_adj, never below floor (the
// agent's own value): lowering it needs CAP_SYS_RESOURCE, which root lacks on
// many VMs, and runc then fails with an opaque "can't get final child's PID".
func withOOMScoreAdj(want, floor int) oci.SpecOpts {
	return func(_ context.Context, _ oci.Client, _ *containers.Container, s *oci.Spec) error {
		if s.Process == nil {
			s.Process = &specs.Process{}
		}
		adj := max(want, floor)
		s.Process.OOMScoreAdj = &adj
		return nil
	}
}

// withNetNSPath puts the process in the network namespace at path (the
// sandbox's, created and configured by CNI before the pause task starts).
func withNetNSPath(path string) oci.SpecOpts {
	return oci.WithLinuxNamespace(specs.LinuxNamespace{Type: specs.NetworkNamespace, Path: path})
}

// withPodNamespaces joins the pause process's network, IPC and UTS
// namespaces, and its PID namespace when the pod shares one.
func withPodNamespaces(pausePID uint32, sharePID bool) oci.SpecOpts {
	ns := func(t specs.LinuxNamespaceType, name string) oci.SpecOpts {
		return oci.WithLinuxNamespace(specs.LinuxNamespace{Type: t, Path: fmt.Sprintf("/proc/%d/ns/%s", pausePID, name)})
	}
	opts := []oci.SpecOpts{
		ns(specs.NetworkNamespace, "net"),
		ns(specs.IPCNamespace, "ipc"),
		ns(specs.UTSNamespace, "uts"),
	}
	if sharePID {
		opts = append(opts, ns(specs.PIDNamespace, "pid"))
	}
	return oci.Compose(opts...)
}

// withMounts adds bind mounts, replacing any default mount at the same
// destination (the default /dev/shm tmpfs, for one). Mounts are ordered by
// depth so a parent never hides a child.
func withMounts(mounts []specs.Mount) oci.SpecOpts {
	return func(_ context.Context, _ oci.Client, _ *containers.Container, s *oci.Spec) error {
		dests := map[string]bool{}
		for _, m := range mounts {
			dests[filepath.Clean(m.Destination)] = true
		}
		kept := s.Mounts[:0:0]
		for _, m := range s.Mounts {
			if !dests[filepath.Clean(m.Destination)] {
				kept = append(kept, m)
			}
		}
		sorted := slices.Clone(mounts)
		sort.SliceStable(sorted, func(i, j int) bool {
			return depth(sorted[i].Destination) < depth(sorted[j].Destination)
		})
		s.Mounts = append(kept, sorted...)
		return nil
	}
}

func depth(p string) int {
	return strings.Count(filepath.Clean(p), "/")
}

// bindMount is a private recursive bind, read-only when asked.
func bindMount(src, dst string, readOnly bool) specs.Mount {
	opts := []string{"rbind", "rprivate", "rw"}
	if readOnly {
		opts[2] = "ro"
	}
	return specs.Mount{Source: src, Destination: dst, Type: "bind", Options: opts}
}

// cgroupMount shows the container its cgroups read-only, like Docker and
// containerd's CRI.
var cgroupMount = specs.Mount{
	Source: "cgroup", Destination: "/sys/fs/cgroup", Type: "cgroup",
	Options: []string{"nosuid", "noexec", "nodev", "relatime", "ro"},
}

// withResources turns requests and limits into cgroup settings (kubelet
// generateLinuxContainerResources): CPU shares from the request (at least 2),
// a CFS quota from the CPU limit, a memory limit.
func withResources(r v1.ResourceRequirements) oci.SpecOpts {
	return func(_ context.Context, _ oci.Client, _ *containers.Container, s *oci.Spec) error {
		if s.Linux == nil {
			s.Linux = &specs.Linux{}
		}
		if s.Linux.Resources == nil {
			s.Linux.Resources = &specs.LinuxResources{}
		}
		res := s.Linux.Resources
		cpuReq, hasReq := r.Requests[v1.ResourceCPU]
		cpuLim, hasLim := r.Limits[v1.ResourceCPU]
		if !hasReq && hasLim {
			cpuReq, hasReq = cpuLim, true // the API defaults requests to limits
		}
		// The kernel's range of cpu.shares, clamped as the kubelet's
		// MilliCPUToShares does.
		const minShares, maxShares, sharesPerCPU, period = 2, 262144, 1024, 100000
		shares := uint64(minShares)
		if hasReq {
			shares = min(max(uint64(cpuReq.MilliValue()*sharesPerCPU/1000), minShares), maxShares)
		}
		if res.CPU == nil {
			res.CPU = &specs.LinuxCPU{}
		}
		res.CPU.Shares = &shares
		if hasLim && !cpuLim.IsZero() {
			quota := max(cpuLim.MilliValue()*period/1000, 1000) // kernel minimum 1ms
			p := uint64(period)
			res.CPU.Quota, res.CPU.Period = &quota, &p
		}
		if mem, ok := r.Limits[v1.ResourceMemory]; ok && !mem.IsZero() {
			limit := mem.Value()
			if res.Memory == nil {
				res.Memory = &specs.LinuxMemory{}
			}
			res.Memory.Limit = &limit
		}
		return nil
	}
}

// qosOOMScoreAdj is the kubelet's oom_score_adj for a container by QoS class
// (pkg/kubelet/qos/policy.go): Guaranteed -997, BestEffort 1000, Burstable
// scaled by the memory request against node memory, within [3, 999].
func qosOOMScoreAdj(pod *v1.Pod, c *v1.Container, nodeMemory int64) int {
	switch qos.PodQOS(pod) {
	case v1.PodQOSGuaranteed:
		return -997
	case v1.PodQOSBestEffort:
		return 1000
	}
	if nodeMemory <= 0 {
		return 999
	}
	req := c.Resources.Requests.Memory().Value()
	if req >= nodeMemory {
		return 3 // and 1000*req below cannot overflow
	}
	adj := 1000 - (1000*req)/nodeMemory
	if adj < 3 {
		return 3
	}
	if adj >= 1000 {
		return 999
	}
	return int(adj)
}
