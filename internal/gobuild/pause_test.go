package gobuild

// The tests of the pause program itself (pause/pause.c), built as shipped.

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/minikubelet/minikubelet/pause/image"
)

// buildPause builds the pause program as shipped for one test.
func buildPause(t *testing.T) string {
	t.Helper()
	if _, err := exec.LookPath("gcc"); err != nil {
		t.Skip("needs gcc and libc6-dev")
	}
	bin := filepath.Join(t.TempDir(), "pause")
	start := time.Now()
	if err := Pause(t.Context(), bin); err != nil {
		t.Fatal(err)
	}
	t.Logf("pause built in %v", time.Since(start))
	return bin
}

func TestPauseBinaryIsStaticAndStripped(t *testing.T) {
	pauseBin := buildPause(t)
	fi, err := os.Stat(pauseBin)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("pause binary: %d bytes", fi.Size())
	checkStaticAndStripped(t, pauseBin)
}

// TestPauseVersion checks -v (and --version) print the version the image's
// tag carries, and nothing else.
func TestPauseVersion(t *testing.T) {
	pauseBin := buildPause(t)
	version := image.Ref[strings.LastIndexByte(image.Ref, ':')+1:]
	for _, arg := range []string{"-v", "--version"} {
		var stdout, stderr bytes.Buffer
		cmd := exec.Command(pauseBin, arg)
		cmd.Stdout, cmd.Stderr = &stdout, &stderr
		if err := cmd.Run(); err != nil {
			t.Errorf("pause %s: %v", arg, err)
		}
		if want := "pause.minikubelet " + version + "\n"; stdout.String() != want || stderr.Len() != 0 {
			t.Errorf("pause %s printed %q on stdout and %q on stderr, want %q and nothing", arg, stdout.String(), stderr.String(), want)
		}
	}
}

// TestPauseWarnsWhenNotPID1 runs pause as an ordinary process: as
// upstream's pause, it warns that it is not PID 1, then runs as usual until
// SIGTERM, which it exits 0 on.
func TestPauseWarnsWhenNotPID1(t *testing.T) {
	pauseBin := buildPause(t)
	cmd := exec.Command(pauseBin)
	stderr, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	var stdout bytes.Buffer
	cmd.Stdout = &stdout
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		// A no-op once the test has waited for pause to exit.
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
	})
	// pause warns once its handlers are installed: from then on SIGTERM is
	// caught, not fatal.
	r := bufio.NewReader(stderr)
	line, err := r.ReadString('\n')
	if err != nil || !strings.Contains(line, "warning: not the first process") {
		t.Fatalf("pause's first line on stderr = %q, %v; want a warning that it is not the first process", line, err)
	}
	if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	rest, err := io.ReadAll(r)
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Wait(); err != nil {
		t.Errorf("pause ended with %v, want exit status 0", err)
	}
	if stdout.Len() != 0 || len(rest) != 0 {
		t.Errorf("pause printed %q on stdout and %q more on stderr, want nothing", stdout.String(), rest)
	}
}

// startInPIDNamespace starts pause as PID 1 of a new PID namespace, where it
// adopts every orphan, as in a pod sandbox. It returns the command and a
// channel closed when it has exited.
func startInPIDNamespace(t *testing.T, pauseBin string, stdout *bytes.Buffer) (*exec.Cmd, <-chan struct{}, []string) {
	t.Helper()
	cmd := exec.Command(pauseBin)
	cmd.Stdout, cmd.Stderr = stdout, stdout
	cmd.SysProcAttr = &syscall.SysProcAttr{Cloneflags: syscall.CLONE_NEWPID, Pdeathsig: syscall.SIGKILL}
	nsenter := []string{"nsenter", "--pid"}
	if os.Geteuid() != 0 {
		// Without root a PID namespace needs a user namespace of its own.
		cmd.SysProcAttr.Cloneflags |= syscall.CLONE_NEWUSER
		cmd.SysProcAttr.UidMappings = []syscall.SysProcIDMap{{ContainerID: 0, HostID: os.Geteuid(), Size: 1}}
		cmd.SysProcAttr.GidMappings = []syscall.SysProcIDMap{{ContainerID: 0, HostID: os.Getegid(), Size: 1}}
		nsenter = append(nsenter, "--user", "--preserve-credentials")
	}
	if _, err := exec.LookPath("nsenter"); err != nil {
		t.Skip("needs nsenter (util-linux)")
	}
	if err := cmd.Start(); err != nil {
		if os.Geteuid() == 0 {
			t.Fatalf("start pause in a new PID namespace: %v", err)
		}
		t.Skipf("cannot start a process in a new PID namespace here (no user namespaces?): %v", err)
	}
	exited := make(chan struct{})
	go func() {
		_ = cmd.Wait()
		close(exited)
	}()
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		<-exited
	})
	nsenter = append(nsenter, "--target", strconv.Itoa(cmd.Process.Pid), "--")
	return cmd, exited, nsenter
}

