package runtime

import (
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"syscall"

	v1 "k8s.io/api/core/v1"
)

// Modes the kubelet adds for fsGroup (pkg/volume volume_linux.go): group
// read-write (read-only for read-only volumes), and on directories group
// search plus setgid, so files created later belong to fsGroup too.
const (
	fsGroupRWMask   = 0o660
	fsGroupROMask   = 0o440
	fsGroupExecMask = 0o110
)

// podFSGroup is the pod's securityContext.fsGroup, nil when unset.
func podFSGroup(pod *v1.Pod) *int64 {
	if pod.Spec.SecurityContext == nil {
		return nil
	}
	return pod.Spec.SecurityContext.FSGroup
}

// setVolumeOwnership gives a volume to fsGroup the way the kubelet's
// SetVolumeOwnership does: every file and directory gets group fsGroup and
// the group bits above; symlinks are re-grouped but not chmod-ed (that
// would change their target). With the root already right (group,
// bits, setgid) nothing is walked: the kubelet changes ownership once,
// when it sets the volume up, not at every container start, and
// fsGroupChangePolicy OnRootMismatch skips on the same test.
func setVolumeOwnership(dir string, fsGroup *int64, readOnly bool) error {
	if fsGroup == nil {
		return nil
	}
	if !ownershipChangeNeeded(dir, *fsGroup, readOnly) {
		return nil
	}
	err := filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		info, err := d.Info()
		if err != nil {
			return err
		}
		return changeFilePermission(path, *fsGroup, readOnly, info)
	})
	if err != nil {
		return fmt.Errorf("set ownership of %s to fsGroup %d: %w", dir, *fsGroup, err)
	}
	return nil
}

func changeFilePermission(path string, fsGroup int64, readOnly bool, info fs.FileInfo) error {
	if err := os.Lchown(path, -1, int(fsGroup)); err != nil {
		return err
	}
	if info.Mode()&os.ModeSymlink != 0 {
		return nil
	}
	mask := os.FileMode(fsGroupRWMask)
	if readOnly {
		mask = fsGroupROMask
	}
	if info.IsDir() {
		mask |= os.ModeSetgid | fsGroupExecMask
	}
	return os.Chmod(path, info.Mode()|mask)
}

// ownershipChangeNeeded is the kubelet's requiresPermissionChange on the
// volume's root.
func ownershipChangeNeeded(root string, fsGroup int64, readOnly bool) bool {
	info, err := os.Stat(root)
	if err != nil {
		return true
	}
	st, ok := info.Sys().(*syscall.Stat_t)
	if !ok || int64(st.Gid) != fsGroup {
		return true
	}
	want := os.FileMode(fsGroupRWMask)
	if readOnly {
		want = fsGroupROMask
	}
	if info.IsDir() {
		want |= fsGroupExecMask
	}
	if info.Mode().Perm()&want != want {
		return true
	}
	return info.IsDir() && info.Mode()&os.ModeSetgid == 0
}
