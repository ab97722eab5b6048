package podworker

import (
	"context"
	"errors"
	"sync"
	"time"

	"go.uber.org/zap"
	v1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/minikubelet/minikubelet/events"
	"github.com/minikubelet/minikubelet/internal/kuberules"
	"github.com/minikubelet/minikubelet/internal/sysctl"
	"github.com/minikubelet/minikubelet/runtime"
)

// killGrace is the grace period for killing one container in a sync, the
// kubelet's setTerminationGracePeriod: the probe's
// terminationGracePeriodSeconds for a liveness or startup kill when set,
// else the pod's.
func (w *worker) killGrace(k killInfo) time.Duration {
	if k.probe != "" {
		if spec := w.containerSpec(k.name); spec != nil {
			p := spec.LivenessProbe
			if k.probe == "startup" {
				p = spec.StartupProbe
			}
			if p != nil && p.TerminationGracePeriodSeconds != nil {
				return time.Duration(*p.TerminationGracePeriodSeconds) * time.Second
			}
		}
	}
	return podGrace(w.pod)
}

// setDeletionGrace records the grace period a delete request asked for.
// Like the kubelet's calculateEffectiveGracePeriod, a later request may only
// shorten it, and it is never under one second. Safe to call from any
// goroutine.
func (w *worker) setDeletionGrace(g time.Duration) {
	g = max(g, time.Second)
	w.graceMu.Lock()
	defer w.graceMu.Unlock()
	shorter := g < w.terminationGraceLocked()
	if w.deleteGrace == nil || g < *w.deleteGrace {
		w.deleteGrace = &g
	}
	if shorter && w.graceCut != nil {
		close(w.graceCut)
		w.graceCut = nil
	}
}

// terminationGrace is the grace period of the pod's containers when the
// pod is deleted: the delete request's when it gave one, else the pod's.
func (w *worker) terminationGrace() time.Duration {
	w.graceMu.Lock()
	defer w.graceMu.Unlock()
	return w.terminationGraceLocked()
}

func (w *worker) terminationGraceLocked() time.Duration {
	if w.deleteGrace != nil {
		return *w.deleteGrace
	}
	return podGrace(w.pod)
}

// errGraceCut: a delete request shortened the grace period while the pod
// was being stopped.
var errGraceCut = errors.New("grace period shortened")

// watchGraceCut returns a channel closed when a delete request shortens
// the termination's grace period from now on.
func (w *worker) watchGraceCut() <-chan struct{} {
	w.graceMu.Lock()
	defer w.graceMu.Unlock()
	w.graceCut = make(chan struct{})
	return w.graceCut
}

func isClosed(ch <-chan struct{}) bool {
	select {
	case <-ch:
		return true
	default:
		return false
	}
}

// firstPreStop reports whether the container's preStop hook is yet to run,
// and records that it runs now.
func (w *worker) firstPreStop(containerID string) bool {
	w.graceMu.Lock()
	defer w.graceMu.Unlock()
	if w.preStopRan[containerID] {
		return false
	}
	if w.preStopRan == nil {
		w.preStopRan = map[string]bool{}
	}
	w.preStopRan[containerID] = true
	return true
}

func podGrace(pod *v1.Pod) time.Duration {
	if g := pod.Spec.TerminationGracePeriodSeconds; g != nil {
		return time.Duration(*g) * time.Second
	}
	return 30 * time.Second
}

// containerSpec returns the spec of the named init or app container, nil
// when the pod has none by that name (an orphan terminated without a spec).
func (w *worker) containerSpec(name string) *v1.Container {
	for _, list := range [][]v1.Container{w.pod.Spec.InitContainers, w.pod.Spec.Containers} {
		for i := range list {
			if list[i].Name == name {
				return &list[i]
			}
		}
	}
	return nil
}

func podIP(ps *runtime.PodState) string {
	if len(ps.Sandboxes) > 0 && len(ps.Sandboxes[0].IPs) > 0 {
		return ps.Sandboxes[0].IPs[0]
	}
	return ""
}

// killContainer stops one container instance as the kubelet's
// killContainer does: a Killing event (message, or "Stopping container
// NAME"), the preStop hook within the grace period, whose elapsed whole
// seconds it uses up, then turn (a sidecar waiting for the containers it
// must outlive; it returns the time it waited), then the stop signal with
// what is left of the grace period, never under two seconds.
func (w *worker) killContainer(ctx context.Context, c *runtime.Container, podIP, message string, grace time.Duration, turn func(time.Duration) time.Duration) error {
	if c.State == runtime.StateRunning {
		if message == "" {
			message = "Stopping container " + c.Name
		}
		events.Eventf(w.m.rec, events.PodRef(w.pod, c.Name), v1.EventTypeNormal, "Killing", "%s", message)
		if spec := w.containerSpec(c.Name); spec != nil && spec.Lifecycle != nil && spec.Lifecycle.PreStop != nil && grace > 0 && w.firstPreStop(c.ID) {
			grace -= w.runPreStop(ctx, c, spec, podIP, grace)
		}
		if turn != nil && grace > 0 {
			grace -= turn(grace)
		}
	}
	return w.m.rt.StopContainer(ctx, c.ID, max(grace, minKillGrace))
}

