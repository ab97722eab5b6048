package runtime

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"

	"github.com/containerd/containerd/containers"
	"github.com/containerd/containerd/leases"
	"go.uber.org/zap"

	"github.com/minikubelet/minikubelet/netns"
)

// Orphans are what an agent killed in the middle of a containerd call
// leaves in containerd's hands but out of its records: New removes them
// before it creates anything, when no call of this namespace can be in
// flight (one agent per namespace).

// removeOrphans removes what interrupted calls left. What it cannot
// remove is logged and tried again at the next start: it must not keep
// the pods that are fine from running. recs and tasks are the namespace's
// containers of this package and their tasks, listed at the start.
func (c *Containerd) removeOrphans(ctx context.Context, recs []containers.Container, tasks taskIndex) {
	stopOrphanShims := func(ctx context.Context) error { return c.stopOrphanShims(ctx, recs, tasks) }
	for _, step := range []func(context.Context) error{c.removeOrphanNetworks, c.removeInterruptedLeases, stopOrphanShims} {
		if err := step(ctx); err != nil {
			c.log.Warn("remove what an interrupted agent left", zap.Error(err))
		}
	}
}

// networkIntent is what RunSandbox records of a pod network between
// creating it and creating the pause container, whose labels then hold it.
type networkIntent struct {
	NetNS string
	Meta  netns.PodMeta
}

func (c *Containerd) intentPath(sandboxID string) string {
	return filepath.Join(c.cfg.Root, "sandboxes", sandboxID+".json")
}

func (c *Containerd) writeNetworkIntent(path string, meta netns.PodMeta) error {
	b, err := json.Marshal(networkIntent{NetNS: path, Meta: meta})
	if err != nil {
		return err
	}
	if err := os.MkdirAll(filepath.Dir(c.intentPath(meta.SandboxID)), 0o700); err != nil {
		return err
	}
	if err := writeFileAtomic(c.intentPath(meta.SandboxID), b, 0o600); err != nil {
		return fmt.Errorf("record network of sandbox %s: %w", meta.SandboxID, err)
	}
	return nil
}

func (c *Containerd) removeNetworkIntent(sandboxID string) {
	if err := os.Remove(c.intentPath(sandboxID)); err != nil && !errors.Is(err, os.ErrNotExist) {
		c.log.Warn("remove network record of sandbox", zap.String("sandbox", sandboxID), zap.Error(err))
	}
}

// removeOrphanNetworks tears down the pod networks of sandboxes whose
// pause container was never created (CNI DEL frees the veth and the IP
// lease), and removes network namespaces no sandbox refers to.
func (c *Containerd) removeOrphanNetworks(ctx context.Context) error {
	recs, err := c.client.ContainerService().List(ctx, labelFilter(LabelKind, kindSandbox))
	if err != nil {
		return fmt.Errorf("list sandboxes: %w", err)
	}
	sandboxes := map[string]bool{}
	inUse := map[string]bool{}
	for _, r := range recs {
		sandboxes[r.ID] = true
		inUse[r.Labels[LabelNetNS]] = true
	}
	intents, _ := filepath.Glob(c.intentPath("*"))
	var errs []error
	for _, p := range intents {
		id := strings.TrimSuffix(filepath.Base(p), ".json")
		if sandboxes[id] {
			c.removeNetworkIntent(id)
			continue
		}
		b, err := os.ReadFile(p)
		var in networkIntent
		if err == nil {
			err = json.Unmarshal(b, &in)
		}
		if err != nil {
			c.log.Warn("unreadable network record of an interrupted sandbox", zap.String("file", p), zap.Error(err))
			_ = os.Remove(p)
			continue
		}
		if c.cfg.Network == nil {
			continue // not this runtime's record
		}
		if err := c.cfg.Network.Teardown(ctx, in.NetNS, in.Meta); err != nil {
			inUse[in.NetNS] = true // keep both for the next start
			errs = append(errs, fmt.Errorf("tear down network of interrupted sandbox %s: %w", id, err))
			continue
		}
		c.log.Info("tore down the network of an interrupted sandbox", zap.String("sandbox", id),
			zap.String("pod", in.Meta.Namespace+"/"+in.Meta.Name), zap.String("netns", in.NetNS))
		c.removeNetworkIntent(id)
	}
	if c.cfg.Network == nil {
		return errors.Join(errs...) // this runtime makes no namespaces
	}
	paths, _ := filepath.Glob(filepath.Join(c.cfg.NetNSDir, "*"))
	for _, p := range paths {
		if inUse[p] {
			continue
		}
		if err := netns.Load(p).Remove(); err != nil {
			errs = append(errs, fmt.Errorf("remove orphan netns %s: %w", p, err))
			continue
		}
		c.log.Info("removed a network namespace no sandbox uses", zap.String("netns", p))
	}
	return errors.Join(errs...)
}

