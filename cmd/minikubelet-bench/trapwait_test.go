package main

import (
	"context"
	"os/exec"
	"syscall"
	"testing"
	"time"
)

func TestCatchesTERM(t *testing.T) {
	for _, tc := range []struct {
		status string
		want   bool
	}{
		{"Name:\tsh\nSigCgt:\t0000000000004002\n", true},
		{"Name:\tsh\nSigCgt:\t0000000000000002\n", false},
		{"SigIgn:\t0000000000004000\nSigCgt:\t0000000000000000\n", false}, // ignored is not caught
	} {
		if got, err := catchesTERM([]byte(tc.status)); err != nil || got != tc.want {
			t.Errorf("%q: %v, %v; want %v", tc.status, got, err, tc.want)
		}
	}
	if _, err := catchesTERM([]byte("Name:\tsh\n")); err == nil {
		t.Error("no SigCgt line: no error")
	}
}

// Once waitTrapped returns, SIGTERM runs the shell's trap: the shell exits
// 0 instead of dying of the signal. The shell sets its trap only after a
// while, so that a SIGTERM sent without the wait would kill it.
func TestWaitTrapped(t *testing.T) {
	cmd := exec.Command("sh", "-c", `sleep 0.3; trap 'exit 0' TERM; while :; do sleep 0.05; done`)
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if err := waitTrapped(ctx, []uint32{uint32(cmd.Process.Pid)}); err != nil {
		t.Fatal(err)
	}
	if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	if err := cmd.Wait(); err != nil {
		t.Errorf("shell after SIGTERM: %v, want exit 0 from its trap", err)
	}
}
