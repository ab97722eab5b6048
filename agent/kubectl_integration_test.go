//go:build integration

package agent

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"errors"
	"math/big"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/minikubelet/minikubelet/internal/testenv"
)

// freeAPIAddress is a loopback address nothing listens on, so that test
// agents never collide on the default 6443.
func freeAPIAddress(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().String()
}

// kubectl runs the real kubectl binary (found on PATH) against the agent,
// with a private HOME so its discovery cache is the test's own.
type kubectlRunner struct {
	t    *testing.T
	bin  string
	kc   string
	home string
	env  []string // added to kubectl's environment
}

func newKubectl(t *testing.T, a *testAgent) *kubectlRunner {
	t.Helper()
	bin, err := exec.LookPath("kubectl")
	if err != nil {
		t.Fatalf("kubectl is needed on PATH: %v", err)
	}
	return &kubectlRunner{t: t, bin: bin, kc: a.cfg.KubeconfigPath(), home: t.TempDir()}
}

// startWithKubectl starts an agent on a fresh test world and a kubectl
// that talks to it: the setup of every kubectl test.
func startWithKubectl(t *testing.T) (*testenv.Env, *testAgent, *kubectlRunner) {
	t.Helper()
	env := testenv.New(t)
	a := startAgent(t, testConfig(t, env))
	return env, a, newKubectl(t, a)
}

// command is kubectl with args against the agent, with the runner's
// environment and extra: its own HOME, no KUBECONFIG from the caller's.
func (k *kubectlRunner) command(ctx context.Context, extra []string, args ...string) *exec.Cmd {
	cmd := exec.CommandContext(ctx, k.bin, append([]string{"--kubeconfig", k.kc}, args...)...)
	cmd.Env = append(append(append(os.Environ(), "HOME="+k.home, "KUBECONFIG="), k.env...), extra...)
	return cmd
}

// run returns stdout, stderr and the exit code.
func (k *kubectlRunner) run(stdin string, args ...string) (string, string, int) {
	k.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cmd := k.command(ctx, nil, args...)
	cmd.Stdin = strings.NewReader(stdin)
	var out, errOut bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errOut
	err := cmd.Run()
	code := 0
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		code = ee.ExitCode()
	} else if err != nil {
		k.t.Fatalf("kubectl %v: %v", args, err)
	}
	return out.String(), errOut.String(), code
}

// ok runs kubectl and fails the test unless it exits 0.
// isDeleted reports whether out is kubectl delete's line for ref (kind
// "name"): kubectl 1.34 names the namespace ("deleted from default
// namespace"), earlier ones do not.
func isDeleted(out, ref string) bool {
	return out == ref+" deleted\n" || out == ref+" deleted from default namespace\n"
}

func (k *kubectlRunner) ok(args ...string) string {
	k.t.Helper()
	out, errOut, code := k.run("", args...)
	if code != 0 {
		k.t.Fatalf("kubectl %s: exit %d\nstdout:\n%s\nstderr:\n%s", strings.Join(args, " "), code, out, errOut)
	}
	return out
}

func fileMode(t *testing.T, path string) os.FileMode {
	t.Helper()
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	return fi.Mode().Perm()
}

