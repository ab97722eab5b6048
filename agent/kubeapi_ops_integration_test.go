//go:build integration

package agent

import (
	"bytes"
	"context"
	"fmt"
	"net"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/minikubelet/minikubelet/imagebuild"
	"github.com/minikubelet/minikubelet/images"
	"github.com/minikubelet/minikubelet/internal/testenv"
	"github.com/minikubelet/minikubelet/services"
)

// importBusyboxPlus imports the lab's client image (busybox and curl).
func importBusyboxPlus(t *testing.T, env *testenv.Env) {
	t.Helper()
	img, err := images.BusyboxPlus(images.BusyboxPath, images.CurlPath)
	if err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	if err := imagebuild.WriteOCIArchive(&buf, img); err != nil {
		t.Fatal(err)
	}
	if _, err := env.Runtime.ImportArchive(env.Ctx(context.Background()), &buf); err != nil {
		t.Fatal(err)
	}
}

// The `kubernetes` Service: kubectl lists it in default with the first
// address of the service range and port 443, its Endpoints and
// EndpointSlice name where the API serves, and a pod reaches the API at
// https://kubernetes.default.svc through the cluster DNS and the Service's
// DNAT: without a client certificate it gets the API server's 401 Status;
// with the agent's CA the serving certificate is valid for that name.
func TestKubernetesServiceFromPods(t *testing.T) {
	env := testenv.New(t)
	importBusyboxPlus(t, env)
	cfg := testConfig(t, env)
	a := startAgent(t, cfg)
	k := newKubectl(t, a)

	_, n, _ := net.ParseCIDR(cfg.ServiceCIDR)
	ip := services.KubernetesIP(n).String()
	_, port, _ := net.SplitHostPort(cfg.APIAddress)

	out := k.ok("get", "svc", "kubernetes")
	if !hasLineWith(out, "kubernetes", "ClusterIP", ip, "<none>", "443/TCP") {
		t.Errorf("kubectl get svc kubernetes:\n%s", out)
	}
	out = k.ok("get", "endpoints", "kubernetes")
	if !hasLineWith(out, "kubernetes", ip+":"+port) {
		t.Errorf("kubectl get ep kubernetes:\n%s", out)
	}
	out = k.ok("get", "endpointslices", "-l", "kubernetes.io/service-name=kubernetes")
	if !linesMatch(out, []string{"NAME ADDRESSTYPE PORTS ENDPOINTS AGE", "kubernetes IPv4 " + port + " " + ip + " *"}) {
		t.Errorf("kubectl get endpointslices:\n%s", out)
	}
	out = k.ok("describe", "svc", "kubernetes")
	for _, want := range [][]string{{"IP:", ip}, {"Port:", "https", "443/TCP"}, {"TargetPort:", port + "/TCP"}, {"Endpoints:", ip + ":" + port}} {
		if !hasLineWith(out, want...) {
			t.Errorf("kubectl describe svc kubernetes lacks %q:\n%s", want, out)
		}
	}

	a.write("client.yaml", fmt.Sprintf(`apiVersion: v1
kind: Pod
metadata: {name: client}
spec:
  containers:
  - name: c
    image: busyboxplus
    command: ['sleep', '3600']
    volumeMounts: [{name: ca, mountPath: /ca/ca.crt}]
  volumes:
  - name: ca
    hostPath: {path: %s, type: File}
`, filepath.Join(cfg.Root, "pki", "ca.crt")))
	a.waitPod("client", "running", 2*time.Minute, statusIs("Running"))

	code, out := a.exec("client", "c", "curl", "-sk", "-w", "\n%{http_code}", "https://kubernetes.default.svc/version")
	if code != 0 || !strings.HasSuffix(out, "\n401") || !strings.Contains(out, `"reason":"Unauthorized"`) {
		t.Errorf("curl -k https://kubernetes.default.svc/version from a pod: exit %d\n%s", code, out)
	}
	// The name and the address are in the serving certificate.
	for _, url := range []string{"https://kubernetes.default.svc.cluster.local:443/healthz", "https://" + ip + "/api"} {
		code, out = a.exec("client", "c", "curl", "-s", "--cacert", "/ca/ca.crt", "-o", "/dev/null", "-w", "%{http_code}", url)
		if code != 0 || out != "401" {
			t.Errorf("curl --cacert %s: exit %d, %q", url, code, out)
		}
	}
	// Only the Service's port is open on its address.
	code, out = a.exec("client", "c", "curl", "-sk", "--max-time", "5", "https://"+ip+":"+port+"/version")
	if code == 0 {
		t.Errorf("the API's own port answered on the ClusterIP, bypassing the Service:\n%s", out)
	}
}
