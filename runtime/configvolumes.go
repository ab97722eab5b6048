package runtime

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"sort"
	"strings"

	v1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"

	"github.com/minikubelet/minikubelet/internal/atomicdir"
)

// ConfigMap, Secret, downwardAPI and projected volumes are files the agent
// writes into the pod's dir (with the atomic writer's layout, see
// internal/atomicdir) before its containers start, and again at every sync,
// so a changed ConfigMap or Secret shows in running containers' mounts, as
// the kubelet's volume manager does. Secret, downwardAPI and projected
// volumes are on tmpfs, as upstream wraps them in a memory emptyDir.

// MountError is a volume that could not be set up: the kubelet's
// FailedMount, e.g. `MountVolume.SetUp failed for volume "cfg" : configmap
// "x" not found`. The pod's containers wait (ContainerCreating) until it
// can be.
type MountError struct {
	Volume string
	Err    error
}

func (e *MountError) Error() string {
	return fmt.Sprintf("MountVolume.SetUp failed for volume %q : %v", e.Volume, e.Err)
}

func (e *MountError) Unwrap() error { return e.Err }

// projectedKind names the directory of a volume the agent writes, "" for
// the other kinds; memory says whether it is on tmpfs.
func projectedKind(src *v1.VolumeSource) (kind string, memory bool) {
	switch {
	case src.ConfigMap != nil:
		return "configmap", false
	case src.Secret != nil:
		return "secret", true
	case src.DownwardAPI != nil:
		return "downward-api", true
	case src.Projected != nil:
		return "projected", true
	}
	return "", false
}

func (p podLayout) projectedVolume(kind, name string) string {
	return filepath.Join(p.dir, "volumes", kind, name)
}

// PrepareVolumes writes the pod's configMap, secret, downwardAPI and
// projected volumes from the current ConfigMaps and Secrets. What did not
// change is not rewritten. The first volume that cannot be set up is
// returned as a *MountError; the others are still written.
func (c *Containerd) PrepareVolumes(_ context.Context, pod *v1.Pod) error {
	layout := c.podLayout(pod.UID)
	ec := c.envContext(nil)
	fsGroup := podFSGroup(pod)
	var first error
	for i := range pod.Spec.Volumes {
		vol := &pod.Spec.Volumes[i]
		kind, memory := projectedKind(&vol.VolumeSource)
		if kind == "" {
			continue
		}
		err := c.writeVolume(layout.projectedVolume(kind, vol.Name), pod, vol, memory, fsGroup, ec)
		if err != nil && first == nil {
			first = &MountError{Volume: vol.Name, Err: err}
		}
	}
	return first
}

func (c *Containerd) writeVolume(dir string, pod *v1.Pod, vol *v1.Volume, memory bool, fsGroup *int64, ec envContext) error {
	files, err := volumeFiles(pod, &vol.VolumeSource, ec)
	if err != nil {
		return err
	}
	if memory {
		if c.volumes.mountTmpfs == nil {
			return errors.New("memory-backed volumes are not available")
		}
		if err := os.MkdirAll(dir, 0o755); err != nil {
			return err
		}
		if err := c.volumes.mountTmpfs(dir, 0); err != nil {
			return err
		}
	}
	if fsGroup != nil {
		// The kubelet gives the files to fsGroup, group-readable
		// (SetVolumeOwnership of a read-only volume); set the bits here so
		// that an unchanged volume compares equal and is not rewritten.
		for p, f := range files {
			f.Mode |= fsGroupROMask
			files[p] = f
		}
	}
	_, err = atomicdir.Write(dir, files, func(tsDir string) error {
		if err := setVolumeOwnership(dir, fsGroup, true); err != nil {
			return err
		}
		return setVolumeOwnership(tsDir, fsGroup, true)
	})
	return err
}

// volumeFiles is what a volume holds (the payloads of the kubelet's
// configmap, secret, downwardapi and projected volume plugins).
func volumeFiles(pod *v1.Pod, src *v1.VolumeSource, ec envContext) (map[string]atomicdir.File, error) {
	files := map[string]atomicdir.File{}
	switch {
	case src.ConfigMap != nil:
		s := src.ConfigMap
		return files, configMapFiles(pod.Namespace, s.Name, s.Items, modeOf(s.DefaultMode, v1.ConfigMapVolumeSourceDefaultMode), s.Optional, ec, files)
	case src.Secret != nil:
		s := src.Secret
		return files, secretFiles(pod.Namespace, s.SecretName, s.Items, modeOf(s.DefaultMode, v1.SecretVolumeSourceDefaultMode), s.Optional, ec, files)
	case src.DownwardAPI != nil:
		s := src.DownwardAPI
		return files, downwardAPIFiles(pod, s.Items, modeOf(s.DefaultMode, v1.DownwardAPIVolumeSourceDefaultMode), ec, files)
	case src.Projected != nil:
		mode := modeOf(src.Projected.DefaultMode, v1.ProjectedVolumeSourceDefaultMode)
		var errs []error
		for _, s := range src.Projected.Sources {
			switch {
			case s.ConfigMap != nil:
				errs = append(errs, configMapFiles(pod.Namespace, s.ConfigMap.Name, s.ConfigMap.Items, mode, s.ConfigMap.Optional, ec, files))
			case s.Secret != nil:
				errs = append(errs, secretFiles(pod.Namespace, s.Secret.Name, s.Secret.Items, mode, s.Secret.Optional, ec, files))
			case s.DownwardAPI != nil:
				errs = append(errs, downwardAPIFiles(pod, s.DownwardAPI.Items, mode, ec, files))
			default:
				errs = append(errs, errors.New("projected source not supported by minikubelet"))
			}
		}
		return files, errors.Join(errs...)
	}
	return nil, errors.New("not a configMap, secret, downwardAPI or projected volume")
}

