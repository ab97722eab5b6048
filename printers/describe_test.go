package printers

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	v1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
)

// at is a wall-clock instant on the test day (now is 12:00:00 UTC).
func at(hms string) metav1.Time {
	t, err := time.Parse("2006-01-02 15:04:05", "2025-05-01 "+hms)
	if err != nil {
		panic(err)
	}
	return metav1.NewTime(t)
}

func kubeletEvent(typ, reason, msg string, count int32, first, last string) v1.Event {
	return v1.Event{
		Type: typ, Reason: reason, Message: msg, Count: count,
		FirstTimestamp: at(first), LastTimestamp: at(last),
		Source: v1.EventSource{Component: "kubelet", Host: "node1"},
	}
}

// webPod has an init container, probes of three kinds, a container that was
// restarted after a liveness failure, and two volumes.
func webPod() *v1.Pod {
	dir := v1.HostPathDirectory
	return &v1.Pod{
		ObjectMeta: metav1.ObjectMeta{
			Name: "web", Namespace: "default",
			CreationTimestamp: at("11:50:00"),
			Labels:            map[string]string{"tier": "frontend", "app": "web"},
			Annotations:       map[string]string{"kubernetes.io/config.source": "file"},
		},
		Spec: v1.PodSpec{
			NodeName: "node1",
			Priority: ptr(int32(0)),
			InitContainers: []v1.Container{{
				Name: "init-db", Image: "busybox:1.36",
				Command: []string{"sh", "-c", "until nslookup db; do sleep 1; done"},
			}},
			Containers: []v1.Container{{
				Name: "web", Image: "nginx:1.25",
				Ports: []v1.ContainerPort{{ContainerPort: 80, Protocol: v1.ProtocolTCP}},
				Resources: v1.ResourceRequirements{
					Requests: v1.ResourceList{"cpu": mustQuantity("100m"), "memory": mustQuantity("64Mi")},
					Limits:   v1.ResourceList{"memory": mustQuantity("128Mi")},
				},
				LivenessProbe: &v1.Probe{
					ProbeHandler:        v1.ProbeHandler{TCPSocket: &v1.TCPSocketAction{Port: intstr.FromInt32(80)}},
					InitialDelaySeconds: 1, TimeoutSeconds: 1, PeriodSeconds: 2, SuccessThreshold: 1, FailureThreshold: 3,
				},
				ReadinessProbe: &v1.Probe{
					ProbeHandler: v1.ProbeHandler{HTTPGet: &v1.HTTPGetAction{
						Path: "/hostname.html", Port: intstr.FromInt32(80), Scheme: v1.URISchemeHTTP,
					}},
					TimeoutSeconds: 1, PeriodSeconds: 10, SuccessThreshold: 1, FailureThreshold: 3,
				},
				StartupProbe: &v1.Probe{
					ProbeHandler:   v1.ProbeHandler{Exec: &v1.ExecAction{Command: []string{"cat", "/tmp/healthy"}}},
					TimeoutSeconds: 1, PeriodSeconds: 10, SuccessThreshold: 1, FailureThreshold: 30,
				},
				Env: []v1.EnvVar{
					{Name: "FOO", Value: "bar"},
					{Name: "POD_NAME", ValueFrom: &v1.EnvVarSource{FieldRef: &v1.ObjectFieldSelector{APIVersion: "v1", FieldPath: "metadata.name"}}},
					{Name: "POD_IP", ValueFrom: &v1.EnvVarSource{FieldRef: &v1.ObjectFieldSelector{APIVersion: "v1", FieldPath: "status.podIP"}}},
				},
				VolumeMounts: []v1.VolumeMount{
					{Name: "host", MountPath: "/var/log/host", ReadOnly: true},
					{Name: "cache", MountPath: "/cache"},
				},
			}},
			Volumes: []v1.Volume{
				{Name: "cache", VolumeSource: v1.VolumeSource{EmptyDir: &v1.EmptyDirVolumeSource{}}},
				{Name: "host", VolumeSource: v1.VolumeSource{HostPath: &v1.HostPathVolumeSource{Path: "/var/log", Type: &dir}}},
			},
		},
		Status: v1.PodStatus{
			Phase:     v1.PodRunning,
			HostIP:    "10.0.0.5",
			PodIP:     "10.244.0.7",
			PodIPs:    []v1.PodIP{{IP: "10.244.0.7"}},
			StartTime: ptr(at("11:50:00")),
			Conditions: []v1.PodCondition{
				cond("PodReadyToStartContainers", v1.ConditionTrue),
				cond(v1.PodInitialized, v1.ConditionTrue),
				cond(v1.PodReady, v1.ConditionTrue),
				cond(v1.ContainersReady, v1.ConditionTrue),
				cond(v1.PodScheduled, v1.ConditionTrue),
			},
			InitContainerStatuses: []v1.ContainerStatus{{
				Name: "init-db", ContainerID: "containerd://aaa", Image: "busybox:1.36",
				ImageID: "docker.io/library/busybox@sha256:bbb", Ready: true,
				State: v1.ContainerState{Terminated: &v1.ContainerStateTerminated{
					Reason: "Completed", StartedAt: at("11:50:02"), FinishedAt: at("11:50:05"),
				}},
			}},
			ContainerStatuses: []v1.ContainerStatus{{
				Name: "web", ContainerID: "containerd://ccc", Image: "nginx:1.25",
				ImageID: "docker.io/library/nginx@sha256:ddd", Ready: true, Started: ptr(true), RestartCount: 1,
				State: v1.ContainerState{Running: &v1.ContainerStateRunning{StartedAt: at("11:55:00")}},
				LastTerminationState: v1.ContainerState{Terminated: &v1.ContainerStateTerminated{
					Reason: "Error", ExitCode: 137, StartedAt: at("11:50:06"), FinishedAt: at("11:54:58"),
				}},
			}},
		},
	}
}

