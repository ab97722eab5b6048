package prober

import (
	"context"
	"math/rand/v2"
	"sync"
	"time"

	"go.uber.org/zap"
	v1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/utils/clock"

	"github.com/minikubelet/minikubelet/events"
	"github.com/minikubelet/minikubelet/internal/kuberules"
	"github.com/minikubelet/minikubelet/prober/probe"
)

// probeKey identifies one worker.
type probeKey struct {
	podUID    types.UID
	container string
	probeType ProbeType
}

// Manager owns the probe workers of all pods and their committed results.
// All methods are safe for concurrent use.
type Manager struct {
	log        *zap.Logger
	exec       Execer
	status     StatusProvider
	recorder   events.Recorder
	notify     func(types.UID)
	clock      clock.Clock
	userAgent  string
	agentStart time.Time
	http       *probe.HTTP

	// jitter picks the start-up delay in [0, period). A field so tests can
	// make it deterministic.
	jitter func(period time.Duration) time.Duration
	// observe, when set, is called just before each handler runs with the
	// time the probe was due; the benchmark measures lateness with it.
	observe func(key probeKey, due time.Time)

	liveness, readiness, startup *resultCache

	ctx    context.Context
	cancel context.CancelFunc
	wg     sync.WaitGroup

	mu      sync.Mutex
	stopped bool
	workers map[probeKey]*worker
	// terminating holds pods whose liveness and startup probes were
	// stopped, so a later AddPod for the same pod does not restart them.
	terminating map[types.UID]struct{}
	// kicks holds, by pod, the readiness workers UpdatePodStatus found
	// waiting for a first success: Published asks them to probe, once the
	// status that shows their container running is there for them to read.
	kicks map[types.UID]map[probeKey]*worker
	// observer counts probe runs (Options.Observe).
	observer func(t ProbeType, pod *v1.Pod, container, result string)
}

// NewManager returns a Manager with no workers.
func NewManager(opts Options) *Manager {
	ctx, cancel := context.WithCancel(context.Background())
	m := &Manager{
		log:         opts.Log,
		exec:        opts.Exec,
		status:      opts.Status,
		recorder:    opts.Recorder,
		notify:      opts.Notify,
		observer:    opts.Observe,
		clock:       opts.Clock,
		userAgent:   userAgent(opts.Version),
		agentStart:  opts.AgentStart,
		http:        probe.NewHTTP(),
		jitter:      func(p time.Duration) time.Duration { return time.Duration(rand.Int64N(int64(p))) },
		liveness:    newResultCache(),
		readiness:   newResultCache(),
		startup:     newResultCache(),
		ctx:         ctx,
		cancel:      cancel,
		workers:     map[probeKey]*worker{},
		terminating: map[types.UID]struct{}{},
		kicks:       map[types.UID]map[probeKey]*worker{},
	}
	if m.log == nil {
		m.log = zap.NewNop()
	}
	if m.clock == nil {
		m.clock = clock.RealClock{}
	}
	if m.notify == nil {
		m.notify = func(types.UID) {}
	}
	return m
}

// AddPod starts a worker for every probe of the pod's app containers and
// restartable init containers (sidecars) that has none yet. Calling it again
// for the same pod adds nothing. Probe parameters are taken from this pod;
// changing them needs RemovePod first (pods are immutable here anyway).
func (m *Manager) AddPod(pod *v1.Pod) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.stopped {
		return
	}
	_, terminating := m.terminating[pod.UID]
	var own *v1.Pod // the copy new workers share, made when first needed
	// containersOf picks the list an index refers to: init and app
	// containers are indexed separately, so a sidecar's index may lie past
	// the end of spec.containers.
	containersOf := func(p *v1.Pod, init bool) []v1.Container {
		if init {
			return p.Spec.InitContainers
		}
		return p.Spec.Containers
	}
	add := func(init bool, i int, t ProbeType) {
		c := &containersOf(pod, init)[i]
		spec := probeOf(c, t)
		if spec == nil || (terminating && t != Readiness) {
			return
		}
		key := probeKey{podUID: pod.UID, container: c.Name, probeType: t}
		if _, ok := m.workers[key]; ok {
			return
		}
		if own == nil {
			own = pod.DeepCopy()
		}
		c = &containersOf(own, init)[i]
		w := m.newWorker(key, own, c, withDefaults(spec, t), init)
		m.workers[key] = w
		m.wg.Add(1)
		go w.run()
	}
	for _, t := range []ProbeType{Startup, Readiness, Liveness} {
		for i := range pod.Spec.Containers {
			add(false, i, t)
		}
		for i := range pod.Spec.InitContainers {
			// Regular init containers cannot have probes; sidecars can.
			if kuberules.IsSidecar(&pod.Spec.InitContainers[i]) {
				add(true, i, t)
			}
		}
	}
}

// RemovePod stops all workers of the pod and drops their results. It does
// not wait for them to exit and is safe to call again or for an unknown UID.
func (m *Manager) RemovePod(uid types.UID) {
	m.mu.Lock()
	defer m.mu.Unlock()
	delete(m.terminating, uid)
	delete(m.kicks, uid)
	for key, w := range m.workers {
		if key.podUID == uid {
			delete(m.workers, key)
			w.stop()
		}
	}
}

