package runtime

import (
	"slices"
	"testing"

	v1 "k8s.io/api/core/v1"
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
	if _, err := withSecurityContext(&v1.SecurityContext{Privileged: &yes}, nil); err == nil {
		t.Error("privileged accepted")
	}
	s := baseSpec()
	opt, err := withSecurityContext(nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	apply(t, s, opt)
	if s.Process.NoNewPrivileges || s.Root.Readonly {
		t.Errorf("defaults: nnp=%v ro=%v", s.Process.NoNewPrivileges, s.Root.Readonly)
	}
	s = baseSpec()
	opt, _ = withSecurityContext(&v1.SecurityContext{AllowPrivilegeEscalation: &no, ReadOnlyRootFilesystem: &yes}, nil)
	apply(t, s, opt)
	if !s.Process.NoNewPrivileges || !s.Root.Readonly {
		t.Errorf("explicit: nnp=%v ro=%v", s.Process.NoNewPrivileges, s.Root.Readonly)
	}
}
