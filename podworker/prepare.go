package podworker

import (
	"context"
	"fmt"
	"reflect"
	"slices"

	"go.uber.org/zap"
	v1 "k8s.io/api/core/v1"

	"github.com/minikubelet/minikubelet/internal/kuberules"
	"github.com/minikubelet/minikubelet/runtime"
)

// preparedContainer is a container made ahead in containerd (its snapshot
// and record, runtime.PrepareContainer) while the regular init container
// before it starts and runs: the next init container, or after the last
// one the app containers. Once that init container has exited 0 only the
// task's creation and start are left. It is no attempt of its container:
// nothing is published or counted about it until it starts, and the start
// emits the events it always did (Created, then Started: the kubelet
// creates a container right before it starts it, and that is the creation
// a user sees). It is only used when nothing it was made from changed:
// same pod, sandbox, first instance, image, ConfigMaps and Secrets,
// Service variables.
type preparedContainer struct {
	pod       *v1.Pod // the copy it was made from: an unchanged pod stays the same copy
	sandboxID string
	imageID   string
	configGen uint64
	svcEnv    []v1.EnvVar

	// Set by the preparing goroutine before it closes done.
	done     chan struct{}
	id       string
	err      error
	warnings [][2]string // Warn calls (reason, message), replayed at the start
}

// prepareNext starts preparing what runs after the regular init container
// being started in this sync (acts) or running (see nextContainers), but
// what is prepared already or cannot be (its start pulls its image). A
// prepared container no longer wanted is removed, as are prepared
// containers no worker holds (an earlier agent's).
func (w *worker) prepareNext(ctx context.Context, sb runtime.Sandbox, ps *runtime.PodState, acts *podActions) {
	next, kind := w.nextContainers(ps, acts)
	// Kept: the ones wanted next, and those this sync is about to start.
	wanted := map[string]bool{}
	for _, c := range next {
		wanted[c.Name] = true
	}
	for _, i := range acts.InitContainersToStart {
		wanted[w.pod.Spec.InitContainers[i].Name] = true
	}
	for _, i := range acts.ContainersToStart {
		wanted[w.pod.Spec.Containers[i].Name] = true
	}
	busy, held := false, map[string]bool{}
	for name, p := range w.prepared {
		if !wanted[name] || p.pod != w.pod || p.sandboxID != sb.ID {
			w.dropOne(ctx, name)
			continue
		}
		if !isClosed(p.done) {
			busy = true // its id is not known yet
			continue
		}
		held[p.id] = true
	}
	if !busy {
		// An earlier agent's, or one whose removal failed. While one is
		// being made it may already be listed: it is left for a later sync.
		for _, id := range ps.Prepared {
			if !held[id] {
				w.removePrepared(ctx, id)
			}
		}
	}
	for _, c := range next {
		if w.prepared[c.Name] == nil {
			w.prepare(ctx, sb, c, kind)
		}
	}
}

// prepare starts preparing c in a goroutine of its own.
func (w *worker) prepare(ctx context.Context, sb runtime.Sandbox, c *v1.Container, kind runtime.ContainerKind) {
	p := &preparedContainer{pod: w.pod, sandboxID: sb.ID, configGen: w.m.configGen.Load(),
		svcEnv: serviceEnv(w.pod, w.m.cfg.Services), done: make(chan struct{})}
	if w.prepared == nil {
		w.prepared = map[string]*preparedContainer{}
	}
	w.prepared[c.Name] = p
	pod, hash, logPath := w.pod, specHash(c), runtime.LogPath(w.m.cfg.LogDir, w.pod, c.Name, 0)
	go func() {
		defer close(p.done)
		// The image as ensureImage would find it, without its events: a
		// container whose start pulls is not prepared (the pull is the
		// start's, with its events).
		img, err := w.m.rt.ImageStatus(ctx, c.Image)
		switch {
		case err != nil:
			p.err = fmt.Errorf("image %q: %w", c.Image, err)
		case w.mustPull(c, img, true):
			p.err = fmt.Errorf("image %q is pulled at its start", c.Image)
		}
		if p.err != nil {
			w.log.Debug("container not prepared ahead", zap.String("container", c.Name), zap.Error(p.err))
			return
		}
		p.imageID = img.ID
		p.id, p.err = w.m.rt.PrepareContainer(ctx, sb, pod, c, runtime.ContainerOptions{
			Kind:       kind,
			SpecHash:   hash,
			Image:      img,
			LogPath:    logPath,
			Warn:       func(reason, msg string) { p.warnings = append(p.warnings, [2]string{reason, msg}) },
			ServiceEnv: p.svcEnv,
		})
		if p.err != nil && ctx.Err() == nil {
			w.log.Warn("container not prepared ahead", zap.String("container", c.Name), zap.Error(p.err))
		}
	}()
}