// runPreStop runs the container's preStop hook, cut at grace, and returns
// the whole seconds it took. A failure is a FailedPreStopHook event (the
// details only in the log: a hook's output may hold secrets); the kill goes
// on either way.
func (w *worker) runPreStop(ctx context.Context, c *runtime.Container, spec *v1.Container, podIP string, grace time.Duration) time.Duration {
	start := time.Now()
	hctx, cancel := context.WithTimeout(ctx, grace)
	defer cancel()
	hook := spec.Lifecycle.PreStop
	msg, err := w.m.cfg.Hooks.Run(hctx, w.pod, spec, c.ID, podIP, hook)
	overran := hctx.Err() != nil && ctx.Err() == nil
	switch {
	case err == nil:
	case ctx.Err() != nil:
		// The agent is stopping: not the hook's fault.
	case overran && hook.Sleep != nil:
		// kubelet lets an overrunning sleep end quietly.
		w.log.Info("preStop hook not completed in grace period", zap.String("container", c.Name), zap.Duration("grace", grace))
	default:
		if overran {
			w.log.Info("preStop hook not completed in grace period", zap.String("container", c.Name), zap.Duration("grace", grace))
		}
		w.log.Warn("preStop hook failed", zap.String("container", c.Name), zap.String("message", msg), zap.Error(err))
		events.Eventf(w.m.rec, events.PodRef(w.pod, c.Name), v1.EventTypeWarning, "FailedPreStopHook", "PreStopHook failed")
	}
	return time.Since(start).Truncate(time.Second)
}

// killPod stops every running container of the pod in parallel, each with
// grace, then every sandbox. In a pod with sidecars, each sidecar waits
// (within its grace period) for the app containers and the sidecars after
// it to stop before it is signalled: sidecars go last, in reverse order.
func (w *worker) killPod(ctx context.Context, ps *runtime.PodState, grace time.Duration) error {
	var live []string
	for _, c := range ps.Containers {
		if c.State == runtime.StateRunning || c.State == runtime.StateCreated {
			live = append(live, c.Name)
		}
	}
	order := newTerminationOrder(w.pod, live)
	ip := podIP(ps)
	var wg sync.WaitGroup
	errs := make([]error, len(ps.Containers))
	for i := range ps.Containers {
		c := &ps.Containers[i]
		if c.State != runtime.StateRunning && c.State != runtime.StateCreated {
			continue
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			var turn func(time.Duration) time.Duration
			if order != nil {
				defer order.terminated(c.Name)
				turn = func(g time.Duration) time.Duration { return order.waitForTurn(ctx, c.Name, g) }
			}
			errs[i] = w.killContainer(ctx, c, ip, "", grace, turn)
		}()
	}
	wg.Wait()
	if err := ctx.Err(); err != nil {
		// Cut short: containers may still run, so their sandbox stays.
		return errors.Join(append(errs, err)...)
	}
	for _, sb := range ps.Sandboxes {
		if w.stopped[sb.ID] {
			continue
		}
		err := w.m.rt.StopSandbox(ctx, sb.ID)
		if err == nil {
			w.stopped[sb.ID] = true
		}
		errs = append(errs, err)
	}
	return errors.Join(errs...)
}

// terminationOrder is the kubelet's terminationOrdering: which containers
// must have stopped before a sidecar may be signalled.
type terminationOrder struct {
	done    map[string]chan struct{} // closed once that container stopped
	prereqs map[string][]chan struct{}
}

// newTerminationOrder returns the order for killing the live (running or
// created) containers named, or nil when the pod has no sidecar. A sidecar
// waits for every live app container and every live sidecar after it in
// spec order; the others wait for nothing.
func newTerminationOrder(pod *v1.Pod, live []string) *terminationOrder {
	hasSidecar := false
	for i := range pod.Spec.InitContainers {
		hasSidecar = hasSidecar || kuberules.IsSidecar(&pod.Spec.InitContainers[i])
	}
	if !hasSidecar {
		return nil
	}
	o := &terminationOrder{done: map[string]chan struct{}{}, prereqs: map[string][]chan struct{}{}}
	for _, n := range live {
		o.done[n] = make(chan struct{})
	}
	var apps []chan struct{}
	for _, c := range pod.Spec.Containers {
		if ch, ok := o.done[c.Name]; ok {
			apps = append(apps, ch)
		}
	}
	var later []chan struct{}
	for i := len(pod.Spec.InitContainers) - 1; i >= 0; i-- {
		c := &pod.Spec.InitContainers[i]
		ch, ok := o.done[c.Name]
		if !ok || !kuberules.IsSidecar(c) {
			continue
		}
		o.prereqs[c.Name] = append(append([]chan struct{}{}, apps...), later...)
		later = append(later, ch)
	}
	return o
}

