package runtime

import (
	"context"
	"errors"
	"slices"
	"testing"

	"github.com/containerd/containerd/containers"
	"github.com/containerd/containerd/oci"
	"github.com/opencontainers/go-digest"
	specs "github.com/opencontainers/runtime-spec/specs-go"
	v1 "k8s.io/api/core/v1"
)

func TestUserCache(t *testing.T) {
	var u userCache
	calls := 0
	var fail error
	// What WithUser and WithAdditionalGIDs would resolve from a rootfs.
	resolve := func(_ context.Context, _ oci.Client, _ *containers.Container, s *oci.Spec) error {
		calls++
		if fail != nil {
			return fail
		}
		s.Process.User.UID, s.Process.User.GID = 1000, 1000
		s.Process.User.AdditionalGids = append(s.Process.User.AdditionalGids, 10, 1000)
		return nil
	}
	apply := func(image, inputs string, in specs.User) (specs.User, error) {
		s := &oci.Spec{Process: &specs.Process{User: in}}
		err := u.cached(digest.Digest("sha256:"+digestOf(image)), inputs, []oci.SpecOpts{resolve})(context.Background(), nil, &containers.Container{}, s)
		return s.Process.User, err
	}
	want := specs.User{UID: 1000, GID: 1000, AdditionalGids: []uint32{10, 1000}}
	for i := range 2 {
		got, err := apply("a", "user=app", specs.User{})
		if err != nil || !sameUser(got, want) {
			t.Fatalf("try %d: %+v, %v", i, got, err)
		}
		got.AdditionalGids[0] = 99 // the caller's own copy
	}
	if calls != 1 {
		t.Errorf("resolved %d times for one image and user", calls)
	}
	apply("b", "user=app", specs.User{})
	apply("a", "user=app uid=5", specs.User{})
	got, _ := apply("a", "user=app", specs.User{AdditionalGids: []uint32{7}})
	if calls != 4 || !slices.Equal(got.AdditionalGids, []uint32{7, 10, 1000}) {
		t.Errorf("another image, input or starting user not resolved again: %d calls, %+v", calls, got)
	}
	fail = errors.New("no such user")
	for range 2 {
		if _, err := apply("c", "user=nobody", specs.User{}); !errors.Is(err, fail) {
			t.Errorf("error %v", err)
		}
	}
	if calls != 6 {
		t.Errorf("a failure was remembered: %d calls", calls)
	}
}

func digestOf(s string) string {
	return s + "0000000000000000000000000000000000000000000000000000000000000000"[len(s):]
}

func TestUserInputs(t *testing.T) {
	uid, gid, fs := int64(1), int64(2), int64(3)
	pod := &v1.Pod{Spec: v1.PodSpec{SecurityContext: &v1.PodSecurityContext{RunAsUser: &uid, FSGroup: &fs, SupplementalGroups: []int64{4}}}}
	ctr := &v1.Container{SecurityContext: &v1.SecurityContext{RunAsGroup: &gid}}
	if got, want := userInputs(pod, ctr, "app"), "user=app uid=1 gid=2 fsgroup=3 groups=[4]"; got != want {
		t.Errorf("userInputs = %q, want %q", got, want)
	}
}
