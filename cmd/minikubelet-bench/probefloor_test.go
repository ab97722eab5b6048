package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net"
	"os"
	goruntime "runtime"
	"strings"
	"testing"
	"time"

	v1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/util/intstr"

	"github.com/minikubelet/minikubelet/agent"
	"github.com/minikubelet/minikubelet/prober/probe"
)

func TestProbeUserAgentIsTheAgents(t *testing.T) {
	if want := "kube-probe/" + agent.KubeletVersion; probeUserAgent != want {
		t.Errorf("probeUserAgent %q, the agent sends %q", probeUserAgent, want)
	}
}

func TestProbeSlots(t *testing.T) {
	got := probeSlots(2, time.Second)
	want := []probeSlot{
		{0, 0, true}, {250 * time.Millisecond, 0, false},
		{500 * time.Millisecond, 1, true}, {750 * time.Millisecond, 1, false},
	}
	if len(got) != len(want) {
		t.Fatalf("got %v, want %v", got, want)
	}
	for i := range want {
		if got[i] != want[i] {
			t.Errorf("slot %d: got %+v, want %+v", i, got[i], want[i])
		}
	}
}

func TestAnswerDone(t *testing.T) {
	for _, tc := range []struct {
		name       string
		b          string
		eof        bool
		wantStatus int
		wantDone   bool
	}{
		{"status line only", "HTTP/1.1 200 OK\r\n", false, 200, false},
		{"header, body to come", "HTTP/1.1 200 OK\r\nContent-Length: 3\r\n\r\nok", false, 200, false},
		{"whole body", "HTTP/1.1 200 OK\r\ncontent-length:3\r\n\r\nok\n", false, 200, true},
		{"no length, open", "HTTP/1.0 404 Not Found\r\nServer: x\r\n\r\nnope", false, 404, false},
		{"no length, closed", "HTTP/1.0 404 Not Found\r\nServer: x\r\n\r\nnope", true, 404, true},
		{"closed early", "HTTP/1.1 2", true, 0, true},
		{"no reason phrase, closed", "HTTP/1.1 204", true, 204, true},
		{"not HTTP", "SSH-2.0-x\r\n\r\n", true, 0, true},
	} {
		status, done := answerDone([]byte(tc.b), tc.eof)
		if status != tc.wantStatus || done != tc.wantDone {
			t.Errorf("%s: got %d %v, want %d %v", tc.name, status, done, tc.wantStatus, tc.wantDone)
		}
	}
}

// oneAnswerServer answers every connection on a loopback port with answer
// after the request's header, and sends each request it read to requests.
func oneAnswerServer(t *testing.T, answer string) (int, <-chan []byte) {
	t.Helper()
	l, err := net.Listen("tcp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	requests := make(chan []byte, 100)
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				br := bufio.NewReader(c)
				var req bytes.Buffer
				for {
					line, err := br.ReadString('\n')
					req.WriteString(line)
					if err != nil || line == "\r\n" {
						break
					}
				}
				if req.Len() > 0 {
					select {
					case requests <- req.Bytes():
					default:
					}
				}
				_, _ = io.WriteString(c, answer)
			}()
		}
	}()
	return l.Addr().(*net.TCPAddr).Port, requests
}

// The floor sends the agent's HTTP probe request byte for byte.
func TestFloorRequestIsTheAgents(t *testing.T) {
	port, requests := oneAnswerServer(t, "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")
	c := &v1.Container{Name: "app"}
	action := &v1.HTTPGetAction{Path: "/healthz?x=1", Port: intstr.FromInt32(int32(port))}
	ctx := context.Background()
	req, err := probe.NewHTTPRequest(ctx, action, c, "127.0.0.1", probeUserAgent)
	if err != nil {
		t.Fatal(err)
	}
	if res, out, err := probe.NewHTTP().Probe(req, 5*time.Second); err != nil || res != probe.Success {
		t.Fatalf("agent's probe: %v %q %v", res, out, err)
	}
	agentSent := <-requests
	floorSends, err := floorRequest(ctx, action, c, "127.0.0.1")
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(agentSent, floorSends) {
		t.Errorf("the agent sent\n%q\nthe floor sends\n%q", agentSent, floorSends)
	}
	for _, h := range []string{"User-Agent: kube-probe/", "Accept: */*", "Connection: close"} {
		if !bytes.Contains(floorSends, []byte(h)) {
			t.Errorf("no %q in %q", h, floorSends)
		}
	}
}

