package agent

import (
	"context"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"go.uber.org/zap"
	v1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/types"

	"github.com/minikubelet/minikubelet/api"
	"github.com/minikubelet/minikubelet/controllers"
	"github.com/minikubelet/minikubelet/events"
	"github.com/minikubelet/minikubelet/internal/kuberules"
	"github.com/minikubelet/minikubelet/internal/nodecap"
	"github.com/minikubelet/minikubelet/internal/sysctl"
	"github.com/minikubelet/minikubelet/kubeapi"
	"github.com/minikubelet/minikubelet/lifecycle"
	"github.com/minikubelet/minikubelet/netns"
	"github.com/minikubelet/minikubelet/podworker"
	"github.com/minikubelet/minikubelet/prober"
	"github.com/minikubelet/minikubelet/runtime"
	"github.com/minikubelet/minikubelet/source"
	"github.com/minikubelet/minikubelet/status"
)

// The API scales, deletes and relabels the controllers' objects only when
// its AppsStore is also a Scaler, an OwnedPodDeleter and an
// OwnedPodUpdater, which it checks at run time: these make a change of
// either side's signature a build error instead of a 405.
var (
	_ kubeapi.Scaler          = (*controllers.Controller)(nil)
	_ kubeapi.OwnedPodDeleter = (*controllers.Controller)(nil)
	_ kubeapi.OwnedPodUpdater = (*controllers.Controller)(nil)
)

// KubeletVersion is the Kubernetes minor whose behaviour the agent follows;
// probes send it in their User-Agent (kube-probe/1.34).
const KubeletVersion = "1.34"

// Complete fills the defaults that depend on other fields or the host.
func (c *Config) Complete() error {
	if c.MaxPods < 1 {
		return fmt.Errorf("maxPods %d: must be at least 1", c.MaxPods)
	}
	if c.NodeName == "" {
		h, err := os.Hostname()
		if err != nil {
			return fmt.Errorf("node name: %w", err)
		}
		c.NodeName = strings.ToLower(h)
	}
	if c.NodeIP == "" {
		c.NodeIP = firstHostIP(c.Bridge)
	}
	if c.Images == "" {
		c.Images = filepath.Join(c.Root, "images")
	}
	if c.PauseBinary == "" {
		c.PauseBinary = findPause()
	}
	// Checked here, before anything starts: without it no pod can run.
	if fi, err := os.Stat(c.PauseBinary); err != nil || !fi.Mode().IsRegular() {
		return fmt.Errorf("pause program %s not found: install it (scripts/install.sh) or point --pause-binary at bin/minikubelet-pause", c.PauseBinary)
	}
	if _, _, err := net.ParseCIDR(c.PodCIDR); err != nil {
		return fmt.Errorf("podCIDR %q: %w", c.PodCIDR, err)
	}
	if c.ServiceCIDR != "" {
		if _, _, err := net.ParseCIDR(c.ServiceCIDR); err != nil {
			return fmt.Errorf("serviceCIDR %q: %w", c.ServiceCIDR, err)
		}
	}
	if m := c.CrashLoopBackOff.MaxContainerRestartPeriod; m != nil && (m.Duration < time.Second || m.Duration > podworker.DefaultBackOffMax) {
		return fmt.Errorf("crashLoopBackOff.maxContainerRestartPeriod %v: must be between 1s and %.0fs", m.Duration, podworker.DefaultBackOffMax.Seconds())
	}
	if _, _, err := c.logRotation(); err != nil {
		return err
	}
	if _, err := sysctl.NewAllowlist(c.AllowedUnsafeSysctls); err != nil {
		return err
	}
	return nil
}

// backOff returns the crash-loop curve the config asks for (KEP-4603).
func (c *Config) backOff() (initial, max time.Duration) {
	initial, max = podworker.DefaultBackOffInitial, podworker.DefaultBackOffMax
	if c.CrashLoopBackOff.ReducedDecay {
		initial, max = time.Second, 60*time.Second
	}
	if m := c.CrashLoopBackOff.MaxContainerRestartPeriod; m != nil {
		max = m.Duration
	}
	return initial, max
}

