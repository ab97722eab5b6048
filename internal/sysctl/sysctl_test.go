package sysctl

import (
	"testing"

	v1 "k8s.io/api/core/v1"
)

func TestNormalizeName(t *testing.T) {
	for in, want := range map[string]string{
		"net.ipv4.tcp_syncookies":    "net.ipv4.tcp_syncookies",
		"net/ipv4/tcp_syncookies":    "net.ipv4.tcp_syncookies",
		"net/ipv4/conf/eth0.100/rpf": "net.ipv4.conf.eth0/100.rpf",
		"net.ipv4.conf.eth0/100.rpf": "net.ipv4.conf.eth0/100.rpf",
		"kernel":                     "kernel",
	} {
		if got := NormalizeName(in); got != want {
			t.Errorf("NormalizeName(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestNewAllowlistRefuses(t *testing.T) {
	for _, bad := range [][]string{{"vm.swappiness"}, {"kernel.*"}, {"*"}, {"Net.core.somaxconn"}, {"net..core"}, {""}} {
		if _, err := NewAllowlist(bad); err == nil {
			t.Errorf("NewAllowlist(%q) accepted", bad)
		}
	}
}

func TestAdmit(t *testing.T) {
	al, err := NewAllowlist([]string{"kernel.msg*", "net.core.somaxconn", "kernel.sem", "fs/mqueue/msg_max"})
	if err != nil {
		t.Fatal(err)
	}
	safeOnly, err := NewAllowlist(nil)
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name             string
		al               *Allowlist
		sysctls          []string
		hostNet, hostIPC bool
		want             string // "" admits
	}{
		{name: "none", al: safeOnly},
		{name: "safe", al: safeOnly, sysctls: []string{"kernel.shm_rmid_forced", "net/ipv4/ip_local_port_range", "net.ipv4.tcp_wmem"}},
		{name: "unsafe", al: safeOnly, sysctls: []string{"kernel.shm_rmid_forced", "net.core.somaxconn"}, want: `forbidden sysctl: "net.core.somaxconn" not allowlisted`},
		{name: "unsafe with slashes", al: safeOnly, sysctls: []string{"net/core/somaxconn"}, want: `forbidden sysctl: "net.core.somaxconn" not allowlisted`},
		{name: "safe net on host network", al: safeOnly, sysctls: []string{"net.ipv4.tcp_syncookies"}, hostNet: true,
			want: `forbidden sysctl: "net.ipv4.tcp_syncookies" not allowed with host net enabled`},
		{name: "safe ipc on host network", al: safeOnly, sysctls: []string{"kernel.shm_rmid_forced"}, hostNet: true},
		{name: "safe ipc on host ipc", al: safeOnly, sysctls: []string{"kernel.shm_rmid_forced"}, hostIPC: true,
			want: `forbidden sysctl: "kernel.shm_rmid_forced" not allowed with host ipc enabled`},
		{name: "allowed name", al: al, sysctls: []string{"net.core.somaxconn", "kernel.sem", "fs.mqueue.msg_max"}},
		{name: "allowed prefix", al: al, sysctls: []string{"kernel.msgmax", "kernel/msgmnb"}},
		{name: "allowed prefix on host ipc", al: al, sysctls: []string{"kernel.msgmax"}, hostIPC: true,
			want: `forbidden sysctl: "kernel.msgmax" not allowed with host ipc enabled`},
		{name: "allowed name on host network", al: al, sysctls: []string{"net.core.somaxconn"}, hostNet: true,
			want: `forbidden sysctl: "net.core.somaxconn" not allowed with host net enabled`},
		{name: "beside the prefix", al: al, sysctls: []string{"kernel.shmmax"}, want: `forbidden sysctl: "kernel.shmmax" not allowlisted`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			pod := &v1.Pod{Spec: v1.PodSpec{HostNetwork: tc.hostNet, HostIPC: tc.hostIPC}}
			if tc.sysctls != nil {
				pod.Spec.SecurityContext = &v1.PodSecurityContext{}
				for _, s := range tc.sysctls {
					pod.Spec.SecurityContext.Sysctls = append(pod.Spec.SecurityContext.Sysctls, v1.Sysctl{Name: s, Value: "1"})
				}
			}
			msg, ok := tc.al.Admit(pod)
			if ok != (tc.want == "") || msg != tc.want {
				t.Errorf("Admit = %q, %v; want %q", msg, ok, tc.want)
			}
		})
	}
}