// The agent serves the Kubernetes API over TLS with its own CA: the
// kubeconfig it writes (and prints) lets the real kubectl in; keys are
// private; no certificate, or one of another CA, gets 401 and nothing else.
func TestKubectlTrustAndDiscovery(t *testing.T) {
	_, a, k := startWithKubectl(t)

	if m := fileMode(t, a.cfg.KubeconfigPath()); m != 0o600 {
		t.Errorf("kubeconfig mode %o, want 600", m)
	}
	pki := filepath.Join(a.cfg.Root, "pki")
	if m := fileMode(t, pki); m != 0o700 {
		t.Errorf("pki dir mode %o, want 700", m)
	}
	for _, key := range []string{"ca.key", "server.key", "admin.key"} {
		if m := fileMode(t, filepath.Join(pki, key)); m != 0o600 {
			t.Errorf("%s mode %o, want 600", key, m)
		}
	}
	printed, err := a.client.Kubeconfig(context.Background())
	file, _ := os.ReadFile(a.cfg.KubeconfigPath())
	if err != nil || !bytes.Equal(printed, file) {
		t.Errorf("kubeconfig over the socket (%v) differs from the file", err)
	}

	out := k.ok("version", "-o", "json")
	var v struct {
		ServerVersion struct{ Major, Minor, GitVersion string }
	}
	if err := json.Unmarshal([]byte(out), &v); err != nil || v.ServerVersion.Major != "1" || v.ServerVersion.Minor != "34" ||
		!strings.HasPrefix(v.ServerVersion.GitVersion, "v1.34.") {
		t.Errorf("kubectl version: %v\n%s", err, out)
	}

	out = k.ok("api-resources")
	for _, want := range [][]string{
		{"pods", "po", "v1", "true", "Pod"}, {"services", "svc", "v1", "true", "Service"},
		{"endpoints", "ep", "v1", "true", "Endpoints"}, {"namespaces", "ns", "v1", "false", "Namespace"},
		{"nodes", "no", "v1", "false", "Node"}, {"events", "ev", "v1", "true", "Event"},
		{"configmaps", "cm", "v1", "true", "ConfigMap"}, {"secrets", "v1", "true", "Secret"},
		{"endpointslices", "discovery.k8s.io/v1", "true", "EndpointSlice"},
	} {
		if !hasFieldsLine(out, want) {
			t.Errorf("api-resources lacks %v:\n%s", want, out)
		}
	}
	// Short names resolve through discovery.
	k.ok("get", "po")
	k.ok("get", "ns", "default")

	// explain reads the OpenAPI v3 documents.
	out = k.ok("explain", "pod.spec.containers.image")
	if !strings.Contains(out, "KIND:") || !strings.Contains(out, "Pod") || !strings.Contains(out, "FIELD: image <string>") {
		t.Errorf("explain:\n%s", out)
	}

	// Refused: no client certificate, and one issued by another CA.
	caPEM := []byte(nil)
	for _, line := range strings.Split(string(file), "\n") {
		if v, ok := strings.CutPrefix(strings.TrimSpace(line), "certificate-authority-data: "); ok {
			caPEM = decodeB64(t, v)
		}
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(caPEM) {
		t.Fatal("no CA in the kubeconfig")
	}
	for name, certs := range map[string][]tls.Certificate{"no certificate": nil, "foreign CA": {foreignClientCert(t)}} {
		c := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool, Certificates: certs}}}
		resp, err := c.Get("https://" + a.cfg.APIAddress + "/api/v1/namespaces/default/pods")
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		var st metav1.Status
		err = json.NewDecoder(resp.Body).Decode(&st)
		resp.Body.Close()
		if resp.StatusCode != http.StatusUnauthorized || err != nil || st.Kind != "Status" || st.Reason != metav1.StatusReasonUnauthorized {
			t.Errorf("%s: %d %+v %v", name, resp.StatusCode, st, err)
		}
	}
}

// hasFieldsLine reports whether some line of out has exactly the fields
// want, in order (columns padded with any spaces).
func hasFieldsLine(out string, want []string) bool {
	for _, line := range strings.Split(out, "\n") {
		f := strings.Fields(line)
		if strings.Join(f, " ") == strings.Join(want, " ") {
			return true
		}
	}
	return false
}

