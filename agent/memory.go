package agent

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"os"
	"runtime/debug"
	"runtime/metrics"
	"strconv"
	"strings"
	"syscall"
	"time"

	"go.uber.org/zap"
	"golang.org/x/sys/unix"

	"github.com/minikubelet/minikubelet/internal/osthread"
)

// memoryReleaseDelay is how long the agent's pods must have been quiet
// (no status change, no resync) before it gives back what their work
// touched; memoryReleaseMaxWait bounds how long activity that never stops
// (a Deployment's rollouts, a flapping probe) can put the release off: a
// pod resync period (the kubelet's syncFrequency, a minute).
const (
	memoryReleaseDelay   = 5 * time.Second
	memoryReleaseMaxWait = time.Minute
)

// releaseAfter calls release once delay has passed without a signal on
// activity (at most maxWait after the first signal it waits on), once
// ready says start-up is over, until ctx ends. The agent signals at the
// end of start-up, after each pod resync (the work an idle agent does:
// with 100 pods it maps some 8 MiB of the binary back) and after each
// change of a pod's status. A burst of pod starts or terminations is so
// released seconds after it ends, not at the next resync: after 100 pods
// started, the first release found 5 to 9 MB to collect and shrank the
// stacks by 1 to 2 MB (three collections, 50 to 70 ms of CPU); one after
// an idle minute finds under 200 KB and skips the collection
// (BENCHMARKS.md, "Agent memory after a burst"). Starting a pod runs code
// no idle pod runs again (the containerd client's protobuf and gRPC paths,
// the OCI spec, CNI): with 20 pods started and gone the binary's mapped
// pages were back at 21 MiB. What the agent keeps running faults back in
// at a few minor faults per 64 KiB.
func releaseAfter(ctx context.Context, activity <-chan struct{}, delay, maxWait time.Duration, ready func() bool, release func()) {
	for {
		select {
		case <-ctx.Done():
			return
		case <-activity:
		}
		deadline := time.Now().Add(maxWait)
		quiet := time.NewTimer(delay)
	wait:
		for {
			select {
			case <-ctx.Done():
				quiet.Stop()
				return
			case <-activity:
				quiet.Reset(min(delay, time.Until(deadline)))
			case <-quiet.C:
				break wait
			}
		}
		if ready() {
			release()
		}
	}
}

// periodicRelease is releaseAfter's release in the running agent. The
// first one, after start-up's work (the adoption of the running pods
// included), also evicts the binary from the page cache. Done at start-up
// itself, with the adoption still to come, every page that work ran was
// then read from the disk a page at a time: an agent restart under 100
// pods took 595 ms to full status, against 400 before the eviction.
func periodicRelease(log *zap.Logger) func() {
	evicted := false
	return func() {
		releaseMemory(log, releasableHeap() >= minHeapRelease, !evicted)
		evicted = true
	}
}

// releaseMemory hands back to the kernel the memory a burst of work used
// and the running agent does not: the free heap it left behind (at
// start-up: package initialisation, the image import, certificates) and
// the mappings of the pages of the agent's own binary it touched. A 35 MB static
// binary whose package initialisers run all over it otherwise keeps some
// 25 MiB of its pages mapped for good (the kernel maps 64 KiB around each
// page fault); after this the mapping holds only what the agent executes
// and reads from then on, faulted back in from the page cache (see
// BENCHMARKS.md, "Agent memory"). The heap is collected (freeHeap) only
// when collect is set; with evict the binary's page cache goes too
// (evictBinaryCache).
func releaseMemory(log *zap.Logger, collect, evict bool) {
	// First, so that the stacks of the threads it ends are freed with the
	// rest.
	ended, err := osthread.EndIdle(keptThreads)
	if err != nil {
		log.Warn("end idle threads", zap.Error(err))
	}
	if collect {
		freeHeap()
	}
	dropped, err := dropBinaryPages()
	if err != nil {
		log.Warn("release the pages of the agent's binary", zap.Error(err))
		return
	}
	if evict {
		if err := evictBinaryCache(); err != nil {
			log.Warn("evict the agent's binary from the page cache", zap.Error(err))
		}
	}
	log.Debug("released memory", zap.Bool("heap", collect), zap.Bool("evicted", evict), zap.Int("binaryMappings", dropped), zap.Int("threadsEnded", ended))
}

