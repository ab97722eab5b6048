package main

import (
	"context"
	"errors"
	"fmt"
	"io"

	"github.com/spf13/cobra"
	v1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/watch"

	"github.com/minikubelet/minikubelet/api"
	"github.com/minikubelet/minikubelet/printers"
)

type getOptions struct {
	IOStreams
	client *api.Client

	namespace     string // "" with --all-namespaces
	names         []string
	output        string
	watch         bool
	allNamespaces bool
	noHeaders     bool
	selector      string
	fieldSelector string
}

func newGetCommand(g *globalOptions, streams IOStreams) *cobra.Command {
	o := &getOptions{IOStreams: streams}
	cmd := &cobra.Command{
		Use:   "get pods|services|deployments|replicasets [NAME...] [-o wide|json|yaml|name] [-w]",
		Short: "Display pods or services",
		Example: `  minikubelet get pods
  minikubelet get pod web -o yaml
  minikubelet get pods -A -w`,
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := validOutput(o.output); err != nil {
				return err
			}
			o.namespace = g.namespace
			if o.allNamespaces {
				o.namespace = ""
			}
			if kind, names, ok, err := appsNames(args); ok || err != nil {
				if err != nil {
					return err
				}
				o.client = g.client(o.ErrOut)
				return o.runApps(cmd.Context(), kind, names)
			}
			if svcNames, ok, err := serviceNames(args); ok || err != nil {
				if err != nil {
					return err
				}
				o.client = g.client(o.ErrOut)
				return o.runServices(cmd.Context(), svcNames)
			}
			names, err := podNames(cmd, args, "get")
			if err != nil {
				return err
			}
			if o.allNamespaces && len(names) > 0 {
				return fmt.Errorf("a resource cannot be retrieved by name across all namespaces")
			}
			o.names = names
			o.client = g.client(o.ErrOut)
			return o.run(cmd.Context())
		},
	}
	f := cmd.Flags()
	f.StringVarP(&o.output, "output", "o", "", "output format: wide, json, yaml or name")
	f.BoolVarP(&o.watch, "watch", "w", false, "after listing, watch for changes")
	f.BoolVarP(&o.allNamespaces, "all-namespaces", "A", false, "list pods across all namespaces")
	f.BoolVar(&o.noHeaders, "no-headers", false, "leave out the table's header")
	f.StringVarP(&o.selector, "selector", "l", "", "label selector, e.g. app=web")
	f.StringVar(&o.fieldSelector, "field-selector", "", "field selector, e.g. status.phase=Running")
	return cmd
}

func (o *getOptions) tableOptions() printers.Options {
	return printers.Options{
		Wide:          o.output == outputWide,
		NoHeaders:     o.noHeaders,
		WithNamespace: o.allNamespaces,
	}
}

func (o *getOptions) run(ctx context.Context) error {
	if o.watch {
		return o.runWatch(ctx)
	}
	pods, err := o.fetch(ctx)
	if err != nil && len(pods) == 0 {
		return err
	}
	if perr := o.print(pods); perr != nil {
		return perr
	}
	return err
}

// fetch lists pods, or gets the named ones. Pods that are not found are
// reported on ErrOut and turn into a silent error after the rest printed,
// as kubectl does with `get pods a b`.
func (o *getOptions) fetch(ctx context.Context) ([]*v1.Pod, error) {
	if len(o.names) == 0 {
		list, err := o.client.ListPods(ctx, o.namespace, api.ListOptions{LabelSelector: o.selector, FieldSelector: o.fieldSelector})
		if err != nil {
			return nil, err
		}
		pods := make([]*v1.Pod, len(list.Items))
		for i := range list.Items {
			pods[i] = &list.Items[i]
		}
		return pods, nil
	}
	var pods []*v1.Pod
	var failed error
	for _, name := range o.names {
		pod, err := o.client.GetPod(ctx, o.namespace, name)
		if err != nil {
			if !apierrors.IsNotFound(err) || len(o.names) == 1 {
				return pods, err
			}
			printMsg(o.ErrOut, errorMessage(err))
			failed = silentError
			continue
		}
		pods = append(pods, pod)
	}
	return pods, failed
}

