package main

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/cobra"
	appsv1 "k8s.io/api/apps/v1"
	v1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/minikubelet/minikubelet/api"
	"github.com/minikubelet/minikubelet/printers"
)

// appsKind names the apps/v1 resource a command line refers to.
type appsKind string

const (
	kindDeployment appsKind = "deployment"
	kindReplicaSet appsKind = "replicaset"
)

func appsResource(s string) (appsKind, bool) {
	r := strings.ToLower(s)
	r = strings.TrimSuffix(strings.TrimSuffix(r, ".apps"), ".v1.apps")
	switch r {
	case "deployments", "deployment", "deploy":
		return kindDeployment, true
	case "replicasets", "replicaset", "rs":
		return kindReplicaSet, true
	}
	return "", false
}

// appsNames recognises `deploy [NAME...]`, `deploy/NAME...` (and rs): ok
// is false when the arguments name another resource.
func appsNames(args []string) (kind appsKind, names []string, ok bool, err error) {
	if len(args) == 0 {
		return "", nil, false, nil
	}
	if res, _, found := strings.Cut(args[0], "/"); found {
		k, isApps := appsResource(res)
		if !isApps {
			return "", nil, false, nil
		}
		for _, a := range args {
			res, name, found := strings.Cut(a, "/")
			if k2, ok := appsResource(res); !found || !ok || k2 != k || name == "" {
				return "", nil, true, errors.New("arguments in resource/name form must have a single resource and name")
			}
			names = append(names, name)
		}
		return k, names, true, nil
	}
	k, isApps := appsResource(args[0])
	if !isApps {
		return "", nil, false, nil
	}
	return k, args[1:], true, nil
}

// runApps is `get deployments|replicasets`.
func (o *getOptions) runApps(ctx context.Context, kind appsKind, names []string) error {
	if o.watch {
		return fmt.Errorf("watch is not supported for %ss by minikubelet", kind)
	}
	if o.allNamespaces && len(names) > 0 {
		return fmt.Errorf("a resource cannot be retrieved by name across all namespaces")
	}
	var ds []*appsv1.Deployment
	var rss []*appsv1.ReplicaSet
	var failed error
	if len(names) == 0 {
		if kind == kindDeployment {
			list, err := o.client.ListDeployments(ctx, o.namespace, o.selector)
			if err != nil {
				return err
			}
			for i := range list.Items {
				ds = append(ds, &list.Items[i])
			}
		} else {
			list, err := o.client.ListReplicaSets(ctx, o.namespace, o.selector)
			if err != nil {
				return err
			}
			for i := range list.Items {
				rss = append(rss, &list.Items[i])
			}
		}
	}
	for _, name := range names {
		var err error
		if kind == kindDeployment {
			var d *appsv1.Deployment
			if d, err = o.client.GetDeployment(ctx, o.namespace, name); err == nil {
				ds = append(ds, d)
			}
		} else {
			var rs *appsv1.ReplicaSet
			if rs, err = o.client.GetReplicaSet(ctx, o.namespace, name); err == nil {
				rss = append(rss, rs)
			}
		}
		if err != nil {
			if !apierrors.IsNotFound(err) || len(names) == 1 {
				return err
			}
			printMsg(o.ErrOut, errorMessage(err))
			failed = silentError
		}
	}
	n := len(ds) + len(rss)
	switch o.output {
	case outputJSON, outputYAML:
		var obj any
		switch {
		case len(names) == 1 && len(ds) == 1:
			obj = ds[0]
		case len(names) == 1 && len(rss) == 1:
			obj = rss[0]
		case kind == kindDeployment:
			list := &appsv1.DeploymentList{TypeMeta: metav1.TypeMeta{APIVersion: "v1", Kind: "List"}, Items: []appsv1.Deployment{}}
			for _, d := range ds {
				list.Items = append(list.Items, *d)
			}
			obj = list
		default:
			list := &appsv1.ReplicaSetList{TypeMeta: metav1.TypeMeta{APIVersion: "v1", Kind: "List"}, Items: []appsv1.ReplicaSet{}}
			for _, rs := range rss {
				list.Items = append(list.Items, *rs)
			}
			obj = list
		}
		if err := printObject(o.Out, o.output, obj); err != nil {
			return err
		}
		return failed
	}
	if n == 0 {
		if failed == nil {
			noResources(o.ErrOut, o.namespace)
		}
		return failed
	}
	if o.output == outputName {
		for _, d := range ds {
			fmt.Fprintf(o.Out, "deployment.apps/%s\n", d.Name)
		}
		for _, rs := range rss {
			fmt.Fprintf(o.Out, "replicaset.apps/%s\n", rs.Name)
		}
		return failed
	}
	var err error
	if kind == kindDeployment {
		err = printers.PrintDeployments(o.Out, ds, o.tableOptions())
	} else {
		err = printers.PrintReplicaSets(o.Out, rss, o.tableOptions())
	}
	if err != nil {
		return err
	}
	return failed
}

