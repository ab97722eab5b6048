package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"sync"
	"text/tabwriter"
	"time"

	"go.uber.org/zap"
	v1 "k8s.io/api/core/v1"

	"github.com/minikubelet/minikubelet/api"
)

// The soak runs the agent for a long time with everything a node sees
// (pods created and deleted every few seconds, probes of every kind, a crash
// loop, a Deployment scaled up and down, a container logging steadily),
// samples the agent, containerd and the host objects pods leave behind at a
// fixed interval, and at the end deletes every pod and checks that the host
// is back where it started. scripts/soak runs it; see RELIABILITY.md.

// soakOptions size one soak run.
type soakOptions struct {
	Duration time.Duration
	Interval time.Duration // between samples
	Churn    time.Duration // pause between churn cycles
	Scale    time.Duration // between Deployment scalings
}

// soakSteady are the pods that run through the whole soak; none of them
// may restart. soakCrash crash-loops on purpose.
var soakSteady = []string{"soak-http-tcp", "soak-exec", "soak-logger"}

const soakCrash = "soak-crash"

// soakExecPod has exec readiness and liveness probes, every 2 s: each one
// is an exec in the container (a process, FIFOs, an exit to collect).
func soakExecPod(name string) *v1.Pod {
	c := container("app", "sh", "-c", `touch /tmp/ready; `+idleScript)
	c.ReadinessProbe = everySecond(v1.ProbeHandler{Exec: &v1.ExecAction{Command: []string{"cat", "/tmp/ready"}}}, 3)
	c.LivenessProbe = everySecond(v1.ProbeHandler{Exec: &v1.ExecAction{Command: []string{"true"}}}, 3)
	c.ReadinessProbe.PeriodSeconds, c.LivenessProbe.PeriodSeconds = 2, 2
	return pod(name, c)
}

// soakLoggerPod writes about 10 kB of log a second, so that an hour's run
// crosses the log rotation size several times.
func soakLoggerPod(name string) *v1.Pod {
	script := `trap 'exit 0' TERM; line=$(head -c 99 /dev/zero | tr '\0' x); ` +
		`while :; do i=0; while [ $i -lt 100 ]; do echo "$i $line"; i=$((i+1)); done; sleep 1; done`
	return pod(name, container("app", "sh", "-c", script))
}

// soakSample is one sample of every series, by name.
type soakSample struct {
	At     time.Time          `json:"at"`
	Values map[string]float64 `json:"values"`
}

// series is one soak series' summary.
type series struct {
	Name        string  `json:"name"`
	First       float64 `json:"first"`
	Last        float64 `json:"last"`
	Min         float64 `json:"min"`
	Max         float64 `json:"max"`
	SlopePerH   float64 `json:"slope_per_hour"`
	SlopeHalfPH float64 `json:"slope_per_hour_second_half"` // without the warm-up
}

// soakResult is what a soak run found.
type soakResult struct {
	Commit         string            `json:"commit,omitempty"`
	KubeAPI        bool              `json:"kubeapi"` // the agent served its Kubernetes API
	DurationS      float64           `json:"duration_s"`
	IntervalS      float64           `json:"interval_s"`
	ChurnCycles    int               `json:"churn_cycles"`
	ChurnErrors    []string          `json:"churn_errors"`
	Scalings       int               `json:"deployment_scalings"`
	ScaleErrors    []string          `json:"scale_errors"`
	CrashRestarts  int32             `json:"crash_loop_restarts"`
	SteadyRestarts map[string]int32  `json:"steady_restarts"` // must be 0
	Series         []series          `json:"series"`
	Baseline       map[string]int    `json:"baseline"`
	End            map[string]int    `json:"end"`
	Leaks          int               `json:"leaks"`
	LeakDetail     map[string][2]int `json:"leak_detail,omitempty"` // before, after
	Samples        []soakSample      `json:"samples"`
	Errors         []string          `json:"errors,omitempty"`
}

// failed tells whether the soak found a problem.
func (r *soakResult) failed() bool {
	if r.Leaks > 0 || len(r.ChurnErrors) > 0 || len(r.ScaleErrors) > 0 || len(r.Errors) > 0 {
		return true
	}
	for _, n := range r.SteadyRestarts {
		if n > 0 {
			return true
		}
	}
	return false
}

