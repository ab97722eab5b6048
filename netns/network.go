package netns

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"time"

	"github.com/containernetworking/cni/libcni"
	"github.com/containernetworking/cni/pkg/invoke"
	"github.com/containernetworking/cni/pkg/types"
	current "github.com/containernetworking/cni/pkg/types/100"
	"github.com/containernetworking/cni/pkg/version"
	"github.com/vishvananda/netlink"
	"go.uber.org/zap"
)

// podIfName is the pod's interface on the bridge; its addresses are the pod IPs.
const podIfName = "eth0"

// cleanupTimeout bounds the CNI DEL that undoes a failed Setup; it runs on a
// fresh context because the caller's may be what failed.
const cleanupTimeout = time.Minute

// Config describes the node's pod network.
type Config struct {
	NetworkName string   // CNI network name, e.g. "minikubelet"
	Bridge      string   // Linux bridge name, e.g. "mkbr0" (at most 15 characters)
	Subnet      string   // this node's pod CIDR, e.g. "10.244.0.0/16"
	IPMasq      bool     // masquerade pod traffic leaving the subnet
	BinDirs     []string // CNI plugin search list, e.g. /opt/cni/bin, /usr/lib/cni
	ConfDir     string   // where the agent writes its own conflist (never /etc/cni/net.d)
	DataDir     string   // host-local leases and libcni's result cache live under here
	MTU         int      // 0 = plugin default
}

// PodMeta identifies a pod sandbox to the CNI plugins. SandboxID is the CNI
// container ID: Setup, Check and Teardown of one sandbox must all use it.
type PodMeta struct {
	Namespace, Name, UID, SandboxID string
	PortMappings                    []PortMapping
}

// PortMapping is one container port; only those with HostPort > 0 are
// published (by the portmap plugin).
type PortMapping struct {
	HostPort, ContainerPort int32
	Protocol                string // tcp, udp or sctp; case is folded, empty means tcp
	HostIP                  string
}

// Result is what Setup learned about the pod's network.
type Result struct {
	IPs []net.IP // addresses of eth0, IPv4 first
}

// Network runs CNI for pods on one node network. Its methods are safe for
// concurrent use on different sandboxes (the plugins lock their own state).
type Network struct {
	log      *zap.Logger
	cfg      Config
	cni      *libcni.CNIConfig
	pod      *libcni.NetworkConfigList
	loopback *libcni.NetworkConfigList
}

// NewNetwork checks that the plugins exist, writes the pod network's
// conflist to cfg.ConfDir/10-<name>.conflist (for people and tools to read;
// the agent uses the in-memory copy) and prepares the state directories. It
// creates nothing on the host network: the bridge appears with the first pod.
func NewNetwork(log *zap.Logger, cfg Config) (*Network, error) {
	if err := cfg.validate(); err != nil {
		return nil, fmt.Errorf("CNI config: %w", err)
	}
	for _, p := range requiredPlugins {
		if err := findPlugin(p, cfg.BinDirs); err != nil {
			return nil, err
		}
	}
	podBytes, err := podConflist(cfg)
	if err != nil {
		return nil, err
	}
	loBytes, err := loopbackConflist()
	if err != nil {
		return nil, err
	}
	pod, err := libcni.ConfListFromBytes(podBytes)
	if err != nil {
		return nil, fmt.Errorf("parse CNI network %q: %w", cfg.NetworkName, err)
	}
	loopback, err := libcni.ConfListFromBytes(loBytes)
	if err != nil {
		return nil, fmt.Errorf("parse CNI network %q: %w", loopbackNetworkName, err)
	}
	for _, dir := range []string{cfg.ConfDir, cfg.ipamDir(), cfg.cacheDir()} {
		if err := os.MkdirAll(dir, 0o700); err != nil {
			return nil, fmt.Errorf("create CNI directory %s: %w", dir, err)
		}
	}
	if err := writeFileAtomic(cfg.confFileName(), podBytes); err != nil {
		return nil, fmt.Errorf("write CNI config %s: %w", cfg.confFileName(), err)
	}
	log = log.With(zap.String("network", cfg.NetworkName))
	// An explicit exec: with nil, libcni fills one in lazily on each call,
	// which is a data race between concurrent Setups.
	exec := &invoke.DefaultExec{
		RawExec:       &invoke.RawExec{Stderr: pluginStderr{log}},
		PluginDecoder: version.PluginDecoder{},
	}
	return &Network{
		log:      log,
		cfg:      cfg,
		cni:      libcni.NewCNIConfigWithCacheDir(cfg.BinDirs, cfg.cacheDir(), exec),
		pod:      pod,
		loopback: loopback,
	}, nil
}

// findPlugin reports an error naming the plugin unless an executable file of
// that name is in one of dirs.
func findPlugin(name string, dirs []string) error {
	for _, d := range dirs {
		fi, err := os.Stat(filepath.Join(d, name))
		if err == nil && fi.Mode().IsRegular() && fi.Mode().Perm()&0o111 != 0 {
			return nil
		}
	}
	return fmt.Errorf("CNI plugin %q not found in %s", name, strings.Join(dirs, ":"))
}

