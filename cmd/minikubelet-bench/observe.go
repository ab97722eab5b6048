package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strconv"
	"sync"
	"time"

	"github.com/containerd/containerd"
	apievents "github.com/containerd/containerd/api/events"
	"github.com/containerd/containerd/namespaces"
	"github.com/containerd/typeurl/v2"
	"go.uber.org/zap"
	v1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/watch"

	"github.com/minikubelet/minikubelet/api"
)

// taskEvent is a task start or exit as containerd reported it.
type taskEvent struct {
	// At is when containerd (or the shim) published a start, and the
	// shim's exit time for an exit: containerd's own view of the moment.
	At        time.Time
	Namespace string
	Start     bool // else an exit
	Container string
	Exec      string // exec ID of an exec'd process's exit; "" for the container
	ExitCode  uint32
	Labels    map[string]string // the container's labels (nil if it vanished first)
}

// label returns one of the event's container labels.
func (e taskEvent) label(key string) string { return e.Labels[key] }

// taskEvents records the task starts and exits of some containerd
// namespaces for the whole run, so that a measurement can look for an
// event that happened before it started waiting.
type taskEvents struct {
	client *containerd.Client
	log    *zap.Logger

	mu      sync.Mutex
	list    []taskEvent
	labels  map[string]map[string]string // namespace/id -> labels
	changed chan struct{}                // closed and replaced on every append
	err     error                        // set when the subscription broke
}

// watchTasks subscribes to task starts and exits of the namespaces until
// ctx ends.
func watchTasks(ctx context.Context, log *zap.Logger, client *containerd.Client, nss ...string) *taskEvents {
	r := &taskEvents{client: client, log: log, labels: map[string]map[string]string{}, changed: make(chan struct{})}
	var filters []string
	for _, ns := range nss {
		q := strconv.Quote(ns)
		filters = append(filters,
			fmt.Sprintf(`namespace==%s,topic=="/tasks/start"`, q),
			fmt.Sprintf(`namespace==%s,topic=="/tasks/exit"`, q))
	}
	envs, errs := client.EventService().Subscribe(ctx, filters...)
	go func() {
		for {
			select {
			case <-ctx.Done():
				r.fail(ctx.Err())
				return
			case err := <-errs:
				if err == nil {
					err = errors.New("event stream closed")
				}
				r.fail(err)
				return
			case env := <-envs:
				if env == nil {
					continue
				}
				v, err := typeurl.UnmarshalAny(env.Event)
				if err != nil {
					continue
				}
				ev := taskEvent{At: env.Timestamp, Namespace: env.Namespace}
				switch e := v.(type) {
				case *apievents.TaskStart:
					ev.Start, ev.Container = true, e.ContainerID
				case *apievents.TaskExit:
					ev.Container, ev.ExitCode = e.ContainerID, e.ExitStatus
					if e.ID != e.ContainerID {
						ev.Exec = e.ID
					}
					if e.ExitedAt != nil {
						ev.At = e.ExitedAt.AsTime()
					}
				default:
					continue
				}
				ev.Labels = r.containerLabels(ctx, env.Namespace, ev.Container)
				r.add(ev)
			}
		}
	}()
	return r
}

// containerLabels looks a container's labels up once and remembers them,
// so that its exit can still be attributed after it was deleted.
func (r *taskEvents) containerLabels(ctx context.Context, ns, id string) map[string]string {
	key := ns + "/" + id
	r.mu.Lock()
	l, ok := r.labels[key]
	r.mu.Unlock()
	if ok {
		return l
	}
	c, err := r.client.ContainerService().Get(namespaces.WithNamespace(ctx, ns), id)
	if err != nil {
		return nil
	}
	r.mu.Lock()
	r.labels[key] = c.Labels
	r.mu.Unlock()
	return c.Labels
}

func (r *taskEvents) add(ev taskEvent) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.list = append(r.list, ev)
	close(r.changed)
	r.changed = make(chan struct{})
}

func (r *taskEvents) fail(err error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.err == nil {
		r.err = err
	}
	close(r.changed)
	r.changed = make(chan struct{})
}

// mark is the position after the last event so far: wait(mark, …) finds
// only events that come later.
func (r *taskEvents) mark() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.list)
}

// wait returns the first event at or after position from that matches, and
// the position after it.
func (r *taskEvents) wait(ctx context.Context, from int, match func(taskEvent) bool) (taskEvent, int, error) {
	for {
		r.mu.Lock()
		for i := from; i < len(r.list); i++ {
			if match(r.list[i]) {
				ev := r.list[i]
				r.mu.Unlock()
				return ev, i + 1, nil
			}
		}
		from = len(r.list)
		changed, err := r.changed, r.err
		r.mu.Unlock()
		if err != nil {
			return taskEvent{}, from, fmt.Errorf("containerd events: %w", err)
		}
		select {
		case <-ctx.Done():
			return taskEvent{}, from, ctx.Err()
		case <-changed:
		}
	}
}

