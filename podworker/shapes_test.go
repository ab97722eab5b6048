package podworker

import (
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"go.uber.org/zap"
	v1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/types"

	"github.com/minikubelet/minikubelet/internal/kuberules"
	"github.com/minikubelet/minikubelet/internal/podgen"
	"github.com/minikubelet/minikubelet/prober"
	"github.com/minikubelet/minikubelet/runtime"
)

// startedView is a probe view where nothing fails and a running container
// counts as started when it has no startup probe, or when every startup
// probe passed (started true).
type startedView bool

func (startedView) Failed(string) string { return "" }
func (v startedView) Started(c *v1.Container, _ string) bool {
	return bool(v) || c.StartupProbe == nil
}

// noPublishedPods keeps the prober's workers idle: no pod is ever published.
type noPublishedPods struct{}

func (noPublishedPods) Peek(types.UID) (*v1.Pod, bool) { return nil, false }

type nopRecorder struct{}

func (nopRecorder) Event(*v1.ObjectReference, string, string, string) {}

// shapeWorld is containerd as computePodActions sees it, advanced by hand.
type shapeWorld struct {
	t     *testing.T
	pod   *v1.Pod
	shape string
	ps    runtime.PodState
	seq   int
	clock time.Time
}

func (w *shapeWorld) tick() time.Time {
	w.clock = w.clock.Add(time.Second)
	return w.clock
}

// start adds a running instance of c, newest first, as the runtime lists them.
func (w *shapeWorld) start(c *v1.Container, kind runtime.ContainerKind) {
	w.seq++
	var restarts int32
	if prev := latest(&w.ps, c.Name); prev != nil {
		restarts = prev.RestartCount + 1
	}
	now := w.tick()
	ctr := runtime.Container{ID: fmt.Sprintf("%s-%d", c.Name, w.seq), Name: c.Name, Kind: kind, State: runtime.StateRunning,
		RestartCount: restarts, CreatedAt: now, StartedAt: now, SandboxID: w.ps.Sandboxes[0].ID}
	w.ps.Containers = append([]runtime.Container{ctr}, w.ps.Containers...)
}

// exit ends every running instance for which which returns true.
func (w *shapeWorld) exit(code int32, which func(*runtime.Container) bool) {
	for i := range w.ps.Containers {
		c := &w.ps.Containers[i]
		if c.State == runtime.StateRunning && which(c) {
			c.State, c.ExitCode, c.FinishedAt = runtime.StateExited, code, w.tick()
		}
	}
}

// apply carries out acts the way the worker's sync does, minus the side
// effects: a new sandbox, kills, then the starts.
func (w *shapeWorld) apply(acts podActions) {
	if acts.KillPod {
		w.exit(137, func(*runtime.Container) bool { return true })
		for i := range w.ps.Sandboxes {
			w.ps.Sandboxes[i].Ready = false
		}
	}
	if acts.CreateSandbox {
		w.seq++
		sb := runtime.Sandbox{ID: fmt.Sprintf("sb-%d", w.seq), Ready: true, IPs: []string{"10.0.0.2"}, Attempt: acts.Attempt, CreatedAt: w.tick()}
		w.ps.Sandboxes = append([]runtime.Sandbox{sb}, w.ps.Sandboxes...)
	}
	w.exit(137, func(c *runtime.Container) bool { _, ok := acts.ContainersToKill[c.ID]; return ok })
	for _, i := range acts.InitContainersToStart {
		w.start(&w.pod.Spec.InitContainers[i], runtime.KindInit)
	}
	for _, i := range acts.ContainersToStart {
		w.start(&w.pod.Spec.Containers[i], runtime.KindApp)
	}
}

// decide runs computePodActions and checks what holds for any decision:
// indexes in range, no container started twice, kills only of instances
// that exist.
func (w *shapeWorld) decide(probes probeView) podActions {
	w.t.Helper()
	acts := computePodActions(w.pod, &w.ps, probes)
	seenInit := map[int]bool{}
	for _, i := range acts.InitContainersToStart {
		if i < 0 || i >= len(w.pod.Spec.InitContainers) || seenInit[i] {
			w.t.Fatalf("%s: InitContainersToStart %v invalid", w.shape, acts.InitContainersToStart)
		}
		seenInit[i] = true
	}
	seen := map[int]bool{}
	for _, i := range acts.ContainersToStart {
		if i < 0 || i >= len(w.pod.Spec.Containers) || seen[i] {
			w.t.Fatalf("%s: ContainersToStart %v invalid", w.shape, acts.ContainersToStart)
		}
		seen[i] = true
	}
	for id := range acts.ContainersToKill {
		if !slices.ContainsFunc(w.ps.Containers, func(c runtime.Container) bool { return c.ID == id }) {
			w.t.Fatalf("%s: kills unknown container %s", w.shape, id)
		}
	}
	return acts
}