func modeOf(mode *int32, def int32) fs.FileMode {
	if mode != nil {
		return fs.FileMode(*mode)
	}
	return fs.FileMode(def)
}

func isTrue(b *bool) bool { return b != nil && *b }

func configMapFiles(ns, name string, items []v1.KeyToPath, mode fs.FileMode, optional *bool, ec envContext, out map[string]atomicdir.File) error {
	cm, ok := ec.configMap(ns, name)
	if !ok {
		return optionalOr(optional, notFound("configmap", name))
	}
	data := make(map[string][]byte, len(cm.Data)+len(cm.BinaryData))
	for k, v := range cm.Data {
		data[k] = []byte(v)
	}
	for k, v := range cm.BinaryData {
		data[k] = v
	}
	return projectKeys(data, items, mode, isTrue(optional), "configmap references non-existent config key: %s", out)
}

func secretFiles(ns, name string, items []v1.KeyToPath, mode fs.FileMode, optional *bool, ec envContext, out map[string]atomicdir.File) error {
	sec, ok := ec.secret(ns, name)
	if !ok {
		return optionalOr(optional, notFound("secret", name))
	}
	return projectKeys(sec.Data, items, mode, isTrue(optional), "references non-existent secret key: %s", out)
}

// projectKeys is the kubelet's MakePayload: every key as a file of its
// name, or only the items, each at its path with its own mode if set. A
// missing item key is an error unless the source is optional.
func projectKeys(data map[string][]byte, items []v1.KeyToPath, mode fs.FileMode, optional bool, missing string, out map[string]atomicdir.File) error {
	if len(items) == 0 {
		for k, v := range data {
			out[k] = atomicdir.File{Data: v, Mode: mode}
		}
		return nil
	}
	for _, it := range items {
		v, ok := data[it.Key]
		if !ok {
			if optional {
				continue
			}
			return fmt.Errorf(missing, it.Key)
		}
		out[it.Path] = atomicdir.File{Data: v, Mode: modeOf(it.Mode, int32(mode))}
	}
	return nil
}

// downwardAPIFiles is the downwardAPI volume plugin's CollectData.
func downwardAPIFiles(pod *v1.Pod, items []v1.DownwardAPIVolumeFile, mode fs.FileMode, ec envContext, out map[string]atomicdir.File) error {
	var errs []error
	for _, it := range items {
		var (
			v   string
			err error
		)
		switch {
		case it.FieldRef != nil:
			v, err = volumeFieldValue(pod, it.FieldRef.FieldPath, ec)
		case it.ResourceFieldRef != nil:
			v, err = containerResourceValue(pod, it.ResourceFieldRef, ec)
		}
		if err != nil {
			errs = append(errs, err)
			continue
		}
		out[path.Clean(it.Path)] = atomicdir.File{Data: []byte(v), Mode: modeOf(it.Mode, int32(mode))}
	}
	return errors.Join(errs...)
}

// volumeFieldValue is a pod field as a downwardAPI volume file: the env
// fields, plus all labels or annotations, one key="value" a line, sorted.
func volumeFieldValue(pod *v1.Pod, fieldPath string, ec envContext) (string, error) {
	switch fieldPath {
	case "metadata.labels":
		return formatMap(pod.Labels), nil
	case "metadata.annotations":
		return formatMap(pod.Annotations), nil
	}
	return podFieldValue(pod, fieldPath, ec)
}

// formatMap is the kubelet's fieldpath.FormatMap.
func formatMap(m map[string]string) string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	var b strings.Builder
	for _, k := range keys {
		fmt.Fprintf(&b, "%v=%q\n", k, m[k])
	}
	return strings.TrimSuffix(b.String(), "\n")
}

// containerResourceValue resolves a resourceFieldRef of a volume, which
// names its container.
func containerResourceValue(pod *v1.Pod, ref *v1.ResourceFieldSelector, ec envContext) (string, error) {
	for _, list := range [][]v1.Container{pod.Spec.Containers, pod.Spec.InitContainers} {
		for i := range list {
			if list[i].Name == ref.ContainerName {
				return resourceFieldValue(&list[i], ref, ec)
			}
		}
	}
	return "", fmt.Errorf("container %q not found in the pod", ref.ContainerName)
}

// envContext is what env and volume values resolve against besides the
// pod; podIPs are the sandbox's.
func (c *Containerd) envContext(podIPs []string) envContext {
	return envContext{
		NodeName:   c.cfg.NodeName,
		NodeIP:     c.cfg.NodeIP,
		PodIPs:     podIPs,
		NodeCPU:    *resource.NewQuantity(int64(c.nodeCPUs), resource.DecimalSI),
		NodeMemory: *resource.NewQuantity(c.nodeMemory, resource.BinarySI),
		Objects:    c.cfg.Objects,
	}
}