// runSoak sets up the world and the agent, soaks and tears down.
func runSoak(ctx context.Context, log *zap.Logger, o benchOptions, so soakOptions) (_ *soakResult, retErr error) {
	w, err := newWorld(ctx, log, o.pauseBinary, nil)
	if err != nil {
		return nil, err
	}
	defer func() {
		log.Info("cleaning up")
		retErr = errors.Join(retErr, w.close())
	}()
	n, err := w.newNet("agt")
	if err != nil {
		return nil, err
	}
	agent, err := startAgent(ctx, w, o, n)
	if err != nil {
		return nil, err
	}
	if o.keepLogs != "" {
		w.defer_(func(context.Context) error {
			return keepLogs(o.keepLogs, agent.LogPath, filepath.Join(w.root, "containerd", "containerd.log"))
		})
	}
	pods, err := watchPods(ctx, agent.Client)
	if err != nil {
		return nil, err
	}
	b := &bench{log: log, opts: o, world: w, net: n, agent: agent, pods: pods}
	res := &soakResult{SteadyRestarts: map[string]int32{}}
	err = b.soak(ctx, so, res)
	if err != nil && ctx.Err() == nil {
		err = fmt.Errorf("%w\nagent log: %s", err, tail(agent.LogPath, 2000))
	}
	return res, err
}

// soak runs the workloads for so.Duration while sampling, then removes
// every pod and compares the host with the baseline.
func (b *bench) soak(ctx context.Context, so soakOptions, res *soakResult) error {
	res.IntervalS = so.Interval.Seconds()
	// Warm up once with each kind of work, so that what the agent starts
	// lazily on first use (the bridge, the Deployment controller's state,
	// the prober) is in the baseline and not counted as a leak.
	b.log.Info("soak: warm-up")
	if _, err := b.churnOnce(ctx, -1); err != nil {
		return fmt.Errorf("warm-up: %w", err)
	}
	if err := b.scaleTo(ctx, 1); err != nil {
		return fmt.Errorf("warm-up: %w", err)
	}
	if err := b.removeDeployment(ctx); err != nil {
		return fmt.Errorf("warm-up: %w", err)
	}
	base, _, err := b.settledCounts(ctx)
	if err != nil {
		return err
	}
	res.Baseline = base

	for _, p := range []*v1.Pod{probedPod(soakSteady[0]), soakExecPod(soakSteady[1]), soakLoggerPod(soakSteady[2]), crashPod(soakCrash)} {
		if _, err := b.apply(p); err != nil {
			return err
		}
	}
	for _, name := range soakSteady {
		wctx, cancel := context.WithTimeout(ctx, podTimeout)
		_, err := b.pods.wait(wctx, name, isReady)
		cancel()
		if err != nil {
			return fmt.Errorf("steady pod: %w", err)
		}
	}

	if err := b.heapProfile(ctx, "heap-start.pb.gz"); err != nil {
		return err
	}
	b.log.Info("soak: running", zap.Duration("for", so.Duration), zap.Duration("sample every", so.Interval))
	start := time.Now()
	wctx, stop := context.WithDeadline(ctx, start.Add(so.Duration))
	defer stop()
	var wg sync.WaitGroup
	var mu sync.Mutex // guards res while the workloads run
	wg.Add(3)
	go func() {
		defer wg.Done()
		for i := 0; wctx.Err() == nil; i++ {
			_, err := b.churnOnce(wctx, i)
			mu.Lock()
			if err != nil && wctx.Err() == nil {
				res.ChurnErrors = append(res.ChurnErrors, fmt.Sprintf("cycle %d: %v", i, err))
				b.log.Warn("soak: churn cycle failed", zap.Int("cycle", i), zap.Error(err))
			} else if err == nil {
				res.ChurnCycles++
			}
			mu.Unlock()
			_ = sleep(wctx, so.Churn)
		}
	}()
	go func() {
		defer wg.Done()
		replicas := []int32{3, 1, 2, 0}
		for i := 0; wctx.Err() == nil; i++ {
			err := b.scaleTo(wctx, replicas[i%len(replicas)])
			mu.Lock()
			if err != nil && wctx.Err() == nil {
				res.ScaleErrors = append(res.ScaleErrors, fmt.Sprintf("scaling %d to %d: %v", i, replicas[i%len(replicas)], err))
				b.log.Warn("soak: scaling failed", zap.Error(err))
			} else if err == nil {
				res.Scalings++
			}
			mu.Unlock()
			_ = sleep(wctx, so.Scale)
		}
	}()
	go func() {
		defer wg.Done()
		tick := time.NewTicker(so.Interval)
		defer tick.Stop()
		for {
			s, err := b.soakSample(wctx)
			mu.Lock()
			if err != nil && wctx.Err() == nil {
				res.Errors = append(res.Errors, fmt.Sprintf("sample: %v", err))
			} else if err == nil {
				res.Samples = append(res.Samples, s)
			}
			n := len(res.Samples)
			mu.Unlock()
			if err == nil && n%30 == 1 {
				b.log.Info("soak: sample", zap.Duration("elapsed", time.Since(start).Round(time.Second)),
					zap.Float64("agent RSS MiB", s.Values["agent_rss_mib"]), zap.Float64("goroutines", s.Values["goroutines"]),
					zap.Float64("fds", s.Values["fds"]), zap.Float64("shims", s.Values["shims"]))
			}
			select {
			case <-wctx.Done():
				return
			case <-tick.C:
			}
		}
	}()
	wg.Wait()
	if ctx.Err() != nil {
		return ctx.Err()
	}
	res.DurationS = secs(time.Since(start))
	if err := b.agent.exitedErr(); err != nil {
		return err
	}
	if err := b.heapProfile(ctx, "heap-end.pb.gz"); err != nil {
		return err
	}

	// The pods' restart counts before they go.
	list, err := b.agent.Client.ListPods(ctx, "", api.ListOptions{})
	if err != nil {
		return err
	}
	for _, p := range list.Items {
		switch {
		case p.Name == soakCrash:
			res.CrashRestarts = restarts(&p)
		case slices.Contains(soakSteady, p.Name):
			res.SteadyRestarts[p.Name] = restarts(&p)
		}
	}
	for _, name := range soakSteady {
		if _, ok := res.SteadyRestarts[name]; !ok {
			res.Errors = append(res.Errors, "steady pod "+name+" is gone")
		}
	}

	b.log.Info("soak: deleting every pod")
	for _, name := range append(slices.Clone(soakSteady), soakCrash, "churn") {
		if _, err := b.deletePod(ctx, name); err != nil && !isNotFound(err) {
			return err
		}
	}
	if err := b.removeDeployment(ctx); err != nil {
		return err
	}
	res.End, err = b.countsBackTo(ctx, base, time.Minute)
	if err != nil {
		return err
	}
	res.Leaks = leaked(base, res.End)
	for k, v := range base {
		if res.End[k] > v {
			if res.LeakDetail == nil {
				res.LeakDetail = map[string][2]int{}
			}
			res.LeakDetail[k] = [2]int{v, res.End[k]}
		}
	}
	res.Series = summarizeSeries(res.Samples, start)
	return nil
}

