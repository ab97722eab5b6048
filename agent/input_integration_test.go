//go:build integration

package agent

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	v1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"

	"github.com/minikubelet/minikubelet/api"
	"github.com/minikubelet/minikubelet/internal/testenv"
	"github.com/minikubelet/minikubelet/runtime"
)

// An edited manifest is applied whatever its metadata says: a pod whose
// manifest sets metadata.uid is replaced by one with the new spec (it used
// to keep running the old spec forever).
func TestEditedManifestWithFixedUIDIsApplied(t *testing.T) {
	env := testenv.New(t)
	a := startAgent(t, testConfig(t, env))
	manifest := func(version string) string {
		return "apiVersion: v1\nkind: Pod\nmetadata:\n  name: fixed\n  uid: 11111111-2222-3333-4444-555555555555\nspec:\n" +
			"  terminationGracePeriodSeconds: 2\n  containers:\n" +
			"  - {name: c, image: busybox, command: [sleep, '3600'], env: [{name: VERSION, value: '" + version + "'}]}\n"
	}
	a.write("fixed.yaml", manifest("1"))
	old := a.waitPod("fixed", "Running", time.Minute, statusIs("Running"))
	oldID := cstatus(old, "c").ContainerID

	a.write("fixed.yaml", manifest("2"))
	p := a.waitPod("fixed", "the edited pod Running", 2*time.Minute, func(p *v1.Pod) bool {
		return p.UID != old.UID && statusIs("Running")(p)
	})
	if got := p.Spec.Containers[0].Env[0].Value; got != "2" {
		t.Errorf("VERSION = %s, want 2", got)
	}
	if id := cstatus(p, "c").ContainerID; id == oldID || id == "" {
		t.Errorf("container %s not replaced", oldID)
	}
}

// Every door checks its input on a real agent: a pod asking for what the
// agent does not run is refused at validation, named in a warning, and never
// reaches containerd; a named pipe in the manifests directory is skipped;
// an apply with a path in its kind writes nothing outside the directory;
// the good pod beside them all runs.
func TestBadInputAtEveryDoor(t *testing.T) {
	env := testenv.New(t)
	cfg := testConfig(t, env)
	if err := syscall.Mkfifo(filepath.Join(cfg.Manifests, "fifo.yaml"), 0o644); err != nil {
		t.Fatal(err)
	}
	a := startAgent(t, cfg)
	a.write("userns.yaml", pod("userns", "Always", "  - {name: c, image: busybox, command: [sleep, '3600']}\n")+"  hostUsers: false\n")
	a.write("apparmor.yaml", pod("apparmor", "Always", "  - {name: c, image: busybox, command: [sleep, '3600'], securityContext: {appArmorProfile: {type: Localhost, localhostProfile: a}}}\n"))
	a.write("grace.yaml", strings.Replace(pod("grace", "Always", "  - {name: c, image: busybox, command: [sleep, '3600']}\n"),
		"terminationGracePeriodSeconds: 2", "terminationGracePeriodSeconds: 9223372036854775807", 1))
	a.write("good.yaml", pod("good", "Always", "  - {name: c, image: busybox, command: [sleep, '3600']}\n"))
	a.waitPod("good", "Running", time.Minute, statusIs("Running"))

	ctx := context.Background()
	want := []string{
		"fifo.yaml: not a regular file (named pipe): skipped",
		"userns.yaml: spec.hostUsers: Forbidden: not supported by minikubelet",
		`apparmor.yaml: spec.containers[0].securityContext.appArmorProfile.type: Unsupported value: "Localhost": supported values: "Unconfined"`,
		"grace.yaml: spec.terminationGracePeriodSeconds: Invalid value: 9223372036854775807: must be less than or equal to 9223372036",
	}
	if warnings, ok := a.waitWarnings(want, 30*time.Second); !ok {
		t.Errorf("warnings:\n%s\nwant each of:\n%s", strings.Join(warnings, "\n"), strings.Join(want, "\n"))
	}
	for _, name := range []string{"userns", "apparmor", "grace"} {
		if _, err := a.client.GetPod(ctx, "default", name); !apierrors.IsNotFound(err) {
			t.Errorf("pod %s: %v, want not found", name, err)
		}
	}
	pods, err := env.Client.ContainerService().List(env.Ctx(ctx))
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range pods {
		if n := c.Labels[runtime.LabelPodName]; n != "" && n != "good" {
			t.Errorf("container %s of pod %s reached containerd", c.ID, n)
		}
	}

	// Apply refuses a kind with a path, and the directory's parents stay
	// as they were.
	parent := filepath.Dir(cfg.Manifests)
	before, _ := os.ReadDir(parent)
	if _, err := a.client.Apply(ctx, "", []byte("apiVersion: v1\nkind: ../../x/evilkind\nmetadata: {name: x}\n")); !apierrors.IsInvalid(err) {
		t.Errorf("apply of a kind with a path: %v", err)
	}
	if after, _ := os.ReadDir(parent); len(after) != len(before) {
		t.Errorf("entries next to the manifests directory: %d, were %d", len(after), len(before))
	}
	// And applying a good pod is not blocked by the pipe.
	if _, err := a.client.Apply(ctx, "", []byte(pod("applied", "Always", "  - {name: c, image: busybox, command: [sleep, '3600']}\n"))); err != nil {
		t.Fatalf("apply: %v", err)
	}
	a.waitPod("applied", "Running", time.Minute, statusIs("Running"))
}

// waitWarnings lists pods until the API's warnings end with each of want,
// or timeout passes; it returns the last warnings.
func (a *testAgent) waitWarnings(want []string, timeout time.Duration) ([]string, bool) {
	a.t.Helper()
	var warnings []string
	a.client.OnWarning = func(text string) { warnings = append(warnings, text) }
	defer func() { a.client.OnWarning = nil }()
	deadline := time.Now().Add(timeout)
	for {
		warnings = nil
		if _, err := a.client.ListPods(context.Background(), "default", api.ListOptions{}); err != nil {
			a.t.Fatal(err)
		}
		if containsAll(warnings, want) {
			return warnings, true
		}
		if time.Now().After(deadline) {
			return warnings, false
		}
		time.Sleep(200 * time.Millisecond)
	}
}

func containsAll(have, want []string) bool {
	for _, w := range want {
		found := false
		for _, h := range have {
			found = found || strings.HasSuffix(h, w)
		}
		if !found {
			return false
		}
	}
	return true
}