func (o *getOptions) print(pods []*v1.Pod) error {
	switch o.output {
	case outputJSON, outputYAML:
		if len(o.names) == 1 && len(pods) == 1 {
			return printObject(o.Out, o.output, typedPod(pods[0]))
		}
		return printObject(o.Out, o.output, podList(pods))
	}
	if len(pods) == 0 {
		noResources(o.ErrOut, o.namespace)
		return nil
	}
	if o.output == outputName {
		for _, p := range pods {
			fmt.Fprintf(o.Out, "pod/%s\n", p.Name)
		}
		return nil
	}
	return printers.PrintPods(o.Out, pods, o.tableOptions())
}

// runWatch prints the current pods, then one entry per change, until the
// agent ends the watch or the command is interrupted.
func (o *getOptions) runWatch(ctx context.Context) error {
	var name string
	switch len(o.names) {
	case 0:
	case 1:
		name = o.names[0]
		// A missing pod is an error before any watching, as with kubectl.
		if _, err := o.client.GetPod(ctx, o.namespace, name); err != nil {
			return err
		}
	default:
		return errors.New("watch is only supported on individual resources and resource collections, but 2 resources were found")
	}
	w, err := o.client.WatchPods(ctx, o.namespace, api.WatchOptions{
		ListOptions:      api.ListOptions{LabelSelector: o.selector, FieldSelector: o.fieldSelector},
		Name:             name,
		InitialEventsEnd: true,
	})
	if err != nil {
		return err
	}
	defer w.Close()

	p := &watchPrinter{o: o, table: printers.NewTableWriter(o.Out)}
	var initial []*v1.Pod
	listed := false
	for {
		ev, err := w.Next()
		if err != nil {
			if errors.Is(err, io.EOF) {
				if !listed {
					return p.initial(initial)
				}
				return nil
			}
			return err
		}
		switch {
		case ev.Type == watch.Bookmark:
			if ev.Pod.Annotations[api.InitialEventsEndAnnotation] == "true" && !listed {
				listed = true
				if err := p.initial(initial); err != nil {
					return err
				}
			}
		case !listed:
			initial = append(initial, ev.Pod)
		default:
			if err := p.change(ev.Pod); err != nil {
				return err
			}
		}
	}
}

// watchPrinter prints a watch: the initial listing as one table, then a
// row per change aligned under it (one TableWriter remembers the widths).
type watchPrinter struct {
	o       *getOptions
	table   *printers.TableWriter
	printed bool // the header (or any row) went out
	objects int
}

func (p *watchPrinter) initial(pods []*v1.Pod) error {
	if len(pods) == 0 {
		noResources(p.o.ErrOut, p.o.namespace)
		return nil
	}
	if o := p.o; o.output == outputTable || o.output == outputWide {
		// One layout for the whole listing, as `get` without -w.
		opts := o.tableOptions()
		var rows [][]string
		if !opts.NoHeaders {
			rows = append(rows, printers.PodHeaders(opts))
		}
		for _, pod := range pods {
			rows = append(rows, printers.PodRow(pod, opts))
		}
		p.printed = true
		return p.table.WriteRows(rows)
	}
	for _, pod := range pods {
		if err := p.change(pod); err != nil {
			return err
		}
	}
	return nil
}

func (p *watchPrinter) change(pod *v1.Pod) error {
	o := p.o
	switch o.output {
	case outputJSON, outputYAML:
		if o.output == outputYAML && p.objects > 0 {
			fmt.Fprintln(o.Out, "---")
		}
		p.objects++
		return printObject(o.Out, o.output, typedPod(pod))
	case outputName:
		_, err := fmt.Fprintf(o.Out, "pod/%s\n", pod.Name)
		return err
	}
	opts := o.tableOptions()
	var rows [][]string
	if !p.printed && !opts.NoHeaders {
		rows = append(rows, printers.PodHeaders(opts))
	}
	p.printed = true
	rows = append(rows, printers.PodRow(pod, opts))
	return p.table.WriteRows(rows)
}
