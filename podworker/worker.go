package podworker

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"hash/fnv"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"go.uber.org/zap"
	v1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/minikubelet/minikubelet/events"
	"github.com/minikubelet/minikubelet/internal/kuberules"
	"github.com/minikubelet/minikubelet/internal/qos"
	"github.com/minikubelet/minikubelet/runtime"
	"github.com/minikubelet/minikubelet/status"
)

const (
	// syncRetry is how soon a failed sync is retried (the kubelet's
	// backOffPeriod, without its jitter).
	syncRetry = 10 * time.Second
	// volumeBackOffInitial and volumeBackOffMax pace the retries of a
	// volume that cannot be set up (a missing ConfigMap or Secret): the
	// kubelet's volume manager retries a failed mount after 500 ms,
	// doubling up to 2m2s (pkg/util/goroutinemap/exponentialbackoff: two
	// minutes and two seconds, so its waits are told apart from other
	// two-minute timeouts), one FailedMount event per attempt. So a
	// ConfigMap created later is noticed within that back-off upstream;
	// here at once, since a change of the manifests' ConfigMaps and
	// Secrets retries without waiting (Manager.ConfigsChanged).
	volumeBackOffInitial = 500 * time.Millisecond
	volumeBackOffMax     = 2*time.Minute + 2*time.Second
	// volumesKey is the key of the pod's volumes in volumeRetry.
	volumesKey = "volumes"
	// minKillGrace is the kubelet's minimumGracePeriodInSeconds.
	minKillGrace = 2 * time.Second
)

// worker owns one pod UID: it alone starts, stops and removes that pod's
// sandboxes and containers and publishes its status. All fields below mu
// are touched only by the run goroutine.
type worker struct {
	m *Manager
	// pod is the desired pod, never mutated; run replaces it with a pod
	// updated in place (same UID) before a sync.
	pod *v1.Pod
	log *zap.Logger
	// given is the pod SetPods last handed over, before keepIdentity;
	// guarded by m.mu, so that the manager never reads pod.
	given *v1.Pod

	updateMu sync.Mutex
	// update is a changed pod of the same UID that run has not taken up yet.
	update *v1.Pod
	// listed is the pod's state from the manager's last resync listing,
	// not taken up yet (guarded by updateMu).
	listed *listedState
	// lastSync is when the last sync returned (or run began), on the
	// monotonic clock: a listing begun before it may miss what that sync
	// did (run only).
	lastSync time.Time

	wake chan struct{} // buffer 1: pokes coalesce
	kill chan struct{} // closed once when the pod must terminate
	done chan struct{} // closed when run returns
	// probed is set when a probe result of the pod changed since the last
	// wake (Manager.ProbeResult).
	probed atomic.Bool
	// after, when set, is closed when the previous pod of the same name has
	// terminated: a changed static pod never overlaps its old self.
	after <-chan struct{}
	// seed, for a pod adopted at the agent's start, is its state as
	// containerd held it then; run publishes it before the first sync.
	seed *runtime.PodState
	// published is this worker's right to publish its pod's status: a
	// worker started later for the same UID takes it over.
	published *status.Owner

	killOnce sync.Once
	// syncCtx is cancelled by terminate, so that a long sync (a pull, a
	// graceful stop) gives way to the pod's termination at once.
	syncCtx    context.Context
	cancelSync context.CancelFunc
	// stopped remembers sandboxes already torn down, so a finished pod
	// does not run CNI DEL again at every resync.
	stopped map[string]bool

	backoff      *backOff
	imageBackoff *backOff
	// volumeRetry paces retries of the pod's volumes after a failure;
	// startRetry those of a container that failed to start without having
	// run (CreateContainerConfigError and the like), by backoffKey.
	volumeRetry *retryGate
	startRetry  *retryGate
	// exitSeen is when this worker first saw each exited container, by
	// ID, on the monotonic clock (see exitTime).
	exitSeen map[string]time.Time
	reasons  map[string]waitReason
	status   v1.PodStatus
	// publishedFor is the pod whose status w.status was last published
	// for (nil after a publish that marks the pod deleted).
	publishedFor *v1.Pod
	// observed is the runtime state status was last computed from, so that
	// a deletion shows at once, before containerd is asked again.
	observed runtime.PodState
	// failure, once set, has failed the pod as a whole (admission,
	// activeDeadlineSeconds).
	failure *podFailure
	// active is set once the pod is admitted and cleared when it reaches
	// a terminal phase or fails: what admission counts against the node
	// (read by other workers' admissions).
	active atomic.Bool

	graceMu sync.Mutex
	// deleteGrace is the grace period a delete request asked for; guarded
	// by graceMu, as the request comes from the API's goroutine.
	deleteGrace *time.Duration
	// graceCut, when set, is closed by a delete request that shortens the
	// grace period of the termination in progress (guarded by graceMu).
	graceCut chan struct{}
	// preStopRan holds the containers whose preStop hook has run, so that
	// a termination started again does not run it twice (guarded by
	// graceMu: kills run in parallel).
	preStopRan map[string]bool
}

