package runtime

import (
	"context"
	"errors"
	"fmt"
	"path"
	"sort"
	"strings"
	"syscall"
	"time"

	"github.com/containerd/containerd"
	"github.com/containerd/containerd/api/services/tasks/v1"
	"github.com/containerd/containerd/content"
	"github.com/containerd/containerd/errdefs"
	"github.com/containerd/containerd/images"
	"github.com/containerd/containerd/leases"
	"github.com/containerd/containerd/namespaces"
	"github.com/containerd/containerd/snapshots"
	"github.com/moby/sys/mountinfo"
	"golang.org/x/sys/unix"
)

// PurgeNamespace deletes everything in a containerd namespace (tasks,
// containers, images, leases, snapshots, content) and then the namespace.
// It is for throw-away worlds (tests, the benchmark), not for the agent:
// it ignores pods and their networks. leftover, when set, hears of each
// container and lease it had to delete.
func PurgeNamespace(ctx context.Context, client *containerd.Client, namespace string, leftover func(kind, id string)) error {
	if leftover == nil {
		leftover = func(string, string) {}
	}
	ctx = namespaces.WithNamespace(ctx, namespace)
	var errs []error
	conts, err := client.Containers(ctx)
	if err != nil {
		return fmt.Errorf("list containers of %s: %w", namespace, err)
	}
	// Every task is sent SIGKILL first, without waiting: one that is slow
	// to die (or frozen) does not keep the others running when ctx runs
	// out (a phase that failed under load). Then each is waited for and
	// deleted, all before any container: a container cannot be deleted
	// while its task runs.
	for _, ct := range conts {
		leftover("container", ct.ID())
		killTask(ctx, ct)
	}
	for _, ct := range conts {
		if task, err := ct.Task(ctx, nil); err == nil {
			if _, err := task.Delete(ctx, containerd.WithProcessKill); err != nil && !errdefs.IsNotFound(err) {
				errs = append(errs, fmt.Errorf("delete task %s: %w", ct.ID(), err))
			}
		} else if !errdefs.IsNotFound(err) {
			errs = append(errs, fmt.Errorf("task of container %s: %w", ct.ID(), err))
		}
	}
	for _, ct := range conts {
		if err := ct.Delete(ctx, containerd.WithSnapshotCleanup); err != nil && !errdefs.IsNotFound(err) {
			errs = append(errs, fmt.Errorf("delete container %s: %w", ct.ID(), err))
		}
	}
	if left := remainingTasks(ctx, client); left != "" {
		// Named, so that whoever runs the purge knows what still runs.
		errs = append(errs, fmt.Errorf("namespace %s: tasks still there: %s", namespace, left))
	}
	is := client.ImageService()
	list, err := is.List(ctx)
	if err != nil {
		errs = append(errs, fmt.Errorf("list images of %s: %w", namespace, err))
	}
	for i, img := range list {
		var opts []images.DeleteOpt
		if i == len(list)-1 {
			opts = append(opts, images.SynchronousDelete())
		}
		if err := is.Delete(ctx, img.Name, opts...); err != nil && !errdefs.IsNotFound(err) {
			errs = append(errs, fmt.Errorf("delete image %s: %w", img.Name, err))
		}
	}
	ls := client.LeasesService()
	if all, err := ls.List(ctx); err == nil {
		for _, l := range all {
			leftover("lease", l.ID)
			if err := ls.Delete(ctx, l, leases.SynchronousDelete); err != nil && !errdefs.IsNotFound(err) {
				errs = append(errs, fmt.Errorf("delete lease %s: %w", l.ID, err))
			}
		}
	}
	errs = append(errs, removeSnapshots(ctx, client.SnapshotService(containerd.DefaultSnapshotter)))
	cs := client.ContentStore()
	var blobs []content.Info
	_ = cs.Walk(ctx, func(info content.Info) error { blobs = append(blobs, info); return nil })
	for _, b := range blobs {
		if err := cs.Delete(ctx, b.Digest); err != nil && !errdefs.IsNotFound(err) {
			errs = append(errs, fmt.Errorf("delete content %s: %w", b.Digest, err))
		}
	}
	if err := client.NamespaceService().Delete(ctx, namespace); err != nil && !errdefs.IsNotFound(err) {
		errs = append(errs, fmt.Errorf("delete namespace %s: %w", namespace, err))
	}
	return errors.Join(errs...)
}

