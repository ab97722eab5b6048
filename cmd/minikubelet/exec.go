package main

import (
	"context"
	"fmt"
	"io"
	"strings"

	"github.com/spf13/cobra"
	v1 "k8s.io/api/core/v1"

	"github.com/minikubelet/minikubelet/api"
)

type execOptions struct {
	IOStreams
	client *api.Client

	namespace string
	pod       string
	container string
	command   []string
	stdin     bool
	tty       bool
	quiet     bool
}

func newExecCommand(g *globalOptions, streams IOStreams) *cobra.Command {
	o := &execOptions{IOStreams: streams}
	cmd := &cobra.Command{
		Use:   "exec NAME [-c CONTAINER] [-i] [-t] -- COMMAND [ARG...]",
		Short: "Run a command in a container",
		Example: `  minikubelet exec web -- date
  minikubelet exec -it web -c app -- sh`,
		RunE: func(cmd *cobra.Command, args []string) error {
			dash := cmd.ArgsLenAtDash()
			switch {
			case len(args) == 0:
				return usageErrorf(cmd, "NAME is required for exec")
			case dash == -1 && len(args) > 1:
				return usageErrorf(cmd, "exec [POD] [COMMAND] is not supported anymore. Use exec [POD] -- [COMMAND] instead")
			case dash > 1:
				return usageErrorf(cmd, "exec takes one NAME before --, got %d", dash)
			}
			o.pod = args[0]
			if res, n, ok := strings.Cut(o.pod, "/"); ok {
				if !isPodResource(res) {
					return fmt.Errorf("cannot exec into %s: only pods are supported", res)
				}
				o.pod = n
			}
			o.command = args[1:]
			if len(o.command) == 0 {
				return usageErrorf(cmd, "you must specify at least one command for the container")
			}
			o.namespace = g.namespace
			o.client = g.client(o.ErrOut)
			return o.run(cmd.Context())
		},
	}
	f := cmd.Flags()
	f.StringVarP(&o.container, "container", "c", "", "the container to run the command in; defaults to the first one")
	f.BoolVarP(&o.stdin, "stdin", "i", false, "pass stdin to the container")
	f.BoolVarP(&o.tty, "tty", "t", false, "stdin is a TTY")
	f.BoolVarP(&o.quiet, "quiet", "q", false, "print only what the command prints")
	return cmd
}

func (o *execOptions) run(ctx context.Context) error {
	pod, err := o.client.GetPod(ctx, o.namespace, o.pod)
	if err != nil {
		return err
	}
	if pod.Status.Phase == v1.PodSucceeded || pod.Status.Phase == v1.PodFailed {
		return fmt.Errorf("cannot exec into a container in a completed pod; current phase is %s", pod.Status.Phase)
	}
	container := o.container
	if container == "" {
		errOut := o.ErrOut
		if o.quiet {
			errOut = io.Discard
		}
		if container, err = defaultContainer(pod, errOut); err != nil {
			return err
		}
	}

	opts := api.ExecOptions{
		Container: container,
		Command:   o.command,
		Stdout:    o.Out,
		Stderr:    o.ErrOut,
	}
	// kubectl's SetupTTY: a TTY needs stdin, and stdin must be a terminal.
	if o.stdin {
		opts.Stdin = o.In
		if o.tty {
			if fd, ok := terminalFD(o.In); ok {
				restore, err := makeRaw(fd)
				if err != nil {
					return fmt.Errorf("set the terminal to raw mode: %w", err)
				}
				defer restore()
				opts.TTY = true
				sizeFD := fd
				if outFD, ok := terminalFD(o.Out); ok {
					sizeFD = outFD
				}
				rctx, cancel := context.WithCancel(ctx)
				defer cancel()
				opts.Resize = watchResize(rctx, sizeFD)
			} else if !o.quiet {
				fmt.Fprintln(o.ErrOut, "Unable to use a TTY - input is not a terminal or the right kind of file")
			}
		}
	}
	code, err := o.client.Exec(ctx, o.namespace, o.pod, opts)
	if err != nil {
		return err
	}
	if code != 0 {
		return exitError{code: int(code), msg: fmt.Sprintf("command terminated with exit code %d", code)}
	}
	return nil
}
