package runtime

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/containerd/containerd"
	"github.com/containerd/containerd/cio"
	"github.com/containerd/containerd/oci"
	specs "github.com/opencontainers/runtime-spec/specs-go"
	"go.uber.org/zap"
	v1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/types"

	"github.com/minikubelet/minikubelet/netns"
)

// sandboxOOMScoreAdj is what containerd gives pause processes; it is raised
// to the agent's own value when that is higher (see withOOMScoreAdj).
const sandboxOOMScoreAdj = -998

// shmSize is the size of a pod's /dev/shm, as in containerd and Docker.
const shmSize = 64 << 20

// RunSandbox creates the pod's sandbox: pod files (hostname, resolv.conf,
// hosts, /dev/shm), a network namespace configured by CNI, and the pause
// task in it. On failure everything this call created is undone; the pod
// directory is kept when it already existed (it holds emptyDir data).
func (c *Containerd) RunSandbox(ctx context.Context, pod *v1.Pod, attempt uint32) (_ Sandbox, retErr error) {
	ctx = c.ns(ctx)
	ref := pod.Namespace + "/" + pod.Name
	if pod.UID == "" {
		return Sandbox{}, fmt.Errorf("run sandbox of pod %s: the pod has no UID", ref)
	}
	if err := sandboxUserError(pod); err != nil {
		return Sandbox{}, fmt.Errorf("run sandbox of pod %s: %w", ref, err)
	}
	if c.cfg.Network == nil && !pod.Spec.HostNetwork {
		return Sandbox{}, fmt.Errorf("run sandbox of pod %s: no pod network configured", ref)
	}
	if pod.Spec.HostNetwork && c.cfg.NodeIP == "" {
		return Sandbox{}, fmt.Errorf("run sandbox of pod %s: hostNetwork: the node has no IP address to give the pod", ref)
	}
	hostname, domain, err := podHostname(pod, c.cfg.ClusterDomain)
	if err != nil {
		return Sandbox{}, fmt.Errorf("run sandbox: %w", err)
	}
	uts, err := utsHostname(pod, hostname, domain)
	if err != nil {
		return Sandbox{}, fmt.Errorf("run sandbox: %w", err)
	}
	if pod.Spec.HostNetwork {
		if uts, err = nodeHostname(); err != nil {
			return Sandbox{}, fmt.Errorf("run sandbox of pod %s: %w", ref, err)
		}
	}
	hostDNS, err := c.hostDNS()
	if err != nil {
		return Sandbox{}, fmt.Errorf("run sandbox of pod %s: %w", ref, err)
	}
	dns, fellBack, err := podDNS(pod, dnsSettings{ClusterDNS: c.cfg.ClusterDNS, ClusterDomain: c.cfg.ClusterDomain, Host: hostDNS})
	if err != nil {
		return Sandbox{}, fmt.Errorf("run sandbox: %w", err)
	}
	if fellBack {
		c.log.Warn(`no cluster DNS configured: pod with dnsPolicy "ClusterFirst" falls back to "Default" (the node's resolver)`,
			zap.String("pod", ref))
	}
	pause, err := c.getImageForSandbox(ctx)
	if err != nil {
		return Sandbox{}, fmt.Errorf("run sandbox of pod %s: %w", ref, err)
	}
	// The pod cgroup outlives sandboxes, as the kubelet's: CleanupPod
	// removes it with the pod.
	if err := c.cgroups.ensurePod(podCgroupPath(c.cfg.CgroupRoot, pod), podCgroupResources(pod)); err != nil {
		return Sandbox{}, fmt.Errorf("run sandbox of pod %s: %w", ref, err)
	}
	if err := c.burstable.set(c.cgroups, c.cfg.CgroupRoot, pod.UID, pod); err != nil {
		// As the kubelet: the pod runs; the class's shares wait for the
		// next pod cgroup.
		c.log.Warn("QoS cgroup's CPU shares not written", zap.String("pod", ref), zap.Error(err))
	}
	id := newID()
	log := c.log.With(zap.String("pod", ref), zap.String("sandbox", id))

	// Pod directory and files.
	layout := c.podLayout(pod.UID)
	_, statErr := os.Stat(layout.dir)
	createdDir := errors.Is(statErr, os.ErrNotExist)
	if err := os.MkdirAll(layout.dir, 0o750); err != nil {
		return Sandbox{}, fmt.Errorf("run sandbox of pod %s: %w", ref, err)
	}
	defer func() {
		if retErr != nil && createdDir {
			if err := c.removePodDir(layout); err != nil {
				retErr = errors.Join(retErr, err)
			}
		}
	}()
	if err := writePodManifest(layout, pod); err != nil {
		return Sandbox{}, fmt.Errorf("run sandbox of pod %s: %w", ref, err)
	}
	for path, data := range map[string][]byte{
		layout.hostname():   []byte(uts + "\n"),
		layout.resolvConf(): resolvConfContent(dns),
	} {
		if err := writeFileAtomic(path, data, 0o644); err != nil {
			return Sandbox{}, fmt.Errorf("run sandbox of pod %s: %w", ref, err)
		}
	}
	if err := os.MkdirAll(layout.shm(), 0o755); err != nil {
		return Sandbox{}, fmt.Errorf("run sandbox of pod %s: %w", ref, err)
	}
	if !pod.Spec.HostIPC {
		if err := mountTmpfsWith(layout.shm(), "mode=1777,size="+strconv.Itoa(shmSize)); err != nil {
			return Sandbox{}, fmt.Errorf("run sandbox of pod %s: mount /dev/shm: %w", ref, err)
		}
	}

	// Network namespace and CNI; a hostNetwork pod has the node's network
	// and its IP, and a copy of the node's hosts file.
	var netnsPath string
	ips := []string{c.cfg.NodeIP}
	portsJSON := []byte("null")
	var hosts []byte
	if pod.Spec.HostNetwork {
		node, err := os.ReadFile(hostsPath)
		if err != nil {
			return Sandbox{}, fmt.Errorf("run sandbox of pod %s: %w", ref, err)
		}
		hosts = hostNetworkHostsContent(node, pod.Spec.HostAliases)
	} else {
		ns, err := netns.New(c.cfg.NetNSDir)
		if err != nil {
			return Sandbox{}, fmt.Errorf("run sandbox of pod %s: %w", ref, err)
		}
		defer func() {
			if retErr != nil {
				if err := ns.Remove(); err != nil {
					retErr = errors.Join(retErr, fmt.Errorf("remove netns %s: %w", ns.Path(), err))
				}
			}
		}()
		meta := netns.PodMeta{Namespace: pod.Namespace, Name: pod.Name, UID: string(pod.UID), SandboxID: id, PortMappings: portMappings(pod)}
		if portsJSON, err = json.Marshal(meta.PortMappings); err != nil {
			return Sandbox{}, fmt.Errorf("run sandbox of pod %s: %w", ref, err)
		}
		// Until the pause container records the network, a file does: an
		// agent killed in between leaves no netns, veth or IP lease that the
		// next one cannot find (removeOrphanNetworks).
		if err := c.writeNetworkIntent(ns.Path(), meta); err != nil {
			return Sandbox{}, fmt.Errorf("run sandbox of pod %s: %w", ref, err)
		}
		defer func() {
			if retErr != nil {
				c.removeNetworkIntent(id)
			}
		}()
		nctx, cancel := context.WithTimeout(ctx, c.cfg.NetworkTimeout)
		res, err := c.cfg.Network.Setup(nctx, ns.Path(), meta)
		timedOut := nctx.Err() == context.DeadlineExceeded && ctx.Err() == nil
		cancel()
		if err != nil {
			if timedOut { // the plugin was killed: say why
				err = fmt.Errorf("CNI ADD did not finish within %v: %w", c.cfg.NetworkTimeout, err)
			}
			return Sandbox{}, fmt.Errorf("run sandbox of pod %s: set up network: %w", ref, err)
		}
		defer func() {
			if retErr != nil {
				cctx, cancel := c.cleanupContext(ctx)
				defer cancel()
				if err := c.cfg.Network.Teardown(cctx, ns.Path(), meta); err != nil {
					retErr = errors.Join(retErr, err)
				}
			}
		}()
		ips = nil
		for _, ip := range res.IPs {
			ips = append(ips, ip.String())
		}
		netnsPath = ns.Path()
		hosts = hostsFileContent(hostname, domain, ips, pod.Spec.HostAliases)
	}
	if err := writeFileAtomic(layout.hosts(), hosts, 0o644); err != nil {
		return Sandbox{}, fmt.Errorf("run sandbox of pod %s: %w", ref, err)
	}

	// Pause container and task.
	labels := podLabels(pod)
	labels[LabelKind] = kindSandbox
	labels[LabelSandboxID] = id
	labels[LabelAttempt] = strconv.FormatUint(uint64(attempt), 10)
	labels[LabelNetNS] = netnsPath
	if pod.Spec.HostNetwork {
		labels[LabelHostNetwork] = "true"
	}
	labels[LabelPodIPs] = strings.Join(ips, ",")
	labels[LabelPortMappings] = string(portsJSON)
	labels[LabelImage] = c.cfg.PauseImage
	if len(labels[LabelPortMappings]) > 3500 {
		return Sandbox{}, fmt.Errorf("run sandbox of pod %s: too many host ports", ref)
	}
	specOpts := []oci.SpecOpts{
		oci.WithImageConfig(pause),
		withSandboxUser(pod),
		oci.WithoutRunMount,
		withoutDefaultRlimits,
		oci.WithRootFSReadonly(),
		withSandboxNamespaces(&pod.Spec, netnsPath, uts),
		withPodSysctls(pod),
		withOOMScoreAdj(sandboxOOMScoreAdj, c.ownOOMScoreAdj),
		oci.WithCgroup(c.cgroupsPath(pod, id)),
		withMounts([]specs.Mount{
			bindMount(podShm(&pod.Spec, layout), "/dev/shm", false),
			bindMount(layout.resolvConf(), "/etc/resolv.conf", true),
		}),
		oci.WithAnnotations(map[string]string{"io.kubernetes.cri.container-type": "sandbox"}),
		withShimGroup(id),
	}
	container, err := c.newContainer(ctx, id, pause, specOpts, labels)
	if err != nil {
		return Sandbox{}, fmt.Errorf("run sandbox of pod %s: create pause container %s: %w", ref, id, err)
	}
	c.removeNetworkIntent(id) // the container's labels hold it now
	defer func() {
		if retErr != nil {
			cctx, cancel := c.cleanupContext(ctx)
			defer cancel()
			if err := container.Delete(cctx, containerd.WithSnapshotCleanup); err != nil {
				retErr = errors.Join(retErr, fmt.Errorf("delete pause container %s: %w", id, err))
			}
		}
	}()
	task, err := container.NewTask(ctx, cio.NullIO, c.withRuncOptions)
	if err != nil {
		return Sandbox{}, fmt.Errorf("run sandbox of pod %s: create pause task %s: %w", ref, id, err)
	}
	defer func() {
		if retErr != nil {
			if err := c.deleteTask(ctx, task, containerd.WithProcessKill); err != nil && !isNotFound(err) {
				retErr = errors.Join(retErr, fmt.Errorf("delete pause task %s: %w", id, err))
			}
		}
	}()
	if err := task.Start(ctx); err != nil {
		return Sandbox{}, fmt.Errorf("run sandbox of pod %s: start pause task %s: %w", ref, id, err)
	}
	info, err := container.Info(ctx, containerd.WithoutRefreshedMetadata)
	if err != nil {
		return Sandbox{}, fmt.Errorf("run sandbox of pod %s: %w", ref, err)
	}
	log.Info("sandbox started", zap.Strings("ips", ips), zap.Uint32("attempt", attempt), zap.Uint32("pid", task.Pid()))
	return Sandbox{
		ID:           id,
		PodUID:       pod.UID,
		PodName:      pod.Name,
		PodNamespace: pod.Namespace,
		Attempt:      attempt,
		Ready:        true,
		IPs:          ips,
		NetNSPath:    netnsPath,
		PID:          task.Pid(),
		CreatedAt:    info.CreatedAt,
	}, nil
}