// pluginStderr logs what plugins write to stderr (their errors come back on
// stdout and end up in the returned error; stderr is extra diagnostics).
type pluginStderr struct{ log *zap.Logger }

func (w pluginStderr) Write(p []byte) (int, error) {
	if msg := bytes.TrimSpace(p); len(msg) > 0 {
		w.log.Warn("CNI plugin stderr", zap.ByteString("output", msg))
	}
	return len(p), nil
}

func writeFileAtomic(path string, data []byte) error {
	tmp, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".tmp*")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name()) // no-op after a successful rename
	if _, err := tmp.Write(data); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Chmod(0o644); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	return os.Rename(tmp.Name(), path)
}

func (n *Network) runtimeConf(netnsPath, ifName string, meta PodMeta) *libcni.RuntimeConf {
	return &libcni.RuntimeConf{
		ContainerID:    meta.SandboxID,
		NetNS:          netnsPath,
		IfName:         ifName,
		Args:           cniArgs(meta),
		CapabilityArgs: capabilityArgs(meta),
	}
}

func podRef(meta PodMeta) string {
	return meta.Namespace + "/" + meta.Name
}

// Setup attaches the sandbox's namespace: CNI ADD of the loopback network
// (lo), then of the pod network (eth0). If anything fails, what was done is
// undone (CNI DEL) before the error is returned, so no lease or veth leaks.
// Call it once per sandbox: the plugins refuse a second ADD of an attached
// sandbox, and the undo then detaches it.
func (n *Network) Setup(ctx context.Context, netnsPath string, meta PodMeta) (_ Result, retErr error) {
	if meta.SandboxID == "" || netnsPath == "" {
		return Result{}, fmt.Errorf("set up network of pod %s: sandbox ID (%q) and netns path (%q) are required",
			podRef(meta), meta.SandboxID, netnsPath)
	}
	start := time.Now()
	log := n.log.With(zap.String("pod", podRef(meta)), zap.String("sandbox", meta.SandboxID))

	undo := func(list *libcni.NetworkConfigList, ifName string) {
		ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), cleanupTimeout)
		defer cancel()
		if err := n.del(ctx, list, netnsPath, ifName, meta); err != nil {
			log.Error("undo CNI ADD after failed setup", zap.String("interface", ifName), zap.Error(err))
		}
	}

	loRT := n.runtimeConf(netnsPath, "lo", meta)
	if _, err := n.cni.AddNetworkList(ctx, n.loopback, loRT); err != nil {
		undo(n.loopback, "lo")
		return Result{}, fmt.Errorf("set up loopback of pod %s in %s: %w", podRef(meta), netnsPath, err)
	}
	defer func() {
		if retErr != nil {
			undo(n.loopback, "lo")
		}
	}()

	// A failed list ADD may have run some of its plugins (bridge made the
	// veth and took a lease before portmap failed), so undo it as a whole.
	res, err := n.cni.AddNetworkList(ctx, n.pod, n.runtimeConf(netnsPath, podIfName, meta))
	defer func() {
		if retErr != nil {
			undo(n.pod, podIfName)
		}
	}()
	if err != nil {
		return Result{}, fmt.Errorf("set up network %q of pod %s in %s: %w", n.cfg.NetworkName, podRef(meta), netnsPath, err)
	}
	out, err := podResult(res, podIfName)
	if err != nil {
		return Result{}, fmt.Errorf("set up network %q of pod %s: %w", n.cfg.NetworkName, podRef(meta), err)
	}
	log.Debug("pod network set up", zap.Stringers("ips", ipStringers(out.IPs)), zap.Duration("took", time.Since(start)))
	return out, nil
}

// podResult picks the addresses of ifName inside the sandbox from a CNI
// result, IPv4 first (containerd's default preference).
func podResult(r types.Result, ifName string) (Result, error) {
	res, err := current.NewResultFromResult(r)
	if err != nil {
		return Result{}, fmt.Errorf("convert CNI result: %w", err)
	}
	var ips []net.IP
	for _, ipc := range res.IPs {
		if ipc.Interface == nil || *ipc.Interface < 0 || *ipc.Interface >= len(res.Interfaces) {
			continue
		}
		iface := res.Interfaces[*ipc.Interface]
		if iface.Name != ifName || iface.Sandbox == "" {
			continue
		}
		ips = append(ips, ipc.Address.IP)
	}
	if len(ips) == 0 {
		return Result{}, fmt.Errorf("failed to find network info: CNI result has no address on %s", ifName)
	}
	sort.SliceStable(ips, func(i, j int) bool { return ips[i].To4() != nil && ips[j].To4() == nil })
	return Result{IPs: ips}, nil
}

func ipStringers(ips []net.IP) []fmt.Stringer {
	out := make([]fmt.Stringer, len(ips))
	for i, ip := range ips {
		out[i] = ip
	}
	return out
}

