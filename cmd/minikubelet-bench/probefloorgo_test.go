package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net"
	"strings"
	"testing"
	"time"

	v1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
)

// runFloorGo runs probeFloorGoMain on spec until every probe has run once,
// and returns its result.
func runFloorGo(t *testing.T, spec probeFloorGoSpec) probeFloorResult {
	t.Helper()
	inR, inW := io.Pipe()
	outR, outW := io.Pipe()
	exit := make(chan int, 1)
	go func() {
		exit <- probeFloorGoMain(inR, outW)
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

// goFloorContainer is a container probed as probedPod's: an httpGet
// readiness and a tcpSocket liveness probe, here on loopback ports.
func goFloorContainer(httpPort, tcpPort int) v1.Container {
	c := v1.Container{Name: "app"}
	c.ReadinessProbe = &v1.Probe{ProbeHandler: v1.ProbeHandler{HTTPGet: &v1.HTTPGetAction{Path: "/", Port: intstr.FromInt32(int32(httpPort))}},
		PeriodSeconds: 1, TimeoutSeconds: 5}
	c.LivenessProbe = &v1.Probe{ProbeHandler: v1.ProbeHandler{TCPSocket: &v1.TCPSocketAction{Port: intstr.FromInt32(int32(tcpPort))}},
		PeriodSeconds: 1, TimeoutSeconds: 5}
	return c
}

func TestProbeFloorGoProbes(t *testing.T) {
	httpPort, requests := oneAnswerServer(t, "HTTP/1.1 200 OK\r\nContent-Length: 3\r\n\r\nok\n")
	tcpPort, _ := oneAnswerServer(t, "")
	c := goFloorContainer(httpPort, tcpPort)
	res := runFloorGo(t, probeFloorGoSpec{IPs: []string{"127.0.0.1", "127.0.0.1"}, Container: c, Period: 50 * time.Millisecond})
	if res.Probes < 4 || res.Failed != 0 {
		t.Errorf("got %+v, want at least a round of 4 probes, none failed", res)
	}
	// The agent's request, as the raw floor sends it.
	want, err := floorRequest(context.Background(), c.ReadinessProbe.HTTPGet, &c, "127.0.0.1")
	if err != nil {
		t.Fatal(err)
	}
	select {
	case got := <-requests:
		if !bytes.Equal(got, want) {
			t.Errorf("server got %q, want %q", got, want)
		}
	default:
		t.Error("the server got no request")
	}

	// A failing answer and a refused connection count as failed.
	badPort, _ := oneAnswerServer(t, "HTTP/1.1 503 Service Unavailable\r\nContent-Length: 0\r\n\r\n")
	l, err := net.Listen("tcp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	refused := l.Addr().(*net.TCPAddr).Port
	l.Close()
	res = runFloorGo(t, probeFloorGoSpec{IPs: []string{"127.0.0.1"}, Container: goFloorContainer(badPort, refused), Period: 50 * time.Millisecond})
	if res.Probes < 2 || res.Failed != res.Probes || !strings.Contains(res.FirstError, "503") {
		t.Errorf("got %+v, want every probe failed, the first on the 503", res)
	}
}