// getImageForSandbox loads the pause image; the agent imports it at start
// (EnsurePauseImage), so a missing one is an error here.
func (c *Containerd) getImageForSandbox(ctx context.Context) (containerd.Image, error) {
	img, _, err := c.getImage(ctx, c.cfg.PauseImage)
	if err != nil {
		return nil, fmt.Errorf("pause image: %w", err)
	}
	return img, nil
}

// podLabels are the labels every container of the pod carries.
func podLabels(pod *v1.Pod) map[string]string {
	return map[string]string{
		LabelPodUID:       string(pod.UID),
		LabelPodName:      pod.Name,
		LabelPodNamespace: pod.Namespace,
	}
}

// portMappings lists the host ports of the pod's app containers (the
// kubelet ignores init containers' ports).
func portMappings(pod *v1.Pod) []netns.PortMapping {
	var out []netns.PortMapping
	for _, c := range pod.Spec.Containers {
		for _, p := range c.Ports {
			if p.HostPort <= 0 {
				continue
			}
			proto := strings.ToLower(string(p.Protocol))
			if proto == "" {
				proto = "tcp"
			}
			out = append(out, netns.PortMapping{HostPort: p.HostPort, ContainerPort: p.ContainerPort, Protocol: proto, HostIP: p.HostIP})
		}
	}
	return out
}