// minHeapRelease is the least heap a periodic release collects for
// (releasableHeap). An agent whose pods are idle allocates little between
// two releases; a forced collection then marks the whole live heap (about
// 10 ms of CPU with 100 pods) to hand back next to nothing.
const minHeapRelease = 1 << 20

// releasableHeap is what a collection and freeHeap would give back: the
// heap allocated since the last collection beyond what it found live (the
// garbage, an upper bound), and the free heap the runtime keeps mapped.
func releasableHeap() uint64 {
	s := []metrics.Sample{
		{Name: "/memory/classes/heap/objects:bytes"},
		{Name: "/gc/heap/live:bytes"},
		{Name: "/memory/classes/heap/free:bytes"},
	}
	metrics.Read(s)
	var v [3]uint64
	for i := range s {
		if s[i].Value.Kind() != metrics.KindUint64 {
			return minHeapRelease // unknown: release
		}
		v[i] = s[i].Value.Uint64()
	}
	objects, live, free := v[0], v[1], v[2]
	return objects - min(live, objects) + free
}

// maxStackShrinks bounds the extra collections freeHeap runs to shrink
// goroutine stacks: one from 64 KiB down to 4 KiB takes four.
const maxStackShrinks = 4

// freeHeap collects and returns the free heap to the kernel, and collects
// again while that shrinks the goroutines' stacks. A goroutine's stack
// grows to what its deepest call needed (a pod worker's start of a pod
// runs the containerd client, CNI and the OCI spec: 32 to 64 KiB) and a
// collection halves it at most, once at least three quarters are unused.
// An idle agent collects once a minute here and seldom otherwise, so after
// 100 pods started their workers, parked in a select that needs a few
// hundred bytes, kept their grown stacks for minutes. In the steady state
// the first collection shrinks nothing and is the only one.
func freeHeap() {
	stacks := stackBytes()
	debug.FreeOSMemory()
	for range maxStackShrinks {
		now := stackBytes()
		if now >= stacks {
			return
		}
		stacks = now
		debug.FreeOSMemory()
	}
}

// stackBytes is the memory the goroutines' stacks hold.
func stackBytes() uint64 {
	s := []metrics.Sample{{Name: "/memory/classes/heap/stacks:bytes"}}
	metrics.Read(s)
	if s[0].Value.Kind() != metrics.KindUint64 {
		return 0
	}
	return s[0].Value.Uint64()
}

// keptThreads is how many OS threads releaseMemory leaves: enough for the
// Ps (GOMAXPROCS, the cores), sysmon, the runtime's template thread and a
// few system calls that block at a time. The runtime starts more when they
// are needed.
const keptThreads = 8

// dropBinaryPages unmaps the resident pages of the read-only mappings of
// the running executable (text, read-only data, the pcln table) with
// MADV_DONTNEED: they stay in the page cache, and a later access maps the
// page again from there, with the same bytes. That holds only for a
// mapping none of whose pages was ever written: writable mappings (data,
// bss) are left alone, and so is any read-only mapping holding anonymous
// pages, such as the RELRO segment of a PIE or cgo-linked binary, which
// the dynamic loader relocated before making it read-only; dropping those
// pages brings back the unrelocated bytes of the file (a cgo-linked test
// binary crashed calling a nil function pointer). It returns how many
// mappings it released.
func dropBinaryPages() (int, error) {
	var st syscall.Stat_t
	if err := syscall.Stat("/proc/self/exe", &st); err != nil {
		return 0, fmt.Errorf("stat /proc/self/exe: %w", err)
	}
	smaps, err := os.ReadFile("/proc/self/smaps")
	if err != nil {
		return 0, err
	}
	clean, err := cleanReadOnlyMappings(smaps, st.Dev, st.Ino)
	if err != nil {
		return 0, err
	}
	for i, m := range clean {
		// MADV_RANDOM first: no readahead for the faults that follow
		// (evictBinaryCache says why).
		for _, advice := range []uintptr{unix.MADV_RANDOM, unix.MADV_DONTNEED} {
			if _, _, errno := unix.Syscall(unix.SYS_MADVISE, m[0], m[1]-m[0], advice); errno != 0 {
				return i, fmt.Errorf("madvise(%d) %x-%x: %w", advice, m[0], m[1], errno)
			}
		}
	}
	return len(clean), nil
}

