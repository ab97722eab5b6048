//go:build integration

package agent

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/miekg/dns"
	"github.com/vishvananda/netlink"
	v1 "k8s.io/api/core/v1"

	"github.com/minikubelet/minikubelet/api"
	"github.com/minikubelet/minikubelet/internal/testenv"
	"github.com/minikubelet/minikubelet/internal/testnet"
	"github.com/minikubelet/minikubelet/printers"
)

// isolateServices gives cfg a service network of its own: a free /24 of
// 10.112.0.0/12 and its tenth address as cluster DNS; the interface and
// nftables table derive from the test's containerd namespace. Everything
// the agent adds for it (table, interface, the CIDR's unreachable route)
// is removed when the test ends, also when the agent could not clean up.
// Every agent under test needs one: two agents cannot share a DNS address.
func isolateServices(t *testing.T, cfg *Config) {
	t.Helper()
	cidr := freeServiceCIDR(t)
	_, n, _ := net.ParseCIDR(cidr)
	cfg.ServiceCIDR = cidr
	cfg.ClusterDNS = []string{net.IPv4(n.IP[0], n.IP[1], n.IP[2], 10).String()}
	// Registered before the agent starts, so it runs after the agent stopped.
	t.Cleanup(func() { removeServiceNetwork(t, *cfg) })
}

// freeServiceCIDR picks a /24 of 10.112.0.0/12 that nothing on the
// machine uses.
func freeServiceCIDR(t *testing.T) string {
	t.Helper()
	cidr, err := testnet.FreeSubnet("10.112.0.0/12")
	if err != nil {
		t.Fatal(err)
	}
	return cidr
}

// removeServiceNetwork deletes what an agent with cfg adds for Services.
func removeServiceNetwork(t *testing.T, cfg Config) {
	if out, err := exec.Command("nft", "delete", "table", "ip", cfg.nftTable()).CombinedOutput(); err == nil {
		t.Errorf("nft table %s was left behind by the agent", cfg.nftTable())
	} else if !strings.Contains(string(out), "No such file or directory") {
		t.Errorf("delete nft table %s: %v: %s", cfg.nftTable(), err, out)
	}
	if link, err := netlink.LinkByName(cfg.dnsInterface()); err == nil {
		t.Errorf("interface %s was left behind by the agent", cfg.dnsInterface())
		if err := netlink.LinkDel(link); err != nil {
			t.Errorf("delete interface %s: %v", cfg.dnsInterface(), err)
		}
	}
	_, dst, _ := net.ParseCIDR(cfg.ServiceCIDR)
	routes, _ := netlink.RouteListFiltered(netlink.FAMILY_V4, &netlink.Route{Dst: dst}, netlink.RT_FILTER_DST)
	for _, r := range routes {
		if r.Type == syscall.RTN_UNREACHABLE {
			if err := netlink.RouteDel(&r); err != nil {
				t.Errorf("delete route %s: %v", dst, err)
			}
		}
	}
}

// waitService waits for the named Service to be published.
func (a *testAgent) waitService(name string, timeout time.Duration) *v1.Service {
	a.t.Helper()
	deadline := time.Now().Add(timeout)
	for time.Now().Before(deadline) {
		if s, err := a.client.GetService(context.Background(), "default", name); err == nil {
			return s
		}
		time.Sleep(100 * time.Millisecond)
	}
	a.t.Fatalf("service %s not published", name)
	return nil
}

func logOpts(container string) api.LogOptions { return api.LogOptions{Container: container} }

func readRepoFile(t *testing.T, path string) string {
	t.Helper()
	data, err := os.ReadFile(filepath.Join("..", path))
	if err != nil {
		t.Fatal(err)
	}
	return string(data)
}

