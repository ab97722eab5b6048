package runtime

import (
	"context"
	"fmt"
	"strconv"
	"time"

	apievents "github.com/containerd/containerd/api/events"
	"github.com/containerd/containerd/events"
	"github.com/containerd/typeurl/v2"
	"go.uber.org/zap"
	"k8s.io/apimachinery/pkg/types"
)

// eventBuffer decouples containerd's stream from a briefly busy consumer.
const eventBuffer = 64

// Subscribe streams exits and OOM kills of this runtime's containers until
// ctx ends, then closes the channel. It holds one subscription to
// containerd's event stream and re-subscribes with backoff when the stream
// breaks (containerd restarted); exits during such a gap are not replayed,
// but PodState still reports them.
//
// Only init processes count: a process started by ExecSync or Exec also
// produces /tasks/exit, with its exec ID, and is ignored. Exits of pause
// tasks are reported too (ContainerID is then the sandbox ID), so the
// consumer learns that a sandbox died. An exit is finalized into the
// container's labels before it is sent.
func (c *Containerd) Subscribe(ctx context.Context) <-chan Event {
	out := make(chan Event, eventBuffer)
	go func() {
		defer close(out)
		backoff := 100 * time.Millisecond
		for ctx.Err() == nil {
			start := time.Now()
			err := c.streamEvents(ctx, out)
			if ctx.Err() != nil {
				return
			}
			if time.Since(start) > time.Minute {
				backoff = 100 * time.Millisecond
			}
			c.log.Warn("containerd event stream broke; subscribing again", zap.Error(err), zap.Duration("after", backoff))
			select {
			case <-ctx.Done():
				return
			case <-time.After(backoff):
			}
			backoff = min(2*backoff, 5*time.Second)
		}
	}()
	return out
}

// streamEvents runs one subscription until it fails or ctx ends.
func (c *Containerd) streamEvents(ctx context.Context, out chan<- Event) error {
	sctx, cancel := context.WithCancel(c.ns(ctx))
	defer cancel()
	ns := strconv.Quote(c.cfg.Namespace)
	envelopes, errs := c.client.EventService().Subscribe(sctx,
		fmt.Sprintf(`namespace==%s,topic=="/tasks/exit"`, ns),
		fmt.Sprintf(`namespace==%s,topic=="/tasks/oom"`, ns),
	)
	for {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case err := <-errs:
			if err == nil {
				err = fmt.Errorf("event stream closed")
			}
			return err
		case env := <-envelopes:
			if env == nil {
				continue
			}
			ev, ok := c.translate(ctx, env)
			if !ok {
				continue
			}
			select {
			case out <- ev:
			case <-ctx.Done():
				return ctx.Err()
			}
		}
	}
}

// translate turns a containerd event into ours; ok is false for events
// that are not about an init process of one of our containers.
func (c *Containerd) translate(ctx context.Context, env *events.Envelope) (Event, bool) {
	v, err := typeurl.UnmarshalAny(env.Event)
	if err != nil {
		c.log.Warn("decode containerd event", zap.String("topic", env.Topic), zap.Error(err))
		return Event{}, false
	}
	ctx = c.ns(ctx)
	switch e := v.(type) {
	case *apievents.TaskExit:
		if e.ID != e.ContainerID {
			return Event{}, false // an exec'd process, not the container
		}
		uid, ok := c.podOf(ctx, e.ContainerID)
		if !ok {
			return Event{}, false
		}
		fctx, cancel := context.WithTimeout(ctx, cleanupTimeout)
		if err := c.finalize(fctx, e.ContainerID); err != nil {
			c.log.Warn("finalize exited container", zap.String("id", e.ContainerID), zap.Error(err))
		}
		cancel()
		at := time.Now()
		if e.ExitedAt != nil {
			at = e.ExitedAt.AsTime()
		}
		return Event{Type: ContainerExited, PodUID: uid, ContainerID: e.ContainerID, ExitCode: int32(e.ExitStatus), At: at}, true
	case *apievents.TaskOOM:
		uid, ok := c.podOf(ctx, e.ContainerID)
		if !ok {
			return Event{}, false
		}
		c.recordOOM(ctx, e.ContainerID)
		return Event{Type: ContainerOOM, PodUID: uid, ContainerID: e.ContainerID, At: time.Now()}, true
	}
	return Event{}, false
}

// podOf returns the pod of one of our containers.
func (c *Containerd) podOf(ctx context.Context, id string) (types.UID, bool) {
	r, err := c.client.ContainerService().Get(ctx, id)
	if err != nil {
		return "", false
	}
	uid := r.Labels[LabelPodUID]
	return types.UID(uid), uid != ""
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