// updateTo hands the worker a changed pod of its UID; the next sync acts
// on it.
func (w *worker) updateTo(pod *v1.Pod) {
	w.updateMu.Lock()
	w.update = pod
	w.updateMu.Unlock()
	w.poke()
}

// takeUpdate makes a pending update the desired pod. The pod keeps the
// creation time it has (an adopted pod's, from before the agent restart).
// What changed is acted on by the sync: a container whose spec changed is
// restarted (computePodActions compares spec hashes), a new deadline is
// enforced, and the next publish carries the new labels and annotations.
func (w *worker) takeUpdate() {
	w.updateMu.Lock()
	next := w.update
	w.update = nil
	w.updateMu.Unlock()
	if next == nil {
		return
	}
	if !next.CreationTimestamp.Equal(&w.pod.CreationTimestamp) {
		next = next.DeepCopy()
		next.CreationTimestamp = w.pod.CreationTimestamp
	}
	w.pod = next
	w.log.Info("pod updated in place")
}

func (w *worker) poke() {
	select {
	case w.wake <- struct{}{}:
	default:
	}
}

// terminate asks the worker to stop the pod; it interrupts a sync in
// progress. Safe to call more than once.
func (w *worker) terminate() {
	w.killOnce.Do(func() {
		close(w.kill)
		w.cancelSync()
	})
}

// terminating reports whether terminate was called.
func (w *worker) terminating() bool {
	select {
	case <-w.kill:
		return true
	default:
		return false
	}
}

func (w *worker) run(ctx context.Context) {
	defer close(w.done)
	defer w.cancelSync()
	if w.seed == nil {
		w.publishState(&runtime.PodState{}, nil)
	}
	w.admit()
	if w.after != nil {
		select {
		case <-w.after:
		case <-ctx.Done():
			return
		}
	}
	// A resync listing begun before now may predate the end of the pod's
	// previous worker (same UID, terminated for a manifest that came back):
	// the first sync reads the state itself.
	w.lastSync = time.Now()
	w.m.prober.AddPod(w.pod)
	if w.seed != nil {
		// An adopted pod shows as it runs at once, not as Pending nor
		// absent until its first sync has read containerd again: after a
		// restart under a hundred pods those reads all come at once, and
		// the last took half a second. After AddPod, so that a container
		// with a readiness probe is not shown ready before its probe ran.
		w.publishState(w.seed, nil)
		w.seed = nil
	}

	timer := time.NewTimer(0)
	defer timer.Stop()
	for {
		select {
		case <-ctx.Done():
			// The agent is stopping: pods keep running, the next agent adopts them.
			return
		case <-w.kill:
			w.finish(ctx)
			return
		case <-w.wake:
		case <-timer.C:
		}
		w.takeUpdate()
		listed := w.takeListed()
		if w.probed.Swap(false) {
			// As the kubelet's status manager takes a readiness or startup
			// result at once, without a sync: the status from what was last
			// observed, before containerd is read again.
			w.publishState(&w.observed, nil)
		}
		next := w.syncFrom(w.syncCtx, listed)
		w.lastSync = time.Now()
		if !timer.Stop() {
			select {
			case <-timer.C:
			default:
			}
		}
		// The resync itself is the manager's round (resyncEvery), which
		// reads every pod in one listing: the timer is only for what is
		// due sooner (a back-off, a deadline, a retry).
		if next < w.m.cfg.Resync {
			timer.Reset(next)
		}
	}
}

// listedState is a pod's state read by the manager's resync listing, which
// began at at (monotonic clock).
type listedState struct {
	state runtime.PodState
	at    time.Time
}

// resyncFrom hands the worker its pod's state from a resync listing begun
// at at, and wakes it.
func (w *worker) resyncFrom(ps runtime.PodState, at time.Time) {
	w.updateMu.Lock()
	w.listed = &listedState{state: ps, at: at}
	w.updateMu.Unlock()
	w.poke()
}

// takeListed returns the pod's state from the last resync listing when it
// is as fresh as a read now would be: the listing began after the
// worker's last sync returned, so it saw everything that sync did (and
// containerd's events since then are pokes still to come). Otherwise nil:
// the sync reads the state itself.
func (w *worker) takeListed() *runtime.PodState {
	w.updateMu.Lock()
	l := w.listed
	w.listed = nil
	w.updateMu.Unlock()
	if l == nil || !w.lastSync.Before(l.at) {
		return nil
	}
	return &l.state
}