// removeInterruptedLeases deletes the namespace's expiring leases. The
// client takes one (24 h) around each container and image creation and
// deletes it when the call returns; one still there belongs to a call that
// never returned, and holds its snapshots and content until it expires.
func (c *Containerd) removeInterruptedLeases(ctx context.Context) error {
	ls := c.client.LeasesService()
	all, err := ls.List(ctx, `labels."containerd.io/gc.expire"`)
	if err != nil {
		return fmt.Errorf("list leases: %w", err)
	}
	for _, l := range all {
		if err := ls.Delete(ctx, l, leases.SynchronousDelete); err != nil && !isNotFound(err) {
			return fmt.Errorf("delete lease %s of an interrupted call: %w", l.ID, err)
		}
		c.log.Info("removed the lease of an interrupted call", zap.String("lease", l.ID))
	}
	return nil
}

// stopOrphanShims kills the shims of the namespace, on this containerd,
// that serve no task containerd knows: a task create interrupted by the
// agent's death can leave its shim started but unrecorded, and such a
// shim never exits on its own (it outlives containerd too). A shim whose
// task, or a task of its sandbox's containers, is in tasks serves it; any
// other is asked about alone before it is killed, as the listing leaves
// out a task it could not read.
func (c *Containerd) stopOrphanShims(ctx context.Context, recs []containers.Container, tasks taskIndex) error {
	shims, err := Shims(c.cfg.Namespace)
	if err != nil {
		return err
	}
	grouped := map[string]bool{} // sandboxes one of whose containers has a task
	for _, r := range recs {
		if sb := r.Labels[LabelSandboxID]; sb != "" && tasks[r.ID] != nil {
			grouped[sb] = true
		}
	}
	address := unixPath(c.client.Conn().Target())
	for _, sh := range shims {
		if !samePath(sh.Address, address) {
			continue // the same namespace on another containerd
		}
		if tasks[sh.ID] != nil || grouped[sh.ID] {
			continue
		}
		busy, err := c.shimServes(ctx, sh.ID)
		if err != nil {
			return fmt.Errorf("look for orphan shims: %w", err)
		}
		if busy {
			continue
		}
		if err := syscall.Kill(sh.PID, syscall.SIGKILL); err != nil && err != syscall.ESRCH {
			return fmt.Errorf("kill orphan shim %d of %s: %w", sh.PID, sh.ID, err)
		}
		c.log.Info("killed a shim with no task (its create was interrupted)", zap.Int("pid", sh.PID), zap.String("id", sh.ID))
	}
	return nil
}

// shimServes reports whether containerd knows a task of the shim started
// for id: id's own, or, as shims are grouped by sandbox (withShimGroup),
// one of the containers of the sandbox id.
func (c *Containerd) shimServes(ctx context.Context, id string) (bool, error) {
	recs, err := c.client.ContainerService().List(ctx, fmt.Sprintf("id==%q", id), fmt.Sprintf("labels.%q==%q", LabelSandboxID, id))
	if err != nil {
		return false, err
	}
	ids := []string{id}
	for _, r := range recs {
		ids = append(ids, r.ID)
	}
	for _, cid := range ids {
		p, err := c.taskProcess(ctx, cid)
		if err != nil {
			return false, err
		}
		if p != nil {
			return true, nil
		}
	}
	return false, nil
}

// Shim is a running containerd-shim-runc-v2 process.
type Shim struct {
	PID int
	// ID is the task (container) it was started for, Address the
	// containerd it reports to.
	ID, Namespace, Address string
}

// Shims lists the runc v2 shims serving namespace, on any containerd.
func Shims(namespace string) ([]Shim, error) {
	procs, err := filepath.Glob("/proc/[0-9]*/cmdline")
	if err != nil {
		return nil, err
	}
	var out []Shim
	for _, p := range procs {
		b, err := os.ReadFile(p)
		if err != nil {
			continue // exited meanwhile
		}
		sh, ok := parseShim(b)
		if !ok || sh.Namespace != namespace {
			continue
		}
		sh.PID, _ = strconv.Atoi(filepath.Base(filepath.Dir(p)))
		out = append(out, sh)
	}
	return out, nil
}

// parseShim reads a /proc/<pid>/cmdline; ok is false for other programs.
func parseShim(cmdline []byte) (Shim, bool) {
	args := strings.Split(strings.TrimRight(string(cmdline), "\x00"), "\x00")
	if len(args) == 0 || filepath.Base(args[0]) != "containerd-shim-runc-v2" {
		return Shim{}, false
	}
	var sh Shim
	for i := 1; i+1 < len(args); i++ {
		switch args[i] {
		case "-namespace":
			sh.Namespace = args[i+1]
		case "-id":
			sh.ID = args[i+1]
		case "-address":
			sh.Address = args[i+1]
		}
	}
	return sh, sh.Namespace != "" && sh.ID != ""
}

// unixPath strips the scheme from a gRPC unix target.
func unixPath(target string) string {
	for _, prefix := range []string{"unix://", "unix:"} {
		if strings.HasPrefix(target, prefix) {
			return strings.TrimPrefix(target, prefix)
		}
	}
	return target
}

func samePath(a, b string) bool {
	if a == b {
		return true
	}
	ra, err1 := filepath.EvalSymlinks(a)
	rb, err2 := filepath.EvalSymlinks(b)
	return err1 == nil && err2 == nil && ra == rb
}
