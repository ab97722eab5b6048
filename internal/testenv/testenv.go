// Package testenv gives integration tests an isolated world on a real
// containerd: one private containerd per test binary (started on first use
// under a temp root, stopped by Main), and per test its own containerd
// namespace, state and log dirs, bridge, subnet and runtime, all removed when
// the test ends, even when it fails.
//
// Use it from TestMain:
//
//	func TestMain(m *testing.M) { testenv.Main(m) }
//
// and in a test:
//
//	env := testenv.New(t) // skips when not root
//	pod := env.Pod(t, `...yaml...`)
package testenv

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/containerd/containerd"
	"github.com/containerd/containerd/errdefs"
	"github.com/containerd/containerd/namespaces"
	"go.uber.org/zap"
	"go.uber.org/zap/zaptest"
	v1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/yaml"

	"github.com/minikubelet/minikubelet/imagebuild"
	imgs "github.com/minikubelet/minikubelet/images"
	"github.com/minikubelet/minikubelet/internal/gobuild"
	"github.com/minikubelet/minikubelet/internal/testnet"
	"github.com/minikubelet/minikubelet/netns"
	pauseimage "github.com/minikubelet/minikubelet/pause/image"
	"github.com/minikubelet/minikubelet/runtime"
)

// BusyboxRef is the busybox image every Env has (built from the host's
// static busybox; docker.io/library/busybox:1.36 is there too).
const BusyboxRef = "docker.io/library/busybox:latest"

// busyboxBinary is the static busybox the test image is built from.
const busyboxBinary = imgs.BusyboxPath

// cniBinDirs is where the CNI plugins are looked for.
var cniBinDirs = []string{"/opt/cni/bin", "/usr/lib/cni"}

// Env is one test's isolated world.
type Env struct {
	// Root is the runtime's state dir (a t.TempDir), LogDir the pod log dir.
	Root, LogDir string
	// Namespace is the test's containerd namespace, "mkt-<random>".
	Namespace string
	// Bridge and Subnet are the test's pod network.
	Bridge, Subnet string
	// Address is the shared containerd's socket, for an agent under test.
	Address string
	// Client is the shared containerd's client; scope contexts with Ctx.
	Client  *containerd.Client
	Runtime *runtime.Containerd
	Network *netns.Network
	// PauseBinary is the built pause program; BusyboxRef an imported image.
	PauseBinary, BusyboxRef string
	Log                     *zap.Logger
}

// shared is the containerd of this test binary. It is package state on
// purpose: one daemon serves all tests of a binary and Main stops it.
var shared struct {
	once sync.Once
	err  error

	root        string
	client      *containerd.Client
	daemon      *runtime.Daemon
	pauseBinary string
	archive     []byte // OCI archive with the pause and busybox images
}

// Main runs the tests and then stops the shared containerd.
func Main(m *testing.M) {
	code := m.Run()
	stopShared()
	os.Exit(code)
}

func stopShared() {
	if shared.client != nil {
		shared.client.Close()
	}
	if shared.daemon != nil {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		if err := shared.daemon.Stop(ctx); err != nil {
			fmt.Fprintln(os.Stderr, "testenv:", err)
		}
		// The daemon's state dir (under /run) holds nothing once stopped.
		_ = os.RemoveAll(filepath.Dir(filepath.Dir(shared.daemon.Address())))
	}
	if shared.root != "" {
		_ = runtime.UnmountUnder(shared.root)
		_ = os.RemoveAll(shared.root)
	}
}

// startShared starts the binary's containerd and builds the test images.
func startShared() error {
	shared.once.Do(func() {
		shared.err = func() error {
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
			defer cancel()
			root, err := os.MkdirTemp("", "mkt-ctd-")
			if err != nil {
				return err
			}
			shared.root = root
			// Nothing answers at this address, so Connect starts an
			// embedded containerd: the same path the agent takes.
			client, daemon, err := runtime.Connect(ctx, zap.NewNop(), filepath.Join(root, "no-containerd.sock"), root)
			if err != nil {
				return err
			}
			shared.client, shared.daemon = client, daemon
			shared.pauseBinary = filepath.Join(root, "pause")
			if err := gobuild.Pause(ctx, shared.pauseBinary); err != nil {
				return err
			}
			bin, err := os.ReadFile(shared.pauseBinary)
			if err != nil {
				return err
			}
			busybox, err := imgs.Busybox(busyboxBinary)
			if err != nil {
				return err
			}
			var buf bytes.Buffer
			if err := imagebuild.WriteOCIArchive(&buf, pauseimage.Build(bin), busybox); err != nil {
				return err
			}
			shared.archive = buf.Bytes()
			return nil
		}()
	})
	return shared.err
}

