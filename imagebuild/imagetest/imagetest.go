// Package imagetest helps integration tests check built images against the
// real thing: it starts a private containerd under a test's temp dir,
// imports archives into it, unpacks them with the overlayfs snapshotter,
// mounts the result and runs a command in it with runc.
//
// Nothing here touches the host's containerd: the daemon's root, state and
// sockets live under t.TempDir(), and commands run with runc directly (its
// state under t.TempDir() too) rather than through a containerd shim, whose
// socket containerd 1.6 would put under /run/containerd.
//
// Everything needs root; StartContainerd skips the test otherwise.
package imagetest

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"

	containerd "github.com/containerd/containerd"
	"github.com/containerd/containerd/containers"
	"github.com/containerd/containerd/images"
	"github.com/containerd/containerd/mount"
	"github.com/containerd/containerd/namespaces"
	"github.com/containerd/containerd/oci"
	"github.com/opencontainers/image-spec/identity"
)

// Snapshotter is the snapshotter images are unpacked with, as the agent does.
const Snapshotter = "overlayfs"

// Containerd is a private containerd daemon owned by one test.
type Containerd struct {
	Client *containerd.Client
	// Dir holds the daemon's config, root, state, socket and log.
	Dir string
	// Namespace is the containerd namespace of this test, from its name.
	Namespace string
}

