package podworker

import (
	"context"
	"fmt"
	"sort"
	"sync"
	"time"

	v1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/types"

	"github.com/minikubelet/minikubelet/runtime"
)

// fakeRuntime is an in-memory Runtime: started containers run until the
// test makes them exit. It records every call for assertions.
type fakeRuntime struct {
	mu         sync.Mutex
	seq        int
	sandboxes  map[string]*runtime.Sandbox
	containers map[string]*runtime.Container
	saved      map[types.UID]*v1.Pod
	images     map[string]bool
	calls      []string
	stateReads int // PodState calls
	listings   int // ListPods calls
	startups   int // StartupPods calls
	cleaned    map[types.UID]bool
	// dirs are the pods with a state or log dir: made by RunSandbox,
	// removed by CleanupPod.
	dirs map[types.UID]bool
	// holdDirs, when set, makes PodDirUIDs wait until it is closed.
	holdDirs chan struct{}
	// holdCleanup, when set, makes CleanupPod wait until it is closed,
	// once the call is recorded.
	holdCleanup chan struct{}
	events      chan runtime.Event
	// graces holds the grace period of each StopContainer, by container name.
	graces map[string][]time.Duration
	// volumeErr is what PrepareVolumes returns; volumeCalls counts calls.
	volumeErr   error
	volumeCalls int
	// startErr, by container name, is what StartContainer returns.
	startErr map[string]error
	// holdStop, when set, makes a StopContainer with at least this grace
	// period wait for its context (a container that ignores SIGTERM).
	holdStop time.Duration
	// hold, when set, makes PodState wait until it is closed (a slow
	// containerd).
	hold chan struct{}
}

var _ Runtime = (*fakeRuntime)(nil)

func newFakeRuntime() *fakeRuntime {
	return &fakeRuntime{
		sandboxes:  map[string]*runtime.Sandbox{},
		containers: map[string]*runtime.Container{},
		saved:      map[types.UID]*v1.Pod{},
		images:     map[string]bool{"busybox": true},
		cleaned:    map[types.UID]bool{},
		dirs:       map[types.UID]bool{},
		events:     make(chan runtime.Event, 100),
		graces:     map[string][]time.Duration{},
	}
}

func (f *fakeRuntime) record(format string, args ...any) {
	f.calls = append(f.calls, fmt.Sprintf(format, args...))
}

func (f *fakeRuntime) Calls() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]string(nil), f.calls...)
}

func (f *fakeRuntime) state(uid types.UID) runtime.PodState {
	ps := runtime.PodState{UID: uid}
	for _, sb := range f.sandboxes {
		if sb.PodUID == uid {
			ps.Sandboxes = append(ps.Sandboxes, *sb)
			ps.Name, ps.Namespace = sb.PodName, sb.PodNamespace
		}
	}
	for _, c := range f.containers {
		if c.PodUID == uid {
			ps.Containers = append(ps.Containers, *c)
		}
	}
	sort.Slice(ps.Sandboxes, func(i, j int) bool { return ps.Sandboxes[i].CreatedAt.After(ps.Sandboxes[j].CreatedAt) })
	sort.Slice(ps.Containers, func(i, j int) bool { return ps.Containers[i].CreatedAt.After(ps.Containers[j].CreatedAt) })
	return ps
}

func (f *fakeRuntime) ListPods(context.Context) ([]runtime.PodState, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.listings++
	return f.pods(), nil
}

func (f *fakeRuntime) StartupPods(context.Context) ([]runtime.PodState, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.startups++
	return f.pods(), nil
}

// pods is every pod's state (f.mu held).
func (f *fakeRuntime) pods() []runtime.PodState {
	uids := map[types.UID]bool{}
	for _, sb := range f.sandboxes {
		uids[sb.PodUID] = true
	}
	var out []runtime.PodState
	for uid := range uids {
		out = append(out, f.state(uid))
	}
	return out
}

func (f *fakeRuntime) PodState(_ context.Context, uid types.UID) (runtime.PodState, error) {
	f.mu.Lock()
	hold := f.hold
	f.mu.Unlock()
	if hold != nil {
		<-hold
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	f.stateReads++
	return f.state(uid), nil
}

func (f *fakeRuntime) now() time.Time {
	f.seq++
	return time.Unix(0, 0).Add(time.Duration(f.seq) * time.Millisecond).Add(time.Since(time.Unix(0, 0)).Truncate(time.Hour))
}

func (f *fakeRuntime) PrepareVolumes(_ context.Context, pod *v1.Pod) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.volumeCalls++
	return f.volumeErr
}

func (f *fakeRuntime) RunSandbox(_ context.Context, pod *v1.Pod, attempt uint32) (runtime.Sandbox, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.record("RunSandbox %s %d", pod.Name, attempt)
	sb := &runtime.Sandbox{ID: fmt.Sprintf("sb%d", f.seq), PodUID: pod.UID, PodName: pod.Name, PodNamespace: pod.Namespace,
		Attempt: attempt, Ready: true, IPs: []string{"10.0.0.9"}, PID: 1, CreatedAt: f.now()}
	f.sandboxes[sb.ID] = sb
	f.saved[pod.UID] = pod
	f.dirs[pod.UID] = true
	return *sb, nil
}

func (f *fakeRuntime) StopSandbox(_ context.Context, id string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.record("StopSandbox %s", id)
	if sb := f.sandboxes[id]; sb != nil {
		sb.Ready, sb.PID = false, 0
		for _, c := range f.containers {
			if c.SandboxID == id && c.State == runtime.StateRunning {
				c.State, c.ExitCode, c.FinishedAt = runtime.StateExited, 137, time.Now()
			}
		}
	}
	return nil
}