// publish builds the pod's status as the worker does and checks its shape:
// one status per container, in spec order, and the five conditions.
func (w *shapeWorld) publish(pr Prober) v1.PodStatus {
	w.t.Helper()
	initSt, appSt := containerStatuses(w.pod, &w.ps, nil)
	st := v1.PodStatus{InitContainerStatuses: initSt, ContainerStatuses: appSt}
	pr.UpdatePodStatus(w.pod, &st)
	names := func(cs []v1.ContainerStatus) (out []string) {
		for _, c := range cs {
			out = append(out, c.Name)
		}
		return out
	}
	specNames := func(cs []v1.Container) (out []string) {
		for _, c := range cs {
			out = append(out, c.Name)
		}
		return out
	}
	if !slices.Equal(names(st.InitContainerStatuses), specNames(w.pod.Spec.InitContainers)) ||
		!slices.Equal(names(st.ContainerStatuses), specNames(w.pod.Spec.Containers)) {
		w.t.Fatalf("%s: statuses %v / %v do not follow the spec", w.shape, names(st.InitContainerStatuses), names(st.ContainerStatuses))
	}
	st.Phase = podPhase(&w.pod.Spec, st.InitContainerStatuses, st.ContainerStatuses)
	changed, _ := sandboxChanged(&w.ps)
	st.Conditions = podConditions(w.pod, st.Phase, !changed, st.InitContainerStatuses, st.ContainerStatuses)
	if len(st.Conditions) != 5 {
		w.t.Fatalf("%s: %d conditions", w.shape, len(st.Conditions))
	}
	return st
}

// clone copies the world for another ending, with a new pod spec.
func (w *shapeWorld) clone(pod *v1.Pod, shape string) *shapeWorld {
	c := *w
	c.pod, c.shape = pod, shape
	c.ps.Sandboxes = slices.Clone(w.ps.Sandboxes)
	c.ps.Containers = slices.Clone(w.ps.Containers)
	return &c
}

func (w *shapeWorld) running(name string) bool {
	c := latest(&w.ps, name)
	return c != nil && c.State == runtime.StateRunning
}

// startUp syncs until nothing more starts, finishing each regular init
// container with exit 0 as soon as it runs. It checks the init order on
// the way and returns the names started, in order.
func (w *shapeWorld) startUp(pr Prober, probes probeView) []string {
	w.t.Helper()
	var started []string
	for step := 0; step < len(w.pod.Spec.InitContainers)+3; step++ {
		before := len(w.ps.Containers)
		acts := w.decide(probes)
		if len(acts.InitContainersToStart) > 1 {
			w.t.Fatalf("%s: init containers %v start together", w.shape, acts.InitContainersToStart)
		}
		for _, i := range acts.InitContainersToStart {
			// The next init container is the first one never started, and
			// every one before it is done: exited 0, or a running sidecar.
			for j, c := range w.pod.Spec.InitContainers {
				inst := latest(&w.ps, c.Name)
				if j < i && (inst == nil || (!kuberules.IsSidecar(&c) && inst.ExitCode != 0) || (kuberules.IsSidecar(&c) && inst.State != runtime.StateRunning)) {
					w.t.Fatalf("%s: init %d started before init %d is done", w.shape, i, j)
				}
				if j >= i && inst != nil {
					w.t.Fatalf("%s: init %d started again, or after init %d", w.shape, i, j)
				}
			}
			if len(acts.ContainersToStart) > 0 {
				w.t.Fatalf("%s: app containers start with init %d", w.shape, i)
			}
			started = append(started, w.pod.Spec.InitContainers[i].Name)
		}
		if len(acts.ContainersToStart) > 0 {
			for _, c := range w.pod.Spec.InitContainers {
				if latest(&w.ps, c.Name) == nil {
					w.t.Fatalf("%s: app containers start before init container %s", w.shape, c.Name)
				}
			}
		}
		for _, i := range acts.ContainersToStart {
			started = append(started, w.pod.Spec.Containers[i].Name)
		}
		w.apply(acts)
		w.exit(0, func(c *runtime.Container) bool {
			return c.Kind == runtime.KindInit && !strings.HasPrefix(c.Name, "side-")
		})
		w.publish(pr)
		if len(w.ps.Containers) == before && step > 0 {
			break
		}
	}
	return started
}

