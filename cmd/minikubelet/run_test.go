package main

import (
	"bytes"
	"context"
	"reflect"
	"strings"
	"testing"

	v1 "k8s.io/api/core/v1"
)

// The pod kubectl run generates (kubectl's generate/versioned run.go
// BasicPod) for the usual flag combinations.
func TestRunPod(t *testing.T) {
	for _, tt := range []struct {
		name    string
		args    []string
		command bool
		env     []string
		labels  map[string]string
		restart v1.RestartPolicy
		stdin   bool
		tty     bool
		want    v1.Container
		wantLbl map[string]string
	}{
		{name: "plain", restart: v1.RestartPolicyAlways,
			want: v1.Container{Name: "demo", Image: "busybox"}, wantLbl: map[string]string{"run": "demo"}},
		{name: "-it --restart=Never", restart: v1.RestartPolicyNever, stdin: true, tty: true,
			want: v1.Container{Name: "demo", Image: "busybox", Stdin: true, StdinOnce: true, TTY: true}, wantLbl: map[string]string{"run": "demo"}},
		{name: "-i only", restart: v1.RestartPolicyNever, stdin: true,
			want: v1.Container{Name: "demo", Image: "busybox", Stdin: true, StdinOnce: true}, wantLbl: map[string]string{"run": "demo"}},
		{name: "args", args: []string{"sleep", "10"}, restart: v1.RestartPolicyAlways,
			want: v1.Container{Name: "demo", Image: "busybox", Args: []string{"sleep", "10"}}, wantLbl: map[string]string{"run": "demo"}},
		{name: "--command", args: []string{"sleep", "10"}, command: true, restart: v1.RestartPolicyAlways,
			want: v1.Container{Name: "demo", Image: "busybox", Command: []string{"sleep", "10"}}, wantLbl: map[string]string{"run": "demo"}},
		{name: "--env and --labels", env: []string{"A=1", "B=x=y"}, labels: map[string]string{"app": "web"}, restart: v1.RestartPolicyOnFailure,
			want:    v1.Container{Name: "demo", Image: "busybox", Env: []v1.EnvVar{{Name: "A", Value: "1"}, {Name: "B", Value: "x=y"}}},
			wantLbl: map[string]string{"app": "web"}},
	} {
		p := runPod("demo", "ns1", "busybox", tt.args, tt.command, tt.env, tt.labels, tt.restart, tt.stdin, tt.tty, "")
		if p.Kind != "Pod" || p.APIVersion != "v1" || p.Name != "demo" || p.Namespace != "ns1" ||
			p.Spec.RestartPolicy != tt.restart || p.Spec.DNSPolicy != v1.DNSClusterFirst || len(p.Spec.Containers) != 1 {
			t.Errorf("%s: pod %+v", tt.name, p)
			continue
		}
		if !reflect.DeepEqual(p.Spec.Containers[0], tt.want) || !reflect.DeepEqual(p.Labels, tt.wantLbl) {
			t.Errorf("%s: container %+v labels %v\nwant %+v labels %v", tt.name, p.Spec.Containers[0], p.Labels, tt.want, tt.wantLbl)
		}
	}
}

func TestRunValidate(t *testing.T) {
	for _, tt := range []struct {
		args []string
		want string
	}{
		{[]string{"run", "x"}, "--image is required"},
		{[]string{"run", "x", "--image=b", "-t"}, "-i/--stdin is required for containers with -t/--tty=true"},
		{[]string{"run", "x", "--image=b", "--rm"}, "--rm should only be used for attached containers"},
		{[]string{"run", "x", "--image=b", "--restart=Sometimes"}, "invalid restart policy: Sometimes"},
		{[]string{"run", "x", "--image=b", "--env=NOVALUE"}, "invalid env: NOVALUE"},
		{[]string{"run", "x", "y", "--image=b"}, "run takes one NAME"},
	} {
		// Refused before any request: no agent needed.
		var out, errOut bytes.Buffer
		code := run(context.Background(), tt.args, IOStreams{In: strings.NewReader(""), Out: &out, ErrOut: &errOut},
			func(string) string { return "/nonexistent.sock" })
		if code == 0 || !strings.Contains(errOut.String(), tt.want) {
			t.Errorf("%v: exit %d, %q; want %q", tt.args, code, errOut.String(), tt.want)
		}
	}
}