// countsBackTo samples the leak counts until they are back at base or
// within is over (asynchronous clean-up, shims exiting, lags the API a
// little) and returns the last counts.
func (b *bench) countsBackTo(ctx context.Context, base map[string]int, within time.Duration) (map[string]int, error) {
	deadline := time.Now().Add(within)
	for {
		c, err := b.leakCounts(ctx)
		if err != nil {
			return nil, err
		}
		if leaked(base, c) == 0 || time.Now().After(deadline) {
			return c, nil
		}
		if err := sleep(ctx, time.Second); err != nil {
			return nil, err
		}
	}
}

// soakSample reads every series once: the leak counts (host objects, the
// agent's goroutines and fds), the agent's and containerd's memory, the
// agent's threads and the bytes of container logs on disk.
func (b *bench) soakSample(ctx context.Context) (soakSample, error) {
	c, err := b.leakCounts(ctx)
	if err != nil {
		return soakSample{}, err
	}
	s := soakSample{At: time.Now(), Values: map[string]float64{}}
	for k, v := range c {
		s.Values[k] = float64(v)
	}
	a, err := b.agent.sample()
	if err != nil {
		return soakSample{}, err
	}
	s.Values["agent_rss_mib"] = mib(a.RSS)
	s.Values["agent_threads"] = float64(a.Threads)
	s.Values["containerd_rss_mib"] = mib(rss(b.containerdPID()))
	s.Values["log_mib"] = mib(dirBytes(filepath.Join(filepath.Dir(b.agent.Root), "logs")))
	if b.opts.profileDir != "" {
		m, err := b.memStats(ctx)
		if err != nil {
			return soakSample{}, err
		}
		// What of the RSS is the Go heap (its spans in use), and what the
		// runtime holds from the OS in all (heap, stacks, its own
		// structures), so that heap growth tells from fragmentation or
		// growth outside Go (file-backed pages, C).
		s.Values["agent_heap_inuse_mib"] = mib(int64(m.HeapInuse))
		s.Values["agent_go_held_mib"] = mib(int64(m.Sys - m.HeapReleased))
	}
	return s, nil
}