// firstHostIP returns the first global IPv4 address of an interface that
// is up, other than the pod bridge; "" if there is none.
func firstHostIP(bridge string) string {
	ifaces, err := net.Interfaces()
	if err != nil {
		return ""
	}
	for _, ifc := range ifaces {
		if ifc.Flags&net.FlagUp == 0 || ifc.Flags&net.FlagLoopback != 0 || ifc.Name == bridge {
			continue
		}
		addrs, _ := ifc.Addrs()
		for _, a := range addrs {
			if n, ok := a.(*net.IPNet); ok && n.IP.To4() != nil && n.IP.IsGlobalUnicast() {
				return n.IP.String()
			}
		}
	}
	return ""
}

// findPause looks for the pause program installed beside the agent.
func findPause() string {
	var candidates []string
	if exe, err := os.Executable(); err == nil {
		candidates = append(candidates, filepath.Join(filepath.Dir(exe), "minikubelet-pause"))
	}
	candidates = append(candidates, "/usr/local/lib/minikubelet/pause", "/usr/lib/minikubelet/pause")
	for _, p := range candidates {
		if _, err := os.Stat(p); err == nil {
			return p
		}
	}
	return candidates[0]
}

// Run runs the node agent until ctx ends or one of its parts fails. Pods
// keep running when it returns; the next agent adopts them. Every
// goroutine Run starts has returned by the time Run returns, errors
// included.
//
// Run first takes the exclusive lock on cfg.Root: a second agent with the
// same root fails at once with ErrLocked, before it touches containerd or
// any host state, so it can never adopt, change or remove what the running
// agent owns.
func Run(ctx context.Context, log *zap.Logger, cfg Config, version string) error {
	if err := cfg.Complete(); err != nil {
		return err
	}
	lock, err := lockRoot(cfg.Root)
	if err != nil {
		return err
	}
	defer lock.release()
	for _, d := range []string{cfg.Manifests, cfg.LogDir, cfg.Images} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			return fmt.Errorf("create %s: %w", d, err)
		}
	}

	client, daemon, err := runtime.Connect(ctx, log, cfg.Containerd, cfg.Root)
	if err != nil {
		return fmt.Errorf("containerd: %w", err)
	}
	defer client.Close()
	if daemon != nil {
		defer func() {
			stopCtx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			if err := daemon.Stop(stopCtx); err != nil {
				log.Warn("stop embedded containerd", zap.Error(err))
			}
		}()
	}

	if cfg.ServiceCIDR != "" {
		if err := netns.EnsureUnreachableRoute(cfg.ServiceCIDR); err != nil {
			return fmt.Errorf("service CIDR route: %w", err)
		}
	}
	if err := netns.CheckBridge(cfg.Bridge, cfg.PodCIDR); err != nil {
		return err
	}
	network, err := netns.NewNetwork(log, netns.Config{
		NetworkName: "minikubelet",
		Bridge:      cfg.Bridge,
		Subnet:      cfg.PodCIDR,
		IPMasq:      cfg.IPMasq,
		BinDirs:     filepath.SplitList(cfg.CNIBinDir),
		ConfDir:     filepath.Join(cfg.Root, "cni", "net.d"),
		DataDir:     filepath.Join(cfg.Root, "cni"),
	})
	if err != nil {
		return fmt.Errorf("pod network: %w", err)
	}
	logMaxSize, logMaxFiles, err := cfg.logRotation()
	if err != nil {
		return err
	}
	sysctls, err := sysctl.NewAllowlist(cfg.AllowedUnsafeSysctls)
	if err != nil {
		return err
	}
	// The ConfigMaps and Secrets of the manifests directory, which pods
	// refer to; filled by the source, before the first pods are set.
	configs := source.NewConfigStore()
	rt, err := runtime.New(ctx, log, client, runtime.Config{
		Namespace:     cfg.Namespace,
		Root:          cfg.Root,
		LogDir:        cfg.LogDir,
		Network:       network,
		NetNSDir:      filepath.Join(cfg.Root, "netns"),
		ClusterDNS:    cfg.ClusterDNS,
		ClusterDomain: cfg.ClusterDomain,
		ResolvConf:    cfg.ResolvConf,
		NodeName:      cfg.NodeName,
		NodeIP:        cfg.NodeIP,
		Offline:       cfg.Offline,
		CgroupRoot:    cfg.cgroupRoot(),
		Objects:       configs,

		ContainerLogMaxSize:  logMaxSize,
		ContainerLogMaxFiles: logMaxFiles,
	})
	if err != nil {
		return err
	}
	defer rt.Close()
	if err := rt.EnsurePauseImage(ctx, cfg.PauseBinary); err != nil {
		return fmt.Errorf("pause image from %s: %w", cfg.PauseBinary, err)
	}
	// A bad tarball is logged and skipped; only an unreadable directory fails.
	if err := rt.ImportImages(ctx, cfg.Images); err != nil {
		return fmt.Errorf("import images from %s: %w", cfg.Images, err)
	}

	store := status.NewStore()
	// 5000 events hold about 6.5 MiB of live heap when full (the hour-long
	// soak in RELIABILITY.md); below an hour's worth only on a busy node.
	rec := events.NewStore(log.Named("events"), cfg.NodeName, 5000)
	// The events of the previous run, as the API server would still have
	// them; a broken file loses them, nothing else.
	eventsFile := filepath.Join(cfg.Root, "events.json")
	if err := rec.Load(eventsFile); err != nil {
		log.Warn("events of the previous run not restored", zap.Error(err))
	}
	recordNodeStart(rec, cfg.NodeName)
	svcs, err := startServices(ctx, log, cfg, store, rec)
	if err != nil {
		return fmt.Errorf("services: %w", err)
	}
	defer svcs.Close()
	var workers *podworker.Manager
	metrics := kubeapi.NewMetrics()
	var synced atomic.Bool // the manifest source has done its first read
	probes := prober.NewManager(prober.Options{
		Observe: func(t prober.ProbeType, pod *v1.Pod, container, result string) {
			metrics.ObserveProbe(t.String(), result, pod, container)
		},
		Log:        log.Named("prober"),
		Exec:       rt,
		Status:     store,
		Recorder:   rec,
		Notify:     func(uid types.UID) { workers.ProbeResult(uid) },
		Version:    KubeletVersion,
		AgentStart: time.Now(),
	})
	defer probes.Stop()
	initial, max := cfg.backOff()
	// A memory release follows each burst of pod work and each pod resync
	// (releaseAfter).
	activity := make(chan struct{}, 1)
	signalActivity := func() {
		select {
		case activity <- struct{}{}:
		default: // already signalled
		}
	}
	workers = podworker.New(log.Named("pods"), podworker.Config{
		LogDir:         cfg.LogDir,
		NodeIP:         cfg.NodeIP,
		BackOffInitial: initial,
		BackOffMax:     max,
		Resync:         cfg.ResyncPeriod,
		Activity:       signalActivity,
		Offline:        cfg.Offline,
		Sysctls:        sysctls,
		Allocatable:    nodecap.Allocatable(nodecap.Capacity(cfg.Root, cfg.MaxPods)),
		Hooks:          lifecycle.NewRunner(rt, rec, KubeletVersion),
		Routes:         svcs,
		Services:       svcs.Source(),
	}, rt, store, rec, proberAdapter{probes})

	// From here on every part runs in its own goroutine of one group: the
	// first part to fail (or to stop while the agent should run) cancels
	// the group's context, which stops all the others, and Run returns
	// only once every part has returned. The deferred closers above then
	// run in reverse order, after nothing uses what they close.
	parts := newParts(ctx)
	// Adoption lists containerd before any worker starts; the workers live
	// until the group's context ends.
	if err := workers.Start(parts.ctx); err != nil {
		return parts.abort(fmt.Errorf("adopt running pods: %w", err))
	}
	parts.run("events file", func(ctx context.Context) error {
		rec.Persist(ctx, eventsFile, eventsSaveInterval)
		return nil
	})
	parts.run("pod workers", func(ctx context.Context) error {
		<-ctx.Done()
		workers.Wait()
		return nil
	})

	ctrl, err := controllers.New(log.Named("controllers"), controllers.Config{
		StateDir:  filepath.Join(cfg.Root, "controllers"),
		NodeName:  cfg.NodeName,
		Manifests: cfg.Manifests,
	}, store, rec)
	if err != nil {
		return parts.abort(err)
	}
	parts.run("controllers", ctrl.Run)

	var runtimeVersion string
	if v, err := client.Version(ctx); err == nil {
		runtimeVersion = kuberules.RuntimeVersion(v.Version)
	}
	warnings := &manifestWarnings{}
	srv := api.NewServer(log.Named("api"), api.Deps{
		Pods:        store,
		Events:      rec,
		Exec:        rt,
		Attach:      rt,
		Warnings:    warnings,
		Services:    svcs.Source(),
		Controllers: ctrl,
		Terminator:  workers,
		ManifestDir: cfg.Manifests,
		NodeName:    cfg.NodeName,
		LogDir:      cfg.LogDir,
		Version:     api.VersionInfo{Version: version},
		Kubeconfig:  func() ([]byte, error) { return readKubeconfig(cfg) },
	})
	// The Kubernetes API's credentials exist, and its port is bound, before
	// the socket answers: once the agent is up, `minikubelet kubeconfig`
	// and kubectl work.
	kapi, err := newKubeAPI(log.Named("kubeapi"), cfg, version, runtimeVersion, store, svcs.Source(), configs, rec, srv.Handler(), rt, ctrl, workers,
		kubeOps{metrics: metrics, health: healthChecks(client, &synced)})
	if err == nil && kapi != nil {
		err = kapi.Listen()
	}
	if err != nil {
		return parts.abort(fmt.Errorf("kubernetes API: %w", err))
	}
	parts.run("API server", func(ctx context.Context) error { return srv.Serve(ctx, cfg.Socket) })
	if kapi != nil {
		parts.run("Kubernetes API", kapi.Run)
	}

	updates := make(chan source.Update)
	src := source.New(log.Named("source"), source.Config{Dir: cfg.Manifests, NodeName: cfg.NodeName, Rescan: cfg.ManifestRescan})
	parts.run("manifest source", func(ctx context.Context) error { return src.Run(ctx, updates) })
	parts.run("desired state", func(ctx context.Context) error {
		first := true
		// The pods the agent runs are the static pods of the manifests
		// plus the pods the controllers made; the first set waits for the
		// manifests, or the workers would take static pods for orphans.
		var static []*v1.Pod
		for {
			select {
			case <-ctx.Done():
				return nil
			case pods := <-ctrl.PodUpdates():
				if !first {
					workers.SetPods(append(append([]*v1.Pod(nil), static...), pods...))
				}
			case u := <-updates:
				warnings.set(rec, u)
				// Before the pods: a new pod finds what it refers to, and
				// the running ones see the change at once (env of the next
				// start, volume contents), as after a kubelet's sync.
				if configs.Set(u.ConfigMaps, u.Secrets) {
					workers.ConfigsChanged()
				}
				static = u.Pods
				workers.SetPods(append(append([]*v1.Pod(nil), static...), ctrl.Pods()...))
				svcs.Set(u.Services)
				ctrl.SetDeployments(u.Deployments, u.DeploymentFiles, u.Errors)
				if first {
					first = false
					synced.Store(true)
					notifyReady(log)
					recordNodeStatus(rec, cfg.NodeName, "NodeReady")
					// Start-up is a burst of work too (package
					// initialisation, the image import, the adoption of
					// running pods): its memory goes once it is over.
					signalActivity()
				}
			}
		}
	})

	parts.run("memory release", func(ctx context.Context) error {
		releaseAfter(ctx, activity, memoryReleaseDelay, memoryReleaseMaxWait, synced.Load, periodicRelease(log))
		return nil
	})

	log.Info("agent running", zap.String("node", cfg.NodeName), zap.String("manifests", cfg.Manifests),
		zap.String("socket", cfg.Socket), zap.String("containerd", client.Conn().Target()))
	return parts.wait()
}

