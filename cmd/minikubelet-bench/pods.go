package main

import (
	v1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	"sigs.k8s.io/yaml"
)

// The bench's containers are busybox shells that end at once on SIGTERM
// (a shell that is PID 1 ignores signals it has no trap for, and would sit
// out the whole grace period), so that deleting a pod measures the agent,
// not a timeout. They sleep without waking up.
const (
	idleScript = `trap 'exit 0' TERM; sleep 86400 & wait`
	// serveScript serves / on port 80 (HTTP probes) and 81 (TCP probes).
	serveScript = `mkdir -p /www && echo ok >/www/index.html && httpd -p 80 -h /www && httpd -p 81 -h /www; ` + idleScript
	// crashScript exits with an error shortly after starting.
	crashScript = `sleep 0.2; exit 1`
)

var idleCommand = []string{"sh", "-c", idleScript}

// floorApp is the floor's app container command: the agent's idle one.
var floorApp = idleCommand

func container(name string, command ...string) v1.Container {
	return v1.Container{Name: name, Image: busyboxRef, Command: command}
}

func pod(name string, containers ...v1.Container) *v1.Pod {
	return &v1.Pod{
		TypeMeta:   metav1.TypeMeta{APIVersion: "v1", Kind: "Pod"},
		ObjectMeta: metav1.ObjectMeta{Name: name, Labels: map[string]string{"app": "bench"}},
		Spec:       v1.PodSpec{Containers: containers},
	}
}

// idlePod has one container that waits for SIGTERM.
func idlePod(name string) *v1.Pod {
	return pod(name, container("app", idleCommand...))
}

// initPod runs two init containers that exit 0 at once, then the app.
func initPod(name string) *v1.Pod {
	p := idlePod(name)
	p.Spec.InitContainers = []v1.Container{container("init1", "true"), container("init2", "true")}
	return p
}

// twoContainerPod is the churn pod.
func twoContainerPod(name string) *v1.Pod {
	return pod(name, container("app", idleCommand...), container("sidecar", idleCommand...))
}

func httpProbe(port int) v1.ProbeHandler {
	return v1.ProbeHandler{HTTPGet: &v1.HTTPGetAction{Path: "/", Port: intstr.FromInt32(int32(port))}}
}

func tcpProbe(port int) v1.ProbeHandler {
	return v1.ProbeHandler{TCPSocket: &v1.TCPSocketAction{Port: intstr.FromInt32(int32(port))}}
}

// everySecond is a probe with a 1 s period and no initial delay.
func everySecond(h v1.ProbeHandler, failureThreshold int32) *v1.Probe {
	return &v1.Probe{ProbeHandler: h, PeriodSeconds: 1, TimeoutSeconds: 1, FailureThreshold: failureThreshold}
}

// readyPod serves HTTP and has an HTTP readiness probe (initialDelaySeconds 0).
func readyPod(name string) *v1.Pod {
	c := container("app", "sh", "-c", serveScript)
	c.ReadinessProbe = everySecond(httpProbe(80), 3)
	return pod(name, c)
}

// probedPod has a 1 s HTTP readiness probe and a 1 s TCP liveness probe.
func probedPod(name string) *v1.Pod {
	c := container("app", "sh", "-c", serveScript)
	c.ReadinessProbe = everySecond(httpProbe(80), 3)
	c.LivenessProbe = everySecond(tcpProbe(81), 3)
	return pod(name, c)
}

// crashPod's container fails shortly after every start.
func crashPod(name string) *v1.Pod {
	return pod(name, container("app", "sh", "-c", crashScript))
}

// livenessPod's container stops being healthy a moment after it starts: it
// removes the file its exec probe reads, or stops the server its TCP and
// HTTP probes connect to. The probe runs every second and fails the
// container at its first failure.
func livenessPod(name, kind string) *v1.Pod {
	script := `trap 'exit 0' TERM; touch /tmp/healthy; mkdir -p /www && echo ok >/www/index.html && httpd -p 80 -h /www; ` +
		`sleep 1.5; rm /tmp/healthy; killall httpd; sleep 86400 & wait`
	c := container("app", "sh", "-c", script)
	var h v1.ProbeHandler
	switch kind {
	case "exec":
		h = v1.ProbeHandler{Exec: &v1.ExecAction{Command: []string{"cat", "/tmp/healthy"}}}
	case "tcp":
		h = tcpProbe(80)
	default:
		h = httpProbe(80)
	}
	c.LivenessProbe = everySecond(h, 1)
	return pod(name, c)
}

// manifest renders a pod as the YAML a user would write.
func manifest(p *v1.Pod) []byte {
	b, err := yaml.Marshal(p)
	if err != nil {
		panic(err) // a v1.Pod always marshals
	}
	return b
}
