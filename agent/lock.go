package agent

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
)

// lockFile is the file under --root whose flock marks the agent owning
// that root. The kernel drops the lock when the process ends, however it
// ends, so a kill -9 never leaves a stale lock behind.
const lockFile = "agent.lock"

// ErrLocked is returned (wrapped) when another agent holds the root.
var ErrLocked = errors.New("another agent is running")

// rootLock is the agent's exclusive hold on its root directory.
type rootLock struct{ f *os.File }

// lockRoot takes the exclusive lock on root, creating root if needed. It
// never waits: when another process holds the lock it fails at once,
// naming that process, so a second agent started with the same flags
// touches nothing the first one owns.
func lockRoot(root string) (*rootLock, error) {
	if err := os.MkdirAll(root, 0o755); err != nil {
		return nil, fmt.Errorf("create root %s: %w", root, err)
	}
	path := filepath.Join(root, lockFile)
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE|syscall.O_CLOEXEC, 0o644)
	if err != nil {
		return nil, fmt.Errorf("open lock %s: %w", path, err)
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		holder := ""
		if b, rerr := os.ReadFile(path); rerr == nil {
			if pid, perr := strconv.Atoi(strings.TrimSpace(string(b))); perr == nil {
				holder = fmt.Sprintf(" (pid %d)", pid)
			}
		}
		f.Close()
		if errors.Is(err, syscall.EWOULDBLOCK) {
			return nil, fmt.Errorf("%w with root %s%s: stop it first, or give this agent its own --root, --socket, --namespace and --bridge", ErrLocked, root, holder)
		}
		return nil, fmt.Errorf("lock %s: %w", path, err)
	}
	// The pid is for the message above and for people; the lock is the flock.
	if err := f.Truncate(0); err == nil {
		_, _ = f.WriteAt([]byte(strconv.Itoa(os.Getpid())+"\n"), 0)
	}
	return &rootLock{f: f}, nil
}

// release drops the lock. The file stays: unlinking it would let two later
// agents lock two different files (one opened the old file before the
// unlink, the other created a new one).
func (l *rootLock) release() {
	if l == nil || l.f == nil {
		return
	}
	_ = l.f.Close()
	l.f = nil
}
