// Package podworker runs pods: one goroutine per pod UID decides, like the
// kubelet's pod worker and computePodActions, what to start, restart and
// kill, carries it out through the runtime, and publishes the pod's status.
package podworker

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"time"

	"go.uber.org/zap"
	v1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	"k8s.io/apimachinery/pkg/types"

	"github.com/minikubelet/minikubelet/events"
	"github.com/minikubelet/minikubelet/internal/sysctl"
	"github.com/minikubelet/minikubelet/runtime"
	"github.com/minikubelet/minikubelet/status"
)

// Prober is what pod workers need from the prober: workers per pod, probe
// results folded into container statuses, and kill verdicts.
type Prober interface {
	AddPod(pod *v1.Pod)
	RemovePod(uid types.UID)
	StopLivenessAndStartup(uid types.UID)
	// UpdatePodStatus sets ready and started on the statuses about to be
	// published.
	UpdatePodStatus(pod *v1.Pod, status *v1.PodStatus)
	// Published says that the status of the last UpdatePodStatus for the
	// pod is in the store (or that an equal one already was).
	Published(uid types.UID)
	probeView
}

// HookRunner runs a container's lifecycle handler (postStart, preStop) and
// blocks until it returns or ctx ends; *lifecycle.Runner is the real one.
// On failure it returns the message for the container's status.
type HookRunner interface {
	Run(ctx context.Context, pod *v1.Pod, c *v1.Container, containerID, podIP string, h *v1.LifecycleHandler) (string, error)
}

// RouteFlusher brings the node's Service rules in line with every pod
// status published so far; *services.Manager is the real one.
type RouteFlusher interface {
	Flush(ctx context.Context) error
}

// Config tunes pod workers.
type Config struct {
	// Routes, when set, takes a terminating pod out of the Service rules
	// before its containers are signalled.
	Routes RouteFlusher
	// Services, when set, gives containers the Services' variables
	// (KUBERNETES_SERVICE_HOST…), as the kubelet does.
	Services ServiceLister
	// Hooks runs lifecycle hooks; without it every hook fails.
	Hooks  HookRunner
	LogDir string
	NodeIP string
	// CrashLoop back-off: initial delay and cap (DefaultBackOffInitial and
	// DefaultBackOffMax when zero).
	BackOffInitial, BackOffMax time.Duration
	// Resync is the safety-net period of a sync when no event comes.
	Resync time.Duration
	// Activity, when set, is called after each periodic resync has handed
	// every worker its pod's state and after each change of a pod's
	// published status (a container started or ended, a pod removed): the
	// agent releases memory once they stop for a while.
	Activity func()
	// Offline nodes never ask a remote registry: a present image satisfies
	// imagePullPolicy Always.
	Offline bool
	// Sysctls is what pods' sysctls are admitted against (the safe set
	// when nil); a pod asking for another fails with SysctlForbidden.
	Sysctls *sysctl.Allowlist
	// Allocatable is what the node gives pods, which admission checks
	// their requests against (OutOfcpu, OutOfhugepages-2Mi, ...); no
	// resource is checked when nil.
	Allocatable v1.ResourceList
	// Now reads the wall clock (time.Now by default; tests step it).
	Now func() time.Time
}

// The kubelet's crash-loop back-off: a container that keeps failing waits
// 10 s before its first restart, twice as long before each next one, at
// most 300 s (the largest maxContainerRestartPeriod the kubelet accepts).
const (
	DefaultBackOffInitial = 10 * time.Second
	DefaultBackOffMax     = 300 * time.Second
)