// TestEveryShapeRunsInOrder drives every valid arrangement of init
// containers, sidecars and app containers (internal/podgen) through the
// pod worker's decisions and status computation, against a simulated
// containerd and the real prober's AddPod, UpdatePodStatus and RemovePod,
// then ends it under each restart policy.
// Nothing may panic, and:
//
//   - init containers start one at a time in spec order, each after the
//     previous one exited 0 (regular) or runs (sidecar); apps start only
//     after all of them, all together;
//   - a sidecar whose startup probe has not passed holds back everything
//     after it;
//   - the pod runs, then a sidecar that exits is restarted on its own;
//   - when the apps finish, restartPolicy decides: Always restarts them,
//     otherwise the pod is killed whole (sidecars too) and ends Succeeded
//     or Failed.
func TestEveryShapeRunsInOrder(t *testing.T) {
	pr := prober.NewManager(prober.Options{Log: zap.NewNop(), Exec: nil, Status: noPublishedPods{}, Recorder: nopRecorder{}})
	t.Cleanup(pr.Stop)
	var pw Prober = struct {
		*prober.Manager
		noProbes
	}{pr, noProbes{}}
	policies := []v1.RestartPolicy{v1.RestartPolicyAlways, v1.RestartPolicyOnFailure, v1.RestartPolicyNever}
	for _, pod := range podgen.Pods(podgen.Small) {
		pw.AddPod(pod)
		shape := podgen.Describe(pod)

		// A sidecar that never passes its startup probe blocks what follows.
		blocked := &shapeWorld{t: t, pod: pod, shape: shape + " (startup probes pending)"}
		got := blocked.startUp(pw, startedView(false))
		var want []string
		held := false
		for _, c := range pod.Spec.InitContainers {
			want = append(want, c.Name)
			if held = kuberules.IsSidecar(&c) && c.StartupProbe != nil; held {
				break
			}
		}
		if !held {
			for _, c := range pod.Spec.Containers {
				want = append(want, c.Name)
			}
		}
		if !slices.Equal(got, want) {
			t.Fatalf("%s: started %v, want %v", blocked.shape, got, want)
		}

		// With startup probes passed, everything starts and runs.
		w := &shapeWorld{t: t, pod: pod, shape: shape}
		w.startUp(pw, startedView(true))
		for _, c := range append(slices.Clone(pod.Spec.Containers), pod.Spec.InitContainers...) {
			if (kuberules.IsSidecar(&c) || !strings.HasPrefix(c.Name, "init-")) && !w.running(c.Name) {
				t.Fatalf("%s: %s is not running after start-up", shape, c.Name)
			}
		}
		if st := w.publish(pw); st.Phase != v1.PodRunning {
			t.Fatalf("%s: phase %s with everything running", shape, st.Phase)
		}
		running := w.clone(pod, shape)

		// A sidecar that exits is restarted alone, whatever the code.
		for i, c := range pod.Spec.InitContainers {
			if !kuberules.IsSidecar(&c) {
				continue
			}
			w.exit(int32(i%2), func(r *runtime.Container) bool { return r.Name == c.Name })
			w.publish(pw)
			acts := w.decide(startedView(true))
			if !slices.Equal(acts.InitContainersToStart, []int{i}) || len(acts.ContainersToStart) > 0 || len(acts.ContainersToKill) > 0 || acts.KillPod {
				t.Fatalf("%s: after sidecar %s exited: %+v", shape, c.Name, acts)
			}
			w.apply(acts)
		}

		// The apps finish; restartPolicy decides what follows.
		for _, policy := range policies {
			for _, code := range []int32{0, 1} {
				p := pod.DeepCopy()
				p.Spec.RestartPolicy = policy
				fin := running.clone(p, fmt.Sprintf("%s restartPolicy=%s, apps exit %d", shape, policy, code))
				fin.exit(code, func(r *runtime.Container) bool { return r.Kind == runtime.KindApp })
				fin.publish(pw)
				acts := fin.decide(startedView(true))
				if policy == v1.RestartPolicyAlways || (policy == v1.RestartPolicyOnFailure && code != 0) {
					if acts.Terminal || len(acts.ContainersToStart) != len(pod.Spec.Containers) {
						t.Fatalf("%s: want every app restarted: %+v", fin.shape, acts)
					}
					continue
				}
				if !acts.Terminal || !acts.KillPod {
					t.Fatalf("%s: want the pod killed for good: %+v", fin.shape, acts)
				}
				fin.apply(acts)
				for _, c := range fin.ps.Containers {
					if c.State == runtime.StateRunning {
						t.Fatalf("%s: %s still runs after the pod was killed", fin.shape, c.Name)
					}
				}
				wantPhase := v1.PodSucceeded
				if code != 0 {
					wantPhase = v1.PodFailed
				}
				if st := fin.publish(pw); st.Phase != wantPhase {
					t.Fatalf("%s: phase %s, want %s", fin.shape, st.Phase, wantPhase)
				}
			}
		}
		pw.RemovePod(pod.UID)
	}
}

