package main

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/spf13/cobra"
	v1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"sigs.k8s.io/yaml"

	"github.com/minikubelet/minikubelet/api"
)

type runOptions struct {
	IOStreams
	client *api.Client

	namespace  string
	name       string
	image      string
	args       []string
	command    bool
	env        []string
	labels     string
	restart    string
	stdin      bool
	tty        bool
	attach     bool
	remove     bool
	quiet      bool
	pullPolicy string
	timeout    time.Duration
}

func newRunCommand(g *globalOptions, streams IOStreams) *cobra.Command {
	o := &runOptions{IOStreams: streams}
	cmd := &cobra.Command{
		Use:   "run NAME --image=IMAGE [--env=KEY=VALUE] [--labels=K=V,...] [--restart=Always|OnFailure|Never] [-i] [-t] [--rm] [--command] -- [COMMAND] [ARGS...]",
		Short: "Run a pod with one container, as kubectl run",
		Example: `  minikubelet run nginx --image=nginx
  minikubelet run demo --image=busyboxplus -it --restart=Never
  minikubelet run once --image=busybox --rm -it --restart=Never -- sh -c 'echo hi'`,
		RunE: func(cmd *cobra.Command, args []string) error {
			if len(args) == 0 {
				return usageErrorf(cmd, "NAME is required for run")
			}
			if dash := cmd.ArgsLenAtDash(); dash > 1 || (dash == -1 && len(args) > 1) {
				return usageErrorf(cmd, "run takes one NAME, then -- and the command")
			}
			o.name, o.args = args[0], args[1:]
			o.namespace = g.namespace
			if !cmd.Flags().Changed("attach") {
				o.attach = o.stdin
			}
			if err := o.validate(cmd); err != nil {
				return err
			}
			o.client = g.client(o.ErrOut)
			return o.run(cmd.Context())
		},
	}
	f := cmd.Flags()
	f.StringVar(&o.image, "image", "", "the container image")
	f.BoolVar(&o.command, "command", false, "use the arguments after -- as the command, not as args to the image's command")
	f.StringArrayVar(&o.env, "env", nil, "environment variables (KEY=VALUE) of the container")
	f.StringVarP(&o.labels, "labels", "l", "", "comma-separated labels of the pod (default run=NAME)")
	f.StringVar(&o.restart, "restart", "Always", "restart policy: Always, OnFailure or Never")
	f.BoolVarP(&o.stdin, "stdin", "i", false, "keep stdin open on the container, and attach to it")
	f.BoolVarP(&o.tty, "tty", "t", false, "allocate a TTY for the container")
	f.BoolVar(&o.attach, "attach", false, "wait for the pod to start running, then attach (default true with -i)")
	f.BoolVar(&o.remove, "rm", false, "delete the pod after its container exits (needs attaching)")
	f.BoolVarP(&o.quiet, "quiet", "q", false, "only print output from the attached session")
	f.StringVar(&o.pullPolicy, "image-pull-policy", "", "the container's image pull policy")
	f.DurationVar(&o.timeout, "pod-running-timeout", time.Minute, "how long to wait for the pod to be running")
	return cmd
}

// validate refuses what kubectl run refuses.
func (o *runOptions) validate(cmd *cobra.Command) error {
	switch {
	case o.image == "":
		return usageErrorf(cmd, "--image is required")
	case o.tty && !o.stdin:
		return usageErrorf(cmd, "-i/--stdin is required for containers with -t/--tty=true")
	case o.remove && !o.attach:
		return usageErrorf(cmd, "--rm should only be used for attached containers")
	}
	switch v1.RestartPolicy(o.restart) {
	case v1.RestartPolicyAlways, v1.RestartPolicyOnFailure, v1.RestartPolicyNever:
	default:
		return usageErrorf(cmd, "invalid restart policy: %s", o.restart)
	}
	for _, e := range o.env {
		if k, _, ok := strings.Cut(e, "="); !ok || k == "" {
			return fmt.Errorf("invalid env: %s", e)
		}
	}
	return nil
}

// runPod is the pod kubectl run generates: one container named like the
// pod, labels run=NAME unless given, stdin/stdinOnce/tty as asked.
func runPod(name, namespace, image string, args []string, command bool, env []string, lbls map[string]string,
	restart v1.RestartPolicy, stdin, tty bool, pullPolicy v1.PullPolicy) *v1.Pod {
	if len(lbls) == 0 {
		lbls = map[string]string{"run": name}
	}
	c := v1.Container{
		Name:            name,
		Image:           image,
		ImagePullPolicy: pullPolicy,
		Stdin:           stdin,
		StdinOnce:       stdin,
		TTY:             tty,
	}
	if len(args) > 0 {
		if command {
			c.Command = args
		} else {
			c.Args = args
		}
	}
	for _, e := range env {
		k, v, _ := strings.Cut(e, "=")
		c.Env = append(c.Env, v1.EnvVar{Name: k, Value: v})
	}
	return &v1.Pod{
		TypeMeta:   metav1.TypeMeta{APIVersion: "v1", Kind: "Pod"},
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: namespace, Labels: lbls},
		Spec: v1.PodSpec{
			Containers:    []v1.Container{c},
			DNSPolicy:     v1.DNSClusterFirst,
			RestartPolicy: restart,
		},
	}
}

