package runtime

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/containerd/containerd"
	"go.uber.org/zap"

	"github.com/minikubelet/minikubelet/internal/osthread"
)

// probeTimeout bounds one attempt to reach a containerd socket.
const probeTimeout = 2 * time.Second

// Connect returns a client for the containerd at address. When nothing
// answers there it starts a private containerd under root (the embedded
// default) and returns it as a supervised *Daemon; otherwise the Daemon is
// nil. The caller owns both: Close the client, then Stop the daemon.
//
// Task shims outlive containerd: a new daemon started over the same root
// (and so the same state dir) adopts the shims of the previous one, which is
// what keeps containers running across agent restarts.
func Connect(ctx context.Context, log *zap.Logger, address, root string, opts ...EmbeddedOption) (*containerd.Client, *Daemon, error) {
	if address != "" {
		if client, err := dial(ctx, address); err == nil {
			log.Info("using containerd", zap.String("address", address))
			return client, nil, nil
		} else {
			log.Info("no containerd answers, starting an embedded one",
				zap.String("address", address), zap.String("root", root), zap.Error(err))
		}
	}
	cfg, err := newEmbeddedConfig(root)
	if err != nil {
		return nil, nil, err
	}
	for _, o := range opts {
		o(&cfg)
	}
	// A daemon left behind by a previous agent (one that did not get its
	// death signal) still owns the state dir: use it rather than start a
	// second one that would wait forever for its metadata lock.
	if client, err := dial(ctx, cfg.Address); err == nil {
		log.Warn("an embedded containerd from an earlier run still answers; using it unsupervised",
			zap.String("address", cfg.Address))
		return client, nil, nil
	}
	d, err := startDaemon(ctx, log, cfg)
	if err != nil {
		return nil, nil, err
	}
	client, err := dial(ctx, cfg.Address)
	if err != nil {
		stopCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
		defer cancel()
		return nil, nil, errors.Join(fmt.Errorf("connect to embedded containerd: %w", err), d.Stop(stopCtx))
	}
	return client, d, nil
}

// dial connects and checks that a containerd actually answers (a stale
// socket file alone does not count).
func dial(ctx context.Context, address string) (*containerd.Client, error) {
	if _, err := os.Stat(address); err != nil {
		return nil, err
	}
	client, err := containerd.New(address, containerd.WithTimeout(probeTimeout))
	if err != nil {
		return nil, err
	}
	vctx, cancel := context.WithTimeout(ctx, probeTimeout)
	defer cancel()
	if _, err := client.Version(vctx); err != nil {
		client.Close()
		return nil, err
	}
	return client, nil
}

// EmbeddedOption changes how Connect configures an embedded containerd.
type EmbeddedOption func(*embeddedConfig)

// WithCRI enables containerd's CRI plugin in an embedded containerd, with
// pluginTOML as its section's body (sandbox_image, cni, registry, ...).
// The agent never uses it: the benchmark does, to run the upstream
// kubelet on the same daemon.
func WithCRI(pluginTOML string) EmbeddedOption {
	return func(c *embeddedConfig) { c.CRI = pluginTOML }
}

// embeddedConfig is where a private containerd keeps its files.
type embeddedConfig struct {
	CRI        string // the CRI plugin's config; "" disables the plugin
	Dir        string // <root>/containerd: config, log, persistent root
	ConfigPath string
	LogPath    string
	Root       string // containerd's root (images, snapshots, metadata)
	State      string // containerd's state (sockets, shim bundles); short
	Address    string
}

// newEmbeddedConfig lays out the embedded daemon's directories. The state dir
// holds unix sockets, which are limited to 108 bytes, so it lives under /run
// with a short name derived from root: the same root always maps to the same
// state dir, which is what lets a restarted daemon find its shims.
func newEmbeddedConfig(root string) (embeddedConfig, error) {
	abs, err := filepath.Abs(root)
	if err != nil {
		return embeddedConfig{}, fmt.Errorf("embedded containerd root %q: %w", root, err)
	}
	sum := sha256.Sum256([]byte(abs))
	state := filepath.Join("/run", "minikubelet-"+hex.EncodeToString(sum[:])[:12], "ctd")
	dir := filepath.Join(abs, "containerd")
	return embeddedConfig{
		Dir:        dir,
		ConfigPath: filepath.Join(dir, "config.toml"),
		LogPath:    filepath.Join(dir, "containerd.log"),
		Root:       filepath.Join(dir, "root"),
		State:      state,
		Address:    filepath.Join(state, "containerd.sock"),
	}, nil
}