// nextContainers is what starts once the regular init container being
// started or running has exited 0: the init container after it, or after
// the last one every app container; only those that never ran in this
// sandbox.
func (w *worker) nextContainers(ps *runtime.PodState, acts *podActions) ([]*v1.Container, runtime.ContainerKind) {
	inits := w.pod.Spec.InitContainers
	cur := -1
	for _, i := range acts.InitContainersToStart {
		if !kuberules.IsSidecar(&inits[i]) {
			cur = i
			break
		}
	}
	if cur < 0 {
		cur = slices.IndexFunc(inits, func(c v1.Container) bool {
			r := latest(ps, c.Name)
			return !kuberules.IsSidecar(&c) && r != nil && r.State == runtime.StateRunning
		})
	}
	if cur < 0 {
		return nil, ""
	}
	candidates, kind := inits[cur+1:min(cur+2, len(inits))], runtime.KindInit
	if cur == len(inits)-1 {
		candidates, kind = w.pod.Spec.Containers, runtime.KindApp
	}
	var out []*v1.Container
	for i := range candidates {
		if latest(ps, candidates[i].Name) == nil {
			out = append(out, &candidates[i])
		}
	}
	return out, kind
}

// takePrepared sets opts.Prepared to the container prepared for this
// start of c, if any, and replays the warnings its preparation recorded;
// one that no longer fits is removed instead. It waits for a preparation
// under way.
func (w *worker) takePrepared(ctx context.Context, c *v1.Container, sb runtime.Sandbox, opts *runtime.ContainerOptions) {
	p := w.prepared[c.Name]
	if p == nil {
		return
	}
	select {
	case <-p.done:
	case <-ctx.Done():
		return
	}
	if p.err != nil || p.id == "" || p.pod != w.pod || p.sandboxID != sb.ID || opts.RestartCount != 0 ||
		p.imageID != opts.Image.ID || p.configGen != w.m.configGen.Load() || !reflect.DeepEqual(p.svcEnv, opts.ServiceEnv) {
		w.dropOne(ctx, c.Name)
		return
	}
	delete(w.prepared, c.Name)
	opts.Prepared = p.id
	for _, warn := range p.warnings {
		opts.Warn(warn[0], warn[1])
	}
}

// dropPrepared removes the prepared containers, once their preparation is
// over, and those of ps.Prepared (nil: none).
func (w *worker) dropPrepared(ctx context.Context, ps *runtime.PodState) {
	for name := range w.prepared {
		w.dropOne(ctx, name)
	}
	if ps != nil {
		for _, id := range ps.Prepared {
			w.removePrepared(ctx, id)
		}
	}
}

// dropOne removes the container prepared for name once its preparation
// is over (it ends with its context at the latest).
func (w *worker) dropOne(ctx context.Context, name string) {
	p := w.prepared[name]
	<-p.done
	delete(w.prepared, name)
	if p.id != "" {
		w.removePrepared(ctx, p.id)
	}
}

func (w *worker) removePrepared(ctx context.Context, id string) {
	if err := w.m.rt.RemoveContainer(ctx, id); err != nil && ctx.Err() == nil {
		w.log.Warn("remove prepared init container", zap.String("id", id), zap.Error(err))
	}
}
