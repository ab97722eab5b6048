package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/containerd/containerd/images/archive"
	"github.com/containerd/containerd/namespaces"
	"github.com/containerd/containerd/platforms"
	"github.com/distribution/reference"
	"go.uber.org/zap"
	"golang.org/x/sys/unix"
	v1 "k8s.io/api/core/v1"

	pauseimage "github.com/minikubelet/minikubelet/pause/image"
)

// podmanConf is the bench's containers.conf for podman. Podman 4.3 raises
// RLIMIT_NOFILE to 1048576 and RLIMIT_NPROC for root's containers, which
// root cannot do here ("error setting rlimits for ready process"): the
// limits below are at or under the host's hard limits. The infra container
// runs the bench's pause image (podman would otherwise build or pull one),
// cgroups are managed by podman itself (no systemd units), events go to a
// file under its temp dir, and its CNI config dir (which it locks even with
// --network none) is its own.
const podmanConf = `[containers]
default_ulimits = ["nofile=20000:20000", "nproc=4096:4096"]

[engine]
cgroup_manager = "cgroupfs"
events_logger = "file"
runtime = "runc"
infra_image = %q

[network]
network_backend = "cni"
network_config_dir = %q
`

// podmanRegistries blocks the registries of the bench's images: podman
// must run them from its store, and never reach out for them.
const podmanRegistries = `unqualified-search-registries = []

[[registry]]
location = "docker.io"
blocked = true

[[registry]]
location = "minikubelet.io"
blocked = true
`

// podman runs the bench's pods with Debian's podman (`podman kube play`),
// everything it keeps under the world's root: storage, run state, temp
// dir, config. Its pods have no network (--network none): the bench adds
// no bridge or firewall rule for it.
type podman struct {
	log     *zap.Logger
	dir     string
	env     []string
	global  []string // flags before the subcommand
	Version string
}

// podmanCgroupParent is the cgroup podman puts its pods under with the
// cgroupfs manager, in every controller.
const podmanCgroupParent = "libpod_parent"

// newPodman prepares podman's private state and loads the bench's images
// into it from containerd (namespace ns), as a docker archive. Its cleanup
// removes every pod it ran and what it created outside the world's root.
func newPodman(ctx context.Context, w *world, ns string) (*podman, error) {
	if _, err := exec.LookPath("podman"); err != nil {
		return nil, fmt.Errorf("podman: %w (scripts/bench --peers installs it)", err)
	}
	dir := filepath.Join(w.root, "podman")
	for _, d := range []string{"root", "runroot", "tmp", "cni", "manifests"} {
		if err := os.MkdirAll(filepath.Join(dir, d), 0o700); err != nil {
			return nil, err
		}
	}
	conf := filepath.Join(dir, "containers.conf")
	if err := os.WriteFile(conf, fmt.Appendf(nil, podmanConf, pauseimage.Ref, filepath.Join(dir, "cni")), 0o600); err != nil {
		return nil, err
	}
	registries := filepath.Join(dir, "registries.conf")
	if err := os.WriteFile(registries, []byte(podmanRegistries), 0o600); err != nil {
		return nil, err
	}
	p := &podman{
		log: w.log.Named("podman"),
		dir: dir,
		env: append(os.Environ(), "CONTAINERS_CONF="+conf, "CONTAINERS_REGISTRIES_CONF="+registries),
		global: []string{"--root", filepath.Join(dir, "root"), "--runroot", filepath.Join(dir, "runroot"),
			"--tmpdir", filepath.Join(dir, "tmp"), "--storage-driver", "overlay",
			"--cgroup-manager", "cgroupfs", "--events-backend", "file"},
	}
	// What podman creates outside its root: the pods' cgroup parent, and
	// containers/image's blob info cache for root (/var/lib/containers).
	var created []string
	for _, d := range cgroupControllerDirs(podmanCgroupParent) {
		if _, err := os.Stat(d); errors.Is(err, os.ErrNotExist) {
			created = append(created, d)
		}
	}
	w.removeIfNew("/var/lib/containers")
	w.defer_(func(ctx context.Context) error {
		errs := []error{p.removeAll(ctx)}
		for _, d := range created {
			// podman 4.3 leaves its pods' cgroups behind in the named
			// systemd and unified hierarchies.
			errs = append(errs, removeCgroupTree(d))
		}
		return errors.Join(errs...)
	})

	out, err := p.run(ctx, "version", "--format", "{{.Client.Version}}")
	if err != nil {
		return nil, err
	}
	p.Version = strings.TrimSpace(out)

	archivePath := filepath.Join(dir, "images.tar")
	if err := exportImages(ctx, w, ns, archivePath, pauseimage.Ref, busyboxRef); err != nil {
		return nil, err
	}
	if _, err := p.run(ctx, "load", "-q", "-i", archivePath); err != nil {
		return nil, err
	}
	// docker's manifest.json names docker.io images by their short name,
	// which podman load files under localhost/.
	for _, ref := range []string{pauseimage.Ref, busyboxRef} {
		named, err := reference.ParseNormalizedNamed(ref)
		if err != nil {
			return nil, err
		}
		if short := reference.FamiliarString(named); short != ref && !strings.Contains(short, "/") {
			if _, err := p.run(ctx, "tag", "localhost/"+short, ref); err != nil {
				return nil, err
			}
		}
	}
	return p, nil
}