// eventsSaveInterval bounds how often the events file is written while
// events come (and so how many a crash of the agent can lose).
const eventsSaveInterval = time.Second

// recordNodeStart records on the Node what a kubelet records there as it
// starts: its start, the pods' cgroup set up (the container manager's
// allocatable enforcement; allocatable is the capacity here), and the
// first status of each pressure condition, which the agent does not
// measure and reports as none. NodeReady follows at the first sync.
func recordNodeStart(rec events.Recorder, node string) {
	ref := events.NodeRef(node)
	rec.Event(ref, v1.EventTypeNormal, "Starting", "Starting kubelet.")
	rec.Event(ref, v1.EventTypeNormal, "NodeAllocatableEnforced", "Updated Node Allocatable limit across pods")
	for _, status := range []string{"NodeHasSufficientMemory", "NodeHasNoDiskPressure", "NodeHasSufficientPID"} {
		recordNodeStatus(rec, node, status)
	}
}

// recordNodeStatus records a change of the node's status, as the kubelet's
// node status setters do.
func recordNodeStatus(rec events.Recorder, node, status string) {
	events.Eventf(rec, events.NodeRef(node), v1.EventTypeNormal, status, "Node %s status is now: %s", node, status)
}

// manifestWarnings holds the current manifest problems for the API and
// records each new one once as a Warning event; what was accepted with a
// warning is listed too, without an event (nothing failed).
type manifestWarnings struct {
	mu   sync.Mutex
	list []string
	seen map[string]bool
}

