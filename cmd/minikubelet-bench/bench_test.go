package main

import (
	"encoding/binary"
	"net"
	"os"
	"testing"
	"time"

	"golang.org/x/net/bpf"
	v1 "k8s.io/api/core/v1"

	"github.com/minikubelet/minikubelet/source"
)

func TestSummarize(t *testing.T) {
	ms := func(v ...int) []time.Duration {
		out := make([]time.Duration, len(v))
		for i, x := range v {
			out[i] = time.Duration(x) * time.Millisecond
		}
		return out
	}
	for _, tc := range []struct {
		name          string
		in            []time.Duration
		p50, p90, max time.Duration
	}{
		{"empty", nil, 0, 0, 0},
		{"one", ms(7), 7 * time.Millisecond, 7 * time.Millisecond, 7 * time.Millisecond},
		{"even count takes the middle mean", ms(4, 1, 3, 2), 2500 * time.Microsecond, 3700 * time.Microsecond, 4 * time.Millisecond},
		{"eleven", ms(10, 9, 8, 7, 6, 5, 4, 3, 2, 1, 0), 5 * time.Millisecond, 9 * time.Millisecond, 10 * time.Millisecond},
	} {
		t.Run(tc.name, func(t *testing.T) {
			d := summarize(tc.in)
			if d.P50 != tc.p50 || d.P90 != tc.p90 || d.Max != tc.max || d.N != len(tc.in) {
				t.Errorf("got %+v, want p50 %v p90 %v max %v", d, tc.p50, tc.p90, tc.max)
			}
		})
	}
}

func TestGridLateness(t *testing.T) {
	t0 := time.Unix(1000, 0)
	at := func(ms ...int) []time.Time {
		out := make([]time.Time, len(ms))
		for i, m := range ms {
			out[i] = t0.Add(time.Duration(m) * time.Millisecond)
		}
		return out
	}
	for _, tc := range []struct {
		name  string
		times []time.Time
		want  []int // ms
	}{
		{"on time", at(0, 1000, 2000), []int{0, 0, 0}},
		{"first late", at(3, 1000, 2001), []int{3, 0, 1}},
		{"skipped tick", at(0, 1002, 3000, 4005), []int{0, 2, 0, 5}},
		{"grid offset from the first", at(5, 1001, 2004), []int{4, 0, 3}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := gridLateness(tc.times, time.Second)
			if len(got) != len(tc.want) {
				t.Fatalf("got %v", got)
			}
			for i, w := range tc.want {
				if got[i] != time.Duration(w)*time.Millisecond {
					t.Errorf("event %d: got %v, want %d ms", i, got[i], w)
				}
			}
		})
	}
	if got := gridLateness(at(0), time.Second); got != nil {
		t.Errorf("one event: got %v, want none", got)
	}
}

func TestParseStatTimes(t *testing.T) {
	// A command name with spaces and a parenthesis, utime 250, stime 50.
	stat := "4242 (mini kubelet) x) S 1 4242 4242 0 -1 4194560 1000 0 0 0 250 50 0 0 20 0 12 0 100 1000000 2000 18446744073709551615 1 1 0 0 0 0 0 0 0 0 0 0 17 1 0 0 0 0 0\n"
	user, sys, err := parseStatTimes([]byte(stat))
	if err != nil {
		t.Fatal(err)
	}
	if user != 2500*time.Millisecond || sys != 500*time.Millisecond {
		t.Errorf("got user %v, sys %v; want 2.5s, 500ms", user, sys)
	}
	if _, _, err := parseStatTimes([]byte("4242 (short) S 1")); err == nil {
		t.Error("short line: want an error")
	}
}

func TestStatTicks(t *testing.T) {
	ppid, self, children, err := statTicks(os.Getpid())
	if err != nil {
		t.Fatal(err)
	}
	if ppid != os.Getppid() {
		t.Errorf("ppid %d, want %d", ppid, os.Getppid())
	}
	if self < 0 || children < 0 {
		t.Errorf("negative CPU: self %v, children %v", self, children)
	}
	if _, _, _, err := statTicks(-1); err == nil {
		t.Error("no error for a process that does not exist")
	}
	if ran, err := firstThreadRunTime(os.Getpid()); err != nil || ran <= 0 {
		t.Errorf("first thread's run time %v, %v; want > 0", ran, err)
	}
}

func TestStatusField(t *testing.T) {
	status := []byte("Name:\tminikubelet\nVmRSS:\t   31500 kB\nRssAnon:\t   10240 kB\nThreads:\t12\n")
	for key, want := range map[string]int64{"VmRSS:": 31500, "RssAnon:": 10240, "Threads:": 12} {
		if got, ok := statusField(status, key); !ok || got != want {
			t.Errorf("%s: got %d %v, want %d", key, got, ok, want)
		}
	}
	if _, ok := statusField(status, "VmSwap:"); ok {
		t.Error("absent key found")
	}
}

func TestChainGaps(t *testing.T) {
	t0 := time.Unix(1000, 0)
	ev := func(name string, start bool, ms int, exec string) taskEvent {
		return taskEvent{Container: name, Start: start, At: t0.Add(time.Duration(ms) * time.Millisecond), Exec: exec}
	}
	evs := []taskEvent{
		ev("init1", true, 0, ""),
		ev("init1", false, 10, ""),
		ev("init2", true, 40, ""),
		ev("init2", false, 45, "probe"), // an exec's exit does not end the container
		ev("init2", false, 50, ""),
		ev("app", true, 75, ""),
	}
	got := chainGaps(evs, []string{"init1", "init2", "app"}, func(e taskEvent) string { return e.Container })
	want := []time.Duration{30 * time.Millisecond, 25 * time.Millisecond}
	if len(got) != 2 || got[0] != want[0] || got[1] != want[1] {
		t.Errorf("got %v, want %v", got, want)
	}
}

