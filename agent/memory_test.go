package agent

import (
	"bufio"
	"context"
	"os"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"
	"unsafe"

	"go.uber.org/zap/zaptest"
	"golang.org/x/sys/unix"
)

func TestReadOnlyMappingOf(t *testing.T) {
	dev := uint64(0xfd01) // major 0xfd, minor 1 (glibc's encoding, as unix.Mkdev)
	for _, tt := range []struct {
		line  string
		ok    bool
		start uintptr
		end   uintptr
	}{
		{"00400000-014e5000 r-xp 00000000 fd:01 1234 /usr/bin/minikubelet", true, 0x400000, 0x14e5000},
		{"014e5000-02709000 r--p 010e5000 fd:01 1234 /usr/bin/minikubelet", true, 0x14e5000, 0x2709000},
		// Written pages of data and bss would be lost.
		{"02709000-027b4000 rw-p 02309000 fd:01 1234 /usr/bin/minikubelet", false, 0, 0},
		// Another file, or the same inode number on another device.
		{"7f00-8000 r-xp 00000000 fd:01 99 /usr/lib/other.so", false, 0, 0},
		{"7f00-8000 r-xp 00000000 08:02 1234 /mnt/minikubelet", false, 0, 0},
		// Anonymous mappings and garbage.
		{"32140a800000-32140c000000 rw-p 00000000 00:00 0", false, 0, 0},
		{"7ffe-8000 r--p 00000000 fd:01 1234", false, 0, 0},
		{"zz-8000 r--p 00000000 fd:01 1234 /usr/bin/minikubelet", false, 0, 0},
	} {
		start, end, ok := readOnlyMappingOf(tt.line, dev, 1234)
		if ok != tt.ok || start != tt.start || end != tt.end {
			t.Errorf("readOnlyMappingOf(%q) = %x, %x, %v, want %x, %x, %v", tt.line, start, end, ok, tt.start, tt.end, tt.ok)
		}
	}
}

// The test binary's own text and read-only data leave its resident set
// and the program keeps running on the pages it faults back in.
func TestDropBinaryPages(t *testing.T) {
	before := binaryRSS(t)
	if before == 0 {
		t.Fatal("no resident page of the test binary's read-only mappings")
	}
	n, err := dropBinaryPages()
	if err != nil {
		t.Fatal(err)
	}
	after := binaryRSS(t)
	if n < 1 || after >= before {
		t.Fatalf("dropBinaryPages released %d mappings; resident kB of the binary's read-only mappings %d before, %d after", n, before, after)
	}
	// Code and tables not touched since are read again from the file.
	if got := strconv.Itoa(42) + strings.ToUpper("x"); got != "42X" {
		t.Fatalf("after dropBinaryPages: %q", got)
	}
}

// binaryRSS is the resident kB of the read-only mappings of the running
// executable, from /proc/self/smaps.
func binaryRSS(t *testing.T) int {
	t.Helper()
	var st syscall.Stat_t
	if err := syscall.Stat("/proc/self/exe", &st); err != nil {
		t.Fatal(err)
	}
	f, err := os.Open("/proc/self/smaps")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	total, in := 0, false
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := sc.Text()
		if k, v, ok := strings.Cut(line, ":"); ok && !strings.Contains(k, " ") {
			if in && k == "Rss" {
				kb, err := strconv.Atoi(strings.TrimSuffix(strings.TrimSpace(v), " kB"))
				if err != nil {
					t.Fatalf("smaps line %q: %v", line, err)
				}
				total += kb
			}
			continue
		}
		_, _, in = readOnlyMappingOf(line, st.Dev, st.Ino)
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	return total
}

// A read-only mapping with anonymous pages (a RELRO segment the dynamic
// loader relocated), resident or swapped out, is never dropped: its file
// bytes are not what the program reads there. Nor is one smaps says
// nothing about.
func TestCleanReadOnlyMappingsSkipsRelocated(t *testing.T) {
	smaps := `00400000-014e5000 r-xp 00000000 fd:01 1234 /usr/bin/minikubelet
Rss:                 900 kB
Anonymous:             0 kB
VmFlags: rd ex mr mw me
014e5000-02709000 r--p 010e5000 fd:01 1234 /usr/bin/minikubelet
Rss:                 100 kB
Anonymous:            12 kB
VmFlags: rd mr mw me
02709000-0270a000 r--p 02309000 fd:01 1234 /usr/bin/minikubelet
Rss:                   0 kB
Anonymous:             0 kB
Swap:                  4 kB
0270a000-0270b000 r--p 0230a000 fd:01 1234 /usr/bin/minikubelet
Rss:                   4 kB
0270b000-027b4000 rw-p 0230b000 fd:01 1234 /usr/bin/minikubelet
Anonymous:            40 kB
7f0000000000-7f0000001000 r--p 00000000 fd:01 99 /usr/lib/libc.so.6
Anonymous:             0 kB
`
	got, err := cleanReadOnlyMappings([]byte(smaps), 0xfd01, 1234)
	if err != nil {
		t.Fatal(err)
	}
	if want := [][2]uintptr{{0x400000, 0x14e5000}}; len(got) != 1 || got[0] != want[0] {
		t.Errorf("clean mappings %x, want %x", got, want)
	}
}