// runApps is `describe deployments|replicasets`: a name that matches
// nothing exactly describes those whose names start with it, as kubectl.
func (o *describeOptions) runApps(ctx context.Context, kind appsKind, names []string) error {
	rsList, err := o.client.ListReplicaSets(ctx, o.namespace, "")
	if err != nil {
		return err
	}
	if kind == kindReplicaSet {
		var rss []*appsv1.ReplicaSet
		for i := range rsList.Items {
			rs := &rsList.Items[i]
			if matchesName(rs.Name, names) {
				rss = append(rss, rs)
			}
		}
		if len(rss) == 0 {
			return notFoundOrNone(o, names, "replicasets.apps")
		}
		for i, rs := range rss {
			pods, err := o.client.ListPods(ctx, rs.Namespace, api.ListOptions{})
			if err != nil {
				return err
			}
			var mine []*v1.Pod
			for j := range pods.Items {
				if ref := metav1.GetControllerOf(&pods.Items[j]); ref != nil && ref.UID == rs.UID {
					mine = append(mine, &pods.Items[j])
				}
			}
			evs, err := o.client.ListEvents(ctx, rs.Namespace, "involvedObject.name="+rs.Name+",involvedObject.kind=ReplicaSet")
			if err != nil {
				return err
			}
			if i > 0 {
				fmt.Fprint(o.Out, "\n\n")
			}
			if err := printers.DescribeReplicaSet(o.Out, rs, mine, evs.Items, o.now()); err != nil {
				return err
			}
		}
		return nil
	}
	dList, err := o.client.ListDeployments(ctx, o.namespace, o.selector)
	if err != nil {
		return err
	}
	var ds []*appsv1.Deployment
	for i := range dList.Items {
		if matchesName(dList.Items[i].Name, names) {
			ds = append(ds, &dList.Items[i])
		}
	}
	if len(ds) == 0 {
		return notFoundOrNone(o, names, "deployments.apps")
	}
	for i, d := range ds {
		var rss []*appsv1.ReplicaSet
		for j := range rsList.Items {
			if ref := metav1.GetControllerOf(&rsList.Items[j]); ref != nil && ref.UID == d.UID {
				rss = append(rss, &rsList.Items[j])
			}
		}
		evs, err := o.client.ListEvents(ctx, d.Namespace, "involvedObject.name="+d.Name+",involvedObject.kind=Deployment")
		if err != nil {
			return err
		}
		if i > 0 {
			fmt.Fprint(o.Out, "\n\n")
		}
		if err := printers.DescribeDeployment(o.Out, d, rss, evs.Items, o.now()); err != nil {
			return err
		}
	}
	return nil
}

// matchesName: no names means all; else an exact name, or a prefix when
// nothing matches exactly (kubectl describe's fallback).
func matchesName(name string, names []string) bool {
	if len(names) == 0 {
		return true
	}
	for _, n := range names {
		if name == n || strings.HasPrefix(name, n) {
			return true
		}
	}
	return false
}

func notFoundOrNone(o *describeOptions, names []string, resource string) error {
	if len(names) == 0 {
		noResources(o.ErrOut, o.namespace)
		return nil
	}
	return fmt.Errorf("%s %q not found", resource, names[0])
}