// exportImages writes images of containerd namespace ns as one archive
// (OCI layout plus docker's manifest.json, which podman load reads).
func exportImages(ctx context.Context, w *world, ns, path string, refs ...string) error {
	ctx = namespaces.WithNamespace(ctx, ns)
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	opts := []archive.ExportOpt{archive.WithPlatform(platforms.DefaultStrict())}
	for _, ref := range refs {
		opts = append(opts, archive.WithImage(w.client.ImageService(), ref))
	}
	err = w.client.Export(ctx, f, opts...)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("export %v from containerd: %w", refs, err)
	}
	return nil
}

// cgroupControllerDirs is name in every cgroup v1 controller hierarchy
// (and at the root of a v2 one).
func cgroupControllerDirs(name string) []string {
	if isCgroupV2() {
		return []string{filepath.Join("/sys/fs/cgroup", name)}
	}
	entries, _ := os.ReadDir("/sys/fs/cgroup")
	var out []string
	for _, e := range entries {
		if e.IsDir() { // the cpu,cpuacct style symlinks are not
			out = append(out, filepath.Join("/sys/fs/cgroup", e.Name(), name))
		}
	}
	return out
}

// removeCgroupTree removes a cgroup and every cgroup under it, deepest
// first; they must have no processes left.
func removeCgroupTree(root string) error {
	var dirs []string
	err := filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() {
			dirs = append(dirs, path)
		}
		return nil
	})
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err != nil {
		return err
	}
	var errs []error
	for i := len(dirs) - 1; i >= 0; i-- {
		if err := unix.Rmdir(dirs[i]); err != nil && !errors.Is(err, unix.ENOENT) {
			errs = append(errs, fmt.Errorf("remove cgroup %s: %w", dirs[i], err))
		}
	}
	return errors.Join(errs...)
}

// run runs one podman command and returns its standard output.
func (p *podman) run(ctx context.Context, args ...string) (string, error) {
	cmd := exec.CommandContext(ctx, "podman", append(append([]string{}, p.global...), args...)...)
	cmd.Env = p.env
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		return stdout.String(), fmt.Errorf("podman %s: %w: %s", strings.Join(args, " "), err, strings.TrimSpace(stderr.String()))
	}
	return stdout.String(), nil
}

// removeAll removes every pod and container podman runs for the bench.
func (p *podman) removeAll(ctx context.Context) error {
	_, err := p.run(ctx, "pod", "rm", "--all", "--force", "--time", "0")
	_, cerr := p.run(ctx, "rm", "--all", "--force", "--time", "0")
	return errors.Join(err, cerr)
}

// play writes pods into one manifest and runs `podman kube play` on it.
// It returns the moment before the command started: the command returns
// around the app containers' start, not at it, so the bench times the
// containers by their own start times.
func (p *podman) play(ctx context.Context, file string, pods ...*v1.Pod) (time.Time, error) {
	var docs [][]byte
	for _, pod := range pods {
		docs = append(docs, manifest(pod))
	}
	path := filepath.Join(p.dir, "manifests", file)
	if err := os.WriteFile(path, bytes.Join(docs, []byte("---\n")), 0o644); err != nil {
		return time.Time{}, err
	}
	t0 := time.Now()
	_, err := p.run(ctx, "kube", "play", "--network", "none", path)
	return t0, err
}

