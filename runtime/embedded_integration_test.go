//go:build integration

package runtime

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"github.com/containerd/containerd"
	"github.com/containerd/containerd/cio"
	"github.com/containerd/containerd/images"
	"github.com/containerd/containerd/namespaces"
	"github.com/containerd/containerd/oci"
	"go.uber.org/zap/zaptest"
	v1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"

	"github.com/minikubelet/minikubelet/imagebuild"
	imgs "github.com/minikubelet/minikubelet/images"
	"github.com/minikubelet/minikubelet/internal/osthread"
)

// startEmbedded starts a private containerd under a temp root and stops it
// (and removes its state dir) when the test ends.
func startEmbedded(t *testing.T, root string) (*containerd.Client, *Daemon) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	client, d, err := Connect(ctx, zaptest.NewLogger(t), filepath.Join(root, "nothing.sock"), root)
	if err != nil {
		t.Fatal(err)
	}
	if d == nil {
		t.Fatal("expected an embedded daemon")
	}
	t.Cleanup(func() {
		client.Close()
		stopCtx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		if err := d.Stop(stopCtx); err != nil {
			t.Error(err)
		}
	})
	return client, d
}

// TestConnectStartsEmbeddedDaemon: nothing answers at the address, so Connect
// starts a private containerd under root; a second Connect over the same root
// finds that daemon; Stop ends it.
func TestConnectStartsEmbeddedDaemon(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root")
	}
	root := t.TempDir()
	t.Cleanup(func() { removeStateDir(t, root) })
	client, d := startEmbedded(t, root)
	ctx := context.Background()
	v, err := client.Version(ctx)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("embedded containerd %s at %s", v.Version, d.Address())
	if len(d.Address()) >= 108 {
		t.Errorf("socket path too long for a unix socket: %s", d.Address())
	}

	// The daemon's own socket answers now: a second Connect uses it.
	client2, d2, err := Connect(ctx, zaptest.NewLogger(t), d.Address(), root)
	if err != nil {
		t.Fatal(err)
	}
	client2.Close()
	if d2 != nil {
		t.Fatal("second Connect started another daemon")
	}
}

