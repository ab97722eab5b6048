// Command minikubelet-bench measures the agent against the least work
// containerd and CNI need for the same pods (the floor), side by side in
// one run on this machine: pod start, restart reaction, probe timing,
// footprint and churn with a leak check. It prints a table and, with
// --json, writes the figures as JSON. scripts/bench builds and runs it;
// see BENCHMARKS.md.
//
// It needs root, containerd, runc and the CNI plugins, and creates
// everything it uses itself: a private containerd under a temp dir, its
// own containerd namespaces, bridges and subnets, and the agent as a child
// process. It removes all of it when it ends, also on failure or Ctrl-C.
// Its only network traffic is the agent's probes to the bench's own pods.
package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"os"
	"os/signal"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"

	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
)

type benchOptions struct {
	quick       bool
	jsonPath    string
	agentBinary string
	pauseBinary string
	cniBinDirs  []string
	keepLogs    string
	only        map[string]bool // phases to run; all when empty
	commit      string          // the commit measured, for the record
	peers       bool            // also measure podman and the upstream kubelet
	kubelet     string          // the upstream kubelet binary for --peers
	kubeAPI     bool            // the agent serves its Kubernetes API
	profileDir  string          // with --soak: heap profiles of the agent go here
}

// apiAddress is the agent's apiAddress: "" (off) unless --kubeapi asked for
// the API, then a free loopback port, since the default one (6443) is one
// per machine and another agent may hold it.
func (o benchOptions) apiAddress() (string, error) {
	if !o.kubeAPI {
		return "", nil
	}
	port, err := freePort()
	if err != nil {
		return "", fmt.Errorf("a port for the Kubernetes API: %w", err)
	}
	return net.JoinHostPort("127.0.0.1", strconv.Itoa(port)), nil
}

func main() {
	if len(os.Args) > 1 && os.Args[1] == probeFloorCommand {
		os.Exit(probeFloorMain(os.Stdin, os.Stdout))
	}
	if len(os.Args) > 1 && os.Args[1] == probeFloorGoCommand {
		os.Exit(probeFloorGoMain(os.Stdin, os.Stdout))
	}
	var o benchOptions
	var cniDirs, only string
	flag.BoolVar(&o.quick, "quick", false, "smaller counts and shorter windows (under 3 minutes)")
	flag.StringVar(&o.jsonPath, "json", "", "also write the results as JSON to this file")
	flag.StringVar(&o.agentBinary, "agent", "", "minikubelet binary to benchmark (required)")
	flag.StringVar(&o.pauseBinary, "pause", "", "pause program for the sandbox image (required)")
	flag.StringVar(&cniDirs, "cni-bin-dir", "/opt/cni/bin:/usr/lib/cni", "colon-separated CNI plugin directories")
	flag.StringVar(&o.keepLogs, "keep-logs", "", "copy the agent's and containerd's logs into this directory at the end")
	flag.StringVar(&only, "only", "", "run only these phases (comma-separated): "+strings.Join(phaseNames(), ","))
	var so soakOptions
	flag.DurationVar(&so.Duration, "soak", 0, "instead of the bench, soak the agent this long (see RELIABILITY.md)")
	flag.DurationVar(&so.Interval, "soak-interval", 10*time.Second, "with --soak: time between samples")
	flag.DurationVar(&so.Churn, "soak-churn", 2*time.Second, "with --soak: pause between pod create/delete cycles")
	flag.DurationVar(&so.Scale, "soak-scale", 20*time.Second, "with --soak: pause between Deployment scalings")
	flag.StringVar(&o.commit, "commit", "", "the commit measured, recorded in the results")
	flag.BoolVar(&o.kubeAPI, "kubeapi", false, "the agent serves its Kubernetes API (on a free loopback port); off by default")
	flag.StringVar(&o.profileDir, "profile", "", "with --soak: sample the agent's Go heap and write its heap profiles at the start and the end into this directory (the agent must be built with -tags pprof)")
	flag.BoolVar(&o.peers, "peers", false, "also measure the peers on the same pods: podman and the upstream kubelet (--kubelet)")
	flag.StringVar(&o.kubelet, "kubelet", "", "with --peers: the upstream kubelet binary")
	flag.Parse()
	o.cniBinDirs = filepath.SplitList(cniDirs)
	if only != "" {
		o.only = map[string]bool{}
		for _, p := range strings.Split(only, ",") {
			if !slices.Contains(phaseNames(), p) {
				fmt.Fprintf(os.Stderr, "minikubelet-bench: unknown phase %q (phases: %s)\n", p, strings.Join(phaseNames(), ","))
				os.Exit(2)
			}
			o.only[p] = true
		}
	}
	if o.agentBinary == "" || o.pauseBinary == "" || flag.NArg() > 0 {
		fmt.Fprintln(os.Stderr, "usage: minikubelet-bench --agent BIN --pause BIN [--quick] [--json FILE] [--keep-logs DIR]")
		os.Exit(2)
	}
	if os.Geteuid() != 0 {
		fmt.Fprintln(os.Stderr, "minikubelet-bench: needs root (containerd, network namespaces, bridges)")
		os.Exit(1)
	}

	log := newLogger(os.Stderr)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go handleSignals(log, cancel)

	if so.Duration > 0 {
		os.Exit(soakMain(ctx, log, o, so))
	}
	res, err := run(ctx, log, o)
	if res != nil {
		res.writeTable(os.Stdout)
		if o.jsonPath != "" {
			if werr := writeJSON(o.jsonPath, res); werr != nil {
				err = errors.Join(err, werr)
			}
		}
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "minikubelet-bench:", err)
		os.Exit(1)
	}
}

