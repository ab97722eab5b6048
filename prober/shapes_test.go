package prober

import (
	"slices"
	"testing"

	v1 "k8s.io/api/core/v1"

	"github.com/minikubelet/minikubelet/internal/kuberules"
	"github.com/minikubelet/minikubelet/internal/podgen"
)

// TestAddPodEveryShape runs every valid arrangement of init containers,
// sidecars and app containers through AddPod, UpdatePodStatus and
// RemovePod. A sidecar's index among init containers once indexed
// spec.containers and took the agent down; here each shape must give
// exactly one worker per probe of each sidecar and app container, none for
// regular init containers, and leave none behind.
func TestAddPodEveryShape(t *testing.T) {
	h := newHarness(t)
	for _, pod := range podgen.Pods(podgen.Small) {
		shape := podgen.Describe(pod)
		var want []string
		expect := func(c *v1.Container) {
			for _, tp := range []ProbeType{Liveness, Readiness, Startup} {
				if probeOf(c, tp) != nil {
					want = append(want, c.Name+"/"+tp.String())
				}
			}
		}
		for i := range pod.Spec.InitContainers {
			if kuberules.IsSidecar(&pod.Spec.InitContainers[i]) {
				expect(&pod.Spec.InitContainers[i])
			}
		}
		for i := range pod.Spec.Containers {
			expect(&pod.Spec.Containers[i])
		}

		h.m.AddPod(pod)
		h.m.AddPod(pod)
		var got []string
		h.m.mu.Lock()
		for k, w := range h.m.workers {
			if k.podUID != pod.UID {
				continue
			}
			got = append(got, k.container+"/"+k.probeType.String())
			if w.container.Name != k.container {
				t.Errorf("%s: worker %v probes container %q", shape, k, w.container.Name)
			}
			if w.sidecar != (w.container.RestartPolicy != nil) {
				t.Errorf("%s: worker %v sidecar=%v", shape, k, w.sidecar)
			}
		}
		h.m.mu.Unlock()
		slices.Sort(got)
		slices.Sort(want)
		if !slices.Equal(got, want) {
			t.Fatalf("%s: workers %q, want %q", shape, got, want)
		}

		// Every container waiting, as a fresh pod publishes itself.
		status := v1.PodStatus{}
		for _, list := range []struct {
			specs []v1.Container
			out   *[]v1.ContainerStatus
		}{{pod.Spec.InitContainers, &status.InitContainerStatuses}, {pod.Spec.Containers, &status.ContainerStatuses}} {
			for _, c := range list.specs {
				*list.out = append(*list.out, v1.ContainerStatus{Name: c.Name, State: v1.ContainerState{Waiting: &v1.ContainerStateWaiting{Reason: "PodInitializing"}}})
			}
		}
		h.m.UpdatePodStatus(pod, &status)
		for _, cs := range append(status.InitContainerStatuses, status.ContainerStatuses...) {
			if cs.Started == nil || *cs.Started || cs.Ready {
				t.Fatalf("%s: waiting container %s has started=%v ready=%v", shape, cs.Name, cs.Started, cs.Ready)
			}
		}

		h.m.RemovePod(pod.UID)
		if n := h.m.workerCount(); n != 0 {
			t.Fatalf("%s: %d workers left after RemovePod", shape, n)
		}
	}
}
