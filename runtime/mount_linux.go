package runtime

import (
	"errors"
	"fmt"
	"os"
	"sort"
	"strconv"

	"github.com/moby/sys/mountinfo"
	"golang.org/x/sys/unix"
)

// mountTmpfs mounts a tmpfs of size bytes (0: the kernel's default, half of
// RAM) at dir for an emptyDir of medium Memory, unless one is there already.
func mountTmpfs(dir string, size int64) error {
	opts := "mode=0777"
	if size > 0 {
		opts += ",size=" + strconv.FormatInt(size, 10)
	}
	return mountTmpfsWith(dir, opts)
}

// mountTmpfsWith mounts a nosuid,nodev tmpfs at dir with data options,
// unless something is mounted there already (the mount belongs to the pod
// and survives sandbox re-creation and agent restarts).
func mountTmpfsWith(dir, data string) error {
	mounted, err := mountinfo.Mounted(dir)
	if err != nil {
		return fmt.Errorf("check mount %s: %w", dir, err)
	}
	if mounted {
		return nil
	}
	if err := unix.Mount("tmpfs", dir, "tmpfs", unix.MS_NOSUID|unix.MS_NODEV|unix.MS_NOEXEC, data); err != nil {
		return fmt.Errorf("mount tmpfs at %s: %w", dir, err)
	}
	return nil
}

// mountsUnder lists the mount points at or below dir, deepest first.
func mountsUnder(dir string) ([]string, error) {
	infos, err := mountinfo.GetMounts(mountinfo.PrefixFilter(dir))
	if err != nil {
		return nil, fmt.Errorf("list mounts under %s: %w", dir, err)
	}
	var points []string
	for _, m := range infos {
		points = append(points, m.Mountpoint)
	}
	sort.Slice(points, func(i, j int) bool { return len(points[i]) > len(points[j]) })
	return points, nil
}

// unmountAll unmounts everything at or below dir (stacked mounts too).
func unmountAll(dir string) error {
	for range 8 { // a mount point may carry several stacked mounts
		points, err := mountsUnder(dir)
		if err != nil {
			return err
		}
		if len(points) == 0 {
			return nil
		}
		for _, p := range points {
			if err := unix.Unmount(p, 0); err != nil && !errors.Is(err, unix.EINVAL) && !errors.Is(err, unix.ENOENT) {
				if err := unix.Unmount(p, unix.MNT_DETACH); err != nil && !errors.Is(err, unix.EINVAL) {
					return fmt.Errorf("unmount %s: %w", p, err)
				}
			}
		}
	}
	return fmt.Errorf("unmount under %s: mounts keep reappearing", dir)
}

// removePodDir unmounts the pod's shm and memory-backed emptyDirs and then
// removes its directory. It refuses to remove anything while a mount is
// still there: RemoveAll would go into it. Safe to call twice.
func (c *Containerd) removePodDir(layout podLayout) error {
	if _, err := os.Stat(layout.dir); errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err := unmountAll(layout.dir); err != nil {
		return fmt.Errorf("remove pod dir %s: %w", layout.dir, err)
	}
	if points, err := mountsUnder(layout.dir); err != nil || len(points) > 0 {
		return fmt.Errorf("remove pod dir %s: still mounted: %v %v", layout.dir, points, err)
	}
	if err := os.RemoveAll(layout.dir); err != nil {
		return fmt.Errorf("remove pod dir %s: %w", layout.dir, err)
	}
	return nil
}
