package main

import (
	"github.com/spf13/cobra"
)

func newKubeconfigCommand(g *globalOptions, streams IOStreams) *cobra.Command {
	return &cobra.Command{
		Use:   "kubeconfig",
		Short: "Print an admin kubeconfig for the agent's Kubernetes API",
		Long: `Print an admin kubeconfig for the Kubernetes API of the agent at --socket, so
that the real kubectl drives the node:

  minikubelet kubeconfig > kc && kubectl --kubeconfig kc get pods

The agent also keeps it at <root>/admin.kubeconfig (mode 0600). It holds
the admin client key: keep it private.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			kc, err := g.client(streams.ErrOut).Kubeconfig(cmd.Context())
			if err != nil {
				return err
			}
			_, err = streams.Out.Write(kc)
			return err
		},
	}
}
