//go:build integration

package agent

import (
	"bytes"
	"context"
	"crypto/tls"
	"fmt"
	"net"
	"net/http"
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

// What operators watch: /livez, /readyz and /healthz with their checks
// (containerd and the manifests' first read), per-check paths and
// ?verbose as the API server answers them; Prometheus /metrics with the
// API server's request counters and the kubelet's pod, container, pod
// start and probe series; the node's Lease in kube-node-lease, renewed;
// all behind the client certificate.
func TestKubectlOperations(t *testing.T) {
	_, a, k := startWithKubectl(t)
	a.write("web.yaml", `apiVersion: v1
kind: Pod
metadata: {name: web}
spec:
  terminationGracePeriodSeconds: 1
  containers:
  - name: c
    image: busybox:latest
    command: ['sleep', '3600']
    readinessProbe:
      exec: {command: ['true']}
      periodSeconds: 1
`)
	a.waitPod("web", "ready", time.Minute, isReady)

	if out := k.ok("get", "--raw", "/readyz"); out != "ok" {
		t.Errorf("/readyz = %q", out)
	}
	out := k.ok("get", "--raw", "/readyz?verbose")
	if want := "[+]ping ok\n[+]containerd ok\n[+]manifests-synced ok\n[+]shutdown ok\nreadyz check passed\n"; out != want {
		t.Errorf("/readyz?verbose =\n%s\nwant\n%s", out, want)
	}
	out = k.ok("get", "--raw", "/livez?verbose&exclude=containerd")
	if want := "[+]ping ok\n[+]containerd excluded: ok\nlivez check passed\n"; out != want {
		t.Errorf("/livez?verbose&exclude=containerd =\n%s\nwant\n%s", out, want)
	}
	for _, p := range []string{"/healthz", "/livez", "/readyz/ping", "/readyz/containerd", "/readyz/manifests-synced", "/livez/ping"} {
		if out := k.ok("get", "--raw", p); out != "ok" {
			t.Errorf("%s = %q", p, out)
		}
	}
	if _, errOut, code := k.run("", "get", "--raw", "/livez/manifests-synced"); code == 0 || !strings.Contains(errOut, "NotFound") {
		t.Errorf("/livez/manifests-synced (a readiness-only check): exit %d %s", code, errOut)
	}

	k.ok("get", "pods")
	out = k.ok("get", "--raw", "/metrics")
	for _, want := range []string{
		`apiserver_request_total{code="200",component="apiserver",dry_run="",group="",resource="pods",scope="namespace",subresource="",verb="LIST",version="v1"}`,
		`apiserver_request_duration_seconds_count{component="apiserver",dry_run="",group="",resource="pods",scope="namespace",subresource="",verb="LIST",version="v1"}`,
		"\nkubelet_running_pods 1\n",
		`kubelet_running_containers{container_state="running"} 1`,
		"\nkubelet_pod_start_duration_seconds_count 1\n",
		`prober_probe_total{container="c",namespace="default",pod="web",pod_uid="`,
		`",probe_type="Readiness",result="successful"} `,
	} {
		if !strings.Contains(out, want) {
			t.Errorf("/metrics lacks %q", want)
		}
	}
	if t.Failed() {
		t.Logf("/metrics:\n%s", out)
	}

	// No certificate: 401, for these paths as for the rest.
	insecure := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{InsecureSkipVerify: true}}}
	for _, p := range []string{"/metrics", "/readyz", "/livez"} {
		resp, err := insecure.Get("https://" + a.cfg.APIAddress + p)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusUnauthorized {
			t.Errorf("%s without a client certificate: %d", p, resp.StatusCode)
		}
	}

	// The node's Lease, held by the node, renewed every 10 s.
	out = k.ok("get", "leases", "-A")
	if !linesMatch(out, []string{"NAMESPACE NAME HOLDER AGE", "kube-node-lease testnode testnode *"}) {
		t.Errorf("kubectl get leases -A:\n%s", out)
	}
	renew := func() time.Time {
		out := k.ok("get", "lease", "-n", "kube-node-lease", "testnode", "-o", "jsonpath={.spec.renewTime}")
		ts, err := time.Parse(time.RFC3339Nano, out)
		if err != nil {
			t.Fatalf("renewTime %q: %v", out, err)
		}
		return ts
	}
	first := renew()
	deadline := time.Now().Add(time.Minute)
	for !renew().After(first) {
		if time.Now().After(deadline) {
			t.Fatal("the node's Lease was not renewed within a minute")
		}
		time.Sleep(time.Second)
	}
	if out := k.ok("get", "lease", "-n", "kube-node-lease", "testnode", "-o", "jsonpath={.spec.leaseDurationSeconds} {.metadata.ownerReferences[0].kind}"); out != "40 Node" {
		t.Errorf("lease duration and owner = %q", out)
	}
	if out := k.ok("explain", "lease.spec.holderIdentity"); !strings.Contains(out, "FIELD: holderIdentity") {
		t.Errorf("kubectl explain lease.spec.holderIdentity:\n%s", out)
	}

	// kubectl falls back to /openapi/v2 only when v3 is missing: it is
	// not served, and answers the API server's 404 Status.
	if _, errOut, code := k.run("", "get", "--raw", "/openapi/v2"); code != 1 || !strings.Contains(errOut, "NotFound") {
		t.Errorf("/openapi/v2: exit %d %s", code, errOut)
	}
}
