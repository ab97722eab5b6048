package main

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"io"
	"os"
	"os/exec"
	goruntime "runtime"
	"slices"
	"sort"
	"strings"
	"text/tabwriter"
	"time"

	"golang.org/x/sys/unix"
)

// results are the bench's figures. Times are in ms or s as the key says,
// memory in MiB, CPU in percent of one core. The keys the issue asks for
// come first; the others detail them.
type results struct {
	FloorStartP50         float64 `json:"floor_start_ms_p50"`
	PodStartP50           float64 `json:"pod_start_ms_p50"`
	PodStartP90           float64 `json:"pod_start_ms_p90"`
	InitPodStartP50       float64 `json:"init_pod_start_ms_p50"`
	InitFloorStartP50     float64 `json:"init_floor_start_ms_p50"`
	Pods20AllRunningS     float64 `json:"pods20_all_running_s"`
	Pods100AllRunningS    float64 `json:"pods100_all_running_s"`
	ReadyP50              float64 `json:"ready_ms_p50"`
	RestartReactionP50    float64 `json:"restart_reaction_ms_p50"`
	BackoffSecondRestartS float64 `json:"backoff_second_restart_s"`
	BackoffThirdRestartS  float64 `json:"backoff_third_restart_s"`
	LivenessReactionP50   float64 `json:"liveness_reaction_ms_p50"`
	ProbeLatenessP99      float64 `json:"probe_lateness_ms_p99"`
	AgentRSSIdle          float64 `json:"agent_rss_mib_idle"`
	AgentRSS100Pods       float64 `json:"agent_rss_mib_100pods"`
	AgentCPU100Pods       float64 `json:"agent_cpu_pct_100pods"`
	// AgentSettlingCPUMs100 is the agent's CPU in the IdleSettleS before
	// the idle window with 100 pods.
	AgentSettlingCPUMs100 float64 `json:"agent_settling_cpu_ms_100pods"`
	NodeMiBPerPod         float64 `json:"node_mib_per_pod"`
	ChurnCycleP50         float64 `json:"churn_cycle_ms_p50"`
	Leaks                 int     `json:"leaks"`

	Cores             int      `json:"cores"`
	Kernel            string   `json:"kernel"`
	ContainerdVersion string   `json:"containerd_version"`
	Machine           machine  `json:"machine"`
	Quick             bool     `json:"quick"`
	Phases            []string `json:"phases"` // the phases that ran
	TotalS            float64  `json:"total_s"`
	AgentStartMs      float64  `json:"agent_start_ms"`

	// Pod start, single pods.
	Runs              int     `json:"start_runs"`
	FloorStartP90     float64 `json:"floor_start_ms_p90"`
	FloorStartMax     float64 `json:"floor_start_ms_max"`
	PodStartMax       float64 `json:"pod_start_ms_max"`
	PodStartRatio     float64 `json:"pod_start_ratio_p50"`
	PodReadyP50       float64 `json:"pod_ready_ms_p50"` // 1-container pod without probe: Ready in the API
	InitFloorStartP90 float64 `json:"init_floor_start_ms_p90"`
	InitPodStartP90   float64 `json:"init_pod_start_ms_p90"`
	InitPodStartMax   float64 `json:"init_pod_start_ms_max"`
	InitPodStartRatio float64 `json:"init_pod_start_ratio_p50"`
	ReadyP90          float64 `json:"ready_ms_p90"`
	ReadyMax          float64 `json:"ready_ms_max"`
	ReadyOverFloorP50 float64 `json:"ready_over_floor_ms_p50"`
	// Exit of an init container → start of the next container.
	InitGapP50      float64 `json:"init_gap_ms_p50"`
	FloorInitGapP50 float64 `json:"floor_init_gap_ms_p50"`

	// Pods dropped at once.
	Pods20                  int     `json:"pods20_count"`
	Pods100                 int     `json:"pods100_count"`
	FloorPods20AllRunningS  float64 `json:"floor_pods20_all_running_s"`
	FloorPods100AllRunningS float64 `json:"floor_pods100_all_running_s"`
	// The floor's rounds, before the agent's and after it (size.FloorAfter),
	// of which the floor's time above is the mean.
	FloorPods20RunsS         []float64 `json:"floor_pods20_runs_s,omitempty"`
	FloorPods100RunsS        []float64 `json:"floor_pods100_runs_s,omitempty"`
	Pods20ContainerdRunningS float64   `json:"pods20_all_running_containerd_s"`
	Pods100ContainerdRunning float64   `json:"pods100_all_running_containerd_s"`
	Pods20AllGoneS           float64   `json:"pods20_all_gone_s"`
	Pods20Ratio              float64   `json:"pods20_ratio_to_floor"`
	Pods100Ratio             float64   `json:"pods100_ratio_to_floor"`
	Pods100AllGoneS          float64   `json:"pods100_all_gone_s"`

	// Scale: many more pods dropped at once.
	ScalePods               int       `json:"scale_count"`
	ScaleAllRunningS        float64   `json:"scale_all_running_s"`
	FloorScaleAllRunningS   float64   `json:"floor_scale_all_running_s"`
	FloorScaleRunsS         []float64 `json:"floor_scale_runs_s,omitempty"`
	ScaleContainerdRunningS float64   `json:"scale_all_running_containerd_s"`
	ScaleAllGoneS           float64   `json:"scale_all_gone_s"`
	ScaleFloorRatio         float64   `json:"scale_ratio_to_floor"`
	ScaleMsPerPod           float64   `json:"scale_ms_per_pod"`
	Pods20MsPerPod          float64   `json:"pods20_ms_per_pod"`
	ScalePerPodRatio        float64   `json:"scale_per_pod_over_pods20"`
	AgentRSSScale           float64   `json:"agent_rss_mib_scale"`
	AgentRSSAnonScale       float64   `json:"agent_rss_anon_mib_scale"`
	AgentRSSFileScale       float64   `json:"agent_rss_file_mib_scale"`
	AgentCPUScale           float64   `json:"agent_cpu_pct_scale"`
	AgentGoroutinesScale    int       `json:"agent_goroutines_scale"`
	AgentThreadsScale       int       `json:"agent_threads_scale"`
	AgentKiBPerPod20        float64   `json:"agent_kib_per_pod_20"`
	AgentKiBPerPod100       float64   `json:"agent_kib_per_pod_100"`
	AgentKiBPerPodScale     float64   `json:"agent_kib_per_pod_scale"`
	AgentKiBPerPodMarginal  float64   `json:"agent_kib_per_pod_beyond_middle"`
	FloorScalePerPodRatio   float64   `json:"floor_scale_per_pod_over_pods20"`
	// CPU per pod start in the scale round, as in the many phase: so a
	// miss can be told apart between the agent's own work and the load.
	ScaleAgentCPUMsPerPod           float64 `json:"scale_agent_cpu_ms_per_pod_start"`
	ScaleContainerdCPUMsPerPod      float64 `json:"scale_containerd_cpu_ms_per_pod_start"`
	ScaleFloorContainerdCPUMsPerPod float64 `json:"scale_floor_containerd_cpu_ms_per_pod_start"`
	ScaleFloorCPUMsPerPod           float64 `json:"scale_floor_client_cpu_ms_per_pod_start"`

	// The agent restarted under Many running pods.
	RestartPods            int     `json:"restart_pods"`
	RestartAPIUpMs         float64 `json:"restart_api_up_ms"`
	RestartStatusMs        float64 `json:"restart_full_status_ms"`
	RestartContainerEvents int     `json:"restart_container_starts_exits"`
	RestartHoldS           float64 `json:"restart_hold_s"`
	RestartStatusAfterHold string  `json:"restart_status_after_hold"`

	// A Deployment scaled from 0 to Pods20 replicas.
	DeployScaled         int     `json:"deploy_scaled_count"`
	DeployScaleAllReadyS float64 `json:"deploy_scale_all_ready_s"`
	DeployScaleRatio     float64 `json:"deploy_scale_over_pods_at_once"`
	DeployAllGoneS       float64 `json:"deploy_all_gone_s"`

	// Footprint.
	IdleWindowS                float64 `json:"idle_window_s"`
	IdleSettleS                float64 `json:"idle_settle_s"`
	AgentRSSAnonIdle           float64 `json:"agent_rss_anon_mib_idle"`
	AgentRSSFileIdle           float64 `json:"agent_rss_file_mib_idle"`
	AgentRSSAnon100            float64 `json:"agent_rss_anon_mib_100pods"`
	AgentRSSFile100            float64 `json:"agent_rss_file_mib_100pods"`
	AgentGoroutinesIdle        int     `json:"agent_goroutines_idle"`
	AgentGoroutines100         int     `json:"agent_goroutines_100pods"`
	AgentThreadsIdle           int     `json:"agent_threads_idle"`
	AgentThreads100            int     `json:"agent_threads_100pods"`
	AgentCPUMsPerPodStart      float64 `json:"agent_cpu_ms_per_pod_start"`
	ContainerdCPUMsPerPod      float64 `json:"containerd_cpu_ms_per_pod_start"`
	FloorContainerdCPUMsPerPod float64 `json:"floor_containerd_cpu_ms_per_pod_start"`
	FloorCPUMsPerPodStart      float64 `json:"floor_client_cpu_ms_per_pod_start"`
	AgentCPUIdle               float64 `json:"agent_cpu_pct_idle"`
	AgentRSS20Pods             float64 `json:"agent_rss_mib_20pods"`
	AgentCPU20Pods             float64 `json:"agent_cpu_pct_20pods"`
	PauseMiBPerPod             float64 `json:"pause_mib_per_pod"`
	ShimMiBPerPod              float64 `json:"shim_mib_per_pod"`
	ShimsPerPod                float64 `json:"shims_per_pod"`
	AgentMiBPerPod             float64 `json:"agent_mib_per_pod"`
	ContainerdMiBPod           float64 `json:"containerd_mib_per_pod"`
	GroupingPods               int     `json:"grouping_pods"`
	ShimsUngrouped             float64 `json:"shims_per_pod_ungrouped"`
	ShimsGrouped               float64 `json:"shims_per_pod_grouped"`
	ShimMiBUngrouped           float64 `json:"shim_mib_per_pod_ungrouped"`
	ShimMiBGrouped             float64 `json:"shim_mib_per_pod_grouped"`
	GroupingSavesMiB           float64 `json:"grouping_saves_mib_per_pod"`
	AgentGroupsShims           bool    `json:"agent_groups_shims"`
	ContainerdRSSIdle          float64 `json:"containerd_rss_mib_idle"`

	// Reactions.
	Restarts          int                `json:"restart_samples"`
	RestartReactP90   float64            `json:"restart_reaction_ms_p90"`
	RestartReactMax   float64            `json:"restart_reaction_ms_max"`
	LivenessSamples   int                `json:"liveness_samples"`
	LivenessReactP90  float64            `json:"liveness_reaction_ms_p90"`
	LivenessReactMax  float64            `json:"liveness_reaction_ms_max"`
	LivenessByKindP50 map[string]float64 `json:"liveness_reaction_ms_p50_by_probe"`
	FirstRestartS     float64            `json:"backoff_first_restart_s"`

	// Probes.
	ProbedContainers int     `json:"probed_containers"`
	ProbeWindowS     float64 `json:"probe_window_s"`
	ProbesPerS       float64 `json:"probes_per_s"`
	ProbeLatenessP50 float64 `json:"probe_lateness_ms_p50"`
	ProbeLatenessMax float64 `json:"probe_lateness_ms_max"`
	AgentCPUProbing  float64 `json:"agent_cpu_pct_probing"`
	// The agent's CPU while probing, split: user time is its own code,
	// system time the kernel's work on its behalf (mostly the connections).
	AgentCPUProbingUser float64 `json:"probe_agent_cpu_user_pct"`
	AgentCPUProbingSys  float64 `json:"probe_agent_cpu_sys_pct"`
	// The probing floor: the same probes at the same rate to the same pods
	// from a bare client, the agent stopped meanwhile.
	ProbeFloorCPU        float64 `json:"probe_floor_cpu_pct"`
	ProbeFloorCPUUser    float64 `json:"probe_floor_cpu_user_pct"`
	ProbeFloorCPUSys     float64 `json:"probe_floor_cpu_sys_pct"`
	ProbeFloorProbesPerS float64 `json:"probe_floor_probes_per_s"`
	ProbeFloorFailed     int     `json:"probe_floor_failed"`
	ProbeCPUFloorRatio   float64 `json:"probe_cpu_ratio_to_floor"` // the agent's CPU over the floor's
	// The Go floor: the same again from the agent's own probe code alone
	// (prober/probe) in a Go process of its own, right after the floor.
	ProbeGoFloorCPU        float64 `json:"probe_go_floor_cpu_pct"`
	ProbeGoFloorCPUUser    float64 `json:"probe_go_floor_cpu_user_pct"`
	ProbeGoFloorCPUSys     float64 `json:"probe_go_floor_cpu_sys_pct"`
	ProbeGoFloorProbesPerS float64 `json:"probe_go_floor_probes_per_s"`
	ProbeGoFloorFailed     int     `json:"probe_go_floor_failed"`
	ProbeCPUGoFloorRatio   float64 `json:"probe_cpu_ratio_to_go_floor"` // the agent's CPU over the Go floor's

	Logging         []logFigure `json:"logging,omitempty"`
	AgentRSSProbing float64     `json:"agent_rss_mib_probing"`

	// Churn.
	ChurnCycles   int                   `json:"churn_cycles"`
	ChurnCycleP90 float64               `json:"churn_cycle_ms_p90"`
	ChurnCycleMax float64               `json:"churn_cycle_ms_max"`
	FloorChurnP50 float64               `json:"floor_churn_cycle_ms_p50"`
	ChurnRatio    float64               `json:"churn_ratio_p50"`
	LeakDetail    map[string]leakCounts `json:"leak_detail"`
	// LeakBaselineSettleS is how long the agent took, before churn, to
	// end what earlier phases left in flight.
	LeakBaselineSettleS float64 `json:"leak_baseline_settle_s"`
	AgentThreadsEnd     int     `json:"agent_threads_after_churn"`
	AgentRSSEndChurn    float64 `json:"agent_rss_mib_after_churn"`

	// The peers (--peers), in the order they ran.
	Peers []*peerResults `json:"peers,omitempty"`

	// CPU per pod start below containerd, in the many phase's larger
	// round (runtimeCPU): the shims with the runc commands they ran, and
	// the containers' processes (runc's init setting each container up:
	// namespaces, mounts, cgroup), for the agent's pods and the floor's.
	ShimCPUMsPerPodStart           float64 `json:"shim_cpu_ms_per_pod_start"`
	ContainerCPUMsPerPodStart      float64 `json:"container_setup_cpu_ms_per_pod_start"`
	FloorShimCPUMsPerPodStart      float64 `json:"floor_shim_cpu_ms_per_pod_start"`
	FloorContainerCPUMsPerPodStart float64 `json:"floor_container_setup_cpu_ms_per_pod_start"`
}