// killTask sends SIGKILL to every process of ct's task, if it has one,
// thawing it first if it is paused (a frozen process does not die).
// Failures are left to the delete that follows to report.
func killTask(ctx context.Context, ct containerd.Container) {
	task, err := ct.Task(ctx, nil)
	if err != nil {
		return
	}
	if st, err := task.Status(ctx); err == nil && (st.Status == containerd.Paused || st.Status == containerd.Pausing) {
		_ = task.Resume(ctx)
	}
	_ = task.Kill(ctx, syscall.SIGKILL, containerd.WithKillAll)
}

// remainingTasks names the tasks of ctx's namespace that are still there,
// with their PID and status; "" when there are none.
func remainingTasks(ctx context.Context, client *containerd.Client) string {
	// Asked even when ctx ran out: that is when tasks are left.
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
	defer cancel()
	tl, err := client.TaskService().List(ctx, &tasks.ListTasksRequest{})
	if err != nil {
		return fmt.Sprintf("(cannot list: %v)", err)
	}
	var out []string
	for _, t := range tl.Tasks {
		out = append(out, fmt.Sprintf("%s (pid %d, %s)", t.ID, t.Pid, t.Status))
	}
	return strings.Join(out, ", ")
}

// removeSnapshots removes all snapshots, children before parents.
func removeSnapshots(ctx context.Context, sn snapshots.Snapshotter) error {
	for range 64 {
		var all []snapshots.Info
		if err := sn.Walk(ctx, func(_ context.Context, info snapshots.Info) error {
			all = append(all, info)
			return nil
		}); err != nil {
			return err
		}
		if len(all) == 0 {
			return nil
		}
		parents := map[string]bool{}
		for _, s := range all {
			parents[s.Parent] = true
		}
		for _, s := range all {
			if !parents[s.Name] {
				if err := sn.Remove(ctx, s.Name); err != nil && !errdefs.IsNotFound(err) {
					return fmt.Errorf("remove snapshot %s: %w", s.Name, err)
				}
			}
		}
	}
	return errors.New("snapshots keep coming back")
}

// UnmountUnder unmounts every mount at or below dir, deepest first; one
// that is already gone is no error.
func UnmountUnder(dir string) error {
	infos, err := mountinfo.GetMounts(mountinfo.PrefixFilter(dir))
	if err != nil {
		return err
	}
	sort.Slice(infos, func(i, j int) bool { return len(infos[i].Mountpoint) > len(infos[j].Mountpoint) })
	var errs []error
	for _, m := range infos {
		if err := unix.Unmount(m.Mountpoint, unix.MNT_DETACH); err != nil && !errors.Is(err, unix.EINVAL) && !errors.Is(err, unix.ENOENT) {
			errs = append(errs, fmt.Errorf("unmount %s: %w", m.Mountpoint, err))
		}
	}
	return errors.Join(errs...)
}

// RemoveCgroups removes the cgroup root of an agent (see
// Config.CgroupRoot) with every cgroup below it, deepest first, in every
// hierarchy: pod cgroups, and container cgroups runc left. A cgroup that
// still has processes stays (rmdir refuses it) and is reported.
func RemoveCgroups(root string) error {
	if !path.IsAbs(root) || path.Clean(root) == "/" {
		return fmt.Errorf("remove cgroups: cgroup root %q: must be an absolute path below /", root)
	}
	return hostCgroups().removeTree(path.Clean(root))
}