// StopLivenessAndStartup stops the liveness and startup workers of a pod
// that is terminating, so no probe restarts a container being shut down;
// readiness keeps running. Their results are dropped, so Liveness and
// Startup report nothing for the pod's containers afterwards.
func (m *Manager) StopLivenessAndStartup(uid types.UID) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.stopped {
		return
	}
	m.terminating[uid] = struct{}{}
	for key, w := range m.workers {
		if key.podUID == uid && key.probeType != Readiness {
			delete(m.workers, key)
			w.stop()
		}
	}
}

// Stop stops every worker and waits until all have exited. The Manager
// starts no workers afterwards.
func (m *Manager) Stop() {
	m.mu.Lock()
	m.stopped = true
	for key, w := range m.workers {
		delete(m.workers, key)
		w.stop()
	}
	m.mu.Unlock()
	m.cancel()
	m.wg.Wait()
}

// Liveness reports the committed liveness result of a container, by its
// status ID ("containerd://<id>"); false if it has no liveness worker or the
// worker has not seen that container yet. A container that is not running
// reads Failure, as in kubelet: act on it only for a running container.
func (m *Manager) Liveness(containerID string) (Result, bool) {
	return m.liveness.get(containerID)
}

// Startup reports the committed startup result of a container, as Liveness.
func (m *Manager) Startup(containerID string) (Result, bool) {
	return m.startup.get(containerID)
}

// UpdatePodStatus sets Started and Ready on every container status of a
// status the pod worker is about to publish for pod, following kubelet's
// prober manager:
//
//   - started: false unless running; then the startup result if there is
//     one; else false while a startup probe exists that has not committed;
//     else true.
//   - ready (app containers and sidecars), only when started: true if the
//     readiness result is Success, or if there is no readiness probe. When
//     a readiness probe exists without a Success yet, the worker is asked to
//     probe at once when the pod worker calls Published, so a new container
//     becomes ready without waiting a period.
//   - ready of a regular init container: it exited with code 0.
func (m *Manager) UpdatePodStatus(pod *v1.Pod, status *v1.PodStatus) {
	for i := range status.ContainerStatuses {
		m.updateContainer(pod.UID, &status.ContainerStatuses[i], true)
	}
	for i := range status.InitContainerStatuses {
		cs := &status.InitContainerStatuses[i]
		sidecar := false
		for j := range pod.Spec.InitContainers {
			if pod.Spec.InitContainers[j].Name == cs.Name {
				sidecar = kuberules.IsSidecar(&pod.Spec.InitContainers[j])
				break
			}
		}
		m.updateContainer(pod.UID, cs, sidecar)
	}
}

func (m *Manager) updateContainer(uid types.UID, cs *v1.ContainerStatus, probed bool) {
	started := m.isStarted(uid, cs)
	cs.Started = &started
	if !probed {
		cs.Ready = kuberules.InitContainerReady(cs.State)
		return
	}
	if !started {
		cs.Ready = false
		return
	}
	if r, ok := m.readiness.get(cs.ContainerID); ok && r == Success {
		cs.Ready = true
		return
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	key := probeKey{podUID: uid, container: cs.Name, probeType: Readiness}
	w, exists := m.workers[key]
	cs.Ready = !exists
	if exists {
		if m.kicks[uid] == nil {
			m.kicks[uid] = map[probeKey]*worker{}
		}
		m.kicks[uid][key] = w
	}
}

// Published tells the manager that the status of the pod's last
// UpdatePodStatus is in the store (or was already): the readiness workers
// it found waiting for a first success probe now. Asked before, a worker
// could read the status from before its container ran, and wait a whole
// period for its next probe.
func (m *Manager) Published(uid types.UID) {
	m.mu.Lock()
	kicks := m.kicks[uid]
	delete(m.kicks, uid)
	m.mu.Unlock()
	for _, w := range kicks {
		w.trigger()
	}
}

func (m *Manager) isStarted(uid types.UID, cs *v1.ContainerStatus) bool {
	if cs.State.Running == nil {
		return false
	}
	if r, ok := m.startup.get(cs.ContainerID); ok {
		return r == Success
	}
	_, exists := m.worker(probeKey{podUID: uid, container: cs.Name, probeType: Startup})
	return !exists
}

func (m *Manager) worker(key probeKey) (*worker, bool) {
	m.mu.Lock()
	defer m.mu.Unlock()
	w, ok := m.workers[key]
	return w, ok
}

// removeWorker is called by a worker as it exits. Unless the worker was
// already unregistered (RemovePod, StopLivenessAndStartup, Stop), it is
// dropped from the map; deleting means it stopped because the pod is being
// deleted, which, like StopLivenessAndStartup, keeps AddPod from starting
// it again.
func (m *Manager) removeWorker(w *worker, deleting bool) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.workers[w.key] != w {
		return
	}
	delete(m.workers, w.key)
	if deleting {
		m.terminating[w.key.podUID] = struct{}{}
	}
}

func (m *Manager) cache(t ProbeType) *resultCache {
	switch t {
	case Liveness:
		return m.liveness
	case Startup:
		return m.startup
	default:
		return m.readiness
	}
}

func probeOf(c *v1.Container, t ProbeType) *v1.Probe {
	switch t {
	case Liveness:
		return c.LivenessProbe
	case Readiness:
		return c.ReadinessProbe
	default:
		return c.StartupProbe
	}
}

// countRun reports one probe run's outcome, in prober_probe_total's words.
func (m *Manager) countRun(t ProbeType, pod *v1.Pod, container string, r Result, err error) {
	if m.observer == nil {
		return
	}
	result := "unknown"
	switch {
	case err != nil:
	case r == Success:
		result = "successful"
	case r == Failure:
		result = "failed"
	}
	m.observer(t, pod, container, result)
}