func decodeB64(t *testing.T, s string) []byte {
	t.Helper()
	out, err := base64.StdEncoding.DecodeString(s)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// foreignClientCert is a client certificate from a CA the agent never saw.
func foreignClientCert(t *testing.T) tls.Certificate {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	ca := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "other-ca"}, IsCA: true,
		BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign, NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour)}
	leaf := &x509.Certificate{SerialNumber: big.NewInt(2), Subject: pkix.Name{CommonName: "minikubelet-admin", Organization: []string{"system:masters"}},
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}, NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour)}
	der, err := x509.CreateCertificate(rand.Reader, leaf, ca, key.Public(), key)
	if err != nil {
		t.Fatal(err)
	}
	kd, _ := x509.MarshalECPrivateKey(key)
	c, err := tls.X509KeyPair(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: kd}))
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// kubectl reads pods, services, endpoints, EndpointSlices, events,
// namespaces and the node as from an API server: Tables with upstream's
// columns, -o wide/yaml/json, selectors, -A.
func TestKubectlReads(t *testing.T) {
	_, a, k := startWithKubectl(t)
	a.write("web.yaml", `apiVersion: v1
kind: Pod
metadata:
  name: web
  labels: {app: web}
spec:
  containers:
  - name: c
    image: busybox
    command: [sh, -c, 'echo hello; sleep 3600']
    ports: [{containerPort: 80}]
---
apiVersion: v1
kind: Service
metadata:
  name: websvc
spec:
  selector: {app: web}
  ports: [{port: 80}]
`)
	a.waitPod("web", "Running", time.Minute, statusIs("Running"))
	a.waitService("websvc", time.Minute)
	for _, c := range []struct {
		args []string
		want []string // lines, fields compared (ages vary)
	}{
		{[]string{"get", "pods"}, []string{"NAME READY STATUS RESTARTS AGE", "web 1/1 Running 0 *"}},
		{[]string{"get", "pods", "-o", "wide"}, []string{"NAME READY STATUS RESTARTS AGE IP NODE NOMINATED NODE READINESS GATES",
			"web 1/1 Running 0 * " + podIP(a, "web") + " testnode <none> <none>"}},
		{[]string{"get", "pods", "-A"}, []string{"NAMESPACE NAME READY STATUS RESTARTS AGE", "default web 1/1 Running 0 *"}},
		{[]string{"get", "pods", "-l", "app=web"}, []string{"NAME READY STATUS RESTARTS AGE", "web 1/1 Running 0 *"}},
		{[]string{"get", "pods", "-l", "app=other"}, nil},
		{[]string{"get", "pods", "--field-selector", "status.phase=Running"}, []string{"NAME READY STATUS RESTARTS AGE", "web 1/1 Running 0 *"}},
		{[]string{"get", "pods", "-o", "name"}, []string{"pod/web"}},
		{[]string{"get", "pod", "web", "-o", "jsonpath={.status.phase} {.metadata.labels.app}"}, []string{"Running web"}},
		{[]string{"get", "svc", "websvc"}, []string{"NAME TYPE CLUSTER-IP EXTERNAL-IP PORT(S) AGE", "websvc ClusterIP * <none> 80/TCP *"}},
		{[]string{"get", "ep", "websvc"}, []string{"NAME ENDPOINTS AGE", "websvc " + podIP(a, "web") + ":80 *"}},
		{[]string{"get", "endpointslices", "-l", "kubernetes.io/service-name=websvc"}, []string{"NAME ADDRESSTYPE PORTS ENDPOINTS AGE", "* IPv4 80 " + podIP(a, "web") + " *"}},
		{[]string{"get", "ns"}, []string{"NAME STATUS AGE", "default Active *", "kube-node-lease Active *", "kube-public Active *", "kube-system Active *"}},
		{[]string{"get", "no"}, []string{"NAME STATUS ROLES AGE VERSION", "testnode Ready <none> * v1.34.2"}},
		{[]string{"get", "cm"}, []string{"NAME DATA AGE", "kube-root-ca.crt 1 *"}},
	} {
		out := k.ok(c.args...)
		if !linesMatch(out, c.want) {
			t.Errorf("kubectl %s:\n%s\nwant fields %q", strings.Join(c.args, " "), out, c.want)
		}
	}

	out := k.ok("get", "events")
	if !strings.Contains(out, "LAST SEEN") || !hasLineWith(out, "Normal", "Started", "pod/web", "Started container c") {
		t.Errorf("kubectl get events:\n%s", out)
	}
	out = k.ok("describe", "node", "testnode")
	for _, want := range []string{"Ready            True", "KubeletReady", "InternalIP:", "Capacity:", "pods:               110",
		"Kubelet Version:            v1.34.2", "Non-terminated Pods:          (1 in total)", "default                     web"} {
		if !strings.Contains(out, want) {
			t.Errorf("describe node lacks %q:\n%s", want, out)
		}
	}
	out = k.ok("describe", "svc", "websvc")
	if !hasLineWith(out, "Endpoints:", podIP(a, "web")+":80") || !hasLineWith(out, "Selector:", "app=web") {
		t.Errorf("describe svc:\n%s", out)
	}
	out = k.ok("describe", "pod", "web")
	if !hasLineWith(out, "Status:", "Running") || !hasLineWith(out, "Normal", "Started", "kubelet", "Started container c") {
		t.Errorf("describe pod:\n%s", out)
	}
	if out := k.ok("logs", "web"); out != "hello\n" {
		t.Errorf("logs: %q", out)
	}

	// Errors are the API server's Status objects, printed as kubectl does.
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"get", "pod", "nosuch"}, `Error from server (NotFound): pods "nosuch" not found`},
		{[]string{"get", "pods", "--field-selector", "foo=bar"}, "field label not supported: foo"},
		{[]string{"get", "no", "othernode"}, `Error from server (NotFound): nodes "othernode" not found`},
	} {
		_, errOut, code := k.run("", c.args...)
		if code != 1 || !strings.Contains(errOut, c.want) {
			t.Errorf("kubectl %s: exit %d\n%s\nwant %q", strings.Join(c.args, " "), code, errOut, c.want)
		}
	}
}