// leakCounts is one kind of object counted before and after churn.
type leakCounts struct {
	Before int `json:"before"`
	After  int `json:"after"`
}

// machine is where the figures come from.
type machine struct {
	Cores             int    `json:"cores"`
	CPU               string `json:"cpu"`
	MemoryMiB         int64  `json:"memory_mib"`
	Kernel            string `json:"kernel"`
	ContainerdVersion string `json:"containerd_version"`
	Runc              string `json:"runc"`
	Go                string `json:"go"`
	CgroupV2          bool   `json:"cgroup_v2"`
	Date              string `json:"date"`
}

func newResults(ctx context.Context, w *world, quick bool) *results {
	m := machine{
		Cores:             goruntime.NumCPU(),
		CPU:               cpuModel(),
		Kernel:            kernel(),
		ContainerdVersion: w.containerdVersion(ctx),
		Runc:              runcVersion(ctx),
		Go:                goruntime.Version(),
		CgroupV2:          isCgroupV2(),
		Date:              time.Now().UTC().Format("2006-01-02"),
	}
	if data, err := os.ReadFile("/proc/meminfo"); err == nil {
		kb, _ := statusField(data, "MemTotal:")
		m.MemoryMiB = kb / 1024
	}
	return &results{Machine: m, Cores: m.Cores, Kernel: m.Kernel, ContainerdVersion: m.ContainerdVersion,
		Quick: quick, LeakDetail: map[string]leakCounts{}, LivenessByKindP50: map[string]float64{}}
}

