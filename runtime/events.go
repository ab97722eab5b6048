package runtime

import (
	"context"
	"fmt"
	"strconv"
	"sync"
	"time"

	apievents "github.com/containerd/containerd/api/events"
	tasktypes "github.com/containerd/containerd/api/types/task"
	"github.com/containerd/containerd/events"
	"github.com/containerd/typeurl/v2"
	"go.uber.org/zap"
	"k8s.io/apimachinery/pkg/types"
)

// The exit monitor is the one owner of container exits. containerd's event
// stream is its single source: one subscription per runtime, not a gRPC
// task.Wait (and a goroutine) per running container, which cost memory per
// container (BENCHMARKS.md). What the stream cannot see — exits while it was
// down, before the first subscription, or while no agent ran — is found by a
// reconciliation each time the subscription is (re)established.
//
// For each exit it forwards the event to the subscribers first, so a pod
// worker reacts at once, and only a moment later (finalizeDelay) finalizes
// the exit (labels, task delete) on its own goroutine per container, off
// the stream. Reading pod state never writes: a stopped task is reported
// from containerd's task status until it is finalized. StopContainer and
// RemoveContainer ask for the finalization at once and wait for it rather
// than doing it.

const (
	// subscribedTopic carries the marker the monitor publishes to itself: it
	// arrives once containerd has registered the subscription, so nothing
	// that exits after the reconciliation's listing can be missed.
	subscribedTopic = "/minikubelet/subscribed"
	// handshakeTimeout bounds waiting for that marker, published again
	// every markerInterval until it comes back.
	handshakeTimeout = 10 * time.Second
	markerInterval   = 100 * time.Millisecond
	// finalizeRetryMax caps the back-off between attempts to finalize one
	// exit (containerd busy or restarting).
	finalizeRetryMax = 5 * time.Second
	// finalizeDelay is how long a streamed exit waits before it is
	// finalized. The pod worker reacts to the exit meanwhile (the next init
	// container, a restart): it creates and starts a container, and the
	// finalization (a label write, then the task's deletion in the shim the
	// pod's containers share) would compete with that for containerd and
	// the shim. Whoever needs the exit finalized (StopContainer,
	// RemoveContainer) asks for it, which cuts the wait short; reading the
	// state reports the exit from the task either way.
	finalizeDelay = 200 * time.Millisecond
)

// exitMonitor holds the subscribers and the finalizations in flight. Its
// loop runs on one goroutine (run); finalizations on one goroutine each.
type exitMonitor struct {
	mu   sync.Mutex
	subs map[*subscriber]struct{}
	// inflight has an entry while a container's exit is being finalized;
	// again asks that goroutine for one more pass.
	inflight map[string]*finalizing
	// waiters are closed after the next finalization pass of a container.
	waiters map[string][]chan struct{}
}

type finalizing struct {
	again bool
	// waiting is set while the first pass waits out its delay; hurry,
	// closed by a request without delay, ends that wait.
	waiting bool
	hurry   chan struct{}
}

// subscriber is one Subscribe call: events queue without bound, so a slow
// consumer never holds up the stream or the finalization of exits.
type subscriber struct {
	ctx   context.Context
	out   chan Event
	mu    sync.Mutex
	queue []Event
	wake  chan struct{}
}

func newExitMonitor() *exitMonitor {
	return &exitMonitor{
		subs:     map[*subscriber]struct{}{},
		inflight: map[string]*finalizing{},
		waiters:  map[string][]chan struct{}{},
	}
}

// Subscribe streams exits and OOM kills of this runtime's containers, and
// the failures and recoveries of writing their logs, from now until ctx
// ends or the runtime is closed, then closes the channel.
//
// Only init processes count: a process started by ExecSync or Exec also
// produces /tasks/exit, with its exec ID, and is ignored. Exits of pause
// tasks are reported too (ContainerID is then the sandbox ID), so the
// consumer learns that a sandbox died. When the subscription to containerd
// was re-established after a break, a Resubscribed event with no pod says
// that exits during the gap were not streamed: every pod should look again.
// An event is sent before its exit is finalized; PodState reports the exit
// either way.
func (c *Containerd) Subscribe(ctx context.Context) <-chan Event {
	s := &subscriber{ctx: ctx, out: make(chan Event), wake: make(chan struct{}, 1)}
	m := c.exits
	m.mu.Lock()
	m.subs[s] = struct{}{}
	m.mu.Unlock()
	c.wg.Add(1)
	go func() {
		defer c.wg.Done()
		defer close(s.out)
		defer func() {
			m.mu.Lock()
			delete(m.subs, s)
			m.mu.Unlock()
		}()
		for {
			s.mu.Lock()
			var next *Event
			if len(s.queue) > 0 {
				ev := s.queue[0]
				s.queue = s.queue[1:]
				next = &ev
			}
			s.mu.Unlock()
			if next == nil {
				select {
				case <-s.wake:
					continue
				case <-ctx.Done():
					return
				case <-c.ctx.Done():
					return
				}
			}
			select {
			case s.out <- *next:
			case <-ctx.Done():
				return
			case <-c.ctx.Done():
				return
			}
		}
	}()
	return s.out
}