// handleSignals cancels the run at the first SIGINT or SIGTERM, which
// then cleans up. The same interrupt often arrives twice (from the
// terminal and from a wrapper such as timeout that forwards it), so only a
// signal a second later aborts the clean-up.
func handleSignals(log *zap.Logger, cancel context.CancelFunc) {
	sigs := make(chan os.Signal, 4)
	signal.Notify(sigs, syscall.SIGINT, syscall.SIGTERM)
	<-sigs
	first := time.Now()
	log.Warn("interrupted: cleaning up (interrupt again to abort and leave everything behind)")
	cancel()
	for range sigs {
		if time.Since(first) < time.Second {
			continue
		}
		fmt.Fprintln(os.Stderr, "minikubelet-bench: aborted; its temp dir /tmp/mkbench-*, containerd, shims, bridges mkb* and mounts may be left behind")
		os.Exit(130)
	}
}

// newLogger logs the bench's progress for people: time, level, message.
func newLogger(w io.Writer) *zap.Logger {
	enc := zap.NewDevelopmentEncoderConfig()
	enc.EncodeTime = zapcore.TimeEncoderOfLayout("15:04:05")
	enc.EncodeCaller = nil
	core := zapcore.NewCore(zapcore.NewConsoleEncoder(enc), zapcore.AddSync(w), zapcore.InfoLevel)
	return zap.New(core)
}