func cpuModel() string {
	data, err := os.ReadFile("/proc/cpuinfo")
	if err != nil {
		return "unknown"
	}
	sc := bufio.NewScanner(bytes.NewReader(data))
	for sc.Scan() {
		if k, v, ok := strings.Cut(sc.Text(), ":"); ok && strings.TrimSpace(k) == "model name" {
			return strings.TrimSpace(v)
		}
	}
	return "unknown"
}

func kernel() string {
	var u unix.Utsname
	if err := unix.Uname(&u); err != nil {
		return "unknown"
	}
	return unix.ByteSliceToString(u.Release[:])
}

func runcVersion(ctx context.Context) string {
	out, err := exec.CommandContext(ctx, "runc", "--version").Output()
	if err != nil {
		return "unknown"
	}
	first, _, _ := strings.Cut(string(out), "\n")
	return strings.TrimPrefix(first, "runc version ")
}

func isCgroupV2() bool {
	var st unix.Statfs_t
	return unix.Statfs("/sys/fs/cgroup", &st) == nil && st.Type == unix.CGROUP2_SUPER_MAGIC
}

func (r *results) setStart(floor1, floorInit, agent1, agentInit, agentReady []startTimes) {
	running := func(s []startTimes) dist {
		var xs []time.Duration
		for _, t := range s {
			xs = append(xs, t.Running)
		}
		return summarize(xs)
	}
	ready := func(s []startTimes) dist {
		var xs []time.Duration
		for _, t := range s {
			xs = append(xs, t.Ready)
		}
		return summarize(xs)
	}
	f1, fi, a1, ai, ar := running(floor1), running(floorInit), running(agent1), running(agentInit), ready(agentReady)
	r.Runs = a1.N
	r.FloorStartP50, r.FloorStartP90, r.FloorStartMax = ms(f1.P50), ms(f1.P90), ms(f1.Max)
	r.PodStartP50, r.PodStartP90, r.PodStartMax = ms(a1.P50), ms(a1.P90), ms(a1.Max)
	r.PodStartRatio = ratio(a1.P50, f1.P50)
	r.PodReadyP50 = ms(ready(agent1).P50)
	r.InitFloorStartP50, r.InitFloorStartP90 = ms(fi.P50), ms(fi.P90)
	r.InitPodStartP50, r.InitPodStartP90, r.InitPodStartMax = ms(ai.P50), ms(ai.P90), ms(ai.Max)
	r.InitPodStartRatio = ratio(ai.P50, fi.P50)
	r.ReadyP50, r.ReadyP90, r.ReadyMax = ms(ar.P50), ms(ar.P90), ms(ar.Max)
	r.ReadyOverFloorP50 = ms(ar.P50 - f1.P50)
	gaps := func(s []startTimes) dist {
		var xs []time.Duration
		for _, t := range s {
			xs = append(xs, t.Gaps...)
		}
		return summarize(xs)
	}
	r.InitGapP50, r.FloorInitGapP50 = ms(gaps(agentInit).P50), ms(gaps(floorInit).P50)
}

