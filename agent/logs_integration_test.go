//go:build integration

package agent

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	v1 "k8s.io/api/core/v1"

	"github.com/minikubelet/minikubelet/api"
	"github.com/minikubelet/minikubelet/internal/testenv"
	"github.com/minikubelet/minikubelet/runtime"
)

// crashCounter is a container that prints which run it is (counted in an
// emptyDir that outlives its crashes), lives a little, and fails.
const crashCounter = `apiVersion: v1
kind: Pod
metadata: {name: counter}
spec:
  terminationGracePeriodSeconds: 1
  volumes: [{name: scratch, emptyDir: {}}]
  containers:
  - name: c
    image: busybox
    command: [sh, -c, 'echo x >> /data/runs; echo "run $(wc -l < /data/runs)"; sleep 2; exit 1']
    volumeMounts: [{name: scratch, mountPath: /data}]
`

// logsOf reads the named pod's log while its container's status stays the
// same: it returns the output and the status it belongs to, retrying when the
// container moved on in between.
func (a *testAgent) logsOf(name string, previous bool, stable func(v1.ContainerStatus) bool) (string, v1.ContainerStatus) {
	a.t.Helper()
	ctx := context.Background()
	for range 50 {
		before := cstatus(a.waitPod(name, "the wanted state", time.Minute, func(p *v1.Pod) bool { return stable(cstatus(p, "c")) }), "c")
		var out bytes.Buffer
		err := a.client.Logs(ctx, "default", name, api.LogOptions{Previous: previous}, &out)
		p, gerr := a.client.GetPod(ctx, "default", name)
		if gerr != nil {
			a.t.Fatal(gerr)
		}
		after := cstatus(p, "c")
		if after.RestartCount != before.RestartCount || (after.State.Running == nil) != (before.State.Running == nil) {
			continue // the container moved on while we read
		}
		if err != nil {
			a.t.Fatalf("logs %s (previous=%v): %v", name, previous, err)
		}
		return out.String(), before
	}
	a.t.Fatalf("pod %s never held still long enough to read its log", name)
	return "", v1.ContainerStatus{}
}

// `logs` reads the newest instance, also when it has exited and waits in
// CrashLoopBackOff (issue 11: it used to print the instance before it), and
// `--previous` the last terminated one, as the kubelet's
// validateContainerLogStatus chooses them.
func TestLogsChooseTheInstance(t *testing.T) {
	env := testenv.New(t)
	cfg := testConfig(t, env)
	cfg.CrashLoopBackOff.MaxContainerRestartPeriod = &Duration{4 * time.Second}
	a := startAgent(t, cfg)
	a.write("counter.yaml", crashCounter)

	waitingAfter := func(rc int32) func(v1.ContainerStatus) bool {
		return func(cs v1.ContainerStatus) bool {
			return cs.State.Waiting != nil && cs.State.Waiting.Reason == "CrashLoopBackOff" && cs.RestartCount >= rc
		}
	}
	// In CrashLoopBackOff with restartCount n, the newest instance is
	// attempt n, the (n+1)-th run; it is also lastState, so --previous
	// reads it too (upstream does the same).
	out, cs := a.logsOf("counter", false, waitingAfter(2))
	if want := fmt.Sprintf("run %d\n", cs.RestartCount+1); out != want {
		t.Errorf("logs in CrashLoopBackOff with restartCount %d: %q, want %q", cs.RestartCount, out, want)
	}
	out, cs = a.logsOf("counter", true, waitingAfter(2))
	if want := fmt.Sprintf("run %d\n", cs.RestartCount+1); out != want {
		t.Errorf("logs --previous in CrashLoopBackOff with restartCount %d: %q, want %q", cs.RestartCount, out, want)
	}

	// Running again: logs is the running instance, --previous the one
	// that ended before it.
	running := func(cs v1.ContainerStatus) bool { return cs.State.Running != nil && cs.RestartCount >= 2 }
	out, cs = a.logsOf("counter", false, running)
	if want := fmt.Sprintf("run %d\n", cs.RestartCount+1); out != want {
		t.Errorf("logs while running with restartCount %d: %q, want %q", cs.RestartCount, out, want)
	}
	out, cs = a.logsOf("counter", true, running)
	if want := fmt.Sprintf("run %d\n", cs.RestartCount); out != want {
		t.Errorf("logs --previous while running with restartCount %d: %q, want %q", cs.RestartCount, out, want)
	}
}

// lockedBuffer collects a follow's output while the test reads it.
type lockedBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *lockedBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *lockedBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// numbers is "from\n…to\n".
func numbers(from, to int) string {
	var b strings.Builder
	for i := from; i <= to; i++ {
		fmt.Fprintf(&b, "%d\n", i)
	}
	return b.String()
}

