package runtime

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"path"
	"path/filepath"
	goruntime "runtime"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/containerd/containerd"
	"github.com/containerd/containerd/api/types/runc/options"
	"github.com/containerd/containerd/errdefs"
	"github.com/containerd/containerd/namespaces"
	"github.com/containerd/containerd/pkg/cap"
	"go.uber.org/zap"
	v1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/types"

	"github.com/minikubelet/minikubelet/internal/nodecap"
	"github.com/minikubelet/minikubelet/logs"
	"github.com/minikubelet/minikubelet/netns"
	pauseimage "github.com/minikubelet/minikubelet/pause/image"
)

// Config is what the runtime needs to know about the node.
type Config struct {
	// Namespace is the containerd namespace every object lives in.
	Namespace string
	// Root holds pod state (<Root>/pods/<uid>) and the containers' stdio
	// FIFOs (<Root>/fifo).
	Root string
	// LogDir holds the CRI log files (<LogDir>/<ns>_<name>_<uid>/…).
	LogDir string
	// Network runs CNI for sandboxes. Required for RunSandbox/StopSandbox.
	Network *netns.Network
	// NetNSDir is where sandbox network namespaces are bind-mounted
	// (default /run/minikubelet/netns: they do not outlive a reboot).
	NetNSDir string
	// RuncRoot is runc's state dir (default /run/minikubelet/runc), kept
	// apart from the host's /run/containerd/runc.
	RuncRoot string
	// PauseImage is the sandbox image (default the agent's own pause image).
	PauseImage string
	// ClusterDNS and ClusterDomain feed pods' resolv.conf; ResolvConf is
	// the node's resolver file (the kubelet's resolvConf), whose
	// nameservers, search domains and options pods with dnsPolicy Default
	// (or ClusterFirst on the host network) get. "" gives them none.
	ClusterDNS    []string
	ClusterDomain string
	ResolvConf    string
	// NodeName is spec.nodeName and NodeIP status.hostIP for the downward
	// API (env valueFrom.fieldRef).
	NodeName string
	NodeIP   string
	// ContainerLogMaxSize is the size at which a container's log file is
	// rotated (<= 0: never) and ContainerLogMaxFiles how many files its log
	// keeps, the live one included (the kubelet's containerLogMaxSize and
	// containerLogMaxFiles).
	ContainerLogMaxSize  int64
	ContainerLogMaxFiles int
	// Snapshotter unpacks images and makes rootfs (default overlayfs).
	Snapshotter string
	// NetworkTimeout bounds a sandbox's CNI ADD, so that a plugin that
	// hangs fails the sandbox with a clear error and is retried (default 2
	// minutes, the kubelet's runtime request timeout).
	NetworkTimeout time.Duration
	// Objects resolves the pods' references to ConfigMaps and Secrets
	// (env, envFrom, volumes); nil finds none.
	Objects ConfigObjects
	// Offline refuses pulls from any registry not on loopback: on a node
	// without network access (or in tests) no lookup ever leaves the machine.
	Offline bool
	// CgroupRoot is the cgroup the pod cgroups are made under, the
	// kubelet's --cgroup-root (default DefaultCgroupRoot(Namespace)).
	CgroupRoot string
}

// runcRuntime is the containerd runtime (shim) used for every task.
const runcRuntime = "io.containerd.runc.v2"

// cleanupTimeout bounds the deferred cleanups that run on a fresh context
// after a failure, when the caller's context may be what failed.
const cleanupTimeout = time.Minute

// Containerd runs pods on containerd. It keeps no state of its own beyond
// what it can rebuild from containerd labels and files under Root, so a new
// Containerd over the same client and Root picks up where an old one left
// off (see New). Safe for concurrent use.
type Containerd struct {
	log    *zap.Logger
	client *containerd.Client
	cfg    Config

	ownOOMScoreAdj int   // floor for every process we start
	nodeMemory     int64 // bytes, for the QoS oom_score_adj and resourceFieldRef
	nodeCPUs       int
	allCaps        []string
	volumes        volumeHost

	// ctx bounds background work (log copiers, the exit monitor); Close
	// cancels it.
	ctx    context.Context
	cancel context.CancelFunc
	wg     sync.WaitGroup

	mu      sync.Mutex
	copiers map[string]*logCopier // by container ID
	// quiet waits for the quiet output streams of every container.
	quiet *logs.Quiet

	// taskLocks serializes finalizing and deleting each container's task.
	taskLocks keyedMutex
	// exits is the one owner of container exits (see events.go).
	exits *exitMonitor
	// imports remembers the image archives that failed to import.
	imports importLedger
	// importRecordMu serializes the updates of the import record
	// (importrecord.go).
	importRecordMu sync.Mutex
	// cgroups holds the pod cgroups (podcgroup.go).
	cgroups cgroups
	// burstable sums the CPU requests of Burstable pods (podcgroup.go).
	burstable burstableShares
	// metas caches what images' content says, by digest (imagemeta.go).
	metas imageMetas
	// pods knows each pod's container IDs (podindex.go).
	pods podIndex
	// users caches what images' /etc/passwd and /etc/group say (usercache.go).
	users userCache

	// startup is the pods New read from its own listing, until
	// StartupPods takes them; nil also when building them failed.
	startupMu sync.Mutex
	startup   *[]PodState
}

