package main

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
)

// An agent that cannot start says why on one "error:" line and exits 1,
// with no stack trace, before it touches containerd or the host (these
// cases need neither root nor containerd: they fail first).
func TestAgentStartFailureIsOneLine(t *testing.T) {
	exe, err := os.Executable() // any regular file passes for the pause program
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name    string
		pause   func(dir string) string
		locked  bool
		wantMsg string
	}{
		{
			name:    "pause program missing",
			pause:   func(dir string) string { return filepath.Join(dir, "no-pause") },
			wantMsg: "error: pause program " + "%DIR%/no-pause not found: install it (scripts/install.sh) or point --pause-binary at bin/minikubelet-pause",
		},
		{
			name:    "root held by another agent",
			pause:   func(string) string { return exe },
			locked:  true,
			wantMsg: "error: another agent is running with root %DIR%/root (pid 4242): stop it first, or give this agent its own --root, --socket, --namespace and --bridge",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			root := filepath.Join(dir, "root")
			if tt.locked {
				if err := os.MkdirAll(root, 0o755); err != nil {
					t.Fatal(err)
				}
				f, err := os.OpenFile(filepath.Join(root, "agent.lock"), os.O_RDWR|os.O_CREATE, 0o644)
				if err != nil {
					t.Fatal(err)
				}
				defer f.Close()
				if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX); err != nil {
					t.Fatal(err)
				}
				if _, err := f.WriteString("4242\n"); err != nil {
					t.Fatal(err)
				}
			}
			var out, errOut bytes.Buffer
			code := run(context.Background(), []string{"agent",
				"--root", root, "--manifests", filepath.Join(dir, "manifests"), "--log-dir", filepath.Join(dir, "logs"),
				"--socket", filepath.Join(dir, "api.sock"), "--containerd", filepath.Join(dir, "no-containerd.sock"),
				"--pause-binary", tt.pause(dir), "--node-name", "n1",
			}, IOStreams{In: strings.NewReader(""), Out: &out, ErrOut: &errOut}, func(string) string { return "" })
			if code != 1 {
				t.Errorf("exit code %d, want 1", code)
			}
			var errLines []string
			for _, l := range strings.Split(strings.TrimRight(errOut.String(), "\n"), "\n") {
				if strings.HasPrefix(l, "error:") {
					errLines = append(errLines, l)
				}
				if strings.HasPrefix(l, "goroutine ") || strings.HasPrefix(l, "\t") || strings.Contains(l, "ERROR") {
					t.Errorf("stack trace or error log on stderr: %q", l)
				}
			}
			want := strings.ReplaceAll(tt.wantMsg, "%DIR%", dir)
			if len(errLines) != 1 || errLines[0] != want {
				t.Errorf("stderr error lines %q, want [%q]\nstderr:\n%s", errLines, want, errOut.String())
			}
			// Nothing was started: no socket, no embedded containerd state.
			if _, err := os.Stat(filepath.Join(root, "containerd")); err == nil {
				t.Error("the failed start touched containerd state under the root")
			}
		})
	}
}

// `minikubelet cleanup` takes the agent's flags and refuses, changing
// nothing, while an agent holds the root.
func TestCleanupRefusedWhileAgentRuns(t *testing.T) {
	dir := t.TempDir()
	f, err := os.OpenFile(filepath.Join(dir, "agent.lock"), os.O_RDWR|os.O_CREATE, 0o644)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX); err != nil {
		t.Fatal(err)
	}
	keep := filepath.Join(dir, "pods")
	if err := os.Mkdir(keep, 0o755); err != nil {
		t.Fatal(err)
	}
	var errOut bytes.Buffer
	code := run(context.Background(), []string{"cleanup", "--root", dir, "--containerd", filepath.Join(dir, "none.sock")},
		IOStreams{In: strings.NewReader(""), Out: &bytes.Buffer{}, ErrOut: &errOut}, func(string) string { return "" })
	if code != 1 || !strings.Contains(errOut.String(), "error: another agent is running with root "+dir) {
		t.Errorf("cleanup: code %d, stderr %q", code, errOut.String())
	}
	if _, err := os.Stat(keep); err != nil {
		t.Errorf("cleanup removed state while an agent ran: %v", err)
	}
}