// New returns a fresh Env; the test is skipped when not root. Everything
// the Env and the test create in it is removed when the test ends.
func New(t *testing.T) *Env {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("integration test: needs root")
	}
	if err := startShared(); err != nil {
		t.Fatalf("testenv: start containerd: %v", err)
	}
	log := zaptest.NewLogger(t)
	id := randHex(4)
	root := t.TempDir()
	e := &Env{
		Address:     shared.daemon.Address(),
		Root:        root,
		LogDir:      filepath.Join(root, "logs"),
		Namespace:   "mkt-" + id,
		Bridge:      "mkt" + id[:5],
		Client:      shared.client,
		PauseBinary: shared.pauseBinary,
		BusyboxRef:  BusyboxRef,
		Log:         log,
	}
	subnet, err := testnet.FreeSubnet("10.200.0.0/13")
	if err != nil {
		t.Fatalf("testenv: %v", err)
	}
	e.Subnet = subnet
	recordOwner(t, e.Namespace)
	t.Cleanup(func() { e.cleanup(t) })

	e.Network, err = netns.NewNetwork(log.Named("cni"), netns.Config{
		NetworkName: e.Namespace,
		Bridge:      e.Bridge,
		Subnet:      e.Subnet,
		BinDirs:     cniBinDirs,
		ConfDir:     filepath.Join(root, "cni", "conf"),
		DataDir:     filepath.Join(root, "cni", "data"),
	})
	if err != nil {
		t.Fatalf("testenv: %v", err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	e.Runtime, err = runtime.New(ctx, log.Named("runtime"), e.Client, e.RuntimeConfig())
	if err != nil {
		t.Fatalf("testenv: %v", err)
	}
	if _, err := e.Runtime.ImportArchive(ctx, bytes.NewReader(shared.archive)); err != nil {
		t.Fatalf("testenv: import test images: %v", err)
	}
	return e
}

// RuntimeConfig is the configuration of e.Runtime, for tests that make a
// second runtime over the same state (an agent restart).
func (e *Env) RuntimeConfig() runtime.Config {
	return runtime.Config{
		Namespace: e.Namespace,
		Root:      e.Root,
		LogDir:    e.LogDir,
		Network:   e.Network,
		NetNSDir:  filepath.Join(e.Root, "netns"),
		RuncRoot:  filepath.Join(e.Root, "runc"),
		NodeName:  "testnode",
	}
}

// Ctx scopes ctx to the test's containerd namespace.
func (e *Env) Ctx(ctx context.Context) context.Context {
	return namespaces.WithNamespace(ctx, e.Namespace)
}

// Pod decodes a pod manifest and gives it what the source would: a UID, the
// default namespace, and the API defaults the runtime relies on.
func (e *Env) Pod(t *testing.T, manifest string) *v1.Pod {
	t.Helper()
	var pod v1.Pod
	if err := yaml.UnmarshalStrict([]byte(manifest), &pod); err != nil {
		t.Fatalf("testenv: decode pod: %v", err)
	}
	setPodDefaults(&pod)
	return &pod
}

// setPodDefaults gives pod a UID, the default namespace and the API
// defaults the runtime relies on.
func setPodDefaults(pod *v1.Pod) {
	if pod.Namespace == "" {
		pod.Namespace = "default"
	}
	if pod.UID == "" {
		pod.UID = types.UID(uuid())
	}
	if pod.Spec.RestartPolicy == "" {
		pod.Spec.RestartPolicy = v1.RestartPolicyAlways
	}
	if pod.Spec.DNSPolicy == "" {
		pod.Spec.DNSPolicy = v1.DNSClusterFirst
	}
	if pod.Spec.TerminationGracePeriodSeconds == nil {
		g := int64(v1.DefaultTerminationGracePeriodSeconds)
		pod.Spec.TerminationGracePeriodSeconds = &g
	}
	for _, list := range [][]v1.Container{pod.Spec.InitContainers, pod.Spec.Containers} {
		for i := range list {
			c := &list[i]
			if c.TerminationMessagePath == "" {
				c.TerminationMessagePath = v1.TerminationMessagePathDefault
			}
			if c.TerminationMessagePolicy == "" {
				c.TerminationMessagePolicy = v1.TerminationMessageReadFile
			}
			if c.ImagePullPolicy == "" {
				c.ImagePullPolicy = v1.PullIfNotPresent
			}
			for j := range c.Ports {
				if c.Ports[j].Protocol == "" {
					c.Ports[j].Protocol = v1.ProtocolTCP
				}
			}
		}
	}
}

// cleanup removes everything in the test's namespace and on the host that
// belongs to the Env. It logs what it had to clean up.
func (e *Env) cleanup(t *testing.T) {
	ctx, cancel := context.WithTimeout(e.Ctx(context.Background()), 2*time.Minute)
	defer cancel()
	var errs []error
	note := func(format string, args ...any) { t.Logf("testenv cleanup: "+format, args...) }

	if e.Runtime != nil {
		// Sandboxes first (their network), through the runtime itself.
		pods, err := e.Runtime.ListPods(ctx)
		if err != nil {
			errs = append(errs, err)
		}
		for _, p := range pods {
			for _, c := range p.Containers {
				note("container %s (%s) of pod %s/%s left behind", c.ID, c.Name, p.Namespace, p.Name)
			}
			for _, sb := range p.Sandboxes {
				note("sandbox %s of pod %s/%s left behind", sb.ID, p.Namespace, p.Name)
			}
			errs = append(errs, e.removePod(ctx, p))
		}
		errs = append(errs, e.Runtime.Close())
	}
	errs = append(errs, runtime.PurgeNamespace(ctx, shared.client, e.Namespace, func(kind, id string) {
		note("containerd %s %s left behind", kind, id)
	}))
	// Every task is gone, so every shim of the namespace must exit; one
	// that does not serves nothing containerd knows, and would outlive
	// the test binary and containerd too.
	errs = append(errs, e.stopShims(ctx, note))
	// Host leftovers.
	if paths, _ := filepath.Glob(filepath.Join(e.Root, "netns", "*")); len(paths) > 0 {
		for _, p := range paths {
			note("netns %s left behind", p)
			errs = append(errs, netns.Load(p).Remove())
		}
	}
	if err := runtime.UnmountUnder(e.Root); err != nil {
		errs = append(errs, err)
	}
	if e.Network != nil {
		errs = append(errs, e.Network.RemoveBridge())
	}
	errs = append(errs, runtime.RemoveCgroups(runtime.DefaultCgroupRoot(e.Namespace)))
	// An agent under test keeps runc's state in the default dir.
	runtime.RemoveRuncState(runtime.DefaultRuncRoot, e.Namespace)
	if err := errors.Join(errs...); err != nil {
		t.Errorf("testenv cleanup: %v", err)
	}
}

// ownersEnv names a file where New records which test owns each
// namespace, one "namespace<TAB>test" line each, so that what a test left
// running (a shim names its namespace) can be traced to it (scripts/test).
const ownersEnv = "MINIKUBELET_TEST_OWNERS"

// recordOwner appends namespace's owner to the ownersEnv file, if any.
func recordOwner(t *testing.T, namespace string) {
	path := os.Getenv(ownersEnv)
	if path == "" {
		return
	}
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o644)
	if err == nil {
		// One write of a short line: O_APPEND keeps the lines of tests
		// and test binaries running at once whole.
		_, err = fmt.Fprintf(f, "%s\t%s\n", namespace, t.Name())
		err = errors.Join(err, f.Close())
	}
	if err != nil {
		t.Fatalf("testenv: record the namespace's owner in %s: %v", path, err)
	}
}

func randHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

// uuid returns a random RFC 4122 version 4 UUID, as pod UIDs are.
func uuid() string {
	b := make([]byte, 16)
	_, _ = rand.Read(b)
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	h := hex.EncodeToString(b)
	return strings.Join([]string{h[:8], h[8:12], h[12:16], h[16:20], h[20:]}, "-")
}

func isNotFound(err error) bool { return errdefs.IsNotFound(err) }

// KillContainerd kills the binary's containerd with SIGKILL, as a crash
// would, runs whileDown before its supervisor starts it again, and waits
// until the new one answers. Shims, and so containers, keep running.
func (e *Env) KillContainerd(t *testing.T, whileDown func()) {
	t.Helper()
	pid := shared.daemon.PID()
	if err := syscall.Kill(pid, syscall.SIGKILL); err != nil {
		t.Fatalf("testenv: kill containerd %d: %v", pid, err)
	}
	// The supervisor waits a second before the restart: whileDown runs
	// with no containerd to hear what happens.
	WaitFor(t, "containerd gone", func() (bool, string) {
		return syscall.Kill(pid, 0) != nil, fmt.Sprintf("pid %d still there", pid)
	})
	whileDown()
	WaitFor(t, "containerd back", func() (bool, string) {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		ok, err := e.Client.IsServing(ctx)
		return ok && shared.daemon.PID() != pid, fmt.Sprintf("serving %v, err %v", ok, err)
	})
}