// New prepares a runtime over client: it creates the namespace if needed
// and re-attaches the log FIFOs of containers that are still there from an
// earlier agent, so their output keeps reaching the log files.
func New(ctx context.Context, log *zap.Logger, client *containerd.Client, cfg Config) (*Containerd, error) {
	if cfg.Namespace == "" || cfg.Root == "" || cfg.LogDir == "" {
		return nil, errors.New("runtime: Namespace, Root and LogDir are required")
	}
	if cfg.Snapshotter == "" {
		cfg.Snapshotter = containerd.DefaultSnapshotter
	}
	if cfg.PauseImage == "" {
		cfg.PauseImage = pauseimage.Ref
	}
	if cfg.NetNSDir == "" {
		cfg.NetNSDir = "/run/minikubelet/netns"
	}
	if cfg.RuncRoot == "" {
		cfg.RuncRoot = DefaultRuncRoot
	}
	if cfg.ClusterDomain == "" {
		cfg.ClusterDomain = defaultClusterDomain
	}
	if cfg.CgroupRoot == "" {
		cfg.CgroupRoot = DefaultCgroupRoot(cfg.Namespace)
	}
	if !path.IsAbs(cfg.CgroupRoot) || path.Clean(cfg.CgroupRoot) == "/" {
		// Removing stale pod cgroups walks this tree: never the whole host's.
		return nil, fmt.Errorf("runtime: cgroup root %q: must be an absolute path below /", cfg.CgroupRoot)
	}
	cfg.CgroupRoot = path.Clean(cfg.CgroupRoot)
	if cfg.NetworkTimeout <= 0 {
		cfg.NetworkTimeout = 2 * time.Minute
	}
	for _, dir := range []string{cfg.Root, filepath.Join(cfg.Root, "pods"), filepath.Join(cfg.Root, "fifo"), cfg.LogDir} {
		if err := os.MkdirAll(dir, 0o755); err != nil {
			return nil, fmt.Errorf("runtime: %w", err)
		}
	}
	// Mount points are compared with the paths under Root: use the real one.
	root, err := filepath.EvalSymlinks(cfg.Root)
	if err != nil {
		return nil, fmt.Errorf("runtime: %w", err)
	}
	if cfg.Root, err = filepath.Abs(root); err != nil {
		return nil, fmt.Errorf("runtime: %w", err)
	}
	c := &Containerd{
		log:     log,
		client:  client,
		cfg:     cfg,
		copiers: map[string]*logCopier{},
		exits:   newExitMonitor(),
		cgroups: hostCgroups(),
	}
	if c.ownOOMScoreAdj, err = ownOOMScoreAdj(); err != nil {
		return nil, err
	}
	c.nodeMemory = nodecap.MemTotal()
	c.nodeCPUs = numCPU()
	if c.allCaps, err = cap.Current(); err != nil {
		c.allCaps = cap.Known()
	}
	c.volumes = volumeHost{mountTmpfs: mountTmpfs}
	if err := client.NamespaceService().Create(c.ns(ctx), cfg.Namespace, nil); err != nil && !errdefs.IsAlreadyExists(err) {
		return nil, fmt.Errorf("create containerd namespace %q: %w", cfg.Namespace, err)
	}
	c.ctx, c.cancel = context.WithCancel(context.WithoutCancel(ctx))
	if c.quiet, err = logs.NewQuiet(c.ctx); err != nil {
		c.cancel()
		return nil, fmt.Errorf("runtime: %w", err)
	}
	// What an earlier agent left is listed once, containers then tasks,
	// for the steps below: with a hundred pods, asking for each container's
	// task alone took most of a second of the agent's start.
	nsCtx := c.ns(ctx)
	recs, err := c.client.ContainerService().List(nsCtx, ourContainers())
	if err != nil {
		c.Close()
		return nil, fmt.Errorf("adopt containers: %w", err)
	}
	tasks, err := c.listTasks(nsCtx)
	if err != nil {
		c.Close()
		return nil, fmt.Errorf("adopt containers: %w", err)
	}
	c.removeOrphans(nsCtx, recs, tasks)
	c.adopt(nsCtx, recs, tasks)
	c.removeStalePodCgroups(nsCtx, recs)
	// Before the exit monitor finalizes anything: the states are the
	// listing's, as ListPods would have answered then.
	if pods, err := c.podsOf(nsCtx, recs, tasks); err == nil {
		c.startup = &pods
	}
	c.wg.Add(1)
	go c.runExitMonitor()
	return c, nil
}

