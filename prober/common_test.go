package prober

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"go.uber.org/zap/zaptest"
	v1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	clocktesting "k8s.io/utils/clock/testing"
)

var epoch = time.Date(2025, 1, 1, 12, 0, 0, 0, time.UTC)

// fakeStatus is a StatusProvider over a map of published pods.
type fakeStatus struct {
	mu   sync.Mutex
	pods map[types.UID]*v1.Pod
}

// Peek copies: tests change the published pods in place (update).
func (f *fakeStatus) Peek(uid types.UID) (*v1.Pod, bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	p, ok := f.pods[uid]
	if !ok {
		return nil, false
	}
	return p.DeepCopy(), true
}

func (f *fakeStatus) set(p *v1.Pod) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.pods == nil {
		f.pods = map[types.UID]*v1.Pod{}
	}
	f.pods[p.UID] = p.DeepCopy()
}

// update changes the published pod with uid in place.
func (f *fakeStatus) update(uid types.UID, fn func(*v1.Pod)) {
	f.mu.Lock()
	defer f.mu.Unlock()
	fn(f.pods[uid])
}

// fakeExec returns scripted results, one per call, repeating the last.
type fakeExec struct {
	mu     sync.Mutex
	script []execResult
	calls  int
	ids    []string
	cmds   [][]string
}

type execResult struct {
	out  string
	code int32
	err  error
}

func (f *fakeExec) ExecSync(ctx context.Context, id string, cmd []string, timeout time.Duration) ([]byte, int32, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.calls++
	f.ids = append(f.ids, id)
	f.cmds = append(f.cmds, cmd)
	if len(f.script) == 0 {
		return nil, 0, nil
	}
	r := f.script[0]
	if len(f.script) > 1 {
		f.script = f.script[1:]
	}
	return []byte(r.out), r.code, r.err
}

// then replaces the script.
func (f *fakeExec) then(rs ...execResult) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.script = rs
}

func (f *fakeExec) count() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.calls
}

var (
	pass = execResult{out: "ok"}
	fail = execResult{out: "nope", code: 1}
)

// fakeRecorder keeps events as "Type Reason Message".
type fakeRecorder struct {
	mu     sync.Mutex
	events []string
}

func (r *fakeRecorder) Event(ref *v1.ObjectReference, eventType, reason, message string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.events = append(r.events, fmt.Sprintf("%s %s %s %s", ref.FieldPath, eventType, reason, message))
}

func (r *fakeRecorder) take() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	e := r.events
	r.events = nil
	return e
}

// harness is a Manager over fakes and a fake clock.
type harness struct {
	t      *testing.T
	m      *Manager
	clock  *clocktesting.FakeClock
	status *fakeStatus
	exec   *fakeExec
	rec    *fakeRecorder

	mu       sync.Mutex
	notified []types.UID
}

func newHarness(t *testing.T) *harness {
	h := &harness{
		t:      t,
		clock:  clocktesting.NewFakeClock(epoch),
		status: &fakeStatus{},
		exec:   &fakeExec{},
		rec:    &fakeRecorder{},
	}
	h.m = NewManager(Options{
		Log:      zaptest.NewLogger(t),
		Exec:     h.exec,
		Status:   h.status,
		Recorder: h.rec,
		Notify: func(uid types.UID) {
			h.mu.Lock()
			defer h.mu.Unlock()
			h.notified = append(h.notified, uid)
		},
		Clock:      h.clock,
		Version:    "1.34",
		AgentStart: epoch.Add(-time.Hour), // no start-up jitter unless a test asks
	})
	t.Cleanup(h.m.Stop)
	return h
}

func (h *harness) notifications() int {
	h.mu.Lock()
	defer h.mu.Unlock()
	n := len(h.notified)
	h.notified = nil
	return n
}

// worker builds a worker for the pod's first container without starting
// its goroutine, so a test can drive doProbe one step at a time.
func (h *harness) worker(pod *v1.Pod, t ProbeType) *worker {
	c := &pod.Spec.Containers[0]
	w := h.m.newWorker(probeKey{podUID: pod.UID, container: c.Name, probeType: t}, pod, c, withDefaults(probeOf(c, t), t), false)
	h.t.Cleanup(w.stop)
	return w
}

// execProbe is an exec probe with the given thresholds.
func execProbe(success, failure int32) *v1.Probe {
	return &v1.Probe{
		ProbeHandler:     v1.ProbeHandler{Exec: &v1.ExecAction{Command: []string{"cat", "/tmp/healthy"}}},
		PeriodSeconds:    10,
		TimeoutSeconds:   1,
		SuccessThreshold: success,
		FailureThreshold: failure,
	}
}

// testPod has one container "app" with the given probes.
func testPod(uid string, liveness, readiness, startup *v1.Probe) *v1.Pod {
	return &v1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: "web", Namespace: "default", UID: types.UID(uid)},
		Spec: v1.PodSpec{
			RestartPolicy: v1.RestartPolicyAlways,
			Containers: []v1.Container{{
				Name: "app", Image: "nginx",
				LivenessProbe: liveness, ReadinessProbe: readiness, StartupProbe: startup,
			}},
		},
	}
}

// running publishes pod with its first container running as id since
// startedAt, with the given started flag and podIP 127.0.0.1.
func running(pod *v1.Pod, id string, startedAt time.Time, started bool) *v1.Pod {
	p := pod.DeepCopy()
	p.Status = v1.PodStatus{
		Phase: v1.PodRunning,
		PodIP: "127.0.0.1",
		ContainerStatuses: []v1.ContainerStatus{{
			Name:        p.Spec.Containers[0].Name,
			ContainerID: id,
			State:       v1.ContainerState{Running: &v1.ContainerStateRunning{StartedAt: metav1.NewTime(startedAt)}},
			Started:     &started,
		}},
	}
	return p
}

// waitFor polls cond until it holds or the deadline passes.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(2 * time.Millisecond)
	}
}
