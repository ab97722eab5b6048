package runtime

import (
	"slices"
	"testing"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	v1 "k8s.io/api/core/v1"
)

func TestWithSandboxNamespaces(t *testing.T) {
	all := []specs.LinuxNamespaceType{specs.PIDNamespace, specs.NetworkNamespace, specs.IPCNamespace, specs.UTSNamespace, specs.MountNamespace}
	for _, tc := range []struct {
		name     string
		spec     v1.PodSpec
		want     []specs.LinuxNamespaceType // namespaces of its own
		hostname string
	}{
		{"pod", v1.PodSpec{}, all, "web"},
		{"hostNetwork", v1.PodSpec{HostNetwork: true}, []specs.LinuxNamespaceType{specs.PIDNamespace, specs.IPCNamespace, specs.MountNamespace}, ""},
		{"hostPID", v1.PodSpec{HostPID: true}, []specs.LinuxNamespaceType{specs.NetworkNamespace, specs.IPCNamespace, specs.UTSNamespace, specs.MountNamespace}, "web"},
		{"hostIPC", v1.PodSpec{HostIPC: true}, []specs.LinuxNamespaceType{specs.PIDNamespace, specs.NetworkNamespace, specs.UTSNamespace, specs.MountNamespace}, "web"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := baseSpec()
			for _, n := range all {
				s.Linux.Namespaces = append(s.Linux.Namespaces, specs.LinuxNamespace{Type: n})
			}
			apply(t, s, withSandboxNamespaces(&tc.spec, "/run/netns/x", "web"))
			var got []specs.LinuxNamespaceType
			for _, n := range s.Linux.Namespaces {
				got = append(got, n.Type)
				if n.Type == specs.NetworkNamespace && n.Path != "/run/netns/x" {
					t.Errorf("network namespace %q", n.Path)
				}
			}
			if !slices.Equal(slices.Sorted(slices.Values(got)), slices.Sorted(slices.Values(tc.want))) || s.Hostname != tc.hostname {
				t.Errorf("namespaces %v hostname %q; want %v %q", got, s.Hostname, tc.want, tc.hostname)
			}
		})
	}
}

func TestHostIPCShm(t *testing.T) {
	layout := podLayout{dir: "/pods/u"}
	mounts := []specs.Mount{bindMount(layout.shm(), "/dev/shm", false), bindMount("/v", "/data", false)}
	if got := withHostShm(&v1.PodSpec{}, layout, slices.Clone(mounts)); !slices.EqualFunc(got, mounts, func(a, b specs.Mount) bool { return a.Source == b.Source }) {
		t.Errorf("pod IPC: %v", got)
	}
	got := withHostShm(&v1.PodSpec{HostIPC: true}, layout, slices.Clone(mounts))
	if got[0].Source != "/dev/shm" || got[1].Source != "/v" {
		t.Errorf("host IPC: %v", got)
	}
	if sharesPodPID(&v1.PodSpec{}) || !sharesPodPID(&v1.PodSpec{HostPID: true}) {
		t.Error("sharesPodPID")
	}
}

func TestHostNetworkHostsContent(t *testing.T) {
	got := string(hostNetworkHostsContent([]byte("127.0.0.1\tlocalhost\n10.0.0.5\tnode1\n"),
		[]v1.HostAlias{{IP: "10.1.2.3", Hostnames: []string{"foo", "bar"}}}))
	want := "# Kubernetes-managed hosts file (host network).\n127.0.0.1\tlocalhost\n10.0.0.5\tnode1\n\n# Entries added by HostAliases.\n10.1.2.3\tfoo\tbar\n"
	if got != want {
		t.Errorf("got:\n%s\nwant:\n%s", got, want)
	}
}
