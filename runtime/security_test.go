package runtime

import (
	"context"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"testing"

	"github.com/containerd/containerd/containers"
	specs "github.com/opencontainers/runtime-spec/specs-go"
	v1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

func TestWithCapabilities(t *testing.T) {
	all := []string{"CAP_CHOWN", "CAP_KILL", "CAP_NET_ADMIN", "CAP_SYS_TIME"}
	for _, tc := range []struct {
		name string
		caps *v1.Capabilities
		want []string
	}{
		{name: "none", want: []string{"CAP_CHOWN", "CAP_KILL"}},
		{name: "add and drop", caps: &v1.Capabilities{Add: []v1.Capability{"NET_ADMIN"}, Drop: []v1.Capability{"chown"}}, want: []string{"CAP_KILL", "CAP_NET_ADMIN"}},
		{name: "drop all add one", caps: &v1.Capabilities{Add: []v1.Capability{"SYS_TIME"}, Drop: []v1.Capability{"ALL"}}, want: []string{"CAP_SYS_TIME"}},
		{name: "add all drop one", caps: &v1.Capabilities{Add: []v1.Capability{"ALL"}, Drop: []v1.Capability{"KILL"}}, want: []string{"CAP_CHOWN", "CAP_NET_ADMIN", "CAP_SYS_TIME"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := baseSpec()
			apply(t, s, withCapabilities(tc.caps, all))
			got := slices.Sorted(slices.Values(s.Process.Capabilities.Bounding))
			if !slices.Equal(got, tc.want) {
				t.Errorf("bounding = %v, want %v", got, tc.want)
			}
			if s.Process.Capabilities.Ambient != nil {
				t.Errorf("ambient = %v", s.Process.Capabilities.Ambient)
			}
		})
	}
}

func TestWithSecurityContext(t *testing.T) {
	yes, no := true, false
	for _, tc := range []struct {
		name                                       string
		sc                                         v1.SecurityContext
		nnp, ro, seccomp, allCaps, masked, devices bool
	}{
		// Kubernetes sets no_new_privs only for an explicit false;
		// containerd's default spec sets it always.
		{name: "defaults", masked: true},
		{name: "no escalation, read-only", sc: v1.SecurityContext{AllowPrivilegeEscalation: &no, ReadOnlyRootFilesystem: &yes}, nnp: true, ro: true, masked: true},
		{name: "escalation allowed", sc: v1.SecurityContext{AllowPrivilegeEscalation: &yes}, masked: true},
		{name: "runtime default seccomp", sc: v1.SecurityContext{SeccompProfile: &v1.SeccompProfile{Type: v1.SeccompProfileTypeRuntimeDefault}}, seccomp: true, masked: true},
		{name: "unconfined", sc: v1.SecurityContext{SeccompProfile: &v1.SeccompProfile{Type: v1.SeccompProfileTypeUnconfined}}, masked: true},
		// Privileged: every capability, host devices, nothing masked,
		// no seccomp even when asked for.
		{name: "privileged", sc: v1.SecurityContext{Privileged: &yes, SeccompProfile: &v1.SeccompProfile{Type: v1.SeccompProfileTypeRuntimeDefault}}, allCaps: true, devices: true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := baseSpec()
			s.Mounts = append(s.Mounts, cgroupMount)
			apply(t, s, withSecurityContext(tc.sc, []string{"CAP_CHOWN"}, ""))
			if s.Process.NoNewPrivileges != tc.nnp || s.Root.Readonly != tc.ro || (s.Linux.Seccomp != nil) != tc.seccomp {
				t.Errorf("nnp=%v ro=%v seccomp=%v", s.Process.NoNewPrivileges, s.Root.Readonly, s.Linux.Seccomp != nil)
			}
			if got := slices.Equal(s.Linux.MaskedPaths, defaultMaskedPaths) && slices.Equal(s.Linux.ReadonlyPaths, defaultReadonlyPaths); got != tc.masked {
				t.Errorf("masked %v readonly %v", s.Linux.MaskedPaths, s.Linux.ReadonlyPaths)
			}
			if got := len(s.Process.Capabilities.Bounding) > 14; got != tc.allCaps {
				t.Errorf("bounding = %v", s.Process.Capabilities.Bounding)
			}
			if got := len(s.Linux.Devices) > 0; got != tc.devices {
				t.Errorf("%d devices", len(s.Linux.Devices))
			}
			if s.Process.Capabilities.Ambient != nil {
				t.Errorf("ambient = %v", s.Process.Capabilities.Ambient)
			}
			cg := s.Mounts[len(s.Mounts)-1]
			if rw := slices.Contains(cg.Options, "rw"); rw != tc.devices {
				t.Errorf("cgroup mount options %v", cg.Options)
			}
		})
	}
}