// sync runs one pass: observe, decide, act, publish. It returns when the
// worker should look again if no event comes first.
func (w *worker) sync(ctx context.Context) time.Duration {
	return w.syncFrom(ctx, nil)
}

// syncFrom is sync starting from listed, the pod's state from a resync
// listing, when not nil, instead of reading it.
func (w *worker) syncFrom(ctx context.Context, listed *runtime.PodState) time.Duration {
	now := w.m.cfg.Now()
	var ps runtime.PodState
	var err error
	if listed != nil {
		ps = *listed
	} else {
		if ps, err = w.m.rt.PodState(ctx, w.pod.UID); err != nil {
			if ctx.Err() == nil {
				w.log.Error("read pod state", zap.Error(err))
			}
			return syncRetry
		}
	}
	// Publish what was observed before acting on it, so that a watcher sees
	// each step (an init container done → PodInitializing → Running).
	w.publishState(&ps, nil)
	next := w.m.cfg.Resync
	// Deadlines computed in this pass are wall times read from now: measure
	// them from now too, not from a fresh reading, which a clock step during
	// the pass would move by the step (an hour's timer for a 200 ms back-off).
	soon := func(at time.Time) {
		if d := at.Sub(now); d < next {
			next = max(d, 0)
		}
	}

	terminal := w.status.Phase == v1.PodSucceeded || w.status.Phase == v1.PodFailed
	if terminal {
		w.active.Store(false)
	}
	if exceeded, left := activeDeadline(w.pod, w.status.StartTime, now); w.failure != nil || (exceeded && !terminal) {
		return w.failPod(ctx, &ps, reasonDeadlineExceeded, messageDeadlineExceeded)
	} else if left > 0 {
		soon(now.Add(left))
	}

	acts := computePodActions(w.pod, &ps, w.m.prober)
	if acts.KillPod {
		if acts.CreateSandbox {
			events.Eventf(w.m.rec, events.PodRef(w.pod, ""), v1.EventTypeNormal, "SandboxChanged", "Pod sandbox changed, it will be killed and re-created.")
		}
		if err := w.killPod(ctx, &ps, podGrace(w.pod)); err != nil {
			w.log.Error("kill pod", zap.Error(err))
			w.publish(ctx)
			return syncRetry
		}
	}
	if acts.Terminal {
		w.reasons = map[string]waitReason{}
		if acts.KillPod {
			w.publish(ctx)
		} else {
			w.publishState(&ps, nil) // nothing changed since the read
		}
		return next
	}

	// Volumes before containers, and again at every sync so that a
	// changed ConfigMap or Secret reaches running containers (the
	// kubelet's WaitForAttachAndMount). A volume that cannot be set up
	// holds the pod where it is, as upstream: nothing starts, nothing
	// running is stopped.
	if at, ok := w.prepareVolumes(ctx, now); !ok {
		soon(at)
		return next
	}

	var sb runtime.Sandbox
	if acts.CreateSandbox {
		w.reasons = map[string]waitReason{}
		if err := w.purgeInitContainers(ctx, &ps); err != nil {
			w.log.Error("remove old init containers", zap.Error(err))
			return syncRetry
		}
		sb, err = w.m.rt.RunSandbox(ctx, w.pod, acts.Attempt)
		if err != nil {
			if ctx.Err() == nil {
				events.Eventf(w.m.rec, events.PodRef(w.pod, ""), v1.EventTypeWarning, "FailedCreatePodSandBox", "Failed to create pod sandbox: %v", err)
			}
			w.publish(ctx)
			return syncRetry
		}
		w.log.Info("sandbox running", zap.String("sandbox", sb.ID), zap.Strings("ips", sb.IPs), zap.Uint32("attempt", sb.Attempt))
		if len(ps.Sandboxes) == 0 && len(ps.Containers) == 0 {
			// A pod's first sandbox: the pod has nothing else, and a read
			// would find just what RunSandbox returned (it lists every
			// container of the namespace to find the pod's).
			ps = runtime.PodState{UID: w.pod.UID, Name: w.pod.Name, Namespace: w.pod.Namespace, Sandboxes: []runtime.Sandbox{sb}}
		} else if ps, err = w.m.rt.PodState(ctx, w.pod.UID); err != nil {
			return syncRetry
		}
	} else {
		sb = ps.Sandboxes[0]
	}

	for i := range ps.Containers {
		c := &ps.Containers[i]
		k, ok := acts.ContainersToKill[c.ID]
		if !ok {
			continue
		}
		if err := w.killContainer(ctx, c, podIP(&ps), k.message, w.killGrace(k), nil); err != nil {
			w.log.Error("stop container", zap.String("container", k.name), zap.Error(err))
			return syncRetry
		}
	}

	for _, i := range acts.InitContainersToStart {
		c := &w.pod.Spec.InitContainers[i]
		if at, ok := w.startContainer(ctx, sb, &ps, c, runtime.KindInit, now); !ok {
			soon(at)
			if kuberules.IsSidecar(c) {
				continue // a sidecar in back-off holds up nothing else
			}
			break
		}
		if kuberules.IsSidecar(c) {
			// Nothing else announces that a sidecar is up: look again at
			// once, so the next init container starts without a resync.
			soon(now)
		}
	}
	for _, i := range acts.ContainersToStart {
		if at, ok := w.startContainer(ctx, sb, &ps, &w.pod.Spec.Containers[i], runtime.KindApp, now); !ok {
			soon(at)
		}
	}
	// An idle sync (nothing started, stopped or created) reads the pod's
	// state once: gc works on that read, and its publish above stands.
	idle := !acts.KillPod && !acts.CreateSandbox && len(acts.ContainersToKill) == 0 &&
		len(acts.InitContainersToStart) == 0 && len(acts.ContainersToStart) == 0
	// Otherwise gc and the publish after it share one fresh read, and the
	// publish reads again only when gc removed something.
	var seen *runtime.PodState
	if idle {
		seen = &ps
	} else if read, err := w.m.rt.PodState(ctx, w.pod.UID); err == nil {
		seen = &read
	}
	removed, err := w.gc(ctx, seen)
	if err != nil {
		w.log.Warn("remove old containers", zap.Error(err))
	}
	switch {
	case removed || seen == nil:
		w.publish(ctx)
	case !idle:
		w.publishState(seen, nil)
	}
	return next
}

