package prober

import (
	"bufio"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"go.uber.org/zap"
)

// benchServerEnv makes the test binary act as the probe targets of
// BenchmarkProbeWorkers, in a process of its own so that the agent's CPU is
// measured without the servers'.
const benchServerEnv = "PROBER_BENCH_SERVER"

func TestMain(m *testing.M) {
	if os.Getenv(benchServerEnv) == "1" {
		serveBenchTargets()
		return
	}
	os.Exit(m.Run())
}

// serveBenchTargets serves HTTP 200 and a TCP accept-and-close on loopback,
// prints "<httpPort> <tcpPort>", and exits when stdin closes (the parent
// went away).
func serveBenchTargets() {
	hl, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	tl, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	go func() {
		_ = http.Serve(hl, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { fmt.Fprint(w, "ok") }))
	}()
	go func() {
		for {
			c, err := tl.Accept()
			if err != nil {
				return
			}
			c.Close()
		}
	}()
	fmt.Printf("%d %d\n", hl.Addr().(*net.TCPAddr).Port, tl.Addr().(*net.TCPAddr).Port)
	_, _ = bufio.NewReader(os.Stdin).ReadString('\n')
}

// startBenchTargets runs serveBenchTargets in a child process.
func startBenchTargets(b *testing.B) (httpPort, tcpPort int) {
	b.Helper()
	self, err := os.Executable()
	if err != nil {
		b.Fatal(err)
	}
	cmd := exec.Command(self)
	cmd.Env = append(os.Environ(), benchServerEnv+"=1")
	cmd.Stderr = os.Stderr
	stdin, err := cmd.StdinPipe()
	if err != nil {
		b.Fatal(err)
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		b.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() {
		stdin.Close()
		_ = cmd.Wait()
	})
	line, err := bufio.NewReader(stdout).ReadString('\n')
	if err != nil {
		b.Fatalf("bench targets: %v", err)
	}
	if _, err := fmt.Sscanf(strings.TrimSpace(line), "%d %d", &httpPort, &tcpPort); err != nil {
		b.Fatalf("bench targets said %q: %v", line, err)
	}
	return httpPort, tcpPort
}

func cpuTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// BenchmarkProbeWorkers runs 100 containers, each with an HTTP readiness and
// a TCP liveness probe every second against loopback servers in another
// process. One iteration is one probe period. It reports the agent's CPU
// use, the probe rate, and how late probes start after they were due
// (p50/p99). It asserts nothing about time.
//
//	go test -run XXX -bench ProbeWorkers -benchtime 30x ./prober/
func BenchmarkProbeWorkers(b *testing.B) {
	const containers = 100
	httpPort, tcpPort := startBenchTargets(b)

	status := &fakeStatus{}
	rec := &fakeRecorder{}
	m := NewManager(Options{
		Log: zap.NewNop(), Status: status, Recorder: rec, Exec: &fakeExec{},
		Version: "1.34", AgentStart: time.Now(),
	})
	defer m.Stop()

	var (
		mu       sync.Mutex
		lateness []time.Duration
	)
	m.observe = func(_ probeKey, due time.Time) {
		late := time.Since(due)
		mu.Lock()
		lateness = append(lateness, late)
		mu.Unlock()
	}
	for i := range containers {
		pod, pub := probePod(i, httpPort, tcpPort, 0)
		pod.Spec.Containers[0].StartupProbe = nil
		status.set(pub)
		m.AddPod(pod)
	}

	// Let the start-up jitter spread the workers over one period, then
	// measure the steady state.
	time.Sleep(1100 * time.Millisecond)
	mu.Lock()
	lateness = lateness[:0]
	mu.Unlock()
	rec.take()
	cpu0, wall0 := cpuTime(), time.Now()
	b.ResetTimer()
	for range b.N {
		time.Sleep(time.Second)
	}
	b.StopTimer()
	cpu, wall := cpuTime()-cpu0, time.Since(wall0)

	mu.Lock()
	samples := slices.Clone(lateness)
	mu.Unlock()
	slices.Sort(samples)
	pct := func(p float64) float64 {
		if len(samples) == 0 {
			return 0
		}
		return float64(samples[int(p*float64(len(samples)-1))]) / float64(time.Millisecond)
	}
	b.ReportMetric(100*cpu.Seconds()/wall.Seconds(), "cpu-%")
	b.ReportMetric(float64(len(samples))/wall.Seconds(), "probes/s")
	b.ReportMetric(pct(0.50), "late-p50-ms")
	b.ReportMetric(pct(0.99), "late-p99-ms")
	b.ReportMetric(float64(len(rec.take())), "unhealthy-events")

	ready := 0
	for i := range containers {
		if r, _ := m.readiness.get("containerd://" + fmt.Sprint(i) + "-a"); r == Success {
			ready++
		}
	}
	if ready != containers {
		b.Errorf("%d of %d containers ready", ready, containers)
	}
}