// configTOML renders the daemon's config. The CRI plugins are disabled
// unless WithCRI asked for them: the agent is the kubelet here and talks to
// containerd's native API only. The
// opt plugin would otherwise create /opt/containerd on the host.
func (c embeddedConfig) configTOML() string {
	q := func(s string) string { return fmt.Sprintf("%q", s) }
	var b strings.Builder
	fmt.Fprintf(&b, "# Written by minikubelet for its embedded containerd; rewritten at every start.\n")
	fmt.Fprintf(&b, "version = 2\n")
	fmt.Fprintf(&b, "root = %s\n", q(c.Root))
	fmt.Fprintf(&b, "state = %s\n", q(c.State))
	if c.CRI == "" {
		fmt.Fprintf(&b, "disabled_plugins = [%s, %s, %s]\n",
			q("io.containerd.grpc.v1.cri"), q("io.containerd.cri.v1.images"), q("io.containerd.cri.v1.runtime"))
	}
	fmt.Fprintf(&b, "\n[grpc]\n  address = %s\n", q(c.Address))
	fmt.Fprintf(&b, "\n[ttrpc]\n  address = %s\n", q(c.Address+".ttrpc"))
	fmt.Fprintf(&b, "\n[debug]\n  address = \"\"\n  level = \"info\"\n")
	fmt.Fprintf(&b, "\n[metrics]\n  address = \"\"\n")
	fmt.Fprintf(&b, "\n[plugins]\n  [plugins.%s]\n    path = %s\n",
		q("io.containerd.internal.v1.opt"), q(filepath.Join(c.Dir, "opt")))
	if c.CRI != "" {
		fmt.Fprintf(&b, "\n[plugins.%s]\n%s\n", q("io.containerd.grpc.v1.cri"), c.CRI)
	}
	return b.String()
}

// Daemon supervises an embedded containerd: it restarts the process when it
// dies on its own, until Stop.
type Daemon struct {
	log *zap.Logger
	cfg embeddedConfig

	mu       sync.Mutex
	cmd      *exec.Cmd     // current process
	exited   chan struct{} // closed when cmd has exited
	stopping bool

	done chan struct{} // closed when supervision ended (after Stop)
	err  error         // last exit error, valid after done
}

// Address is the daemon's gRPC socket.
func (d *Daemon) Address() string { return d.cfg.Address }

// PID is the current containerd process's, 0 before the first start.
func (d *Daemon) PID() int {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.cmd == nil || d.cmd.Process == nil {
		return 0
	}
	return d.cmd.Process.Pid
}

// Done is closed once the daemon was stopped and has exited.
func (d *Daemon) Done() <-chan struct{} { return d.done }

// Wait blocks until the daemon was stopped and has exited, and returns how
// its last process ended.
func (d *Daemon) Wait() error {
	<-d.done
	return d.err
}

// startDaemon starts containerd, waits until it answers and then supervises
// it in the background.
func startDaemon(ctx context.Context, log *zap.Logger, cfg embeddedConfig) (*Daemon, error) {
	for _, dir := range []string{cfg.Dir, cfg.Root, cfg.State} {
		if err := os.MkdirAll(dir, 0o711); err != nil {
			return nil, fmt.Errorf("embedded containerd: %w", err)
		}
	}
	if err := os.WriteFile(cfg.ConfigPath, []byte(cfg.configTOML()), 0o600); err != nil {
		return nil, fmt.Errorf("embedded containerd: write config: %w", err)
	}
	d := &Daemon{log: log.With(zap.String("component", "containerd")), cfg: cfg, done: make(chan struct{})}
	if err := d.spawn(); err != nil {
		return nil, err
	}
	if err := d.waitReady(ctx); err != nil {
		stopCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
		defer cancel()
		return nil, errors.Join(err, d.Stop(stopCtx))
	}
	d.log.Info("embedded containerd is up", zap.String("address", cfg.Address),
		zap.String("config", cfg.ConfigPath), zap.String("log", cfg.LogPath))
	go d.supervise()
	return d, nil
}