// evictBinaryCache drops the pages of the agent's binary that nothing
// maps from the page cache. A page fault on a file maps, with the page it
// needs, the cached pages around it (the kernel's fault-around, 64 KiB):
// with the whole binary cached, as go build or cp leave it and exec's
// readahead reads it, each fault maps 16 pages. 100 reads scattered over
// the 36 MB binary mapped 6 MB of it while it was cached and 0.45 MB once
// it was not; under the bench's 100 pods the agent's mapped pages of the
// binary while pods started went from 18-20 to 13.5 MiB (BENCHMARKS.md,
// "Agent memory after the resync"). The MADV_RANDOM of dropBinaryPages
// keeps a miss from reading ahead, so the cache then holds what the agent
// ran. Called once, after dropBinaryPages unmapped the read-only pages;
// later releases only unmap.
func evictBinaryCache() error {
	f, err := os.Open("/proc/self/exe")
	if err != nil {
		return err
	}
	defer f.Close()
	// Dirty pages stay cached: a binary written moments ago (a fresh
	// build) is written out first. Best effort: where that fails, the
	// clean pages still go.
	_ = unix.Fdatasync(int(f.Fd()))
	if err := unix.Fadvise(int(f.Fd()), 0, 0, unix.FADV_DONTNEED); err != nil {
		return fmt.Errorf("fadvise %s: %w", f.Name(), err)
	}
	return nil
}

// cleanReadOnlyMappings returns the ranges of the read-only mappings of
// the file dev/ino in a /proc/<pid>/smaps text that hold no anonymous
// (copy-on-write) page, neither resident nor swapped out: a swapped
// copy-on-write page counts under Swap, not Anonymous, and dropping it
// would lose it just the same.
func cleanReadOnlyMappings(smaps []byte, dev, ino uint64) ([][2]uintptr, error) {
	var clean [][2]uintptr
	var cur *[2]uintptr // the file's read-only mapping being read, if any
	// What smaps says of cur: no anonymous page, and none swapped out.
	noAnon, swapped := false, false
	done := func() {
		if cur != nil && noAnon && !swapped {
			clean = append(clean, *cur)
		}
	}
	sc := bufio.NewScanner(bytes.NewReader(smaps))
	for sc.Scan() {
		line := sc.Text()
		if k, v, ok := strings.Cut(line, ":"); ok && !strings.Contains(k, " ") {
			switch k {
			case "Anonymous":
				noAnon = strings.TrimSpace(v) == "0 kB"
			case "Swap":
				swapped = strings.TrimSpace(v) != "0 kB"
			}
			continue
		}
		done()
		cur, noAnon, swapped = nil, false, false
		if start, end, ok := readOnlyMappingOf(line, dev, ino); ok {
			cur = &[2]uintptr{start, end}
		}
	}
	done()
	return clean, sc.Err()
}

// readOnlyMappingOf parses one line of /proc/<pid>/maps ("start-end perms
// offset major:minor inode path") and reports the mapping's range if it
// maps the file dev/ino without write permission.
func readOnlyMappingOf(line string, dev, ino uint64) (start, end uintptr, ok bool) {
	f := strings.Fields(line)
	if len(f) < 6 || f[1][1] == 'w' {
		return 0, 0, false
	}
	if n, err := strconv.ParseUint(f[4], 10, 64); err != nil || n != ino {
		return 0, 0, false
	}
	major, minor, found := strings.Cut(f[3], ":")
	maj, err1 := strconv.ParseUint(major, 16, 32)
	min, err2 := strconv.ParseUint(minor, 16, 32)
	if !found || err1 != nil || err2 != nil || unix.Mkdev(uint32(maj), uint32(min)) != dev {
		return 0, 0, false
	}
	lo, hi, found := strings.Cut(f[0], "-")
	s, err1 := strconv.ParseUint(lo, 16, 64)
	e, err2 := strconv.ParseUint(hi, 16, 64)
	if !found || err1 != nil || err2 != nil || e <= s {
		return 0, 0, false
	}
	return uintptr(s), uintptr(e), true
}