// The lab's first step: the init containers of myapp-pod run
// `until nslookup myservice.default.svc.cluster.local` (then mydb) against
// the cluster DNS from the pod's resolv.conf; the pod stays in Init:0/2
// until service.yml is written, then initializes and runs. The Services
// keep their ClusterIPs across an agent restart, and a clean shutdown
// removes the table and the interface.
func TestLabInitWaitsForServices(t *testing.T) {
	env := testenv.New(t)
	cfg := testConfig(t, env)
	a := startAgent(t, cfg)

	// manifests/init.yml. Its app container, when it has no command (the
	// image's sh exits at once, then CrashLoopBackOff as on a cluster),
	// gets the one of the Kubernetes docs' version of this example.
	initYML := readRepoFile(t, "manifests/init.yml")
	if !strings.Contains(initYML, "until nslookup myservice.default.svc.cluster.local") {
		t.Fatalf("manifests/init.yml is no longer the lab's first step:\n%s", initYML)
	}
	if strings.HasSuffix(initYML, "  - name: myapp-container\n    image: busybox:latest\n") {
		initYML += "    command: ['sh', '-c', 'echo The app is running! && sleep 3600']\n"
	}
	a.write("init.yml", initYML)

	a.waitPod("myapp-pod", "init-myservice to fail a lookup", time.Minute, func(p *v1.Pod) bool {
		var out strings.Builder
		_ = a.client.Logs(context.Background(), "default", "myapp-pod", logOpts("init-myservice"), &out)
		return strings.Contains(out.String(), "waiting for myservice")
	})
	var out strings.Builder
	_ = a.client.Logs(context.Background(), "default", "myapp-pod", logOpts("init-myservice"), &out)
	if !strings.Contains(out.String(), "NXDOMAIN") {
		t.Errorf("init-myservice logs do not show the cluster DNS answering NXDOMAIN:\n%s", out.String())
	}
	if p, _ := a.client.GetPod(context.Background(), "default", "myapp-pod"); printers.PodStatus(p) != "Init:0/2" {
		t.Errorf("STATUS = %s before the Services exist, want Init:0/2", printers.PodStatus(p))
	}

	a.write("service.yml", readRepoFile(t, "manifests/service.yml"))
	a.waitPod("myapp-pod", "Running", 2*time.Minute, statusIs("Running"))

	_, cidr, _ := net.ParseCIDR(cfg.ServiceCIDR)
	ips := map[string]string{}
	for _, name := range []string{"myservice", "mydb"} {
		s := a.waitService(name, 10*time.Second)
		ip := net.ParseIP(s.Spec.ClusterIP)
		if ip == nil || !cidr.Contains(ip) || s.Spec.Type != v1.ServiceTypeClusterIP || s.CreationTimestamp.IsZero() {
			t.Errorf("%s: type %s clusterIP %s created %v", name, s.Spec.Type, s.Spec.ClusterIP, s.CreationTimestamp)
		}
		ips[name] = s.Spec.ClusterIP
	}
	var logs strings.Builder
	_ = a.client.Logs(context.Background(), "default", "myapp-pod", logOpts("init-mydb"), &logs)
	if !strings.Contains(logs.String(), "Name:\tmydb.default.svc.cluster.local\nAddress: "+ips["mydb"]) {
		t.Errorf("init-mydb did not resolve mydb to %s:\n%s", ips["mydb"], logs.String())
	}

	// Restart: same addresses; the clean stop removed the node setup.
	a.stop()
	if _, err := netlink.LinkByName(cfg.dnsInterface()); err == nil {
		t.Errorf("interface %s still there after a clean stop", cfg.dnsInterface())
	}
	if out, err := exec.Command("nft", "list", "table", "ip", cfg.nftTable()).CombinedOutput(); err == nil {
		t.Errorf("table %s still there after a clean stop:\n%s", cfg.nftTable(), out)
	}
	a = startAgent(t, cfg)
	for name, ip := range ips {
		if s := a.waitService(name, 30*time.Second); s.Spec.ClusterIP != ip {
			t.Errorf("%s: ClusterIP %s after restart, was %s", name, s.Spec.ClusterIP, ip)
		}
	}
	a.waitPod("myapp-pod", "still Running", 30*time.Second, statusIs("Running"))
}

// httpGet fetches http://host/ from inside a pod with busybox nc (the
// lab's busybox wget crashes: Debian's static build segfaults in it) and
// returns the body, or nc's error text.
func (a *testAgent) httpGet(pod, container, host string) (string, bool) {
	a.t.Helper()
	code, out := a.exec(pod, container, "sh", "-c", `printf 'GET / HTTP/1.0\r\n\r\n' | nc -w 5 `+host+` 80`)
	if code != 0 || !strings.HasPrefix(out, "HTTP/1.") {
		return out, false
	}
	_, body, _ := strings.Cut(out, "\r\n\r\n")
	return strings.TrimSpace(body), true
}