// deploymentArg reads `deploy/NAME` or `deployment NAME`.
func deploymentArg(cmd *cobra.Command, args []string, verb string) (string, error) {
	kind, names, ok, err := appsNames(args)
	if err != nil {
		return "", err
	}
	if !ok || kind != kindDeployment {
		if len(args) > 0 {
			res, _, _ := strings.Cut(args[0], "/")
			return "", fmt.Errorf("the server doesn't have a resource type %q", res)
		}
		return "", usageErrorf(cmd, "you must specify a deployment to %s, e.g. deployment/NAME", verb)
	}
	if len(names) != 1 {
		return "", usageErrorf(cmd, "exactly one deployment must be named, e.g. deployment/NAME")
	}
	return names[0], nil
}

func newScaleCommand(g *globalOptions, streams IOStreams) *cobra.Command {
	var replicas int32 = -1
	cmd := &cobra.Command{
		Use:     "scale deployment/NAME --replicas=N",
		Short:   "Set the number of replicas of a Deployment (written into its manifest)",
		Example: `  minikubelet scale deployment/deployment-example --replicas=3`,
		RunE: func(cmd *cobra.Command, args []string) error {
			name, err := deploymentArg(cmd, args, "scale")
			if err != nil {
				return err
			}
			if replicas < 0 {
				return usageErrorf(cmd, "The --replicas=COUNT flag is required, and COUNT must be greater than or equal to 0")
			}
			c := g.client(streams.ErrOut)
			if err := c.ScaleDeployment(cmd.Context(), g.namespace, name, replicas); err != nil {
				return err
			}
			fmt.Fprintf(streams.Out, "deployment.apps/%s scaled\n", name)
			return nil
		},
	}
	cmd.Flags().Int32Var(&replicas, "replicas", -1, "the new number of replicas")
	return cmd
}

func newRolloutCommand(g *globalOptions, streams IOStreams) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "rollout status|history|undo|restart|pause|resume deployment/NAME",
		Short: "Manage the rollout of a Deployment",
	}
	action := func(use, short, verb string) *cobra.Command {
		var toRevision int64
		c := &cobra.Command{
			Use:   use + " deployment/NAME",
			Short: short,
			RunE: func(cmd *cobra.Command, args []string) error {
				name, err := deploymentArg(cmd, args, verb)
				if err != nil {
					return err
				}
				msg, err := g.client(streams.ErrOut).Rollout(cmd.Context(), g.namespace, name, verb, toRevision)
				if err != nil {
					return err
				}
				fmt.Fprintf(streams.Out, "deployment.apps/%s %s\n", name, msg)
				return nil
			},
		}
		if verb == "undo" {
			c.Flags().Int64Var(&toRevision, "to-revision", 0, "the revision to roll back to (0: the previous one)")
		}
		return c
	}
	cmd.AddCommand(
		newRolloutStatusCommand(g, streams),
		newRolloutHistoryCommand(g, streams),
		action("undo", "Roll back to an earlier revision", "undo"),
		action("restart", "Restart every pod of a Deployment, rolling", "restart"),
		action("pause", "Pause a Deployment's rollouts", "pause"),
		action("resume", "Resume a paused Deployment", "resume"),
	)
	return cmd
}

func newRolloutStatusCommand(g *globalOptions, streams IOStreams) *cobra.Command {
	var watch bool
	var timeout time.Duration
	cmd := &cobra.Command{
		Use:   "status deployment/NAME",
		Short: "Watch a rollout until it completes",
		RunE: func(cmd *cobra.Command, args []string) error {
			name, err := deploymentArg(cmd, args, "check")
			if err != nil {
				return err
			}
			ctx := cmd.Context()
			if timeout > 0 {
				var cancel context.CancelFunc
				ctx, cancel = context.WithTimeout(ctx, timeout)
				defer cancel()
			}
			c := g.client(streams.ErrOut)
			last := ""
			for {
				d, err := c.GetDeployment(ctx, g.namespace, name)
				if err != nil {
					if ctx.Err() != nil {
						return errors.New("timed out waiting for the condition")
					}
					return err
				}
				msg, done, err := rolloutStatus(d)
				if err != nil {
					return err
				}
				if msg != last {
					fmt.Fprintln(streams.Out, msg)
					last = msg
				}
				if done || !watch {
					return nil
				}
				select {
				case <-ctx.Done():
					if cmd.Context().Err() != nil {
						return nil
					}
					return errors.New("timed out waiting for the condition")
				case <-time.After(250 * time.Millisecond):
				}
			}
		},
	}
	cmd.Flags().BoolVarP(&watch, "watch", "w", true, "watch the rollout until it completes")
	cmd.Flags().DurationVar(&timeout, "timeout", 0, "give up after this long (0: never)")
	return cmd
}

