package main

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/minikubelet/minikubelet/internal/gobuild"
	"github.com/minikubelet/minikubelet/pause/image"
)

// The pause binary under test, built once by TestMain exactly as shipped.
var (
	pauseBin  string
	buildTime time.Duration
)

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "pause-test-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	pauseBin = filepath.Join(dir, "pause")
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	start := time.Now()
	err = gobuild.Pause(ctx, pauseBin)
	buildTime = time.Since(start)
	cancel()
	code := 1
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
	} else {
		code = m.Run()
	}
	os.RemoveAll(dir)
	os.Exit(code)
}

func TestBinaryIsStaticAndQuiet(t *testing.T) {
	fi, err := os.Stat(pauseBin)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("pause binary: %d bytes, built in %v", fi.Size(), buildTime)
	elf, err := os.ReadFile(pauseBin)
	if err != nil {
		t.Fatal(err)
	}
	// A dynamically linked ELF names its interpreter (ld-linux / ld-musl).
	if bytes.Contains(elf, []byte("/ld-linux")) || bytes.Contains(elf, []byte("/ld-musl")) {
		t.Error("pause binary is dynamically linked")
	}

	out, err := exec.Command(pauseBin, "-v").CombinedOutput()
	if err != nil || string(out) != "pause.minikubelet "+version+"\n" {
		t.Errorf("pause -v = %q, %v", out, err)
	}
	if !strings.HasSuffix(image.Ref, ":"+version) {
		t.Errorf("image.Ref %s does not carry the binary's version %s", image.Ref, version)
	}
}

// startInPIDNamespace starts pause as PID 1 of a new PID namespace, where it
// adopts every orphan, as in a pod sandbox. It returns the command and a
// channel closed when it has exited.
func startInPIDNamespace(t *testing.T, stdout *bytes.Buffer) (*exec.Cmd, <-chan struct{}, []string) {
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

// TestReapsOrphansAndExitsOnSignal runs pause as a sandbox's PID 1, hands
// it orphans, checks it reaps them once they exit and keeps running, then
// that SIGTERM or SIGINT makes it exit 0 without a word.
func TestReapsOrphansAndExitsOnSignal(t *testing.T) {
	for _, sig := range []syscall.Signal{syscall.SIGTERM, syscall.SIGINT} {
		t.Run(sig.String(), func(t *testing.T) {
			var out bytes.Buffer
			cmd, exited, nsenter := startInPIDNamespace(t, &out)
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
