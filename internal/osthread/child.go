package osthread

import (
	"os/exec"
	"runtime"
)

// StartChild starts cmd from a goroutine locked to its OS thread until the
// child has exited, and calls exited with cmd.Wait's result then, from
// that goroutine (only if the child started).
//
// Linux sends a child's parent-death signal (SysProcAttr.Pdeathsig) when
// the thread that forked it ends, not when the process does (prctl(2),
// PR_SET_PDEATHSIG), and the runtime ends the thread of a goroutine that
// exits locked to it, as EndIdle's goroutines do. The agent's embedded containerd,
// forked from an ordinary thread, got SIGTERM when the agent gave its idle
// threads back; a locked thread is never taken, so it lives as long as the
// child. It costs one thread, blocked in wait4(2), for the child's life.
func StartChild(cmd *exec.Cmd, exited func(error)) error {
	started := make(chan error, 1)
	go func() {
		runtime.LockOSThread()
		// The thread may end once the child has.
		defer runtime.UnlockOSThread()
		if err := cmd.Start(); err != nil {
			started <- err
			return
		}
		started <- nil
		exited(cmd.Wait())
	}()
	return <-started
}
