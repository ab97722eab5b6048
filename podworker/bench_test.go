package podworker

import (
	"context"
	"testing"
	"time"

	"go.uber.org/zap"
	v1 "k8s.io/api/core/v1"

	"github.com/minikubelet/minikubelet/events"
	"github.com/minikubelet/minikubelet/status"
)

// BenchmarkIdleSync is the agent's own CPU for one resync of a running pod
// with nothing to do (the runtime a fake: containerd's share not counted).
func BenchmarkIdleSync(b *testing.B) {
	rt := newFakeRuntime()
	store := status.NewStore()
	m := New(zap.NewNop(), Config{}, rt, store, events.NewStore(zap.NewNop(), "node", 100), nil)
	pod := testPod(v1.RestartPolicyAlways, []string{"init"}, "app", "sidecar")
	w := &worker{m: m, pod: pod, log: zap.NewNop(), stopped: map[string]bool{}, reasons: map[string]waitReason{},
		backoff: newBackOff(time.Second, time.Minute), imageBackoff: newBackOff(time.Second, time.Minute),
		volumeRetry: newRetryGate(newBackOff(time.Second, time.Minute)), startRetry: newRetryGate(newBackOff(time.Second, time.Second)),
		published: store.Own(pod.UID), exitSeen: map[string]time.Time{}}
	ctx := context.Background()
	w.sync(ctx)
	rt.exit(pod.UID, "init", 0)
	w.sync(ctx)
	w.sync(ctx)
	b.ReportAllocs()
	for b.Loop() {
		w.sync(ctx)
	}
}