func (o *runOptions) run(ctx context.Context) error {
	var lbls map[string]string
	if o.labels != "" {
		set, err := labels.ConvertSelectorToLabelsMap(o.labels)
		if err != nil {
			return fmt.Errorf("invalid labels %q: %w", o.labels, err)
		}
		lbls = set
	}
	restart := v1.RestartPolicy(o.restart)
	pod := runPod(o.name, o.namespace, o.image, o.args, o.command, o.env, lbls, restart, o.stdin, o.tty, v1.PullPolicy(o.pullPolicy))
	data, err := yaml.Marshal(pod)
	if err != nil {
		return err
	}
	// kubectl run creates: an existing pod is an error, not an update.
	if _, err := o.client.GetPod(ctx, o.namespace, o.name); err == nil {
		return apierrors.NewAlreadyExists(schema.GroupResource{Resource: "pods"}, o.name)
	} else if !apierrors.IsNotFound(err) {
		return err
	}
	results, err := o.client.Apply(ctx, "", data)
	if err != nil {
		return err
	}
	if !o.attach {
		for _, r := range results {
			fmt.Fprintln(o.Out, r)
		}
		return nil
	}
	if o.remove {
		defer o.removePod(ctx)
	}

	running, err := waitPod(ctx, o.client, o.namespace, o.name, o.timeout, podRunningAndReady)
	if err != nil && !errors.Is(err, errPodCompleted) {
		return err
	}
	if errors.Is(err, errPodCompleted) {
		// Done before we could attach: show what it printed.
		if lerr := o.client.Logs(ctx, o.namespace, o.name, api.LogOptions{Container: o.name}, o.Out); lerr != nil {
			return lerr
		}
	} else {
		at := &attachOptions{IOStreams: o.IOStreams, client: o.client, namespace: o.namespace, pod: o.name,
			container: o.name, stdin: o.stdin, tty: o.tty, quiet: o.quiet, commandName: "minikubelet attach"}
		if aerr := at.run(ctx, running); aerr != nil {
			fmt.Fprintf(o.ErrOut, "warning: couldn't attach to pod/%s, falling back to streaming logs: %v\n", o.name, aerr)
			if lerr := o.client.Logs(ctx, o.namespace, o.name, api.LogOptions{Container: o.name, Follow: true}, o.Out); lerr != nil {
				return lerr
			}
		}
	}

	// With Never or OnFailure, the command's result is the container's.
	if restart == v1.RestartPolicyAlways {
		return nil
	}
	done := podCompleted
	if restart == v1.RestartPolicyOnFailure {
		done = podSucceeded
	}
	final, err := waitPod(ctx, o.client, o.namespace, o.name, 0, done)
	if err != nil && !errors.Is(err, errPodCompleted) {
		return err
	}
	switch final.Status.Phase {
	case v1.PodSucceeded:
		return nil
	case v1.PodFailed:
		unknown := fmt.Errorf("pod %s/%s failed with unknown exit code", final.Namespace, final.Name)
		if len(final.Status.ContainerStatuses) == 0 || final.Status.ContainerStatuses[0].State.Terminated == nil {
			return unknown
		}
		t := final.Status.ContainerStatuses[0].State.Terminated
		if t.ExitCode == 0 {
			return unknown
		}
		return exitError{code: int(t.ExitCode), msg: fmt.Sprintf("pod %s/%s terminated (%s)\n%s", final.Namespace, final.Name, t.Reason, t.Message)}
	default:
		return fmt.Errorf("pod %s/%s left in phase %s", final.Namespace, final.Name, final.Status.Phase)
	}
}

// removePod deletes the pod run made (--rm) and waits until it is gone.
func (o *runOptions) removePod(ctx context.Context) {
	results, err := o.client.DeletePod(ctx, o.namespace, o.name)
	for _, r := range results {
		fmt.Fprintln(o.Out, r)
	}
	if err != nil {
		printMsg(o.ErrOut, errorMessage(err))
		return
	}
	_ = waitPodGone(ctx, o.client, podKey{o.namespace, o.name})
}

// errPodCompleted ends a wait for a running pod that has already finished.
var errPodCompleted = errors.New("pod ran to completion")

// podRunningAndReady is kubectl run's condition before attaching.
func podRunningAndReady(p *v1.Pod) (bool, error) {
	switch p.Status.Phase {
	case v1.PodFailed, v1.PodSucceeded:
		return false, errPodCompleted
	case v1.PodRunning:
		for _, c := range p.Status.Conditions {
			if c.Type == v1.PodReady && c.Status == v1.ConditionTrue {
				return true, nil
			}
		}
	}
	return false, nil
}

func podCompleted(p *v1.Pod) (bool, error) {
	return p.Status.Phase == v1.PodFailed || p.Status.Phase == v1.PodSucceeded, nil
}

func podSucceeded(p *v1.Pod) (bool, error) {
	return p.Status.Phase == v1.PodSucceeded, nil
}

// waitPod polls the pod until cond holds or fails; timeout 0 waits as long
// as ctx lets it. It returns the last pod seen.
func waitPod(ctx context.Context, c *api.Client, namespace, name string, timeout time.Duration, cond func(*v1.Pod) (bool, error)) (*v1.Pod, error) {
	if timeout > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, timeout)
		defer cancel()
	}
	tick := time.NewTicker(200 * time.Millisecond)
	defer tick.Stop()
	for {
		p, err := c.GetPod(ctx, namespace, name)
		if err == nil {
			ok, cerr := cond(p)
			if ok || cerr != nil {
				return p, cerr
			}
		} else if !apierrors.IsNotFound(err) && ctx.Err() == nil {
			return nil, err
		}
		select {
		case <-ctx.Done():
			if timeout > 0 && errors.Is(ctx.Err(), context.DeadlineExceeded) {
				return p, fmt.Errorf("timed out waiting for the condition on pods/%s", name)
			}
			return p, ctx.Err()
		case <-tick.C:
		}
	}
}
