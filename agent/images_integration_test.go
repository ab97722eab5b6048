//go:build integration

package agent

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	v1 "k8s.io/api/core/v1"

	"github.com/minikubelet/minikubelet/imagebuild"
	"github.com/minikubelet/minikubelet/images"
	"github.com/minikubelet/minikubelet/internal/testenv"
)

// Pulls from a real registry on loopback (Debian's docker-registry) under
// each imagePullPolicy, with the kubelet's events and waiting reasons.
func TestImagePullPolicies(t *testing.T) {
	env := testenv.New(t)
	host := testenv.StartRegistry(t)
	env.Push(t, testenv.BusyboxRef, host+"/lab/busybox:1")
	a := startAgent(t, testConfig(t, env))

	img := host + "/lab/busybox:1"
	one := func(name, image, policy string) string {
		return pod(name, "Always", "  - {name: c, image: '"+image+"', imagePullPolicy: "+policy+", command: [sleep, '3600']}\n")
	}
	a.write("never.yaml", one("never", img, "Never"))
	a.waitPod("never", "ErrImageNeverPull", time.Minute, statusIs("ErrImageNeverPull"))

	a.write("always.yaml", one("always", img, "Always"))
	a.waitPod("always", "Running", time.Minute, statusIs("Running"))
	evs := a.events("always")
	if !hasEvent(evs, "Pulling", `Pulling image "`+img+`"`) || !hasEvent(evs, "Pulled", `Successfully pulled image "`+img+`" in `) {
		t.Errorf("always: no Pulling/Pulled events:\n%s", a.describe("always"))
	}

	// Now present: IfNotPresent does not pull, and Never is satisfied.
	a.write("ifnp.yaml", one("ifnp", img, "IfNotPresent"))
	a.waitPod("ifnp", "Running", time.Minute, statusIs("Running"))
	if evs := a.events("ifnp"); !hasEvent(evs, "Pulled", `Container image "`+img+`" already present on machine`) || hasEvent(evs, "Pulling", "") {
		t.Errorf("ifnp pulled an image it had:\n%s", a.describe("ifnp"))
	}
	a.waitPod("never", "Running once the image is there", time.Minute, statusIs("Running"))

	// A tag the registry lacks: ErrImagePull, then ImagePullBackOff.
	a.write("missing.yaml", one("missing", host+"/lab/busybox:nope", "IfNotPresent"))
	p := a.waitPod("missing", "ImagePullBackOff", time.Minute, statusIs("ImagePullBackOff"))
	if p.Status.Phase != v1.PodPending {
		t.Errorf("missing: phase %s", p.Status.Phase)
	}
	evs = a.events("missing")
	if !hasEvent(evs, "Failed", `Failed to pull image "`+host+`/lab/busybox:nope"`) || !hasEvent(evs, "Failed", "Error: ErrImagePull") ||
		!hasEvent(evs, "BackOff", `Back-off pulling image "`+host+`/lab/busybox:nope"`) {
		t.Errorf("missing: events:\n%s", a.describe("missing"))
	}

	// An offline node never asks a remote registry.
	a.write("remote.yaml", one("remote", "docker.io/library/absent:1", "IfNotPresent"))
	p = a.waitPod("remote", "ErrImagePull or back-off", time.Minute, func(p *v1.Pod) bool {
		w := cstatus(p, "c").State.Waiting
		return w != nil && (w.Reason == "ErrImagePull" || w.Reason == "ImagePullBackOff")
	})
	if !hasEvent(a.events("remote"), "Failed", "offline node") {
		t.Errorf("remote: no offline failure event:\n%s", a.describe("remote"))
	}
}

// A corrupt image archive in the images directory: the agent starts all
// the same, and a pod asking for an image of that archive waits with
// ErrImagePull, the status and a Failed event naming the archive and what
// is wrong with it (it used to say only that the node is offline); once the
// archive is replaced by a good one, the pod starts, no agent restart.
func TestCorruptImageArchive(t *testing.T) {
	env := testenv.New(t)
	cfg := testConfig(t, env)
	img, err := images.Busybox(images.BusyboxPath, "example.com/lab/corrupt:1")
	if err != nil {
		t.Fatal(err)
	}
	var good bytes.Buffer
	if err := imagebuild.WriteOCIArchive(&good, img); err != nil {
		t.Fatal(err)
	}
	archive := filepath.Join(cfg.Images, "corrupt.tar")
	if err := os.WriteFile(archive, good.Bytes()[:good.Len()/2], 0o644); err != nil {
		t.Fatal(err)
	}
	a := startAgent(t, cfg)
	a.write("c.yaml", pod("c", "Always", "  - {name: c, image: example.com/lab/corrupt:1, command: [sleep, '3600']}\n"))

	var sawStatus bool
	testenv.WaitFor(t, "ErrImagePull naming the archive, in the status and in a Failed event", func() (bool, string) {
		p, err := a.client.GetPod(context.Background(), "default", "c")
		if err != nil {
			return false, err.Error()
		}
		if w := cstatus(p, "c").State.Waiting; w != nil && w.Reason == "ErrImagePull" && strings.Contains(w.Message, archive+" (") {
			sawStatus = true
		}
		evs := a.events("c")
		return sawStatus && hasEvent(evs, "Failed", archive+" ("), fmt.Sprint(cstatus(p, "c").State.Waiting, evs)
	})

	tmp := archive + ".tmp"
	if err := os.WriteFile(tmp, good.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(tmp, archive); err != nil {
		t.Fatal(err)
	}
	running := a.waitPod("c", "Running once the archive is good", 3*time.Minute, statusIs("Running"))
	a.remove("c.yaml")
	a.waitGone("c", 2*time.Minute)
	env.AssertPodGone(t, running)
}
