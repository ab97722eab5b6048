package runtime

import (
	"context"
	"fmt"
	"math"
	"path/filepath"
	"slices"
	"strconv"
	"strings"

	"github.com/containerd/containerd/containers"
	"github.com/containerd/containerd/contrib/seccomp"
	"github.com/containerd/containerd/mount"
	"github.com/containerd/containerd/oci"
	specs "github.com/opencontainers/runtime-spec/specs-go"
	v1 "k8s.io/api/core/v1"

	"github.com/minikubelet/minikubelet/internal/sysctl"
)

// The securityContext of pods and containers in spec options, as the kubelet
// hands it to containerd's CRI and the CRI applies it.

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

// effectiveSecurityContext is the container's security context with the
// pod's filling what the container leaves unset, as the kubelet merges them
// (securitycontext.DetermineEffectiveSecurityContext).
func effectiveSecurityContext(pod *v1.Pod, ctr *v1.Container) v1.SecurityContext {
	var sc v1.SecurityContext
	if ctr.SecurityContext != nil {
		sc = *ctr.SecurityContext.DeepCopy()
	}
	psc := pod.Spec.SecurityContext
	if psc == nil {
		return sc
	}
	if sc.SELinuxOptions == nil {
		sc.SELinuxOptions = psc.SELinuxOptions
	}
	if sc.RunAsUser == nil {
		sc.RunAsUser = psc.RunAsUser
	}
	if sc.RunAsGroup == nil {
		sc.RunAsGroup = psc.RunAsGroup
	}
	if sc.RunAsNonRoot == nil {
		sc.RunAsNonRoot = psc.RunAsNonRoot
	}
	if sc.SeccompProfile == nil {
		sc.SeccompProfile = psc.SeccompProfile
	}
	if sc.AppArmorProfile == nil {
		sc.AppArmorProfile = psc.AppArmorProfile
	}
	return sc
}

// imageUser splits an image's USER as containerd's CRI reports it to the
// kubelet (getUserFromImage): a numeric user is a UID, anything else a
// name; a group after ':' is dropped. The kubelet takes an image without a
// USER for root (getImageUser).
func imageUser(user string) (uid *int64, name string) {
	user, _, _ = strings.Cut(user, ":")
	if user == "" {
		return new(int64), ""
	}
	n, err := strconv.ParseInt(user, 10, 64)
	if err != nil {
		return nil, user
	}
	return &n, ""
}

// podDesc is the kubelet's format.Pod: name_namespace(uid).
func podDesc(pod *v1.Pod) string {
	return fmt.Sprintf("%s_%s(%s)", pod.Name, pod.Namespace, pod.UID)
}

// verifyRunAsNonRoot refuses, with the kubelet's messages
// (kuberuntime verifyRunAsNonRoot), a container that asks for
// runAsNonRoot but would run as root: by its runAsUser, or by its image's
// user when it has none (no USER counts as root). A user name cannot be
// checked, so it is refused too.
func verifyRunAsNonRoot(pod *v1.Pod, ctr *v1.Container, sc v1.SecurityContext, uid *int64, name string) error {
	if sc.RunAsNonRoot == nil || !*sc.RunAsNonRoot {
		return nil
	}
	if sc.RunAsUser != nil {
		if *sc.RunAsUser == 0 {
			return fmt.Errorf("container's runAsUser breaks non-root policy (pod: %q, container: %s)", podDesc(pod), ctr.Name)
		}
		return nil
	}
	switch {
	case uid == nil && name != "":
		return fmt.Errorf("container has runAsNonRoot and image has non-numeric user (%s), cannot verify user is non-root (pod: %q, container: %s)", name, podDesc(pod), ctr.Name)
	case uid != nil && *uid == 0:
		return fmt.Errorf("container has runAsNonRoot and image will run as root (pod: %q, container: %s)", podDesc(pod), ctr.Name)
	case uid != nil && (*uid < 0 || *uid > math.MaxInt32):
		return fmt.Errorf("container has runAsNonRoot and image has an invalid user id (%d). (Must be 1-(%d)): must be between 0 and %d, inclusive (pod: %q, container: %s)",
			*uid, math.MaxInt32, math.MaxInt32, podDesc(pod), ctr.Name)
	}
	return nil
}

