package osthread

import (
	"errors"
	"os/exec"
	"runtime"
	"syscall"
	"testing"
	"time"
)

var errOnMainThread = errors.New("on the main thread")

func sleeper() *exec.Cmd {
	cmd := exec.Command("sleep", "60")
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	return cmd
}

// The mechanism StartChild guards against: a child forked from a thread that
// then ends gets its parent-death signal, the process alive or not.
func TestThreadEndKillsChildOfPlainStart(t *testing.T) {
	cmd := sleeper()
	// The runtime never ends the main thread (it parks it instead), so
	// fork from any other.
	for forked := false; !forked; {
		started := make(chan error, 1)
		go func() {
			runtime.LockOSThread() // never unlocked: the thread ends with the goroutine
			if syscall.Gettid() == syscall.Getpid() {
				runtime.UnlockOSThread()
				started <- errOnMainThread
				return
			}
			started <- cmd.Start()
		}()
		switch err := <-started; {
		case err == nil:
			forked = true
		case !errors.Is(err, errOnMainThread):
			t.Fatal(err)
		}
	}
	waited := make(chan error, 1)
	go func() { waited <- cmd.Wait() }()
	select {
	case err := <-waited:
		var ee *exec.ExitError
		if !errors.As(err, &ee) || ee.Sys().(syscall.WaitStatus).Signal() != syscall.SIGKILL {
			t.Fatalf("child ended with %v, want its parent-death signal SIGKILL", err)
		}
	case <-time.After(30 * time.Second):
		_ = cmd.Process.Kill()
		t.Fatal("child alive 30 s after the thread that forked it ended")
	}
}

// A child started by StartChild outlives every thread ended after it started.
func TestStartChildKeepsChildWhileThreadsEnd(t *testing.T) {
	cmd := sleeper()
	exited := make(chan struct{})
	var exitErr error
	if err := StartChild(cmd, func(err error) { exitErr = err; close(exited) }); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		<-exited
	})
	// Every thread that can end does.
	if _, err := EndIdle(0); err != nil {
		t.Fatal(err)
	}
	// The parent-death signal is sent as the thread exits; give its
	// delivery and the reaping a moment before looking.
	select {
	case <-exited:
		t.Fatalf("child ended while this process runs: %v", exitErr)
	case <-time.After(200 * time.Millisecond):
	}
	if err := cmd.Process.Signal(syscall.Signal(0)); err != nil {
		t.Fatalf("child gone: %v", err)
	}
}

func TestStartChildReportsStartError(t *testing.T) {
	called := make(chan struct{}, 1)
	err := StartChild(exec.Command("/nonexistent/program"), func(error) { called <- struct{}{} })
	if err == nil {
		t.Fatal("started a program that does not exist")
	}
	select {
	case <-called:
		t.Error("exited called for a child that never started")
	case <-time.After(50 * time.Millisecond):
	}
}
