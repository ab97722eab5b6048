// Package osthread manages the lifetimes of the process's OS threads: it
// ends idle ones, which the Go runtime never does on its own, and starts
// child processes from threads it keeps for them, because a child's
// parent-death signal is tied to the thread that forked it.
package osthread

import (
	"os"
	"runtime"
	"sync"
)

// EndIdle ends the process's OS threads beyond keep. The Go runtime starts
// a thread whenever the running ones are all blocked in system calls, and
// never ends one: 100 pods started at once (their CNI plugins waited for,
// FIFOs and pod files opened and written) left the agent 133 threads, each
// with a 16 KiB system stack and a 32 KiB signal stack. A goroutine that
// exits while locked to its thread ends that thread; locking n goroutines
// at once puts them on n different threads, idle ones first. Threads
// locked to other goroutines are not taken, which is what StartChild
// relies on. It returns how many threads it ended.
func EndIdle(keep int) (int, error) {
	threads, err := Count()
	if err != nil {
		return 0, err
	}
	n := threads - keep
	if n <= 0 {
		return 0, nil
	}
	var locked, ended sync.WaitGroup
	locked.Add(n)
	ended.Add(n)
	release := make(chan struct{})
	for range n {
		go func() {
			defer ended.Done()
			runtime.LockOSThread()
			locked.Done()
			<-release // never unlocked: the thread ends with the goroutine
		}()
	}
	locked.Wait()
	close(release)
	ended.Wait()
	return n, nil
}

// Count is the number of the process's threads.
func Count() (int, error) {
	tasks, err := os.ReadDir("/proc/self/task")
	if err != nil {
		return 0, err
	}
	return len(tasks), nil
}