// row is one line of the table: the phase it comes from, what, the
// agent's figure, the floor's or the target, and a verdict; peer, when
// set, gives each peer's figure for the same measure.
type row struct {
	phase, what, value, ref, note string
	peer                          func(*peerResults) string
}

// vsPeer is a peer's figure and the agent's ratio to it ("-" when the peer
// has none).
func vsPeer(agent, peer float64, format func(float64) string) string {
	if peer == 0 {
		return "-"
	}
	return fmt.Sprintf("%s (%.2fx)", format(peer), agent/peer)
}

// writeTable prints the results for people.
func (r *results) writeTable(w io.Writer) {
	m := r.Machine
	mode := "default size"
	if r.Quick {
		mode = "--quick"
	}
	fmt.Fprintf(w, "\nminikubelet bench (%s), %s: %d cores %s, %d MiB, kernel %s, containerd %s, runc %s, %s\n\n",
		mode, m.Date, m.Cores, m.CPU, m.MemoryMiB, m.Kernel, m.ContainerdVersion, m.Runc, m.Go)
	check := func(ok bool) string {
		if ok {
			return "ok"
		}
		return "MISS"
	}
	f1 := func(v float64) string { return fmt.Sprintf("%.1f", v) }
	f2 := func(v float64) string { return fmt.Sprintf("%.2f", v) }
	f0 := func(v float64) string { return fmt.Sprintf("%.0f", v) }
	// With as many pods in both rounds (--quick) they were one round.
	once := func(what string) string {
		if r.Pods100 == r.Pods20 {
			return ""
		}
		return what
	}
	// A row only for the peers' sake.
	withPeers := func(what string) string {
		if len(r.Peers) == 0 {
			return ""
		}
		return what
	}
	rows := []row{
		{"start", "pod start, 1 container, p50 ms", f0(r.PodStartP50), "floor " + f0(r.FloorStartP50),
			fmt.Sprintf("%.2fx (target 1.1x) %s", r.PodStartRatio, check(r.PodStartRatio <= 1.1)),
			func(p *peerResults) string { return vsPeer(r.PodStartP50, p.StartP50, f0) }},
		{"start", "pod start, 1 container, p90 / max ms", f0(r.PodStartP90) + " / " + f0(r.PodStartMax), "floor " + f0(r.FloorStartP90) + " / " + f0(r.FloorStartMax), fmt.Sprintf("%d runs each", r.Runs),
			func(p *peerResults) string { return orDash(p.StartP90, f0(p.StartP90)+" / "+f0(p.StartMax)) }},
		{"start", "pod start, 2 init containers, p50 ms", f0(r.InitPodStartP50), "floor " + f0(r.InitFloorStartP50),
			fmt.Sprintf("%.2fx (target 1.15x) %s", r.InitPodStartRatio, check(r.InitPodStartRatio <= 1.15)),
			func(p *peerResults) string { return vsPeer(r.InitPodStartP50, p.InitStartP50, f0) }},
		{"start", "pod start, 2 init containers, p90 / max ms", f0(r.InitPodStartP90) + " / " + f0(r.InitPodStartMax), "floor " + f0(r.InitFloorStartP90), "", nil},
		{"start", "init container exit → next container running, p50 ms", f0(r.InitGapP50), "floor " + f0(r.FloorInitGapP50),
			fmt.Sprintf("floor+%.0f (target floor+5) %s", r.InitGapP50-r.FloorInitGapP50, check(r.InitGapP50 <= r.FloorInitGapP50+5)), nil},
		{"start", "manifest → Ready, HTTP readiness probe, p50 ms", f0(r.ReadyP50), "floor+50 = " + f0(r.FloorStartP50+50),
			fmt.Sprintf("floor+%.0f %s", r.ReadyOverFloorP50, check(r.ReadyOverFloorP50 <= 50)),
			func(p *peerResults) string { return vsPeer(r.ReadyP50, p.ReadyP50, f0) }},
		{"start", "manifest → Ready, no probe, p50 ms", f0(r.PodReadyP50), "", "", nil},
		{"many", fmt.Sprintf("%d pods at once, all Running (API) s", r.Pods20), f2(r.Pods20AllRunningS), "floor " + f2(r.FloorPods20AllRunningS),
			fmt.Sprintf("%.2fx (target 1.1x) %s; containerd view %.2f s%s", r.Pods20Ratio, check(r.Pods20Ratio <= 1.1), r.Pods20ContainerdRunningS, floorRuns(r.FloorPods20RunsS)),
			atCount(r.Pods20, func(p *peerResults) string { return vsPeer(r.Pods20AllRunningS, p.AllRunningS, f2) })},
		{"deploy", fmt.Sprintf("Deployment scaled 0→%d, all Ready (API) s", r.DeployScaled), f2(r.DeployScaleAllReadyS),
			fmt.Sprintf("%d pods at once %s", r.Pods20, f2(r.Pods20AllRunningS)),
			fmt.Sprintf("%.2fx (target 1.2x) %s; all gone after delete %.2f s", r.DeployScaleRatio, check(r.DeployScaleRatio <= 1.2), r.DeployAllGoneS), nil},
		{"many", once(fmt.Sprintf("%d pods at once, all Running (API) s", r.Pods100)), f2(r.Pods100AllRunningS), "floor " + f2(r.FloorPods100AllRunningS),
			fmt.Sprintf("%.2fx (target 1.1x) %s; containerd view %.2f s; all gone after delete %.2f s%s", r.Pods100Ratio, check(r.Pods100Ratio <= 1.1), r.Pods100ContainerdRunning, r.Pods100AllGoneS, floorRuns(r.FloorPods100RunsS)), nil},
		{"scale", fmt.Sprintf("%d pods at once, all Running (API) s", r.ScalePods), f2(r.ScaleAllRunningS), "floor " + f2(r.FloorScaleAllRunningS),
			fmt.Sprintf("%.2fx floor; containerd view %.2f s; all gone after delete %.2f s%s", r.ScaleFloorRatio, r.ScaleContainerdRunningS, r.ScaleAllGoneS, floorRuns(r.FloorScaleRunsS)), nil},
		{"scale", fmt.Sprintf("time per pod, %d at once, ms", r.ScalePods), f1(r.ScaleMsPerPod), fmt.Sprintf("%d at once %.1f", r.Pods20, r.Pods20MsPerPod),
			fmt.Sprintf("%.2fx (target 1.2x) %s; the floor's %.2fx", r.ScalePerPodRatio, check(r.ScalePerPodRatio <= 1.2), r.FloorScalePerPodRatio), nil},
		{"scale", fmt.Sprintf("agent RSS idle, %d pods, MiB", r.ScalePods), f1(r.AgentRSSScale), "",
			fmt.Sprintf("anon %.1f + file %.1f; CPU %.2f%%; %d goroutines, %d threads", r.AgentRSSAnonScale, r.AgentRSSFileScale, r.AgentCPUScale, r.AgentGoroutinesScale, r.AgentThreadsScale), nil},
		{"scale", "agent KiB per pod over its idle RSS", f0(r.AgentKiBPerPodScale) + fmt.Sprintf(" at %d", r.ScalePods),
			fmt.Sprintf("%.0f at %d, %.0f at %d", r.AgentKiBPerPod20, r.Pods20, r.AgentKiBPerPod100, r.Pods100),
			fmt.Sprintf("each pod beyond %d: %.0f KiB; linear %s", r.middleCountN(), r.AgentKiBPerPodMarginal, check(r.scaleLinear())), nil},
		{"many", fmt.Sprintf("CPU per pod start (%d at once), ms", r.Pods100), f1(r.AgentCPUMsPerPodStart) + " agent", fmt.Sprintf("floor client %.1f", r.FloorCPUMsPerPodStart),
			fmt.Sprintf("containerd %.1f for the agent's, %.1f for the floor's", r.ContainerdCPUMsPerPod, r.FloorContainerdCPUMsPerPod), nil},
		{"many", fmt.Sprintf("CPU per pod start below containerd (%d at once), ms", r.Pods100), f1(r.ShimCPUMsPerPodStart + r.ContainerCPUMsPerPodStart),
			fmt.Sprintf("floor %.1f", r.FloorShimCPUMsPerPodStart+r.FloorContainerCPUMsPerPodStart),
			fmt.Sprintf("shims and runc %.1f, container setup (runc init) %.1f; the floor's %.1f and %.1f",
				r.ShimCPUMsPerPodStart, r.ContainerCPUMsPerPodStart, r.FloorShimCPUMsPerPodStart, r.FloorContainerCPUMsPerPodStart), nil},
		{"scale", fmt.Sprintf("CPU per pod start (%d at once), ms", r.ScalePods), f1(r.ScaleAgentCPUMsPerPod) + " agent", fmt.Sprintf("floor client %.1f", r.ScaleFloorCPUMsPerPod),
			fmt.Sprintf("containerd %.1f for the agent's, %.1f for the floor's", r.ScaleContainerdCPUMsPerPod, r.ScaleFloorContainerdCPUMsPerPod), nil},
		{"reactions", "first restart after exit, p50 ms", f0(r.RestartReactionP50), "target 150",
			fmt.Sprintf("%s; p90 %.0f, max %.0f, %d samples", check(r.RestartReactionP50 < 150), r.RestartReactP90, r.RestartReactMax, r.Restarts),
			func(p *peerResults) string { return vsPeer(r.RestartReactionP50, p.RestartP50, f0) }},
		{"reactions", "liveness failure → replacement running, p50 ms", f0(r.LivenessReactionP50), "",
			fmt.Sprintf("exec %.0f, tcp %.0f, http %.0f; %d samples", r.LivenessByKindP50["exec"], r.LivenessByKindP50["tcp"], r.LivenessByKindP50["http"], r.LivenessSamples), nil},
		{"reactions", "crash loop: 2nd / 3rd restart after exit s", f2(r.BackoffSecondRestartS) + " / " + f2(r.BackoffThirdRestartS), "10 / 20 ± 0.3",
			check(within(r.BackoffSecondRestartS, 10, 0.3) && within(r.BackoffThirdRestartS, 20, 0.3)),
			func(p *peerResults) string { return orDash(p.BackoffS[0], f2(p.BackoffS[0])+" / "+f2(p.BackoffS[1])) }},
		{"probes", fmt.Sprintf("probe lateness, %d containers × 2 probes/s, p50 / p99 ms", r.ProbedContainers), f2(r.ProbeLatenessP50) + " / " + f2(r.ProbeLatenessP99), "",
			fmt.Sprintf("max %.1f ms, %.0f probes/s", r.ProbeLatenessMax, r.ProbesPerS), nil},
		{"probes", "agent CPU while probing, % of a core", f2(r.AgentCPUProbing), "target 5",
			fmt.Sprintf("%s; user %.2f + sys %.2f; RSS %.1f MiB", check(r.AgentCPUProbing <= 5), r.AgentCPUProbingUser, r.AgentCPUProbingSys, r.AgentRSSProbing), nil},
		{"probes", "CPU of the same probes from a bare client (floor), % of a core", f2(r.AgentCPUProbing), "floor " + f2(r.ProbeFloorCPU),
			fmt.Sprintf("%.2fx; floor user %.2f + sys %.2f, agent stopped meanwhile; %.0f probes/s, %d failed", r.ProbeCPUFloorRatio,
				r.ProbeFloorCPUUser, r.ProbeFloorCPUSys, r.ProbeFloorProbesPerS, r.ProbeFloorFailed), nil},
		{"probes", "CPU of the same probes from the agent's probe code alone (Go floor), % of a core", f2(r.AgentCPUProbing), "Go floor " + f2(r.ProbeGoFloorCPU),
			fmt.Sprintf("%.2fx; Go floor user %.2f + sys %.2f, %.2fx the floor, agent stopped meanwhile; %.0f probes/s, %d failed", r.ProbeCPUGoFloorRatio,
				r.ProbeGoFloorCPUUser, r.ProbeGoFloorCPUSys, ratio(r.ProbeGoFloorCPU, r.ProbeFloorCPU), r.ProbeGoFloorProbesPerS, r.ProbeGoFloorFailed), nil},
		{"probes", "kernel share while probing (system time), % of a core", f2(r.AgentCPUProbingSys), "floor " + f2(r.ProbeFloorCPUSys), r.probeKernelNote(), nil},
		{"idle", "agent RSS idle, 0 pods, MiB", f1(r.AgentRSSIdle), "", fmt.Sprintf("anon %.1f + file %.1f; CPU %.2f%% over %.0f s", r.AgentRSSAnonIdle, r.AgentRSSFileIdle, r.AgentCPUIdle, r.IdleWindowS),
			func(p *peerResults) string {
				return orDash(p.RSSIdleMiB, vsPeer(r.AgentRSSIdle, p.RSSIdleMiB, f1)+fmt.Sprintf(", CPU %.2f%%", p.CPUIdleEmpty))
			}},
		{"many", once(fmt.Sprintf("agent RSS idle, %d pods, MiB", r.Pods20)), f1(r.AgentRSS20Pods), "", fmt.Sprintf("CPU %.2f%%", r.AgentCPU20Pods),
			atCount(r.Pods20, func(p *peerResults) string { return vsPeer(r.AgentRSS20Pods, p.RSSMiB, f1) })},
		{"many", withPeers(once(fmt.Sprintf("agent CPU idle, %d pods, %% of a core", r.Pods20))), f2(r.AgentCPU20Pods), "", "",
			atCount(r.Pods20, func(p *peerResults) string { return vsPeer(r.AgentCPU20Pods, p.CPUIdle, f2) })},
		{"many", fmt.Sprintf("agent RSS idle, %d pods, MiB", r.Pods100), f1(r.AgentRSS100Pods), "target 25",
			fmt.Sprintf("%s; anon %.1f + file %.1f; %d goroutines, %d threads", check(r.AgentRSS100Pods <= 25), r.AgentRSSAnon100, r.AgentRSSFile100, r.AgentGoroutines100, r.AgentThreads100),
			atCount(r.Pods100, func(p *peerResults) string { return vsPeer(r.AgentRSS100Pods, p.RSSMiB, f1) })},
		{"many", fmt.Sprintf("agent CPU idle, %d pods, %% of a core", r.Pods100), f2(r.AgentCPU100Pods), "target 0.3",
			fmt.Sprintf("%s; window from %.0f s after the last pod Running, %.0f ms of CPU before it", check(r.AgentCPU100Pods <= 0.3), r.IdleSettleS, r.AgentSettlingCPUMs100),
			atCount(r.Pods100, func(p *peerResults) string { return vsPeer(r.AgentCPU100Pods, p.CPUIdle, f2) })},
		{"many", "node memory per pod (PSS), MiB", f2(r.NodeMiBPerPod), "target 3.5",
			fmt.Sprintf("%s; pause %.2f + %.1f shims %.2f + agent %.2f (containerd +%.2f)", check(r.NodeMiBPerPod <= 3.5 && r.AgentGroupsShims), r.PauseMiBPerPod, r.ShimsPerPod, r.ShimMiBPerPod, r.AgentMiBPerPod, r.ContainerdMiBPod),
			func(p *peerResults) string { return vsPeer(r.NodeMiBPerPod, p.MiBPerPod, f2) }},
		{"grouping", "shim grouping (floor, pause + 1 app), MiB/pod", f2(r.ShimMiBGrouped) + " grouped", f2(r.ShimMiBUngrouped) + " ungrouped",
			fmt.Sprintf("saves %.2f MiB/pod; agent groups: %v", r.GroupingSavesMiB, r.AgentGroupsShims), nil},
		{"churn", fmt.Sprintf("churn, %d cycles of a 2-container pod, p50 ms", r.ChurnCycles), f0(r.ChurnCycleP50), "floor " + f0(r.FloorChurnP50),
			fmt.Sprintf("%.2fx (target 1.2x) %s; p90 %.0f, max %.0f", r.ChurnRatio, check(r.ChurnRatio <= 1.2), r.ChurnCycleP90, r.ChurnCycleMax), nil},
		{"churn", "leaks after churn", fmt.Sprint(r.Leaks), "target 0",
			fmt.Sprintf("%s %s(baseline settled in %.0f s)", check(r.Leaks == 0), r.leakSummary(), r.LeakBaselineSettleS), nil},
	}
	rows = append(rows, row{"restart", fmt.Sprintf("agent restart, %d running pods: full status in the API, ms", r.RestartPods), f0(r.RestartStatusMs), "target 1000",
		fmt.Sprintf("%s; API up %.0f ms; %d container starts/exits (target 0) %s; after %.0f s: %s", check(r.RestartStatusMs <= 1000), r.RestartAPIUpMs,
			r.RestartContainerEvents, check(r.RestartContainerEvents == 0), r.RestartHoldS, r.RestartStatusAfterHold), nil})
	for _, f := range r.Logging {
		rows = append(rows, row{"logging", "agent CPU per MB/s of container output, " + f.Lines + ", % of a core", f2(f.CPUPerMBps), "",
			fmt.Sprintf("%.0f MB at %.1f MB/s, agent CPU %.1f%%, RSS %.1f MiB", f.MB, f.MBps, f.AgentCPU, f.AgentRSSMiB), nil})
	}
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	head := "MEASURE\tAGENT\tFLOOR / TARGET"
	for _, p := range r.Peers {
		head += "\t" + strings.ToUpper(p.Name) + " (AGENT/PEER)"
	}
	fmt.Fprintln(tw, head+"\tNOTE")
	for _, rw := range rows {
		if !slices.Contains(r.Phases, rw.phase) || rw.what == "" {
			continue
		}
		line := rw.what + "\t" + rw.value + "\t" + rw.ref
		for _, p := range r.Peers {
			cell := "-"
			if rw.peer != nil {
				cell = rw.peer(p)
			}
			line += "\t" + cell
		}
		fmt.Fprintln(tw, line+"\t"+rw.note)
	}
	tw.Flush()
	r.writePeers(w)
	fmt.Fprintf(w, "\nagent API up %.0f ms after exec; run took %.0f s\n", r.AgentStartMs, r.TotalS)
}

