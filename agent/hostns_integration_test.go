//go:build integration

package agent

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	v1 "k8s.io/api/core/v1"

	"github.com/minikubelet/minikubelet/internal/testenv"
)

// hostNetwork, hostPID and hostIPC: the container is in the node's
// network, PID, IPC and UTS namespaces (the same inodes as this test's),
// has the node's hostname and a copy of its hosts file under the kubelet's
// header, and the pod's IP is the node's.
func TestHostNamespaces(t *testing.T) {
	env := testenv.New(t)
	cfg := testConfig(t, env)
	nodeIP := firstHostIP(cfg.Bridge) // what the agent reports as the node's IP
	if nodeIP == "" {
		t.Fatal("this machine has no global IPv4 address to be the node's")
	}
	a := startAgent(t, cfg)
	a.write("hostns.yaml", pod("hostns", "Never", `  - name: c
    image: busybox
    command: [sh, -c, 'for n in net pid ipc uts; do readlink /proc/self/ns/$n; done; hostname; head -1 /etc/hosts']
`)+"  hostNetwork: true\n  hostPID: true\n  hostIPC: true\n")
	p := a.waitPod("hostns", "Succeeded", 90*time.Second, func(p *v1.Pod) bool { return p.Status.Phase == v1.PodSucceeded })
	var want []string
	for _, ns := range []string{"net", "pid", "ipc", "uts"} {
		l, err := os.Readlink("/proc/self/ns/" + ns)
		if err != nil {
			t.Fatal(err)
		}
		want = append(want, l)
	}
	host, err := os.Hostname()
	if err != nil {
		t.Fatal(err)
	}
	want = append(want, host, "# Kubernetes-managed hosts file (host network).")
	if got := strings.TrimSpace(logsOf(t, a, "hostns", "c")); got != strings.Join(want, "\n") {
		t.Errorf("the container printed:\n%s\nwant:\n%s", got, strings.Join(want, "\n"))
	}
	if p.Status.PodIP != nodeIP || len(p.Status.PodIPs) != 1 || p.Status.PodIPs[0].IP != nodeIP {
		t.Errorf("podIP %q podIPs %v; want the node's %s", p.Status.PodIP, p.Status.PodIPs, nodeIP)
	}
	a.remove("hostns.yaml")
	a.waitGone("hostns", time.Minute)
}

// shareProcessNamespace: the containers share one PID namespace whose PID 1
// is the pause process, so one container sees the other's processes.
// Without it the looker never finds the sleeper and never ends.
func TestShareProcessNamespace(t *testing.T) {
	env := testenv.New(t)
	a := startAgent(t, testConfig(t, env))
	a.write("shared.yaml", pod("shared", "Never", `  - name: sleeper
    image: busybox
    command: [sleep, '3600']
  - name: looker
    image: busybox
    command: [sh, -c, 'until cat /proc/[0-9]*/cmdline 2>/dev/null | tr "\0" "\n" | grep -qx 3600; do sleep 0.2; done; head -c 6 /proc/1/cmdline; echo; echo sleeper seen']
`)+"  shareProcessNamespace: true\n")
	a.waitPod("shared", "the looker done", 90*time.Second, func(p *v1.Pod) bool {
		term := cstatus(p, "looker").State.Terminated
		return term != nil && term.ExitCode == 0
	})
	if got := logsOf(t, a, "shared", "looker"); got != "/pause\nsleeper seen\n" {
		t.Errorf("looker printed %q", got)
	}
	a.remove("shared.yaml")
	a.waitGone("shared", time.Minute)
}

// A pod's resolv.conf per dnsPolicy on and off the host network, as the
// kubelet's getPodDNSType decides: ClusterFirst on the host network falls
// back to the node's resolver file, ClusterFirstWithHostNet gets the
// cluster DNS. The node's file is the test's own (TEST-NET addresses); no
// query is ever sent, only the files are read.
func TestHostNetworkDNS(t *testing.T) {
	env := testenv.New(t)
	cfg := testConfig(t, env)
	cfg.ResolvConf = filepath.Join(t.TempDir(), "resolv.conf")
	if err := os.WriteFile(cfg.ResolvConf, []byte("# the node's\nnameserver 192.0.2.53\nnameserver 192.0.2.54\nsearch node.example.\noptions edns0 ndots:2\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	a := startAgent(t, cfg)
	const node = "search node.example\nnameserver 192.0.2.53\nnameserver 192.0.2.54\noptions edns0 ndots:2\n"
	cluster := "search default.svc.cluster.local svc.cluster.local cluster.local node.example\nnameserver " + cfg.ClusterDNS[0] + "\noptions ndots:5\n"
	cases := []struct{ name, spec, want string }{
		{"host-first", "  hostNetwork: true\n", node},
		{"host-first-explicit", "  hostNetwork: true\n  dnsPolicy: ClusterFirst\n", node},
		{"host-cluster", "  hostNetwork: true\n  dnsPolicy: ClusterFirstWithHostNet\n", cluster},
		{"pod-default", "  dnsPolicy: Default\n", node},
		{"pod-first", "", cluster},
	}
	for _, tc := range cases {
		a.write(tc.name+".yaml", pod(tc.name, "Never", "  - {name: c, image: busybox, command: [cat, /etc/resolv.conf]}\n")+tc.spec)
	}
	for _, tc := range cases {
		a.waitPod(tc.name, "Succeeded", 90*time.Second, func(p *v1.Pod) bool { return p.Status.Phase == v1.PodSucceeded })
		if got := logsOf(t, a, tc.name, "c"); got != tc.want {
			t.Errorf("%s: resolv.conf:\n%s\nwant:\n%s", tc.name, got, tc.want)
		}
		a.remove(tc.name + ".yaml")
	}
	for _, tc := range cases {
		a.waitGone(tc.name, time.Minute)
	}
}
