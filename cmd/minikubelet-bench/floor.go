package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sync"
	"syscall"

	"github.com/containerd/containerd"
	"github.com/containerd/containerd/api/types/runc/options"
	"github.com/containerd/containerd/cio"
	"github.com/containerd/containerd/namespaces"
	"github.com/containerd/containerd/oci"
	"github.com/containernetworking/cni/libcni"
	"github.com/containernetworking/cni/pkg/invoke"
	"github.com/containernetworking/cni/pkg/version"
	specs "github.com/opencontainers/runtime-spec/specs-go"

	"github.com/minikubelet/minikubelet/netns"
	pauseimage "github.com/minikubelet/minikubelet/pause/image"
	"github.com/minikubelet/minikubelet/runtime"
)

// groupAnnotation makes the runc v2 shim serve every container of a pod
// from one process: the shim looks for this spec annotation (or
// io.kubernetes.cri.sandbox-id, which containerd's CRI sets) and reuses the
// shim of the group it names.
const groupAnnotation = "io.containerd.runc.v2.group"

// floor runs pods with nothing but the containerd client and libcni: the
// least work that gets a pod's app container running on this machine, and
// so the yardstick for the agent's figures. It does what the agent does in
// the same order (network namespace, CNI ADD of loopback and the pod
// network, pause container and task, init containers one after the other,
// the app container with its output in a log file) and nothing else: no
// pod files, no /dev/shm, no labels to read back, no status.
type floor struct {
	client   *containerd.Client
	ns       string
	dir      string // netns, logs, runc state, CNI state
	cni      *libcni.CNIConfig
	podNet   *libcni.NetworkConfigList
	loopback *libcni.NetworkConfigList
	pause    containerd.Image
	busybox  containerd.Image
}

// podNetConflist is the agent's pod network, plugin for plugin
// (netns/conflist.go), on n's bridge and subnet, with its IPAM state in
// ipamDir.
func podNetConflist(name string, n netSpec, ipamDir string) []byte {
	return fmt.Appendf(nil, `{"cniVersion":"1.0.0","name":%q,"plugins":[
		{"type":"bridge","bridge":%q,"isGateway":true,"ipMasq":false,"hairpinMode":true,
		 "ipam":{"type":"host-local","ranges":[[{"subnet":%q}]],"routes":[{"dst":"0.0.0.0/0"}],"dataDir":%q}},
		{"type":"portmap","capabilities":{"portMappings":true}}]}`,
		name, n.Bridge, n.Subnet, ipamDir)
}

// newFloor prepares the floor's namespace, images and CNI networks.
func newFloor(ctx context.Context, w *world, n netSpec, cniBinDirs []string) (*floor, error) {
	if err := w.importImages(ctx, n.Namespace); err != nil {
		return nil, err
	}
	f := &floor{client: w.client, ns: n.Namespace, dir: filepath.Join(w.root, "floor")}
	ctx = f.ctx(ctx)
	var err error
	if f.pause, err = w.client.GetImage(ctx, pauseimage.Ref); err != nil {
		return nil, err
	}
	if f.busybox, err = w.client.GetImage(ctx, busyboxRef); err != nil {
		return nil, err
	}
	if f.podNet, err = libcni.ConfListFromBytes(podNetConflist(n.Namespace, n, filepath.Join(f.dir, "ipam"))); err != nil {
		return nil, err
	}
	if f.loopback, err = libcni.ConfListFromBytes([]byte(`{"cniVersion":"1.0.0","name":"cni-loopback","plugins":[{"type":"loopback"}]}`)); err != nil {
		return nil, err
	}
	exec := &invoke.DefaultExec{RawExec: &invoke.RawExec{Stderr: io.Discard}, PluginDecoder: version.PluginDecoder{}}
	f.cni = libcni.NewCNIConfigWithCacheDir(cniBinDirs, filepath.Join(f.dir, "cache"), exec)
	for _, d := range []string{"netns", "logs", "runc"} {
		if err := os.MkdirAll(filepath.Join(f.dir, d), 0o755); err != nil {
			return nil, err
		}
	}
	return f, nil
}

