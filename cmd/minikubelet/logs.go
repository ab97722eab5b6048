package main

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/minikubelet/minikubelet/api"
)

type logsOptions struct {
	IOStreams
	client *api.Client

	namespace  string
	pod        string
	container  string
	previous   bool
	follow     bool
	timestamps bool
	tail       int64
	since      time.Duration
	sinceTime  string
	limitBytes int64
}

func newLogsCommand(g *globalOptions, streams IOStreams) *cobra.Command {
	o := &logsOptions{IOStreams: streams}
	cmd := &cobra.Command{
		Use:   "logs NAME [-c CONTAINER] [--previous] [-f]",
		Short: "Print the logs of a container in a pod",
		Example: `  minikubelet logs web
  minikubelet logs web -c sidecar --previous
  minikubelet logs -f web --tail 20`,
		RunE: func(cmd *cobra.Command, args []string) error {
			switch len(args) {
			case 1:
			case 2:
				// kubectl's older form: logs POD CONTAINER.
				if o.container != "" {
					return usageErrorf(cmd, "only one of -c or an inline [CONTAINER] arg is allowed")
				}
				o.container = args[1]
			default:
				return usageErrorf(cmd, "expected NAME: minikubelet logs NAME [-c CONTAINER]")
			}
			name := args[0]
			if res, n, ok := strings.Cut(name, "/"); ok {
				if !isPodResource(res) {
					return fmt.Errorf("cannot get the logs from %s: only pods are supported", res)
				}
				name = n
			}
			if o.since != 0 && o.sinceTime != "" {
				return usageErrorf(cmd, "at most one of `sinceTime` or `sinceSeconds` may be specified")
			}
			o.pod = name
			o.namespace = g.namespace
			o.client = g.client(o.ErrOut)
			return o.run(cmd.Context())
		},
	}
	f := cmd.Flags()
	f.StringVarP(&o.container, "container", "c", "", "the container to print the logs of")
	f.BoolVarP(&o.previous, "previous", "p", false, "print the logs of the previous, terminated instance of the container")
	f.BoolVarP(&o.follow, "follow", "f", false, "stream the log until the container exits")
	f.BoolVar(&o.timestamps, "timestamps", false, "prefix each line with its RFC3339 timestamp")
	f.Int64Var(&o.tail, "tail", -1, "lines of recent log to show; -1 shows all")
	f.DurationVar(&o.since, "since", 0, "only logs newer than a relative duration like 5s, 2m or 3h")
	f.StringVar(&o.sinceTime, "since-time", "", "only logs after an RFC3339 date")
	f.Int64Var(&o.limitBytes, "limit-bytes", 0, "maximum bytes of log to return")
	return cmd
}

func (o *logsOptions) run(ctx context.Context) error {
	pod, err := o.client.GetPod(ctx, o.namespace, o.pod)
	if err != nil {
		return err
	}
	container := o.container
	if container == "" {
		if container, err = defaultContainer(pod, o.ErrOut); err != nil {
			return err
		}
	} else if !hasContainer(pod, container) {
		return fmt.Errorf("container %s is not valid for pod %s", container, pod.Name)
	}
	opts := api.LogOptions{
		Container:  container,
		Previous:   o.previous,
		Follow:     o.follow,
		Timestamps: o.timestamps,
	}
	if o.tail >= 0 {
		opts.TailLines = &o.tail
	}
	if o.limitBytes > 0 {
		opts.LimitBytes = &o.limitBytes
	}
	if o.since > 0 {
		secs := int64((o.since + time.Second - 1) / time.Second)
		opts.SinceSeconds = &secs
	}
	if o.sinceTime != "" {
		t, err := time.Parse(time.RFC3339, o.sinceTime)
		if err != nil {
			return fmt.Errorf("--since-time: %w", err)
		}
		opts.SinceTime = &t
	}
	return o.client.Logs(ctx, o.namespace, o.pod, opts, o.Out)
}