// heapProfile writes the agent's heap profile, after a GC so that it
// shows what is live, into the profile directory, when --profile gave one.
// Compare two with `go tool pprof -base heap-start.pb.gz BIN heap-end.pb.gz`.
func (b *bench) heapProfile(ctx context.Context, name string) error {
	if b.opts.profileDir == "" {
		return nil
	}
	if err := os.MkdirAll(b.opts.profileDir, 0o755); err != nil {
		return err
	}
	path := filepath.Join(b.opts.profileDir, name)
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	err = b.agent.debug(ctx, "/debug/pprof/heap?gc=1", f, 256<<20)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("heap profile %s: %w", path, err)
	}
	b.log.Info("soak: heap profile written", zap.String("path", path))
	return nil
}

// memStats reads the agent's runtime.MemStats (GET /debug/vars, which
// the profiling handler serves).
func (b *bench) memStats(ctx context.Context) (runtime.MemStats, error) {
	var body bytes.Buffer
	if err := b.agent.debug(ctx, "/debug/vars", &body, 1<<20); err != nil {
		return runtime.MemStats{}, err
	}
	var vars struct{ Memstats runtime.MemStats }
	if err := json.Unmarshal(body.Bytes(), &vars); err != nil {
		return runtime.MemStats{}, fmt.Errorf("GET /debug/vars: %w", err)
	}
	if vars.Memstats.Sys == 0 {
		return runtime.MemStats{}, errors.New("GET /debug/vars: no memory statistics")
	}
	return vars.Memstats, nil
}

// dirBytes is the size of the regular files under dir.
func dirBytes(dir string) int64 {
	var n int64
	_ = filepath.Walk(dir, func(_ string, info os.FileInfo, err error) error {
		if err == nil && info.Mode().IsRegular() {
			n += info.Size()
		}
		return nil
	})
	return n
}

// scaleTo writes the soak's Deployment with the given replicas and waits
// until that many pods are Ready and no others remain.
func (b *bench) scaleTo(ctx context.Context, replicas int32) error {
	ctx, cancel := context.WithTimeout(ctx, 2*podTimeout)
	defer cancel()
	if _, err := b.agent.write(deployName+".yaml", benchDeployment(replicas)); err != nil {
		return err
	}
	for {
		list, err := b.agent.Client.ListPods(ctx, "", api.ListOptions{LabelSelector: "app=" + deployName})
		if err != nil {
			return err
		}
		ready := 0
		for _, p := range list.Items {
			if podReady(&p) {
				ready++
			}
		}
		if ready == int(replicas) && len(list.Items) == int(replicas) {
			return nil
		}
		if err := sleep(ctx, 200*time.Millisecond); err != nil {
			return fmt.Errorf("deployment to %d replicas (%d pods, %d ready): %w", replicas, len(list.Items), ready, err)
		}
	}
}

// removeDeployment deletes the soak's Deployment and waits for its pods to go.
func (b *bench) removeDeployment(ctx context.Context) error {
	if _, err := b.agent.remove(deployName + ".yaml"); err != nil && !errors.Is(err, os.ErrNotExist) {
		return err
	}
	ctx, cancel := context.WithTimeout(ctx, 2*podTimeout)
	defer cancel()
	for {
		list, err := b.agent.Client.ListPods(ctx, "", api.ListOptions{LabelSelector: "app=" + deployName})
		if err != nil {
			return err
		}
		if len(list.Items) == 0 {
			return nil
		}
		if err := sleep(ctx, 200*time.Millisecond); err != nil {
			return fmt.Errorf("deployment removed, %d pods remain: %w", len(list.Items), err)
		}
	}
}

// restarts sums a pod's container restarts.
func restarts(p *v1.Pod) int32 {
	var n int32
	for _, s := range p.Status.ContainerStatuses {
		n += s.RestartCount
	}
	return n
}

// exitedErr reports an agent that is no longer running.
func (a *agentProc) exitedErr() error {
	select {
	case <-a.exited:
		return fmt.Errorf("agent exited (%v); see %s", a.exitErr, a.LogPath)
	default:
		return nil
	}
}