func webEvents() []v1.Event {
	// Out of order on purpose: describe sorts by last timestamp.
	return []v1.Event{
		kubeletEvent("Normal", "Started", "Started container web", 2, "11:50:06", "11:55:00"),
		kubeletEvent("Normal", "Pulled", `Container image "busybox:1.36" already present on machine`, 1, "11:50:01", "11:50:01"),
		kubeletEvent("Normal", "Created", "Created container: init-db", 1, "11:50:01", "11:50:01"),
		kubeletEvent("Normal", "Started", "Started container init-db", 1, "11:50:02", "11:50:02"),
		kubeletEvent("Warning", "Unhealthy", "Liveness probe failed: dial tcp 10.244.0.7:80: connect: connection refused\n", 3, "11:54:00", "11:54:56"),
		kubeletEvent("Normal", "Killing", "Container web failed liveness probe, will be restarted", 1, "11:54:56", "11:54:56"),
		kubeletEvent("Normal", "Pulled", `Container image "nginx:1.25" already present on machine`, 2, "11:50:06", "11:54:59"),
		kubeletEvent("Normal", "Created", "Created container: web", 2, "11:50:06", "11:54:59"),
	}
}

// soloPod is pending, unscheduled, being deleted, and has tolerations,
// multi-line annotations and named ports.
func soloPod() *v1.Pod {
	return &v1.Pod{
		ObjectMeta: metav1.ObjectMeta{
			Name: "solo", Namespace: "default",
			CreationTimestamp:          at("11:59:00"),
			DeletionTimestamp:          ptr(metav1.NewTime(now.Add(30 * time.Second))),
			DeletionGracePeriodSeconds: ptr(int64(30)),
			Annotations: map[string]string{
				"note":                         "line1\nline2\n",
				"a":                            "b",
				v1.LastAppliedConfigAnnotation: `{"kind":"Pod"}`,
			},
		},
		Spec: v1.PodSpec{
			Containers: []v1.Container{{
				Name: "app", Image: "busybox",
				Ports: []v1.ContainerPort{{Name: "dns", ContainerPort: 53, Protocol: v1.ProtocolUDP}, {ContainerPort: 8080}},
			}},
			NodeSelector: map[string]string{"disk": "ssd"},
			Tolerations: []v1.Toleration{
				{Key: "node.kubernetes.io/unreachable", Operator: v1.TolerationOpExists, Effect: v1.TaintEffectNoExecute, TolerationSeconds: ptr(int64(300))},
				{Key: "node.kubernetes.io/not-ready", Operator: v1.TolerationOpExists, Effect: v1.TaintEffectNoExecute, TolerationSeconds: ptr(int64(300))},
				{Operator: v1.TolerationOpExists},
			},
		},
		Status: v1.PodStatus{Phase: v1.PodPending},
	}
}