// deliver queues ev for every subscriber; it never blocks.
func (m *exitMonitor) deliver(ev Event) {
	m.mu.Lock()
	defer m.mu.Unlock()
	for s := range m.subs {
		s.mu.Lock()
		s.queue = append(s.queue, ev)
		s.mu.Unlock()
		select {
		case s.wake <- struct{}{}:
		default:
		}
	}
}

// runExitMonitor holds one subscription to containerd's event stream until
// the runtime closes, subscribing again with back-off when it breaks
// (containerd restarted).
func (c *Containerd) runExitMonitor() {
	defer c.wg.Done()
	backoff := 100 * time.Millisecond
	for first := true; c.ctx.Err() == nil; first = false {
		start := time.Now()
		err := c.streamEvents(c.ctx, first)
		if c.ctx.Err() != nil {
			return
		}
		if time.Since(start) > time.Minute {
			backoff = 100 * time.Millisecond
		}
		c.log.Warn("containerd event stream broke; subscribing again", zap.Error(err), zap.Duration("after", backoff))
		select {
		case <-c.ctx.Done():
			return
		case <-time.After(backoff):
		}
		backoff = min(2*backoff, resubscribeMax)
	}
}

// resubscribeMax bounds the wait between attempts to subscribe again, so
// that exits which happened while containerd was down are found (by the
// reconcile that follows each subscription) within a second of its return.
// A failed attempt is one refused dial.
const resubscribeMax = 500 * time.Millisecond

// streamEvents runs one subscription until it fails or ctx ends: it waits
// until containerd has registered it, reconciles, then handles events.
func (c *Containerd) streamEvents(ctx context.Context, first bool) error {
	sctx, cancel := context.WithCancel(c.ns(ctx))
	defer cancel()
	ns := strconv.Quote(c.cfg.Namespace)
	envelopes, errs := c.client.EventService().Subscribe(sctx,
		fmt.Sprintf(`namespace==%s,topic=="/tasks/exit"`, ns),
		fmt.Sprintf(`namespace==%s,topic=="/tasks/oom"`, ns),
		// For the pod index (podindex.go).
		fmt.Sprintf(`namespace==%s,topic=="/containers/create"`, ns),
		fmt.Sprintf(`namespace==%s,topic=="/containers/delete"`, ns),
		fmt.Sprintf(`namespace==%s,topic==%q`, ns, subscribedTopic),
	)
	// The subscription is registered some time after Subscribe returns, so
	// a marker published before that is lost: publish until one comes back.
	marker := "subscribed-" + shortID(8)
	publish := func() error {
		if err := c.client.EventService().Publish(sctx, subscribedTopic, &apievents.ContainerUpdate{ID: marker}); err != nil {
			return fmt.Errorf("publish subscription marker: %w", err)
		}
		return nil
	}
	if err := publish(); err != nil {
		return err
	}
	handshake := time.NewTimer(handshakeTimeout)
	defer handshake.Stop()
	republish := time.NewTicker(markerInterval)
	defer republish.Stop()
	live := false
	for {
		var timeout, again <-chan time.Time
		if !live {
			timeout, again = handshake.C, republish.C
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-again:
			if err := publish(); err != nil {
				return err
			}
		case <-timeout:
			return fmt.Errorf("containerd did not confirm the event subscription within %v", handshakeTimeout)
		case err := <-errs:
			if err == nil {
				err = fmt.Errorf("event stream closed")
			}
			return err
		case env := <-envelopes:
			if env == nil {
				continue
			}
			if env.Topic == subscribedTopic {
				if live || !isMarker(env, marker) {
					continue // a marker published again, or another runtime's
				}
				live = true
				if !first {
					// Forward first: every worker looks at its pod again.
					c.exits.deliver(Event{Type: Resubscribed, At: time.Now()})
				}
				if err := c.reconcileExits(sctx); err != nil {
					return err
				}
				continue
			}
			c.handleEvent(sctx, env)
		}
	}
}

