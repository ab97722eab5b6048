//go:build integration

package agent

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/moby/sys/mountinfo"
	v1 "k8s.io/api/core/v1"

	"github.com/minikubelet/minikubelet/internal/testenv"
	"github.com/minikubelet/minikubelet/runtime"
)

// An agent stopped while a pod's termination was under way, once the pod's
// containers were removed and before its CleanupPod, leaves the pod's
// directory (its /dev/shm and memory-backed emptyDir mounts, pod.json) and
// its log dir, with nothing of the pod left in containerd to adopt: the next
// agent removes them once it knows its desired pods, and so a log dir whose
// pod directory is gone already (a cut inside CleanupPod). A desired pod
// whose containers a reboot took keeps its directory and its emptyDir's
// contents.
func TestAgentRemovesOrphanedPodDirs(t *testing.T) {
	env := testenv.New(t)
	cfg := testConfig(t, env)
	a := startAgent(t, cfg)
	withVolumes := func(name string) string {
		return pod(name, "Always", "  - name: c\n    image: busybox\n"+
			"    command: [sh, -c, 'echo "+name+" >> /data/marker; echo x > /mem/x; sleep 3600']\n"+
			"    volumeMounts: [{name: data, mountPath: /data}, {name: mem, mountPath: /mem}]\n") +
			"  volumes:\n  - {name: data, emptyDir: {}}\n  - {name: mem, emptyDir: {medium: Memory}}\n"
	}
	a.write("kept.yaml", withVolumes("kept"))
	a.write("doomed.yaml", withVolumes("doomed"))
	kept := a.waitPod("kept", "Running", time.Minute, statusIs("Running"))
	doomed := a.waitPod("doomed", "Running", time.Minute, statusIs("Running"))
	podDir := func(p *v1.Pod) string { return filepath.Join(cfg.Root, "pods", string(p.UID)) }
	marker := filepath.Join(podDir(kept), "volumes", "empty-dir", "data", "marker")
	testenv.WaitFor(t, "the kept pod's marker", func() (bool, string) {
		b, err := os.ReadFile(marker)
		return string(b) == "kept\n", fmt.Sprintf("%q %v", b, err)
	})

	a.stop() // pods keep running
	a.remove("doomed.yaml")
	// Both pods lose their containers and sandboxes, and not their
	// directories: the doomed one as when its termination is cut short
	// before CleanupPod, the kept one as in a reboot, which also takes its
	// tmpfs mounts.
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	for _, p := range []*v1.Pod{kept, doomed} {
		ps, err := env.Runtime.PodState(ctx, p.UID)
		if err != nil {
			t.Fatal(err)
		}
		if len(ps.Sandboxes) == 0 {
			t.Fatalf("pod %s has no sandbox in containerd", p.Name)
		}
		if err := env.RemoveContainers(ctx, p.UID); err != nil {
			t.Fatal(err)
		}
	}
	if err := runtime.UnmountUnder(podDir(kept)); err != nil {
		t.Fatal(err)
	}
	if ms := mountsUnder(t, podDir(doomed)); len(ms) < 2 {
		t.Fatalf("the doomed pod's shm and memory emptyDir are not mounted: %v", ms)
	}
	ghost := &v1.Pod{}
	ghost.Namespace, ghost.Name, ghost.UID = "default", "ghost", "6f1c2d3e-0000-4000-8000-00000000abcd"
	if err := os.MkdirAll(filepath.Join(runtime.PodLogDir(cfg.LogDir, ghost), "c"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(runtime.LogPath(cfg.LogDir, ghost, "c", 0), []byte("x\n"), 0o644); err != nil {
		t.Fatal(err)
	}

	a = startAgent(t, cfg)
	again := a.waitPod("kept", "Running again", time.Minute, func(p *v1.Pod) bool {
		return statusIs("Running")(p) && cstatus(p, "c").ContainerID != cstatus(kept, "c").ContainerID
	})
	if again.UID != kept.UID {
		t.Fatalf("kept pod has UID %s, had %s", again.UID, kept.UID)
	}
	testenv.WaitFor(t, "the orphaned pods' directories gone", func() (bool, string) {
		var left []string
		for _, d := range []string{podDir(doomed), runtime.PodLogDir(cfg.LogDir, doomed), runtime.PodLogDir(cfg.LogDir, ghost)} {
			if _, err := os.Stat(d); !errors.Is(err, os.ErrNotExist) {
				left = append(left, d)
			}
		}
		return len(left) == 0, fmt.Sprintf("left: %v", left)
	})
	if ms := mountsUnder(t, podDir(doomed)); len(ms) > 0 {
		t.Errorf("mounts of the doomed pod left: %v", ms)
	}
	// The new container appended to the emptyDir the first one wrote.
	testenv.WaitFor(t, "the kept pod's marker written again", func() (bool, string) {
		b, err := os.ReadFile(marker)
		return string(b) == "kept\nkept\n", fmt.Sprintf("%q %v", b, err)
	})
	if _, err := os.Stat(runtime.PodLogDir(cfg.LogDir, kept)); err != nil {
		t.Errorf("the kept pod's log dir: %v", err)
	}

	a.remove("kept.yaml")
	a.waitGone("kept", time.Minute)
	env.AssertPodGone(t, doomed)
	env.AssertPodGone(t, again)
}

func mountsUnder(t *testing.T, dir string) []string {
	t.Helper()
	ms, err := mountinfo.GetMounts(mountinfo.PrefixFilter(dir))
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, m := range ms {
		out = append(out, m.Mountpoint)
	}
	return out
}
