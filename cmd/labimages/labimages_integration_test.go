//go:build integration

package main

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"strings"
	"testing"
	"time"

	v1 "k8s.io/api/core/v1"

	"github.com/minikubelet/minikubelet/internal/testenv"
	"github.com/minikubelet/minikubelet/runtime"
)

func TestMain(m *testing.M) { testenv.Main(m) }

const testTimeout = 3 * time.Minute

func testContext(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), testTimeout)
	t.Cleanup(cancel)
	return ctx
}

// writeLabImages writes the lab images into a temp dir, as install.sh does.
func writeLabImages(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	var out strings.Builder
	if err := run(ctx, []string{"--out", dir}, &out, io.Discard); err != nil {
		t.Fatalf("labimages: %v", err)
	}
	t.Logf("labimages:\n%s", out.String())
	return dir
}

// TestLabImages writes the lab images once and checks them in subtests,
// each with its own containerd namespace, bridge and subnet.
func TestLabImages(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("integration test: needs root")
	}
	dir := writeLabImages(t)
	for _, tt := range []struct {
		name string
		test func(*testing.T, string)
	}{
		{"Import", testImport},
		{"MyAppLab", testMyAppLab},
		{"MyAppV2", testMyAppV2},
		{"RegistryPull", testRegistryPull},
	} {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			tt.test(t, dir)
		})
	}
}

// startPod runs the pod's sandbox and its containers, and removes them all
// when the test ends.
func startPod(t *testing.T, env *testenv.Env, pod *v1.Pod) (runtime.Sandbox, []runtime.Container) {
	t.Helper()
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		if err := env.RemovePod(ctx, pod.UID); err != nil {
			t.Errorf("remove pod %s: %v", pod.Name, err)
		}
	})
	return env.StartPod(t, testContext(t), pod)
}

// execIn runs cmd in the container and returns its output and exit code.
func execIn(t *testing.T, env *testenv.Env, id string, cmd ...string) (string, int32) {
	t.Helper()
	out, code, err := env.Runtime.ExecSync(testContext(t), id, cmd, 30*time.Second)
	if err != nil {
		t.Fatalf("exec %q: %v", cmd, err)
	}
	return string(out), code
}

func mustExec(t *testing.T, env *testenv.Env, id string, cmd ...string) string {
	t.Helper()
	out, code := execIn(t, env, id, cmd...)
	if code != 0 {
		t.Fatalf("exec %q: exit %d: %s", cmd, code, out)
	}
	return out
}

// get fetches a page from the pod over the test bridge, without keep-alive.
func get(url string) (int, string, error) {
	c := &http.Client{Transport: &http.Transport{DisableKeepAlives: true}, Timeout: 5 * time.Second}
	resp, err := c.Get(url)
	if err != nil {
		return 0, "", err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b), err
}

func waitPage(t *testing.T, url string, wantStatus int, wantBody string) {
	t.Helper()
	testenv.WaitFor(t, fmt.Sprintf("GET %s = %d %q", url, wantStatus, wantBody), func() (bool, string) {
		status, body, err := get(url)
		if err != nil {
			return false, err.Error()
		}
		return status == wantStatus && (wantBody == "" || body == wantBody), fmt.Sprintf("%d %q", status, body)
	})
}

func hello(version string) string {
	return "Hello MyApp | Version: " + version + " | <a href=\"hostname.html\">Pod Name</a>\n"
}

// testImport imports the archives labimages writes, as the agent does from
// its --images dir, and checks every name the lab uses.
func testImport(t *testing.T, dir string) {
	env := testenv.New(t)
	ctx := testContext(t)
	if err := env.Runtime.ImportImages(ctx, dir); err != nil {
		t.Fatal(err)
	}
	for _, ref := range []string{"busybox", "busybox:latest", "busybox:1.36", "busyboxplus", "busyboxplus:curl", "myapp:v1", "myapp:v2"} {
		info, err := env.Runtime.ImageStatus(ctx, ref)
		if err != nil {
			t.Errorf("image %s: %v", ref, err)
			continue
		}
		t.Logf("%-18s %s %d bytes", ref, info.ID, info.Size)
	}
	v1Info, err := env.Runtime.ImageStatus(ctx, "myapp:v1")
	if err != nil {
		t.Fatal(err)
	}
	if v1Info.StopSignal != "SIGQUIT" {
		t.Errorf("myapp stop signal = %q, want SIGQUIT", v1Info.StopSignal)
	}
}

