package agent

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"go.uber.org/zap"

	"github.com/minikubelet/minikubelet/netns"
	"github.com/minikubelet/minikubelet/runtime"
	"github.com/minikubelet/minikubelet/services"
)

// Cleanup removes from the host everything an agent with cfg ever created:
// it stops every pod (no grace: the node is being emptied on purpose) and
// removes the containers, tasks, sandboxes and their network namespaces and
// IP leases, the images, snapshots and the containerd namespace, the pods'
// log directories, the pod bridge, the nftables table, the Services'
// interface and unreachable route, the cgroups and runc state of the
// namespace, and the agent's state under cfg.Root (the image tarballs of
// <root>/images, which the agent only reads, stay). It is what
// `minikubelet cleanup` runs, e.g. after a kill -9 left the table and the
// interface behind, or before an uninstall.
//
// It takes the agent's lock first: while an agent runs on cfg.Root it
// changes nothing and fails with ErrLocked. Safe to repeat.
func Cleanup(ctx context.Context, log *zap.Logger, cfg Config) error {
	if cfg.Images == "" {
		cfg.Images = filepath.Join(cfg.Root, "images")
	}
	lock, err := lockRoot(cfg.Root)
	if err != nil {
		return err
	}
	defer lock.release()

	client, daemon, err := runtime.Connect(ctx, log, cfg.Containerd, cfg.Root)
	if err != nil {
		return fmt.Errorf("containerd: %w", err)
	}
	defer client.Close()
	if daemon != nil {
		defer func() {
			stopCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
			defer cancel()
			if err := daemon.Stop(stopCtx); err != nil {
				log.Warn("stop embedded containerd", zap.Error(err))
			}
		}()
	}
	var errs []error
	note := func(err error) {
		if err != nil {
			errs = append(errs, err)
		}
	}

	network, err := netns.NewNetwork(log, netns.Config{
		NetworkName: "minikubelet",
		Bridge:      cfg.Bridge,
		Subnet:      cfg.PodCIDR,
		BinDirs:     filepath.SplitList(cfg.CNIBinDir),
		ConfDir:     filepath.Join(cfg.Root, "cni", "net.d"),
		DataDir:     filepath.Join(cfg.Root, "cni"),
	})
	if err != nil {
		return fmt.Errorf("pod network: %w", err)
	}
	rt, err := runtime.New(ctx, log, client, runtime.Config{
		Namespace: cfg.Namespace,
		Root:      cfg.Root,
		LogDir:    cfg.LogDir,
		Network:   network,
		NetNSDir:  filepath.Join(cfg.Root, "netns"),
		NodeName:  cfg.NodeName,
		// Its start removes the pod cgroups of pods already gone.
		CgroupRoot: cfg.cgroupRoot(),
	})
	if err != nil {
		return err
	}
	pods, err := rt.ListPods(ctx)
	note(err)
	for _, p := range pods {
		log.Info("removing pod", zap.String("pod", p.Namespace+"/"+p.Name), zap.String("uid", string(p.UID)))
		for _, c := range p.Containers {
			note(rt.StopContainer(ctx, c.ID, 0))
			note(rt.RemoveContainer(ctx, c.ID))
		}
		// Stopping a sandbox runs CNI DEL: the veth and the IP lease go.
		for _, sb := range p.Sandboxes {
			note(rt.StopSandbox(ctx, sb.ID))
			note(rt.RemoveSandbox(ctx, sb.ID))
		}
		note(rt.CleanupPod(ctx, p.UID))
	}
	note(rt.Close())
	if err := errors.Join(errs...); err != nil {
		// Removing the network under pods that could not be stopped would
		// leave them without one: stop here, say what failed.
		return fmt.Errorf("stop the pods: %w", err)
	}

	// What the pods' removal above did not reach: anything left in the
	// namespace (images, snapshots, leases, stray containers), the pod
	// network, the Services' host objects, and the agent's state.
	note(runtime.PurgeNamespace(ctx, client, cfg.Namespace, func(kind, id string) {
		log.Info("removing leftover", zap.String("kind", kind), zap.String("id", id))
	}))
	netnsDir := filepath.Join(cfg.Root, "netns")
	if paths, _ := filepath.Glob(filepath.Join(netnsDir, "*")); len(paths) > 0 {
		for _, p := range paths {
			note(netns.Load(p).Remove())
		}
	}
	note(runtime.UnmountUnder(cfg.Root))
	note(network.RemoveBridge())
	note(services.NFT{}.DeleteTable(ctx, cfg.nftTable()))
	note(services.HostLink{Name: cfg.dnsInterface()}.Delete())
	if cfg.ServiceCIDR != "" {
		note(netns.RemoveUnreachableRoute(cfg.ServiceCIDR))
	}
	note(runtime.RemoveCgroups(cfg.cgroupRoot()))
	note(removeState(cfg))
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("cleanup: %w", err)
	}
	log.Info("cleanup done: nothing of the agent is left on the host", zap.String("root", cfg.Root), zap.String("namespace", cfg.Namespace))
	return nil
}

// removeState removes the agent's state under cfg.Root, except the image
// tarballs it only reads, the lock it holds, and the state of an embedded
// containerd (which may still run; its namespace was purged above).
func removeState(cfg Config) error {
	entries, err := os.ReadDir(cfg.Root)
	if err != nil {
		return fmt.Errorf("read root %s: %w", cfg.Root, err)
	}
	images, _ := filepath.Abs(cfg.Images)
	var errs []error
	for _, e := range entries {
		p := filepath.Join(cfg.Root, e.Name())
		if abs, _ := filepath.Abs(p); abs == images || e.Name() == lockFile || e.Name() == "containerd" {
			continue
		}
		if err := os.RemoveAll(p); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}
