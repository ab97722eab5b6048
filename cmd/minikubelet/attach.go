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

type attachOptions struct {
	IOStreams
	client *api.Client

	namespace string
	pod       string
	container string
	stdin     bool
	tty       bool
	quiet     bool
	// commandName is how the session-ended hint names this command.
	commandName string
}

func newAttachCommand(g *globalOptions, streams IOStreams) *cobra.Command {
	o := &attachOptions{IOStreams: streams, commandName: "minikubelet attach"}
	cmd := &cobra.Command{
		Use:   "attach NAME [-c CONTAINER] [-i] [-t]",
		Short: "Attach to a running container",
		Example: `  minikubelet attach web
  minikubelet attach -it demo -c demo`,
		RunE: func(cmd *cobra.Command, args []string) error {
			if len(args) != 1 {
				return usageErrorf(cmd, "expected a single argument: POD, saw %d: %s", len(args), args)
			}
			o.pod = args[0]
			if res, n, ok := strings.Cut(o.pod, "/"); ok {
				if !isPodResource(res) {
					return fmt.Errorf("cannot attach to %s: only pods are supported", res)
				}
				o.pod = n
			}
			o.namespace = g.namespace
			o.client = g.client(o.ErrOut)
			pod, err := o.client.GetPod(cmd.Context(), o.namespace, o.pod)
			if err != nil {
				return err
			}
			return o.run(cmd.Context(), pod)
		},
	}
	f := cmd.Flags()
	f.StringVarP(&o.container, "container", "c", "", "the container to attach to; defaults to the first one")
	f.BoolVarP(&o.stdin, "stdin", "i", false, "pass stdin to the container")
	f.BoolVarP(&o.tty, "tty", "t", false, "stdin is a TTY")
	f.BoolVarP(&o.quiet, "quiet", "q", false, "only print output from the remote session")
	return cmd
}

// run attaches to pod as kubectl attach does.
func (o *attachOptions) run(ctx context.Context, pod *v1.Pod) error {
	if pod.Status.Phase == v1.PodSucceeded || pod.Status.Phase == v1.PodFailed {
		return fmt.Errorf("cannot attach a container in a completed pod; current phase is %s", pod.Status.Phase)
	}
	errOut := o.ErrOut
	if o.quiet {
		errOut = io.Discard
	}
	name := o.container
	if name == "" {
		var err error
		if name, err = defaultContainer(pod, errOut); err != nil {
			return err
		}
	}
	var ctr *v1.Container
	for i := range pod.Spec.Containers {
		if pod.Spec.Containers[i].Name == name {
			ctr = &pod.Spec.Containers[i]
		}
	}
	for i := range pod.Spec.InitContainers {
		if pod.Spec.InitContainers[i].Name == name {
			ctr = &pod.Spec.InitContainers[i]
		}
	}
	if ctr == nil {
		return fmt.Errorf("container %s not found in pod %s", name, pod.Name)
	}
	// The container's TTY decides, as in kubectl.
	tty := o.tty
	switch {
	case tty && !ctr.TTY:
		tty = false
		fmt.Fprintf(errOut, "error: Unable to use a TTY - container %s did not allocate one\n", name)
	case !tty && ctr.TTY:
		tty = true
	}

	opts := api.AttachOptions{Container: name, Stdout: o.Out, Stderr: o.ErrOut, TTY: tty}
	raw := false
	if o.stdin {
		opts.Stdin = o.In
		if tty {
			if fd, ok := terminalFD(o.In); ok {
				restore, err := makeRaw(fd)
				if err != nil {
					return fmt.Errorf("set the terminal to raw mode: %w", err)
				}
				defer restore()
				raw = true
				sizeFD := fd
				if outFD, ok := terminalFD(o.Out); ok {
					sizeFD = outFD
				}
				rctx, cancel := context.WithCancel(ctx)
				defer cancel()
				opts.Resize = watchResize(rctx, sizeFD)
			} else {
				fmt.Fprintln(errOut, "Unable to use a TTY - input is not a terminal or the right kind of file")
			}
		}
	}
	if raw {
		// The prompt was printed before we attached.
		fmt.Fprint(errOut, "If you don't see a command prompt, try pressing enter.\r\n")
	}
	if err := o.client.Attach(ctx, o.namespace, pod.Name, opts); err != nil {
		return err
	}
	if raw && pod.Spec.RestartPolicy == v1.RestartPolicyAlways && !o.quiet {
		fmt.Fprintf(o.Out, "Session ended, resume using '%s %s -c %s -i -t' command when the pod is running\n", o.commandName, pod.Name, name)
	}
	return nil
}