func isMarker(env *events.Envelope, marker string) bool {
	v, err := typeurl.UnmarshalAny(env.Event)
	if err != nil {
		return false
	}
	u, ok := v.(*apievents.ContainerUpdate)
	return ok && u.ID == marker
}

// reconcileExits reports, then finalizes, every container whose task
// stopped, or vanished, while nobody was subscribed. Its listing also
// reconciles the pod index.
func (c *Containerd) reconcileExits(ctx context.Context) error {
	known := c.pods.known()
	recs, err := c.client.ContainerService().List(ctx, ourContainers())
	if err != nil {
		return fmt.Errorf("reconcile exits: %w", err)
	}
	c.pods.reconcile(known, recs)
	tasks, err := c.listTasks(ctx)
	if err != nil {
		return fmt.Errorf("reconcile exits: %w", err)
	}
	n := 0
	for _, r := range recs {
		l := r.Labels
		if l[LabelKind] == kindSandbox || l[LabelExitCode] != "" {
			continue
		}
		p, err := c.process(ctx, tasks, r.ID)
		if err != nil {
			return fmt.Errorf("reconcile exits: %w", err)
		}
		ev := Event{Type: ContainerExited, PodUID: types.UID(l[LabelPodUID]), ContainerID: r.ID, ExitCode: unknownExitCode, At: r.UpdatedAt}
		switch {
		case p == nil && l[LabelStartedAt] != "":
		case p != nil && p.Status == tasktypes.Status_STOPPED:
			ev.ExitCode = int32(p.ExitStatus)
			if p.ExitedAt != nil {
				ev.At = p.ExitedAt.AsTime()
			}
		default:
			continue
		}
		c.exits.deliver(ev)
		c.requestFinalize(r.ID)
		n++
	}
	if n > 0 {
		c.log.Info("finalizing exits that happened while unsubscribed", zap.Int("containers", n))
	}
	return nil
}

// handleEvent forwards one exit or OOM of our containers, then has the
// exit finalized.
func (c *Containerd) handleEvent(ctx context.Context, env *events.Envelope) {
	v, err := typeurl.UnmarshalAny(env.Event)
	if err != nil {
		c.log.Warn("decode containerd event", zap.String("topic", env.Topic), zap.Error(err))
		return
	}
	switch e := v.(type) {
	case *apievents.ContainerCreate:
		if !c.pods.created(e.ID) {
			if r, err := c.client.ContainerService().Get(ctx, e.ID); err == nil {
				c.pods.add(r)
			}
		}
	case *apievents.ContainerDelete:
		c.pods.drop(e.ID)
	case *apievents.TaskExit:
		if e.ID != e.ContainerID {
			return // an exec'd process, not the container
		}
		uid, sandbox, ok := c.podOf(ctx, e.ContainerID)
		if !ok {
			return
		}
		at := time.Now()
		if e.ExitedAt != nil {
			at = e.ExitedAt.AsTime()
		}
		c.exits.deliver(Event{Type: ContainerExited, PodUID: uid, ContainerID: e.ContainerID, ExitCode: int32(e.ExitStatus), At: at})
		if !sandbox {
			c.finalizeAfter(e.ContainerID, finalizeDelay)
		}
	case *apievents.TaskOOM:
		uid, _, ok := c.podOf(ctx, e.ContainerID)
		if !ok {
			return
		}
		// Recorded before the exit is finalized whenever the OOM event comes
		// first, as containerd sends it; reading the state also names an
		// exit OOMKilled when the mark comes later.
		c.recordOOM(ctx, e.ContainerID)
		c.exits.deliver(Event{Type: ContainerOOM, PodUID: uid, ContainerID: e.ContainerID, At: time.Now()})
	}
}

// podOf returns the pod of one of our containers and whether it is a
// sandbox's pause container.
func (c *Containerd) podOf(ctx context.Context, id string) (types.UID, bool, bool) {
	r, err := c.client.ContainerService().Get(ctx, id)
	if err != nil {
		return "", false, false
	}
	uid := r.Labels[LabelPodUID]
	return types.UID(uid), r.Labels[LabelKind] == kindSandbox, uid != ""
}

// recordOOM marks the container as OOM-killed. Reading the state turns a
// finalized Error into OOMKilled when this mark is there, whichever of the
// exit and the OOM event was handled first.
func (c *Containerd) recordOOM(ctx context.Context, id string) {
	container, err := c.client.LoadContainer(ctx, id)
	if err != nil {
		return
	}
	if _, err := container.SetLabels(ctx, map[string]string{LabelOOM: "true"}); err != nil {
		c.log.Warn("record OOM kill", zap.String("id", id), zap.Error(err))
	}
}

