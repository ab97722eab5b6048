package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"syscall"

	"github.com/spf13/cobra"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/minikubelet/minikubelet/agent"
	"github.com/minikubelet/minikubelet/api"
)

// IOStreams are a command's standard streams.
type IOStreams struct {
	In     io.Reader
	Out    io.Writer
	ErrOut io.Writer
}

const (
	defaultSocket = "/run/minikubelet/minikubelet.sock"
	socketEnv     = "MINIKUBELET_SOCKET"
)

// globalOptions are the flags every client command shares.
type globalOptions struct {
	namespace string
	socket    string
}

// client returns an API client whose warnings go to errOut as kubectl
// prints them, each text once per command.
func (g *globalOptions) client(errOut io.Writer) *api.Client {
	c := api.NewClient(g.socket)
	seen := map[string]bool{}
	c.OnWarning = func(text string) {
		if seen[text] {
			return
		}
		seen[text] = true
		fmt.Fprintf(errOut, "Warning: %s\n", text)
	}
	return c
}

func newRootCommand(ctx context.Context, streams IOStreams, getenv func(string) string, runAgent agentRunner) *cobra.Command {
	g := &globalOptions{}
	root := &cobra.Command{
		Use:           "minikubelet",
		Short:         "A single-node kubelet on containerd, and a kubectl-like client for it",
		SilenceErrors: true,
		SilenceUsage:  true,
		// Without a subcommand, show help.
		RunE: func(cmd *cobra.Command, args []string) error { return cmd.Help() },
	}
	root.SetIn(streams.In)
	root.SetOut(streams.Out)
	root.SetErr(streams.ErrOut)
	root.SetContext(ctx)
	root.SetFlagErrorFunc(func(cmd *cobra.Command, err error) error {
		return usageError{cmd: cmd, err: err}
	})

	socket := getenv(socketEnv)
	if socket == "" {
		socket = defaultSocket
	}
	pf := root.PersistentFlags()
	pf.StringVarP(&g.namespace, "namespace", "n", "default", "the namespace of the request")
	pf.StringVar(&g.socket, "socket", socket, "the agent's API socket (env "+socketEnv+")")

	root.AddCommand(
		newGetCommand(g, streams),
		newDescribeCommand(g, streams),
		newLogsCommand(g, streams),
		newExecCommand(g, streams),
		newAttachCommand(g, streams),
		newRunCommand(g, streams),
		newApplyCommand(g, streams),
		newDeleteCommand(g, streams),
		newScaleCommand(g, streams),
		newRolloutCommand(g, streams),
		newVersionCommand(g, streams),
		newKubeconfigCommand(g, streams),
		newAgentCommand(streams, runAgent),
		newCleanupCommand(streams, agent.Cleanup),
	)
	return root
}

// run executes the command line and returns the process exit status.
func run(ctx context.Context, args []string, streams IOStreams, getenv func(string) string) int {
	root := newRootCommand(ctx, streams, getenv, agent.Run)
	root.SetArgs(args)
	err := root.ExecuteContext(ctx)
	return handleError(ctx, streams.ErrOut, err)
}

// usageError is a mistake on the command line.
type usageError struct {
	cmd *cobra.Command
	err error
}

func (e usageError) Error() string { return e.err.Error() }

func usageErrorf(cmd *cobra.Command, format string, args ...any) error {
	return usageError{cmd: cmd, err: fmt.Errorf(format, args...)}
}

// exitError ends the command with code after msg (if any) was printed.
type exitError struct {
	code int
	msg  string
}

func (e exitError) Error() string { return e.msg }

// silentError is an error whose message was already printed.
var silentError = exitError{code: 1}

// signalError is the cause of a context cancelled by a signal.
type signalError struct{ sig syscall.Signal }

func (e signalError) Error() string { return "interrupted by " + e.sig.String() }

// handleError prints err the way kubectl does and returns the exit status.
func handleError(ctx context.Context, errOut io.Writer, err error) int {
	if err == nil {
		return 0
	}
	var sig signalError
	if errors.As(context.Cause(ctx), &sig) && ctx.Err() != nil {
		// Killed by a signal, as far as the shell is concerned.
		return 128 + int(sig.sig)
	}
	var ue usageError
	var ee exitError
	var ce *api.ConnectError
	switch {
	case errors.As(err, &ee):
		printMsg(errOut, ee.msg)
		return ee.code
	case errors.As(err, &ue):
		printMsg(errOut, "error: "+ue.err.Error())
		fmt.Fprintf(errOut, "See '%s -h' for help and examples\n", ue.cmd.CommandPath())
		return 1
	case errors.As(err, &ce):
		printMsg(errOut, ce.Error())
		return 1
	}
	printMsg(errOut, errorMessage(err))
	return 1
}

func printMsg(w io.Writer, msg string) {
	if msg == "" {
		return
	}
	if !strings.HasSuffix(msg, "\n") {
		msg += "\n"
	}
	fmt.Fprint(w, msg)
}

// errorMessage is kubectl's wording for an error (cmdutil.CheckErr).
func errorMessage(err error) string {
	var se apierrors.APIStatus
	if !errors.As(err, &se) {
		return "error: " + err.Error()
	}
	st := se.Status()
	if st.Reason == metav1.StatusReasonInvalid {
		return invalidMessage(st)
	}
	if st.Reason != "" && st.Reason != metav1.StatusReasonUnknown {
		return fmt.Sprintf("Error from server (%s): %s", st.Reason, st.Message)
	}
	return "Error from server: " + st.Message
}

// invalidMessage formats a validation failure: one cause on the line, more
// as a bulleted list.
func invalidMessage(st metav1.Status) string {
	d := st.Details
	if d == nil {
		return "The request is invalid: " + st.Message
	}
	prefix := fmt.Sprintf("The %s %q is invalid", d.Kind, d.Name)
	switch len(d.Causes) {
	case 0:
		return prefix + ": " + st.Message
	case 1:
		return prefix + ": " + causeText(d.Causes[0])
	}
	var b strings.Builder
	b.WriteString(prefix + ": \n")
	for _, c := range d.Causes {
		b.WriteString("* " + causeText(c) + "\n")
	}
	return b.String()
}

func causeText(c metav1.StatusCause) string {
	if c.Field == "" {
		return c.Message
	}
	return c.Field + ": " + c.Message
}
