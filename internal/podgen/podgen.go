// Package podgen enumerates valid pod specs for table tests: every
// arrangement of regular init containers, native sidecars (init containers
// with restartPolicy Always) and app containers up to small sizes, with
// liveness, readiness and startup probes switched on and off, postStart and
// preStop hooks on sidecars and app containers, and an emptyDir volume
// mounted by some containers of every kind. It exists so
// that code indexing a pod's containers is tested against every shape a
// valid manifest can take, not against a few examples. Only tests import it.
package podgen

import (
	"fmt"
	"strings"

	v1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
)

// Limits bounds the enumeration. Apps ranges over 1..Apps (a pod needs one
// app container), Init and Sidecars over 0..their value.
type Limits struct {
	Init, Sidecars, Apps int
}

// Small is the size the project's tests use: 3 of each kind.
var Small = Limits{Init: 3, Sidecars: 3, Apps: 3}

// Probe kinds, as bits of a container's probe mask.
const (
	Liveness = 1 << iota
	Readiness
	Startup
	allMasks = 8
)

// Hook kinds, as bits of a container's hook mask.
const (
	PostStart = 1 << iota
	PreStop
	allHooks = 4
)

// scratch is the emptyDir every generated pod has.
const scratch = "scratch"

// Pods returns every pod within l: each interleaving of the regular init
// containers and sidecars, each number of app containers, and 16 probe
// patterns over the probe-capable containers (sidecars and apps): each of
// the 8 masks on all of them, and the 8 masks rotated so neighbours differ.
// Regular init containers never get probes or hooks, as API validation
// demands. Hooks (Hooks bits) and the mount of the pod's emptyDir "scratch"
// at /scratch rotate over the containers with the pod's index, so that
// every combination of them occurs beside every shape.
// Container names are init-N, side-N and app-N; pod names and UIDs are
// unique within one call.
func Pods(l Limits) []*v1.Pod {
	var out []*v1.Pod
	for r := 0; r <= l.Init; r++ {
		for s := 0; s <= l.Sidecars; s++ {
			for _, order := range interleavings(r, s) {
				for apps := 1; apps <= l.Apps; apps++ {
					for pattern := 0; pattern < 2*allMasks; pattern++ {
						out = append(out, build(len(out), order, apps, pattern))
					}
				}
			}
		}
	}
	return out
}

// interleavings returns every string of r 'I's and s 'S's.
func interleavings(r, s int) []string {
	if r == 0 && s == 0 {
		return []string{""}
	}
	var out []string
	if r > 0 {
		for _, rest := range interleavings(r-1, s) {
			out = append(out, "I"+rest)
		}
	}
	if s > 0 {
		for _, rest := range interleavings(r, s-1) {
			out = append(out, "S"+rest)
		}
	}
	return out
}

func build(n int, order string, apps, pattern int) *v1.Pod {
	always := v1.ContainerRestartPolicyAlways
	probed := 0 // index among probe-capable containers
	nextMask := func() int {
		m := pattern % allMasks
		if pattern >= allMasks {
			m = (m + probed) % allMasks
		}
		probed++
		return m
	}
	nth := 0 // index among all containers
	extras := func(c *v1.Container, hooks bool) {
		if hooks {
			c.Lifecycle = lifecycle((n + probed) % allHooks)
		}
		if (n+nth)%3 == 0 {
			c.VolumeMounts = []v1.VolumeMount{{Name: scratch, MountPath: "/" + scratch}}
		}
		nth++
	}
	pod := &v1.Pod{
		ObjectMeta: metav1.ObjectMeta{
			Name:      fmt.Sprintf("gen-%d", n),
			Namespace: "default",
			UID:       types.UID(fmt.Sprintf("gen-uid-%d", n)),
		},
		Spec: v1.PodSpec{
			RestartPolicy: v1.RestartPolicyAlways,
			Volumes:       []v1.Volume{{Name: scratch, VolumeSource: v1.VolumeSource{EmptyDir: &v1.EmptyDirVolumeSource{}}}},
		},
	}
	var inits, sides int
	for _, k := range order {
		if k == 'I' {
			c := container(fmt.Sprintf("init-%d", inits), 0)
			extras(&c, false)
			pod.Spec.InitContainers = append(pod.Spec.InitContainers, c)
			inits++
			continue
		}
		c := container(fmt.Sprintf("side-%d", sides), nextMask())
		extras(&c, true)
		c.RestartPolicy = &always
		pod.Spec.InitContainers = append(pod.Spec.InitContainers, c)
		sides++
	}
	for i := range apps {
		c := container(fmt.Sprintf("app-%d", i), nextMask())
		extras(&c, true)
		pod.Spec.Containers = append(pod.Spec.Containers, c)
	}
	pod.Annotations = map[string]string{"podgen/shape": Describe(pod)}
	return pod
}

// lifecycle is the hooks of a hook mask, nil for none.
func lifecycle(mask int) *v1.Lifecycle {
	if mask == 0 {
		return nil
	}
	l := &v1.Lifecycle{}
	if mask&PostStart != 0 {
		l.PostStart = &v1.LifecycleHandler{Exec: &v1.ExecAction{Command: []string{"true"}}}
	}
	if mask&PreStop != 0 {
		l.PreStop = &v1.LifecycleHandler{Exec: &v1.ExecAction{Command: []string{"true"}}}
	}
	return l
}

func container(name string, mask int) v1.Container {
	c := v1.Container{Name: name, Image: "busybox"}
	probe := func() *v1.Probe {
		return &v1.Probe{
			ProbeHandler:     v1.ProbeHandler{Exec: &v1.ExecAction{Command: []string{"true"}}},
			TimeoutSeconds:   1,
			PeriodSeconds:    10,
			SuccessThreshold: 1,
			FailureThreshold: 3,
		}
	}
	if mask&Liveness != 0 {
		c.LivenessProbe = probe()
	}
	if mask&Readiness != 0 {
		c.ReadinessProbe = probe()
	}
	if mask&Startup != 0 {
		c.StartupProbe = probe()
	}
	return c
}

// Describe writes a pod's shape compactly, for test failure messages:
// init containers in order as I (regular) or S (sidecar), then the app
// containers, each probe-capable one with its probes (l, r, s), e.g.
// "I S[ls] | A[r] A".
func Describe(pod *v1.Pod) string {
	var b strings.Builder
	word := func(kind string, c *v1.Container) {
		b.WriteString(kind)
		var p string
		if c.LivenessProbe != nil {
			p += "l"
		}
		if c.ReadinessProbe != nil {
			p += "r"
		}
		if c.StartupProbe != nil {
			p += "s"
		}
		if p != "" {
			b.WriteString("[" + p + "]")
		}
		b.WriteString(" ")
	}
	for i := range pod.Spec.InitContainers {
		c := &pod.Spec.InitContainers[i]
		if c.RestartPolicy != nil && *c.RestartPolicy == v1.ContainerRestartPolicyAlways {
			word("S", c)
		} else {
			word("I", c)
		}
	}
	b.WriteString("| ")
	for i := range pod.Spec.Containers {
		word("A", &pod.Spec.Containers[i])
	}
	return strings.TrimSpace(b.String())
}
