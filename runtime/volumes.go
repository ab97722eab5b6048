package runtime

import (
	"errors"
	"fmt"
	"io/fs"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	v1 "k8s.io/api/core/v1"

	"github.com/minikubelet/minikubelet/internal/expansion"
)

// podLayout names the files a pod owns under <Root>/pods/<uid>. Everything
// in it outlives containers and sandboxes and is removed by CleanupPod.
type podLayout struct{ dir string }

func (p podLayout) hosts() string      { return filepath.Join(p.dir, "etc-hosts") }
func (p podLayout) hostname() string   { return filepath.Join(p.dir, "hostname") }
func (p podLayout) resolvConf() string { return filepath.Join(p.dir, "resolv.conf") }
func (p podLayout) shm() string        { return filepath.Join(p.dir, "shm") }
func (p podLayout) manifest() string   { return filepath.Join(p.dir, "pod.json") }
func (p podLayout) emptyDir(name string) string {
	return filepath.Join(p.dir, "volumes", "empty-dir", name)
}
func (p podLayout) terminationLogDir(container string) string {
	return filepath.Join(p.dir, "containers", container)
}

// volumeHost performs the side effects of preparing volumes; the tests
// replace mountTmpfs, which needs root.
type volumeHost struct {
	// mountTmpfs mounts a tmpfs of size bytes (0: kernel default) at dir
	// unless one is already mounted there.
	mountTmpfs func(dir string, size int64) error
}

// containerMounts prepares the host side of a container's mounts and returns
// them: its volumeMounts, then the pod files (/etc/hosts, /etc/hostname,
// /etc/resolv.conf, /dev/shm) and the termination log, each unless the
// container mounts something of its own at that path.
func (h volumeHost) containerMounts(layout podLayout, pod *v1.Pod, c *v1.Container, env []string, terminationLog string) ([]specs.Mount, error) {
	var mounts []specs.Mount
	taken := map[string]bool{}
	for _, vm := range c.VolumeMounts {
		m, err := h.volumeMount(layout, pod, vm, env)
		if err != nil {
			return nil, fmt.Errorf("container %q: volumeMount %q at %s: %w", c.Name, vm.Name, vm.MountPath, err)
		}
		mounts = append(mounts, m)
		taken[filepath.Clean(vm.MountPath)] = true
	}
	readOnly := c.SecurityContext != nil && c.SecurityContext.ReadOnlyRootFilesystem != nil && *c.SecurityContext.ReadOnlyRootFilesystem
	termPath := c.TerminationMessagePath
	if termPath == "" {
		termPath = v1.TerminationMessagePathDefault
	}
	for _, f := range []struct {
		src, dst string
		ro       bool
	}{
		{layout.hosts(), "/etc/hosts", false},
		{layout.hostname(), "/etc/hostname", readOnly},
		{layout.resolvConf(), "/etc/resolv.conf", readOnly},
		{layout.shm(), "/dev/shm", false},
		{terminationLog, termPath, false},
	} {
		if f.src == "" || taken[filepath.Clean(f.dst)] {
			continue
		}
		mounts = append(mounts, bindMount(f.src, f.dst, f.ro))
	}
	return mounts, nil
}

// volumeMount resolves one volumeMount to a bind mount.
func (h volumeHost) volumeMount(layout podLayout, pod *v1.Pod, vm v1.VolumeMount, env []string) (specs.Mount, error) {
	var vol *v1.Volume
	for i := range pod.Spec.Volumes {
		if pod.Spec.Volumes[i].Name == vm.Name {
			vol = &pod.Spec.Volumes[i]
		}
	}
	if vol == nil {
		return specs.Mount{}, fmt.Errorf("no volume named %q in the pod", vm.Name)
	}
	if !filepath.IsAbs(vm.MountPath) {
		return specs.Mount{}, fmt.Errorf("mountPath must be absolute")
	}
	var src string
	readOnly := vm.ReadOnly
	switch kind, _ := projectedKind(&vol.VolumeSource); {
	case kind != "":
		// Written by PrepareVolumes before the containers start; always
		// read-only, as the kubelet mounts them.
		src, readOnly = layout.projectedVolume(kind, vol.Name), true
		if _, err := os.Stat(src); err != nil {
			return specs.Mount{}, fmt.Errorf("volume %q is not set up: %w", vol.Name, err)
		}
	case vol.EmptyDir != nil:
		dir, err := h.emptyDir(layout, vol)
		if err != nil {
			return specs.Mount{}, err
		}
		if err := setVolumeOwnership(dir, podFSGroup(pod), false); err != nil {
			return specs.Mount{}, err
		}
		src = dir
	case vol.HostPath != nil:
		if err := checkHostPath(vol.HostPath); err != nil {
			return specs.Mount{}, err
		}
		src = vol.HostPath.Path
	default:
		return specs.Mount{}, fmt.Errorf("volume %q: type not supported", vol.Name)
	}
	sub := vm.SubPath
	if vm.SubPathExpr != "" {
		var err error
		if sub, err = expandSubPath(vm.SubPathExpr, env); err != nil {
			return specs.Mount{}, &ConfigError{Err: err}
		}
	}
	if sub != "" {
		if err := checkSubPath(sub); err != nil {
			return specs.Mount{}, &ConfigError{Err: err}
		}
		p, err := subPath(src, sub)
		if err != nil {
			return specs.Mount{}, err
		}
		src = p
	}
	return bindMount(src, vm.MountPath, readOnly), nil
}

