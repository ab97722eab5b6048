//go:build integration

package agent

import (
	"bytes"
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	v1 "k8s.io/api/core/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/kubernetes/scheme"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
	"k8s.io/client-go/tools/remotecommand"
	utilexec "k8s.io/client-go/util/exec"
)

// restConfig is client-go's configuration from the agent's kubeconfig.
func restConfig(t *testing.T, a *testAgent) *rest.Config {
	t.Helper()
	cfg, err := clientcmd.BuildConfigFromFlags("", a.cfg.KubeconfigPath())
	if err != nil {
		t.Fatal(err)
	}
	return cfg
}

// kubectl exec and attach over SPDY, which kubectl falls back to when the
// WebSocket upgrade is refused (forced here), and client-go's SPDY
// executor: output, stdin, exit codes, the terminal and its size.
func TestKubectlStreamsSPDY(t *testing.T) {
	_, a, k := startWithKubectl(t)
	k.env = []string{"KUBECTL_REMOTE_COMMAND_WEBSOCKETS=false"}
	a.write("app.yaml", pod("app", "Always", "  - {name: c, image: busybox, command: [sleep, '3600']}\n"))
	a.write("sh.yaml", pod("sh", "Never", "  - {name: c, image: busybox, command: [sh], stdin: true, tty: true}\n"))
	a.waitPod("app", "Running", time.Minute, statusIs("Running"))
	a.waitPod("sh", "Running", time.Minute, statusIs("Running"))

	if out := k.ok("exec", "app", "--", "sh", "-c", "echo out; echo err >&2"); out != "out\n" {
		t.Errorf("exec stdout %q", out)
	}
	out, errOut, code := k.run("", "exec", "app", "--", "sh", "-c", "echo before; exit 3")
	if code != 3 || out != "before\n" || !strings.Contains(errOut, "command terminated with exit code 3") {
		t.Errorf("exit 3: code %d out %q err %q", code, out, errOut)
	}
	if out, errOut, code := k.run("hello from stdin\n", "exec", "-i", "app", "--", "cat"); code != 0 || out != "hello from stdin\n" {
		t.Errorf("exec -i: code %d out %q err %q", code, out, errOut)
	}
	s := k.startPTY("exec", "-it", "app", "--", "sh")
	s.typeLine("echo size=$(stty size | tr ' ' x) sum=$((40+2))")
	s.wait("size=40x120 sum=42")
	s.typeLine("exit 5")
	if code := s.exitCode(); code != 5 {
		t.Errorf("exec -it exited %d; the terminal shows:\n%s", code, s.screen.String())
	}
	s = k.startPTY("attach", "-it", "sh")
	s.wait("If you don't see a command prompt, try pressing enter.")
	s.typeLine("echo at$((3*7))tached")
	s.wait("at21tached")
	s.typeLine("exit")
	if code := s.exitCode(); code != 0 {
		t.Errorf("kubectl attach exited %d; the terminal shows:\n%s", code, s.screen.String())
	}

	// client-go's SPDY executor, as older tools use it.
	cfg := restConfig(t, a)
	cs, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		t.Fatal(err)
	}
	execIn := func(stdin string, cmd ...string) (string, string, error) {
		req := cs.CoreV1().RESTClient().Post().Resource("pods").Namespace("default").Name("app").SubResource("exec").
			VersionedParams(&v1.PodExecOptions{Container: "c", Command: cmd, Stdin: stdin != "", Stdout: true, Stderr: true}, scheme.ParameterCodec)
		ex, err := remotecommand.NewSPDYExecutor(cfg, "POST", req.URL())
		if err != nil {
			t.Fatal(err)
		}
		var out, errOut bytes.Buffer
		opts := remotecommand.StreamOptions{Stdout: &out, Stderr: &errOut}
		if stdin != "" {
			opts.Stdin = strings.NewReader(stdin)
		}
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		err = ex.StreamWithContext(ctx, opts)
		return out.String(), errOut.String(), err
	}
	if out, errOut, err := execIn("piped\n", "sh", "-c", "cat; echo e >&2"); err != nil || out != "piped\n" || errOut != "e\n" {
		t.Errorf("client-go SPDY exec: %v out %q err %q", err, out, errOut)
	}
	_, _, err = execIn("", "sh", "-c", "exit 7")
	var ce utilexec.CodeExitError
	if !errors.As(err, &ce) || ce.Code != 7 {
		t.Errorf("client-go SPDY exec exit 7: %v (%T)", err, err)
	}
}