// testMyAppLab runs myapp:v1 as the lab's myapp-pod and does what the lab
// does from "kubectl exec -it myapp-pod -- sh": read the pages, stop the
// server (the port closes while the container keeps running), comment the
// hostname.html location out and reload (404), restore it (200). A
// busyboxplus pod curls it over the pod network, as the lab's client does.
func testMyAppLab(t *testing.T, dir string) {
	env := testenv.New(t)
	ctx := testContext(t)
	if err := env.Runtime.ImportImages(ctx, dir); err != nil {
		t.Fatal(err)
	}

	pod := env.Pod(t, `
apiVersion: v1
kind: Pod
metadata:
  name: myapp-pod
  labels: {app: myapp}
spec:
  containers:
  - name: myapp-container
    image: myapp:v1
    imagePullPolicy: IfNotPresent
`)
	sb, cs := startPod(t, env, pod)
	if len(sb.IPs) == 0 {
		t.Fatalf("sandbox has no IP: %+v", sb)
	}
	base := "http://" + net.JoinHostPort(sb.IPs[0], "80")
	id := cs[0].ID

	waitPage(t, base+"/", 200, hello("v1"))
	waitPage(t, base+"/index.html", 200, hello("v1"))
	waitPage(t, base+"/hostname.html", 200, "myapp-pod\n")

	// PID 1 is the server, started by the image's entrypoint and command.
	if got := mustExec(t, env, id, "sh", "-c", `tr '\0' ' ' </proc/1/cmdline`); got != "nginx -g daemon off; " {
		t.Errorf("PID 1 = %q, want the nginx command", got)
	}
	if got := mustExec(t, env, id, "nginx", "-t"); !strings.Contains(got, "test is successful") {
		t.Errorf("nginx -t: %q", got)
	}

	// Readiness exercise: comment the location out, reload, 404; restore.
	mustExec(t, env, id, "cp", "/etc/nginx/conf.d/default.conf", "/tmp/default.conf")
	mustExec(t, env, id, "sed", "-i", `/location = \/hostname.html/,/}/s/^/#/`, "/etc/nginx/conf.d/default.conf")
	if out := mustExec(t, env, id, "nginx", "-s", "reload"); !strings.Contains(out, "[notice]") || !strings.Contains(out, "signal process started") {
		t.Errorf("nginx -s reload printed %q", out)
	}
	waitPage(t, base+"/hostname.html", 404, "")
	waitPage(t, base+"/", 200, hello("v1"))
	mustExec(t, env, id, "cp", "/tmp/default.conf", "/etc/nginx/conf.d/default.conf")
	mustExec(t, env, id, "nginx", "-s", "reload")
	waitPage(t, base+"/hostname.html", 200, "myapp-pod\n")

	// The client pod.
	client := env.Pod(t, `
apiVersion: v1
kind: Pod
metadata:
  name: demo
spec:
  restartPolicy: Never
  containers:
  - name: demo
    image: busyboxplus
    command: [sleep, "3600"]
`)
	_, ccs := startPod(t, env, client)
	if got := mustExec(t, env, ccs[0].ID, "curl", "-s", base+"/"); got != hello("v1") {
		t.Errorf("curl from busyboxplus = %q", got)
	}
	if got := mustExec(t, env, ccs[0].ID, "wget", "-qO-", base+"/hostname.html"); got != "myapp-pod\n" {
		t.Errorf("wget from busyboxplus = %q", got)
	}

	// Liveness exercise: nginx -s stop closes the port; PID 1 stays.
	mustExec(t, env, id, "nginx", "-s", "stop")
	testenv.WaitFor(t, "port 80 to close", func() (bool, string) {
		conn, err := net.DialTimeout("tcp", net.JoinHostPort(sb.IPs[0], "80"), 2*time.Second)
		if err != nil {
			return true, ""
		}
		conn.Close()
		return false, "still accepting"
	})
	ps, err := env.Runtime.PodState(ctx, pod.UID)
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range ps.Containers {
		if c.ID == id && c.State != runtime.StateRunning {
			t.Errorf("container state after nginx -s stop = %s, want running", c.State)
		}
	}
	mustExec(t, env, id, "nginx", "-s", "reload")
	waitPage(t, base+"/", 200, hello("v1"))

	// The image's stop signal (SIGQUIT) ends the server cleanly: exit 0,
	// not a kill after the grace period.
	if err := env.Runtime.StopContainer(ctx, id, 30*time.Second); err != nil {
		t.Fatal(err)
	}
	ps, err = env.Runtime.PodState(ctx, pod.UID)
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range ps.Containers {
		if c.ID == id && (c.State != runtime.StateExited || c.ExitCode != 0) {
			t.Errorf("after stop: state %s exit code %d, want exited 0", c.State, c.ExitCode)
		}
	}
}

// testMyAppV2 checks the second version beside busybox in one pod.
func testMyAppV2(t *testing.T, dir string) {
	env := testenv.New(t)
	if err := env.Runtime.ImportImages(testContext(t), dir); err != nil {
		t.Fatal(err)
	}
	pod := env.Pod(t, `
apiVersion: v1
kind: Pod
metadata:
  name: deployment-example-5c9fb4c54c-4f9dj
spec:
  containers:
  - name: nginx
    image: myapp:v2
  - name: box
    image: busybox:1.36
    command: [sh, -c, "echo up; sleep 3600"]
`)
	sb, cs := startPod(t, env, pod)
	base := "http://" + net.JoinHostPort(sb.IPs[0], "80")
	waitPage(t, base+"/", 200, hello("v2"))
	waitPage(t, base+"/hostname.html", 200, pod.Name+"\n")
	// Containers of a pod share its network: busybox reaches nginx on localhost.
	if got := mustExec(t, env, cs[1].ID, "wget", "-qO-", "http://127.0.0.1/"); got != hello("v2") {
		t.Errorf("wget from the busybox container = %q", got)
	}
}