// prepareVolumes sets up the pod's volumes unless a failure before asks to
// wait (volumeRetry): a sync woken by anything else than a change of the
// ConfigMaps and Secrets does not retry them, nor repeat FailedMount, before
// the back-off is over. It returns false and when to retry on failure.
func (w *worker) prepareVolumes(ctx context.Context, now time.Time) (time.Time, bool) {
	gen := w.m.configGen.Load()
	if wait, until := w.volumeRetry.Wait(volumesKey, gen, now); wait {
		return until, false
	}
	if err := w.m.rt.PrepareVolumes(ctx, w.pod); err != nil {
		if ctx.Err() != nil {
			return now, false // terminating: the run loop takes over
		}
		events.Eventf(w.m.rec, events.PodRef(w.pod, ""), v1.EventTypeWarning, "FailedMount", "%v", err)
		return w.volumeRetry.Failed(volumesKey, gen, now), false
	}
	w.volumeRetry.Succeeded(volumesKey)
	return time.Time{}, true
}

// purgeInitContainers removes every init container instance before a new
// sandbox, so that init runs again from the first one.
func (w *worker) purgeInitContainers(ctx context.Context, ps *runtime.PodState) error {
	var errs []error
	for _, c := range ps.Containers {
		if c.Kind == runtime.KindInit {
			errs = append(errs, w.m.rt.RemoveContainer(ctx, c.ID))
		}
	}
	return errors.Join(errs...)
}

// gc keeps, per container name, the newest instance and the newest exited
// one before it (for lastState), and removes older instances and sandboxes.
// It works on ps when given (a state just read), else reads the state; it
// reports whether it removed anything.
func (w *worker) gc(ctx context.Context, ps *runtime.PodState) (bool, error) {
	if ps == nil {
		read, err := w.m.rt.PodState(ctx, w.pod.UID)
		if err != nil {
			return false, err
		}
		ps = &read
	}
	var errs []error
	removed := false
	seen := map[string]int{}
	for _, c := range ps.Containers {
		seen[c.Name]++
		if seen[c.Name] > 2 && c.State != runtime.StateRunning {
			errs = append(errs, w.m.rt.RemoveContainer(ctx, c.ID))
			removed = true
		}
	}
	for i, sb := range ps.Sandboxes {
		if i > 0 && !sb.Ready {
			errs = append(errs, w.m.rt.RemoveSandbox(ctx, sb.ID))
			removed = true
		}
	}
	return removed, errors.Join(errs...)
}

// backoffKey is the kubelet's GetStableKey: a new UID or a changed container
// spec starts a fresh back-off.
func backoffKey(pod *v1.Pod, c *v1.Container) string {
	return fmt.Sprintf("%s_%s_%s_%s_%s", pod.Name, pod.Namespace, pod.UID, c.Name, specHash(c))
}

