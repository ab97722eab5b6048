package main

import (
	"context"
	"crypto/tls"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/containerd/containerd/namespaces"
	"go.uber.org/zap"
	"golang.org/x/sys/unix"
	v1 "k8s.io/api/core/v1"

	"github.com/minikubelet/minikubelet/internal/osthread"
	pauseimage "github.com/minikubelet/minikubelet/pause/image"
	"github.com/minikubelet/minikubelet/runtime"
)

// criNamespace is the containerd namespace of containerd's CRI plugin.
const criNamespace = "k8s.io"

// kubeletNode is the upstream kubelet's node name: static pods are named
// <pod>-<node>.
const kubeletNode = "benchnode"

// kubeletTunables are the sysctls the kubelet sets at start (its
// container manager's setupKernelTunables, when protectKernelDefaults is
// off; on, it refuses to start where they differ). The bench puts them back.
var kubeletTunables = []string{
	"vm/overcommit_memory", "vm/panic_on_oom", "kernel/panic", "kernel/panic_on_oops",
	"kernel/keys/root_maxkeys", "kernel/keys/root_maxbytes",
}

// kubeletDir is where the kubelet peer keeps everything: its root dir,
// manifests, logs, and the CNI and registry config of containerd's CRI
// plugin.
func kubeletDir(root string) string { return filepath.Join(root, "kubelet") }

// criPluginTOML is containerd's CRI plugin config for the kubelet peer:
// the bench's pause image as sandbox image, runc, the CNI config the
// kubelet peer writes (the bench's own bridge and subnet), and registry
// hosts that point every image the bench uses at a closed loopback port,
// so that nothing is ever pulled from the network. oom_score_adj is kept
// at or above containerd's own: root cannot lower it on these machines
// (the kubelet asks -998 for sandboxes, and runc fails to start them).
func criPluginTOML(root, cniBinDir string) string {
	dir := kubeletDir(root)
	return fmt.Sprintf(`  sandbox_image = %q
  stream_server_address = "127.0.0.1"
  stream_server_port = "0"
  restrict_oom_score_adj = true
  [plugins."io.containerd.grpc.v1.cri".containerd]
    snapshotter = "overlayfs"
    default_runtime_name = "runc"
    [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc]
      runtime_type = "io.containerd.runc.v2"
  [plugins."io.containerd.grpc.v1.cri".cni]
    bin_dir = %q
    conf_dir = %q
    max_conf_num = 1
  [plugins."io.containerd.grpc.v1.cri".registry]
    config_path = %q`, pauseimage.Ref, cniBinDir, filepath.Join(dir, "cni"), filepath.Join(dir, "certs.d"))
}

// cniBinDir is the first of dirs with the bridge plugin (the CRI plugin
// takes one directory).
func cniBinDir(dirs []string) string {
	for _, d := range dirs {
		if _, err := os.Stat(filepath.Join(d, "bridge")); err == nil {
			return d
		}
	}
	return dirs[0]
}

// kubeletConfig is the subset of the kubelet's KubeletConfiguration
// (kubelet.config.k8s.io/v1beta1) the bench sets. Fields that default to
// true are written even when false.
type kubeletConfig struct {
	APIVersion               string `json:"apiVersion"`
	Kind                     string `json:"kind"`
	StaticPodPath            string `json:"staticPodPath"`
	Address                  string `json:"address"`
	Port                     int    `json:"port"`
	ReadOnlyPort             int    `json:"readOnlyPort"`
	HealthzBindAddress       string `json:"healthzBindAddress"`
	HealthzPort              int    `json:"healthzPort"`
	ContainerRuntimeEndpoint string `json:"containerRuntimeEndpoint"`
	CgroupDriver             string `json:"cgroupDriver"`
	CgroupRoot               string `json:"cgroupRoot"`
	FailSwapOn               bool   `json:"failSwapOn"`
	FailCgroupV1             bool   `json:"failCgroupV1"`
	MakeIPTablesUtilChains   bool   `json:"makeIPTablesUtilChains"`
	PodLogsDir               string `json:"podLogsDir"`
	VolumePluginDir          string `json:"volumePluginDir"`
	Authentication           struct {
		Anonymous struct {
			Enabled bool `json:"enabled"`
		} `json:"anonymous"`
		Webhook struct {
			Enabled bool `json:"enabled"`
		} `json:"webhook"`
	} `json:"authentication"`
	Authorization struct {
		Mode string `json:"mode"`
	} `json:"authorization"`
	EvictionHard                map[string]string `json:"evictionHard"`
	ImageGCHighThresholdPercent int               `json:"imageGCHighThresholdPercent"`
	ImageGCLowThresholdPercent  int               `json:"imageGCLowThresholdPercent"`
}

