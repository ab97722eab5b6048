//go:build integration

package agent

import (
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	v1 "k8s.io/api/core/v1"

	"github.com/minikubelet/minikubelet/internal/testenv"
)

// statusField reads one field of this process's /proc/self/status.
func statusField(t *testing.T, name string) string {
	t.Helper()
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		t.Fatal(err)
	}
	m := regexp.MustCompile(`(?m)^` + name + `:\s*(\S+)$`).FindSubmatch(b)
	if m == nil {
		t.Fatalf("no %s in /proc/self/status", name)
	}
	return string(m[1])
}

// Users and groups as the kubelet and containerd's CRI set them, seen from
// inside: runAsUser/runAsGroup from the pod, overridden by a container;
// fsGroup and supplementalGroups as supplemental groups; an emptyDir given
// to fsGroup (setgid, group-writable) so files made in it belong to it;
// runAsNonRoot satisfied by a non-zero runAsUser. runAsNonRoot with an
// image that runs as root (busybox has no USER) does not start the
// container: CreateContainerConfigError with the kubelet's message. A pod
// runAsGroup without a runAsUser gets no sandbox, as containerd's CRI
// refuses it: FailedCreatePodSandBox with containerd's message, the pod
// Pending and its container ContainerCreating.
func TestSecurityContextUsers(t *testing.T) {
	env := testenv.New(t)
	a := startAgent(t, testConfig(t, env))
	const show = `id -u; id -g; id -G | tr " " "\n" | sort -n | tr "\n" " "; echo; stat -c "%a %g" /data; touch /data/$HOSTNAME-$(id -u) && stat -c %g /data/$HOSTNAME-$(id -u)`
	a.write("users.yaml", `apiVersion: v1
kind: Pod
metadata:
  name: users
spec:
  restartPolicy: Never
  securityContext:
    runAsUser: 1000
    runAsGroup: 3000
    runAsNonRoot: true
    fsGroup: 2000
    supplementalGroups: [4000]
  volumes: [{name: data, emptyDir: {}}]
  containers:
  - name: pod-level
    image: busybox
    command: [sh, -c, '`+show+`']
    volumeMounts: [{name: data, mountPath: /data}]
  - name: own-user
    image: busybox
    securityContext: {runAsUser: 2000}
    command: [sh, -c, '`+show+`']
    volumeMounts: [{name: data, mountPath: /data}]
`)
	a.write("nonroot.yaml", pod("nonroot", "Never", "  - {name: c, image: busybox, command: [id]}\n")+
		"  securityContext: {runAsNonRoot: true}\n")
	a.write("groupalone.yaml", pod("groupalone", "Never", "  - {name: c, image: busybox, command: [id]}\n")+
		"  securityContext: {runAsGroup: 3000}\n")
	a.waitPod("users", "Succeeded", 90*time.Second, func(p *v1.Pod) bool { return p.Status.Phase == v1.PodSucceeded })
	for name, want := range map[string]string{
		"pod-level": "1000\n3000\n2000 3000 4000 \n2777 2000\n2000\n",
		"own-user":  "2000\n3000\n2000 3000 4000 \n2777 2000\n2000\n",
	} {
		if got := logsOf(t, a, "users", name); got != want {
			t.Errorf("%s printed:\n%s\nwant:\n%s", name, got, want)
		}
	}

	p := a.waitPod("nonroot", "CreateContainerConfigError", time.Minute, func(p *v1.Pod) bool {
		w := cstatus(p, "c").State.Waiting
		return w != nil && w.Reason == "CreateContainerConfigError"
	})
	msg := `container has runAsNonRoot and image will run as root (pod: "nonroot_default(` + string(p.UID) + `)", container: c)`
	if w := cstatus(p, "c").State.Waiting; w.Message != msg || p.Status.Phase != v1.PodPending {
		t.Errorf("nonroot: waiting %+v phase %s; want message %q, Pending", w, p.Status.Phase, msg)
	}
	if !hasEvent(a.events("nonroot"), "Failed", "Error: "+msg) {
		t.Errorf("nonroot: no Failed event:\n%s", a.describe("nonroot"))
	}

	testenv.WaitFor(t, "groupalone: a FailedCreatePodSandBox event", func() (bool, string) {
		evs := a.events("groupalone")
		return hasEvent(evs, "FailedCreatePodSandBox", `failed to generate user string: user group "3000" is specified without user`), fmt.Sprint(evs)
	})
	p = a.waitPod("groupalone", "Pending", time.Minute, func(p *v1.Pod) bool { return p.Status.Phase == v1.PodPending })
	if w := cstatus(p, "c").State.Waiting; w == nil || w.Reason != "ContainerCreating" {
		t.Errorf("groupalone: container %+v, want waiting ContainerCreating", cstatus(p, "c").State)
	}
	a.remove("users.yaml")
	a.remove("nonroot.yaml")
	a.remove("groupalone.yaml")
	a.waitGone("users", time.Minute)
	a.waitGone("nonroot", time.Minute)
	a.waitGone("groupalone", time.Minute)
}