// probeKernelNote reads the probing CPU target against the floors: when
// the kernel's work for the raw floor's connections alone is over the
// target, no prober that opens a new connection per probe (as the
// kubelet's does) can meet it on this machine; when it is not, a miss is
// the Go floor's (the agent's probe code alone: Go's network stack and
// scheduler) as far as the Go floor misses too, and the agent's own
// beyond that.
func (r *results) probeKernelNote() string {
	above := r.AgentCPUProbing - r.ProbeFloorCPU
	switch {
	case r.ProbeFloorCPUSys > 5:
		return fmt.Sprintf("floor sys alone > 5: the target's miss is outside our code (a new connection per probe); the agent is %.2f above the floor", above)
	case r.AgentCPUProbing > 5 && r.ProbeGoFloorCPU > 5:
		return fmt.Sprintf("floor sys ≤ 5, but the Go floor alone is over the target: the miss is the Go runtime's and the probe code's (%.2f above the floor); the agent is %.2f above the Go floor",
			r.ProbeGoFloorCPU-r.ProbeFloorCPU, r.AgentCPUProbing-r.ProbeGoFloorCPU)
	case r.AgentCPUProbing > 5:
		return fmt.Sprintf("floor sys ≤ 5: the probes' connections fit the target, the miss is the agent's own (%.2f above the floor)", above)
	default:
		return fmt.Sprintf("floor sys ≤ 5; the agent is %.2f above the floor", above)
	}
}