func TestDescribePod(t *testing.T) {
	tests := []struct {
		golden string
		pod    *v1.Pod
		events []v1.Event
	}{
		{"describe-web.txt", webPod(), webEvents()},
		{"describe-terminating.txt", soloPod(), nil},
	}
	for _, tt := range tests {
		t.Run(tt.golden, func(t *testing.T) {
			want, err := os.ReadFile(filepath.Join("testdata", tt.golden))
			if err != nil {
				t.Fatal(err)
			}
			before := tt.pod.DeepCopy()
			var buf bytes.Buffer
			if err := DescribePod(&buf, tt.pod, tt.events, now); err != nil {
				t.Fatal(err)
			}
			if got := buf.String(); got != string(want) {
				t.Errorf("describe differs from %s:\n%s", tt.golden, lineDiff(got, string(want)))
			}
			if !equality.Semantic.DeepEqual(tt.pod, before) {
				t.Errorf("DescribePod modified the pod:\n%s\n%s", tt.pod.String(), before.String())
			}
		})
	}
}

// lineDiff lists the lines that differ, with their numbers, quoted so that
// whitespace shows.
func lineDiff(got, want string) string {
	g, w := strings.Split(got, "\n"), strings.Split(want, "\n")
	var b strings.Builder
	for i := 0; i < len(g) || i < len(w); i++ {
		var gl, wl string
		if i < len(g) {
			gl = g[i]
		}
		if i < len(w) {
			wl = w[i]
		}
		if gl != wl {
			fmt.Fprintf(&b, "line %d:\n  got  %q\n  want %q\n", i+1, gl, wl)
		}
	}
	return b.String()
}

func TestDescribeProbe(t *testing.T) {
	attrs := "delay=5s timeout=2s period=10s #success=1 #failure=3"
	base := v1.Probe{InitialDelaySeconds: 5, TimeoutSeconds: 2, PeriodSeconds: 10, SuccessThreshold: 1, FailureThreshold: 3}
	with := func(h v1.ProbeHandler) *v1.Probe {
		p := base
		p.ProbeHandler = h
		return &p
	}
	tests := []struct {
		probe *v1.Probe
		want  string
	}{
		{with(v1.ProbeHandler{Exec: &v1.ExecAction{Command: []string{"cat", "/tmp/healthy"}}}), "exec [cat /tmp/healthy] " + attrs},
		{with(v1.ProbeHandler{HTTPGet: &v1.HTTPGetAction{Path: "/healthz", Port: intstr.FromInt32(8080), Scheme: v1.URISchemeHTTP}}), "http-get http://:8080/healthz " + attrs},
		{with(v1.ProbeHandler{HTTPGet: &v1.HTTPGetAction{Host: "10.0.0.1", Path: "/ready", Port: intstr.FromString("http"), Scheme: v1.URISchemeHTTPS}}), "http-get https://10.0.0.1:http/ready " + attrs},
		{with(v1.ProbeHandler{TCPSocket: &v1.TCPSocketAction{Port: intstr.FromInt32(80)}}), "tcp-socket :80 " + attrs},
		{with(v1.ProbeHandler{TCPSocket: &v1.TCPSocketAction{Host: "db", Port: intstr.FromString("pg")}}), "tcp-socket db:pg " + attrs},
		{with(v1.ProbeHandler{GRPC: &v1.GRPCAction{Port: 9090, Service: ptr("health")}}), "grpc <pod>:9090 health " + attrs},
		{with(v1.ProbeHandler{GRPC: &v1.GRPCAction{Port: 9090, Service: ptr("")}}), "grpc <pod>:9090  " + attrs},
		{with(v1.ProbeHandler{GRPC: &v1.GRPCAction{Port: 9090}}), "grpc <pod>:9090  " + attrs},
		{with(v1.ProbeHandler{}), "unknown " + attrs},
	}
	for _, tt := range tests {
		if got := DescribeProbe(tt.probe); got != tt.want {
			t.Errorf("DescribeProbe = %q, want %q", got, tt.want)
		}
	}
}