func TestEffectiveSecurityContext(t *testing.T) {
	u1, u2, g := int64(1), int64(2), int64(3)
	yes := true
	pod := &v1.Pod{Spec: v1.PodSpec{SecurityContext: &v1.PodSecurityContext{RunAsUser: &u1, RunAsGroup: &g, RunAsNonRoot: &yes,
		SeccompProfile: &v1.SeccompProfile{Type: v1.SeccompProfileTypeRuntimeDefault}}}}
	got := effectiveSecurityContext(pod, &v1.Container{SecurityContext: &v1.SecurityContext{RunAsUser: &u2,
		SeccompProfile: &v1.SeccompProfile{Type: v1.SeccompProfileTypeUnconfined}}})
	if *got.RunAsUser != 2 || *got.RunAsGroup != 3 || !*got.RunAsNonRoot || got.SeccompProfile.Type != v1.SeccompProfileTypeUnconfined {
		t.Errorf("effective = %+v", got)
	}
	if got := effectiveSecurityContext(&v1.Pod{}, &v1.Container{}); got.RunAsUser != nil {
		t.Errorf("empty = %+v", got)
	}
}

func TestVerifyRunAsNonRoot(t *testing.T) {
	yes, no := true, false
	zero, user := int64(0), int64(1000)
	pod := &v1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "p", Namespace: "default", UID: "u1"}}
	ctr := &v1.Container{Name: "c"}
	for _, tc := range []struct {
		name      string
		sc        v1.SecurityContext
		imageUser string
		want      string
	}{
		{"not asked", v1.SecurityContext{}, "", ""},
		{"asked false", v1.SecurityContext{RunAsNonRoot: &no}, "", ""},
		{"image without user", v1.SecurityContext{RunAsNonRoot: &yes}, "", `container has runAsNonRoot and image will run as root (pod: "p_default(u1)", container: c)`},
		{"image root", v1.SecurityContext{RunAsNonRoot: &yes}, "0:0", `container has runAsNonRoot and image will run as root (pod: "p_default(u1)", container: c)`},
		{"image numeric", v1.SecurityContext{RunAsNonRoot: &yes}, "101:101", ""},
		{"image name", v1.SecurityContext{RunAsNonRoot: &yes}, "nginx", `container has runAsNonRoot and image has non-numeric user (nginx), cannot verify user is non-root (pod: "p_default(u1)", container: c)`},
		{"runAsUser root", v1.SecurityContext{RunAsNonRoot: &yes, RunAsUser: &zero}, "101", `container's runAsUser breaks non-root policy (pod: "p_default(u1)", container: c)`},
		{"runAsUser over image root", v1.SecurityContext{RunAsNonRoot: &yes, RunAsUser: &user}, "", ""},
		{"image uid too big", v1.SecurityContext{RunAsNonRoot: &yes}, "4294967296", `container has runAsNonRoot and image has an invalid user id (4294967296). (Must be 1-(2147483647)): must be between 0 and 2147483647, inclusive (pod: "p_default(u1)", container: c)`},
	} {
		uid, name := imageUser(tc.imageUser)
		err := verifyRunAsNonRoot(pod, ctr, tc.sc, uid, name)
		if got := fmt.Sprint(err); (err == nil && tc.want != "") || (err != nil && got != tc.want) {
			t.Errorf("%s: got %v, want %q", tc.name, err, tc.want)
		}
	}
}

