//go:build integration

package agent

import (
	"os"
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