// Close stops the background work of this Containerd: log copiers detach
// from the containers' FIFOs (the shims buffer what the containers write
// until a new Containerd attaches again) and the exit monitor ends (exits
// while no Containerd runs are finalized by the next one). Containers
// keep running. Safe to call twice.
func (c *Containerd) Close() error {
	c.cancel()
	c.wg.Wait()
	RemoveRuncState(c.cfg.RuncRoot, c.cfg.Namespace)
	return nil
}

// DefaultRuncRoot is runc's state dir when Config.RuncRoot is not set.
const DefaultRuncRoot = "/run/minikubelet/runc"

// RemoveRuncState removes runc's state dir of a containerd namespace
// (<runcRoot>/<namespace>) if it is empty: the shim creates it and never
// removes it. A dir that still holds a container's state stays.
func RemoveRuncState(runcRoot, namespace string) {
	if runcRoot == "" || namespace == "" {
		return
	}
	_ = os.Remove(filepath.Join(runcRoot, namespace)) // rmdir: only when empty
}

// Client is the containerd client this runtime uses.
func (c *Containerd) Client() *containerd.Client { return c.client }

// Namespace is the containerd namespace this runtime uses.
func (c *Containerd) Namespace() string { return c.cfg.Namespace }

// ns scopes ctx to our containerd namespace.
func (c *Containerd) ns(ctx context.Context) context.Context {
	return namespaces.WithNamespace(ctx, c.cfg.Namespace)
}

// cleanupContext is a fresh, namespaced context for deferred cleanups.
func (c *Containerd) cleanupContext(ctx context.Context) (context.Context, context.CancelFunc) {
	return context.WithTimeout(c.ns(context.WithoutCancel(ctx)), cleanupTimeout)
}

// deleteTask deletes task even when ctx ends meanwhile. containerd gives
// up a deletion whose caller went away once the shim has deleted the task
// but before it asks the shim to exit, and the shim then outlives every
// task, and containerd too (seen with containerd 1.6.20 when a pod's
// deletion cancelled the stop of its sandbox). A deletion once asked for is
// carried to its end, bounded by cleanupTimeout.
func (c *Containerd) deleteTask(ctx context.Context, task containerd.Task, opts ...containerd.ProcessDeleteOpts) error {
	dctx, cancel := c.cleanupContext(ctx)
	defer cancel()
	_, err := task.Delete(dctx, opts...)
	return err
}

func (c *Containerd) podLayout(uid types.UID) podLayout {
	return podLayout{dir: filepath.Join(c.cfg.Root, "pods", string(uid))}
}

func (c *Containerd) fifoDir(containerID string) string {
	return filepath.Join(c.cfg.Root, "fifo", containerID)
}

// runcOptions keeps runc's state in RuncRoot rather than in the host-wide
// /run/containerd/runc. The shim reads them at task creation (task
// options) and when it cleans up after a dead shim (container options).
func (c *Containerd) runcOptions() *options.Options {
	return &options.Options{Root: c.cfg.RuncRoot}
}

func (c *Containerd) withRuncOptions(_ context.Context, _ *containerd.Client, ti *containerd.TaskInfo) error {
	ti.Options = c.runcOptions()
	return nil
}

// cgroupsPath is a container's cgroup: inside its pod's (podcgroup.go).
func (c *Containerd) cgroupsPath(pod *v1.Pod, id string) string {
	return path.Join(podCgroupPath(c.cfg.CgroupRoot, pod), id)
}

// newID returns a random 64-hex container or sandbox ID.
func newID() string {
	b := make([]byte, 32)
	if _, err := rand.Read(b); err != nil {
		panic(err) // crypto/rand never fails on Linux
	}
	return hex.EncodeToString(b)
}

func shortID(n int) string {
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		panic(err)
	}
	return hex.EncodeToString(b)
}

// ownOOMScoreAdj reads this process's oom_score_adj: no process we start may
// ask for less (see withOOMScoreAdj).
func ownOOMScoreAdj() (int, error) {
	b, err := os.ReadFile("/proc/self/oom_score_adj")
	if err != nil {
		return 0, fmt.Errorf("read own oom_score_adj: %w", err)
	}
	v, err := strconv.Atoi(strings.TrimSpace(string(b)))
	if err != nil {
		return 0, fmt.Errorf("read own oom_score_adj: %w", err)
	}
	return v, nil
}

func numCPU() int { return goruntime.NumCPU() }