// growStack recurses n frames of about 1 KiB each.
//
//go:noinline
func growStack(n int) byte {
	var pad [1024]byte
	pad[n%len(pad)] = byte(n)
	if n == 0 {
		return pad[0]
	}
	return growStack(n-1) + pad[n%len(pad)]
}

// A goroutine whose stack grew to 512 KiB and that now waits with a
// shallow one gets it shrunk by freeHeap, which collects until stacks stop
// shrinking, not once only (a collection halves a stack at most).
func TestFreeHeapShrinksGrownStacks(t *testing.T) {
	const goroutines = 8
	park := make(chan struct{})
	defer close(park)
	var grown sync.WaitGroup
	grown.Add(goroutines)
	for range goroutines {
		go func() {
			growStack(256)
			grown.Done()
			<-park
		}()
	}
	grown.Wait()
	before := stackBytes()
	freeHeap()
	after := stackBytes()
	// One collection would leave half of it.
	if want := before / 4; after >= want {
		t.Errorf("stacks hold %d bytes after freeHeap, %d before: want under %d", after, before, want)
	}
}

// A release comes once the delay passed without an activity signal, at
// most maxWait after the first, and none before start-up is over.
func TestReleaseAfter(t *testing.T) {
	const delay, maxWait = 40 * time.Millisecond, 300 * time.Millisecond
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	activity := make(chan struct{}, 1)
	var ready atomic.Bool
	released := make(chan time.Time, 10)
	done := make(chan struct{})
	go func() {
		defer close(done)
		releaseAfter(ctx, activity, delay, maxWait, ready.Load, func() { released <- time.Now() })
	}()
	noRelease := func(what string, d time.Duration) {
		t.Helper()
		select {
		case <-released:
			t.Fatalf("released %s", what)
		case <-time.After(d):
		}
	}
	// signal keeps signalling every delay/4 for d; it returns when the last
	// signal was taken.
	signal := func(d time.Duration) time.Time {
		var last time.Time
		for end := time.Now().Add(d); time.Now().Before(end); time.Sleep(delay / 4) {
			activity <- struct{}{}
			last = time.Now()
		}
		return last
	}

	activity <- struct{}{}
	noRelease("before start-up was over", 3*delay)

	// A burst: one release, delay after its last signal.
	ready.Store(true)
	last := signal(maxWait / 2)
	select {
	case at := <-released:
		if d := at.Sub(last); d < delay {
			t.Errorf("released %v after the last signal, want %v of quiet first", d, delay)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("no release after a burst")
	}
	noRelease("twice for one burst", 3*delay)

	// Activity that never stops is released at least every maxWait.
	stop := make(chan struct{})
	go func() {
		for {
			select {
			case <-stop:
				return
			case activity <- struct{}{}:
				time.Sleep(delay / 4)
			}
		}
	}()
	select {
	case <-released:
	case <-time.After(5 * time.Second):
		t.Fatal("no release while activity went on")
	}
	close(stop)

	cancel()
	<-done
}

// The binary's pages leave the page cache once nothing maps them, and what
// runs afterwards reads them back.
func TestEvictBinaryCache(t *testing.T) {
	before := binaryCached(t)
	if _, err := dropBinaryPages(); err != nil {
		t.Fatal(err)
	}
	if err := evictBinaryCache(); err != nil {
		t.Fatal(err)
	}
	after := binaryCached(t)
	if after >= before {
		t.Fatalf("pages of the test binary in the page cache: %d before, %d after", before, after)
	}
	if got := strconv.Itoa(7) + strings.Repeat("y", 2); got != "7yy" {
		t.Fatalf("after evictBinaryCache: %q", got)
	}
}

// The running agent's first release evicts the binary from the page
// cache (start-up's work is over by then); later ones leave the cache.
func TestPeriodicReleaseEvictsOnce(t *testing.T) {
	release := periodicRelease(zaptest.NewLogger(t))
	for i, wantEvicted := range []bool{true, false} {
		// Read the whole binary: every page of it is cached.
		if _, err := os.ReadFile("/proc/self/exe"); err != nil {
			t.Fatal(err)
		}
		before := binaryCached(t)
		release()
		after := binaryCached(t)
		// Without eviction at most what the reads of the test since then
		// brought in changes; with it, most of the binary goes.
		if evicted := after < before/2; evicted != wantEvicted {
			t.Errorf("release %d: %d of the binary's pages cached before, %d after; want evicted %v", i+1, before, after, wantEvicted)
		}
	}
}

// binaryCached is how many pages of the running executable the page cache
// holds (mincore on a mapping of the whole file of its own).
func binaryCached(t *testing.T) int {
	t.Helper()
	f, err := os.Open("/proc/self/exe")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		t.Fatal(err)
	}
	m, err := unix.Mmap(int(f.Fd()), 0, int(st.Size()), unix.PROT_READ, unix.MAP_SHARED)
	if err != nil {
		t.Fatal(err)
	}
	defer unix.Munmap(m)
	vec := make([]byte, (len(m)+os.Getpagesize()-1)/os.Getpagesize())
	if _, _, errno := unix.Syscall(unix.SYS_MINCORE, uintptr(unsafe.Pointer(&m[0])), uintptr(len(m)), uintptr(unsafe.Pointer(&vec[0]))); errno != 0 {
		t.Fatal(errno)
	}
	n := 0
	for _, v := range vec {
		n += int(v & 1)
	}
	return n
}