// rolloutStatus is kubectl's DeploymentStatusViewer.
func rolloutStatus(d *appsv1.Deployment) (string, bool, error) {
	if d.Generation > d.Status.ObservedGeneration {
		return "Waiting for deployment spec update to be observed...", false, nil
	}
	for _, c := range d.Status.Conditions {
		if c.Type == appsv1.DeploymentProgressing && c.Reason == "ProgressDeadlineExceeded" {
			return "", false, fmt.Errorf("deployment %q exceeded its progress deadline", d.Name)
		}
	}
	want := int32(1)
	if d.Spec.Replicas != nil {
		want = *d.Spec.Replicas
	}
	s := d.Status
	switch {
	case s.UpdatedReplicas < want:
		return fmt.Sprintf("Waiting for deployment %q rollout to finish: %d out of %d new replicas have been updated...", d.Name, s.UpdatedReplicas, want), false, nil
	case s.Replicas > s.UpdatedReplicas:
		return fmt.Sprintf("Waiting for deployment %q rollout to finish: %d old replicas are pending termination...", d.Name, s.Replicas-s.UpdatedReplicas), false, nil
	case s.AvailableReplicas < s.UpdatedReplicas:
		return fmt.Sprintf("Waiting for deployment %q rollout to finish: %d of %d updated replicas are available...", d.Name, s.AvailableReplicas, s.UpdatedReplicas), false, nil
	}
	return fmt.Sprintf("deployment %q successfully rolled out", d.Name), true, nil
}

func newRolloutHistoryCommand(g *globalOptions, streams IOStreams) *cobra.Command {
	var revision int64
	cmd := &cobra.Command{
		Use:   "history deployment/NAME",
		Short: "List a Deployment's revisions",
		RunE: func(cmd *cobra.Command, args []string) error {
			name, err := deploymentArg(cmd, args, "view")
			if err != nil {
				return err
			}
			ctx := cmd.Context()
			c := g.client(streams.ErrOut)
			d, err := c.GetDeployment(ctx, g.namespace, name)
			if err != nil {
				return err
			}
			list, err := c.ListReplicaSets(ctx, g.namespace, "")
			if err != nil {
				return err
			}
			var revs []int64
			var causes []string
			var templates []*v1.PodTemplateSpec
			for i := range list.Items {
				rs := &list.Items[i]
				if ref := metav1.GetControllerOf(rs); ref == nil || ref.UID != d.UID {
					continue
				}
				n, err := strconv.ParseInt(rs.Annotations["deployment.kubernetes.io/revision"], 10, 64)
				if err != nil {
					continue
				}
				revs = append(revs, n)
				causes = append(causes, rs.Annotations["kubernetes.io/change-cause"])
				templates = append(templates, &rs.Spec.Template)
			}
			if revision > 0 {
				for i, n := range revs {
					if n == revision {
						fmt.Fprintf(streams.Out, "deployment.apps/%s with revision #%d\n", name, n)
						t := templates[i].DeepCopy()
						return printers.DescribePodTemplate(streams.Out, t)
					}
				}
				return fmt.Errorf("unable to find the specified revision")
			}
			if len(revs) == 0 {
				fmt.Fprintf(streams.Out, "No rollout history found in deployment %q\n", name)
				return nil
			}
			return printers.RolloutHistory(streams.Out, "deployment.apps", name, revs, causes)
		},
	}
	cmd.Flags().Int64Var(&revision, "revision", 0, "show the pod template of this revision")
	return cmd
}
