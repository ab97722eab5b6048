package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/spf13/cobra"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/watch"

	"github.com/minikubelet/minikubelet/api"
	"github.com/minikubelet/minikubelet/source"
)

type deleteOptions struct {
	IOStreams
	client *api.Client

	namespace      string
	names          []string
	filenames      []string
	recursive      bool
	ignoreNotFound bool
	wait           bool
	timeout        time.Duration
	// gracePeriod replaces the pods' terminationGracePeriodSeconds; -1
	// keeps theirs.
	gracePeriod int64
}

type podKey struct{ namespace, name string }

func newDeleteCommand(g *globalOptions, streams IOStreams) *cobra.Command {
	o := &deleteOptions{IOStreams: streams}
	cmd := &cobra.Command{
		Use:   "delete (-f FILE|DIR|- | pod NAME...)",
		Short: "Delete pods by manifest or by name",
		Example: `  minikubelet delete -f web.yaml
  minikubelet delete pod web`,
		RunE: func(cmd *cobra.Command, args []string) error {
			o.namespace = g.namespace
			switch {
			case len(o.filenames) > 0 && len(args) > 0:
				return usageErrorf(cmd, "cannot use -f together with resource arguments")
			case len(o.filenames) == 0:
				names, err := podNames(cmd, args, "delete")
				if err != nil {
					return err
				}
				if len(names) == 0 {
					return usageErrorf(cmd, "resource(s) were provided, but no name was specified")
				}
				o.names = names
			}
			o.client = g.client(o.ErrOut)
			return o.run(cmd.Context())
		},
	}
	f := cmd.Flags()
	f.StringSliceVarP(&o.filenames, "filename", "f", nil, "manifest file, directory or - for stdin")
	f.BoolVarP(&o.recursive, "recursive", "R", false, "also read the directories under a -f directory")
	f.BoolVar(&o.ignoreNotFound, "ignore-not-found", false, "treat a pod that does not exist as deleted")
	f.BoolVar(&o.wait, "wait", true, "wait until the pods are gone (their containers stopped) before returning")
	f.DurationVar(&o.timeout, "timeout", 0, "how long to wait for the pods to be gone; 0 waits as long as it takes")
	f.Int64Var(&o.gracePeriod, "grace-period", -1, "seconds given to each pod to terminate gracefully, instead of its own; negative keeps the pod's")
	return cmd
}

func (o *deleteOptions) run(ctx context.Context) error {
	var gone []podKey
	failed := false
	var fatal error
	report := func(err error) error {
		var ce *api.ConnectError
		if errors.As(err, &ce) || ctx.Err() != nil {
			if fatal == nil {
				fatal = err
			}
			return err
		}
		printMsg(o.ErrOut, errorMessage(err))
		failed = true
		return nil
	}

	if len(o.filenames) > 0 {
		files, err := readManifests(o.filenames, o.recursive, o.In)
		if err != nil {
			return err
		}
		for _, f := range files {
			refs, err := source.ObjectsIn(f.data)
			if err != nil {
				where := f.path
				if where == "-" {
					where = "STDIN"
				}
				if rerr := report(fmt.Errorf("error parsing %s: %w", where, err)); rerr != nil {
					return rerr
				}
				continue
			}
			// One request per object, so each not-found is reported on its
			// own as kubectl does; objects without a namespace get -n's.
			for _, r := range refs {
				if fatal != nil {
					return fatal
				}
				ns := r.Namespace
				if ns == "" {
					ns = o.namespace
				}
				if o.deleteOne(ctx, r.APIVersion, r.Kind, ns, r.Name, report) && isPodKind(r.Kind) {
					gone = append(gone, podKey{ns, r.Name})
				}
			}
		}
	}
	for _, name := range o.names {
		if fatal != nil {
			break
		}
		if o.deleteOne(ctx, "v1", "Pod", o.namespace, name, report) {
			gone = append(gone, podKey{o.namespace, name})
		}
	}
	if fatal != nil {
		return fatal
	}
	if o.wait {
		wctx := ctx
		if o.timeout > 0 {
			var cancel context.CancelFunc
			wctx, cancel = context.WithTimeout(ctx, o.timeout)
			defer cancel()
		}
		for _, k := range gone {
			if err := waitPodGone(wctx, o.client, k); err != nil {
				if ctx.Err() == nil && wctx.Err() != nil {
					return fmt.Errorf("timed out waiting for the condition on pods/%s", k.name)
				}
				return err
			}
		}
	}
	if failed {
		return silentError
	}
	return nil
}

// deleteOne deletes one object and prints the result; it reports whether
// the object was deleted. report prints a failure and returns non-nil when
// the whole command must stop.
func (o *deleteOptions) deleteOne(ctx context.Context, apiVersion, kind, ns, name string, report func(error) error) bool {
	results, err := o.client.DeleteObjectWithGrace(ctx, apiVersion, kind, ns, name, o.gracePeriod)
	for _, r := range results {
		fmt.Fprintln(o.Out, r)
	}
	if err == nil {
		return true
	}
	if apierrors.IsNotFound(err) && o.ignoreNotFound {
		return false
	}
	_ = report(err)
	return false
}

func isPodKind(kind string) bool {
	switch strings.ToLower(kind) {
	case "pod", "pods", "po":
		return true
	}
	return false
}

// waitPodGone returns once no pod named k exists any more: every instance
// (UID) present when the wait began has been reported DELETED.
func waitPodGone(ctx context.Context, c *api.Client, k podKey) error {
	for {
		w, err := c.WatchPods(ctx, k.namespace, api.WatchOptions{Name: k.name, InitialEventsEnd: true})
		if err != nil {
			return err
		}
		present := map[types.UID]bool{}
		listed := false
		for {
			ev, err := w.Next()
			if err != nil {
				w.Close()
				if errors.Is(err, io.EOF) && ctx.Err() == nil {
					break // the agent dropped the watch: look again
				}
				if ctx.Err() != nil {
					return ctx.Err()
				}
				return err
			}
			switch ev.Type {
			case watch.Added:
				if !listed {
					present[ev.Pod.UID] = true
				}
			case watch.Deleted:
				delete(present, ev.Pod.UID)
			case watch.Bookmark:
				listed = true
			}
			if listed && len(present) == 0 {
				w.Close()
				return nil
			}
		}
	}
}
