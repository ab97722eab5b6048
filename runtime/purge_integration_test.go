//go:build integration

package runtime_test

import (
	"context"
	"fmt"
	"os"
	"strings"
	"testing"

	"github.com/containerd/containerd"
	"github.com/containerd/containerd/cio"
	"github.com/containerd/containerd/oci"

	"github.com/minikubelet/minikubelet/internal/testenv"
	"github.com/minikubelet/minikubelet/runtime"
)

// A purge that cannot finish (its ctx ends while it works: here at its
// first container) says which tasks are still there, with their PIDs; the
// next purge kills them all, paused ones too, and leaves nothing.
func TestPurgeNamespaceReportsAndKillsTasks(t *testing.T) {
	env := testenv.New(t)
	ctx := env.Ctx(testContext(t))
	client := env.Runtime.Client()
	img, err := client.GetImage(ctx, "docker.io/library/busybox:latest")
	if err != nil {
		t.Fatal(err)
	}
	start := func(id string) containerd.Task {
		t.Helper()
		c, err := client.NewContainer(ctx, id, containerd.WithImage(img), containerd.WithNewSnapshot(id, img),
			containerd.WithNewSpec(oci.WithImageConfig(img), oci.WithProcessArgs("sleep", "3600")))
		if err != nil {
			t.Fatal(err)
		}
		task, err := c.NewTask(ctx, cio.NullIO)
		if err != nil {
			t.Fatal(err)
		}
		if err := task.Start(ctx); err != nil {
			t.Fatal(err)
		}
		return task
	}
	paused := start("purge-a-paused")
	running := start("purge-b-running")
	if err := paused.Pause(ctx); err != nil {
		t.Fatal(err)
	}

	cut, cancel := context.WithCancel(ctx)
	err = runtime.PurgeNamespace(cut, client, env.Namespace, func(string, string) { cancel() })
	for _, task := range []containerd.Task{paused, running} {
		if want := fmt.Sprintf("%s (pid %d,", task.ID(), task.Pid()); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("purge cut short: error %v, want it to name the task left: %q", err, want)
		}
	}

	if err := runtime.PurgeNamespace(ctx, client, env.Namespace, nil); err != nil {
		t.Errorf("purge: %v", err)
	}
	for _, task := range []containerd.Task{paused, running} {
		if _, err := os.Stat(fmt.Sprintf("/proc/%d", task.Pid())); !os.IsNotExist(err) {
			t.Errorf("task %s: process %d still there (%v)", task.ID(), task.Pid(), err)
		}
	}
	if cs, err := client.Containers(ctx); err != nil || len(cs) > 0 {
		t.Errorf("containers left: %d (%v)", len(cs), err)
	}
}