// kubeletProc is the upstream kubelet running standalone (no API server,
// static pods from a directory) on the world's containerd through its CRI
// plugin.
type kubeletProc struct {
	cmd       *exec.Cmd
	exited    chan struct{}
	exitErr   error
	manifests string
	LogPath   string
	port      int // its server (GET /pods), loopback only
	http      *http.Client
	StartedIn time.Duration
}

// startKubelet writes the kubelet's config and the CRI plugin's CNI config
// and starts the kubelet; it returns once its healthz answers. Everything
// it changes on the host is registered for removal first: its cgroups, the
// sysctls it sets, the log symlinks it makes in /var/log/containers, the
// CRI namespace and its network namespaces.
func startKubelet(ctx context.Context, w *world, binary string, n netSpec) (*kubeletProc, error) {
	dir := kubeletDir(w.root)
	k := &kubeletProc{manifests: filepath.Join(dir, "manifests"), LogPath: filepath.Join(dir, "kubelet.log"), exited: make(chan struct{})}
	for _, d := range []string{"manifests", "root", "pki", "logs", "volume-plugins", "cni", "ipam"} {
		if err := os.MkdirAll(filepath.Join(dir, d), 0o755); err != nil {
			return nil, err
		}
	}
	for _, registry := range []string{"docker.io", "minikubelet.io"} {
		d := filepath.Join(dir, "certs.d", registry)
		if err := os.MkdirAll(d, 0o755); err != nil {
			return nil, err
		}
		if err := os.WriteFile(filepath.Join(d, "hosts.toml"), []byte("server = \"http://127.0.0.1:1\"\n"), 0o644); err != nil {
			return nil, err
		}
	}
	conflist := podNetConflist("mkbench-kubelet", n, filepath.Join(dir, "ipam"))
	if err := os.WriteFile(filepath.Join(dir, "cni", "10-mkbench.conflist"), conflist, 0o644); err != nil {
		return nil, err
	}

	saved := map[string]string{}
	for _, t := range kubeletTunables {
		if v, err := os.ReadFile(filepath.Join("/proc/sys", t)); err == nil {
			saved[t] = string(v)
		}
	}
	w.defer_(func(context.Context) error {
		var errs []error
		for t, v := range saved {
			errs = append(errs, os.WriteFile(filepath.Join("/proc/sys", t), []byte(v), 0o644))
		}
		return errors.Join(errs...)
	})
	cgroupRoot := "mkbench-kubelet-" + randHex(3)
	w.defer_(func(context.Context) error {
		var errs []error
		for _, d := range cgroupControllerDirs(cgroupRoot) {
			errs = append(errs, removeCgroupTree(d))
		}
		return errors.Join(errs...)
	})
	// The kubelet wants its cgroupRoot to exist in every hierarchy.
	for _, d := range cgroupControllerDirs(cgroupRoot) {
		if err := os.Mkdir(d, 0o755); err != nil {
			return nil, fmt.Errorf("kubelet cgroupRoot: %w", err)
		}
		if filepath.Base(filepath.Dir(d)) == "cpuset" { // v1: no CPUs nor memory nodes until given
			for _, f := range []string{"cpuset.cpus", "cpuset.mems"} {
				v, err := os.ReadFile(filepath.Join(filepath.Dir(d), f))
				if err == nil {
					err = os.WriteFile(filepath.Join(d, f), v, 0o644)
				}
				if err != nil {
					return nil, fmt.Errorf("kubelet cgroupRoot: %w", err)
				}
			}
		}
	}
	// Paths the kubelet uses whatever its config says: its log symlinks
	// and its device plugin socket.
	const logLinks = "/var/log/containers"
	if !w.removeIfNew(logLinks) {
		w.defer_(func(context.Context) error { return removeLinksInto(logLinks, dir) })
	}
	w.removeIfNew("/var/lib/kubelet")
	w.defer_(func(ctx context.Context) error {
		return errors.Join(removeSandboxNetns(ctx, w, criNamespace), runtime.PurgeNamespace(ctx, w.client, criNamespace, nil))
	})

	port, err := freePort()
	if err != nil {
		return nil, err
	}
	healthz, err := freePort()
	if err != nil {
		return nil, err
	}
	k.port = port
	cfg := kubeletConfig{
		APIVersion:               "kubelet.config.k8s.io/v1beta1",
		Kind:                     "KubeletConfiguration",
		StaticPodPath:            k.manifests,
		Address:                  "127.0.0.1",
		Port:                     port,
		ReadOnlyPort:             0,
		HealthzBindAddress:       "127.0.0.1",
		HealthzPort:              healthz,
		ContainerRuntimeEndpoint: "unix://" + w.daemon.Address(),
		CgroupDriver:             "cgroupfs",
		CgroupRoot:               "/" + cgroupRoot,
		FailSwapOn:               false,
		FailCgroupV1:             false,
		MakeIPTablesUtilChains:   false,
		PodLogsDir:               filepath.Join(dir, "logs"),
		VolumePluginDir:          filepath.Join(dir, "volume-plugins"),
		// No eviction or image GC on a shared machine's disk.
		EvictionHard:                map[string]string{"memory.available": "1Mi", "nodefs.available": "1%", "imagefs.available": "1%"},
		ImageGCHighThresholdPercent: 100,
		ImageGCLowThresholdPercent:  99,
	}
	cfg.Authentication.Anonymous.Enabled = true
	cfg.Authentication.Webhook.Enabled = false
	cfg.Authorization.Mode = "AlwaysAllow"
	cfgPath := filepath.Join(dir, "config.yaml")
	if err := writeYAML(cfgPath, cfg); err != nil {
		return nil, err
	}
	logFile, err := os.OpenFile(k.LogPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		return nil, err
	}
	defer logFile.Close()
	k.cmd = exec.Command(binary, "--config", cfgPath, "--root-dir", filepath.Join(dir, "root"),
		"--cert-dir", filepath.Join(dir, "pki"), "--hostname-override", kubeletNode)
	k.cmd.Stdout, k.cmd.Stderr = logFile, logFile
	k.cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGTERM}
	start := time.Now()
	if err := osthread.StartChild(k.cmd, func(err error) {
		k.exitErr = err
		close(k.exited)
	}); err != nil {
		return nil, fmt.Errorf("start kubelet %s: %w", binary, err)
	}
	w.defer_(k.stop)
	// Its serving certificate is self-signed: loopback only, nothing to verify.
	k.http = &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{InsecureSkipVerify: true}}}
	deadline := time.After(2 * time.Minute)
	for {
		if resp, err := k.http.Get(fmt.Sprintf("http://127.0.0.1:%d/healthz", healthz)); err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				k.StartedIn = time.Since(start)
				return k, nil
			}
		}
		select {
		case <-k.exited:
			return nil, fmt.Errorf("kubelet exited during start-up (%v): %s", k.exitErr, tail(k.LogPath, 1500))
		case <-deadline:
			return nil, fmt.Errorf("kubelet healthz not up in 2 minutes: %s", tail(k.LogPath, 1500))
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// stop ends the kubelet. Its pods keep running; the CRI namespace's purge
// removes them.
func (k *kubeletProc) stop(ctx context.Context) error {
	return stopChild(ctx, "kubelet", k.cmd.Process, k.exited)
}

// Pid is the kubelet's process ID.
func (k *kubeletProc) Pid() int { return k.cmd.Process.Pid }

// idle lets the kubelet settle, then returns its RSS at the end of window
// and its CPU over it, in percent of one core.
func (k *kubeletProc) idle(ctx context.Context, settle, window time.Duration) (rss int64, cpu float64, _ error) {
	if err := sleep(ctx, settle); err != nil {
		return 0, 0, err
	}
	s0, err := sampleProc(k.Pid())
	if err != nil {
		return 0, 0, err
	}
	if err := sleep(ctx, window); err != nil {
		return 0, 0, err
	}
	s1, err := sampleProc(k.Pid())
	if err != nil {
		return 0, 0, err
	}
	return s1.RSS, round2(cpuPercent(s0, s1)), nil
}

// write puts a static pod's manifest into place atomically and returns
// when it appeared.
func (k *kubeletProc) write(p *v1.Pod) (time.Time, error) {
	tmp := filepath.Join(k.manifests, "."+p.Name+".tmp")
	if err := os.WriteFile(tmp, manifest(p), 0o644); err != nil {
		return time.Time{}, err
	}
	at := time.Now()
	return at, os.Rename(tmp, filepath.Join(k.manifests, p.Name+".yaml"))
}

// remove deletes a static pod's manifest.
func (k *kubeletProc) remove(name string) error {
	return os.Remove(filepath.Join(k.manifests, name+".yaml"))
}

// ready reports whether the static pod is Ready in the kubelet's GET /pods.
func (k *kubeletProc) ready(ctx context.Context, name string) (bool, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, fmt.Sprintf("https://127.0.0.1:%d/pods", k.port), nil)
	if err != nil {
		return false, err
	}
	resp, err := k.http.Do(req)
	if err != nil {
		return false, err
	}
	defer resp.Body.Close()
	var list v1.PodList
	if err := json.NewDecoder(resp.Body).Decode(&list); err != nil {
		return false, fmt.Errorf("kubelet GET /pods: %w", err)
	}
	for _, p := range list.Items {
		if p.Name != name+"-"+kubeletNode {
			continue
		}
		for _, c := range p.Status.Conditions {
			if c.Type == v1.PodReady {
				return c.Status == v1.ConditionTrue, nil
			}
		}
	}
	return false, nil
}

