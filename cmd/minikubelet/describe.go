package main

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/spf13/cobra"
	v1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"

	"github.com/minikubelet/minikubelet/api"
	"github.com/minikubelet/minikubelet/printers"
)

type describeOptions struct {
	IOStreams
	client *api.Client

	namespace string
	names     []string
	selector  string
	now       func() time.Time
}

func newDescribeCommand(g *globalOptions, streams IOStreams) *cobra.Command {
	o := &describeOptions{IOStreams: streams, now: time.Now}
	cmd := &cobra.Command{
		Use:   "describe pod|service|deployment|replicaset [NAME...]",
		Short: "Show details of pods or services, with their events",
		Example: `  minikubelet describe pod web
  minikubelet describe pods -l app=web`,
		RunE: func(cmd *cobra.Command, args []string) error {
			if kind, names, ok, err := appsNames(args); ok || err != nil {
				if err != nil {
					return err
				}
				o.namespace = g.namespace
				o.client = g.client(o.ErrOut)
				return o.runApps(cmd.Context(), kind, names)
			}
			if svcNames, ok, err := serviceNames(args); ok || err != nil {
				if err != nil {
					return err
				}
				o.namespace = g.namespace
				o.client = g.client(o.ErrOut)
				return o.runServices(cmd.Context(), svcNames)
			}
			names, err := podNames(cmd, args, "describe")
			if err != nil {
				return err
			}
			o.names = names
			o.namespace = g.namespace
			o.client = g.client(o.ErrOut)
			return o.run(cmd.Context())
		},
	}
	cmd.Flags().StringVarP(&o.selector, "selector", "l", "", "label selector, e.g. app=web")
	return cmd
}

func (o *describeOptions) run(ctx context.Context) error {
	pods, err := o.resolve(ctx)
	if err != nil {
		return err
	}
	if len(pods) == 0 {
		noResources(o.ErrOut, o.namespace)
		return nil
	}
	for i, pod := range pods {
		events, err := o.events(ctx, pod)
		if err != nil {
			return err
		}
		if i > 0 {
			fmt.Fprint(o.Out, "\n\n")
		}
		if err := printers.DescribePod(o.Out, pod, events, o.now()); err != nil {
			return err
		}
	}
	return nil
}

// resolve finds the pods to describe. Like kubectl, a name that matches no
// pod exactly describes the pods whose names start with it.
func (o *describeOptions) resolve(ctx context.Context) ([]*v1.Pod, error) {
	var all []*v1.Pod
	listAll := func() error {
		if all != nil {
			return nil
		}
		list, err := o.client.ListPods(ctx, o.namespace, api.ListOptions{LabelSelector: o.selector})
		if err != nil {
			return err
		}
		all = make([]*v1.Pod, 0, len(list.Items))
		for i := range list.Items {
			all = append(all, &list.Items[i])
		}
		return nil
	}
	if len(o.names) == 0 {
		err := listAll()
		return all, err
	}
	var pods []*v1.Pod
	for _, name := range o.names {
		pod, err := o.client.GetPod(ctx, o.namespace, name)
		if err == nil {
			pods = append(pods, pod)
			continue
		}
		if !apierrors.IsNotFound(err) {
			return nil, err
		}
		if lerr := listAll(); lerr != nil {
			return nil, lerr
		}
		found := false
		for _, p := range all {
			if strings.HasPrefix(p.Name, name) {
				pods = append(pods, p)
				found = true
			}
		}
		if !found {
			return nil, err
		}
	}
	return pods, nil
}

// events returns the events about pod: those naming it, of this instance
// (UID) or of no particular instance (manifest problems).
func (o *describeOptions) events(ctx context.Context, pod *v1.Pod) ([]v1.Event, error) {
	list, err := o.client.ListEvents(ctx, pod.Namespace, "involvedObject.name="+pod.Name+",involvedObject.kind=Pod")
	if err != nil {
		return nil, err
	}
	var out []v1.Event
	for _, e := range list.Items {
		if e.InvolvedObject.UID == "" || e.InvolvedObject.UID == pod.UID {
			out = append(out, e)
		}
	}
	return out, nil
}