// specHash is the FNV-32a hash of the container's JSON form, in hex.
func specHash(c *v1.Container) string {
	b, _ := json.Marshal(c) // a v1.Container always marshals
	h := fnv.New32a()
	h.Write(b)
	return strconv.FormatUint(uint64(h.Sum32()), 16)
}

// exitTime is the moment a container's crash-loop back-off counts from:
// the runtime's FinishedAt, a wall-clock time, as for the kubelet. A
// FinishedAt ahead of now means the wall clock was stepped back since the
// exit, and FinishedAt plus the back-off would hold the restart for as long
// as the step (an hour for an hour): the exit then counts from when this
// worker first saw it, measured on the monotonic clock, which steps do not
// move.
func (w *worker) exitTime(ps *runtime.PodState, c *runtime.Container, now time.Time) time.Time {
	for id := range w.exitSeen {
		if !slices.ContainsFunc(ps.Containers, func(x runtime.Container) bool { return x.ID == id }) {
			delete(w.exitSeen, id)
		}
	}
	seen, ok := w.exitSeen[c.ID]
	if !ok {
		seen = time.Now() // monotonic, whatever the wall clock does
		w.exitSeen[c.ID] = seen
	}
	if c.FinishedAt.After(now) {
		return now.Add(-time.Since(seen))
	}
	return c.FinishedAt
}

// startContainer starts one container unless its back-off or image says
// wait. It returns false and when to retry when it did not start it.
func (w *worker) startContainer(ctx context.Context, sb runtime.Sandbox, ps *runtime.PodState, c *v1.Container, kind runtime.ContainerKind, now time.Time) (time.Time, bool) {
	ref := events.PodRef(w.pod, c.Name)
	prev := latest(ps, c.Name)
	key := backoffKey(w.pod, c)
	// A container that failed to start is tried again after the kubelet's
	// backOffPeriod (a failed sync is requeued after it), not at every
	// sync, so that its Failed event is not repeated at each wake; at once
	// when the ConfigMaps and Secrets change, which is what cures
	// CreateContainerConfigError.
	gen := w.m.configGen.Load()
	if wait, until := w.startRetry.Wait(key, gen, now); wait {
		return until, false
	}
	// The kubelet's doBackOff: only a container that has exited before is
	// subject to back-off, measured from its newest exited instance. The
	// first start records nothing, so the first crash restarts at once.
	if exited := latestExited(ps, c.Name); exited != nil {
		if in, until := w.backoff.InBackOffSince(key, w.exitTime(ps, exited, now), now); in {
			w.reasons[c.Name] = waitReason{Reason: "CrashLoopBackOff", Message: fmt.Sprintf("back-off %s restarting failed container=%s pod=%s_%s(%s)",
				w.backoff.Current(key), c.Name, w.pod.Name, w.pod.Namespace, w.pod.UID)}
			events.Eventf(w.m.rec, ref, v1.EventTypeWarning, "BackOff", "Back-off restarting failed container %s in pod %s_%s(%s)", c.Name, w.pod.Name, w.pod.Namespace, w.pod.UID)
			return until, false
		}
		w.backoff.Next(key, now)
	}

	img, retry, ok := w.ensureImage(ctx, c, now)
	if !ok {
		return retry, false
	}
	var restarts int32
	if prev != nil {
		restarts = prev.RestartCount + 1
	}
	ctr, err := w.m.rt.StartContainer(ctx, sb, w.pod, c, runtime.ContainerOptions{
		Kind:         kind,
		RestartCount: restarts,
		SpecHash:     specHash(c),
		Image:        img,
		LogPath:      runtime.LogPath(w.m.cfg.LogDir, w.pod, c.Name, restarts),
		Warn: func(reason, msg string) {
			events.Eventf(w.m.rec, events.PodRef(w.pod, ""), v1.EventTypeWarning, reason, "%s", msg)
		},
		ServiceEnv: serviceEnv(w.pod, w.m.cfg.Services),
	})
	if err != nil {
		if ctx.Err() != nil {
			return now, false
		}
		if ctr.ID != "" {
			events.Eventf(w.m.rec, ref, v1.EventTypeNormal, "Created", "Created container: %s", c.Name)
		}
		why := startFailure(ctr, err)
		w.reasons[c.Name] = why
		events.Eventf(w.m.rec, ref, v1.EventTypeWarning, "Failed", "Error: %s", why.Message)
		return w.startRetry.Failed(key, gen, now), false
	}
	w.startRetry.Succeeded(key)
	delete(w.reasons, c.Name)
	events.Eventf(w.m.rec, ref, v1.EventTypeNormal, "Created", "Created container: %s", c.Name)
	events.Eventf(w.m.rec, ref, v1.EventTypeNormal, "Started", "Started container %s", c.Name)
	if c.Lifecycle != nil && c.Lifecycle.PostStart != nil {
		if !w.runPostStart(ctx, &ctr, c, sb) {
			return w.m.cfg.Now(), false
		}
	}
	return time.Time{}, true
}