// Manager owns the pod workers: it starts one per desired pod UID,
// terminates those no longer desired, and routes runtime events and probe
// results to them.
type Manager struct {
	log    *zap.Logger
	cfg    Config
	rt     Runtime
	store  *status.Store
	rec    events.Recorder
	prober Prober

	// admitMu makes admissions one at a time.
	admitMu sync.Mutex

	mu      sync.Mutex
	ctx     context.Context
	workers map[types.UID]*worker
	// adopted lists what containerd held at start; cleared after the first
	// desired set terminated the orphans among it.
	adopted []runtime.PodState
	// sweeping holds, while sweepPodDirs removes their directories, the
	// UIDs it found orphaned; a worker started meanwhile for one of them
	// (its pod came back) waits for sweepDone before it writes them again.
	// The first SetPods makes sweepDone and starts sweepPodDirs.
	sweeping  map[types.UID]bool
	sweepDone chan struct{}
	wg        sync.WaitGroup
	// configGen counts ConfigsChanged calls: a worker whose volumes or
	// container configuration failed on a missing ConfigMap or Secret
	// retries at once when it moves, instead of waiting out its back-off.
	configGen atomic.Uint64
}

// New returns a Manager; prober may be nil for pods without probes.
func New(log *zap.Logger, cfg Config, rt Runtime, store *status.Store, rec events.Recorder, prober Prober) *Manager {
	if prober == nil {
		prober = nopProber{}
	}
	if cfg.Hooks == nil {
		cfg.Hooks = noHooks{}
	}
	if cfg.Resync <= 0 {
		cfg.Resync = time.Minute
	}
	if cfg.BackOffInitial <= 0 {
		cfg.BackOffInitial = DefaultBackOffInitial
	}
	if cfg.BackOffMax <= 0 {
		cfg.BackOffMax = DefaultBackOffMax
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Sysctls == nil {
		cfg.Sysctls, _ = sysctl.NewAllowlist(nil) // the safe set cannot fail
	}
	return &Manager{log: log, cfg: cfg, rt: rt, store: store, rec: rec, prober: prober, workers: map[types.UID]*worker{}}
}

// Start takes what containerd ran at the runtime's start, from the
// runtime's start-up listing (so that pods surviving an agent restart are
// adopted, not restarted), and starts routing runtime events.
// Workers live until ctx ends; Wait waits for them.
func (m *Manager) Start(ctx context.Context) error {
	existing, err := m.rt.StartupPods(ctx)
	if err != nil {
		return err
	}
	m.mu.Lock()
	m.ctx = ctx
	m.adopted = existing
	m.mu.Unlock()
	for _, p := range existing {
		m.log.Info("found pod in containerd", zap.String("pod", p.Namespace+"/"+p.Name), zap.String("uid", string(p.UID)),
			zap.Int("containers", len(p.Containers)))
	}
	evs := m.rt.Subscribe(ctx)
	m.wg.Add(2)
	go func() {
		defer m.wg.Done()
		m.resyncEvery(ctx)
	}()
	go func() {
		defer m.wg.Done()
		for ev := range evs {
			switch ev.Type {
			case runtime.Resubscribed:
				m.PokeAll()
			case runtime.ContainerLogFailed, runtime.ContainerLogResumed:
				m.logWriteEvent(ev)
			default:
				m.Poke(ev.PodUID)
			}
		}
	}()
	return nil
}

// resyncEvery resyncs every pod each Resync period (the kubelet's
// syncFrequency), so that what no event reported (an exit whose event was
// lost, a container removed behind the agent's back) is acted on within
// it. One listing of containerd's containers and tasks serves every pod:
// with 100 idle pods, the worker's own reads (a container and a task read
// per container) were 400 calls a minute and most of the agent's idle CPU.
func (m *Manager) resyncEvery(ctx context.Context) {
	t := time.NewTicker(m.cfg.Resync)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			m.resyncAll(ctx)
			m.activity()
		}
	}
}

// activity reports work to Config.Activity.
func (m *Manager) activity() {
	if m.cfg.Activity != nil {
		m.cfg.Activity()
	}
}

