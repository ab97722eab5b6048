package runtime

import (
	"context"
	"fmt"
	"slices"
	"strings"

	"github.com/containerd/containerd/containers"
	"github.com/containerd/containerd/oci"
	specs "github.com/opencontainers/runtime-spec/specs-go"
	v1 "k8s.io/api/core/v1"
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
