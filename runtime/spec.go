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
	"github.com/containerd/containerd/pkg/cap"
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

// withCapabilities applies securityContext.capabilities the way containerd's
// CRI does: ALL in add grants every known capability, ALL in drop clears
// them, then the named ones are added and dropped. Ambient capabilities are
// always cleared.
func withCapabilities(caps *v1.Capabilities, all []string) oci.SpecOpts {
	return func(ctx context.Context, client oci.Client, c *containers.Container, s *oci.Spec) error {
		if s.Process == nil {
			s.Process = &specs.Process{}
		}
		if s.Process.Capabilities == nil {
			s.Process.Capabilities = &specs.LinuxCapabilities{}
		}
		s.Process.Capabilities.Ambient = nil
		if caps == nil {
			return nil
		}
		var opts []oci.SpecOpts
		if hasCap(caps.Add, "ALL") {
			opts = append(opts, oci.WithCapabilities(all))
		}
		if hasCap(caps.Drop, "ALL") {
			opts = append(opts, oci.WithCapabilities(nil))
		}
		opts = append(opts, oci.WithAddedCapabilities(capNames(caps.Add)), oci.WithDroppedCapabilities(capNames(caps.Drop)))
		return oci.Compose(opts...)(ctx, client, c, s)
	}
}

func hasCap(list []v1.Capability, name string) bool {
	for _, c := range list {
		if strings.EqualFold(string(c), name) {
			return true
		}
	}
	return false
}

// capNames turns Kubernetes capability names (no CAP_ prefix) into OCI ones.
func capNames(list []v1.Capability) []string {
	var out []string
	for _, c := range list {
		n := strings.ToUpper(string(c))
		if n == "ALL" {
			continue
		}
		if !strings.HasPrefix(n, "CAP_") {
			n = "CAP_" + n
		}
		out = append(out, n)
	}
	return out
}

// knownCapabilities is every capability the runtime may grant.
func knownCapabilities() []string { return cap.Known() }

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

// withImageUser applies the container's user: runAsUser (with runAsGroup,
// else the primary group from the image's /etc/passwd), otherwise the image's
// USER. Supplemental groups come from the image's /etc/group plus the pod's
// supplementalGroups and fsGroup. These options read the rootfs, so they
// need a client and go last.
func withUser(imageUser string, sc *v1.SecurityContext, psc *v1.PodSecurityContext) []oci.SpecOpts {
	var uid, gid *int64
	if psc != nil {
		uid, gid = psc.RunAsUser, psc.RunAsGroup
	}
	if sc != nil {
		if sc.RunAsUser != nil {
			uid = sc.RunAsUser
		}
		if sc.RunAsGroup != nil {
			gid = sc.RunAsGroup
		}
	}
	var opts []oci.SpecOpts
	userstr := imageUser
	switch {
	case uid != nil && gid != nil:
		opts = append(opts, oci.WithUIDGID(uint32(*uid), uint32(*gid)))
		userstr = fmt.Sprint(*uid)
	case uid != nil:
		opts = append(opts, oci.WithUserID(uint32(*uid)))
		userstr = fmt.Sprint(*uid)
	case imageUser != "":
		opts = append(opts, oci.WithUser(imageUser))
		if gid != nil {
			opts = append(opts, withGID(uint32(*gid)))
		}
	case gid != nil:
		opts = append(opts, oci.WithUIDGID(0, uint32(*gid)))
	}
	if userstr == "" {
		userstr = "0"
	}
	opts = append(opts, oci.WithAdditionalGIDs(userstr))
	var extra []string
	if psc != nil {
		for _, g := range psc.SupplementalGroups {
			extra = append(extra, fmt.Sprint(g))
		}
		if psc.FSGroup != nil {
			extra = append(extra, fmt.Sprint(*psc.FSGroup))
		}
	}
	if len(extra) > 0 {
		opts = append(opts, withExtraGIDs(extra))
	}
	return opts
}

func withGID(gid uint32) oci.SpecOpts {
	return func(_ context.Context, _ oci.Client, _ *containers.Container, s *oci.Spec) error {
		if s.Process == nil {
			s.Process = &specs.Process{}
		}
		s.Process.User.GID = gid
		return nil
	}
}

// withExtraGIDs appends numeric supplemental groups.
func withExtraGIDs(gids []string) oci.SpecOpts {
	return func(_ context.Context, _ oci.Client, _ *containers.Container, s *oci.Spec) error {
		if s.Process == nil {
			s.Process = &specs.Process{}
		}
		for _, g := range gids {
			var n uint32
			if _, err := fmt.Sscan(g, &n); err != nil {
				return fmt.Errorf("supplemental group %q: %w", g, err)
			}
			if !slices.Contains(s.Process.User.AdditionalGids, n) {
				s.Process.User.AdditionalGids = append(s.Process.User.AdditionalGids, n)
			}
		}
		return nil
	}
}

// withSecurityContext applies the parts of securityContext that need no
// rootfs access. Privileged containers are refused: they would see every
// host device, which this agent does not offer.
func withSecurityContext(sc *v1.SecurityContext, allCaps []string) (oci.SpecOpts, error) {
	var opts []oci.SpecOpts
	if sc != nil && sc.Privileged != nil && *sc.Privileged {
		return nil, fmt.Errorf("privileged containers are not supported")
	}
	var caps *v1.Capabilities
	if sc != nil {
		caps = sc.Capabilities
	}
	opts = append(opts, withCapabilities(caps, allCaps))
	// Kubernetes only sets no_new_privs when allowPrivilegeEscalation is
	// explicitly false; containerd's default spec sets it always.
	opts = append(opts, oci.WithNewPrivileges)
	if sc != nil && sc.AllowPrivilegeEscalation != nil && !*sc.AllowPrivilegeEscalation {
		opts = append(opts, oci.WithNoNewPrivileges)
	}
	if sc != nil && sc.ReadOnlyRootFilesystem != nil && *sc.ReadOnlyRootFilesystem {
		opts = append(opts, oci.WithRootFSReadonly())
	}
	return oci.Compose(opts...), nil
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