// writePodManifest saves the pod next to its state, so an agent that
// restarts can still terminate a pod whose manifest vanished meanwhile.
func writePodManifest(layout podLayout, pod *v1.Pod) error {
	b, err := json.Marshal(pod)
	if err != nil {
		return err
	}
	return writeFileAtomic(layout.manifest(), b, 0o600)
}

// SavedPod returns the pod as it was when its sandbox was last created; the
// error wraps os.ErrNotExist when none was saved.
func (c *Containerd) SavedPod(_ context.Context, uid types.UID) (*v1.Pod, error) {
	b, err := os.ReadFile(c.podLayout(uid).manifest())
	if err != nil {
		return nil, fmt.Errorf("saved pod %s: %w", uid, err)
	}
	var pod v1.Pod
	if err := json.Unmarshal(b, &pod); err != nil {
		return nil, fmt.Errorf("saved pod %s: %w", uid, err)
	}
	return &pod, nil
}

// writeFileAtomic replaces path with data: readers (containers bind-mount
// these files) never see a half-written file.
//
// A bind mount follows the inode, so files that are already bind-mounted
// into running containers are rewritten in place instead of renamed over.
func writeFileAtomic(path string, data []byte, mode os.FileMode) error {
	if _, err := os.Stat(path); err == nil {
		return os.WriteFile(path, data, mode)
	}
	tmp := path + ".tmp-" + shortID(4)
	if err := os.WriteFile(tmp, data, mode); err != nil {
		return err
	}
	if err := os.Rename(tmp, path); err != nil {
		_ = os.Remove(tmp)
		return err
	}
	return nil
}

// parseTime parses an RFC 3339 label, zero when absent or malformed.
func parseTime(s string) time.Time {
	t, _ := time.Parse(time.RFC3339Nano, s)
	return t
}

// hostDNS reads the node's resolver file each time a sandbox is made, as the
// kubelet does, so that an edit of it reaches new pods.
func (c *Containerd) hostDNS() (dnsConfig, error) {
	if c.cfg.ResolvConf == "" {
		return dnsConfig{}, nil
	}
	f, err := os.Open(c.cfg.ResolvConf)
	if err != nil {
		return dnsConfig{}, fmt.Errorf("node resolver: %w", err)
	}
	defer f.Close()
	cfg, err := parseResolvConf(f)
	if err != nil {
		return dnsConfig{}, fmt.Errorf("node resolver %s: %w", c.cfg.ResolvConf, err)
	}
	return cfg, nil
}