// requestFinalize has the container's exit finalized on a goroutine of its
// own, retried with back-off until it succeeds or the runtime closes. A
// request while one is in flight makes it run once more, at once if it was
// waiting out its delay. Never blocks.
func (c *Containerd) requestFinalize(id string) {
	c.finalizeAfter(id, 0)
}

// finalizeAfter is requestFinalize with the first attempt delay from now.
func (c *Containerd) finalizeAfter(id string, delay time.Duration) {
	if c.ctx.Err() != nil {
		return // closed: the next runtime's reconciliation finalizes it
	}
	m := c.exits
	m.mu.Lock()
	if f := m.inflight[id]; f != nil {
		switch {
		case f.waiting && delay == 0:
			// The pass it waits for has yet to read anything.
			f.waiting = false
			close(f.hurry)
		case !f.waiting:
			f.again = true
		}
		m.mu.Unlock()
		return
	}
	f := &finalizing{waiting: delay > 0, hurry: make(chan struct{})}
	m.inflight[id] = f
	m.mu.Unlock()
	c.wg.Add(1)
	go func() {
		defer c.wg.Done()
		if delay > 0 {
			t := time.NewTimer(delay)
			select {
			case <-t.C:
			case <-f.hurry:
			case <-c.ctx.Done():
			}
			t.Stop()
			m.mu.Lock()
			if f.waiting {
				f.waiting = false
				close(f.hurry)
			}
			m.mu.Unlock()
		}
		backoff := 100 * time.Millisecond
		for {
			ctx, cancel := context.WithTimeout(c.ns(c.ctx), cleanupTimeout)
			err := c.finalize(ctx, id)
			cancel()
			if c.ctx.Err() != nil {
				m.mu.Lock()
				delete(m.inflight, id)
				m.mu.Unlock()
				return
			}
			if err != nil {
				c.log.Warn("finalize exited container; retrying", zap.String("id", id), zap.Error(err), zap.Duration("after", backoff))
				select {
				case <-time.After(backoff):
				case <-c.ctx.Done():
				}
				backoff = min(2*backoff, finalizeRetryMax)
				continue
			}
			m.mu.Lock()
			for _, w := range m.waiters[id] {
				close(w)
			}
			delete(m.waiters, id)
			if f.again {
				f.again = false
				m.mu.Unlock()
				continue
			}
			delete(m.inflight, id)
			m.mu.Unlock()
			return
		}
	}()
}

// waitFinalized blocks until the exit monitor has finalized the container's
// exit (or it has none to finalize: never started, or gone). The caller
// must know the task has stopped, and asks for the finalization
// (requestFinalize) when it may not have been streamed.
func (c *Containerd) waitFinalized(ctx context.Context, id string) error {
	ctx = c.ns(ctx)
	for {
		ch := make(chan struct{})
		m := c.exits
		m.mu.Lock()
		m.waiters[id] = append(m.waiters[id], ch)
		m.mu.Unlock()
		done, err := c.finalized(ctx, id)
		if err != nil || done {
			m.dropWaiter(id, ch)
			return err
		}
		select {
		case <-ch:
		case <-ctx.Done():
			m.dropWaiter(id, ch)
			return fmt.Errorf("waiting for the exit of %s to be recorded: %w", id, ctx.Err())
		case <-c.ctx.Done():
			m.dropWaiter(id, ch)
			return fmt.Errorf("waiting for the exit of %s to be recorded: runtime closed", id)
		}
	}
}

func (m *exitMonitor) dropWaiter(id string, ch chan struct{}) {
	m.mu.Lock()
	defer m.mu.Unlock()
	ws := m.waiters[id]
	for i, w := range ws {
		if w == ch {
			ws = append(ws[:i], ws[i+1:]...)
			break
		}
	}
	if len(ws) == 0 {
		delete(m.waiters, id)
	} else {
		m.waiters[id] = ws
	}
}

// finalized reports whether nothing is left to finalize for the container:
// its exit is recorded, it never started, or it is gone.
func (c *Containerd) finalized(ctx context.Context, id string) (bool, error) {
	r, err := c.client.ContainerService().Get(ctx, id)
	if err != nil {
		if isNotFound(err) {
			return true, nil
		}
		return false, err
	}
	if r.Labels[LabelExitCode] != "" {
		return true, nil
	}
	p, err := c.taskProcess(ctx, id)
	if err != nil {
		return false, err
	}
	neverStarted := p == nil || p.Status == tasktypes.Status_CREATED
	return neverStarted && r.Labels[LabelStartedAt] == "", nil
}