// childrenOf lists the PIDs whose parent is pid, zombies included.
func childrenOf(t *testing.T, pid int) []int {
	t.Helper()
	entries, err := os.ReadDir("/proc")
	if err != nil {
		t.Fatal(err)
	}
	var kids []int
	for _, e := range entries {
		p, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		stat, err := os.ReadFile(filepath.Join("/proc", e.Name(), "stat"))
		if err != nil {
			continue // exited meanwhile
		}
		// pid (comm) state ppid ...; comm may hold spaces and parens.
		s := string(stat)
		fields := strings.Fields(s[strings.LastIndexByte(s, ')')+1:])
		if len(fields) > 1 && fields[1] == strconv.Itoa(pid) {
			kids = append(kids, p)
		}
	}
	return kids
}

// waitFor polls cond until it holds or the deadline passes.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// TestPauseReapsOrphansAndExitsOnSignal runs pause as a sandbox's PID 1, hands
// it orphans, checks it reaps them once they exit and keeps running, then
// that SIGTERM or SIGINT makes it exit 0 without a word.
func TestPauseReapsOrphansAndExitsOnSignal(t *testing.T) {
	pauseBin := buildPause(t)
	for _, sig := range []syscall.Signal{syscall.SIGTERM, syscall.SIGINT} {
		t.Run(sig.String(), func(t *testing.T) {
			var out bytes.Buffer
			cmd, exited, nsenter := startInPIDNamespace(t, pauseBin, &out)
			pid := cmd.Process.Pid

			// Orphans that block on a FIFO until the test opens it: their
			// shell exits at once, so they are adopted by pause.
			fifo := filepath.Join(t.TempDir(), "release")
			if err := syscall.Mkfifo(fifo, 0o666); err != nil {
				t.Fatal(err)
			}
			// The orphans must not hold the output pipe, or CombinedOutput would
			// wait for them.
			script := fmt.Sprintf("cat %[1]q >/dev/null 2>&1 & cat %[1]q >/dev/null 2>&1 & exit 0", fifo)
			enter := exec.Command(nsenter[0], append(nsenter[1:], "/bin/sh", "-c", script)...)
			if b, err := enter.CombinedOutput(); err != nil {
				if os.Geteuid() == 0 {
					t.Fatalf("enter the PID namespace: %v: %s", err, b)
				}
				t.Skipf("cannot enter the PID namespace here: %v: %s", err, b)
			}
			if kids := childrenOf(t, pid); len(kids) != 2 {
				t.Fatalf("pause adopted %v, want 2 orphans", kids)
			}

			// Release them: they exit, and pause must reap both zombies. A
			// cat that had not opened the FIFO yet when an earlier writer
			// came and went is released by the next poll's writer.
			waitFor(t, "pause to reap its orphans", func() bool {
				if f, err := os.OpenFile(fifo, os.O_WRONLY|syscall.O_NONBLOCK, 0); err == nil {
					f.Close()
				}
				return len(childrenOf(t, pid)) == 0
			})

			select {
			case <-exited:
				t.Fatalf("pause exited on its own: %v\n%s", cmd.ProcessState, out.String())
			default:
			}

			// Reaping proves the handlers are installed: the signal is
			// caught, not fatal.
			if err := cmd.Process.Signal(sig); err != nil {
				t.Fatal(err)
			}
			waitFor(t, "pause to exit", func() bool {
				select {
				case <-exited:
					return true
				default:
					return false
				}
			})
			if ws := cmd.ProcessState.Sys().(syscall.WaitStatus); !ws.Exited() || ws.ExitStatus() != 0 {
				t.Errorf("pause ended with %v, want exit status 0", cmd.ProcessState)
			}
			if out.Len() != 0 {
				t.Errorf("pause printed %q, want nothing", out.String())
			}
		})
	}
}
