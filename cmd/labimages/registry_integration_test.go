//go:build integration

package main

import (
	"errors"
	"net"
	"strings"
	"testing"

	"github.com/minikubelet/minikubelet/internal/testenv"
	"github.com/minikubelet/minikubelet/runtime"
)

// testRegistryPull pushes a lab image into Debian's docker-registry on
// 127.0.0.1, removes it locally and pulls it back through the runtime, then
// runs it: the path imagePullPolicy Always and IfNotPresent take.
func testRegistryPull(t *testing.T, dir string) {
	host := testenv.StartRegistry(t)
	env := testenv.New(t)
	ctx := testContext(t)
	if err := env.Runtime.ImportImages(ctx, dir); err != nil {
		t.Fatal(err)
	}
	local, err := env.Runtime.ImageStatus(ctx, "myapp:v1")
	if err != nil {
		t.Fatal(err)
	}
	remote := host + "/myapp:v1"
	env.Push(t, "docker.io/library/myapp:v1", remote)

	if _, err := env.Runtime.ImageStatus(ctx, remote); !errors.Is(err, runtime.ErrImageNotPresent) {
		t.Fatalf("ImageStatus(%s) before the pull: %v, want ErrImageNotPresent", remote, err)
	}
	pulled, err := env.Runtime.PullImage(ctx, remote)
	if err != nil {
		t.Fatalf("PullImage(%s): %v", remote, err)
	}
	// Same content, so the same manifest digest as the imported original.
	if digestOf(pulled.ID) != digestOf(local.ID) {
		t.Errorf("pulled image ID %s, want the digest of the pushed %s", pulled.ID, local.ID)
	}
	if _, err := env.Runtime.ImageStatus(ctx, remote); err != nil {
		t.Errorf("ImageStatus(%s) after the pull: %v", remote, err)
	}

	// A tag the registry does not have is an error, not a hang.
	if _, err := env.Runtime.PullImage(ctx, host+"/myapp:nosuchtag"); err == nil {
		t.Error("pull of a missing tag succeeded")
	}

	pod := env.Pod(t, `
apiVersion: v1
kind: Pod
metadata:
  name: pulled
spec:
  containers:
  - name: app
    image: `+remote+`
    imagePullPolicy: Always
`)
	sb, _ := startPod(t, env, pod)
	waitPage(t, "http://"+net.JoinHostPort(sb.IPs[0], "80")+"/", 200, hello("v1"))
}

// digestOf returns the digest of a digest reference (repo@sha256:…).
func digestOf(ref string) string {
	_, d, _ := strings.Cut(ref, "@")
	return d
}