const webPods = `apiVersion: v1
kind: Pod
metadata:
  name: %[1]s
  labels: {app: web}
spec:
  terminationGracePeriodSeconds: 1
  containers:
  - name: httpd
    image: busybox:latest
    command: ['sh', '-c', 'mkdir -p /www && echo %[1]s > /www/index.html && exec httpd -f -p 8080 -h /www']
    ports: [{name: http, containerPort: 8080}]
    readinessProbe:
      %[2]s
      periodSeconds: 1
`

// ClusterIP traffic: a busybox client reaches the Service's pods through
// the ClusterIP (named targetPort), and so does the node itself; both
// ready pods answer across requests; the pod whose readiness probe fails
// is not an endpoint and never answers; a pod reaches itself through its
// own Service (hairpin); a Service without endpoints refuses at once.
func TestServiceTraffic(t *testing.T) {
	env := testenv.New(t)
	cfg := testConfig(t, env)
	a := startAgent(t, cfg)

	a.write("web-a.yaml", fmt.Sprintf(webPods, "web-a", "httpGet: {path: /, port: http}"))
	a.write("web-b.yaml", fmt.Sprintf(webPods, "web-b", "httpGet: {path: /, port: http}"))
	a.write("web-broken.yaml", fmt.Sprintf(webPods, "web-broken", "exec: {command: ['false']}"))
	a.write("client.yaml", `apiVersion: v1
kind: Pod
metadata: {name: client}
spec:
  containers:
  - name: c
    image: busybox:latest
    command: ['sleep', '3600']
`)
	a.write("svc.yaml", `apiVersion: v1
kind: Service
metadata: {name: web}
spec:
  selector: {app: web}
  ports: [{name: http, port: 80, targetPort: http}]
---
apiVersion: v1
kind: Service
metadata: {name: empty}
spec:
  ports: [{port: 80, targetPort: 9376}]
`)
	for _, p := range []string{"web-a", "web-b"} {
		a.waitPod(p, "ready", time.Minute, isReady)
	}
	a.waitPod("web-broken", "running", time.Minute, statusIs("Running"))
	a.waitPod("client", "running", time.Minute, statusIs("Running"))
	web := a.waitService("web", 10*time.Second)
	ip := web.Spec.ClusterIP

	// Endpoints: the two ready pods, the broken one not ready.
	deadline := time.Now().Add(30 * time.Second)
	for {
		ep, err := a.client.GetEndpoints(context.Background(), "default", "web")
		if err == nil && len(ep.Subsets) == 1 && len(ep.Subsets[0].Addresses) == 2 && len(ep.Subsets[0].NotReadyAddresses) == 1 &&
			ep.Subsets[0].Ports[0].Port == 8080 && ep.Subsets[0].Ports[0].Name == "http" {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("endpoints of web: %+v %v", ep, err)
		}
		time.Sleep(100 * time.Millisecond)
	}

	answers := map[string]int{}
	for i := 0; i < 30; i++ {
		body, ok := a.httpGet("client", "c", ip)
		if !ok {
			t.Fatalf("GET %s from the client pod: %s", ip, body)
		}
		answers[body]++
	}
	if answers["web-a"] == 0 || answers["web-b"] == 0 || len(answers) != 2 {
		t.Errorf("answers over 30 requests: %v, want both web-a and web-b and nothing else", answers)
	}

	// From the node itself (nat output).
	hostAnswers := map[string]int{}
	hc := http.Client{Timeout: 5 * time.Second}
	for i := 0; i < 20; i++ {
		resp, err := hc.Get("http://" + ip + "/")
		if err != nil {
			t.Fatalf("GET %s from the node: %v", ip, err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		hostAnswers[strings.TrimSpace(string(body))]++
	}
	if hostAnswers["web-a"] == 0 || hostAnswers["web-b"] == 0 || len(hostAnswers) != 2 {
		t.Errorf("answers to the node: %v", hostAnswers)
	}

	// Hairpin: web-a through its own Service, sometimes served by itself.
	self := 0
	for i := 0; i < 30 && self == 0; i++ {
		body, ok := a.httpGet("web-a", "httpd", ip)
		if !ok {
			t.Fatalf("GET from web-a through its Service: %s", body)
		}
		if body == "web-a" {
			self++
		}
	}
	if self == 0 {
		t.Error("web-a never reached itself through its Service in 30 requests")
	}

	// The short name through the pod's resolv.conf (search list,
	// ndots:5). busybox nslookup asks every search domain and exits 1
	// when any of them is NXDOMAIN, as it does against CoreDNS.
	_, out := a.exec("client", "c", "nslookup", "web")
	if !strings.Contains(out, "Name:\tweb.default.svc.cluster.local\nAddress: "+ip+"\n") {
		t.Errorf("nslookup web:\n%s", out)
	}

	// No endpoints: refused at once, from a pod and from the node.
	empty := a.waitService("empty", 10*time.Second).Spec.ClusterIP
	if body, ok := a.httpGet("client", "c", empty); ok || !strings.Contains(body, "Connection refused") {
		t.Errorf("GET a Service without endpoints from a pod: %s", body)
	}
	if _, err := net.DialTimeout("tcp", net.JoinHostPort(empty, "80"), 5*time.Second); !errors.Is(err, syscall.ECONNREFUSED) {
		t.Errorf("dial a Service without endpoints from the node: %v, want connection refused", err)
	}
	// A port the Service does not have, and the DNS address beyond port 53.
	for _, addr := range []string{net.JoinHostPort(ip, "22"), net.JoinHostPort(cfg.ClusterDNS[0], "22")} {
		if _, err := net.DialTimeout("tcp", addr, 5*time.Second); !errors.Is(err, syscall.ECONNREFUSED) {
			t.Errorf("dial %s: %v, want connection refused", addr, err)
		}
	}

	// The broken pod turns ready: it joins the rotation.
	a.write("web-broken.yaml", fmt.Sprintf(webPods, "web-broken", "httpGet: {path: /, port: http}"))
	a.waitPod("web-broken", "ready", time.Minute, isReady)
	deadline = time.Now().Add(30 * time.Second)
	for {
		if body, _ := a.httpGet("client", "c", ip); body == "web-broken" {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the pod that became ready never answered through the Service")
		}
	}
}

// The cluster DNS from a pod and from the node: a missing Service is
// NXDOMAIN, a name outside cluster.local is refused by our server (which
// never forwards: the only server the pod knows is ours), AAAA of a
// Service is an empty success.
func TestClusterDNS(t *testing.T) {
	env := testenv.New(t)
	cfg := testConfig(t, env)
	a := startAgent(t, cfg)
	a.write("client.yaml", `apiVersion: v1
kind: Pod
metadata: {name: client}
spec:
  containers:
  - name: c
    image: busybox:latest
    command: ['sleep', '3600']
`)
	a.waitPod("client", "running", time.Minute, statusIs("Running"))
	code, resolv := a.exec("client", "c", "cat", "/etc/resolv.conf")
	if want := "search default.svc.cluster.local svc.cluster.local cluster.local\nnameserver " + cfg.ClusterDNS[0] + "\noptions ndots:5\n"; code != 0 || resolv != want {
		t.Fatalf("resolv.conf:\n%s\nwant\n%s", resolv, want)
	}

	code, out := a.exec("client", "c", "nslookup", "nosuch.default.svc.cluster.local")
	if code == 0 || !strings.Contains(out, "NXDOMAIN") {
		t.Errorf("nslookup of a missing Service: exit %d\n%s", code, out)
	}
	code, out = a.exec("client", "c", "nslookup", "example.com")
	if code == 0 || !strings.Contains(out, "REFUSED") {
		t.Errorf("nslookup outside the cluster domain: exit %d\n%s", code, out)
	}

	a.write("svc.yaml", "apiVersion: v1\nkind: Service\nmetadata: {name: myservice}\nspec: {ports: [{port: 80, targetPort: 9376}]}\n")
	ip := a.waitService("myservice", 10*time.Second).Spec.ClusterIP
	code, out = a.exec("client", "c", "nslookup", "myservice.default.svc.cluster.local")
	if code != 0 || !strings.Contains(out, "Address: "+ip) {
		t.Errorf("nslookup myservice: exit %d\n%s", code, out)
	}

	// From the node, straight to our DNS address.
	server := net.JoinHostPort(cfg.ClusterDNS[0], "53")
	for _, tc := range []struct {
		name  string
		qtype uint16
		rcode int
		n     int
	}{
		{"myservice.default.svc.cluster.local.", dns.TypeA, dns.RcodeSuccess, 1},
		{"myservice.default.svc.cluster.local.", dns.TypeAAAA, dns.RcodeSuccess, 0},
		{"nosuch.default.svc.cluster.local.", dns.TypeA, dns.RcodeNameError, 0},
		{"example.com.", dns.TypeA, dns.RcodeRefused, 0},
	} {
		for _, proto := range []string{"udp", "tcp"} {
			m, _, err := (&dns.Client{Net: proto, Timeout: 5 * time.Second}).Exchange(new(dns.Msg).SetQuestion(tc.name, tc.qtype), server)
			if err != nil || m.Rcode != tc.rcode || len(m.Answer) != tc.n {
				t.Errorf("%s %s over %s: %v %v", tc.name, dns.TypeToString[tc.qtype], proto, m, err)
			}
		}
	}
}

// soloPod serves its name on 8080 and, when it gets SIGTERM, asks (with
// check, %[2]s) whether its Service's ClusterIP still leads to it, writing
// "routed" or "unrouted" into /out/at-sigterm (%[1]s, a directory of the
// test's). httpd runs beside the shell so that it still answers while the
// trap runs.
const soloPod = `apiVersion: v1
kind: Pod
metadata:
  name: solo
  labels: {app: solo}
spec:
  terminationGracePeriodSeconds: 20
  volumes:
  - {name: out, hostPath: {path: %[1]s, type: Directory}}
  containers:
  - name: httpd
    image: busybox:latest
    volumeMounts: [{name: out, mountPath: /out}]
    command:
    - sh
    - -c
    - |
      mkdir -p /www && echo solo > /www/index.html
      httpd -f -p 8080 -h /www &
      %[2]s
      trap 'check > /out/at-sigterm; exit 0' TERM
      while :; do sleep 1 & wait $!; done
    readinessProbe:
      httpGet: {path: /, port: 8080}
      periodSeconds: 1
`

// soloCheck defines check: does the ClusterIP %[1]s lead to this pod?
const soloCheck = `check() { if printf 'GET / HTTP/1.0\r\n\r\n' | nc -w 2 %[1]s 80 | grep -q solo; then echo routed; else echo unrouted; fi; }`

// A deleted pod leaves its Service's rules before its containers get
// SIGTERM: the only backend of a Service asks, from its SIGTERM trap,
// whether the ClusterIP still leads to it, and it must not. Checked from
// inside the pod at the moment of the signal, so the order is asserted
// without timing anything.
func TestDeletedPodUnroutedBeforeSIGTERM(t *testing.T) {
	env := testenv.New(t)
	a := startAgent(t, testConfig(t, env))
	out := t.TempDir()

	a.write("svc.yaml", `apiVersion: v1
kind: Service
metadata: {name: solo}
spec:
  selector: {app: solo}
  ports: [{port: 80, targetPort: 8080}]
`)
	ip := a.waitService("solo", 10*time.Second).Spec.ClusterIP
	check := fmt.Sprintf(soloCheck, ip)
	a.write("solo.yaml", fmt.Sprintf(soloPod, out, check))
	pod := a.waitPod("solo", "ready", time.Minute, isReady)

	// While it is an endpoint, the check from inside says routed (the
	// pod reaches itself through the ClusterIP): the trap's answer means
	// something.
	testenv.WaitFor(t, "the pod routed through its Service", func() (bool, string) {
		ep, err := a.client.GetEndpoints(context.Background(), "default", "solo")
		if err != nil || len(ep.Subsets) != 1 || len(ep.Subsets[0].Addresses) != 1 {
			return false, fmt.Sprintf("endpoints %+v %v", ep, err)
		}
		_, got := a.exec("solo", "httpd", "sh", "-c", check+"; check")
		return strings.TrimSpace(got) == "routed", got
	})

	a.remove("solo.yaml")
	a.waitGone("solo", time.Minute)
	env.AssertPodGone(t, pod)
	got, err := os.ReadFile(filepath.Join(out, "at-sigterm"))
	if err != nil {
		t.Fatalf("the pod's SIGTERM trap left no answer: %v", err)
	}
	if strings.TrimSpace(string(got)) != "unrouted" {
		t.Errorf("at SIGTERM the ClusterIP still led to the deleted pod (%q): the rules must drop it first", got)
	}
	ep, err := a.client.GetEndpoints(context.Background(), "default", "solo")
	if err != nil || len(ep.Subsets) != 0 {
		t.Errorf("endpoints after the pod went: %+v %v", ep, err)
	}
}