// Teardown detaches the sandbox: CNI DEL of the pod network, then of the
// loopback network (the reverse of Setup). It frees the IP lease even when
// the namespace is already gone (then the plugins get an empty CNI_NETNS, as
// the CNI spec allows, and the veth went with the namespace). Port mappings
// are removed as Setup made them, whatever meta.PortMappings says now. Safe
// to call any number of times.
func (n *Network) Teardown(ctx context.Context, netnsPath string, meta PodMeta) error {
	if meta.SandboxID == "" {
		return fmt.Errorf("tear down network of pod %s: sandbox ID is required", podRef(meta))
	}
	start := time.Now()
	path := netnsPath
	gone := path == "" || !Load(path).Exists()
	if gone {
		// A leftover file that is no longer a namespace would make the
		// plugins fail instead of cleaning up.
		path = ""
	}

	var errs []error
	if err := n.del(ctx, n.pod, path, podIfName, meta); err != nil {
		errs = append(errs, fmt.Errorf("tear down network %q of pod %s: %w", n.cfg.NetworkName, podRef(meta), err))
	}
	if gone && n.cfg.IPMasq {
		// Without a namespace the bridge plugin cannot see the pod's
		// address and skips its masquerade rules; remove them by their
		// comment instead.
		if err := removeIPMasqRules(ctx, n.cfg, meta.SandboxID); err != nil {
			errs = append(errs, fmt.Errorf("remove masquerade rules of pod %s: %w", podRef(meta), err))
		}
	}
	if err := n.del(ctx, n.loopback, path, "lo", meta); err != nil {
		errs = append(errs, fmt.Errorf("tear down loopback of pod %s: %w", podRef(meta), err))
	}
	n.log.Debug("pod network torn down", zap.String("pod", podRef(meta)), zap.String("sandbox", meta.SandboxID),
		zap.Bool("netnsGone", gone), zap.Duration("took", time.Since(start)))
	return errors.Join(errs...)
}

// del runs CNI DEL of one network, treating "already gone" as success.
func (n *Network) del(ctx context.Context, list *libcni.NetworkConfigList, netnsPath, ifName string, meta PodMeta) error {
	rt := n.runtimeConf(netnsPath, ifName, meta)
	// DEL must undo what ADD did: prefer the capability args ADD was given
	// (libcni cached them) over the caller's, which after an agent restart
	// may lack the port mappings; portmap removes only the mappings it is
	// told about.
	if _, cached, err := n.cni.GetNetworkListCachedConfig(list, rt); err == nil && cached != nil {
		rt.CapabilityArgs = cached.CapabilityArgs
	}
	err := n.cni.DelNetworkList(ctx, list, rt)
	if err == nil {
		return nil
	}
	// Plugins report these only as text. Like containerd (go-cni), DEL of
	// something already removed is success: "not found" from any plugin, and
	// a missing file when there is no namespace to enter.
	msg := err.Error()
	if strings.Contains(msg, "not found") || (netnsPath == "" && strings.Contains(msg, "no such file or directory")) {
		n.log.Debug("CNI DEL: already gone", zap.String("interface", ifName), zap.String("sandbox", meta.SandboxID), zap.Error(err))
		return nil
	}
	return err
}

// Check runs CNI CHECK of both networks: the plugins verify that the
// interfaces, addresses and routes of Setup's result are still in place.
func (n *Network) Check(ctx context.Context, netnsPath string, meta PodMeta) error {
	if err := n.cni.CheckNetworkList(ctx, n.loopback, n.runtimeConf(netnsPath, "lo", meta)); err != nil {
		return fmt.Errorf("check loopback of pod %s: %w", podRef(meta), err)
	}
	if err := n.cni.CheckNetworkList(ctx, n.pod, n.runtimeConf(netnsPath, podIfName, meta)); err != nil {
		return fmt.Errorf("check network %q of pod %s: %w", n.cfg.NetworkName, podRef(meta), err)
	}
	return nil
}

// Close releases nothing today and keeps the bridge: pods keep running
// across agent restarts, and their veths hang off it.
func (n *Network) Close() error {
	return nil
}

// RemoveBridge deletes the network's bridge (and with it the host routes to
// the pod subnet). Nil if there is no bridge. For tests and uninstall only:
// pods still attached lose their network.
func (n *Network) RemoveBridge() error {
	link, err := netlink.LinkByName(n.cfg.Bridge)
	if err != nil {
		var nf netlink.LinkNotFoundError
		if errors.As(err, &nf) {
			return nil
		}
		return fmt.Errorf("find bridge %s: %w", n.cfg.Bridge, err)
	}
	if _, ok := link.(*netlink.Bridge); !ok {
		return fmt.Errorf("remove bridge %s: it is a %s, not a bridge", n.cfg.Bridge, link.Type())
	}
	if err := netlink.LinkDel(link); err != nil {
		return fmt.Errorf("remove bridge %s: %w", n.cfg.Bridge, err)
	}
	return nil
}
