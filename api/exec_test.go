package api

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"sync"
	"testing"

	v1 "k8s.io/api/core/v1"

	mkruntime "github.com/minikubelet/minikubelet/runtime"
)

// fakeExec runs fn in place of a container process and records the call.
type fakeExec struct {
	mu   sync.Mutex
	id   string
	opts mkruntime.ExecOptions
	fn   func(ctx context.Context, opts mkruntime.ExecOptions) (int32, error)
}

func (f *fakeExec) Exec(ctx context.Context, id string, opts mkruntime.ExecOptions) (int32, error) {
	f.mu.Lock()
	f.id, f.opts = id, opts
	f.mu.Unlock()
	return f.fn(ctx, opts)
}

func TestExecRoundTrip(t *testing.T) {
	fx := &fakeExec{fn: func(ctx context.Context, o mkruntime.ExecOptions) (int32, error) {
		in, err := io.ReadAll(o.Stdin) // until the client's stdin ends
		if err != nil {
			return 0, err
		}
		fmt.Fprintf(o.Stdout, "echo: %s", strings.ToUpper(string(in)))
		fmt.Fprint(o.Stderr, "a warning\n")
		return 3, nil
	}}
	env := startServer(t, Deps{Exec: fx})
	env.pods.Set(testPod("default", "web", nil))

	var stdout, stderr bytes.Buffer
	code, err := env.client.Exec(context.Background(), "default", "web", ExecOptions{
		Command: []string{"sh", "-c", "cat"},
		Stdin:   strings.NewReader("hello\n"),
		Stdout:  &stdout,
		Stderr:  &stderr,
	})
	if err != nil {
		t.Fatal(err)
	}
	if code != 3 || stdout.String() != "echo: HELLO\n" || stderr.String() != "a warning\n" {
		t.Errorf("code %d stdout %q stderr %q", code, stdout.String(), stderr.String())
	}
	if fx.id != "defaultweb" || strings.Join(fx.opts.Cmd, " ") != "sh -c cat" || fx.opts.TTY {
		t.Errorf("runtime got id %q cmd %q tty %v", fx.id, fx.opts.Cmd, fx.opts.TTY)
	}
}

func TestExecTTYResize(t *testing.T) {
	fx := &fakeExec{fn: func(ctx context.Context, o mkruntime.ExecOptions) (int32, error) {
		if !o.TTY || o.Resize == nil {
			return 1, errors.New("no tty")
		}
		select {
		case sz := <-o.Resize:
			fmt.Fprintf(o.Stdout, "%dx%d\r\n", sz.Width, sz.Height)
		case <-ctx.Done():
			return 1, ctx.Err()
		}
		return 0, nil
	}}
	env := startServer(t, Deps{Exec: fx})
	env.pods.Set(testPod("default", "web", nil))

	resize := make(chan mkruntime.TerminalSize, 1)
	resize <- mkruntime.TerminalSize{Width: 120, Height: 40}
	pr, pw := io.Pipe() // stdin that stays open, as a terminal's does
	defer pw.Close()
	var stdout bytes.Buffer
	code, err := env.client.Exec(context.Background(), "default", "web", ExecOptions{
		Command: []string{"sh"}, Stdin: pr, Stdout: &stdout, TTY: true, Resize: resize,
	})
	if err != nil || code != 0 || stdout.String() != "120x40\r\n" {
		t.Errorf("code %d err %v stdout %q", code, err, stdout.String())
	}
}

func TestExecRuntimeError(t *testing.T) {
	fx := &fakeExec{fn: func(ctx context.Context, o mkruntime.ExecOptions) (int32, error) {
		return 0, errors.New(`exec: "nope": executable file not found in $PATH`)
	}}
	env := startServer(t, Deps{Exec: fx})
	env.pods.Set(testPod("default", "web", nil))
	_, err := env.client.Exec(context.Background(), "default", "web", ExecOptions{Command: []string{"nope"}})
	if err == nil || !strings.Contains(err.Error(), "executable file not found") {
		t.Errorf("err = %v", err)
	}
}

// TestExecClientGone cancels the client mid-command: the process's context
// must end so the runtime can stop it.
func TestExecClientGone(t *testing.T) {
	started := make(chan struct{})
	ended := make(chan error, 1)
	fx := &fakeExec{fn: func(ctx context.Context, o mkruntime.ExecOptions) (int32, error) {
		close(started)
		<-ctx.Done()
		ended <- ctx.Err()
		return 137, nil
	}}
	env := startServer(t, Deps{Exec: fx})
	env.pods.Set(testPod("default", "web", nil))
	ctx, cancel := context.WithCancel(context.Background())
	go func() {
		<-started
		cancel()
	}()
	_, err := env.client.Exec(ctx, "default", "web", ExecOptions{Command: []string{"sleep", "1000"}})
	if !errors.Is(err, context.Canceled) {
		t.Errorf("client err = %v", err)
	}
	if err := <-ended; err == nil {
		t.Error("process context still alive")
	}
}

func TestExecRefused(t *testing.T) {
	fx := &fakeExec{fn: func(ctx context.Context, o mkruntime.ExecOptions) (int32, error) { return 0, nil }}
	env := startServer(t, Deps{Exec: fx})
	done := testPod("default", "done", nil)
	done.Status.Phase = v1.PodSucceeded
	waiting := testPod("default", "waiting", nil)
	waiting.Status.ContainerStatuses[0].State = v1.ContainerState{Waiting: &v1.ContainerStateWaiting{Reason: "ContainerCreating"}}
	env.pods.Set(done)
	env.pods.Set(waiting)
	for _, tc := range []struct {
		pod, container string
		cmd            []string
		want           string
	}{
		{"nope", "", []string{"ls"}, `pods "nope" not found`},
		{"done", "", []string{"ls"}, "cannot exec into a container in a completed pod; current phase is Succeeded"},
		{"waiting", "", []string{"ls"}, `unable to upgrade connection: container not found ("app")`},
		{"waiting", "zzz", []string{"ls"}, "container zzz is not valid for pod waiting"},
		{"waiting", "", nil, "you must specify at least 1 command"},
	} {
		_, err := env.client.Exec(context.Background(), "default", tc.pod, ExecOptions{Container: tc.container, Command: tc.cmd})
		if err == nil || err.Error() != tc.want {
			t.Errorf("%s: got %v, want %q", tc.pod, err, tc.want)
		}
	}
}