func (f *floor) ctx(ctx context.Context) context.Context {
	return namespaces.WithNamespace(ctx, f.ns)
}

// floorPod is one pod the floor started.
type floorPod struct {
	f     *floor
	id    string
	netns *netns.NetNS
	wired bool                   // CNI ADD done
	tasks []containerd.Task      // running tasks, pause first
	ctrs  []containerd.Container // every container, pause first
	bg    sync.WaitGroup         // deletes of finished init tasks
	AppID string                 // the (first) app container's ID
}

// floorSpec is what a floor pod runs.
type floorSpec struct {
	Inits int      // init containers running `true`, one after the other
	App   []string // the app containers' command
	Apps  int      // app containers (default 1)
	// Group puts all of the pod's containers in one shim.
	Group bool
}

// run starts a pod and returns once its app task is running. On error the
// pod is removed.
func (f *floor) run(ctx context.Context, spec floorSpec) (_ *floorPod, retErr error) {
	ctx = f.ctx(ctx)
	p := &floorPod{f: f, id: randHex(16)}
	defer func() {
		if retErr != nil {
			retErr = errors.Join(retErr, p.remove(context.WithoutCancel(ctx)))
		}
	}()
	var err error
	if p.netns, err = netns.New(filepath.Join(f.dir, "netns")); err != nil {
		return nil, err
	}
	p.wired = true // a failed ADD is undone by DEL like a good one
	if _, err := f.cni.AddNetworkList(ctx, f.loopback, p.rt("lo")); err != nil {
		return nil, fmt.Errorf("CNI ADD loopback: %w", err)
	}
	if _, err := f.cni.AddNetworkList(ctx, f.podNet, p.rt("eth0")); err != nil {
		return nil, fmt.Errorf("CNI ADD: %w", err)
	}

	group := oci.WithAnnotations(nil)
	if spec.Group {
		group = oci.WithAnnotations(map[string]string{groupAnnotation: p.id})
	}
	pause, err := p.start(ctx, p.id, f.pause, cio.NullIO, false,
		oci.WithImageConfig(f.pause),
		oci.WithLinuxNamespace(specs.LinuxNamespace{Type: specs.NetworkNamespace, Path: p.netns.Path()}),
		group)
	if err != nil {
		return nil, fmt.Errorf("pause: %w", err)
	}
	joinPod := oci.Compose(
		oci.WithLinuxNamespace(specs.LinuxNamespace{Type: specs.NetworkNamespace, Path: fmt.Sprintf("/proc/%d/ns/net", pause.Pid())}),
		oci.WithLinuxNamespace(specs.LinuxNamespace{Type: specs.IPCNamespace, Path: fmt.Sprintf("/proc/%d/ns/ipc", pause.Pid())}),
		oci.WithLinuxNamespace(specs.LinuxNamespace{Type: specs.UTSNamespace, Path: fmt.Sprintf("/proc/%d/ns/uts", pause.Pid())}),
		group,
	)
	for i := range spec.Inits {
		id := fmt.Sprintf("%s-init%d", p.id, i)
		if _, err := p.start(ctx, id, f.busybox, p.logTo(id), true,
			oci.WithImageConfig(f.busybox), oci.WithProcessArgs("true"), joinPod); err != nil {
			return nil, fmt.Errorf("init container %d: %w", i, err)
		}
	}
	p.AppID = p.id + "-app"
	for i := range max(spec.Apps, 1) {
		id := p.AppID
		if i > 0 {
			id = fmt.Sprintf("%s%d", p.AppID, i+1)
		}
		if _, err := p.start(ctx, id, f.busybox, p.logTo(id), false,
			oci.WithImageConfig(f.busybox), oci.WithProcessArgs(spec.App...), joinPod); err != nil {
			return nil, fmt.Errorf("app container %d: %w", i+1, err)
		}
	}
	return p, nil
}

// appPIDs are the PIDs of the app containers' processes.
func (p *floorPod) appPIDs() []uint32 {
	var pids []uint32
	for _, t := range p.tasks[1:] { // pause first
		pids = append(pids, t.Pid())
	}
	return pids
}

