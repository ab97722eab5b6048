//go:build integration

package agent

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"
	v1 "k8s.io/api/core/v1"

	"github.com/minikubelet/minikubelet/internal/gobuild"
	"github.com/minikubelet/minikubelet/internal/testenv"
)

// openPTY returns a new pseudo-terminal's master and slave ends.
func openPTY(t *testing.T) (*os.File, *os.File) {
	t.Helper()
	master, err := os.OpenFile("/dev/ptmx", os.O_RDWR|syscall.O_NOCTTY, 0)
	if err != nil {
		t.Fatalf("open /dev/ptmx: %v", err)
	}
	fd := int(master.Fd())
	if err := unix.IoctlSetPointerInt(fd, unix.TIOCSPTLCK, 0); err != nil {
		t.Fatalf("unlock pty: %v", err)
	}
	n, err := unix.IoctlGetInt(fd, unix.TIOCGPTN)
	if err != nil {
		t.Fatalf("pty number: %v", err)
	}
	slave, err := os.OpenFile("/dev/pts/"+strconv.Itoa(n), os.O_RDWR|syscall.O_NOCTTY, 0)
	if err != nil {
		t.Fatalf("open pty slave: %v", err)
	}
	if err := unix.IoctlSetWinsize(int(slave.Fd()), unix.TIOCSWINSZ, &unix.Winsize{Row: 40, Col: 120}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { master.Close(); slave.Close() })
	return master, slave
}

// buildCLI builds the minikubelet command as users run it.
func buildCLI(t *testing.T) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "minikubelet")
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	if err := gobuild.Static(ctx, "./cmd/minikubelet", bin); err != nil {
		t.Fatal(err)
	}
	return bin
}

// waitCmd waits for cmd to exit and returns its exit code.
func waitCmd(t *testing.T, cmd *exec.Cmd, timeout time.Duration, output func() string) int {
	t.Helper()
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	select {
	case err := <-done:
		if ee, ok := err.(*exec.ExitError); ok {
			return ee.ExitCode()
		}
		if err != nil {
			t.Fatalf("%v: %v", cmd.Args, err)
		}
		return 0
	case <-time.After(timeout):
		_ = cmd.Process.Kill()
		<-done
		t.Fatalf("%v did not exit; output so far:\n%s", cmd.Args, output())
		return -1
	}
}

// The lab's `kubectl run demo --image=busyboxplus -it --restart=Never`, on
// a real terminal: the pod kubectl would create, the prompt hint, a typed
// command's output, and a Completed pod once the shell exits. Then `run
// --rm -i` with piped stdin: stdinOnce closes the container's stdin at the
// input's end, and the pod is deleted.
func TestRunAttachInteractive(t *testing.T) {
	env := testenv.New(t)
	a := startAgent(t, testConfig(t, env))
	bin := buildCLI(t)

	master, slave := openPTY(t)
	cmd := exec.Command(bin, "--socket", a.cfg.Socket, "run", "demo", "--image=busybox", "-it", "--restart=Never")
	cmd.Stdin, cmd.Stdout, cmd.Stderr = slave, slave, slave
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true, Setctty: true, Ctty: 0}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	slave.Close()
	var screen lockedBuffer
	go func() {
		buf := make([]byte, 4096)
		for {
			n, err := master.Read(buf)
			screen.Write(buf[:n])
			if err != nil {
				return
			}
		}
	}()
	waitScreen := func(what string) {
		t.Helper()
		deadline := time.Now().Add(2 * time.Minute)
		for !strings.Contains(screen.String(), what) {
			if time.Now().After(deadline) {
				t.Fatalf("never saw %q; the terminal shows:\n%s", what, screen.String())
			}
			time.Sleep(100 * time.Millisecond)
		}
	}
	waitScreen("If you don't see a command prompt, try pressing enter.")

	p, err := a.client.GetPod(context.Background(), "default", "demo")
	if err != nil {
		t.Fatal(err)
	}
	c := p.Spec.Containers[0]
	if p.Labels["run"] != "demo" || len(p.Spec.Containers) != 1 || c.Name != "demo" || c.Image != "busybox" ||
		!c.Stdin || !c.StdinOnce || !c.TTY || p.Spec.RestartPolicy != v1.RestartPolicyNever || len(c.Args) != 0 {
		t.Errorf("run made labels %v, restartPolicy %s, container %+v", p.Labels, p.Spec.RestartPolicy, c)
	}

	// The shell computes the answer, so the echo of what we type cannot
	// pass for it.
	if _, err := master.Write([]byte("echo hi$((20+22))\r")); err != nil {
		t.Fatal(err)
	}
	waitScreen("hi42")
	if _, err := master.Write([]byte("exit\r")); err != nil {
		t.Fatal(err)
	}
	if code := waitCmd(t, cmd, 2*time.Minute, screen.String); code != 0 {
		t.Errorf("run -it exited %d; the terminal shows:\n%s", code, screen.String())
	}
	p = a.waitPod("demo", "Completed", time.Minute, statusIs("Completed"))
	if p.Status.Phase != v1.PodSucceeded {
		t.Errorf("phase %s", p.Status.Phase)
	}

	// Piped stdin, no TTY, --rm.
	cmd = exec.Command(bin, "--socket", a.cfg.Socket, "run", "once", "--image=busybox", "-i", "--rm", "--restart=Never", "--", "sh", "-c", "cat; echo done")
	cmd.Stdin = strings.NewReader("hello from stdin\n")
	var out lockedBuffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	if code := waitCmd(t, cmd, 2*time.Minute, out.String); code != 0 {
		t.Errorf("run -i --rm exited %d:\n%s", code, out.String())
	}
	if got := out.String(); !strings.Contains(got, "hello from stdin\ndone\n") || !strings.HasSuffix(got, "pod \"once\" deleted\n") {
		t.Errorf("run -i --rm printed %q", got)
	}
	if _, err := a.client.GetPod(context.Background(), "default", "once"); err == nil {
		t.Error("pod once is still there after --rm")
	}
}