// started waits until each pod's app container runs and returns when each
// started (podman's StartedAt: after runc start returned).
func (p *podman) started(ctx context.Context, pods ...string) ([]time.Time, error) {
	ctx, cancel := context.WithTimeout(ctx, manyTimeout)
	defer cancel()
	names := make([]string, len(pods))
	for i, pod := range pods {
		names[i] = pod + "-app" // kube play names containers <pod>-<container>
	}
	for {
		out, err := p.run(ctx, append([]string{"inspect", "--type", "container", "--format",
			`{{.State.Running}} {{.State.StartedAt.Format "2006-01-02T15:04:05.999999999Z07:00"}}`}, names...)...)
		if err == nil {
			times, ok, perr := parseStarted(out, len(names))
			if perr != nil {
				return nil, perr
			}
			if ok {
				return times, nil
			}
		}
		select {
		case <-ctx.Done():
			return nil, fmt.Errorf("podman pods %v: app containers not running: %w (%v)", pods, ctx.Err(), err)
		case <-time.After(20 * time.Millisecond):
		}
	}
}

// parseStarted reads `podman inspect` lines "<running> <startedAt>"; ok is
// false while one of the n containers does not run yet.
func parseStarted(out string, n int) (_ []time.Time, ok bool, _ error) {
	lines := strings.Split(strings.TrimSpace(out), "\n")
	if len(lines) != n {
		return nil, false, nil
	}
	var times []time.Time
	for _, l := range lines {
		running, at, _ := strings.Cut(l, " ")
		if running != "true" {
			return nil, false, nil
		}
		t, err := time.Parse(time.RFC3339Nano, at)
		if err != nil {
			return nil, false, fmt.Errorf("podman inspect: StartedAt %q: %w", at, err)
		}
		times = append(times, t)
	}
	return times, true, nil
}

// removePods removes pods at once, their containers killed.
func (p *podman) removePods(ctx context.Context, pods ...string) error {
	_, err := p.run(ctx, append([]string{"pod", "rm", "--force", "--time", "0"}, pods...)...)
	return err
}

// startOnce plays one pod and returns how long until its app container
// ran.
func (p *podman) startOnce(ctx context.Context, pod *v1.Pod) (time.Duration, error) {
	t0, err := p.play(ctx, pod.Name+".yaml", pod)
	if err != nil {
		return 0, err
	}
	at, err := p.started(ctx, pod.Name)
	if err != nil {
		return 0, err
	}
	return at[0].Sub(t0), p.removePods(ctx, pod.Name)
}

// memoryPerPod is the PSS of what podman keeps running per pod: the infra
// (pause) process and a conmon per container.
func (p *podman) memoryPerPod(ctx context.Context, n int) (float64, error) {
	out, err := p.run(ctx, "ps", "--format", "{{.Names}} {{.Pid}}")
	if err != nil {
		return 0, err
	}
	var total int64
	for _, l := range strings.Split(strings.TrimSpace(out), "\n") {
		name, pid, _ := strings.Cut(l, " ")
		if strings.HasSuffix(name, "-infra") {
			n, _ := strconv.Atoi(pid)
			total += pss(n)
		}
	}
	for _, pid := range processesWithArg("conmon", filepath.Join(p.dir, "root")) {
		total += pss(pid)
	}
	return mib(total / int64(n)), nil
}

// processesWithArg lists the processes named comm whose command line has
// an argument containing s.
func processesWithArg(comm, s string) []int {
	var out []int
	dirs, _ := filepath.Glob("/proc/[0-9]*/comm")
	for _, c := range dirs {
		name, err := os.ReadFile(c)
		if err != nil || strings.TrimSpace(string(name)) != comm {
			continue
		}
		cmdline, err := os.ReadFile(filepath.Join(filepath.Dir(c), "cmdline"))
		if err != nil || !bytes.Contains(cmdline, []byte(s)) {
			continue
		}
		pid, _ := strconv.Atoi(filepath.Base(filepath.Dir(c)))
		out = append(out, pid)
	}
	return out
}
