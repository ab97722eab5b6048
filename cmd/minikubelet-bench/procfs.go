package main

import (
	"bufio"
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"
)

// clockTicks is USER_HZ, the unit of utime and stime in /proc/<pid>/stat.
// It is 100 on every Linux architecture Go supports.
const clockTicks = 100

// procSample is what /proc says about one process at one moment.
type procSample struct {
	At      time.Time
	CPU     time.Duration // utime + stime since the process started
	User    time.Duration // of which utime: in the process's own code
	Sys     time.Duration // and stime: in the kernel on its behalf
	RSS     int64         // bytes (VmRSS)
	RSSAnon int64         // of which anonymous (heap, stacks)
	RSSFile int64         // of which file-backed (the binary's pages)
	Threads int
	FDs     int
}

// sampleProc reads /proc/<pid>/stat, status and fd.
func sampleProc(pid int) (procSample, error) {
	s := procSample{At: time.Now()}
	stat, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return s, err
	}
	if s.User, s.Sys, err = parseStatTimes(stat); err != nil {
		return s, fmt.Errorf("/proc/%d/stat: %w", pid, err)
	}
	s.CPU = s.User + s.Sys
	status, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return s, err
	}
	kb, _ := statusField(status, "VmRSS:")
	s.RSS = kb * 1024
	kb, _ = statusField(status, "RssAnon:")
	s.RSSAnon = kb * 1024
	kb, _ = statusField(status, "RssFile:")
	s.RSSFile = kb * 1024
	threads, _ := statusField(status, "Threads:")
	s.Threads = int(threads)
	fds, err := os.ReadDir(fmt.Sprintf("/proc/%d/fd", pid))
	if err != nil {
		return s, err
	}
	s.FDs = len(fds)
	return s, nil
}

// parseStatTimes returns utime and stime from the contents of
// /proc/<pid>/stat.
func parseStatTimes(stat []byte) (user, sys time.Duration, _ error) {
	v, err := statNumbers(stat, 14, 15)
	if err != nil {
		return 0, 0, err
	}
	return ticks(v[0]), ticks(v[1]), nil
}

// statNumbers parses the numeric fields of a /proc/<pid>/stat line named by
// their numbers in proc(5), from 3 on. The command name (field 2) may hold
// spaces and parentheses, so fields are counted from the last ')'.
func statNumbers(stat []byte, fields ...int) ([]int64, error) {
	i := bytes.LastIndexByte(stat, ')')
	if i < 0 {
		return nil, fmt.Errorf("malformed stat line")
	}
	f := strings.Fields(string(stat[i+1:])) // f[0] is field 3 (state)
	out := make([]int64, len(fields))
	for j, n := range fields {
		if n-3 >= len(f) {
			return nil, fmt.Errorf("malformed stat line: %d fields", len(f)+2)
		}
		v, err := strconv.ParseInt(f[n-3], 10, 64)
		if err != nil {
			return nil, fmt.Errorf("malformed stat line: field %d: %w", n, err)
		}
		out[j] = v
	}
	return out, nil
}

// ticks converts a count of clock ticks into a duration.
func ticks(n int64) time.Duration { return time.Duration(n) * time.Second / clockTicks }

// statusField returns the number after key in a /proc status-like file
// (units, such as kB, are dropped).
func statusField(data []byte, key string) (int64, bool) {
	sc := bufio.NewScanner(bytes.NewReader(data))
	for sc.Scan() {
		line := sc.Text()
		if !strings.HasPrefix(line, key) {
			continue
		}
		f := strings.Fields(line[len(key):])
		if len(f) == 0 {
			return 0, false
		}
		v, err := strconv.ParseInt(f[0], 10, 64)
		return v, err == nil
	}
	return 0, false
}

// pss is the process's proportional set size in bytes: its private pages
// plus its share of pages mapped by others (a static binary's text shared
// by many shims counts once in total). 0 when the process is gone.
func pss(pid int) int64 {
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/smaps_rollup", pid))
	if err != nil {
		return 0
	}
	kb, _ := statusField(data, "Pss:")
	return kb * 1024
}

// rss is the process's resident set in bytes, 0 when it is gone.
func rss(pid int) int64 {
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0
	}
	kb, _ := statusField(data, "VmRSS:")
	return kb * 1024
}