// resyncAll hands every worker its pod's state from one listing; should the
// listing fail, each worker reads its own pod instead.
func (m *Manager) resyncAll(ctx context.Context) {
	at := time.Now()
	pods, err := m.rt.ListPods(ctx)
	if err != nil {
		if ctx.Err() == nil {
			m.log.Warn("resync: list pods; each pod reads its own state", zap.Error(err))
		}
		m.PokeAll()
		return
	}
	byUID := make(map[types.UID]*runtime.PodState, len(pods))
	for i := range pods {
		byUID[pods[i].UID] = &pods[i]
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	for uid, w := range m.workers {
		ps := runtime.PodState{UID: uid} // nothing of it in containerd
		if p := byUID[uid]; p != nil {
			ps = *p
		}
		w.resyncFrom(ps, at)
	}
}

// Wait blocks until every worker has returned (after ctx ended).
func (m *Manager) Wait() { m.wg.Wait() }

// Poke makes the worker of uid sync now (a container exited, a probe result
// changed). Unknown UIDs are ignored.
func (m *Manager) Poke(uid types.UID) {
	m.mu.Lock()
	w := m.workers[uid]
	m.mu.Unlock()
	if w != nil {
		w.poke()
	}
}

// ProbeResult tells the worker of uid that one of its probe results
// changed: it publishes the status with it at once, then syncs.
func (m *Manager) ProbeResult(uid types.UID) {
	m.mu.Lock()
	w := m.workers[uid]
	m.mu.Unlock()
	if w != nil {
		w.probed.Store(true)
		w.poke()
	}
}

// Event reasons for a container whose log cannot be written. The kubelet
// has none (containerd only logs it); a user of `get events` or `describe`
// should see why `logs` has a gap.
const (
	reasonFailedLogWrite  = "FailedLogWrite"
	reasonLogWriteResumed = "LogWriteResumed"
)

// logWriteEvent records on its pod that writing a container's log failed
// or works again. A pod without a worker (gone meanwhile) gets none.
func (m *Manager) logWriteEvent(ev runtime.Event) {
	m.mu.Lock()
	w := m.workers[ev.PodUID]
	m.mu.Unlock()
	if w == nil {
		return
	}
	ref := events.PodRef(w.pod, ev.ContainerName)
	if ev.Type == runtime.ContainerLogFailed {
		events.Eventf(m.rec, ref, v1.EventTypeWarning, reasonFailedLogWrite,
			"Cannot write the log of container %s, its output is dropped until writes succeed again: %s", ev.ContainerName, ev.Message)
		return
	}
	events.Eventf(m.rec, ref, v1.EventTypeNormal, reasonLogWriteResumed, "The log of container %s is written again", ev.ContainerName)
}

// ConfigsChanged tells the workers that the ConfigMaps and Secrets pods
// refer to changed: each syncs now, and retries what failed for want of
// one without waiting for its back-off.
func (m *Manager) ConfigsChanged() {
	m.configGen.Add(1)
	m.PokeAll()
}

// PokeAll makes every worker sync now: exits may have gone unreported.
func (m *Manager) PokeAll() {
	m.mu.Lock()
	defer m.mu.Unlock()
	for _, w := range m.workers {
		w.poke()
	}
}

// SetPods makes pods the desired set: new UIDs get a worker, workers whose
// UID is gone terminate their pod. A changed pod (same name, new UID)
// starts only after its predecessor terminated. The first call also
// terminates pods found in containerd that no manifest asks for, and
// removes in the background the directories of pods nothing holds any more
// (sweepPodDirs).
func (m *Manager) SetPods(pods []*v1.Pod) {
	m.mu.Lock()
	defer m.mu.Unlock()
	desired := make(map[types.UID]*v1.Pod, len(pods))
	for _, p := range pods {
		desired[p.UID] = p
	}
	byName := map[string]*worker{}
	for uid, w := range m.workers {
		if _, ok := desired[uid]; !ok {
			w.terminate()
		}
		byName[w.given.Namespace+"/"+w.given.Name] = w
	}
	adopted := map[types.UID]*runtime.PodState{}
	for i := range m.adopted {
		adopted[m.adopted[i].UID] = &m.adopted[i]
	}
	for _, p := range pods {
		var after <-chan struct{}
		if w, ok := m.workers[p.UID]; ok {
			if !w.terminating() {
				// The same pod, changed in place (labels, an image, the
				// deadline: what the API lets change): its worker takes
				// the change up, as the kubelet's does for an update.
				// The source hands the same pointer again while the
				// pod's manifest is unchanged.
				if w.given != p && !equality.Semantic.DeepEqual(w.given, p) {
					w.given = p
					w.updateTo(p)
				}
				continue
			}
			// The manifest came back while its pod was being terminated:
			// a fresh worker starts it again once the old one is done.
			after = w.done
		}
		given := p
		seed := adopted[p.UID]
		if seed != nil {
			p = m.keepIdentity(p)
		}
		if prev := byName[p.Namespace+"/"+p.Name]; prev != nil && prev.pod.UID != p.UID {
			after = prev.done
		}
		w := m.startWorker(p, after, seed)
		w.given = given
	}
	for _, ps := range m.adopted {
		if _, ok := desired[ps.UID]; ok || m.workers[ps.UID] != nil {
			continue
		}
		pod, err := m.rt.SavedPod(m.ctx, ps.UID)
		if err != nil {
			m.log.Warn("orphaned pod has no saved spec, terminating it with defaults", zap.String("uid", string(ps.UID)), zap.Error(err))
			pod = &v1.Pod{}
			pod.UID, pod.Name, pod.Namespace = ps.UID, ps.Name, ps.Namespace
		}
		m.log.Info("terminating pod whose manifest is gone", zap.String("pod", pod.Namespace+"/"+pod.Name), zap.String("uid", string(pod.UID)))
		w := m.startWorker(pod, nil, nil)
		w.terminate()
	}
	if m.sweepDone == nil {
		keep := make(map[types.UID]bool, len(desired)+len(m.adopted))
		for uid := range desired {
			keep[uid] = true
		}
		for _, ps := range m.adopted {
			keep[ps.UID] = true
		}
		m.sweepDone = make(chan struct{})
		ctx := m.ctx
		m.wg.Add(1)
		go func() {
			defer m.wg.Done()
			m.sweepPodDirs(ctx, keep)
		}()
	}
	m.adopted = nil
}

// sweepPodDirs removes, once the first desired set is known, the
// directories (state with its shm and memory-backed emptyDir mounts, logs)
// of the pods that are neither in keep (desired then, or in containerd at
// the start) nor a worker's: what a termination cut short between the
// removal of a pod's containers and its CleanupPod leaves when the agent
// stops meanwhile, which no worker of a later agent would ever remove, as
// nothing of the pod is left in containerd to adopt. It is the kubelet's
// cleanupOrphanedPodDirs. Not at the runtime's start: after a reboot a
// desired pod has its directory (emptyDir contents) and no container, and
// keeps it. Runs off m.mu (SetPods must not wait on unmounts and
// removals), so workers are looked up again once the directories are
// listed.
func (m *Manager) sweepPodDirs(ctx context.Context, keep map[types.UID]bool) {
	defer close(m.sweepDone)
	uids, err := m.rt.PodDirUIDs(ctx)
	if err != nil {
		if ctx.Err() == nil {
			m.log.Warn("list pod directories; those of orphaned pods stay until the next start", zap.Error(err))
		}
		return
	}
	var orphans []types.UID
	m.mu.Lock()
	// Once ctx ends, workers of desired pods leave m.workers: sweep only
	// while it has not, when every pod with a worker is in it.
	if ctx.Err() == nil {
		for _, uid := range uids {
			if !keep[uid] && m.workers[uid] == nil {
				orphans = append(orphans, uid)
			}
		}
		m.sweeping = make(map[types.UID]bool, len(orphans))
		for _, uid := range orphans {
			m.sweeping[uid] = true
		}
	}
	m.mu.Unlock()
	defer func() {
		m.mu.Lock()
		m.sweeping = nil
		m.mu.Unlock()
	}()
	for _, uid := range orphans {
		if ctx.Err() != nil {
			return
		}
		if err := m.rt.CleanupPod(ctx, uid); err != nil {
			m.log.Warn("remove the directories of an orphaned pod", zap.String("uid", string(uid)), zap.Error(err))
			continue
		}
		m.log.Info("removed the directories of an orphaned pod", zap.String("uid", string(uid)))
	}
}

// SetDeletionGrace records the grace period a delete request gave the pod
// namespace/name (kubectl delete --grace-period): when that pod terminates,
// its containers get it instead of spec.terminationGracePeriodSeconds, as
// under an API pod's deletionGracePeriodSeconds. A later request may only
// shorten it. Call it before the pod's manifest goes away; unknown pods
// are ignored.
func (m *Manager) SetDeletionGrace(namespace, name string, grace time.Duration) {
	m.mu.Lock()
	defer m.mu.Unlock()
	for _, w := range m.workers {
		if w.given.Namespace == namespace && w.given.Name == name {
			w.setDeletionGrace(grace)
		}
	}
}

// keepIdentity gives a pod adopted after an agent restart the creation
// time it had, so AGE does not restart with the agent.
func (m *Manager) keepIdentity(p *v1.Pod) *v1.Pod {
	saved, err := m.rt.SavedPod(m.ctx, p.UID)
	if err != nil || saved.CreationTimestamp.IsZero() {
		return p
	}
	p = p.DeepCopy()
	p.CreationTimestamp = saved.CreationTimestamp
	return p
}

// activePods are the pods admitted and neither terminating nor finished,
// but self's: what the node's resources already go to.
func (m *Manager) activePods(self *worker) []*v1.Pod {
	m.mu.Lock()
	defer m.mu.Unlock()
	var out []*v1.Pod
	for _, w := range m.workers {
		if w != self && w.active.Load() && !w.terminating() {
			out = append(out, w.given)
		}
	}
	return out
}

// startWorker must be called with m.mu held. seed, when not nil, is the
// pod's state as containerd held it at the agent's start (an adopted pod).
func (m *Manager) startWorker(pod *v1.Pod, after <-chan struct{}, seed *runtime.PodState) *worker {
	if m.sweeping[pod.UID] {
		after = bothClosed(after, m.sweepDone)
	}
	w := &worker{
		m:            m,
		pod:          pod,
		given:        pod,
		log:          m.log.With(zap.String("pod", pod.Namespace+"/"+pod.Name), zap.String("uid", string(pod.UID))),
		wake:         make(chan struct{}, 1),
		kill:         make(chan struct{}),
		done:         make(chan struct{}),
		after:        after,
		seed:         seed,
		stopped:      map[string]bool{},
		backoff:      newBackOff(m.cfg.BackOffInitial, m.cfg.BackOffMax),
		imageBackoff: newBackOff(10*time.Second, 300*time.Second),
		volumeRetry:  newRetryGate(newBackOff(volumeBackOffInitial, volumeBackOffMax)),
		startRetry:   newRetryGate(newBackOff(syncRetry, syncRetry)),
		reasons:      map[string]waitReason{},
		exitSeen:     map[string]time.Time{},
		published:    m.store.Own(pod.UID),
	}
	w.syncCtx, w.cancelSync = context.WithCancel(m.ctx)
	m.workers[pod.UID] = w
	m.wg.Add(1)
	go func() {
		defer m.wg.Done()
		w.run(m.ctx)
		m.mu.Lock()
		if m.workers[pod.UID] == w {
			delete(m.workers, pod.UID)
		}
		m.mu.Unlock()
	}()
	return w
}

// bothClosed returns a channel closed once a (when not nil) and b are.
func bothClosed(a, b <-chan struct{}) <-chan struct{} {
	if a == nil {
		return b
	}
	c := make(chan struct{})
	go func() {
		<-a
		<-b
		close(c)
	}()
	return c
}

// noHooks fails every hook: a pod that asks for one is told, rather than
// run as if it had none.
type noHooks struct{}

func (noHooks) Run(context.Context, *v1.Pod, *v1.Container, string, string, *v1.LifecycleHandler) (string, error) {
	return "Cannot run handler: no lifecycle hook runner configured", errors.New("no lifecycle hook runner configured")
}

type nopProber struct{ noProbes }

func (nopProber) AddPod(*v1.Pod)                         {}
func (nopProber) RemovePod(types.UID)                    {}
func (nopProber) StopLivenessAndStartup(types.UID)       {}
func (nopProber) UpdatePodStatus(*v1.Pod, *v1.PodStatus) {}
func (nopProber) Published(types.UID)                    {}