// runFloor runs probeFloorMain on spec until it has done its first round
// and one more, and returns its result.
func runFloor(t *testing.T, spec probeFloorSpec) probeFloorResult {
	t.Helper()
	// The client holds its P while it waits in the kernel; the servers
	// need another one.
	defer goruntime.GOMAXPROCS(goruntime.GOMAXPROCS(max(2, goruntime.GOMAXPROCS(0))))
	return driveFloor(t, spec, probeFloorMain)
}

// driveFloor runs a floor client's main as the bench drives its child:
// spec on its stdin, "ready" on its stdout once every probe has run, then
// stdin closed and the result read.
func driveFloor(t *testing.T, spec any, main func(stdin *os.File, stdout io.Writer) int) probeFloorResult {
	t.Helper()
	inR, inW, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	defer inR.Close()
	outR, outW := io.Pipe()
	exit := make(chan int, 1)
	go func() {
		exit <- main(inR, outW)
		outW.Close()
	}()
	if err := json.NewEncoder(inW).Encode(spec); err != nil {
		t.Fatal(err)
	}
	br := bufio.NewReader(outR)
	if line, err := br.ReadString('\n'); err != nil || line != "ready\n" {
		t.Fatalf("got %q, %v; want ready", line, err)
	}
	inW.Close()
	var res probeFloorResult
	if err := json.NewDecoder(br).Decode(&res); err != nil {
		t.Fatal(err)
	}
	if code := <-exit; code != 0 {
		t.Errorf("exit code %d", code)
	}
	return res
}

func TestProbeFloorProbes(t *testing.T) {
	httpPort, requests := oneAnswerServer(t, "HTTP/1.1 200 OK\r\nContent-Length: 3\r\n\r\nok\n")
	tcpPort, _ := oneAnswerServer(t, "")
	req, err := floorRequest(context.Background(), &v1.HTTPGetAction{Path: "/", Port: intstr.FromInt32(int32(httpPort))}, &v1.Container{}, "127.0.0.1")
	if err != nil {
		t.Fatal(err)
	}
	target := floorTarget{IP: "127.0.0.1", HTTPPort: httpPort, Request: req, TCPPort: tcpPort}
	res := runFloor(t, probeFloorSpec{Targets: []floorTarget{target, target}, Period: 50 * time.Millisecond, Timeout: 5 * time.Second})
	if res.Probes < 4 || res.Failed != 0 {
		t.Errorf("got %+v, want at least a round of 4 probes, none failed", res)
	}
	if got := <-requests; !bytes.Equal(got, req) {
		t.Errorf("server got %q, want %q", got, req)
	}

	// A failing answer and a refused connection count as failed.
	badPort, _ := oneAnswerServer(t, "HTTP/1.1 503 Service Unavailable\r\nContent-Length: 0\r\n\r\n")
	refused := refusedPort(t)
	bad := floorTarget{IP: "127.0.0.1", HTTPPort: badPort, Request: req, TCPPort: refused}
	res = runFloor(t, probeFloorSpec{Targets: []floorTarget{bad}, Period: 50 * time.Millisecond, Timeout: 5 * time.Second})
	if res.Probes < 2 || res.Failed != res.Probes || !strings.Contains(res.FirstError, "503") {
		t.Errorf("got %+v, want every probe failed, the first on the 503", res)
	}
}

func TestProbeKernelNote(t *testing.T) {
	for _, tc := range []struct {
		agent, floor, floorSys, goFloor float64
		want                            string
	}{
		{11, 7, 6, 0, "miss is outside our code"},
		{11, 4.5, 4, 0, "the miss is the agent's own (6.50 above the floor)"},
		{11, 4.5, 4, 4.8, "the miss is the agent's own (6.50 above the floor)"},
		{16, 5, 3.9, 17.5, "the miss is the Go runtime's and the probe code's (12.50 above the floor); the agent is -1.50 above the Go floor"},
		{3, 2, 1.5, 2.5, "the agent is 1.00 above the floor"},
	} {
		r := &results{AgentCPUProbing: tc.agent, ProbeFloorCPU: tc.floor, ProbeFloorCPUSys: tc.floorSys, ProbeGoFloorCPU: tc.goFloor}
		if got := r.probeKernelNote(); !strings.Contains(got, tc.want) {
			t.Errorf("agent %v, floor %v (sys %v), Go floor %v: got %q, want it to say %q", tc.agent, tc.floor, tc.floorSys, tc.goFloor, got, tc.want)
		}
	}
}

// refusedPort is a loopback port nothing listens on.
func refusedPort(t *testing.T) int {
	t.Helper()
	l, err := net.Listen("tcp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}