// shimPIDs lists the containerd-shim-runc-v2 processes serving namespace,
// found by their command line (-namespace <ns>).
func shimPIDs(namespace string) []int {
	var out []int
	dirs, _ := filepath.Glob("/proc/[0-9]*/cmdline")
	for _, p := range dirs {
		data, err := os.ReadFile(p)
		if err != nil || !bytes.Contains(data, []byte("containerd-shim")) {
			continue
		}
		args := strings.Split(strings.TrimRight(string(data), "\x00"), "\x00")
		for i := 0; i+1 < len(args); i++ {
			if args[i] == "-namespace" && args[i+1] == namespace {
				pid, _ := strconv.Atoi(filepath.Base(filepath.Dir(p)))
				out = append(out, pid)
				break
			}
		}
	}
	return out
}

// cpuPercent is the CPU a process used between two samples, in percent of
// one core.
func cpuPercent(a, b procSample) float64 {
	return percentOf(b.CPU-a.CPU, b.At.Sub(a.At))
}

// cpuSplit is cpuPercent's user and system parts.
func cpuSplit(a, b procSample) (user, sys float64) {
	wall := b.At.Sub(a.At)
	return percentOf(b.User-a.User, wall), percentOf(b.Sys-a.Sys, wall)
}

func percentOf(cpu, wall time.Duration) float64 {
	if wall <= 0 {
		return 0
	}
	return 100 * float64(cpu) / float64(wall)
}

// statTicks reads the clock-tick fields of /proc/<pid>/stat that
// runtimeCPU needs: the parent's PID, the process's own CPU (utime +
// stime) and that of the children it has waited for (cutime + cstime).
func statTicks(pid int) (ppid int, self, children time.Duration, _ error) {
	stat, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0, 0, 0, err
	}
	// ppid is field 4; utime, stime, cutime and cstime 14 to 17.
	v, err := statNumbers(stat, 4, 14, 15, 16, 17)
	if err != nil {
		return 0, 0, 0, fmt.Errorf("/proc/%d/stat: %w", pid, err)
	}
	return int(v[0]), ticks(v[1] + v[2]), ticks(v[3] + v[4]), nil
}

// runtimeCPU is what the running containers of a containerd namespace
// have cost below containerd so far: their shims, with the runc commands
// the shims ran and reaped (create, start), and the containers' first
// processes, whose CPU is runc's init setting the container up (joining
// namespaces, the mounts, the cgroup) before it runs the container's
// command, plus that command's own (nothing, for the bench's idle pods).
// Neither the agent's CPU nor containerd's holds these; the kernel's work
// for a container's mounts is in the second.
func runtimeCPU(namespace string) (shims, containers time.Duration) {
	shimSet := map[int]bool{}
	for _, pid := range shimPIDs(namespace) {
		_, self, children, err := statTicks(pid)
		if err != nil {
			continue // exited meanwhile
		}
		shimSet[pid] = true
		shims += self + children
	}
	paths, _ := filepath.Glob("/proc/[0-9]*/stat")
	for _, p := range paths {
		pid, err := strconv.Atoi(filepath.Base(filepath.Dir(p)))
		if err != nil {
			continue
		}
		if ppid, self, _, err := statTicks(pid); err == nil && shimSet[ppid] {
			// In clock ticks a container's few milliseconds of setup
			// round down to nothing; its first thread's run time is in
			// nanoseconds, and that thread runs runc's init (the mounts)
			// and then the command.
			if ns, err := firstThreadRunTime(pid); err == nil {
				self = ns
			}
			containers += self
		}
	}
	return shims, containers
}

// firstThreadRunTime is the time a process's first thread has spent on a
// CPU (/proc/<pid>/schedstat, in nanoseconds).
func firstThreadRunTime(pid int) (time.Duration, error) {
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/schedstat", pid))
	if err != nil {
		return 0, err
	}
	f := strings.Fields(string(data))
	if len(f) < 1 {
		return 0, fmt.Errorf("/proc/%d/schedstat: empty", pid)
	}
	ns, err := strconv.ParseInt(f[0], 10, 64)
	if err != nil {
		return 0, fmt.Errorf("/proc/%d/schedstat: %w", pid, err)
	}
	return time.Duration(ns), nil
}