func TestDescribeEnvAndVolumes(t *testing.T) {
	pod := &v1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: "p", Namespace: "ns"},
		Spec: v1.PodSpec{
			Containers: []v1.Container{{
				Name: "c", Image: "img",
				Resources: v1.ResourceRequirements{Limits: v1.ResourceList{"cpu": mustQuantity("1500m")}},
				EnvFrom:   []v1.EnvFromSource{{ConfigMapRef: &v1.ConfigMapEnvSource{LocalObjectReference: v1.LocalObjectReference{Name: "cfg"}}, Prefix: "CFG_"}},
				Env: []v1.EnvVar{
					{Name: "MULTI", Value: "a\nb"},
					{Name: "NS", ValueFrom: &v1.EnvVarSource{FieldRef: &v1.ObjectFieldSelector{APIVersion: "v1", FieldPath: "metadata.namespace"}}},
					{Name: "CPU", ValueFrom: &v1.EnvVarSource{ResourceFieldRef: &v1.ResourceFieldSelector{Resource: "limits.cpu"}}},
					{Name: "MEM", ValueFrom: &v1.EnvVarSource{ResourceFieldRef: &v1.ResourceFieldSelector{Resource: "limits.memory"}}},
					{Name: "PW", ValueFrom: &v1.EnvVarSource{SecretKeyRef: &v1.SecretKeySelector{LocalObjectReference: v1.LocalObjectReference{Name: "s"}, Key: "k"}}},
				},
			}},
			Volumes: []v1.Volume{
				{Name: "cm", VolumeSource: v1.VolumeSource{ConfigMap: &v1.ConfigMapVolumeSource{LocalObjectReference: v1.LocalObjectReference{Name: "cfg"}, Optional: ptr(true)}}},
				{Name: "odd", VolumeSource: v1.VolumeSource{FlexVolume: &v1.FlexVolumeSource{Driver: "x"}}},
			},
		},
	}
	var buf bytes.Buffer
	if err := DescribePod(&buf, pod, nil, now); err != nil {
		t.Fatal(err)
	}
	out := buf.String()
	for _, want := range []string{
		"    Environment Variables from:\n      cfg  ConfigMap with prefix 'CFG_'  Optional: false\n",
		"      MULTI:  a\n              b\n",
		"      NS:     ns (v1:metadata.namespace)\n",
		"      CPU:    2 (limits.cpu)\n",
		"      MEM:    node allocatable (limits.memory)\n",
		"      PW:     <set to the key 'k' in secret 's'>  Optional: false\n",
		"    Type:      ConfigMap (a volume populated by a ConfigMap)\n    Name:      cfg\n    Optional:  true\n",
		"  odd:\n  <unknown>\n",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %q:\n%s", want, out)
		}
	}
}