// run sets the world up, runs every phase and tears the world down. It
// returns what it measured even when a phase failed.
func run(ctx context.Context, log *zap.Logger, o benchOptions) (_ *results, retErr error) {
	started := time.Now()
	sz := fullSize
	if o.quick {
		sz = quickSize
	}
	// The peers' upstream kubelet runs on the same containerd, through its
	// CRI plugin: only then is the plugin on.
	var cri func(string) string
	watched := []string{}
	if o.peers {
		cri = func(root string) string { return criPluginTOML(root, cniBinDir(o.cniBinDirs)) }
		watched = append(watched, criNamespace)
	}
	w, err := newWorld(ctx, log, o.pauseBinary, cri)
	if err != nil {
		return nil, err
	}
	defer func() {
		log.Info("cleaning up")
		retErr = errors.Join(retErr, w.close())
	}()
	res := newResults(ctx, w, o.quick)

	floorNet, err := w.newNet("flr")
	if err != nil {
		return nil, err
	}
	agentNet, err := w.newNet("agt")
	if err != nil {
		return nil, err
	}
	fl, err := newFloor(ctx, w, floorNet, o.cniBinDirs)
	if err != nil {
		return nil, fmt.Errorf("floor: %w", err)
	}
	tasks := watchTasks(ctx, log, w.client, append(watched, floorNet.Namespace, agentNet.Namespace)...)
	agent, err := startAgent(ctx, w, o, agentNet)
	if err != nil {
		return nil, err
	}
	if o.keepLogs != "" {
		w.defer_(func(context.Context) error {
			return keepLogs(o.keepLogs, agent.LogPath, filepath.Join(w.root, "containerd", "containerd.log"))
		})
	}
	res.AgentStartMs = ms(agent.StartedIn)
	pods, err := watchPods(ctx, agent.Client)
	if err != nil {
		return nil, err
	}
	b := &bench{log: log, size: sz, opts: o, world: w, net: agentNet, floor: fl, agent: agent, tasks: tasks, pods: pods, res: res}
	defer func() {
		if retErr != nil && ctx.Err() == nil {
			retErr = fmt.Errorf("%w\nagent log: %s", retErr, tail(agent.LogPath, 2000))
		}
	}()

	for _, ph := range b.phases() {
		if o.only != nil && !o.only[ph.name] || ph.name == "peers" && !o.peers || o.quick && o.only == nil && (ph.name == "scale" || ph.name == "restart") {
			continue
		}
		log.Info("phase " + ph.name + ": " + ph.what)
		t := time.Now()
		if err := ph.run(ctx); err != nil {
			return res, fmt.Errorf("%s: %w", ph.name, err)
		}
		res.Phases = append(res.Phases, ph.name)
		log.Info("phase done", zap.Duration("took", time.Since(t).Round(time.Second)))
	}
	if err := b.finishCrashLoop(ctx); err != nil {
		return res, err
	}
	res.TotalS = secs(time.Since(started))
	return res, nil
}

// phase is one part of the run.
type phase struct {
	name, what string
	run        func(context.Context) error
}

// phases are the parts of a run, in order. The idle measurement comes
// first, while the agent has never run a pod.
func (b *bench) phases() []phase {
	return []phase{
		{"idle", "the agent idle with no pods", b.idleEmpty},
		{"start", "single pod starts, floor and agent taking turns", b.podStart},
		{"many", "pods dropped at once, idle footprint with them", b.manyPods},
		// Not part of --quick unless asked for by --only (neither is restart):
		// --quick stays under 3 minutes.
		{"scale", "many more pods dropped at once: time and agent memory per pod", b.scalePods},
		{"deploy", "a Deployment scaled from 0 to as many pods, against those pods dropped at once", b.deployScale},
		// Churn before the probes, whose connections to deleted pods may
		// linger and would only delay the leak check's baseline.
		{"churn", "create/delete cycles and the leak check", b.churn},
		{"reactions", "restart after exit and liveness failure, crash-loop back-off", b.reactions},
		// While the crash loop reactions started runs on (half a minute
		// of back-off), which the probes phase waits for: the floor's
		// shims are measured by memory, not time.
		{"grouping", "shim grouping on the floor", b.shimGrouping},
		{"probes", "probe timing and CPU", b.probeTiming},
		{"logging", "containers writing as fast as they can: agent CPU per MB/s logged", b.logging},
		// Last of the agent's: the agent measured before is gone after it.
		{"restart", "the agent restarted under running pods: time to their full status, containers restarted", b.agentRestart},
		// Only with --peers.
		{"peers", "podman and the upstream kubelet on the same pods", b.peers},
	}
}

func phaseNames() []string {
	var out []string
	for _, p := range (&bench{}).phases() {
		out = append(out, p.name)
	}
	return out
}

func writeJSON(path string, res any) error {
	data, err := json.MarshalIndent(res, "", "  ")
	if err != nil {
		return err
	}
	return os.WriteFile(path, append(data, '\n'), 0o644)
}

// keepLogs copies files into dir.
func keepLogs(dir string, files ...string) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	var errs []error
	for _, f := range files {
		data, err := os.ReadFile(f)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		errs = append(errs, os.WriteFile(filepath.Join(dir, filepath.Base(f)), data, 0o644))
	}
	return errors.Join(errs...)
}

// tail returns up to n bytes from the end of a file.
func tail(path string, n int) string {
	data, err := os.ReadFile(path)
	if err != nil {
		return err.Error()
	}
	if len(data) > n {
		data = data[len(data)-n:]
	}
	return "…" + strings.TrimSpace(string(data))
}
