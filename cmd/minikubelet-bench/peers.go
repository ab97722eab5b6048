package main

import (
	"context"
	"fmt"
	"time"

	"go.uber.org/zap"
	v1 "k8s.io/api/core/v1"
)

// peerResults are the figures of one peer (a tool a user would pick
// instead of minikubelet), measured in the same run on the bench's pods.
// A zero figure was not measured; NotMeasured says why.
type peerResults struct {
	Name    string `json:"name"`
	Version string `json:"version"`
	How     string `json:"how"` // how it was made to run here
	Runs    int    `json:"start_runs"`

	StartP50     float64    `json:"start_ms_p50"`
	StartP90     float64    `json:"start_ms_p90"`
	StartMax     float64    `json:"start_ms_max"`
	InitStartP50 float64    `json:"init_start_ms_p50"`
	InitStartP90 float64    `json:"init_start_ms_p90"`
	ReadyP50     float64    `json:"ready_ms_p50"`
	PodsAtOnce   int        `json:"pods_at_once"`
	AllRunningS  float64    `json:"pods_all_running_s"`
	RestartP50   float64    `json:"restart_reaction_ms_p50"`
	BackoffS     [2]float64 `json:"backoff_second_third_restart_s"`
	// The peer's own process, with no pods and with PodsAtOnce pods.
	RSSIdleMiB   float64 `json:"rss_mib_no_pods"`
	CPUIdleEmpty float64 `json:"cpu_pct_idle_no_pods"`
	RSSMiB       float64 `json:"rss_mib"`
	CPUIdle      float64 `json:"cpu_pct_idle"`
	// Memory per pod on the node besides the containers' own processes.
	MiBPerPod   float64           `json:"node_mib_per_pod"`
	NotMeasured map[string]string `json:"not_measured,omitempty"` // figure → why
}

// peers measures the peers one after the other. A peer that fails is
// recorded as such and does not end the run.
func (b *bench) peers(ctx context.Context) error {
	for _, peer := range []struct {
		name    string
		measure func(context.Context, *peerResults) error
	}{
		{"podman", b.podmanPeer},
		{"kubelet", b.kubeletPeer},
	} {
		pr := &peerResults{Name: peer.name, NotMeasured: map[string]string{}}
		b.res.Peers = append(b.res.Peers, pr)
		if err := peer.measure(ctx, pr); err != nil {
			if ctx.Err() != nil {
				return err
			}
			b.log.Warn("peer failed", zap.String("peer", peer.name), zap.Error(err))
			pr.NotMeasured["rest"] = "failed: " + err.Error()
		}
	}
	return nil
}

// podmanPeer runs the start and many-pods measurements with podman.
func (b *bench) podmanPeer(ctx context.Context, pr *peerResults) error {
	p, err := newPodman(ctx, b.world, b.floor.ns)
	if err != nil {
		return err
	}
	pr.Version = p.Version
	pr.How = "podman kube play --network none of the bench's manifests; containers.conf via CONTAINERS_CONF with " +
		"default_ulimits nofile=20000:20000, nproc=4096:4096 (root cannot raise them here), cgroupfs, file events, " +
		"runc, the bench's pause image as infra image; --root/--runroot/--tmpdir under the bench's temp dir; " +
		"images loaded from a docker archive exported from containerd; the 2-init pod with restartPolicy OnFailure " +
		"(podman 4.3 restarts exited init containers under Always, containers/podman#16343); " +
		"timed to the app container's StartedAt"
	pr.NotMeasured["ready"] = "pods run with --network none (a podman network would add a bridge and firewall rules)"
	pr.NotMeasured["restart"] = "not yet: podman restarts containers from conmon's exit command, and the bench does not read podman's event log"
	pr.NotMeasured["rss"] = "no daemon: what stays per pod (conmon, infra) is in memory per pod"

	var one, init []time.Duration
	for i := -1; i < b.size.Runs; i++ {
		d, err := p.startOnce(ctx, idlePod(fmt.Sprintf("pm-start-%d", i+1)))
		if err != nil {
			return err
		}
		if err := sleep(ctx, settle); err != nil {
			return err
		}
		ip := initPod(fmt.Sprintf("pm-init-%d", i+1))
		ip.Spec.RestartPolicy = v1.RestartPolicyOnFailure
		di, err := p.startOnce(ctx, ip)
		if err != nil {
			return err
		}
		if err := sleep(ctx, settle); err != nil {
			return err
		}
		if i >= 0 {
			one, init = append(one, d), append(init, di)
		}
	}
	s1, si := summarize(one), summarize(init)
	pr.Runs = s1.N
	pr.StartP50, pr.StartP90, pr.StartMax = ms(s1.P50), ms(s1.P90), ms(s1.Max)
	pr.InitStartP50, pr.InitStartP90 = ms(si.P50), ms(si.P90)

	n := b.size.Few
	pods, names := make([]*v1.Pod, n), make([]string, n)
	for i := range pods {
		names[i] = fmt.Sprintf("pm-many-%d", i)
		pods[i] = idlePod(names[i])
	}
	t0, err := p.play(ctx, "many.yaml", pods...)
	if err != nil {
		return err
	}
	times, err := p.started(ctx, names...)
	if err != nil {
		return err
	}
	var last time.Duration
	for _, t := range times {
		last = max(last, t.Sub(t0))
	}
	pr.PodsAtOnce, pr.AllRunningS = n, secs(last)
	if err := sleep(ctx, 3*time.Second); err != nil {
		return err
	}
	if pr.MiBPerPod, err = p.memoryPerPod(ctx, n); err != nil {
		return err
	}
	b.log.Sugar().Infof("podman %s: start p50 %.0f ms, 2-init %.0f ms, %d pods at once %.2f s, %.2f MiB per pod",
		pr.Version, pr.StartP50, pr.InitStartP50, n, pr.AllRunningS, pr.MiBPerPod)
	return p.removePods(ctx, names...)
}
