//go:build integration

package agent

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"
	v1 "k8s.io/api/core/v1"

	"github.com/minikubelet/minikubelet/api"
	"github.com/minikubelet/minikubelet/internal/testenv"
)

// smallDisk mounts a tmpfs of size bytes on a fresh directory, unmounted
// when the test ends (lazily: a file may still be open), failed or not.
func smallDisk(t *testing.T, size int) string {
	t.Helper()
	dir := t.TempDir()
	if err := unix.Mount("tmpfs", dir, "tmpfs", unix.MS_NOSUID|unix.MS_NODEV, fmt.Sprintf("size=%d,mode=0755", size)); err != nil {
		t.Fatalf("mount a tmpfs on %s: %v", dir, err)
	}
	t.Cleanup(func() {
		if err := unix.Unmount(dir, unix.MNT_DETACH); err != nil {
			t.Errorf("unmount %s: %v", dir, err)
		}
	})
	return dir
}

// fillDisk writes a file in dir until the file system is full.
func fillDisk(t *testing.T, dir string) string {
	t.Helper()
	path := filepath.Join(dir, "filler")
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	chunk := make([]byte, 64<<10)
	for {
		if _, err := f.Write(chunk); err != nil {
			if !errors.Is(err, syscall.ENOSPC) {
				t.Fatalf("fill %s: %v", dir, err)
			}
			return path
		}
	}
}

// A full log disk: the container keeps running (its output is drained and
// dropped, not left to block it), one Warning event names the container and
// the error, however many writes fail; once space is back the log is
// written again (a Normal event says so) and it is still well-formed.
func TestFullLogDisk(t *testing.T) {
	env := testenv.New(t)
	cfg := testConfig(t, env)
	cfg.LogDir = smallDisk(t, 8<<20)
	a := startAgent(t, cfg)
	// Lines of about 2 kB, numbered, the number also kept in /tmp/n: 100
	// of them are more than a pipe holds.
	a.write("chatty.yaml", `apiVersion: v1
kind: Pod
metadata: {name: chatty}
spec:
  terminationGracePeriodSeconds: 1
  containers:
  - name: c
    image: busybox
    command: [sh, -c, 'p=$(head -c 2000 /dev/zero | tr "\0" x); i=0; while true; do i=$((i+1)); echo "line $i $p"; echo $i > /tmp/n.new; mv /tmp/n.new /tmp/n; usleep 20000; done']
`)
	a.waitPod("chatty", "Running", time.Minute, statusIs("Running"))
	ctx := context.Background()
	// logged is the numbers of the lines in the log, of the last tail
	// lines only when tail > 0.
	logged := func(tail int64) []int {
		opts := api.LogOptions{}
		if tail > 0 {
			opts.TailLines = &tail
		}
		var out bytes.Buffer
		if err := a.client.Logs(ctx, "default", "chatty", opts, &out); err != nil {
			t.Fatal(err)
		}
		return lineNumbers(t, out.String())
	}
	counter := func() int {
		var out bytes.Buffer
		code, err := a.client.Exec(ctx, "default", "chatty", api.ExecOptions{Command: []string{"cat", "/tmp/n"}, Stdout: &out, Stderr: io.Discard})
		if err != nil || code != 0 {
			t.Fatalf("read the container's counter: exit %d, %v", code, err)
		}
		n, err := strconv.Atoi(strings.TrimSpace(out.String()))
		if err != nil {
			t.Fatalf("the container's counter %q: %v", out.String(), err)
		}
		return n
	}
	testenv.WaitFor(t, "the first lines in the log", func() (bool, string) {
		n := logged(3)
		return len(n) == 3, fmt.Sprint(n)
	})

	filler := fillDisk(t, cfg.LogDir)
	failed := func() []v1.Event { return eventsWithReason(a.events("chatty"), "FailedLogWrite") }
	testenv.WaitFor(t, "a FailedLogWrite event", func() (bool, string) { return len(failed()) > 0, "none" })
	// The container goes on past what a pipe holds while the disk is full.
	full := counter()
	testenv.WaitFor(t, "the container to write 100 more lines", func() (bool, string) {
		n := counter()
		return n >= full+100, fmt.Sprintf("line %d, from %d", n, full)
	})
	evs := failed()
	if len(evs) != 1 || evs[0].Count != 1 || evs[0].Type != v1.EventTypeWarning ||
		evs[0].InvolvedObject.FieldPath != "spec.containers{c}" ||
		!strings.Contains(evs[0].Message, "container c") || !strings.Contains(evs[0].Message, "no space left on device") {
		t.Errorf("FailedLogWrite events after 100 failed writes: %+v; want one Warning on spec.containers{c}, count 1, naming c and ENOSPC", evs)
	}
	last := logged(1)[0]

	if err := os.Remove(filler); err != nil {
		t.Fatal(err)
	}
	testenv.WaitFor(t, "a LogWriteResumed event", func() (bool, string) {
		return len(eventsWithReason(a.events("chatty"), "LogWriteResumed")) > 0, "none"
	})
	resumed := counter()
	testenv.WaitFor(t, "lines written after space came back", func() (bool, string) {
		n := logged(1)[0]
		return n > resumed, fmt.Sprintf("last line %d, want past %d", n, resumed)
	})
	after := logged(0)
	// In order, nothing torn (lineNumbers checks every line), with the gap
	// of what was dropped while the disk was full.
	gap := false
	for i := 1; i < len(after); i++ {
		if after[i] <= after[i-1] {
			t.Fatalf("log lines out of order: %d after %d", after[i], after[i-1])
		}
		if after[i-1] >= last && after[i] > after[i-1]+1 {
			gap = true
			// Lines up to full+100 were written while the disk was
			// full; the last 32 or so of them (64 KiB) may still have
			// been in the pipe when space came back.
			if after[i] <= full+50 {
				t.Errorf("the log resumes at line %d, but lines up to %d were written (and drained) while the disk was full", after[i], full+100)
			}
		}
	}
	if !gap {
		t.Errorf("no lines dropped around the full disk (last line before: %d)", last)
	}
	if n := len(failed()); n != 1 {
		t.Errorf("%d FailedLogWrite events, want 1", n)
	}
	p := a.waitPod("chatty", "Running", time.Minute, statusIs("Running"))
	if s := cstatus(p, "c"); s.RestartCount != 0 {
		t.Errorf("container restarted %d times", s.RestartCount)
	}
}

var logLine = regexp.MustCompile(`^line (\d+) (x+)$`)

// lineNumbers parses the output of the test's container, failing on any
// line that is not one it wrote whole. An empty log has no lines: the
// container may not have written its first one yet.
func lineNumbers(t *testing.T, out string) []int {
	t.Helper()
	if out == "" {
		return nil
	}
	var ns []int
	for _, l := range strings.Split(strings.TrimSuffix(out, "\n"), "\n") {
		m := logLine.FindStringSubmatch(l)
		if m == nil || len(m[2]) != 2000 {
			t.Fatalf("malformed log line %.80q", l)
		}
		n, _ := strconv.Atoi(m[1])
		ns = append(ns, n)
	}
	return ns
}

func eventsWithReason(evs []v1.Event, reason string) []v1.Event {
	var out []v1.Event
	for _, e := range evs {
		if e.Reason == reason {
			out = append(out, e)
		}
	}
	return out
}