func podIP(a *testAgent, name string) string {
	p, err := a.client.GetPod(context.Background(), "default", name)
	if err != nil {
		a.t.Fatal(err)
	}
	return p.Status.PodIP
}

// linesMatch compares out line by line with want, field by field; "*"
// matches any one field.
func linesMatch(out string, want []string) bool {
	lines := strings.Split(strings.TrimRight(out, "\n"), "\n")
	if len(want) == 0 {
		return strings.TrimSpace(out) == ""
	}
	if len(lines) != len(want) {
		return false
	}
	for i, l := range lines {
		got, exp := strings.Fields(l), strings.Fields(want[i])
		if len(got) != len(exp) {
			return false
		}
		for j := range got {
			if exp[j] != "*" && exp[j] != got[j] {
				return false
			}
		}
	}
	return true
}

// hasLineWith reports whether a line of out contains every part, in order.
func hasLineWith(out string, parts ...string) bool {
	for _, line := range strings.Split(out, "\n") {
		rest, ok := line, true
		for _, p := range parts {
			i := strings.Index(rest, p)
			if i < 0 {
				ok = false
				break
			}
			rest = rest[i+len(p):]
		}
		if ok {
			return true
		}
	}
	return false
}

// Writes through kubectl land in the manifests directory, as files the
// agent runs; the API server's checks and messages apply.
func TestKubectlWrites(t *testing.T) {
	_, a, k := startWithKubectl(t)
	dir := t.TempDir()
	manifest := filepath.Join(dir, "app.yaml")
	write := func(path, s string) {
		if err := os.WriteFile(path, []byte(s), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	stored := func(name string) string {
		data, _ := os.ReadFile(filepath.Join(a.cfg.Manifests, name))
		return string(data)
	}
	const app = `apiVersion: v1
kind: Pod
metadata:
  name: app
  labels: {app: web}
spec:
  containers:
  - name: c
    image: busybox
    command: [sleep, '3600']
`
	write(manifest, app)
	if out := k.ok("apply", "-f", manifest); out != "pod/app created\n" {
		t.Errorf("first apply: %q", out)
	}
	if f := stored("default_app.yaml"); !strings.Contains(f, "kubectl.kubernetes.io/last-applied-configuration") || strings.Contains(f, "status:") {
		t.Errorf("stored manifest:\n%s", f)
	}
	if out := k.ok("apply", "-f", manifest); out != "pod/app unchanged\n" {
		t.Errorf("second apply: %q", out)
	}
	a.waitPod("app", "Running", time.Minute, statusIs("Running"))

	// An unknown field: the API server's strict field validation error.
	write(manifest, strings.Replace(app, "    command:", "    bogus: 1\n    command:", 1))
	_, errOut, code := k.run("", "apply", "-f", manifest)
	if code != 1 || !strings.Contains(errOut, `Pod in version "v1" cannot be handled as a Pod: strict decoding error: unknown field "spec.containers[0].bogus"`) {
		t.Errorf("apply with an unknown field: exit %d\n%s", code, errOut)
	}
	_, errOut, code = k.run("", "create", "-f", filepath.Join("..", "manifests", "service.yml"), "--dry-run=server")
	if code != 0 {
		t.Errorf("create --dry-run=server: %d %s", code, errOut)
	}
	if _, errOut, code = k.run("", "get", "svc", "myservice"); code != 1 || !strings.Contains(errOut, "NotFound") {
		t.Errorf("a server dry run created the Service: %d %s", code, errOut)
	}

	write(manifest, app)
	_, errOut, code = k.run("", "create", "-f", manifest)
	if code != 1 || !strings.Contains(errOut, `Error from server (AlreadyExists): error when creating "`+manifest+`": pods "app" already exists`) {
		t.Errorf("create of an existing pod: exit %d\n%s", code, errOut)
	}

	// A stale resourceVersion is refused with 409.
	old := filepath.Join(dir, "old.yaml")
	write(old, k.ok("get", "pod", "app", "-o", "yaml"))
	if out := k.ok("patch", "pod", "app", "--type=merge", "-p", `{"metadata":{"annotations":{"note":"patched"}}}`); out != "pod/app patched\n" {
		t.Errorf("merge patch: %q", out)
	}
	if !strings.Contains(stored("default_app.yaml"), "note: patched") {
		t.Errorf("patch not stored:\n%s", stored("default_app.yaml"))
	}
	_, errOut, code = k.run("", "replace", "-f", old)
	if code != 1 || !strings.Contains(errOut, `Error from server (Conflict): error when replacing "`+old+`": Operation cannot be fulfilled on pods "app": the object has been modified; please apply your changes to the latest version and try again`) {
		t.Errorf("replace with a stale resourceVersion: exit %d\n%s", code, errOut)
	}
	_, errOut, code = k.run("", "patch", "pod", "app", "--type=json", "-p", `[{"op":"replace","path":"/spec/restartPolicy","value":"Never"}]`)
	if code != 1 || !strings.Contains(errOut, `The Pod "app" is invalid: spec: Forbidden: pod updates may not change fields other than`) {
		t.Errorf("forbidden pod update: exit %d\n%s", code, errOut)
	}

	// kubectl run and create service write new manifests.
	if out := k.ok("run", "demo", "--image=busybox", "--restart=Never", "--", "sleep", "3600"); out != "pod/demo created\n" {
		t.Errorf("run: %q", out)
	}
	a.waitPod("demo", "Running", time.Minute, statusIs("Running"))
	if out := k.ok("create", "service", "clusterip", "demo", "--tcp=80:8080"); out != "service/demo created\n" {
		t.Errorf("create service: %q", out)
	}
	if out := k.ok("get", "svc", "demo", "-o", "jsonpath={.spec.selector.app} {.spec.ports[0].targetPort}"); out != "demo 8080" {
		t.Errorf("created service: %q", out)
	}
	if out := k.ok("delete", "svc", "demo"); !isDeleted(out, `service "demo"`) {
		t.Errorf("delete svc: %q", out)
	}
	// delete waits for the pod to be gone, as with an API server.
	if out := k.ok("delete", "pod", "demo"); !isDeleted(out, `pod "demo"`) {
		t.Errorf("delete pod: %q", out)
	}
	if _, err := os.Stat(filepath.Join(a.cfg.Manifests, "default_demo.yaml")); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("manifest of demo still there: %v", err)
	}
	if _, errOut, code := k.run("", "get", "pod", "demo"); code != 1 || !strings.Contains(errOut, `pods "demo" not found`) {
		t.Errorf("demo after delete: %d %s", code, errOut)
	}
}

// kubectl get -w streams Table rows from the list's resourceVersion:
// ADDED, the changes in order, DELETED.
func TestKubectlWatch(t *testing.T) {
	_, a, k := startWithKubectl(t)

	a.write("marker.yaml", pod("marker", "Always", "  - {name: c, image: busybox, command: [sleep, '3600']}\n"))
	a.waitPod("marker", "Running", time.Minute, statusIs("Running"))
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	cmd := k.command(ctx, nil, "get", "pods", "-w", "--output-watch-events")
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	var errOut bytes.Buffer
	cmd.Stderr = &errOut
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { cancel(); _ = cmd.Wait() }()
	lines := make(chan string)
	go func() {
		defer close(lines)
		buf := make([]byte, 0, 4096)
		tmp := make([]byte, 4096)
		for {
			n, err := stdout.Read(tmp)
			buf = append(buf, tmp[:n]...)
			for {
				i := bytes.IndexByte(buf, '\n')
				if i < 0 {
					break
				}
				lines <- string(buf[:i])
				buf = buf[i+1:]
			}
			if err != nil {
				return
			}
		}
	}()
	// The first row (the marker pod, listed) says the watch is set up.
	select {
	case l := <-lines:
		if f := strings.Fields(l); len(f) == 0 || f[0] != "EVENT" {
			t.Fatalf("first line %q", l)
		}
	case <-ctx.Done():
		t.Fatal("no header")
	}
	if l := <-lines; !strings.HasPrefix(l, "ADDED") || !strings.Contains(l, "marker") {
		t.Fatalf("first row %q", l)
	}

	a.write("w1.yaml", pod("w1", "Always", "  - {name: c, image: busybox, command: [sleep, '3600']}\n"))
	a.waitPod("w1", "Running", time.Minute, statusIs("Running"))
	a.remove("w1.yaml")

	var seen []string
	deadline := time.After(2 * time.Minute)
	for done := false; !done; {
		select {
		case l, ok := <-lines:
			if !ok {
				t.Fatalf("kubectl ended: %v\n%s", seen, errOut.String())
			}
			seen = append(seen, l)
			f := strings.Fields(l)
			done = len(f) > 1 && f[0] == "DELETED" && f[1] == "w1"
		case <-deadline:
			t.Fatalf("no DELETED row; rows so far:\n%s\nstderr:\n%s", strings.Join(seen, "\n"), errOut.String())
		}
	}
	var statuses []string
	for _, l := range seen {
		f := strings.Fields(l)
		if len(f) < 4 || f[1] != "w1" {
			t.Fatalf("row %q", l)
		}
		statuses = append(statuses, f[0]+" "+f[3])
	}
	if !strings.HasPrefix(statuses[0], "ADDED ") || !slicesContains(statuses, "MODIFIED Running") || !strings.HasPrefix(statuses[len(statuses)-1], "DELETED") {
		t.Errorf("watch rows:\n%s", strings.Join(seen, "\n"))
	}
	running := slicesIndex(statuses, "MODIFIED Running")
	if term := slicesIndex(statuses, "MODIFIED Terminating"); term >= 0 && term < running {
		t.Errorf("Terminating before Running:\n%s", strings.Join(seen, "\n"))
	}
}

func slicesContains(s []string, v string) bool { return slicesIndex(s, v) >= 0 }

func slicesIndex(s []string, v string) int {
	for i, x := range s {
		if x == v {
			return i
		}
	}
	return -1
}

// kubectl exec over its WebSocket protocol: output, stdin, and the exit
// code ("command terminated with exit code N", and kubectl's own).
func TestKubectlExec(t *testing.T) {
	_, a, k := startWithKubectl(t)
	a.write("app.yaml", pod("app", "Always", "  - {name: c, image: busybox, command: [sleep, '3600']}\n"))
	a.waitPod("app", "Running", time.Minute, statusIs("Running"))

	if out := k.ok("exec", "app", "--", "sh", "-c", "echo out; echo err >&2"); out != "out\n" {
		t.Errorf("exec stdout %q", out)
	}
	out, errOut, code := k.run("", "exec", "app", "-c", "c", "--", "sh", "-c", "echo before; exit 3")
	if code != 3 || out != "before\n" || !strings.Contains(errOut, "command terminated with exit code 3") {
		t.Errorf("exit 3: code %d out %q err %q", code, out, errOut)
	}
	out, errOut, code = k.run("hello from stdin\n", "exec", "-i", "app", "--", "cat")
	if code != 0 || out != "hello from stdin\n" {
		t.Errorf("exec -i: code %d out %q err %q", code, out, errOut)
	}
	_, errOut, code = k.run("", "exec", "app", "-c", "nosuch", "--", "true")
	if code != 1 || !strings.Contains(errOut, "container nosuch is not valid for pod app") {
		t.Errorf("unknown container: code %d err %q", code, errOut)
	}
}

// Deployments and ReplicaSets of the agent's controllers, through kubectl:
// the lab's apply of a Deployment, get deploy/rs, scale by apply.
func TestKubectlDeployments(t *testing.T) {
	_, _, k := startWithKubectl(t)
	manifest := filepath.Join(t.TempDir(), "deploy.yaml")
	if err := os.WriteFile(manifest, []byte(`apiVersion: apps/v1
kind: Deployment
metadata:
  name: web
spec:
  replicas: 2
  selector:
    matchLabels: {app: web}
  template:
    metadata:
      labels: {app: web}
    spec:
      containers:
      - name: c
        image: busybox
        command: [sleep, '3600']
`), 0o644); err != nil {
		t.Fatal(err)
	}
	if out := k.ok("apply", "-f", manifest); out != "deployment.apps/web created\n" {
		t.Errorf("apply: %q", out)
	}
	testenv.WaitFor(t, "deployment ready", func() (bool, string) {
		out, _, _ := k.run("", "get", "deploy", "web")
		return linesMatch(out, []string{"NAME READY UP-TO-DATE AVAILABLE AGE", "web 2/2 2 2 *"}), out
	})
	out := k.ok("get", "rs", "-o", "wide")
	if !linesMatch(out, []string{"NAME DESIRED CURRENT READY AGE CONTAINERS IMAGES SELECTOR", "* 2 2 2 * c busybox *"}) {
		t.Errorf("get rs:\n%s", out)
	}
	out = k.ok("get", "pods", "-l", "app=web", "-o", "name")
	if strings.Count(out, "pod/web-") != 2 {
		t.Errorf("pods of the deployment:\n%s", out)
	}
	if out := k.ok("get", "all"); !strings.Contains(out, "deployment.apps/web") || !strings.Contains(out, "replicaset.apps/web-") {
		t.Errorf("get all:\n%s", out)
	}
	if out := k.ok("delete", "deploy", "web"); !isDeleted(out, `deployment.apps "web"`) {
		t.Errorf("delete: %q", out)
	}
}

// kubectl delete --grace-period reaches the pod through the HTTPS API as it
// does through the socket: a container that ignores SIGTERM under a 600 s
// pod grace period is killed after the request's 2 s, not the pod's 600.
func TestKubectlDeleteGracePeriod(t *testing.T) {
	env, a, k := startWithKubectl(t)
	a.write("slow.yaml", `apiVersion: v1
kind: Pod
metadata: {name: slow}
spec:
  terminationGracePeriodSeconds: 600
  containers:
  - {name: c, image: busybox, command: [sh, -c, 'trap "" TERM; while true; do sleep 0.1; done']}
`)
	p := a.waitPod("slow", "Running", time.Minute, statusIs("Running"))
	if out := k.ok("delete", "pod", "slow", "--grace-period=2", "--wait=false"); !isDeleted(out, `pod "slow"`) {
		t.Errorf("delete: %q", out)
	}
	d := a.waitPod("slow", "Terminating", 30*time.Second, statusIs("Terminating"))
	if g := d.DeletionGracePeriodSeconds; g == nil || *g != 2 {
		t.Errorf("deletionGracePeriodSeconds %s, want the request's 2", ptrString(g))
	}
	a.waitGone("slow", 90*time.Second)
	env.AssertPodGone(t, p)
}

func ptrString(p *int64) string {
	if p == nil {
		return "<nil>"
	}
	return strconv.FormatInt(*p, 10)
}

// kubectl delete of a pod a Deployment made: the pod goes, as with an API
// server, and its ReplicaSet makes a replacement.
func TestKubectlDeleteControllerPod(t *testing.T) {
	_, a, k := startWithKubectl(t)
	a.write("deploy.yaml", `apiVersion: apps/v1
kind: Deployment
metadata:
  name: web
spec:
  replicas: 1
  selector:
    matchLabels: {app: web}
  template:
    metadata:
      labels: {app: web}
    spec:
      terminationGracePeriodSeconds: 1
      containers:
      - {name: c, image: busybox, command: [sleep, '3600']}
`)
	var first string
	testenv.WaitFor(t, "the deployment's pod running", func() (bool, string) {
		out, _, _ := k.run("", "get", "pods", "-l", "app=web", "--field-selector", "status.phase=Running", "-o", "name")
		first = strings.TrimSpace(out)
		return strings.HasPrefix(first, "pod/web-") && !strings.Contains(first, "\n"), out
	})
	name := strings.TrimPrefix(first, "pod/")
	if out := k.ok("delete", "pod", name); !isDeleted(out, `pod "`+name+`"`) {
		t.Errorf("delete: %q", out)
	}
	if _, errOut, code := k.run("", "get", "pod", name); code != 1 || !strings.Contains(errOut, `pods "`+name+`" not found`) {
		t.Errorf("%s after delete: exit %d %s", name, code, errOut)
	}
	testenv.WaitFor(t, "a replacement pod running", func() (bool, string) {
		out, _, _ := k.run("", "get", "pods", "-l", "app=web", "--field-selector", "status.phase=Running", "-o", "name")
		got := strings.TrimSpace(out)
		return strings.HasPrefix(got, "pod/web-") && got != first && !strings.Contains(got, "\n"), out
	})
}