// StartContainerd starts containerd with its root, state and sockets under
// a temp dir, the CRI plugin disabled, and returns a client to it. The test
// is skipped when not root or when containerd is not installed. The daemon
// is stopped by its PID when the test ends; its log is printed if the test
// failed.
func StartContainerd(t testing.TB) *Containerd {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("needs root to run containerd")
	}
	bin, err := exec.LookPath("containerd")
	if err != nil {
		t.Skip("containerd is not installed")
	}
	dir := t.TempDir()
	sock := filepath.Join(dir, "containerd.sock")
	config := fmt.Sprintf(`version = 2
root = %[1]q
state = %[2]q
disabled_plugins = ["io.containerd.grpc.v1.cri"]

[grpc]
  address = %[3]q

[ttrpc]
  address = %[4]q

[plugins."io.containerd.internal.v1.opt"]
  path = %[5]q
`, filepath.Join(dir, "root"), filepath.Join(dir, "state"), sock, sock+".ttrpc", filepath.Join(dir, "opt"))
	configPath := filepath.Join(dir, "config.toml")
	if err := os.WriteFile(configPath, []byte(config), 0o600); err != nil {
		t.Fatal(err)
	}
	logPath := filepath.Join(dir, "containerd.log")
	logFile, err := os.Create(logPath)
	if err != nil {
		t.Fatal(err)
	}
	defer logFile.Close()

	cmd := exec.Command(bin, "--config", configPath)
	cmd.Stdout, cmd.Stderr = logFile, logFile
	// Die with the test binary rather than outlive a crashed test.
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL, Setpgid: true}
	if err := cmd.Start(); err != nil {
		t.Fatalf("start containerd: %v", err)
	}
	exited := make(chan struct{})
	go func() {
		_ = cmd.Wait()
		close(exited)
	}()
	c := &Containerd{Dir: dir, Namespace: namespaceFor(t.Name())}
	t.Cleanup(func() {
		if c.Client != nil {
			c.Client.Close()
		}
		stopByPID(t, cmd.Process.Pid, exited)
		if t.Failed() {
			if b, err := os.ReadFile(logPath); err == nil {
				t.Logf("containerd log:\n%s", b)
			}
		}
	})

	deadline := time.Now().Add(30 * time.Second)
	for {
		select {
		case <-exited:
			b, _ := os.ReadFile(logPath)
			t.Fatalf("containerd exited during start-up:\n%s", b)
		default:
		}
		if _, err := os.Stat(sock); err == nil {
			client, err := containerd.New(sock, containerd.WithTimeout(5*time.Second))
			if err == nil {
				ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
				serving, err := client.IsServing(ctx)
				cancel()
				if err == nil && serving {
					c.Client = client
					return c
				}
				client.Close()
			}
		}
		if time.Now().After(deadline) {
			b, _ := os.ReadFile(logPath)
			t.Fatalf("containerd did not become ready within 30s:\n%s", b)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// stopByPID sends SIGTERM to pid and waits for it to exit, escalating to
// SIGKILL after a grace period.
func stopByPID(t testing.TB, pid int, exited <-chan struct{}) {
	_ = syscall.Kill(pid, syscall.SIGTERM)
	select {
	case <-exited:
		return
	case <-time.After(20 * time.Second):
	}
	t.Errorf("containerd (pid %d) ignored SIGTERM; killing it", pid)
	_ = syscall.Kill(pid, syscall.SIGKILL)
	<-exited
}

var invalidNamespaceChars = regexp.MustCompile(`[^A-Za-z0-9]+`)

// namespaceFor turns a test name into a valid containerd namespace.
func namespaceFor(testName string) string {
	ns := strings.Trim(invalidNamespaceChars.ReplaceAllString(testName, "-"), "-")
	if len(ns) > 60 {
		ns = ns[:60]
	}
	return strings.Trim(ns, "-")
}

// Context returns ctx in the test's containerd namespace.
func (c *Containerd) Context(ctx context.Context) context.Context {
	return namespaces.WithNamespace(ctx, c.Namespace)
}

// cleanupContext is for t.Cleanup functions, which run after t.Context()
// is cancelled.
func (c *Containerd) cleanupContext() (context.Context, context.CancelFunc) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	return c.Context(ctx), cancel
}

// Import imports an archive with client.Import, as the agent does, and
// returns the images it created. They are deleted when the test ends.
func (c *Containerd) Import(t testing.TB, archive []byte) []images.Image {
	t.Helper()
	imgs, err := c.Client.Import(c.Context(t.Context()), bytes.NewReader(archive))
	if err != nil {
		t.Fatalf("import: %v", err)
	}
	t.Cleanup(func() {
		ctx, cancel := c.cleanupContext()
		defer cancel()
		for _, img := range imgs {
			if err := c.Client.ImageService().Delete(ctx, img.Name, images.SynchronousDelete()); err != nil {
				t.Errorf("delete image %s: %v", img.Name, err)
			}
		}
	})
	return imgs
}

// Image returns the imported image called name.
func (c *Containerd) Image(t testing.TB, name string) containerd.Image {
	t.Helper()
	img, err := c.Client.GetImage(c.Context(t.Context()), name)
	if err != nil {
		t.Fatalf("get image %s: %v", name, err)
	}
	return img
}

// Mount unpacks the image called name with the overlayfs snapshotter,
// prepares a writable snapshot on top of it and mounts that snapshot on a
// temp dir, which it returns. It is unmounted and removed when the test ends.
func (c *Containerd) Mount(t testing.TB, name string) string {
	t.Helper()
	ctx := c.Context(t.Context())
	img := c.Image(t, name)
	if err := img.Unpack(ctx, Snapshotter); err != nil {
		t.Fatalf("unpack %s: %v", name, err)
	}
	diffIDs, err := img.RootFS(ctx)
	if err != nil {
		t.Fatalf("rootfs of %s: %v", name, err)
	}
	// A lease keeps the active snapshot from the garbage collector, which
	// would otherwise remove it (under the mount) on its next run.
	leaseCtx, deleteLease, err := c.Client.WithLease(ctx)
	if err != nil {
		t.Fatalf("lease for %s: %v", name, err)
	}
	t.Cleanup(func() {
		ctx, cancel := c.cleanupContext()
		defer cancel()
		if err := deleteLease(ctx); err != nil {
			t.Errorf("delete lease: %v", err)
		}
	})
	sn := c.Client.SnapshotService(Snapshotter)
	key := fmt.Sprintf("%s-%d", c.Namespace, time.Now().UnixNano())
	mounts, err := sn.Prepare(leaseCtx, key, identity.ChainID(diffIDs).String())
	if err != nil {
		t.Fatalf("prepare snapshot of %s: %v", name, err)
	}
	target := filepath.Join(t.TempDir(), "rootfs")
	if err := os.Mkdir(target, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := mount.All(mounts, target); err != nil {
		t.Fatalf("mount snapshot of %s: %v", name, err)
	}
	t.Cleanup(func() {
		if err := mount.UnmountAll(target, 0); err != nil {
			t.Errorf("unmount %s: %v", target, err)
		}
		ctx, cancel := c.cleanupContext()
		defer cancel()
		if err := sn.Remove(ctx, key); err != nil {
			t.Errorf("remove snapshot %s: %v", key, err)
		}
	})
	return target
}

// Result is how a command run by Run ended.
type Result struct {
	Output   string // stdout and stderr interleaved
	ExitCode int
}

// Run runs args (the image's entrypoint and cmd when empty) in a container
// of the image called name, with the process settings of its config (env,
// user, working dir), using runc directly on a freshly mounted snapshot. The
// container has its own namespaces, an empty network namespace included.
// It blocks until the process exits or ctx is done.
func (c *Containerd) Run(t testing.TB, ctx context.Context, name string, args ...string) Result {
	t.Helper()
	runc, err := exec.LookPath("runc")
	if err != nil {
		t.Skip("runc is not installed")
	}
	rootfs := c.Mount(t, name)
	bundle := filepath.Dir(rootfs)
	id := fmt.Sprintf("%s-%d", c.Namespace, time.Now().UnixNano())
	opts := []oci.SpecOpts{oci.WithRootFSPath(rootfs), oci.WithImageConfig(c.Image(t, name))}
	if len(args) > 0 {
		opts = append(opts, oci.WithProcessArgs(args...))
	}
	spec, err := oci.GenerateSpec(c.Context(ctx), c.Client, &containers.Container{ID: id}, opts...)
	if err != nil {
		t.Fatalf("spec for %s: %v", name, err)
	}
	// One cgroup level, which runc removes with the container.
	spec.Linux.CgroupsPath = "/" + id
	specJSON, err := json.Marshal(spec)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(bundle, "config.json"), specJSON, 0o600); err != nil {
		t.Fatal(err)
	}
	runcRoot := filepath.Join(t.TempDir(), "runc")
	var out bytes.Buffer
	cmd := exec.CommandContext(ctx, runc, "--root", runcRoot, "run", "--bundle", bundle, id)
	cmd.Stdout, cmd.Stderr = &out, &out
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	t.Cleanup(func() {
		// Normally runc run deletes the container itself; this covers a
		// run cut short by ctx.
		_ = exec.Command(runc, "--root", runcRoot, "delete", "--force", id).Run()
	})
	err = cmd.Run()
	var exitErr *exec.ExitError
	switch {
	case err == nil:
		return Result{Output: out.String()}
	case errors.As(err, &exitErr) && exitErr.ExitCode() >= 0:
		return Result{Output: out.String(), ExitCode: exitErr.ExitCode()}
	default:
		t.Fatalf("runc run %v in %s: %v\n%s", args, name, err, out.String())
		return Result{}
	}
}
