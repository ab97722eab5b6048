package main

import (
	"context"
	"fmt"

	"github.com/spf13/cobra"

	"github.com/minikubelet/minikubelet/api"
)

type versionOptions struct {
	IOStreams
	client *api.Client

	clientOnly bool
	output     string
}

func newVersionCommand(g *globalOptions, streams IOStreams) *cobra.Command {
	o := &versionOptions{IOStreams: streams}
	cmd := &cobra.Command{
		Use:   "version",
		Short: "Print the client and agent versions",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			if o.output != "" && o.output != outputJSON && o.output != outputYAML {
				return usageErrorf(cmd, "--output must be 'yaml' or 'json'")
			}
			o.client = g.client(o.ErrOut)
			return o.run(cmd.Context())
		},
	}
	cmd.Flags().BoolVar(&o.clientOnly, "client", false, "print the client version only")
	cmd.Flags().StringVarP(&o.output, "output", "o", "", "yaml or json")
	return cmd
}

func (o *versionOptions) run(ctx context.Context) error {
	v := struct {
		Client api.VersionInfo  `json:"clientVersion"`
		Server *api.VersionInfo `json:"serverVersion,omitempty"`
	}{Client: api.BuildVersion(version)}
	var serverErr error
	if !o.clientOnly {
		sv, err := o.client.Version(ctx)
		if err != nil {
			serverErr = err
		} else {
			v.Server = &sv
		}
	}
	if o.output != "" {
		if err := printObject(o.Out, o.output, v); err != nil {
			return err
		}
	} else {
		fmt.Fprintf(o.Out, "Client Version: %s\n", v.Client.Version)
		if v.Server != nil {
			fmt.Fprintf(o.Out, "Server Version: %s\n", v.Server.Version)
		}
	}
	return serverErr
}
