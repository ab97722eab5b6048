package main

import (
	"strings"
	"testing"
	"time"

	v1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

func runningPod() *v1.Pod {
	started := metav1.NewTime(time.Date(2026, 12, 3, 8, 0, 0, 0, time.UTC))
	return &v1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: "p", UID: "u1"},
		Status: v1.PodStatus{
			Phase:      v1.PodRunning,
			PodIP:      "10.0.0.2",
			Conditions: []v1.PodCondition{{Type: v1.PodReady, Status: v1.ConditionTrue}},
			ContainerStatuses: []v1.ContainerStatus{{
				Name: "app", ContainerID: "containerd://a", Ready: true,
				State: v1.ContainerState{Running: &v1.ContainerStateRunning{StartedAt: started}},
			}},
		},
	}
}

func TestPodDiff(t *testing.T) {
	for _, tc := range []struct {
		name   string
		change func(*v1.Pod) *v1.Pod
		want   string // substring of the difference; "" for none
	}{
		{"same", func(p *v1.Pod) *v1.Pod { return p }, ""},
		{"absent", func(*v1.Pod) *v1.Pod { return nil }, "absent"},
		{"new UID", func(p *v1.Pod) *v1.Pod { p.UID = "u2"; return p }, "UID"},
		{"pending", func(p *v1.Pod) *v1.Pod { p.Status.Phase = v1.PodPending; return p }, "phase"},
		{"not ready", func(p *v1.Pod) *v1.Pod { p.Status.Conditions[0].Status = v1.ConditionFalse; return p }, "not Ready"},
		{"no IP yet", func(p *v1.Pod) *v1.Pod { p.Status.PodIP = ""; return p }, "IP"},
		{"no containers yet", func(p *v1.Pod) *v1.Pod { p.Status.ContainerStatuses = nil; return p }, "container statuses"},
		{"restarted", func(p *v1.Pod) *v1.Pod {
			c := &p.Status.ContainerStatuses[0]
			c.ContainerID, c.RestartCount = "containerd://b", 1
			return p
		}, "container app"},
		{"started again", func(p *v1.Pod) *v1.Pod {
			p.Status.ContainerStatuses[0].State.Running.StartedAt = metav1.Now()
			return p
		}, "running since"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := podDiff(runningPod(), tc.change(runningPod()))
			if tc.want == "" && got != "" || tc.want != "" && !strings.Contains(got, tc.want) {
				t.Errorf("podDiff = %q, want %q", got, tc.want)
			}
		})
	}
}

func TestScaleLinear(t *testing.T) {
	for _, tc := range []struct {
		name     string
		r        results
		marginal float64 // KiB per pod beyond the middle count
		want     bool
	}{
		// 100 pods: 20 MiB over 10 idle, 204.8 KiB per pod.
		{"as before", results{AgentRSSIdle: 10, Pods20: 20, AgentRSS20Pods: 15, Pods100: 100, AgentRSS100Pods: 30}, 200, true},
		{"less per pod", results{AgentRSSIdle: 10, Pods20: 20, AgentRSS20Pods: 15, Pods100: 100, AgentRSS100Pods: 30}, 100, true},
		{"more per pod", results{AgentRSSIdle: 10, Pods20: 20, AgentRSS20Pods: 15, Pods100: 100, AgentRSS100Pods: 30}, 300, false},
		// --quick: the middle count is 20 (5 MiB over idle, 256 KiB per pod).
		{"quick", results{AgentRSSIdle: 10, Pods20: 20, AgentRSS20Pods: 15, Pods100: 20, AgentRSS100Pods: 15}, 300, true},
		{"nothing measured", results{}, 0, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tc.r.AgentKiBPerPodMarginal = tc.marginal
			if got := tc.r.scaleLinear(); got != tc.want {
				t.Errorf("scaleLinear = %v, want %v", got, tc.want)
			}
		})
	}
}
