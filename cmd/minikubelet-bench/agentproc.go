package main

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"sigs.k8s.io/yaml"

	"github.com/minikubelet/minikubelet/api"
	"github.com/minikubelet/minikubelet/internal/osthread"
)

// agentProc is the real minikubelet binary running `agent` as a child
// process, so that its CPU and memory are its own.
type agentProc struct {
	cmd       *exec.Cmd
	exited    chan struct{}
	exitErr   error
	Root      string // the agent's --root
	Manifests string
	Socket    string
	Namespace string
	LogPath   string
	cfgPath   string
	Client    *api.Client
	// StartedIn is how long the process took to answer on its API.
	StartedIn time.Duration
}

// agentConfig is the subset of the agent's YAML --config the bench sets.
type agentConfig struct {
	Manifests   string   `json:"manifests"`
	Root        string   `json:"root"`
	Socket      string   `json:"socket"`
	Containerd  string   `json:"containerd"`
	Namespace   string   `json:"namespace"`
	NodeName    string   `json:"nodeName"`
	PodCIDR     string   `json:"podCIDR"`
	Bridge      string   `json:"bridge"`
	IPMasq      bool     `json:"ipMasq"`
	ServiceCIDR string   `json:"serviceCIDR"`
	CNIBinDir   string   `json:"cniBinDir"`
	Images      string   `json:"images"`
	LogDir      string   `json:"logDir"`
	LogLevel    string   `json:"logLevel"`
	PauseBinary string   `json:"pauseBinary"`
	Offline     bool     `json:"offline"`
	ClusterDNS  []string `json:"clusterDNS"`
	MaxPods     int      `json:"maxPods"`
	// APIAddress "" turns the Kubernetes API off: its default port is one
	// per machine, and another agent may hold it.
	APIAddress string `json:"apiAddress"`
}

// startAgent writes the agent's config and starts it on the world's
// containerd and the given network; it returns once the API answers.
func startAgent(ctx context.Context, w *world, o benchOptions, n netSpec) (*agentProc, error) {
	apiAddress, err := o.apiAddress()
	if err != nil {
		return nil, err
	}
	dir := filepath.Join(w.root, "agent")
	a := &agentProc{
		Root:      filepath.Join(dir, "state"),
		Manifests: filepath.Join(dir, "manifests"),
		Socket:    filepath.Join(dir, "api.sock"),
		Namespace: n.Namespace,
		LogPath:   filepath.Join(dir, "agent.log"),
		exited:    make(chan struct{}),
	}
	for _, d := range []string{a.Root, a.Manifests} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			return nil, err
		}
	}
	cfg := agentConfig{
		Manifests:  a.Manifests,
		Root:       a.Root,
		Socket:     a.Socket,
		Containerd: w.daemon.Address(),
		Namespace:  n.Namespace,
		NodeName:   "benchnode",
		PodCIDR:    n.Subnet,
		Bridge:     n.Bridge,
		// No masquerading and no service route: the bench leaves the
		// host's firewall and routes alone, and the floor does not
		// masquerade either.
		IPMasq:      false,
		ServiceCIDR: "",
		CNIBinDir:   strings.Join(o.cniBinDirs, ":"),
		Images:      w.imagesDir,
		LogDir:      filepath.Join(dir, "logs"),
		LogLevel:    "info",
		PauseBinary: o.pauseBinary,
		Offline:     true,
		// The default, spelled out: pods get a resolv.conf pointing at the
		// (absent) cluster DNS and never ask the host's resolver.
		ClusterDNS: []string{"10.96.0.10"},
		// Room for the scale phase's pods (the kubelet's default, 110,
		// would reject them); the /24 holds 253.
		MaxPods:    300,
		APIAddress: apiAddress,
	}
	a.cfgPath = filepath.Join(dir, "config.yaml")
	if err := writeYAML(a.cfgPath, cfg); err != nil {
		return nil, err
	}
	a.Client = api.NewClient(a.Socket)
	// Stops whichever process runs then: restart replaces it.
	w.defer_(a.stop)
	if _, err := a.exec(ctx, o.agentBinary); err != nil {
		return nil, err
	}
	return a, nil
}

// exec starts the agent process on its config and returns, once its API
// answers, the moment it was started.
func (a *agentProc) exec(ctx context.Context, binary string) (time.Time, error) {
	logFile, err := os.OpenFile(a.LogPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		return time.Time{}, err
	}
	defer logFile.Close()
	cmd := exec.Command(binary, "agent", "--config", a.cfgPath)
	cmd.Stdout, cmd.Stderr = logFile, logFile
	cmd.SysProcAttr = &syscall.SysProcAttr{
		Setpgid:   true, // a ^C on the bench's terminal is for the bench, which stops the agent itself
		Pdeathsig: syscall.SIGTERM,
	}
	exited := make(chan struct{})
	start := time.Now()
	if err := osthread.StartChild(cmd, func(err error) {
		a.exitErr = err
		close(exited)
	}); err != nil {
		return time.Time{}, fmt.Errorf("start agent: %w", err)
	}
	a.cmd, a.exited = cmd, exited
	deadline := time.After(time.Minute)
	for {
		vctx, cancel := context.WithTimeout(ctx, time.Second)
		_, err := a.Client.Version(vctx)
		cancel()
		if err == nil {
			a.StartedIn = time.Since(start)
			return start, nil
		}
		select {
		case <-exited:
			return time.Time{}, fmt.Errorf("agent exited during start-up (%v); see %s", a.exitErr, a.LogPath)
		case <-deadline:
			return time.Time{}, fmt.Errorf("agent API did not come up in a minute; see %s", a.LogPath)
		case <-ctx.Done():
			return time.Time{}, ctx.Err()
		case <-time.After(10 * time.Millisecond):
		}
	}
}

