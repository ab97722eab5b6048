package main

import (
	"context"

	"github.com/spf13/cobra"
	"go.uber.org/zap"

	"github.com/minikubelet/minikubelet/agent"
)

// newCleanupCommand is `minikubelet cleanup`: it takes the agent's flags
// and --config (so it finds what an agent with them created) and removes
// all of it from the host.
func newCleanupCommand(streams IOStreams, cleanup func(ctx context.Context, log *zap.Logger, cfg agent.Config) error) *cobra.Command {
	cmd := newAgentCommand(streams, func(ctx context.Context, log *zap.Logger, cfg agent.Config, _ string) error {
		return cleanup(ctx, log, cfg)
	})
	cmd.Use = "cleanup [flags]"
	cmd.Short = "Stop every pod and remove everything the agent created on the host"
	cmd.Long = `Stop every pod of the agent (without grace) and remove everything the agent
created on the host: containers, tasks, snapshots, images and the containerd
namespace, network namespaces, IP leases, the pod bridge, the nftables table,
the Services' interface and route, cgroups, runc state, the pods' log
directories and the state under --root (the image tarballs in <root>/images
stay). Give it the flags or --config the agent ran with. The agent must be
stopped first: while it runs, cleanup refuses and changes nothing.`
	return cmd
}
