package podworker

import (
	"context"
	"sync/atomic"
	"testing"
	"time"

	"go.uber.org/zap/zaptest"
	v1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/watch"

	"github.com/minikubelet/minikubelet/events"
	"github.com/minikubelet/minikubelet/status"
)

// stopGatedRuntime holds every StopContainer until gate is closed, so a
// test can act while a pod is being terminated.
type stopGatedRuntime struct {
	*fakeRuntime
	armed    atomic.Bool
	stopping chan struct{} // receives once per StopContainer entered while armed
	gate     chan struct{}
}

func (g *stopGatedRuntime) StopContainer(ctx context.Context, id string, grace time.Duration) error {
	if g.armed.Load() {
		select {
		case g.stopping <- struct{}{}:
		default:
		}
		<-g.gate
	}
	return g.fakeRuntime.StopContainer(ctx, id, grace)
}

// When a pod's UID comes back while its old worker still terminates it,
// the old worker's last writes (its terminating status, its final delete)
// never touch what the new worker publishes: a watcher sees no Deleted
// event after the manifest came back, and no terminating status.
func TestWorkerUIDBackOldWorkerNeverUnpublishes(t *testing.T) {
	rt := &stopGatedRuntime{fakeRuntime: newFakeRuntime(), stopping: make(chan struct{}, 1), gate: make(chan struct{})}
	log := zaptest.NewLogger(t)
	h := &harness{t: t, rt: rt.fakeRuntime, store: status.NewStore(), ev: events.NewStore(log, "node", 1000)}
	h.m = New(log, Config{}, rt, h.store, h.ev, nil)
	mctx, stop := context.WithCancel(context.Background())
	if err := h.m.Start(mctx); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { stop(); h.m.Wait() })
	pod := testPod(v1.RestartPolicyAlways, nil, "app")
	h.m.SetPods([]*v1.Pod{pod})
	h.waitFor("running", func() bool { return running(h.containerState(pod.UID, "app")) })

	rt.armed.Store(true)
	h.m.SetPods(nil)
	select {
	case <-rt.stopping:
	case <-time.After(10 * time.Second):
		t.Fatal("the old worker never stopped the container")
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	evs := h.store.Watch(ctx, 1000)
	h.m.SetPods([]*v1.Pod{pod}) // the manifest is back, same UID
	close(rt.gate)

	h.waitFor("cleaned", func() bool {
		rt.mu.Lock()
		defer rt.mu.Unlock()
		return rt.cleaned[pod.UID]
	})
	h.waitFor("running again", func() bool { return running(h.containerState(pod.UID, "app")) })
	cancel()
	for ev := range evs {
		if ev.Pod.UID != pod.UID {
			continue
		}
		if ev.Type == watch.Deleted {
			t.Errorf("the pod was deleted from the store after its manifest came back")
		}
		if ev.Pod.DeletionTimestamp != nil {
			t.Errorf("a terminating status was published after the manifest came back: %s", ev.Pod.Status.Phase)
		}
	}
	if h.pod(pod.UID) == nil {
		t.Fatal("pod not published")
	}
}
