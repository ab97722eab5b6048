package main

import (
	"bytes"
	"context"
	"io"
	"os"
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
	return driveFloor(t, spec, func(stdin *os.File, stdout io.Writer) int { return probeFloorGoMain(stdin, stdout) })
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
	refused := refusedPort(t)
	res = runFloorGo(t, probeFloorGoSpec{IPs: []string{"127.0.0.1"}, Container: goFloorContainer(badPort, refused), Period: 50 * time.Millisecond})
	if res.Probes < 2 || res.Failed != res.Probes || !strings.Contains(res.FirstError, "503") {
		t.Errorf("got %+v, want every probe failed, the first on the 503", res)
	}
}