func (p *floorPod) rt(ifName string) *libcni.RuntimeConf {
	return &libcni.RuntimeConf{ContainerID: p.id, NetNS: p.netns.Path(), IfName: ifName,
		Args: [][2]string{{"IgnoreUnknown", "1"}, {"K8S_POD_NAMESPACE", "default"}, {"K8S_POD_NAME", p.id}, {"K8S_POD_INFRA_CONTAINER_ID", p.id}}}
}

func (p *floorPod) logTo(id string) cio.Creator {
	return cio.LogFile(filepath.Join(p.f.dir, "logs", id+".log"))
}

// start creates a container and starts its task. With waitExit it waits
// for the task to exit (an init container) and deletes the task in the
// background, as the agent deletes a finished task's shim off the critical
// path.
func (p *floorPod) start(ctx context.Context, id string, img containerd.Image, io cio.Creator, waitExit bool, opts ...oci.SpecOpts) (containerd.Task, error) {
	runc := &options.Options{Root: filepath.Join(p.f.dir, "runc")}
	opts = append(opts, oci.WithCgroup("/minikubelet/"+p.f.ns+"/"+id))
	c, err := p.f.client.NewContainer(ctx, id,
		containerd.WithImage(img),
		containerd.WithNewSnapshot(id, img),
		containerd.WithRuntime("io.containerd.runc.v2", runc),
		containerd.WithNewSpec(opts...),
		containerd.WithContainerLabels(map[string]string{runtime.LabelPodName: p.id}),
	)
	if err != nil {
		return nil, err
	}
	p.ctrs = append(p.ctrs, c)
	task, err := c.NewTask(ctx, io, func(_ context.Context, _ *containerd.Client, ti *containerd.TaskInfo) error {
		ti.Options = runc
		return nil
	})
	if err != nil {
		return nil, err
	}
	var exited <-chan containerd.ExitStatus
	if waitExit {
		if exited, err = task.Wait(ctx); err != nil {
			return nil, err
		}
	}
	if err := task.Start(ctx); err != nil {
		_, _ = task.Delete(ctx, containerd.WithProcessKill)
		return nil, err
	}
	if !waitExit {
		p.tasks = append(p.tasks, task)
		return task, nil
	}
	select {
	case st := <-exited:
		if st.ExitCode() != 0 {
			return nil, fmt.Errorf("exited with %d", st.ExitCode())
		}
	case <-ctx.Done():
		return nil, ctx.Err()
	}
	p.bg.Add(1)
	go func() {
		defer p.bg.Done()
		_, _ = task.Delete(context.WithoutCancel(ctx))
	}()
	return task, nil
}

// remove kills and deletes everything of the pod: tasks (SIGKILL, no
// grace: the floor's stop is the fastest one), containers and their
// snapshots, CNI DEL, the network namespace.
func (p *floorPod) remove(ctx context.Context) error {
	ctx = p.f.ctx(ctx)
	p.bg.Wait()
	var errs []error
	for i := len(p.tasks) - 1; i >= 0; i-- {
		t := p.tasks[i]
		exited, err := t.Wait(ctx)
		if err == nil {
			if err := t.Kill(ctx, syscall.SIGKILL); err == nil {
				<-exited
			}
		}
		if _, err := t.Delete(ctx, containerd.WithProcessKill); err != nil && !isNotFound(err) {
			errs = append(errs, err)
		}
	}
	for i := len(p.ctrs) - 1; i >= 0; i-- {
		if err := p.ctrs[i].Delete(ctx, containerd.WithSnapshotCleanup); err != nil && !isNotFound(err) {
			errs = append(errs, err)
		}
	}
	if p.wired {
		errs = append(errs,
			p.f.cni.DelNetworkList(ctx, p.f.podNet, p.rt("eth0")),
			p.f.cni.DelNetworkList(ctx, p.f.loopback, p.rt("lo")))
	}
	if p.netns != nil {
		errs = append(errs, p.netns.Remove())
	}
	for _, c := range p.ctrs {
		_ = os.Remove(filepath.Join(p.f.dir, "logs", c.ID()+".log"))
	}
	return errors.Join(errs...)
}