// withUser sets the process's user and groups the way the kubelet and
// containerd's CRI do together. The kubelet hands the CRI runAsUser, else
// the image's UID or user name (root for an image without USER), plus
// runAsGroup; the CRI resolves that string in the image's /etc/passwd, so
// an image's "uid:gid" loses its group unless runAsGroup names one, as on
// a real node. Supplemental groups: the user's groups in the image's
// /etc/group (not with supplementalGroupsPolicy Strict), then fsGroup and
// supplementalGroups. These options read the rootfs, so they go last.
func withUser(pod *v1.Pod, sc v1.SecurityContext, imageUID *int64, imageName string) []oci.SpecOpts {
	user := imageName
	if sc.RunAsUser != nil {
		user = strconv.FormatInt(*sc.RunAsUser, 10)
	} else if imageUID != nil {
		user = strconv.FormatInt(*imageUID, 10)
	}
	userstr := user
	if sc.RunAsGroup != nil {
		userstr += ":" + strconv.FormatInt(*sc.RunAsGroup, 10)
	}
	opts := []oci.SpecOpts{oci.WithUser(userstr)}
	var extra []int64
	groups := true // from the image's /etc/group
	if psc := pod.Spec.SecurityContext; psc != nil {
		groups = psc.SupplementalGroupsPolicy == nil || *psc.SupplementalGroupsPolicy != v1.SupplementalGroupsPolicyStrict
		if psc.FSGroup != nil {
			extra = append(extra, *psc.FSGroup)
		}
		extra = append(extra, psc.SupplementalGroups...)
	}
	if groups {
		opts = append(opts, oci.WithAdditionalGIDs(user))
	}
	if len(extra) > 0 {
		opts = append(opts, withExtraGIDs(extra))
	}
	if groups {
		// WithAdditionalGIDs always reads the rootfs, and WithUser
		// mostly does: one mount for both.
		return []oci.SpecOpts{onOneMount(opts...)}
	}
	return opts
}

// onOneMount applies opts that read the container's rootfs (its
// /etc/passwd and /etc/group) on one read-only mount of it. Each of
// containerd's user options mounts the rootfs for itself, and a mount and
// unmount of an overlay is a good part of the CPU a container start costs
// the node; given a container without a snapshot, they read the rootfs at
// the spec's root path instead, which is where this mounts it.
func onOneMount(opts ...oci.SpecOpts) oci.SpecOpts {
	return func(ctx context.Context, client oci.Client, c *containers.Container, s *oci.Spec) error {
		if c.Snapshotter == "" || c.SnapshotKey == "" || s.Root == nil {
			return oci.Compose(opts...)(ctx, client, c, s) // as they would alone
		}
		mounts, err := client.SnapshotService(c.Snapshotter).Mounts(ctx, c.SnapshotKey)
		if err != nil {
			return err
		}
		return mount.WithReadonlyTempMount(ctx, mounts, func(root string) error {
			onRoot := *c
			onRoot.Snapshotter, onRoot.SnapshotKey = "", ""
			path := s.Root.Path
			s.Root.Path = root
			defer func() { s.Root.Path = path }()
			return oci.Compose(opts...)(ctx, client, &onRoot, s)
		})
	}
}

// sandboxUserError refuses a pod whose securityContext has runAsGroup but
// no runAsUser, as containerd's CRI refuses the sandbox the kubelet asks
// for with both passed on (the CRI says a runtime must: run_as_group only
// with run_as_user). The kubelet then reports FailedCreatePodSandBox with
// containerd's message and retries; the pod stays ContainerCreating.
func sandboxUserError(pod *v1.Pod) error {
	psc := pod.Spec.SecurityContext
	if psc == nil || psc.RunAsGroup == nil || psc.RunAsUser != nil {
		return nil
	}
	return fmt.Errorf("failed to generate user string: user group %q is specified without user", strconv.FormatInt(*psc.RunAsGroup, 10))
}

// withSandboxUser runs the pause process as the pod's runAsUser (with its
// runAsGroup, else group 0: the pause image has no /etc/passwd), as
// containerd's CRI does with the user the kubelet gives the sandbox;
// without one the image's 65535:65535 stands (a runAsGroup alone never
// gets here: sandboxUserError). fsGroup, then
// supplementalGroups, are its supplemental groups, as the kubelet lists
// them for the sandbox. Reads nothing: safe to go anywhere after
// oci.WithImageConfig.
func withSandboxUser(pod *v1.Pod) oci.SpecOpts {
	return func(_ context.Context, _ oci.Client, _ *containers.Container, s *oci.Spec) error {
		psc := pod.Spec.SecurityContext
		if psc == nil {
			return nil
		}
		if s.Process == nil {
			s.Process = &specs.Process{}
		}
		u := &s.Process.User
		if psc.RunAsUser != nil {
			u.UID, u.GID, u.AdditionalGids = uint32(*psc.RunAsUser), 0, nil
			if psc.RunAsGroup != nil {
				u.GID = uint32(*psc.RunAsGroup)
			}
		}
		if psc.FSGroup != nil {
			u.AdditionalGids = append(u.AdditionalGids, uint32(*psc.FSGroup))
		}
		for _, g := range psc.SupplementalGroups {
			u.AdditionalGids = append(u.AdditionalGids, uint32(g))
		}
		return nil
	}
}

// withExtraGIDs adds numeric supplemental groups.
func withExtraGIDs(gids []int64) oci.SpecOpts {
	return func(_ context.Context, _ oci.Client, _ *containers.Container, s *oci.Spec) error {
		if s.Process == nil {
			s.Process = &specs.Process{}
		}
		for _, g := range gids {
			if n := uint32(g); !slices.Contains(s.Process.User.AdditionalGids, n) {
				s.Process.User.AdditionalGids = append(s.Process.User.AdditionalGids, n)
			}
		}
		return nil
	}
}