// TestEmbeddedDaemonRestartKeepsTasks: a task started through one embedded
// daemon keeps running when the daemon stops, and a new daemon over the same
// root adopts it (what an agent restart relies on).
func TestEmbeddedDaemonRestartKeepsTasks(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root")
	}
	root := t.TempDir()
	t.Cleanup(func() {
		removeStateDir(t, root)
		// runc leaves the namespace's (empty) parent cgroup.
		dirs, _ := filepath.Glob("/sys/fs/cgroup/*/mkt-embedded")
		for _, d := range dirs {
			_ = syscall.Rmdir(d)
		}
	})
	client, d := startEmbedded(t, root)
	ctx, cancel := context.WithTimeout(namespaces.WithNamespace(context.Background(), "mkt-embedded"), 2*time.Minute)
	defer cancel()

	bb, err := imgs.Busybox(imgs.BusyboxPath)
	if err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	if err := imagebuild.WriteOCIArchive(&buf, bb); err != nil {
		t.Fatal(err)
	}
	list, err := client.Import(ctx, &buf)
	if err != nil {
		t.Fatal(err)
	}
	img := containerd.NewImage(client, list[0])
	if err := img.Unpack(ctx, containerd.DefaultSnapshotter); err != nil {
		t.Fatal(err)
	}
	runcRoot := filepath.Join(root, "runc")
	container, err := client.NewContainer(ctx, "sleeper",
		containerd.WithNewSnapshot("sleeper", img),
		containerd.WithNewSpec(oci.WithImageConfig(img), oci.WithProcessArgs("sleep", "3600"), withoutDefaultRlimits),
	)
	if err != nil {
		t.Fatal(err)
	}
	task, err := container.NewTask(ctx, cio.NullIO, func(_ context.Context, _ *containerd.Client, ti *containerd.TaskInfo) error {
		ti.Options = (&Containerd{cfg: Config{RuncRoot: runcRoot}}).runcOptions()
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := task.Start(ctx); err != nil {
		t.Fatal(err)
	}
	pid := task.Pid()

	// The daemon goes away; the task does not.
	stopCtx, stopCancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer stopCancel()
	if err := d.Stop(stopCtx); err != nil {
		t.Fatal(err)
	}
	client.Close()
	if err := syscall.Kill(int(pid), 0); err != nil {
		t.Fatalf("task process %d died with the daemon: %v", pid, err)
	}

	// A new daemon over the same root finds it.
	client2, _ := startEmbedded(t, root)
	c2, err := client2.LoadContainer(ctx, "sleeper")
	if err != nil {
		t.Fatal(err)
	}
	t2, err := c2.Task(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	st, err := t2.Status(ctx)
	if err != nil || st.Status != containerd.Running || t2.Pid() != pid {
		t.Fatalf("after restart: %+v pid %d (was %d), %v", st, t2.Pid(), pid, err)
	}
	if _, err := t2.Delete(ctx, containerd.WithProcessKill); err != nil {
		t.Fatal(err)
	}
	if err := c2.Delete(ctx, containerd.WithSnapshotCleanup); err != nil {
		t.Fatal(err)
	}
	for _, i := range list {
		if err := client2.ImageService().Delete(ctx, i.Name, images.SynchronousDelete()); err != nil {
			t.Fatal(err)
		}
	}
}

// removeStateDir removes the embedded daemon's state dir under /run.
func removeStateDir(t *testing.T, root string) {
	cfg, err := newEmbeddedConfig(root)
	if err != nil {
		t.Error(err)
		return
	}
	if err := os.RemoveAll(filepath.Dir(cfg.State)); err != nil {
		t.Error(err)
	}
}

// TestSubscribeSurvivesDaemonRestart: the event stream breaks when
// containerd restarts; the runtime subscribes again, says so (Resubscribed),
// reports and finalizes the exit that happened while containerd was down,
// and still reports exits.
func TestSubscribeSurvivesDaemonRestart(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root")
	}
	root := t.TempDir()
	const ns = "mkt-resubscribe"
	t.Cleanup(func() {
		removeStateDir(t, root)
		if err := RemoveCgroups(DefaultCgroupRoot(ns)); err != nil {
			t.Error(err)
		}
	})
	client, d := startEmbedded(t, root)
	ctx, cancel := context.WithTimeout(namespaces.WithNamespace(context.Background(), ns), 2*time.Minute)
	defer cancel()
	rt, err := New(ctx, zaptest.NewLogger(t), client, Config{
		Namespace: ns, Root: filepath.Join(root, "rt"), LogDir: filepath.Join(root, "logs"), RuncRoot: filepath.Join(root, "runc"),
	})
	if err != nil {
		t.Fatal(err)
	}
	defer rt.Close()
	events := rt.Subscribe(ctx)

	bb, err := imgs.Busybox(imgs.BusyboxPath)
	if err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	if err := imagebuild.WriteOCIArchive(&buf, bb); err != nil {
		t.Fatal(err)
	}
	names, err := rt.ImportArchive(ctx, bytes.NewReader(buf.Bytes()))
	if err != nil {
		t.Fatal(err)
	}
	img, _, err := rt.getImage(ctx, names[0])
	if err != nil {
		t.Fatal(err)
	}
	// exitWith runs a container of ours that exits with code and waits for
	// its event.
	exitWith := func(id string, code int) {
		t.Helper()
		container, err := client.NewContainer(ctx, id,
			containerd.WithNewSnapshot(id, img),
			containerd.WithRuntime(runcRuntime, rt.runcOptions()),
			containerd.WithNewSpec(oci.WithImageConfig(img), oci.WithProcessArgs("sh", "-c", fmt.Sprintf("exit %d", code)),
				withoutDefaultRlimits, oci.WithCgroup(rt.cgroupsPath(podWithUID("uid-1"), id))),
			containerd.WithContainerLabels(map[string]string{LabelPodUID: "uid-1", LabelKind: "app", LabelStartedAt: time.Now().Format(time.RFC3339Nano)}),
		)
		if err != nil {
			t.Fatal(err)
		}
		task, err := container.NewTask(ctx, cio.NullIO, rt.withRuncOptions)
		if err != nil {
			t.Fatal(err)
		}
		if err := task.Start(ctx); err != nil {
			t.Fatal(err)
		}
		for ev := range events {
			if ev.ContainerID == id {
				if ev.Type != ContainerExited || ev.ExitCode != int32(code) || ev.PodUID != "uid-1" {
					t.Errorf("event = %+v", ev)
				}
				break
			}
		}
		st, err := rt.containerStatus(ctx, id)
		if err != nil || st.State != StateExited || st.ExitCode != int32(code) || st.Reason != "Error" {
			t.Errorf("status = %+v, %v", st, err)
		}
		if err := rt.RemoveContainer(ctx, id); err != nil {
			t.Error(err)
		}
	}
	// The subscription is live once it delivered an event.
	exitWith("before", 3)

	// A container that dies while containerd is down: its exit is never
	// streamed, the reconciliation after the re-subscription finds it.
	gap, err := client.NewContainer(ctx, "gap",
		containerd.WithNewSnapshot("gap", img),
		containerd.WithRuntime(runcRuntime, rt.runcOptions()),
		containerd.WithNewSpec(oci.WithImageConfig(img), oci.WithProcessArgs("sleep", "3600"),
			withoutDefaultRlimits, oci.WithCgroup(rt.cgroupsPath(podWithUID("uid-2"), "gap"))),
		containerd.WithContainerLabels(map[string]string{LabelPodUID: "uid-2", LabelKind: "app", LabelStartedAt: time.Now().Format(time.RFC3339Nano)}),
	)
	if err != nil {
		t.Fatal(err)
	}
	gapTask, err := gap.NewTask(ctx, cio.NullIO, rt.withRuncOptions)
	if err != nil {
		t.Fatal(err)
	}
	if err := gapTask.Start(ctx); err != nil {
		t.Fatal(err)
	}

	stopCtx, stopCancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer stopCancel()
	if err := d.Stop(stopCtx); err != nil {
		t.Fatal(err)
	}
	if err := syscall.Kill(int(gapTask.Pid()), syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	startEmbedded(t, root) // same root, same socket: the old client reconnects
	waitUntil(t, "the client to reconnect", func() bool {
		_, err := client.Version(ctx)
		return err == nil
	})
	var resubscribed, gapExit bool
	for !resubscribed || !gapExit {
		select {
		case ev := <-events:
			switch {
			case ev.Type == Resubscribed:
				resubscribed = true
			case ev.Type == ContainerExited && ev.ContainerID == "gap":
				if ev.PodUID != "uid-2" || ev.ExitCode != 137 {
					t.Errorf("exit during the gap: %+v", ev)
				}
				gapExit = true
			}
		case <-ctx.Done():
			t.Fatalf("after containerd restarted: resubscribed %v, exit during the gap seen %v", resubscribed, gapExit)
		}
	}
	// Finalized by the monitor itself: the exit is in the labels, the task
	// (and its shim) is gone.
	waitUntil(t, "the exit during the gap to be finalized", func() bool {
		labels, err := gap.Labels(ctx)
		_, terr := gap.Task(ctx, nil)
		return err == nil && labels[LabelExitCode] == "137" && isNotFound(terr)
	})
	if st, err := rt.containerStatus(ctx, "gap"); err != nil || st.State != StateExited || st.ExitCode != 137 || st.Reason != "Error" {
		t.Errorf("status = %+v, %v", st, err)
	}
	if err := rt.RemoveContainer(ctx, "gap"); err != nil {
		t.Error(err)
	}
	exitWith("after", 9)
}

func waitUntil(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(time.Minute)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func podWithUID(uid types.UID) *v1.Pod {
	return &v1.Pod{ObjectMeta: metav1.ObjectMeta{UID: uid}}
}

// TestEmbeddedDaemonOutlivesEndedThreads: the agent gives its idle OS
// threads back (osthread.EndIdle); the embedded containerd, whose
// parent-death signal is tied to the thread that forked it, runs on. It
// used to get SIGTERM when that thread was among them, and tests sharing
// one containerd with an agent saw it restart under them.
func TestEmbeddedDaemonOutlivesEndedThreads(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root")
	}
	root := t.TempDir()
	t.Cleanup(func() { removeStateDir(t, root) })
	client, d := startEmbedded(t, root)
	pid := d.PID()
	for range 3 {
		if _, err := osthread.EndIdle(0); err != nil {
			t.Fatal(err)
		}
	}
	// The signal is sent as a thread exits, and the supervisor restarts
	// a containerd that died at once; a moment tells the two apart.
	time.Sleep(time.Second)
	if got := d.PID(); got != pid {
		t.Fatalf("containerd %d replaced by %d after the agent's idle threads ended", pid, got)
	}
	if err := syscall.Kill(pid, 0); err != nil {
		t.Fatalf("containerd %d: %v", pid, err)
	}
	if _, err := client.Version(context.Background()); err != nil {
		t.Fatal(err)
	}
}