// forKubelet is the bench's pod as the kubelet gets it: the same, with
// imagePullPolicy IfNotPresent (busybox:latest would default to Always and
// the images are local).
func forKubelet(p *v1.Pod) *v1.Pod {
	p = p.DeepCopy()
	for i := range p.Spec.InitContainers {
		p.Spec.InitContainers[i].ImagePullPolicy = v1.PullIfNotPresent
	}
	for i := range p.Spec.Containers {
		p.Spec.Containers[i].ImagePullPolicy = v1.PullIfNotPresent
	}
	return p
}

// criContainer matches a start (or exit) of a kubelet pod's container, by
// the CRI's labels.
func criContainer(pod, container string, start bool) func(taskEvent) bool {
	return func(e taskEvent) bool {
		return e.Start == start && e.Exec == "" && e.Namespace == criNamespace &&
			e.label("io.kubernetes.pod.name") == pod+"-"+kubeletNode && e.label("io.kubernetes.container.name") == container
	}
}

// freePort is a loopback TCP port nothing listens on right now.
func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

// removeLinksInto removes the symlinks in dir that point under target.
func removeLinksInto(dir, target string) error {
	entries, err := os.ReadDir(dir)
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	var errs []error
	for _, e := range entries {
		p := filepath.Join(dir, e.Name())
		if to, err := os.Readlink(p); err == nil && strings.HasPrefix(to, target+"/") {
			errs = append(errs, os.Remove(p))
		}
	}
	return errors.Join(errs...)
}

