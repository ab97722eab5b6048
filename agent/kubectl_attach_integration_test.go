//go:build integration

package agent

import (
	"context"
	"os"
	"os/exec"
	"strings"
	"syscall"
	"testing"
	"time"

	v1 "k8s.io/api/core/v1"
)

// ptySession is kubectl run on a terminal of its own, as a user types.
type ptySession struct {
	t      *testing.T
	cmd    *exec.Cmd
	master *os.File
	screen lockedBuffer
}

// startPTY starts kubectl with args on a new pseudo-terminal (40x120).
func (k *kubectlRunner) startPTY(args ...string) *ptySession {
	k.t.Helper()
	master, slave := openPTY(k.t)
	cmd := k.command(context.Background(), nil, args...)
	cmd.Stdin, cmd.Stdout, cmd.Stderr = slave, slave, slave
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true, Setctty: true, Ctty: 0}
	if err := cmd.Start(); err != nil {
		k.t.Fatal(err)
	}
	slave.Close()
	s := &ptySession{t: k.t, cmd: cmd, master: master}
	go func() {
		buf := make([]byte, 4096)
		for {
			n, err := master.Read(buf)
			s.screen.Write(buf[:n])
			if err != nil {
				return
			}
		}
	}()
	return s
}

// wait waits until the terminal shows what.
func (s *ptySession) wait(what string) {
	s.t.Helper()
	deadline := time.Now().Add(2 * time.Minute)
	for !strings.Contains(s.screen.String(), what) {
		if time.Now().After(deadline) {
			s.t.Fatalf("never saw %q; the terminal shows:\n%s", what, s.screen.String())
		}
		time.Sleep(100 * time.Millisecond)
	}
}

func (s *ptySession) typeLine(line string) {
	s.t.Helper()
	if _, err := s.master.Write([]byte(line + "\r")); err != nil {
		s.t.Fatal(err)
	}
}

// exitCode waits for kubectl to exit.
func (s *ptySession) exitCode() int {
	s.t.Helper()
	return waitCmd(s.t, s.cmd, 2*time.Minute, s.screen.String)
}

// The lab's `kubectl run demo --image=busyboxplus -it --restart=Never` with
// the real kubectl against the agent's Kubernetes API: kubectl creates the
// pod, watches it until it runs, attaches over WebSocket with the
// terminal's size, and the pod ends Completed once the shell exits. Then
// `run -i --rm` with piped stdin: stdinOnce closes the container's stdin at
// the input's end, and kubectl deletes the pod.
func TestKubectlRunAttach(t *testing.T) {
	_, a, k := startWithKubectl(t)

	s := k.startPTY("run", "demo", "--image=busybox", "-it", "--restart=Never")
	s.wait("If you don't see a command prompt, try pressing enter.")
	// The shell computes the answers, so the echo of what we type cannot
	// pass for them; stty shows the size kubectl sent on the resize channel.
	s.typeLine("echo hi$((20+22)) size=$(stty size | tr ' ' x)")
	s.wait("hi42 size=40x120")
	s.typeLine("exit")
	if code := s.exitCode(); code != 0 {
		t.Errorf("kubectl run -it exited %d; the terminal shows:\n%s", code, s.screen.String())
	}
	p := a.waitPod("demo", "Completed", time.Minute, statusIs("Completed"))
	c := p.Spec.Containers[0]
	if p.Status.Phase != v1.PodSucceeded || p.Labels["run"] != "demo" || c.Name != "demo" ||
		!c.Stdin || !c.StdinOnce || !c.TTY || len(c.Command)+len(c.Args) != 0 {
		t.Errorf("phase %s, labels %v, container %+v", p.Status.Phase, p.Labels, c)
	}
	if out := k.ok("get", "pod", "demo"); !hasLineWith(out, "demo", "0/1", "Completed", "0") {
		t.Errorf("kubectl get pod demo:\n%s", out)
	}

	out, errOut, code := k.run("hello from stdin\n", "run", "x", "--image=busybox", "-i", "--rm", "--restart=Never", "--", "sh", "-c", "cat")
	if code != 0 || !strings.Contains(out, "hello from stdin\n") || !strings.Contains(out+errOut, `pod "x" deleted`) {
		t.Errorf("kubectl run -i --rm: exit %d\nstdout:\n%s\nstderr:\n%s", code, out, errOut)
	}
	// The deletion is graceful: the pod goes once the agent has killed it.
	for deadline := time.Now().Add(time.Minute); ; time.Sleep(200 * time.Millisecond) {
		_, errOut, code := k.run("", "get", "pod", "x")
		if code != 0 && strings.Contains(errOut, `pods "x" not found`) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("pod x is still there after --rm: exit %d %s", code, errOut)
		}
	}
}

// kubectl attach -it to a running pod with stdin and a terminal: typed
// input reaches its shell and its output comes back; a container that is
// not running is refused with the API server's message.
func TestKubectlAttach(t *testing.T) {
	_, a, k := startWithKubectl(t)
	a.write("sh.yaml", pod("sh", "Never", "  - {name: c, image: busybox, command: [sh], stdin: true, tty: true}\n"))
	a.waitPod("sh", "Running", time.Minute, statusIs("Running"))

	s := k.startPTY("attach", "-it", "sh")
	s.wait("If you don't see a command prompt, try pressing enter.")
	s.typeLine("echo at$((3*7))tached")
	s.wait("at21tached")
	s.typeLine("exit")
	if code := s.exitCode(); code != 0 {
		t.Errorf("kubectl attach exited %d; the terminal shows:\n%s", code, s.screen.String())
	}
	a.waitPod("sh", "Completed", time.Minute, statusIs("Completed"))

	_, errOut, code := k.run("", "attach", "sh")
	if code == 0 || !strings.Contains(errOut, "completed pod") {
		t.Errorf("attach to a completed pod: exit %d %s", code, errOut)
	}
}