// The paths the kubelet asks the runtime to mask and to make read-only for
// procMount Default (securitycontext ConvertToRuntimeMaskedPaths and
// ConvertToRuntimeReadonlyPaths); containerd's CRI replaces its own
// defaults with them. Privileged containers get neither.
var (
	defaultMaskedPaths = []string{
		"/proc/asound", "/proc/acpi", "/proc/kcore", "/proc/keys", "/proc/latency_stats",
		"/proc/timer_list", "/proc/timer_stats", "/proc/sched_debug", "/proc/scsi",
		"/sys/firmware", "/sys/devices/virtual/powercap",
	}
	defaultReadonlyPaths = []string{"/proc/bus", "/proc/fs", "/proc/irq", "/proc/sys", "/proc/sysrq-trigger"}
)

// isPrivileged reports securityContext.privileged.
func isPrivileged(sc v1.SecurityContext) bool {
	return sc.Privileged != nil && *sc.Privileged
}

// withSecurityContext applies the parts of the effective security context
// that need no rootfs, in containerd CRI's order (containerSpec):
// capabilities over the runtime's default set; for privileged containers
// every capability the agent has, every host device, writable /sys and
// cgroupfs, nothing masked and no seccomp; no_new_privs only when
// allowPrivilegeEscalation is false (the kubelet's AddNoNewPrivileges);
// a read-only rootfs; seccomp RuntimeDefault as containerd's default
// profile, Localhost as the profile file <seccompDir>/<localhostProfile>
// (the kubelet's <root-dir>/seccomp; a file missing fails the create). It
// runs after the mounts (the cgroup mount turns writable).
func withSecurityContext(sc v1.SecurityContext, allCaps []string, seccompDir string) oci.SpecOpts {
	opts := []oci.SpecOpts{
		oci.WithNewPrivileges,
		oci.WithMaskedPaths(slices.Clone(defaultMaskedPaths)),
		oci.WithReadonlyPaths(slices.Clone(defaultReadonlyPaths)),
		withCapabilities(sc.Capabilities, allCaps),
	}
	privileged := isPrivileged(sc)
	if privileged {
		opts = append(opts, oci.WithPrivileged, oci.WithHostDevices, oci.WithAllDevicesAllowed, withoutAmbientCaps)
	}
	if sc.AllowPrivilegeEscalation != nil && !*sc.AllowPrivilegeEscalation {
		opts = append(opts, oci.WithNoNewPrivileges)
	}
	if sc.ReadOnlyRootFilesystem != nil && *sc.ReadOnlyRootFilesystem {
		opts = append(opts, oci.WithRootFSReadonly())
	}
	if sp := sc.SeccompProfile; !privileged && sp != nil {
		switch sp.Type {
		case v1.SeccompProfileTypeRuntimeDefault:
			opts = append(opts, seccomp.WithDefaultProfile())
		case v1.SeccompProfileTypeLocalhost:
			if sp.LocalhostProfile != nil {
				opts = append(opts, seccomp.WithProfile(filepath.Join(seccompDir, *sp.LocalhostProfile)))
			}
		}
	}
	return oci.Compose(opts...)
}

// withoutAmbientCaps clears the ambient set (containerd's CRI does for every
// container; WithPrivileged would otherwise leave it as the default spec has it).
func withoutAmbientCaps(_ context.Context, _ oci.Client, _ *containers.Container, s *oci.Spec) error {
	if s.Process != nil && s.Process.Capabilities != nil {
		s.Process.Capabilities.Ambient = nil
	}
	return nil
}

// containerSecurity is what StartContainer takes from the security
// contexts: the options without and with rootfs access, or the
// CreateContainerConfigError that stops the container (runAsNonRoot).
func containerSecurity(pod *v1.Pod, ctr *v1.Container, imageUserStr string, allCaps []string, seccompDir string) (opts, userOpts []oci.SpecOpts, err error) {
	sc := effectiveSecurityContext(pod, ctr)
	uid, name := imageUser(imageUserStr)
	if err := verifyRunAsNonRoot(pod, ctr, sc, uid, name); err != nil {
		return nil, nil, err
	}
	return []oci.SpecOpts{withSecurityContext(sc, allCaps, seccompDir)}, withUser(pod, sc, uid, name), nil
}

// withPodSysctls sets the pod's sysctls on the pause process, whose network
// and IPC namespaces the containers join (containerd's WithSysctls on the
// sandbox spec); runc writes them inside those namespaces. Validation lets
// through only namespaced, safe ones. Names written with '/' are turned
// into the dotted form.
func withPodSysctls(pod *v1.Pod) oci.SpecOpts {
	return func(_ context.Context, _ oci.Client, _ *containers.Container, s *oci.Spec) error {
		psc := pod.Spec.SecurityContext
		if psc == nil || len(psc.Sysctls) == 0 {
			return nil
		}
		if s.Linux == nil {
			s.Linux = &specs.Linux{}
		}
		if s.Linux.Sysctl == nil {
			s.Linux.Sysctl = map[string]string{}
		}
		for _, sc := range psc.Sysctls {
			s.Linux.Sysctl[sysctl.NormalizeName(sc.Name)] = sc.Value
		}
		return nil
	}
}