// removeSandboxNetns removes the network namespaces of the CRI's
// sandboxes in ns that are still there (the CRI removes them when it stops
// a sandbox; this is for a run that ended before). Their veths go with
// them; IPAM state is under the bench's temp dir.
func removeSandboxNetns(ctx context.Context, w *world, ns string) error {
	ctx = namespaces.WithNamespace(ctx, ns)
	list, err := w.client.Containers(ctx, `labels."io.cri-containerd.kind"==sandbox`)
	if err != nil {
		return err
	}
	var errs []error
	for _, c := range list {
		spec, err := c.Spec(ctx)
		if err != nil || spec.Linux == nil {
			continue
		}
		for _, n := range spec.Linux.Namespaces {
			if n.Type != "network" || !strings.HasPrefix(n.Path, "/var/run/netns/") && !strings.HasPrefix(n.Path, "/run/netns/") {
				continue
			}
			if err := unix.Unmount(n.Path, unix.MNT_DETACH); err != nil && !errors.Is(err, unix.EINVAL) && !errors.Is(err, unix.ENOENT) {
				errs = append(errs, fmt.Errorf("unmount %s: %w", n.Path, err))
			}
			if err := os.Remove(n.Path); err != nil && !errors.Is(err, os.ErrNotExist) {
				errs = append(errs, err)
			}
		}
	}
	return errors.Join(errs...)
}