// testRootfs is an image rootfs with an /etc/passwd and /etc/group.
func testRootfs(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	if err := os.MkdirAll(filepath.Join(dir, "etc"), 0o755); err != nil {
		t.Fatal(err)
	}
	for name, data := range map[string]string{
		"passwd": "root:x:0:0:root:/root:/bin/sh\nnginx:x:101:102:nginx:/:/bin/false\n",
		"group":  "root:x:0:\nnginx:x:102:\nweb:x:500:nginx\nwheel:x:10:root\n",
	} {
		if err := os.WriteFile(filepath.Join(dir, "etc", name), []byte(data), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

func TestWithUser(t *testing.T) {
	rootfs := testRootfs(t)
	i := func(n int64) *int64 { return &n }
	strict := v1.SupplementalGroupsPolicyStrict
	for _, tc := range []struct {
		name      string
		psc       *v1.PodSecurityContext
		sc        v1.SecurityContext
		imageUser string
		uid, gid  uint32
		groups    []uint32
	}{
		{name: "image without user is root", uid: 0, gid: 0, groups: []uint32{0, 10}},
		{name: "image user by name", imageUser: "nginx", uid: 101, gid: 102, groups: []uint32{102, 500}},
		// The kubelet hands the CRI the image's UID only: its group is lost.
		{name: "image uid:gid", imageUser: "101:7", uid: 101, gid: 102, groups: []uint32{102, 500}},
		{name: "runAsUser unknown to passwd", sc: v1.SecurityContext{RunAsUser: i(1000)}, imageUser: "nginx", uid: 1000, gid: 0, groups: []uint32{0}},
		{name: "runAsUser and runAsGroup", sc: v1.SecurityContext{RunAsUser: i(1000), RunAsGroup: i(3000)}, uid: 1000, gid: 3000, groups: []uint32{3000}},
		{name: "runAsGroup over the image user", sc: v1.SecurityContext{RunAsGroup: i(3000)}, imageUser: "nginx", uid: 101, gid: 3000, groups: []uint32{500, 3000}},
		{name: "fsGroup and supplementalGroups", psc: &v1.PodSecurityContext{FSGroup: i(2000), SupplementalGroups: []int64{4000, 2000}},
			sc: v1.SecurityContext{RunAsUser: i(101)}, uid: 101, gid: 102, groups: []uint32{102, 500, 2000, 4000}},
		{name: "strict policy ignores /etc/group", psc: &v1.PodSecurityContext{SupplementalGroupsPolicy: &strict, SupplementalGroups: []int64{4000}},
			imageUser: "nginx", uid: 101, gid: 102, groups: []uint32{102, 4000}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			pod := &v1.Pod{Spec: v1.PodSpec{SecurityContext: tc.psc}}
			s := baseSpec()
			s.Root.Path = rootfs
			uid, name := imageUser(tc.imageUser)
			for _, o := range withUser(pod, tc.sc, uid, name) {
				if err := o(context.Background(), nil, &containers.Container{}, s); err != nil {
					t.Fatal(err)
				}
			}
			// containerd lists the primary group among the additional ones.
			u := s.Process.User
			if u.UID != tc.uid || u.GID != tc.gid || !slices.Equal(slices.Sorted(slices.Values(u.AdditionalGids)), tc.groups) {
				t.Errorf("user = %d:%d groups %v; want %d:%d %v", u.UID, u.GID, u.AdditionalGids, tc.uid, tc.gid, tc.groups)
			}
		})
	}
}

func TestSetVolumeOwnership(t *testing.T) {
	dir := t.TempDir()
	if err := os.Chmod(dir, 0o777); err != nil {
		t.Fatal(err)
	}
	sub := filepath.Join(dir, "sub")
	if err := os.Mkdir(sub, 0o700); err != nil {
		t.Fatal(err)
	}
	file := filepath.Join(sub, "f")
	if err := os.WriteFile(file, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink("f", filepath.Join(sub, "link")); err != nil {
		t.Fatal(err)
	}
	gid := int64(os.Getgid()) // a group we may give files to without root
	if err := setVolumeOwnership(dir, &gid, false); err != nil {
		t.Fatal(err)
	}
	for path, want := range map[string]os.FileMode{
		dir:  os.ModeDir | os.ModeSetgid | 0o777,
		sub:  os.ModeDir | os.ModeSetgid | 0o770,
		file: 0o660,
	} {
		info, err := os.Stat(path)
		if err != nil {
			t.Fatal(err)
		}
		if info.Mode() != want {
			t.Errorf("%s: mode %v, want %v", path, info.Mode(), want)
		}
	}
	// The root is right now: a file the container made private stays so.
	if err := os.Chmod(file, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := setVolumeOwnership(dir, &gid, false); err != nil {
		t.Fatal(err)
	}
	if info, _ := os.Stat(file); info.Mode() != 0o600 {
		t.Errorf("file re-chmod-ed to %v on a second setup", info.Mode())
	}
	if err := setVolumeOwnership(dir, nil, false); err != nil {
		t.Error(err)
	}
}

func TestWithPodSysctls(t *testing.T) {
	pod := &v1.Pod{Spec: v1.PodSpec{SecurityContext: &v1.PodSecurityContext{Sysctls: []v1.Sysctl{
		{Name: "kernel.shm_rmid_forced", Value: "1"}, {Name: "net/ipv4/ip_local_port_range", Value: "1024 65000"}}}}}
	s := baseSpec()
	apply(t, s, withPodSysctls(pod))
	want := map[string]string{"kernel.shm_rmid_forced": "1", "net.ipv4.ip_local_port_range": "1024 65000"}
	if !maps.Equal(s.Linux.Sysctl, want) {
		t.Errorf("sysctls = %v", s.Linux.Sysctl)
	}
	s = baseSpec()
	apply(t, s, withPodSysctls(&v1.Pod{}))
	if s.Linux.Sysctl != nil {
		t.Errorf("sysctls without any: %v", s.Linux.Sysctl)
	}
}

// A runAsGroup without a runAsUser is refused for the sandbox, as
// containerd's CRI refuses it; any other combination is not.
func TestSandboxUserError(t *testing.T) {
	id := func(v int64) *int64 { return &v }
	for _, tt := range []struct {
		name string
		psc  *v1.PodSecurityContext
		want string
	}{
		{"no security context", nil, ""},
		{"runAsUser alone", &v1.PodSecurityContext{RunAsUser: id(1000)}, ""},
		{"both", &v1.PodSecurityContext{RunAsUser: id(1000), RunAsGroup: id(3000)}, ""},
		{"groups only", &v1.PodSecurityContext{FSGroup: id(2000), SupplementalGroups: []int64{4000}}, ""},
		{"runAsGroup alone", &v1.PodSecurityContext{RunAsGroup: id(3000)}, `failed to generate user string: user group "3000" is specified without user`},
	} {
		t.Run(tt.name, func(t *testing.T) {
			err := sandboxUserError(&v1.Pod{Spec: v1.PodSpec{SecurityContext: tt.psc}})
			if got := fmt.Sprint(err); (tt.want == "" && err != nil) || (tt.want != "" && got != tt.want) {
				t.Errorf("sandboxUserError = %v, want %q", err, tt.want)
			}
		})
	}
}

// The pause process's user: the image's unless the pod sets runAsUser,
// fsGroup and supplementalGroups added either way.
func TestWithSandboxUser(t *testing.T) {
	id := func(v int64) *int64 { return &v }
	image := specs.User{UID: 65535, GID: 65535}
	tests := []struct {
		name string
		psc  *v1.PodSecurityContext
		want specs.User
	}{
		{"no security context", nil, image},
		{"groups only", &v1.PodSecurityContext{FSGroup: id(2000), SupplementalGroups: []int64{4000}},
			specs.User{UID: 65535, GID: 65535, AdditionalGids: []uint32{2000, 4000}}},
		{"runAsUser", &v1.PodSecurityContext{RunAsUser: id(1000)}, specs.User{UID: 1000}},
		{"runAsUser and group", &v1.PodSecurityContext{RunAsUser: id(1000), RunAsGroup: id(3000), FSGroup: id(2000)},
			specs.User{UID: 1000, GID: 3000, AdditionalGids: []uint32{2000}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := baseSpec()
			s.Process.User = image
			apply(t, s, withSandboxUser(&v1.Pod{Spec: v1.PodSpec{SecurityContext: tt.psc}}))
			if !reflect.DeepEqual(s.Process.User, tt.want) {
				t.Errorf("user = %+v, want %+v", s.Process.User, tt.want)
			}
		})
	}
}