// restart stops the agent (its pods keep running) and starts the same
// binary again on the same config, root and manifests. It returns the
// moment the new process was started.
func (a *agentProc) restart(ctx context.Context) (time.Time, error) {
	if err := a.stop(ctx); err != nil {
		return time.Time{}, err
	}
	return a.exec(ctx, a.cmd.Path)
}

// Pid is the agent's process ID.
func (a *agentProc) Pid() int { return a.cmd.Process.Pid }

// sample reads the agent's CPU, memory, threads and fds.
func (a *agentProc) sample() (procSample, error) {
	select {
	case <-a.exited:
		return procSample{}, fmt.Errorf("agent exited (%v); see %s", a.exitErr, a.LogPath)
	default:
	}
	return sampleProc(a.Pid())
}

// pause stops the agent (SIGSTOP) until resume (SIGCONT): it runs no
// code, its probes included, while its pods keep running.
func (a *agentProc) pause() error {
	if err := a.cmd.Process.Signal(syscall.SIGSTOP); err != nil {
		return fmt.Errorf("stop the agent: %w", err)
	}
	return nil
}

func (a *agentProc) resume() error {
	if err := a.cmd.Process.Signal(syscall.SIGCONT); err != nil {
		return fmt.Errorf("continue the agent: %w", err)
	}
	return nil
}

// stop ends the agent (pods keep running; the world's cleanup removes
// them). Safe to call twice.
func (a *agentProc) stop(ctx context.Context) error {
	if a.cmd == nil {
		return nil // never started
	}
	return stopChild(ctx, "agent", a.cmd.Process, a.exited)
}

// writeYAML writes v as YAML, readable by root only.
func writeYAML(path string, v any) error {
	data, err := yaml.Marshal(v)
	if err != nil {
		return err
	}
	return os.WriteFile(path, data, 0o600)
}

// stopChild ends a child process with SIGTERM and kills it if it has not
// exited in 30 s; exited is closed once it was waited for. Safe to call
// again after it exited.
func stopChild(ctx context.Context, name string, p *os.Process, exited <-chan struct{}) error {
	select {
	case <-exited:
		return nil
	default:
	}
	_ = p.Signal(syscall.SIGTERM)
	select {
	case <-exited:
		return nil
	case <-time.After(30 * time.Second):
	case <-ctx.Done():
	}
	_ = p.Kill()
	<-exited
	return fmt.Errorf("%s did not stop on SIGTERM; killed", name)
}

// write puts a manifest into the agent's directory atomically (temp file
// and rename, as `minikubelet apply` does) and returns the moment it
// appeared.
func (a *agentProc) write(name string, data []byte) (time.Time, error) {
	tmp := filepath.Join(a.Manifests, "."+name+".tmp")
	if err := os.WriteFile(tmp, data, 0o644); err != nil {
		return time.Time{}, err
	}
	at := time.Now()
	return at, os.Rename(tmp, filepath.Join(a.Manifests, name))
}

// remove deletes a manifest and returns the moment it went.
func (a *agentProc) remove(name string) (time.Time, error) {
	at := time.Now()
	return at, os.Remove(filepath.Join(a.Manifests, name))
}

// goroutines asks the agent's GET /debug/goroutines for its goroutine
// count.
func (a *agentProc) goroutines(ctx context.Context) (int, error) {
	var body strings.Builder
	if err := a.debug(ctx, "/debug/goroutines", &body, 64); err != nil {
		return 0, err
	}
	return strconv.Atoi(strings.TrimSpace(body.String()))
}

// debug copies the answer of GET path on the agent's socket to w, at most
// limit bytes.
func (a *agentProc) debug(ctx context.Context, path string, w io.Writer, limit int64) error {
	hc := &http.Client{Transport: &http.Transport{
		DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
			return (&net.Dialer{}).DialContext(ctx, "unix", a.Socket)
		},
	}}
	defer hc.CloseIdleConnections()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, "http://agent"+path, nil)
	if err != nil {
		return err
	}
	resp, err := hc.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("GET %s: %s", path, resp.Status)
	}
	if _, err := io.Copy(w, io.LimitReader(resp.Body, limit)); err != nil {
		return fmt.Errorf("GET %s: %w", path, err)
	}
	return nil
}