// TestEveryShapeWithHooksThroughTheWorker runs generated pods (every 23rd:
// each shape size, hook mix and emptyDir mount occurs) through a real pod
// worker over the fake runtime: each postStart hook runs right after its
// container starts and before anything else starts; the pod runs; when it
// is removed each preStop hook runs before its container is stopped, and
// only containers with one run one. Probes are left to the model test
// above (a nil prober counts every container started).
func TestEveryShapeWithHooksThroughTheWorker(t *testing.T) {
	pods := podgen.Pods(podgen.Small)
	var postStarts, preStops, mounts int
	for n := 0; n < len(pods); n += 23 {
		pod := pods[n].DeepCopy()
		for _, cs := range [][]v1.Container{pod.Spec.InitContainers, pod.Spec.Containers} {
			for i := range cs {
				cs[i].LivenessProbe, cs[i].ReadinessProbe, cs[i].StartupProbe = nil, nil, nil
			}
		}
		shape := podgen.Describe(pod) + " " + pod.Name
		rt := newFakeRuntime()
		h := newHarness(t, rt, Config{Hooks: &fakeHooks{rt: rt}})
		h.m.SetPods([]*v1.Pod{pod})
		for _, c := range pod.Spec.InitContainers {
			if kuberules.IsSidecar(&c) {
				continue
			}
			h.waitFor(shape+": "+c.Name+" running", func() bool { return running(h.containerState(pod.UID, c.Name)) })
			rt.exit(pod.UID, c.Name, 0)
		}
		h.waitFor(shape+": pod running", func() bool {
			p := h.pod(pod.UID)
			return p != nil && p.Status.Phase == v1.PodRunning && slices.ContainsFunc(p.Status.Conditions, func(c v1.PodCondition) bool {
				return c.Type == v1.ContainersReady && c.Status == v1.ConditionTrue
			})
		})
		all := append(slices.Clone(pod.Spec.InitContainers), pod.Spec.Containers...)
		calls := rt.Calls()
		for _, c := range all {
			i := slices.Index(calls, "StartContainer "+c.Name+" 0")
			if i < 0 {
				t.Fatalf("%s: %s never started: %v", shape, c.Name, calls)
			}
			hook := slices.IndexFunc(calls, func(s string) bool { return strings.HasPrefix(s, "PostStart "+c.Name+" ") })
			if has := c.Lifecycle != nil && c.Lifecycle.PostStart != nil; has != (hook >= 0) || (has && hook != i+1) {
				t.Fatalf("%s: postStart of %s (set: %v) at %d, its start at %d: %v", shape, c.Name, has, hook, i, calls)
			}
			if hook >= 0 {
				postStarts++
			}
			mounts += len(c.VolumeMounts)
		}

		h.m.SetPods(nil)
		h.waitFor(shape+": pod cleaned up", func() bool { return slices.Contains(rt.Calls(), "CleanupPod "+string(pod.UID)) })
		calls = rt.Calls()
		for _, c := range all {
			if !kuberules.IsSidecar(&c) && strings.HasPrefix(c.Name, "init-") {
				continue // exited before: nothing to stop
			}
			stop := slices.Index(calls, "StopContainer "+c.Name)
			hook := slices.IndexFunc(calls, func(s string) bool { return strings.HasPrefix(s, "PreStop "+c.Name+" ") })
			if has := c.Lifecycle != nil && c.Lifecycle.PreStop != nil; stop < 0 || has != (hook >= 0) || (has && hook > stop) {
				t.Fatalf("%s: preStop of %s (set: %v) at %d, its stop at %d: %v", shape, c.Name, has, hook, stop, calls)
			}
			if hook >= 0 {
				preStops++
			}
		}
	}
	if postStarts == 0 || preStops == 0 || mounts == 0 {
		t.Errorf("the pods run had %d postStart hooks, %d preStop hooks, %d emptyDir mounts; want some of each", postStarts, preStops, mounts)
	}
	t.Logf("%d postStart and %d preStop hooks run, %d emptyDir mounts", postStarts, preStops, mounts)
}