// summarizeSeries summarises every series of the samples, sorted by name.
func summarizeSeries(samples []soakSample, start time.Time) []series {
	if len(samples) == 0 {
		return nil
	}
	names := map[string]bool{}
	for _, s := range samples {
		for k := range s.Values {
			names[k] = true
		}
	}
	end := samples[len(samples)-1].At
	half := start.Add(end.Sub(start) / 2)
	var out []series
	for _, name := range slices.Sorted(maps.Keys(names)) {
		var xs, ys, xh, yh []float64
		for _, s := range samples {
			v, ok := s.Values[name]
			if !ok {
				continue
			}
			h := s.At.Sub(start).Hours()
			xs, ys = append(xs, h), append(ys, v)
			if !s.At.Before(half) {
				xh, yh = append(xh, h), append(yh, v)
			}
		}
		if len(ys) == 0 {
			continue
		}
		out = append(out, series{
			Name: name, First: ys[0], Last: ys[len(ys)-1], Min: slices.Min(ys), Max: slices.Max(ys),
			SlopePerH: round2(slope(xs, ys)), SlopeHalfPH: round2(slope(xh, yh)),
		})
	}
	return out
}

// slope is the least-squares slope of y over x; 0 with fewer than two
// distinct x.
func slope(x, y []float64) float64 {
	n := float64(len(x))
	if len(x) < 2 || len(x) != len(y) {
		return 0
	}
	var sx, sy float64
	for i := range x {
		sx += x[i]
		sy += y[i]
	}
	mx, my := sx/n, sy/n
	var num, den float64
	for i := range x {
		num += (x[i] - mx) * (y[i] - my)
		den += (x[i] - mx) * (x[i] - mx)
	}
	if den == 0 {
		return 0
	}
	return num / den
}

// writeSoakTable prints the soak's result for people.
func (r *soakResult) writeTable(out io.Writer) {
	w := tabwriter.NewWriter(out, 0, 0, 2, ' ', 0)
	fmt.Fprintf(w, "soak\t%.0f s, a sample every %.0f s (%d samples)\n", r.DurationS, r.IntervalS, len(r.Samples))
	api := "off"
	if r.KubeAPI {
		api = "on (a loopback port of its own)"
	}
	fmt.Fprintf(w, "kubernetes API\t%s\n", api)
	fmt.Fprintf(w, "churn cycles\t%d (%d failed)\n", r.ChurnCycles, len(r.ChurnErrors))
	fmt.Fprintf(w, "deployment scalings\t%d (%d failed)\n", r.Scalings, len(r.ScaleErrors))
	fmt.Fprintf(w, "crash-loop restarts\t%d\n", r.CrashRestarts)
	for _, name := range slices.Sorted(maps.Keys(r.SteadyRestarts)) {
		fmt.Fprintf(w, "restarts of %s\t%d (must be 0)\n", name, r.SteadyRestarts[name])
	}
	fmt.Fprintln(w)
	fmt.Fprintln(w, "series\tfirst\tlast\tmin\tmax\tslope/h\tslope/h 2nd half")
	for _, s := range r.Series {
		fmt.Fprintf(w, "%s\t%s\t%s\t%s\t%s\t%s\t%s\n", s.Name, num(s.First), num(s.Last), num(s.Min), num(s.Max), num(s.SlopePerH), num(s.SlopeHalfPH))
	}
	fmt.Fprintln(w)
	fmt.Fprintf(w, "leaks after every pod was deleted\t%d\n", r.Leaks)
	for _, k := range slices.Sorted(maps.Keys(r.LeakDetail)) {
		fmt.Fprintf(w, "  %s\t%d → %d\n", k, r.LeakDetail[k][0], r.LeakDetail[k][1])
	}
	for _, e := range append(append(slices.Clone(r.ChurnErrors), r.ScaleErrors...), r.Errors...) {
		fmt.Fprintf(w, "error\t%s\n", e)
	}
	_ = w.Flush()
}

func num(v float64) string { return strconv.FormatFloat(v, 'f', -1, 64) }

// soakMain runs a soak, prints and writes its result and returns the exit
// code: 1 when it failed or found a leak.
func soakMain(ctx context.Context, log *zap.Logger, o benchOptions, so soakOptions) int {
	res, err := runSoak(ctx, log, o, so)
	if res != nil {
		res.Commit, res.KubeAPI = o.commit, o.kubeAPI
		res.writeTable(os.Stdout)
		if o.jsonPath != "" {
			err = errors.Join(err, writeJSON(o.jsonPath, res))
		}
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "minikubelet-bench:", err)
		return 1
	}
	if res.failed() {
		fmt.Fprintln(os.Stderr, "minikubelet-bench: the soak failed (leaks, failed cycles or restarts above)")
		return 1
	}
	return 0
}