// since returns a copy of the events from position from on.
func (r *taskEvents) since(from int) []taskEvent {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]taskEvent(nil), r.list[min(from, len(r.list)):]...)
}

// podTimes is what the API showed of one pod instance (one UID), with the
// times the bench first saw each state in the watch.
type podTimes struct {
	UID     types.UID
	IP      string
	Pod     *v1.Pod   // latest
	Running time.Time // phase Running
	Ready   time.Time // condition Ready True
	Deleted time.Time // gone from the API
}

// podWatch follows the agent's pod watch (the stream behind GET /pods)
// and remembers per pod name the times of its latest instance.
type podWatch struct {
	cancel  context.CancelFunc // ends the watch
	mu      sync.Mutex
	byName  map[string]*podTimes // namespace/name
	changed chan struct{}
	err     error
}

// watchPods watches every pod of the agent until ctx ends. When the agent
// ends a watch (a watcher that fell behind), it watches again; the initial
// ADDED events then bring the current state.
func watchPods(ctx context.Context, client *api.Client) (*podWatch, error) {
	ctx, cancel := context.WithCancel(ctx)
	pw := &podWatch{cancel: cancel, byName: map[string]*podTimes{}, changed: make(chan struct{})}
	w, err := client.WatchPods(ctx, "", api.WatchOptions{})
	if err != nil {
		cancel()
		return nil, err
	}
	go func() {
		for {
			ev, err := w.Next()
			if err != nil {
				w.Close()
				if ctx.Err() != nil {
					pw.fail(ctx.Err())
					return
				}
				if !errors.Is(err, io.EOF) {
					pw.fail(err)
					return
				}
				if w, err = client.WatchPods(ctx, "", api.WatchOptions{}); err != nil {
					pw.fail(err)
					return
				}
				continue
			}
			if ev.Pod != nil {
				pw.observe(ev.Type, ev.Pod, time.Now())
			}
		}
	}()
	return pw, nil
}

// stop ends the watch (before the agent it watches goes away).
func (pw *podWatch) stop() { pw.cancel() }

func (pw *podWatch) observe(t watch.EventType, p *v1.Pod, now time.Time) {
	pw.mu.Lock()
	defer pw.mu.Unlock()
	key := p.Namespace + "/" + p.Name
	pt := pw.byName[key]
	if pt == nil || pt.UID != p.UID || (!pt.Deleted.IsZero() && t != watch.Deleted) {
		pt = &podTimes{UID: p.UID}
		pw.byName[key] = pt
	}
	pt.Pod = p
	if p.Status.PodIP != "" {
		pt.IP = p.Status.PodIP
	}
	if t == watch.Deleted {
		if pt.Deleted.IsZero() {
			pt.Deleted = now
		}
	} else {
		if p.Status.Phase == v1.PodRunning && pt.Running.IsZero() {
			pt.Running = now
		}
		if podReady(p) && pt.Ready.IsZero() {
			pt.Ready = now
		}
	}
	close(pw.changed)
	pw.changed = make(chan struct{})
}

func (pw *podWatch) fail(err error) {
	pw.mu.Lock()
	defer pw.mu.Unlock()
	if pw.err == nil {
		pw.err = err
	}
	close(pw.changed)
	pw.changed = make(chan struct{})
}

// wait blocks until cond holds for the pod's latest instance and returns a
// copy of it. cond sees nil while the pod was never seen.
func (pw *podWatch) wait(ctx context.Context, name string, cond func(*podTimes) bool) (podTimes, error) {
	key := "default/" + name
	for {
		pw.mu.Lock()
		pt := pw.byName[key]
		if cond(pt) {
			var out podTimes
			if pt != nil {
				out = *pt
			}
			pw.mu.Unlock()
			return out, nil
		}
		changed, err := pw.changed, pw.err
		pw.mu.Unlock()
		if err != nil {
			return podTimes{}, fmt.Errorf("pod watch: %w", err)
		}
		select {
		case <-ctx.Done():
			var phase string
			if pt != nil && pt.Pod != nil {
				phase = string(pt.Pod.Status.Phase)
			}
			return podTimes{}, fmt.Errorf("pod %s (phase %q): %w", name, phase, ctx.Err())
		case <-changed:
		}
	}
}

// forget drops what is known about a pod name, so that the next instance
// starts a fresh record even if it reuses the UID.
func (pw *podWatch) forget(name string) {
	pw.mu.Lock()
	defer pw.mu.Unlock()
	delete(pw.byName, "default/"+name)
}

func podReady(p *v1.Pod) bool {
	for _, c := range p.Status.Conditions {
		if c.Type == v1.PodReady {
			return c.Status == v1.ConditionTrue
		}
	}
	return false
}

// Conditions for podWatch.wait.
func isRunning(pt *podTimes) bool { return pt != nil && !pt.Running.IsZero() }
func isReady(pt *podTimes) bool   { return pt != nil && !pt.Ready.IsZero() }
func isGone(pt *podTimes) bool    { return pt == nil || !pt.Deleted.IsZero() }