// runPostStart runs the container's postStart hook, as the kubelet's
// startContainer does: synchronously, so the container is not published as
// running, and the next container not started, until it returns. A failed
// hook kills the container (its preStop runs, as on any kill) and leaves
// PostStartHookError as its waiting reason; it restarts per restartPolicy.
func (w *worker) runPostStart(ctx context.Context, ctr *runtime.Container, c *v1.Container, sb runtime.Sandbox) bool {
	ip := ""
	if len(sb.IPs) > 0 {
		ip = sb.IPs[0]
	}
	msg, err := w.m.cfg.Hooks.Run(ctx, w.pod, c, ctr.ID, ip, c.Lifecycle.PostStart)
	if err == nil || ctx.Err() != nil {
		return err == nil
	}
	w.log.Warn("postStart hook failed", zap.String("container", c.Name), zap.String("message", msg), zap.Error(err))
	// The event leaves the details out: a hook's output may hold secrets.
	events.Eventf(w.m.rec, events.PodRef(w.pod, c.Name), v1.EventTypeWarning, "FailedPostStartHook", "PostStartHook failed")
	ctr.State = runtime.StateRunning
	if kerr := w.killContainer(ctx, ctr, ip, "FailedPostStartHook", podGrace(w.pod), nil); kerr != nil {
		w.log.Error("stop container after failed postStart hook", zap.String("container", c.Name), zap.Error(kerr))
	}
	if kuberules.IsSidecar(c) || w.pod.Spec.RestartPolicy != v1.RestartPolicyNever {
		w.reasons[c.Name] = waitReason{Reason: "PostStartHookError", Message: msg}
	}
	return false
}

// ensureImage applies imagePullPolicy (the kubelet's EnsureImageExists).
func (w *worker) ensureImage(ctx context.Context, c *v1.Container, now time.Time) (runtime.ImageInfo, time.Time, bool) {
	ref := events.PodRef(w.pod, c.Name)
	fail := func(reason, msg string, retry time.Time) (runtime.ImageInfo, time.Time, bool) {
		w.reasons[c.Name] = waitReason{Reason: reason, Message: msg}
		return runtime.ImageInfo{}, retry, false
	}
	info, err := w.m.rt.ImageStatus(ctx, c.Image)
	present := err == nil
	switch {
	case errors.Is(err, runtime.ErrInvalidImageName):
		msg := fmt.Sprintf("Failed to apply default image tag %q: %v", c.Image, err)
		events.Eventf(w.m.rec, ref, v1.EventTypeWarning, "InspectFailed", "%s", msg)
		return fail("InvalidImageName", msg, now.Add(syncRetry))
	case err != nil && !errors.Is(err, runtime.ErrImageNotPresent):
		msg := fmt.Sprintf("Failed to inspect image %q: %v", c.Image, err)
		events.Eventf(w.m.rec, ref, v1.EventTypeWarning, "InspectFailed", "%s", msg)
		return fail("ImageInspectError", msg, now.Add(syncRetry))
	}

	policy := c.ImagePullPolicy
	pull := policy == v1.PullAlways || (policy != v1.PullNever && !present)
	if pull && present && w.m.cfg.Offline && !runtime.IsLocalRegistry(info.Ref) {
		// An offline node cannot ask a remote registry; the copy it has is
		// what a pull would have produced on the day it was imported.
		pull = false
	}
	if !pull {
		if present {
			events.Eventf(w.m.rec, ref, v1.EventTypeNormal, "Pulled", "Container image %q already present on machine", c.Image)
			return info, time.Time{}, true
		}
		msg := fmt.Sprintf("Container image %q is not present with pull policy of Never", c.Image)
		events.Eventf(w.m.rec, ref, v1.EventTypeWarning, "ErrImageNeverPull", "%s", msg)
		events.Eventf(w.m.rec, ref, v1.EventTypeWarning, "Failed", "Error: ErrImageNeverPull")
		return fail("ErrImageNeverPull", msg, now.Add(syncRetry))
	}

	key := string(w.pod.UID) + "_" + c.Image
	if in, until := w.imageBackoff.InBackOffSinceUpdate(key, now); in {
		msg := fmt.Sprintf("Back-off pulling image %q", c.Image)
		events.Eventf(w.m.rec, ref, v1.EventTypeNormal, "BackOff", "%s", msg)
		events.Eventf(w.m.rec, ref, v1.EventTypeWarning, "Failed", "Error: ImagePullBackOff")
		return fail("ImagePullBackOff", msg, until)
	}
	events.Eventf(w.m.rec, ref, v1.EventTypeNormal, "Pulling", "Pulling image %q", c.Image)
	start := time.Now()
	pulled, err := w.m.rt.PullImage(ctx, c.Image)
	if err != nil {
		if ctx.Err() != nil {
			return runtime.ImageInfo{}, now, false
		}
		w.imageBackoff.Next(key, now)
		events.Eventf(w.m.rec, ref, v1.EventTypeWarning, "Failed", "Failed to pull image %q: %v", c.Image, err)
		events.Eventf(w.m.rec, ref, v1.EventTypeWarning, "Failed", "Error: ErrImagePull")
		// Look again shortly: the container then shows ImagePullBackOff
		// until the back-off lets the next pull through, as on a kubelet,
		// whose pod worker re-syncs a failed pod within seconds.
		return fail("ErrImagePull", err.Error(), now.Add(min(time.Second, w.imageBackoff.Current(key))))
	}
	d := time.Since(start).Round(time.Millisecond)
	events.Eventf(w.m.rec, ref, v1.EventTypeNormal, "Pulled", "Successfully pulled image %q in %v (%v including waiting). Image size: %d bytes.", c.Image, d, d, pulled.Size)
	return pulled, time.Time{}, true
}