func (w *manifestWarnings) set(rec events.Recorder, u source.Update) {
	w.mu.Lock()
	defer w.mu.Unlock()
	seen := map[string]bool{}
	w.list = w.list[:0]
	for _, e := range u.Errors {
		msg := e.Error()
		w.list = append(w.list, msg)
		seen[msg] = true
		if w.seen[msg] {
			continue
		}
		ref := &v1.ObjectReference{Kind: "Pod", APIVersion: "v1", Namespace: "default", Name: filepath.Base(e.File)}
		if ns, name, ok := strings.Cut(e.Pod, "/"); ok {
			ref.Namespace, ref.Name = ns, name
		}
		rec.Event(ref, v1.EventTypeWarning, "FailedValidation", msg)
	}
	for _, e := range u.Warnings {
		w.list = append(w.list, e.Error())
	}
	w.seen = seen
}

// Warnings implements api.Warner.
func (w *manifestWarnings) Warnings() []string {
	w.mu.Lock()
	defer w.mu.Unlock()
	return append([]string(nil), w.list...)
}

// notifyReady tells systemd (Type=notify) that the first full sync is done.
func notifyReady(log *zap.Logger) {
	addr := os.Getenv("NOTIFY_SOCKET")
	if addr == "" {
		return
	}
	conn, err := net.DialUnix("unixgram", nil, &net.UnixAddr{Name: addr, Net: "unixgram"})
	if err != nil {
		log.Warn("sd_notify", zap.Error(err))
		return
	}
	defer conn.Close()
	if _, err := conn.Write([]byte("READY=1")); err != nil {
		log.Warn("sd_notify", zap.Error(err))
	}
}

// proberAdapter turns the prober's committed results into the pod
// worker's kill verdicts.
type proberAdapter struct{ *prober.Manager }

func (p proberAdapter) Failed(containerID string) string {
	id := kuberules.StatusContainerID(containerID)
	if r, ok := p.Liveness(id); ok && r == prober.Failure {
		return "liveness"
	}
	if r, ok := p.Startup(id); ok && r == prober.Failure {
		return "startup"
	}
	return ""
}

func (p proberAdapter) Started(c *v1.Container, containerID string) bool {
	if c.StartupProbe == nil {
		return true
	}
	r, ok := p.Startup(kuberules.StatusContainerID(containerID))
	return ok && r == prober.Success
}