// Privileges seen from inside the container: the runtime's default
// capability set, no no_new_privs and no seccomp by default; capabilities
// dropped and added, no_new_privs from allowPrivilegeEscalation: false,
// containerd's default seccomp filter for RuntimeDefault and a read-only
// rootfs; a privileged container has every capability the agent has, the
// host's devices and nothing masked in /proc.
func TestSecurityContextPrivileges(t *testing.T) {
	env := testenv.New(t)
	a := startAgent(t, testConfig(t, env))
	const show = `grep -E "^(CapEff|NoNewPrivs|Seccomp):" /proc/self/status | tr -s "\t " " "; ` +
		`touch /rootfs-file 2>/dev/null && echo rootfs writable || echo rootfs read-only; ` +
		`[ -c /proc/keys ] && echo keys masked || echo keys visible; ` +
		`[ -e /dev/kmsg ] && echo host devices || echo default devices`
	a.write("privs.yaml", pod("privs", "Never", `  - name: default
    image: busybox
    command: [sh, -c, '`+show+`']
  - name: restricted
    image: busybox
    command: [sh, -c, '`+show+`']
    securityContext:
      capabilities: {drop: [ALL], add: [NET_ADMIN]}
      allowPrivilegeEscalation: false
      readOnlyRootFilesystem: true
      seccompProfile: {type: RuntimeDefault}
  - name: privileged
    image: busybox
    command: [sh, -c, '`+show+`']
    securityContext: {privileged: true}
`))
	a.waitPod("privs", "Succeeded", 90*time.Second, func(p *v1.Pod) bool { return p.Status.Phase == v1.PodSucceeded })
	all := statusField(t, "CapEff") // the agent runs in this process
	for name, want := range map[string][]string{
		// CHOWN DAC_OVERRIDE FOWNER FSETID KILL SETGID SETUID SETPCAP
		// NET_BIND_SERVICE NET_RAW SYS_CHROOT MKNOD AUDIT_WRITE SETFCAP
		"default":    {"CapEff: 00000000a80425fb", "NoNewPrivs: 0", "Seccomp: 0", "rootfs writable", "keys masked", "default devices"},
		"restricted": {"CapEff: 0000000000001000", "NoNewPrivs: 1", "Seccomp: 2", "rootfs read-only", "keys masked", "default devices"},
		"privileged": {"CapEff: " + all, "NoNewPrivs: 0", "Seccomp: 0", "rootfs writable", "keys visible", "host devices"},
	} {
		got := strings.TrimSpace(logsOf(t, a, "privs", name))
		if got != strings.Join(want, "\n") {
			t.Errorf("%s printed:\n%s\nwant:\n%s", name, got, strings.Join(want, "\n"))
		}
	}
	a.remove("privs.yaml")
	a.waitGone("privs", time.Minute)
}

// Safe sysctls of the pod take effect in its own namespaces: the container
// reads the pod's values, the node keeps its own.
func TestPodSysctls(t *testing.T) {
	env := testenv.New(t)
	a := startAgent(t, testConfig(t, env))
	files := []string{"/proc/sys/kernel/shm_rmid_forced", "/proc/sys/net/ipv4/ip_unprivileged_port_start"}
	var before []string
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		before = append(before, string(b))
	}
	a.write("sysctls.yaml", pod("sysctls", "Never", "  - {name: c, image: busybox, command: [cat, "+strings.Join(files, ", ")+"]}\n")+
		"  securityContext:\n    sysctls: [{name: kernel.shm_rmid_forced, value: '1'}, {name: net/ipv4/ip_unprivileged_port_start, value: '1000'}]\n")
	a.waitPod("sysctls", "Succeeded", 90*time.Second, func(p *v1.Pod) bool { return p.Status.Phase == v1.PodSucceeded })
	if got := logsOf(t, a, "sysctls", "c"); got != "1\n1000\n" {
		t.Errorf("the container read %q, want the pod's 1 and 1000", got)
	}
	for i, f := range files {
		if b, _ := os.ReadFile(f); string(b) != before[i] {
			t.Errorf("the node's %s changed from %q to %q", f, before[i], b)
		}
	}
	a.remove("sysctls.yaml")
	a.waitGone("sysctls", time.Minute)
}

