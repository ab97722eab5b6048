package testenv

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"slices"
	"syscall"
	"testing"
	"time"

	"github.com/containerd/containerd/snapshots"
	"github.com/moby/sys/mountinfo"
	"github.com/vishvananda/netlink"
	v1 "k8s.io/api/core/v1"

	"github.com/minikubelet/minikubelet/internal/testhost"
	"github.com/minikubelet/minikubelet/runtime"
)

// AssertPodGone checks containerd (containers, tasks, leases, the
// containers' snapshots) and the host (veths on the bridge, IP leases,
// mounts, netns files, pod and log dirs, the pod cgroup).
func (env *Env) AssertPodGone(t *testing.T, pod *v1.Pod, ids ...string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(env.Ctx(context.Background()), time.Minute)
	defer cancel()
	if cs, err := env.Client.Containers(ctx); err != nil || len(cs) > 0 {
		t.Errorf("containers left: %d (%v)", len(cs), err)
	}
	if ls, err := env.Client.LeasesService().List(ctx); err != nil || len(ls) > 0 {
		t.Errorf("leases left: %v (%v)", ls, err)
	}
	_ = env.Client.SnapshotService("overlayfs").Walk(ctx, func(_ context.Context, info snapshots.Info) error {
		if slices.Contains(ids, info.Name) {
			t.Errorf("snapshot %s left", info.Name)
		}
		return nil
	})
	if br, err := netlink.LinkByName(env.Bridge); err == nil {
		links, _ := netlink.LinkList()
		for _, l := range links {
			if l.Attrs().MasterIndex == br.Attrs().Index {
				t.Errorf("veth %s still on bridge %s", l.Attrs().Name, env.Bridge)
			}
		}
	}
	_ = filepath.Walk(filepath.Join(env.Root, "cni", "data", "ipam"), func(p string, info os.FileInfo, err error) error {
		if err == nil && !info.IsDir() && net.ParseIP(info.Name()) != nil {
			t.Errorf("IP lease left: %s", p)
		}
		return nil
	})
	if ms, err := mountinfo.GetMounts(mountinfo.PrefixFilter(env.Root)); err != nil || len(ms) > 0 {
		for _, m := range ms {
			t.Errorf("mount left: %s", m.Mountpoint)
		}
	}
	if ns, _ := filepath.Glob(filepath.Join(env.Root, "netns", "*")); len(ns) > 0 {
		t.Errorf("netns left: %v", ns)
	}
	for _, d := range []string{
		filepath.Join(env.Root, "pods", string(pod.UID)),
		runtime.PodLogDir(env.LogDir, pod),
	} {
		if _, err := os.Stat(d); !errors.Is(err, os.ErrNotExist) {
			t.Errorf("%s left (%v)", d, err)
		}
	}
	for _, d := range testhost.PodCgroupDirs(runtime.DefaultCgroupRoot(env.Namespace)) {
		if filepath.Base(d) == "pod"+string(pod.UID) {
			t.Errorf("pod cgroup left: %s", d)
		}
	}
	for _, id := range ids {
		if _, err := os.Stat(filepath.Join(env.Root, "fifo", id)); !errors.Is(err, os.ErrNotExist) {
			t.Errorf("FIFO dir of %s left", id)
		}
	}
}

// Shims lists the containerd-shim-runc-v2 processes serving the test's
// namespace, as "pid <n> id <task>": after every pod is gone there must be
// none, also none that containerd forgot (a shim whose task create the
// agent's death interrupted).
func (env *Env) Shims() []string {
	shims, err := runtime.Shims(env.Namespace)
	if err != nil {
		return []string{err.Error()}
	}
	var out []string
	for _, sh := range shims {
		out = append(out, fmt.Sprintf("pid %d id %s", sh.PID, sh.ID))
	}
	return out
}

// stopShims waits for the shims of the namespace to exit (each does once
// containerd deleted its last task), and kills those still there when ctx
// ends, with the processes they still run. Such a shim serves no task
// containerd knows: it is reported as an error.
func (env *Env) stopShims(ctx context.Context, note func(string, ...any)) error {
	wait, cancel := context.WithTimeout(ctx, shimExitGrace)
	defer cancel()
	for {
		shims, err := runtime.Shims(env.Namespace)
		if err != nil {
			return fmt.Errorf("list shims of %s: %w", env.Namespace, err)
		}
		if len(shims) == 0 {
			return nil
		}
		select {
		case <-time.After(50 * time.Millisecond):
			continue
		case <-wait.Done():
		}
		var errs []error
		for _, sh := range shims {
			children := testhost.Children(sh.PID)
			note("shim pid %d (started for %s) left behind, running %v", sh.PID, sh.ID, children)
			for _, pid := range append(children, sh.PID) {
				if err := syscall.Kill(pid, syscall.SIGKILL); err != nil && !errors.Is(err, syscall.ESRCH) {
					errs = append(errs, fmt.Errorf("kill process %d of shim %d: %w", pid, sh.PID, err))
				}
			}
			errs = append(errs, fmt.Errorf("shim pid %d of %s (started for %s) outlived every task", sh.PID, env.Namespace, sh.ID))
		}
		return errors.Join(errs...)
	}
}

// shimExitGrace is how long a shim has to exit once its last task is gone.
const shimExitGrace = 10 * time.Second