// kubeletPeer runs the upstream kubelet on the same pods: start, 2-init
// start, Ready, many at once with its footprint, and the crash loop.
func (b *bench) kubeletPeer(ctx context.Context, pr *peerResults) error {
	if b.opts.kubelet == "" {
		return errors.New("no kubelet binary (scripts/bench --peers builds one)")
	}
	out, err := exec.CommandContext(ctx, b.opts.kubelet, "--version").Output()
	if err != nil {
		return fmt.Errorf("%s --version: %w", b.opts.kubelet, err)
	}
	pr.Version = strings.TrimPrefix(strings.TrimSpace(string(out)), "Kubernetes ")
	pr.How = "built from the k8s.io/kubernetes module (staging modules replaced by their published releases), " +
		"standalone: static pods from a directory, no API server; on the bench's containerd through its CRI plugin " +
		"(sandbox image: the bench's pause image; CNI: the bench's bridge and subnet); cgroupfs under a cgroupRoot of its own, " +
		"failSwapOn and failCgroupV1 off, no iptables chains, authentication and authorization open on loopback; " +
		"imagePullPolicy IfNotPresent on the same pods, registries pointed at a closed loopback port; " +
		"the kernel tunables it sets are put back at the end; Ready read from its GET /pods"
	if err := b.world.importImages(ctx, criNamespace); err != nil {
		return err
	}
	kn, err := b.world.newNet("kbl")
	if err != nil {
		return err
	}
	k, err := startKubelet(ctx, b.world, b.opts.kubelet, kn)
	if err != nil {
		return err
	}
	b.log.Info("kubelet up", zap.Duration("healthz after", k.StartedIn))
	defer func() {
		if b.opts.keepLogs != "" {
			_ = keepLogs(b.opts.keepLogs, k.LogPath)
		}
	}()
	idleRSS, cpu, err := k.idle(ctx, b.size.IdleSettle, b.size.IdleWindow)
	if err != nil {
		return err
	}
	pr.RSSIdleMiB, pr.CPUIdleEmpty = mib(idleRSS), cpu

	var one, init, ready []time.Duration
	for i := -1; i < b.size.Runs; i++ {
		for _, run := range []struct {
			pod   *v1.Pod
			ready bool
			out   *[]time.Duration
		}{
			{idlePod(fmt.Sprintf("kb-start-%d", i+1)), false, &one},
			{initPod(fmt.Sprintf("kb-init-%d", i+1)), false, &init},
			{readyPod(fmt.Sprintf("kb-ready-%d", i+1)), true, &ready},
		} {
			d, err := b.kubeletStartOnce(ctx, k, forKubelet(run.pod), run.ready)
			if err != nil {
				return err
			}
			if i >= 0 {
				*run.out = append(*run.out, d)
			}
			if err := sleep(ctx, settle); err != nil {
				return err
			}
		}
	}
	s1d, sid, srd := summarize(one), summarize(init), summarize(ready)
	pr.Runs = s1d.N
	pr.StartP50, pr.StartP90, pr.StartMax = ms(s1d.P50), ms(s1d.P90), ms(s1d.Max)
	pr.InitStartP50, pr.InitStartP90 = ms(sid.P50), ms(sid.P90)
	pr.ReadyP50 = ms(srd.P50)
	if err := b.kubeletMany(ctx, k, pr, idleRSS); err != nil {
		return err
	}
	if err := b.kubeletCrashLoop(ctx, k, pr); err != nil {
		return err
	}
	b.log.Sugar().Infof("kubelet %s: start p50 %.0f ms, 2-init %.0f ms, Ready %.0f ms, %d pods at once %.2f s, RSS %.1f MiB, CPU %.2f%%, first restart %.0f ms, back-off %.2f / %.2f s",
		pr.Version, pr.StartP50, pr.InitStartP50, pr.ReadyP50, pr.PodsAtOnce, pr.AllRunningS, pr.RSSMiB, pr.CPUIdle, pr.RestartP50, pr.BackoffS[0], pr.BackoffS[1])
	return nil
}

// kubeletStartOnce runs one static pod: manifest written → app container
// running (and Ready in GET /pods when ready is set); then it removes the
// pod and waits for its app container's exit.
func (b *bench) kubeletStartOnce(ctx context.Context, k *kubeletProc, p *v1.Pod, ready bool) (time.Duration, error) {
	ctx, cancel := context.WithTimeout(ctx, podTimeout)
	defer cancel()
	mark := b.tasks.mark()
	t0, err := k.write(p)
	if err != nil {
		return 0, err
	}
	ev, _, err := b.tasks.wait(ctx, mark, criContainer(p.Name, "app", true))
	if err != nil {
		return 0, fmt.Errorf("kubelet pod %s: app container start: %w", p.Name, err)
	}
	d := ev.At.Sub(t0)
	for ready {
		ok, err := k.ready(ctx, p.Name)
		if err != nil {
			return 0, err
		}
		if ok {
			d = time.Since(t0)
			break
		}
		if err := sleep(ctx, 10*time.Millisecond); err != nil {
			return 0, fmt.Errorf("kubelet pod %s: Ready: %w", p.Name, err)
		}
	}
	if err := k.remove(p.Name); err != nil {
		return 0, err
	}
	if _, _, err := b.tasks.wait(ctx, mark, criContainer(p.Name, "app", false)); err != nil {
		return 0, fmt.Errorf("kubelet pod %s: app container exit after delete: %w", p.Name, err)
	}
	return d, nil
}