// spawn starts one containerd process.
func (d *Daemon) spawn() error {
	logFile, err := os.OpenFile(d.cfg.LogPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		return fmt.Errorf("embedded containerd: open log: %w", err)
	}
	defer logFile.Close() // the child has its own copy
	bin, err := exec.LookPath("containerd")
	if err != nil {
		return fmt.Errorf("embedded containerd: %w", err)
	}
	cmd := exec.Command(bin, "--config", d.cfg.ConfigPath)
	cmd.Stdout = logFile
	cmd.Stderr = logFile
	// containerd would tell systemd it is ready on our behalf otherwise.
	cmd.Env = withoutEnv(os.Environ(), "NOTIFY_SOCKET")
	cmd.SysProcAttr = &syscall.SysProcAttr{
		Setpgid:   true, // a ^C on the agent's terminal is for the agent only
		Pdeathsig: syscall.SIGTERM,
	}
	exited := make(chan struct{})
	// Under the lock, so that the exit callback cannot run before
	// d.cmd and d.exited are set.
	d.mu.Lock()
	err = osthread.StartChild(cmd, func(err error) {
		d.mu.Lock()
		d.err = err
		d.mu.Unlock()
		close(exited)
	})
	if err == nil {
		d.cmd, d.exited = cmd, exited
	}
	d.mu.Unlock()
	if err != nil {
		return fmt.Errorf("embedded containerd: start %s: %w", bin, err)
	}
	d.log.Info("started containerd", zap.Int("pid", cmd.Process.Pid))
	return nil
}

// waitReady polls the socket until containerd answers, the process dies, or
// ctx ends.
func (d *Daemon) waitReady(ctx context.Context) error {
	d.mu.Lock()
	exited := d.exited
	d.mu.Unlock()
	tick := time.NewTicker(100 * time.Millisecond)
	defer tick.Stop()
	for {
		if client, err := dial(ctx, d.cfg.Address); err == nil {
			client.Close()
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("waiting for embedded containerd at %s: %w", d.cfg.Address, ctx.Err())
		case <-exited:
			d.mu.Lock()
			err := d.err
			d.mu.Unlock()
			return fmt.Errorf("embedded containerd exited during start-up (%v); see %s: %s",
				err, d.cfg.LogPath, tailFile(d.cfg.LogPath, 800))
		case <-tick.C:
		}
	}
}

// supervise restarts containerd when it exits without Stop, with a backoff
// that resets once a process stayed up for a minute.
func (d *Daemon) supervise() {
	defer close(d.done)
	backoff := time.Second
	for {
		d.mu.Lock()
		exited, started := d.exited, time.Now()
		d.mu.Unlock()
		<-exited
		d.mu.Lock()
		stopping, err := d.stopping, d.err
		d.mu.Unlock()
		if stopping {
			return
		}
		if time.Since(started) > time.Minute {
			backoff = time.Second
		}
		d.log.Error("embedded containerd exited; restarting", zap.Error(err), zap.Duration("after", backoff))
		time.Sleep(backoff)
		backoff = min(2*backoff, 30*time.Second)
		d.mu.Lock()
		stopping = d.stopping
		d.mu.Unlock()
		if stopping {
			return
		}
		if err := d.spawn(); err != nil {
			d.log.Error("restart embedded containerd", zap.Error(err))
		}
	}
}

// Stop sends SIGTERM to the daemon and waits for it to exit; when ctx ends
// first it sends SIGKILL. Shims, and so running containers, survive. Safe to
// call twice.
func (d *Daemon) Stop(ctx context.Context) error {
	d.mu.Lock()
	d.stopping = true
	cmd, exited := d.cmd, d.exited
	d.mu.Unlock()
	if cmd == nil {
		return nil
	}
	select {
	case <-exited:
		return nil
	default:
	}
	if err := syscall.Kill(cmd.Process.Pid, syscall.SIGTERM); err != nil && !errors.Is(err, syscall.ESRCH) {
		return fmt.Errorf("stop embedded containerd (pid %d): %w", cmd.Process.Pid, err)
	}
	select {
	case <-exited:
		d.log.Info("embedded containerd stopped", zap.Int("pid", cmd.Process.Pid))
		return nil
	case <-ctx.Done():
		_ = syscall.Kill(cmd.Process.Pid, syscall.SIGKILL)
		<-exited
		return fmt.Errorf("stop embedded containerd (pid %d): killed after %w", cmd.Process.Pid, ctx.Err())
	}
}

func withoutEnv(env []string, name string) []string {
	out := env[:0:0]
	for _, kv := range env {
		if !strings.HasPrefix(kv, name+"=") {
			out = append(out, kv)
		}
	}
	return out
}

// tailFile returns up to n bytes from the end of a file, for error messages.
func tailFile(path string, n int64) string {
	f, err := os.Open(path)
	if err != nil {
		return ""
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return ""
	}
	off := max(st.Size()-n, 0)
	buf := make([]byte, st.Size()-off)
	if _, err := f.ReadAt(buf, off); err != nil {
		return ""
	}
	return strings.TrimSpace(string(buf))
}
