//go:build integration

package runtime_test

import (
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"testing"

	"github.com/minikubelet/minikubelet/internal/testenv"
	"github.com/minikubelet/minikubelet/internal/testhost"
	"github.com/minikubelet/minikubelet/runtime"
)

// A process left in a pod's cgroup once its containers are gone (the runc
// init of a create an agent kill cut short) is killed by CleanupPod, as
// the kubelet kills what is left before it removes a pod cgroup: otherwise
// the cgroup stays busy and the pod is never removed.
func TestCleanupPodKillsStrayProcesses(t *testing.T) {
	env := testenv.New(t)
	ctx := testContext(t)
	pod := env.Pod(t, `
metadata: {name: stray}
spec:
  containers: [{name: c, image: busybox}]
`)
	sb, err := env.Runtime.RunSandbox(ctx, pod, 0)
	if err != nil {
		t.Fatal(err)
	}
	dirs := testhost.PodCgroupDirs(runtime.DefaultCgroupRoot(env.Namespace))
	if len(dirs) == 0 {
		t.Fatal("no pod cgroup after RunSandbox")
	}
	stray := exec.Command("sleep", "3600")
	if err := stray.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan error, 1)
	go func() { exited <- stray.Wait() }()
	t.Cleanup(func() {
		_ = stray.Process.Kill()
		<-exited
	})
	for _, d := range dirs {
		if err := os.WriteFile(filepath.Join(d, "cgroup.procs"), []byte(strconv.Itoa(stray.Process.Pid)), 0o644); err != nil {
			t.Fatal(err)
		}
	}

	if err := env.Runtime.RemoveSandbox(ctx, sb.ID); err != nil {
		t.Fatal(err)
	}
	if err := env.Runtime.CleanupPod(ctx, pod.UID); err != nil {
		t.Errorf("CleanupPod: %v", err)
	}
	select {
	case err := <-exited:
		exited <- err
		if err == nil {
			t.Error("the stray process exited 0; want it killed")
		}
	default:
		t.Error("the stray process still runs after CleanupPod")
	}
	env.AssertPodGone(t, pod, sb.ID)
}
