package kubeapi

import (
	"fmt"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"
	v1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	k8stypes "k8s.io/apimachinery/pkg/types"
)

func TestPodStartsCountsEachStartOnce(t *testing.T) {
	since := time.Now()
	pod := func(uid string, phase v1.PodPhase, started time.Time) *v1.Pod {
		p := &v1.Pod{ObjectMeta: metav1.ObjectMeta{UID: k8stypes.UID("u" + uid), Annotations: map[string]string{
			annotationConfigSeen: since.Add(-time.Second).Format(time.RFC3339Nano)}}}
		p.Status.Phase = phase
		if !started.IsZero() {
			p.Status.ContainerStatuses = []v1.ContainerStatus{{State: v1.ContainerState{Running: &v1.ContainerStateRunning{StartedAt: metav1.NewTime(started)}}}}
		}
		return p
	}
	after, before := since.Add(time.Second), since.Add(-time.Minute)
	for _, tc := range []struct {
		name    string
		updates []*v1.Pod
		want    uint64
	}{
		{"pending then running", []*v1.Pod{pod("a", v1.PodPending, time.Time{}), pod("a", v1.PodRunning, after)}, 1},
		// The feed reads the store's current pod: a quick start may be
		// first seen Running.
		{"first seen running, started after the feed", []*v1.Pod{pod("a", v1.PodRunning, after)}, 1},
		{"adopted: started before the feed", []*v1.Pod{pod("a", v1.PodRunning, before)}, 0},
		{"running twice", []*v1.Pod{pod("a", v1.PodPending, time.Time{}), pod("a", v1.PodRunning, after), pod("a", v1.PodRunning, after)}, 1},
		{"failed before running", []*v1.Pod{pod("a", v1.PodPending, time.Time{}), pod("a", v1.PodFailed, time.Time{}), pod("a", v1.PodRunning, after)}, 0},
		{"two pods", []*v1.Pod{pod("a", v1.PodRunning, after), pod("b", v1.PodPending, time.Time{}), pod("b", v1.PodRunning, after)}, 2},
	} {
		t.Run(tc.name, func(t *testing.T) {
			m := NewMetrics()
			starts := newPodStarts(since)
			for _, p := range tc.updates {
				starts.update(m, p, false)
			}
			var got dto.Metric
			if err := m.podStart.Write(&got); err != nil {
				t.Fatal(err)
			}
			if n := got.GetHistogram().GetSampleCount(); n != tc.want {
				t.Errorf("pod starts observed: %d, want %d", n, tc.want)
			}
		})
	}
}

// A relist forgets the pods that went while the feed was behind (it saw no
// deletion for them): their start state and probe series go, the others'
// stay.
func TestPodStartsRelistForgetsGonePods(t *testing.T) {
	m := NewMetrics()
	starts := newPodStarts(time.Now())
	pod := func(uid string, phase v1.PodPhase) *v1.Pod {
		p := &v1.Pod{ObjectMeta: metav1.ObjectMeta{Namespace: "default", Name: "p" + uid, UID: k8stypes.UID(uid)}}
		p.Status.Phase = phase
		return p
	}
	for i := range 100 {
		uid := fmt.Sprint(i)
		starts.update(m, pod(uid, v1.PodPending), false)
		if i%2 == 0 {
			starts.update(m, pod(uid, v1.PodRunning), false)
		}
		m.ObserveProbe("Readiness", "successful", pod(uid, v1.PodRunning), "app")
	}
	starts.forgetAllBut(m, map[k8stypes.UID]bool{"7": true, "8": true})
	if len(starts.pending) != 1 || len(starts.done) != 1 {
		t.Errorf("after the relist: %d pending and %d started pods kept, want 1 and 1", len(starts.pending), len(starts.done))
	}
	families, err := m.registry.Gather()
	if err != nil {
		t.Fatal(err)
	}
	series := 0
	for _, f := range families {
		if f.GetName() == "prober_probe_total" {
			series = len(f.GetMetric())
		}
	}
	if series != 2 {
		t.Errorf("%d probe series kept, want the 2 current pods'", series)
	}
}