// waitForTurn blocks until every container name must outlive has stopped,
// grace has passed or ctx ended, and returns the whole seconds it waited.
func (o *terminationOrder) waitForTurn(ctx context.Context, name string, grace time.Duration) time.Duration {
	start := time.Now()
	timer := time.NewTimer(grace)
	defer timer.Stop()
	for _, ch := range o.prereqs[name] {
		select {
		case <-ch:
		case <-timer.C:
			return time.Since(start).Truncate(time.Second)
		case <-ctx.Done():
			return time.Since(start).Truncate(time.Second)
		}
	}
	return time.Since(start).Truncate(time.Second)
}

// terminated records that the named container has stopped. Call it once
// per live container.
func (o *terminationOrder) terminated(name string) {
	if ch, ok := o.done[name]; ok {
		close(ch)
	}
}

// markUnready turns off the readiness of a terminating pod's app containers
// and sidecars, so that Ready is False, and Services drop the pod, from the
// moment it starts terminating rather than when its containers are gone.
// Completed regular init containers keep theirs: it means "succeeded".
func markUnready(pod *v1.Pod, st *v1.PodStatus) {
	for i := range st.ContainerStatuses {
		st.ContainerStatuses[i].Ready = false
	}
	for i := range st.InitContainerStatuses {
		if i < len(pod.Spec.InitContainers) && kuberules.IsSidecar(&pod.Spec.InitContainers[i]) {
			st.InitContainerStatuses[i].Ready = false
		}
	}
}

// The kubelet's activeDeadlineHandler words.
const (
	reasonDeadlineExceeded  = "DeadlineExceeded"
	messageDeadlineExceeded = "Pod was active on the node longer than the specified deadline"
)

// activeDeadline reports whether the pod has been active on the node for
// spec.activeDeadlineSeconds since its startTime, and if not, how long it
// has left. Without a deadline or a start time it never expires.
func activeDeadline(pod *v1.Pod, start *metav1.Time, now time.Time) (exceeded bool, left time.Duration) {
	if pod.Spec.ActiveDeadlineSeconds == nil || start == nil || start.IsZero() {
		return false, 0
	}
	allowed := time.Duration(*pod.Spec.ActiveDeadlineSeconds) * time.Second
	if active := now.Sub(start.Time); active < allowed {
		return false, allowed - active
	}
	return true, 0
}

// podFailure is why the kubelet failed a pod as a whole (status.reason and
// status.message), as opposed to its containers failing.
type podFailure struct{ reason, message string }

// admit refuses a pod the kubelet's admission handlers would, before
// anything of it runs: forbidden sysctls, then resources the node cannot
// give (resourceFit, against the other active pods). A refused pod gets a
// Warning event, and fails at the first sync with the reason and "Pod was
// rejected: " and the message (rejectPod). Admissions go one at a time, as
// the kubelet's do, so that each sees the pods admitted before it. A pod
// adopted after a restart is admitted again, as the kubelet does.
func (w *worker) admit() {
	w.m.admitMu.Lock()
	defer w.m.admitMu.Unlock()
	reason := sysctl.ForbiddenReason
	msg, ok := w.m.cfg.Sysctls.Admit(w.pod)
	if ok && w.m.cfg.Allocatable != nil {
		reason, msg, ok = resourceFit(w.pod, w.m.activePods(w), w.m.cfg.Allocatable)
	}
	if ok {
		w.active.Store(true)
		return
	}
	events.Eventf(w.m.rec, events.PodRef(w.pod, ""), v1.EventTypeWarning, reason, "%s", msg)
	w.log.Info("pod rejected", zap.String("reason", reason), zap.String("message", msg))
	w.failure = &podFailure{reason: reason, message: "Pod was rejected: " + msg}
}

// failPod ends the pod for good as the kubelet does when a pod sync handler
// evicts it: a Normal event, phase Failed with reason and message published
// at once (so the probes stop), then every container killed, preStop hooks
// and grace periods included, and the sandbox stopped. Nothing starts
// again. It returns when the worker should look again.
func (w *worker) failPod(ctx context.Context, ps *runtime.PodState, reason, message string) time.Duration {
	w.active.Store(false)
	if w.failure == nil {
		w.failure = &podFailure{reason: reason, message: message}
		events.Eventf(w.m.rec, events.PodRef(w.pod, ""), v1.EventTypeNormal, reason, "%s", message)
		w.log.Info("failing pod", zap.String("reason", reason))
		w.publishState(ps, nil)
	}
	if err := w.killPod(ctx, ps, podGrace(w.pod)); err != nil {
		if ctx.Err() == nil {
			w.log.Error("kill pod", zap.Error(err))
		}
		w.publish(ctx)
		return syncRetry
	}
	w.publish(ctx)
	return w.m.cfg.Resync
}