// The kubelet's sysctl admission: a pod asking for a sysctl outside the
// safe set and allowedUnsafeSysctls, or for one of a namespace it shares
// with the node, fails with SysctlForbidden before anything of it runs; an
// allowed unsafe sysctl takes effect.
func TestSysctlAdmission(t *testing.T) {
	env := testenv.New(t)
	cfg := testConfig(t, env)
	cfg.AllowedUnsafeSysctls = []string{"kernel.msg*"}
	a := startAgent(t, cfg)
	c := "  - {name: c, image: busybox, command: [cat, /proc/sys/kernel/msgmax]}\n"
	sysctls := func(s string) string { return "  securityContext:\n    sysctls: [" + s + "]\n" }
	a.write("allowed.yaml", pod("allowed", "Never", c)+sysctls("{name: kernel.msgmax, value: '65536'}"))
	rejected := []struct{ name, spec, msg string }{
		{"unsafe", sysctls("{name: kernel.shm_rmid_forced, value: '1'}, {name: net/core/somaxconn, value: '1024'}"),
			`forbidden sysctl: "net.core.somaxconn" not allowlisted`},
		{"hostnet", "  hostNetwork: true\n" + sysctls("{name: net.ipv4.tcp_syncookies, value: '1'}"),
			`forbidden sysctl: "net.ipv4.tcp_syncookies" not allowed with host net enabled`},
		{"hostipc", "  hostIPC: true\n" + sysctls("{name: kernel.msgmnb, value: '65536'}"),
			`forbidden sysctl: "kernel.msgmnb" not allowed with host ipc enabled`},
	}
	for _, r := range rejected {
		a.write(r.name+".yaml", pod(r.name, "Always", c)+r.spec)
	}
	a.waitPod("allowed", "Succeeded", 90*time.Second, func(p *v1.Pod) bool { return p.Status.Phase == v1.PodSucceeded })
	if got := logsOf(t, a, "allowed", "c"); got != "65536\n" {
		t.Errorf("kernel.msgmax read %q in the pod, want 65536", got)
	}
	for _, r := range rejected {
		p := a.waitPod(r.name, "Failed", 90*time.Second, func(p *v1.Pod) bool { return p.Status.Phase == v1.PodFailed })
		if p.Status.Reason != "SysctlForbidden" || p.Status.Message != "Pod was rejected: "+r.msg {
			t.Errorf("%s: reason %q message %q, want SysctlForbidden and %q", r.name, p.Status.Reason, p.Status.Message, r.msg)
		}
		if s := cstatus(p, "c"); s.ContainerID != "" || s.RestartCount != 0 {
			t.Errorf("%s: the container ran: %+v", r.name, s)
		}
		if !hasEvent(a.events(r.name), "SysctlForbidden", r.msg) {
			t.Errorf("%s: no SysctlForbidden event naming the sysctl: %+v", r.name, a.events(r.name))
		}
	}
	for _, name := range []string{"allowed", "unsafe", "hostnet", "hostipc"} {
		a.remove(name + ".yaml")
		a.waitGone(name, time.Minute)
	}
}

// seccompProfile Localhost loads <root>/seccomp/<localhostProfile>: a
// profile that makes mkdir fail with EPERM is in force in the container; a
// profile file that is missing holds the container in CreateContainerError.
func TestSeccompLocalhost(t *testing.T) {
	env := testenv.New(t)
	cfg := testConfig(t, env)
	dir := filepath.Join(cfg.Root, "seccomp", "profiles")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	profile := `{"defaultAction": "SCMP_ACT_ALLOW", "syscalls": [{"names": ["mkdir", "mkdirat"], "action": "SCMP_ACT_ERRNO", "errnoRet": 1}]}`
	if err := os.WriteFile(filepath.Join(dir, "no-mkdir.json"), []byte(profile), 0o644); err != nil {
		t.Fatal(err)
	}
	a := startAgent(t, cfg)
	c := "  - name: c\n    image: busybox\n    command: [sh, -c, 'mkdir /tmp/x 2>&1; echo rc=$?']\n"
	seccomp := func(p string) string {
		return "  securityContext:\n    seccompProfile: {type: Localhost, localhostProfile: " + p + "}\n"
	}
	a.write("denied.yaml", pod("denied", "Never", c)+seccomp("profiles/no-mkdir.json"))
	a.write("missing.yaml", pod("missing", "Never", c)+seccomp("profiles/absent.json"))
	a.write("plain.yaml", pod("plain", "Never", c))
	a.waitPod("denied", "Succeeded", 90*time.Second, func(p *v1.Pod) bool { return p.Status.Phase == v1.PodSucceeded })
	if got := logsOf(t, a, "denied", "c"); got != "mkdir: can't create directory '/tmp/x': Operation not permitted\nrc=1\n" {
		t.Errorf("under the profile the container printed %q", got)
	}
	a.waitPod("plain", "Succeeded", 90*time.Second, func(p *v1.Pod) bool { return p.Status.Phase == v1.PodSucceeded })
	if got := logsOf(t, a, "plain", "c"); got != "rc=0\n" {
		t.Errorf("without the profile the container printed %q", got)
	}
	p := a.waitPod("missing", "CreateContainerError", 90*time.Second, func(p *v1.Pod) bool {
		w := cstatus(p, "c").State.Waiting
		return w != nil && w.Reason == "CreateContainerError"
	})
	if w := cstatus(p, "c").State.Waiting; !strings.Contains(w.Message, filepath.Join(cfg.Root, "seccomp", "profiles", "absent.json")) {
		t.Errorf("CreateContainerError message %q does not name the profile file", w.Message)
	}
	for _, name := range []string{"denied", "missing", "plain"} {
		a.remove(name + ".yaml")
		a.waitGone(name, time.Minute)
	}
}
