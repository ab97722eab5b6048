package osthread

import (
	"runtime"
	"sync"
	"syscall"
	"testing"
)

// Threads left by goroutines that blocked in system calls at once are
// ended, down to the number kept; the runtime still runs goroutines after.
func TestEndIdle(t *testing.T) {
	// 20 goroutines blocked at once in read(2) on pipes: each holds a
	// thread of its own, which stays when they are done.
	const blocked = 20
	var fds [blocked][2]int
	for i := range fds {
		if err := syscall.Pipe(fds[i][:]); err != nil {
			t.Fatal(err)
		}
	}
	var started, done sync.WaitGroup
	started.Add(blocked)
	done.Add(blocked)
	for i := range fds {
		go func() {
			defer done.Done()
			started.Done()
			var b [1]byte
			_, _ = syscall.Read(fds[i][0], b[:])
		}()
	}
	started.Wait()
	for !threadsAtLeast(t, blocked) {
		runtime.Gosched() // the goroutines have yet to enter read(2)
	}
	for i := range fds {
		_, _ = syscall.Write(fds[i][1], []byte{1})
	}
	done.Wait()
	for i := range fds {
		syscall.Close(fds[i][0])
		syscall.Close(fds[i][1])
	}
	before, err := Count()
	if err != nil {
		t.Fatal(err)
	}
	const keep = 8
	ended, err := EndIdle(keep)
	if err != nil {
		t.Fatal(err)
	}
	if ended != before-keep {
		t.Errorf("ended %d threads of %d, want all but %d", ended, before, keep)
	}
	// The ended threads exit right after their goroutines: wait for them
	// to be gone from /proc (the test times out otherwise). The main
	// thread never exits, and the runtime may start one again meanwhile.
	for !threadsAtMost(t, keep+3) {
		runtime.Gosched()
	}
	ch := make(chan int)
	go func() { ch <- 42 }()
	if v := <-ch; v != 42 {
		t.Fatalf("got %d", v)
	}
}

func threadsAtLeast(t *testing.T, n int) bool {
	t.Helper()
	c, err := Count()
	if err != nil {
		t.Fatal(err)
	}
	return c >= n
}

func threadsAtMost(t *testing.T, n int) bool {
	t.Helper()
	c, err := Count()
	if err != nil {
		t.Fatal(err)
	}
	return c <= n
}