func (f *fakeRuntime) RemoveSandbox(_ context.Context, id string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.record("RemoveSandbox %s", id)
	delete(f.sandboxes, id)
	return nil
}

func (f *fakeRuntime) SavedPod(_ context.Context, uid types.UID) (*v1.Pod, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if p, ok := f.saved[uid]; ok {
		return p, nil
	}
	return nil, fmt.Errorf("no saved pod %s", uid)
}

func (f *fakeRuntime) CleanupPod(ctx context.Context, uid types.UID) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.record("CleanupPod %s", uid)
	if hold := f.holdCleanup; hold != nil {
		f.mu.Unlock()
		select {
		case <-hold:
		case <-ctx.Done():
		}
		f.mu.Lock()
	}
	f.cleaned[uid] = true
	delete(f.dirs, uid)
	return nil
}

func (f *fakeRuntime) PodDirUIDs(ctx context.Context) ([]types.UID, error) {
	f.mu.Lock()
	hold := f.holdDirs
	f.mu.Unlock()
	if hold != nil {
		select {
		case <-hold:
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	var out []types.UID
	for uid := range f.dirs {
		out = append(out, uid)
	}
	sort.Slice(out, func(i, j int) bool { return out[i] < out[j] })
	return out, nil
}

func (f *fakeRuntime) ImageStatus(_ context.Context, ref string) (runtime.ImageInfo, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.images[ref] {
		return runtime.ImageInfo{Ref: "docker.io/library/" + ref + ":latest", ID: "sha256:abc"}, nil
	}
	return runtime.ImageInfo{}, runtime.ErrImageNotPresent
}

func (f *fakeRuntime) PullImage(_ context.Context, ref string) (runtime.ImageInfo, error) {
	return runtime.ImageInfo{}, fmt.Errorf("pull %s: registry unreachable", ref)
}

func (f *fakeRuntime) StartContainer(_ context.Context, sb runtime.Sandbox, pod *v1.Pod, c *v1.Container, opts runtime.ContainerOptions) (runtime.Container, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.record("StartContainer %s %d", c.Name, opts.RestartCount)
	if err := f.startErr[c.Name]; err != nil {
		return runtime.Container{}, err
	}
	t := f.now()
	ctr := &runtime.Container{ID: fmt.Sprintf("%s-%d", c.Name, f.seq), PodUID: pod.UID, SandboxID: sb.ID, Name: c.Name, Kind: opts.Kind,
		RestartCount: opts.RestartCount, State: runtime.StateRunning, CreatedAt: t, StartedAt: t, LogPath: opts.LogPath, SpecHash: opts.SpecHash}
	f.containers[ctr.ID] = ctr
	return *ctr, nil
}

func (f *fakeRuntime) StopContainer(ctx context.Context, id string, grace time.Duration) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	c := f.containers[id]
	if c == nil {
		return nil
	}
	f.record("StopContainer %s", c.Name)
	f.graces[c.Name] = append(f.graces[c.Name], grace)
	if f.holdStop > 0 && grace >= f.holdStop {
		f.mu.Unlock()
		<-ctx.Done()
		f.mu.Lock()
		return ctx.Err()
	}
	if c.State == runtime.StateRunning {
		c.State, c.ExitCode, c.Reason, c.FinishedAt = runtime.StateExited, 143, "Error", time.Now()
	}
	return nil
}

func (f *fakeRuntime) RemoveContainer(_ context.Context, id string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if c := f.containers[id]; c != nil {
		f.record("RemoveContainer %s", c.Name)
	}
	delete(f.containers, id)
	return nil
}

func (f *fakeRuntime) Subscribe(ctx context.Context) <-chan runtime.Event {
	out := make(chan runtime.Event)
	go func() {
		defer close(out)
		for {
			select {
			case <-ctx.Done():
				return
			case ev := <-f.events:
				select {
				case out <- ev:
				case <-ctx.Done():
					return
				}
			}
		}
	}()
	return out
}

// exit ends the running instance of the named container with code.
func (f *fakeRuntime) exit(uid types.UID, name string, code int32) bool {
	return f.exitAt(uid, name, code, time.Now())
}

// exitAt is exit with the finish time the runtime reports (a wall-clock
// time, which a clock step moves).
func (f *fakeRuntime) exitAt(uid types.UID, name string, code int32, finishedAt time.Time) bool {
	return f.exitWith(uid, name, code, finishedAt, true)
}

// exitUnreported is exit without an event: one containerd's stream lost.
func (f *fakeRuntime) exitUnreported(uid types.UID, name string, code int32) bool {
	return f.exitWith(uid, name, code, time.Now(), false)
}

func (f *fakeRuntime) exitWith(uid types.UID, name string, code int32, finishedAt time.Time, report bool) bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	for _, c := range f.containers {
		if c.PodUID == uid && c.Name == name && c.State == runtime.StateRunning {
			c.State, c.ExitCode, c.FinishedAt = runtime.StateExited, code, finishedAt
			c.Reason = "Completed"
			if code != 0 {
				c.Reason = "Error"
			}
			if report {
				f.events <- runtime.Event{Type: runtime.ContainerExited, PodUID: uid, ContainerID: c.ID, ExitCode: code}
			}
			return true
		}
	}
	return false
}

func runtimeOpts() runtime.ContainerOptions { return runtime.ContainerOptions{Kind: runtime.KindApp} }