// publish computes the pod's status from containerd's view and stores it.
func (w *worker) publish(ctx context.Context) {
	ps, err := w.m.rt.PodState(ctx, w.pod.UID)
	if err != nil {
		if ctx.Err() == nil {
			w.log.Error("read pod state for status", zap.Error(err))
		}
		return
	}
	w.publishState(&ps, nil)
}

// publishState publishes the status for ps; deleting marks the pod as
// terminating (deletionTimestamp).
func (w *worker) publishState(ps *runtime.PodState, deleting *metav1.Time) {
	now := time.Now()
	old := w.status
	w.observed = *ps
	initSt, appSt := containerStatuses(w.pod, ps, w.reasons)
	st := v1.PodStatus{InitContainerStatuses: initSt, ContainerStatuses: appSt}
	w.m.prober.UpdatePodStatus(w.pod, &st)
	// Whether published below or equal to what was, the status is the
	// store's when this returns: probes asked for by it may read it.
	defer w.m.prober.Published(w.pod.UID)
	if deleting != nil {
		markUnready(w.pod, &st)
	}

	st.Phase = podPhase(&w.pod.Spec, st.InitContainerStatuses, st.ContainerStatuses)
	if old.Phase == v1.PodSucceeded || old.Phase == v1.PodFailed {
		st.Phase = old.Phase // terminal phases are sticky
	}
	if w.failure != nil {
		st.Phase, st.Reason, st.Message = v1.PodFailed, w.failure.reason, w.failure.message
	}
	changed, _ := sandboxChanged(ps)
	st.Conditions = podConditions(w.pod, st.Phase, !changed, st.InitContainerStatuses, st.ContainerStatuses)
	carryTransitionTimes(st.Conditions, old.Conditions, now)
	// The kubelet reports which generation of the pod's spec its status
	// reflects (1.34's PodObservedGenerationTracking, on by default), in
	// status and in each condition it owns. A pod's first generation is 1.
	st.ObservedGeneration = max(w.pod.Generation, 1)
	for i := range st.Conditions {
		st.Conditions[i].ObservedGeneration = st.ObservedGeneration
	}
	// A stopped sandbox keeps its IPs in status, as a completed pod does.
	if len(ps.Sandboxes) > 0 {
		for _, ip := range ps.Sandboxes[0].IPs {
			st.PodIPs = append(st.PodIPs, v1.PodIP{IP: ip})
		}
		if len(st.PodIPs) > 0 {
			st.PodIP = st.PodIPs[0].IP
		}
	}
	st.HostIP, st.HostIPs = w.m.cfg.NodeIP, nil
	if st.HostIP != "" {
		st.HostIPs = []v1.HostIP{{IP: st.HostIP}}
	}
	st.StartTime = old.StartTime
	if st.StartTime == nil {
		// A pod adopted after an agent restart started with its first sandbox.
		t := metav1.NewTime(now)
		if n := len(ps.Sandboxes); n > 0 {
			t = metav1.NewTime(ps.Sandboxes[n-1].CreatedAt)
		}
		st.StartTime = &t
	}
	st.QOSClass = qos.PodQOS(w.pod)
	w.status = st
	// An idle sync finds what it published last: compare the status alone,
	// not a fresh copy of the whole pod in the store.
	if deleting == nil && w.publishedFor == w.pod && equality.Semantic.DeepEqual(old, st) {
		return
	}
	w.publishedFor = nil
	if deleting == nil {
		w.publishedFor = w.pod
	}

	// A shallow copy: Set stores a deep copy of it, and only fields of
	// the copy itself change here (w.pod is never mutated).
	pod := *w.pod
	pod.Status = st
	if deleting != nil {
		pod.DeletionTimestamp = deleting
		g := int64(w.terminationGrace() / time.Second)
		pod.DeletionGracePeriodSeconds = &g
	}
	w.published.Set(&pod)
	w.m.activity()
}

