package prober

import (
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"runtime"
	"strconv"
	"sync/atomic"
	"testing"
	"time"

	"go.uber.org/zap/zaptest"
	"google.golang.org/grpc"
	"google.golang.org/grpc/health"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	v1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/intstr"
)

// loopbackTargets starts an HTTP, a TCP and a gRPC health server on
// 127.0.0.1 and returns their ports and a counter of HTTP hits.
func loopbackTargets(t *testing.T) (httpPort, tcpPort, grpcPort int, hits *atomic.Int64) {
	t.Helper()
	hits = new(atomic.Int64)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hits.Add(1)
		fmt.Fprint(w, "ok")
	}))
	t.Cleanup(srv.Close)
	httpPort = srv.Listener.Addr().(*net.TCPAddr).Port

	tl, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { tl.Close() })
	go func() {
		for {
			c, err := tl.Accept()
			if err != nil {
				return
			}
			c.Close()
		}
	}()
	tcpPort = tl.Addr().(*net.TCPAddr).Port

	gl, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	gs := grpc.NewServer()
	hs := health.NewServer()
	healthpb.RegisterHealthServer(gs, hs)
	go func() { _ = gs.Serve(gl) }()
	t.Cleanup(gs.Stop)
	grpcPort = gl.Addr().(*net.TCPAddr).Port
	return httpPort, tcpPort, grpcPort, hits
}

// probePod is a pod whose container has an HTTP readiness probe on the
// named port "web", a TCP liveness probe and a gRPC startup probe, all
// every second, published as running on 127.0.0.1 and started.
func probePod(i, httpPort, tcpPort, grpcPort int) (*v1.Pod, *v1.Pod) {
	pod := &v1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: "p" + strconv.Itoa(i), Namespace: "default", UID: types.UID("uid-" + strconv.Itoa(i))},
		Spec: v1.PodSpec{
			RestartPolicy: v1.RestartPolicyAlways,
			Containers: []v1.Container{{
				Name:  "app",
				Ports: []v1.ContainerPort{{Name: "web", ContainerPort: int32(httpPort)}},
				ReadinessProbe: &v1.Probe{
					ProbeHandler:  v1.ProbeHandler{HTTPGet: &v1.HTTPGetAction{Path: "/ready", Port: intstr.FromString("web")}},
					PeriodSeconds: 1, TimeoutSeconds: 1, SuccessThreshold: 1, FailureThreshold: 3,
				},
				LivenessProbe: &v1.Probe{
					ProbeHandler:  v1.ProbeHandler{TCPSocket: &v1.TCPSocketAction{Port: intstr.FromInt32(int32(tcpPort))}},
					PeriodSeconds: 1, TimeoutSeconds: 1, SuccessThreshold: 1, FailureThreshold: 3,
				},
				StartupProbe: &v1.Probe{
					ProbeHandler:  v1.ProbeHandler{GRPC: &v1.GRPCAction{Port: int32(grpcPort)}},
					PeriodSeconds: 1, TimeoutSeconds: 1, SuccessThreshold: 1, FailureThreshold: 3,
				},
			}},
		},
	}
	return pod, running(pod, "containerd://"+strconv.Itoa(i)+"-a", time.Now().Add(-time.Minute), true)
}

// TestNoGoroutineLeak starts and stops many workers doing real probes
// against loopback servers, with container restarts in between, and checks
// the goroutine count returns to where it was.
func TestNoGoroutineLeak(t *testing.T) {
	if testing.Short() {
		t.Skip("runs real probes for a few seconds")
	}
	httpPort, tcpPort, grpcPort, hits := loopbackTargets(t)
	const pods = 60
	status := &fakeStatus{}
	var specs []*v1.Pod
	for i := range pods {
		pod, pub := probePod(i, httpPort, tcpPort, grpcPort)
		// Half the pods have not passed their startup probe yet, so gRPC
		// probes run too.
		if i%2 == 0 {
			started := false
			pub.Status.ContainerStatuses[0].Started = &started
		}
		status.set(pub)
		specs = append(specs, pod)
	}
	waitGoroutines := func(what string, want int) {
		t.Helper()
		deadline := time.Now().Add(15 * time.Second)
		for runtime.NumGoroutine() > want {
			if time.Now().After(deadline) {
				buf := make([]byte, 1<<20)
				t.Fatalf("%s: %d goroutines, want at most %d\n%s", what, runtime.NumGoroutine(), want, buf[:runtime.Stack(buf, true)])
			}
			time.Sleep(20 * time.Millisecond)
		}
	}
	baseline := runtime.NumGoroutine()

	for round := range 2 {
		m := NewManager(Options{
			Log: zaptest.NewLogger(t), Status: status, Recorder: &fakeRecorder{}, Exec: &fakeExec{},
			Version: "1.34", AgentStart: time.Now(),
		})
		for _, p := range specs {
			m.AddPod(p)
		}
		start := hits.Load()
		waitFor(t, "HTTP probes", func() bool { return hits.Load() >= start+pods/2 })
		// Restart every container: workers follow the new IDs.
		for i, p := range specs {
			status.update(p.UID, func(pub *v1.Pod) {
				pub.Status.ContainerStatuses[0].ContainerID = "containerd://" + strconv.Itoa(i) + "-b"
			})
		}
		waitFor(t, "probes of the new containers", func() bool {
			_, ok := m.Liveness("containerd://" + strconv.Itoa(pods-1) + "-b")
			return ok
		})
		if round == 0 {
			for _, p := range specs {
				m.RemovePod(p.UID)
			}
			waitFor(t, "workers to exit", func() bool { return m.workerCount() == 0 })
		}
		m.Stop()
		if n := m.liveness.len() + m.readiness.len() + m.startup.len(); n != 0 {
			t.Errorf("round %d: %d results left after all workers exited", round, n)
		}
		for i, p := range specs {
			status.update(p.UID, func(pub *v1.Pod) {
				pub.Status.ContainerStatuses[0].ContainerID = "containerd://" + strconv.Itoa(i) + "-a"
			})
		}
		waitGoroutines(fmt.Sprintf("round %d", round), baseline)
	}
}