// kubeletMany drops Few pods at once, measures the kubelet idle with them
// and the node's memory per pod, and removes them.
func (b *bench) kubeletMany(ctx context.Context, k *kubeletProc, pr *peerResults, idleRSS int64) error {
	ctx, cancel := context.WithTimeout(ctx, manyTimeout)
	defer cancel()
	n := b.size.Few
	mark := b.tasks.mark()
	names := make([]string, n)
	var t0 time.Time
	for i := range names {
		names[i] = fmt.Sprintf("kb-many-%d", i)
		at, err := k.write(forKubelet(idlePod(names[i])))
		if err != nil {
			return err
		}
		if i == 0 {
			t0 = at
		}
	}
	var last time.Duration
	for _, name := range names {
		ev, _, err := b.tasks.wait(ctx, mark, criContainer(name, "app", true))
		if err != nil {
			return fmt.Errorf("kubelet pod %s: %w", name, err)
		}
		last = max(last, ev.At.Sub(t0))
	}
	pr.PodsAtOnce, pr.AllRunningS = n, secs(last)
	rss, cpu, err := k.idle(ctx, b.size.IdleSettle, b.size.IdleWindow)
	if err != nil {
		return err
	}
	pr.RSSMiB, pr.CPUIdle = mib(rss), cpu
	var node int64
	cctx := namespaces.WithNamespace(ctx, criNamespace)
	sandboxes, err := b.world.client.Containers(cctx, `labels."io.cri-containerd.kind"==sandbox`)
	if err != nil {
		return err
	}
	for _, c := range sandboxes {
		if t, err := c.Task(cctx, nil); err == nil {
			node += pss(int(t.Pid()))
		}
	}
	shims := shimPIDs(criNamespace)
	for _, pid := range shims {
		node += pss(pid)
	}
	node += max(rss-idleRSS, 0)
	pr.MiBPerPod = mib(node / int64(n))
	b.log.Info("kubelet: pods at once", zap.Int("pods", n), zap.Int("sandboxes", len(sandboxes)), zap.Int("shims", len(shims)),
		zap.Float64("all running s", pr.AllRunningS), zap.Float64("MiB per pod", pr.MiBPerPod))
	for _, name := range names {
		if err := k.remove(name); err != nil {
			return err
		}
	}
	for _, name := range names {
		if _, _, err := b.tasks.wait(ctx, mark, criContainer(name, "app", false)); err != nil {
			return fmt.Errorf("kubelet pod %s: exit after delete: %w", name, err)
		}
	}
	return nil
}

// kubeletCrashLoop runs the crash pod until its third restart: the first
// restart after the exit, then the 2nd and 3rd (crash-loop back-off).
func (b *bench) kubeletCrashLoop(ctx context.Context, k *kubeletProc, pr *peerResults) error {
	ctx, cancel := context.WithTimeout(ctx, 3*time.Minute)
	defer cancel()
	p := forKubelet(crashPod("kb-crash"))
	mark := b.tasks.mark()
	if _, err := k.write(p); err != nil {
		return err
	}
	from := mark
	var gaps []time.Duration
	for range 3 {
		exit, i, err := b.tasks.wait(ctx, from, criContainer(p.Name, "app", false))
		if err != nil {
			return fmt.Errorf("kubelet crash loop: exit %d: %w", len(gaps)+1, err)
		}
		start, j, err := b.tasks.wait(ctx, i, criContainer(p.Name, "app", true))
		if err != nil {
			return fmt.Errorf("kubelet crash loop: restart %d: %w", len(gaps)+1, err)
		}
		gaps = append(gaps, start.At.Sub(exit.At))
		from = j
	}
	pr.RestartP50 = ms(gaps[0])
	pr.BackoffS = [2]float64{secs(gaps[1]), secs(gaps[2])}
	if err := k.remove(p.Name); err != nil {
		return err
	}
	return sleep(ctx, 2*time.Second)
}
