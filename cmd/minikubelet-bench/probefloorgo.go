package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"sync"
	"time"

	v1 "k8s.io/api/core/v1"

	"github.com/minikubelet/minikubelet/prober/probe"
)

// The Go floor: the same probes again, from the agent's own probe code
// (prober/probe, called as the agent's probe workers call it) in a Go
// process that does nothing else, with the runtime's defaults. Read
// against the raw floor it is the cost of the Go runtime and the probe
// library; read against the agent, the cost of the agent's machinery
// around them (workers, status, results, scheduling).

// probeFloorGoCommand, as the bench's first argument, makes the bench
// binary the Go floor's client (probeFloorGoMain).
const probeFloorGoCommand = "probe-floor-go"

// probeFloorGoSpec is what the bench hands the Go floor's client on its
// stdin: the probed container, whose readiness probe (httpGet) and
// liveness probe (tcpSocket) it runs against each pod IP, and the period
// to run them on. The timeout is each probe's own, as the agent's.
type probeFloorGoSpec struct {
	IPs       []string      `json:"ips"`
	Container v1.Container  `json:"container"`
	Period    time.Duration `json:"period"`
}

// probeFloorGoMain is the Go floor's client: it reads a probeFloorGoSpec
// from stdin and runs one goroutine per probe, as the agent runs a worker
// per probe, each on a ticker of the period started at its slot of the
// raw floor's grid (probeSlots). After every probe has run once it writes
// "ready" to stdout; once stdin is closed, each goroutine stops at its
// next tick and the client writes its probeFloorResult.
func probeFloorGoMain(stdin io.Reader, stdout io.Writer) int {
	var spec probeFloorGoSpec
	if err := json.NewDecoder(stdin).Decode(&spec); err != nil {
		fmt.Fprintln(os.Stderr, "probe-floor-go: reading the spec:", err)
		return 2
	}
	c := &spec.Container
	if c.ReadinessProbe == nil || c.ReadinessProbe.HTTPGet == nil || c.LivenessProbe == nil || c.LivenessProbe.TCPSocket == nil {
		fmt.Fprintln(os.Stderr, "probe-floor-go: the container needs an httpGet readiness and a tcpSocket liveness probe")
		return 2
	}
	prober := probe.NewHTTP() // one for all probes, as the agent's probe manager's
	slots := probeSlots(len(spec.IPs), spec.Period)
	results := make([]probeFloorResult, len(slots))
	stop := make(chan struct{})
	var first, done sync.WaitGroup
	first.Add(len(slots))
	done.Add(len(slots))
	start := time.Now()
	for i, s := range slots {
		p := c.LivenessProbe
		if s.HTTP {
			p = c.ReadinessProbe
		}
		go func() {
			defer done.Done()
			// The worker's context: cancelled when it stops.
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			time.Sleep(time.Until(start.Add(s.At)))
			t := time.NewTicker(spec.Period)
			defer t.Stop()
			res := &results[i]
			for n := 0; ; n++ {
				res.Probes++
				if r, out, err := goFloorProbe(ctx, prober, p, c, spec.IPs[s.Target]); err != nil || r != probe.Success {
					res.Failed++
					if res.FirstError == "" {
						res.FirstError = fmt.Sprintf("%s: %v %s %v", spec.IPs[s.Target], r, out, err)
					}
				}
				if n == 0 {
					first.Done()
				}
				select {
				case <-stop:
					return
				case <-t.C:
				}
			}
		}()
	}
	first.Wait()
	fmt.Fprintln(stdout, "ready")
	_, _ = io.Copy(io.Discard, stdin)
	close(stop)
	done.Wait()
	var res probeFloorResult
	for _, r := range results {
		res.Probes += r.Probes
		res.Failed += r.Failed
		if res.FirstError == "" {
			res.FirstError = r.FirstError
		}
	}
	if err := json.NewEncoder(stdout).Encode(res); err != nil {
		return 1
	}
	return 0
}

// goFloorProbe runs p against the container c at podIP as the agent's
// probe worker does (prober's runOnce, its httpGet and tcpSocket cases):
// the same calls, with the same arguments.
func goFloorProbe(ctx context.Context, prober *probe.HTTP, p *v1.Probe, c *v1.Container, podIP string) (probe.Result, string, error) {
	timeout := time.Duration(p.TimeoutSeconds) * time.Second
	if p.HTTPGet != nil {
		req, err := probe.NewHTTPRequest(ctx, p.HTTPGet, c, podIP, probeUserAgent)
		if err != nil {
			return probe.Unknown, "", err
		}
		return prober.Probe(req, timeout)
	}
	port, err := probe.ResolvePort(p.TCPSocket.Port, c)
	if err != nil {
		return probe.Unknown, "", err
	}
	host := p.TCPSocket.Host
	if host == "" {
		host = podIP
	}
	return probe.TCP(ctx, host, port, timeout)
}