// emptyDir creates the volume's directory on first use (world-writable, as
// the kubelet makes it) and, for medium Memory, mounts a tmpfs on it. The
// directory lives in the pod dir, so it survives container restarts and
// sandbox re-creation.
func (h volumeHost) emptyDir(layout podLayout, vol *v1.Volume) (string, error) {
	dir := layout.emptyDir(vol.Name)
	_, statErr := os.Stat(dir)
	if err := os.MkdirAll(dir, 0o777); err != nil {
		return "", err
	}
	// MkdirAll is subject to umask; later the mode is the pod's (fsGroup
	// sets setgid, a container may chmod it).
	if errors.Is(statErr, fs.ErrNotExist) {
		if err := os.Chmod(dir, 0o777); err != nil {
			return "", err
		}
	}
	switch vol.EmptyDir.Medium {
	case v1.StorageMediumDefault:
	case v1.StorageMediumMemory:
		var size int64
		if l := vol.EmptyDir.SizeLimit; l != nil {
			size = l.Value()
		}
		if h.mountTmpfs == nil {
			return "", fmt.Errorf("emptyDir %q: medium Memory is not available", vol.Name)
		}
		if err := h.mountTmpfs(dir, size); err != nil {
			return "", fmt.Errorf("emptyDir %q: %w", vol.Name, err)
		}
	default:
		return "", fmt.Errorf("emptyDir %q: medium %q is not supported", vol.Name, vol.EmptyDir.Medium)
	}
	return dir, nil
}

// expandSubPath expands the $(VAR) references of a subPathExpr from the
// container's environment. As in the kubelet (ExpandContainerVolumeMounts),
// a variable that is unset or empty is an error, never an empty segment.
func expandSubPath(expr string, env []string) (string, error) {
	lookup := envLookup(env)
	missing := map[string]bool{}
	sub := expansion.Expand(expr, func(name string) (string, bool) {
		v, ok := lookup(name)
		if !ok || v == "" {
			missing[name] = true
		}
		return v, true
	})
	if len(missing) > 0 {
		return "", fmt.Errorf("missing value for %s", strings.Join(slices.Sorted(maps.Keys(missing)), ", "))
	}
	return sub, nil
}

// checkSubPath applies the kubelet's checks to a subPath, literal or
// expanded (makeMounts), with its messages: relative, and no '..' element.
// Validation refuses such a literal subPath already; an expanded one is
// only known here.
func checkSubPath(sub string) error {
	if filepath.IsAbs(sub) {
		return fmt.Errorf("error SubPath `%s` must not be an absolute path", sub)
	}
	for _, part := range strings.Split(filepath.ToSlash(sub), "/") {
		if part == ".." {
			return fmt.Errorf("unable to provision SubPath `%s`: must not contain '..'", sub)
		}
	}
	return nil
}

// subPath joins a checked sub to the volume root, refusing a symlink that
// leaves the volume, and creates the directory when missing (as the
// kubelet does).
func subPath(root, sub string) (string, error) {
	if err := checkSubPath(sub); err != nil {
		return "", err
	}
	p := filepath.Join(root, sub)
	// A symlink inside the volume could point out of it.
	if resolved, err := filepath.EvalSymlinks(p); err == nil {
		rootResolved, err := filepath.EvalSymlinks(root)
		if err != nil {
			return "", err
		}
		if resolved != rootResolved && !strings.HasPrefix(resolved, rootResolved+string(filepath.Separator)) {
			return "", fmt.Errorf("subPath %q resolves outside the volume", sub)
		}
		return resolved, nil
	}
	if err := os.MkdirAll(p, 0o755); err != nil {
		return "", err
	}
	return p, nil
}

// checkHostPath applies hostPath.type (kubelet pkg/volume/hostpath). Without
// a type a missing path is created as a directory, as containerd does.
func checkHostPath(hp *v1.HostPathVolumeSource) error {
	path := hp.Path
	if !filepath.IsAbs(path) {
		return fmt.Errorf("hostPath %q must be absolute", path)
	}
	typ := v1.HostPathUnset
	if hp.Type != nil {
		typ = *hp.Type
	}
	st, err := os.Stat(path)
	exists := err == nil
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("hostPath %q: %w", path, err)
	}
	failed := func(what string) error {
		return fmt.Errorf("hostPath type check failed: %s is not a %s", path, what)
	}
	switch typ {
	case v1.HostPathUnset:
		if !exists {
			return os.MkdirAll(path, 0o755)
		}
	case v1.HostPathDirectoryOrCreate:
		if !exists {
			return os.MkdirAll(path, 0o755)
		}
		if !st.IsDir() {
			return failed("directory")
		}
	case v1.HostPathDirectory:
		if !exists || !st.IsDir() {
			return failed("directory")
		}
	case v1.HostPathFileOrCreate:
		if !exists {
			f, err := os.OpenFile(path, os.O_CREATE|os.O_WRONLY, 0o644)
			if err != nil {
				return fmt.Errorf("hostPath %q: create file: %w", path, err)
			}
			return f.Close()
		}
		if !st.Mode().IsRegular() {
			return failed("file")
		}
	case v1.HostPathFile:
		if !exists || !st.Mode().IsRegular() {
			return failed("file")
		}
	case v1.HostPathSocket:
		if !exists || st.Mode()&fs.ModeSocket == 0 {
			return failed("socket")
		}
	case v1.HostPathCharDev:
		if !exists || st.Mode()&fs.ModeCharDevice == 0 {
			return failed("character device")
		}
	case v1.HostPathBlockDev:
		if !exists || st.Mode()&fs.ModeDevice == 0 || st.Mode()&fs.ModeCharDevice != 0 {
			return failed("block device")
		}
	default:
		return fmt.Errorf("hostPath %q: unknown type %q", path, typ)
	}
	return nil
}
