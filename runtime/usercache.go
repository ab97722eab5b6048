package runtime

import (
	"context"
	"fmt"
	"slices"
	"sync"

	"github.com/containerd/containerd/containers"
	"github.com/containerd/containerd/oci"
	"github.com/opencontainers/go-digest"
	specs "github.com/opencontainers/runtime-spec/specs-go"
	v1 "k8s.io/api/core/v1"
)

// maxUsers bounds the user cache; past it the cache starts over.
const maxUsers = 256

// userCache remembers the process user (UID, GID, supplemental groups)
// that a container's user options resolved from its image's /etc/passwd
// and /etc/group. Resolving mounts the container's rootfs and unmounts it
// again, and mounts take a lock the kernel holds for every mount of the
// node: with pods started together the agent's mounts queued behind the
// shims' and runc's. A new container's rootfs is a fresh snapshot of its
// image's layers, so the answer follows from the image's digest and the
// options' inputs, and a later container of the same image and user takes
// it from here.
type userCache struct {
	mu sync.Mutex
	m  map[userKey]userResult
}

type userKey struct {
	image  digest.Digest
	inputs string // what withUser is given
}

type userResult struct {
	in, out specs.User
}

// userInputs is everything withUser resolves from: the effective
// runAsUser and runAsGroup, the image's USER, and the pod's supplemental
// groups, fsGroup and their policy.
func userInputs(pod *v1.Pod, ctr *v1.Container, imageUser string) string {
	sc := effectiveSecurityContext(pod, ctr)
	s := fmt.Sprintf("user=%s", imageUser)
	if sc.RunAsUser != nil {
		s += fmt.Sprintf(" uid=%d", *sc.RunAsUser)
	}
	if sc.RunAsGroup != nil {
		s += fmt.Sprintf(" gid=%d", *sc.RunAsGroup)
	}
	if psc := pod.Spec.SecurityContext; psc != nil {
		if psc.FSGroup != nil {
			s += fmt.Sprintf(" fsgroup=%d", *psc.FSGroup)
		}
		if psc.SupplementalGroupsPolicy != nil {
			s += fmt.Sprintf(" policy=%s", *psc.SupplementalGroupsPolicy)
		}
		s += fmt.Sprintf(" groups=%v", psc.SupplementalGroups)
	}
	return s
}

// cached applies opts, the user options of a container of image with the
// given inputs, or sets the user they set before from the same starting
// user. They only set the process user (containerd's WithUser and
// WithAdditionalGIDs, withExtraGIDs).
func (u *userCache) cached(image digest.Digest, inputs string, opts []oci.SpecOpts) oci.SpecOpts {
	key := userKey{image, inputs}
	return func(ctx context.Context, client oci.Client, c *containers.Container, s *oci.Spec) error {
		if s.Process == nil || image == "" {
			return oci.Compose(opts...)(ctx, client, c, s)
		}
		in := copyUser(s.Process.User)
		u.mu.Lock()
		r, ok := u.m[key]
		u.mu.Unlock()
		if ok && sameUser(r.in, in) {
			s.Process.User = copyUser(r.out)
			return nil
		}
		if err := oci.Compose(opts...)(ctx, client, c, s); err != nil {
			return err
		}
		u.mu.Lock()
		defer u.mu.Unlock()
		if u.m == nil || len(u.m) >= maxUsers {
			u.m = map[userKey]userResult{}
		}
		u.m[key] = userResult{in: in, out: copyUser(s.Process.User)}
		return nil
	}
}

func copyUser(u specs.User) specs.User {
	u.AdditionalGids = slices.Clone(u.AdditionalGids)
	if u.Umask != nil {
		m := *u.Umask
		u.Umask = &m
	}
	return u
}

func sameUser(a, b specs.User) bool {
	sameMask := a.Umask == nil && b.Umask == nil || a.Umask != nil && b.Umask != nil && *a.Umask == *b.Umask
	return a.UID == b.UID && a.GID == b.GID && sameMask && a.Username == b.Username &&
		slices.Equal(a.AdditionalGids, b.AdditionalGids)
}