// finish terminates the pod for good: graceful kill, sandbox teardown,
// removal of every container, the pod's dirs and its status. It retries
// until it succeeds or the agent stops.
func (w *worker) finish(ctx context.Context) {
	w.m.prober.StopLivenessAndStartup(w.pod.UID)
	deleting := metav1.Now()
	// Terminating from now on, as the API server marks a pod on delete:
	// a sync just interrupted or a slow containerd must not leave it
	// shown Running meanwhile.
	w.publishState(&w.observed, &deleting)
	for attempt := 0; ; attempt++ {
		err := w.teardown(ctx, &deleting)
		if err == nil {
			break
		}
		if errors.Is(err, errGraceCut) {
			w.log.Info("grace period shortened: stopping the pod again with it", zap.Duration("grace", w.terminationGrace()))
			continue
		}
		if ctx.Err() != nil {
			w.log.Info("agent stopping: the next agent finishes terminating this pod")
			return
		}
		w.log.Warn("terminate pod", zap.Error(err), zap.Int("attempt", attempt))
		select {
		case <-ctx.Done():
			return // the next agent finds the pod orphaned and finishes the job
		case <-time.After(min(time.Second<<attempt, syncRetry)):
		}
	}
	w.m.prober.RemovePod(w.pod.UID)
	w.published.Delete()
	w.m.activity()
	w.log.Info("pod terminated and removed")
}

// unroute waits until the Service rules no longer send new connections to
// the pod, just published as terminating (so out of every Endpoints), and
// returns how long it waited. On a cluster the endpoints controller and
// kube-proxy race with the kubelet's stop signal, and a connection can
// reach a backend that has just closed its socket; on one node the order
// can be kept. The wait comes out of the grace period, which bounds it: a
// node whose rules are slow to write (seconds, under heavy load) still
// stops its pods in time, and one whose nft fails does not wait at all.
func (w *worker) unroute(ctx context.Context, grace time.Duration) time.Duration {
	if w.m.cfg.Routes == nil || grace <= 0 {
		return 0
	}
	fctx, cancel := context.WithTimeout(ctx, grace)
	defer cancel()
	start := time.Now()
	err := w.m.cfg.Routes.Flush(fctx)
	took := time.Since(start)
	if err != nil && ctx.Err() == nil {
		w.log.Warn("service rules not updated before stopping the pod", zap.Duration("waited", took), zap.Error(err))
	} else {
		w.log.Debug("service rules updated before stopping the pod", zap.Duration("took", took))
	}
	return took
}

func (w *worker) teardown(ctx context.Context, deleting *metav1.Time) error {
	// A delete request that shortens the grace period cuts this attempt
	// short, and the next one stops what still runs with the shorter
	// period, as the kubelet's pod worker cancels a terminating sync whose
	// grace period was shortened.
	kctx, cancel := context.WithCancel(ctx)
	defer cancel()
	cut := w.watchGraceCut()
	go func() {
		select {
		case <-cut:
			cancel()
		case <-kctx.Done():
		}
	}()
	ps, err := w.m.rt.PodState(ctx, w.pod.UID)
	if err != nil {
		return err
	}
	w.publishState(&ps, deleting)
	grace := w.terminationGrace()
	grace -= w.unroute(kctx, grace)
	if err := w.killPod(kctx, &ps, grace); err != nil {
		if isClosed(cut) && ctx.Err() == nil {
			return errGraceCut
		}
		return err
	}
	if ps, err = w.m.rt.PodState(ctx, w.pod.UID); err != nil {
		return err
	}
	var errs []error
	for _, c := range ps.Containers {
		errs = append(errs, w.m.rt.RemoveContainer(ctx, c.ID))
	}
	for _, sb := range ps.Sandboxes {
		errs = append(errs, w.m.rt.RemoveSandbox(ctx, sb.ID))
	}
	if err := errors.Join(errs...); err != nil {
		return err
	}
	return w.m.rt.CleanupPod(ctx, w.pod.UID)
}