func within(v, want, tol float64) bool { return v >= want-tol && v <= want+tol }

// leakSummary names the kinds that grew.
func (r *results) leakSummary() string {
	var out []string
	keys := make([]string, 0, len(r.LeakDetail))
	for k := range r.LeakDetail {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		c := r.LeakDetail[k]
		if c.After > c.Before {
			out = append(out, fmt.Sprintf("%s %d→%d", k, c.Before, c.After))
		}
	}
	if len(out) == 0 {
		return ""
	}
	return strings.Join(out, ", ") + " "
}

// atCount gives a peer's figure only when the peer ran as many pods at
// once as the row is about.
func atCount(n int, f func(*peerResults) string) func(*peerResults) string {
	return func(p *peerResults) string {
		if p.PodsAtOnce != n {
			return "-"
		}
		return f(p)
	}
}

// orDash is s when v was measured, else "-".
func orDash(v float64, s string) string {
	if v == 0 {
		return "-"
	}
	return s
}

// writePeers says, under the table, which version of each peer ran, how it
// was made to run and what it could not be measured on.
func (r *results) writePeers(w io.Writer) {
	for _, p := range r.Peers {
		fmt.Fprintf(w, "\n%s %s: %s\n", p.Name, p.Version, p.How)
		keys := make([]string, 0, len(p.NotMeasured))
		for k := range p.NotMeasured {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		for _, k := range keys {
			fmt.Fprintf(w, "  not measured: %s: %s\n", k, p.NotMeasured[k])
		}
	}
}

// floorRuns notes the floor's two rounds of a pods-at-once figure, before
// and after the agent's, when there were two.
func floorRuns(runs []float64) string {
	if len(runs) < 2 {
		return ""
	}
	return fmt.Sprintf("; floor %.2f s before the agent, %.2f s after", runs[0], runs[1])
}