// A container's log is rotated as the kubelet rotates it (size, count,
// names, compression), and `logs`, `logs --tail` and `logs -f` read across
// the rotated files.
func TestLogRotation(t *testing.T) {
	env := testenv.New(t)
	cfg := testConfig(t, env)
	const maxSize = 16 * 1024
	cfg.ContainerLogMaxSize = "16Ki"
	cfg.ContainerLogMaxFiles = 4
	a := startAgent(t, cfg)
	// 20000 lines at once (about 50 rotations), then, once a follower is
	// there, 1000 more at a pace a follower keeps up with.
	a.write("chatty.yaml", `apiVersion: v1
kind: Pod
metadata: {name: chatty}
spec:
  terminationGracePeriodSeconds: 1
  containers:
  - name: c
    image: busybox
    command: [sh, -c, 'seq 1 20000; while [ ! -e /tmp/go ]; do sleep 0.1; done; for i in $(seq 20001 21000); do echo $i; usleep 1000; done; sleep 3600']
`)
	p := a.waitPod("chatty", "Running", time.Minute, statusIs("Running"))
	ctx := context.Background()
	var out bytes.Buffer
	one := int64(1)
	deadline := time.Now().Add(time.Minute)
	for out.String() != "20000\n" {
		if time.Now().After(deadline) {
			t.Fatalf("never saw the last line of the first batch; the log ends %q", out.String())
		}
		time.Sleep(200 * time.Millisecond)
		out.Reset()
		if err := a.client.Logs(ctx, "default", "chatty", api.LogOptions{TailLines: &one}, &out); err != nil {
			t.Fatal(err)
		}
	}

	// On disk: the live file and at most three rotations, the newest plain,
	// older ones gzipped, each within the size.
	dir := filepath.Dir(runtime.LogPath(cfg.LogDir, p, "c", 0))
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	named := regexp.MustCompile(`^0\.log(\.\d{8}-\d{6}(-\d+)?(\.gz)?)?$`)
	var names []string
	for _, e := range entries {
		names = append(names, e.Name())
		info, err := e.Info()
		if err != nil || !named.MatchString(e.Name()) || info.Size() > maxSize {
			t.Errorf("log file %s: %v, %v", e.Name(), info, err)
		}
	}
	if len(names) != 4 || names[0] != "0.log" || !strings.HasSuffix(names[1], ".gz") || strings.HasSuffix(names[3], ".gz") {
		t.Errorf("log files %q: want 0.log and three rotations, the newest uncompressed", names)
	}

	// logs: what the files keep, in order, ending at the last line.
	out.Reset()
	if err := a.client.Logs(ctx, "default", "chatty", api.LogOptions{}, &out); err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSuffix(out.String(), "\n"), "\n")
	first, err := strconv.Atoi(lines[0])
	if err != nil || first < 2 || out.String() != numbers(first, 20000) {
		t.Errorf("logs: %d lines from %q, not a run of numbers up to 20000", len(lines), lines[0])
	}
	if len(lines) < 2*maxSize/len("2025-05-01T12:00:00.000000000Z stdout F 12345\n") {
		t.Errorf("logs: only %d lines, want more than the live file's", len(lines))
	}
	// --tail reaching into the rotated files.
	out.Reset()
	tail := int64(len(lines) - 3)
	if err := a.client.Logs(ctx, "default", "chatty", api.LogOptions{TailLines: &tail}, &out); err != nil || out.String() != numbers(first+3, 20000) {
		t.Errorf("logs --tail %d: %d bytes, %v", tail, out.Len(), err)
	}

	// logs -f follows through the rotations of the second batch.
	fctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var followed lockedBuffer
	zero := int64(0)
	followDone := make(chan error, 1)
	go func() {
		followDone <- a.client.Logs(fctx, "default", "chatty", api.LogOptions{Follow: true, TailLines: &zero}, &followed)
	}()
	time.Sleep(time.Second) // the follow is established (it prints nothing until new lines come)
	if code, err := a.client.Exec(ctx, "default", "chatty", api.ExecOptions{Command: []string{"touch", "/tmp/go"}, Stdout: io.Discard}); err != nil || code != 0 {
		t.Fatalf("exec: %d, %v", code, err)
	}
	deadline = time.Now().Add(time.Minute)
	for !strings.HasSuffix(followed.String(), "\n21000\n") && time.Now().Before(deadline) {
		time.Sleep(200 * time.Millisecond)
	}
	if got := followed.String(); got != numbers(20001, 21000) {
		t.Errorf("logs -f: %d bytes, want the 1000 lines in order; starts %q", len(got), got[:min(len(got), 40)])
	}
	cancel()
	<-followDone
}
