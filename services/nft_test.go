package services

import (
	"flag"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	v1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
)

var update = flag.Bool("update", false, "rewrite the golden files")

func golden(t *testing.T, name, got string) {
	t.Helper()
	path := filepath.Join("testdata", name)
	if *update {
		if err := os.WriteFile(path, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run with -update to create it)", err)
	}
	if got != string(want) {
		t.Errorf("%s differs (run with -update to accept):\n--- got\n%s--- want\n%s", path, got, want)
	}
}

// labInput is the lab after its steps 3 and 6: myservice selects three
// myapp pods (one not ready), mydb selects nothing, and a headless Service.
func labInput() RulesetInput {
	myservice := svc("default", "myservice", "10.96.0.20")
	myservice.Spec.Selector = map[string]string{"app": "myapp"}
	myservice.Spec.Ports = []v1.ServicePort{{Port: 80, Protocol: v1.ProtocolTCP, TargetPort: intstr.FromInt32(80)}}
	mydb := svc("default", "mydb", "10.96.0.31")
	mydb.Spec.Ports = []v1.ServicePort{{Port: 80, Protocol: v1.ProtocolTCP, TargetPort: intstr.FromInt32(9377)}}
	dns := svc("team", "dns", "10.96.0.40")
	dns.Spec.Selector = map[string]string{"app": "dns"}
	dns.Spec.Ports = []v1.ServicePort{
		{Name: "dns", Port: 53, Protocol: v1.ProtocolUDP, TargetPort: intstr.FromInt32(5353)},
		{Name: "dns-tcp", Port: 53, Protocol: v1.ProtocolTCP, TargetPort: intstr.FromInt32(5353)},
	}
	headless := svc("default", "db", v1.ClusterIPNone)
	headless.Spec.Selector = map[string]string{"app": "myapp"}

	pods := []*v1.Pod{
		mkPod("myapp-pod", "10.244.0.5", true),
		mkPod("deployment-example-1", "10.244.0.12", true),
		mkPod("deployment-example-2", "10.244.0.7", false),
		mkPod("dns-0", "10.244.0.30", true, inNS("team"), labelled("app", "dns")),
	}
	svcs := []*v1.Service{myservice, mydb, dns, headless}
	eps := map[string]*v1.Endpoints{}
	for _, s := range svcs {
		if ep := ComputeEndpoints(s, pods); ep != nil {
			eps[key(s)] = ep
		}
	}
	return RulesetInput{Table: "minikubelet", Services: svcs, Endpoints: eps, DNSIPs: []string{"10.96.0.10"}}
}

func TestRenderRulesetGolden(t *testing.T) {
	golden(t, "lab.nft", RenderRuleset(labInput()))
	golden(t, "empty.nft", RenderRuleset(RulesetInput{Table: "minikubelet-mkt-1234", DNSIPs: []string{"10.112.3.10"}}))
}

// nft itself accepts the rendered rulesets (check mode: nothing is
// applied, and no privileges are needed to parse).
func TestRenderedRulesetsParse(t *testing.T) {
	nft, err := exec.LookPath("nft")
	if err != nil {
		if nft, err = exec.LookPath("/usr/sbin/nft"); err != nil {
			t.Skip("nft not installed")
		}
	}
	if os.Geteuid() != 0 {
		t.Skip("nft --check needs CAP_NET_ADMIN for the netlink socket")
	}
	for _, in := range []RulesetInput{labInput(), {Table: "minikubelet-mkt-1234"}} {
		cmd := exec.Command(nft, "--check", "-f", "-")
		cmd.Stdin = strings.NewReader(RenderRuleset(in))
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Errorf("nft --check: %v\n%s", err, out)
		}
	}
}