// tcpPacket builds an IPv4/TCP header pair with the given flags.
func tcpPacket(src, dst string, sport, dport uint16, flags byte) []byte {
	p := make([]byte, 40)
	p[0] = 0x45 // version 4, 20-byte header
	p[9] = 6    // TCP
	copy(p[12:16], net.ParseIP(src).To4())
	copy(p[16:20], net.ParseIP(dst).To4())
	binary.BigEndian.PutUint16(p[20:22], sport)
	binary.BigEndian.PutUint16(p[22:24], dport)
	p[20+13] = flags
	return p
}

func TestCapturePackets(t *testing.T) {
	const syn, rst, ack = 0x02, 0x04, 0x10
	c := &synCapture{pending: map[flowKey]int{}}
	t0 := time.Unix(1000, 0)
	host, pod := "10.200.0.1", "10.200.0.5"
	// A probe that connects, one that is refused, and traffic that is not
	// a new connection from the host.
	c.packet(tcpPacket(host, pod, 40000, 80, syn), t0)
	c.packet(tcpPacket(pod, host, 80, 40000, syn|ack), t0.Add(time.Millisecond))
	c.packet(tcpPacket(host, pod, 40001, 81, syn), t0.Add(time.Second))
	c.packet(tcpPacket(pod, host, 81, 40001, rst|ack), t0.Add(time.Second+time.Millisecond))
	c.packet(tcpPacket(pod, host, 80, 40000, rst), t0.Add(2*time.Second)) // after SYN-ACK: not a refusal
	c.packet(tcpPacket(host, pod, 40000, 80, ack), t0.Add(2*time.Second))
	c.packet([]byte{0x60, 0, 0}, t0) // not IPv4

	got := c.since(0)
	if len(got) != 2 {
		t.Fatalf("got %d attempts, want 2: %+v", len(got), got)
	}
	if a := got[0]; a.Pod != pod || a.Port != 80 || a.Refused || !a.At.Equal(t0) {
		t.Errorf("first attempt: %+v", a)
	}
	if a := got[1]; a.Port != 81 || !a.Refused || !a.RefusedAt.Equal(t0.Add(time.Second+time.Millisecond)) {
		t.Errorf("second attempt: %+v", a)
	}
}

func TestConnectionFilter(t *testing.T) {
	const fin, syn, rst, psh, ack = 0x01, 0x02, 0x04, 0x08, 0x10
	vm, err := bpf.NewVM(connectionFilter())
	if err != nil {
		t.Fatal(err)
	}
	host, pod := "10.200.0.1", "10.200.0.5"
	withOptions := append(tcpPacket(host, pod, 40000, 80, 0), make([]byte, 4)...)
	withOptions[0] = 0x46 // a 24-byte IP header: the TCP header moves
	copy(withOptions[24:], withOptions[20:40])
	withOptions[24+13] = syn
	fragment := tcpPacket(host, pod, 40000, 80, syn)
	fragment[7] = 1 // offset 8: not the TCP header at all
	udp := tcpPacket(host, pod, 40000, 80, syn)
	udp[9] = 17
	ipv6 := tcpPacket(host, pod, 40000, 80, syn)
	ipv6[0] = 0x60
	// The program returns how much of a packet to keep, snapLen or 0 (the
	// kernel keeps at most the packet).
	for _, tc := range []struct {
		name string
		p    []byte
		want int
	}{
		{"SYN", tcpPacket(host, pod, 40000, 80, syn), snapLen},
		{"SYN-ACK", tcpPacket(pod, host, 80, 40000, syn|ack), snapLen},
		{"RST", tcpPacket(pod, host, 81, 40001, rst), snapLen},
		{"RST-ACK", tcpPacket(pod, host, 81, 40001, rst|ack), snapLen},
		{"SYN after IP options", withOptions, snapLen},
		{"ACK", tcpPacket(host, pod, 40000, 80, ack), 0},
		{"data", tcpPacket(host, pod, 40000, 80, psh|ack), 0},
		{"FIN", tcpPacket(host, pod, 40000, 80, fin|ack), 0},
		{"fragment", fragment, 0},
		{"UDP", udp, 0},
		{"IPv6", ipv6, 0},
	} {
		got, err := vm.Run(tc.p)
		if err != nil {
			t.Errorf("%s: %v", tc.name, err)
		} else if got != tc.want {
			t.Errorf("%s: filter keeps %d bytes, want %d", tc.name, got, tc.want)
		}
	}
}

func TestLeaked(t *testing.T) {
	before := map[string]int{"netns": 0, "fds": 20, "goroutines": 30}
	after := map[string]int{"netns": 2, "fds": 19, "goroutines": 31}
	if got := leaked(before, after); got != 3 {
		t.Errorf("got %d, want 3 (fewer fds do not offset more of others)", got)
	}
}

// The bench's manifests must be pods the agent accepts as they are.
func TestManifestsParse(t *testing.T) {
	pods := []*v1.Pod{idlePod("a"), initPod("b"), twoContainerPod("c"), readyPod("d"), probedPod("e"),
		crashPod("f"), livenessPod("g", "exec"), livenessPod("h", "tcp"), livenessPod("i", "http")}
	for _, p := range pods {
		o := source.Parse("/manifests/"+p.Name+".yaml", manifest(p), "benchnode")
		if len(o.Errors) > 0 || len(o.Skipped) > 0 || len(o.Services) > 0 || len(o.Pods) != 1 {
			t.Errorf("pod %s: %d pods, %d services, skipped %v, errors %v\n%s", p.Name, len(o.Pods), len(o.Services), o.Skipped, o.Errors, manifest(p))
		}
	}
}
