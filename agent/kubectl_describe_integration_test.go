//go:build integration

package agent

import (
	"flag"
	"maps"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	v1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
)

var updateGolden = flag.Bool("update", false, "rewrite agent/testdata/describe_*.golden from what kubectl prints")

// kubectl describe of a known pod, its Service and the node, as the real
// kubectl prints them from what the agent serves, compared with golden
// files: every section, field and event line must stay as it is. What
// changes from run to run or machine to machine (ages, times, addresses,
// IDs, the node's capacity and system info) is masked first, and the
// node's huge page sizes, which are the host's, are checked against the
// host instead.
func TestKubectlDescribeGolden(t *testing.T) {
	_, a, k := startWithKubectl(t)
	a.write("golden.yaml", `apiVersion: v1
kind: Pod
metadata:
  name: golden
  labels: {app: golden, tier: front}
  annotations: {note: describe me}
spec:
  terminationGracePeriodSeconds: 5
  containers:
  - name: web
    image: docker.io/library/busybox:1.36
    imagePullPolicy: IfNotPresent
    command: [httpd, -f, -p, '8080']
    ports: [{name: http, containerPort: 8080}]
    env: [{name: GREETING, value: hello}]
    resources:
      requests: {cpu: 50m, memory: 16Mi}
      limits: {memory: 32Mi}
    readinessProbe:
      exec: {command: ['true']}
      periodSeconds: 2
---
apiVersion: v1
kind: Service
metadata:
  name: golden
  labels: {app: golden}
spec:
  selector: {app: golden}
  ports: [{name: http, port: 80, targetPort: http}]
`)
	a.waitPod("golden", "Ready", time.Minute, func(p *v1.Pod) bool {
		return statusIs("Running")(p) && len(p.Status.ContainerStatuses) == 1 && p.Status.ContainerStatuses[0].Ready
	})
	eventually(t, "the Service's endpoints", func() bool {
		return k.ok("get", "endpoints", "golden", "-o", "jsonpath={.subsets[*].addresses[*].ip}") != ""
	})
	for _, c := range []struct{ name, kind, obj string }{
		{"pod", "pod", "golden"}, {"svc", "svc", "golden"}, {"node", "node", "testnode"},
	} {
		out := maskDescribe(k.ok("describe", c.kind, c.obj))
		if c.kind == "node" {
			var huge map[string]int
			out, huge = cutHugePages(out)
			if want := hostHugePages(t); !maps.Equal(huge, want) {
				t.Errorf("kubectl describe node: hugepages lines %v, want each of the host's sizes %v three times (capacity, allocatable, allocated)", huge, want)
			}
		}
		path := filepath.Join("testdata", "describe_"+c.name+".golden")
		if *updateGolden {
			if err := os.WriteFile(path, []byte(out), 0o644); err != nil {
				t.Fatal(err)
			}
			continue
		}
		want, err := os.ReadFile(path)
		if err != nil {
			t.Fatalf("%v (run with -update to write it)", err)
		}
		if out != string(want) {
			t.Errorf("kubectl describe %s %s differs from %s:\n--- got\n%s\n--- want\n%s", c.kind, c.obj, path, out, want)
		}
	}
}

// hugePagesLine is a line of a huge page size in describe node's Capacity,
// Allocatable ("  hugepages-2Mi: <masked>") or Allocated resources
// ("  hugepages-2Mi 0 (<pct>) 0 (<pct>)").
var hugePagesLine = regexp.MustCompile(`^  (hugepages-[^:\s]+)[: ]`)

// cutHugePages takes out of a masked describe node the lines of huge page
// sizes, which are the host's, and counts them by resource.
func cutHugePages(out string) (string, map[string]int) {
	counts := map[string]int{}
	var kept []string
	for _, l := range strings.Split(out, "\n") {
		if m := hugePagesLine.FindStringSubmatch(l); m != nil {
			counts[m[1]]++
			continue
		}
		kept = append(kept, l)
	}
	return strings.Join(kept, "\n"), counts
}

// hostHugePages is each huge page size the kernel offers as its resource
// name, with the 3 lines describe node has of it.
func hostHugePages(t *testing.T) map[string]int {
	t.Helper()
	entries, err := os.ReadDir("/sys/kernel/mm/hugepages")
	if err != nil && !os.IsNotExist(err) {
		t.Fatal(err)
	}
	out := map[string]int{}
	for _, e := range entries {
		kb, err := strconv.ParseInt(strings.TrimSuffix(strings.TrimPrefix(e.Name(), "hugepages-"), "kB"), 10, 64)
		if err != nil {
			t.Fatalf("huge page size %s: %v", e.Name(), err)
		}
		out[v1.ResourceHugePagesPrefix+resource.NewQuantity(kb*1024, resource.BinarySI).String()] = 3
	}
	return out
}

// describeMasks replace what varies between runs and machines.
var describeMasks = []struct {
	re   *regexp.Regexp
	repl string
}{
	// Whole values of fields that name times, addresses, IDs and the
	// machine's software.
	{regexp.MustCompile(`(?m)^([ \t]*(?:Start Time|Started|CreationTimestamp|RenewTime|AcquireTime|Machine ID|Boot ID|Kernel Version|OS Image|Container ID|Image ID|Container Runtime Version|PodCIDR|PodCIDRs|InternalIP|Hostname|IP|IPs|Endpoints|Node|HolderIdentity|Architecture):[ \t]+)\S.*$`), "${1}<masked>"},
	{regexp.MustCompile(`((?:kubernetes\.io/config\.(?:hash|seen)|minikubelet\.io/manifest|kubernetes\.io/hostname|(?:beta\.)?kubernetes\.io/arch)[:=][ \t]*)\S+`), "${1}<masked>"},
	// Empty on some machines.
	{regexp.MustCompile(`(?m)^([ \t]*System UUID:).*$`), "${1} <masked>"},
	// The node's capacity and allocatable (two spaces in; a container's
	// requests and limits are further in).
	{regexp.MustCompile(`(?m)^(  (?:cpu|memory|ephemeral-storage|pods|hugepages-\S+):[ \t]+)\S+$`), "${1}<masked>"},
	// Times, events' ages and counts, the age ending a pod row of the node.
	{regexp.MustCompile(`[A-Z][a-z]{2}, \d\d [A-Z][a-z]{2} \d{4} \d\d:\d\d:\d\d [+-]\d{4}`), "<time>"},
	{regexp.MustCompile(`\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?Z`), "<time>"},
	{regexp.MustCompile(`(?m)^(  (?:Normal|Warning)[ \t]+\S+[ \t]+)\S+( \(x\d+ over \S+\))?`), "${1}<age>"},
	{regexp.MustCompile(`(?m)^(  \S+[ \t]+\S+[ \t]+.*\(\d+%\)[ \t]+)\S+$`), "${1}<age>"},
	// Newer kubectl names a container's ports ("8080/TCP (http)"), 1.32
	// does not; the machine's kubectl is gcloud's dispatcher, which runs
	// kubectl.1.32 or a newer minor's binary depending on the server
	// version it reads, and both were seen here.
	{regexp.MustCompile(`(?m)^([ \t]*(?:Port|Host Port):[ \t]+\d+/[A-Z]+) \([^)]*\)$`), "${1}"},
	// Addresses and the node's usage percentages.
	{regexp.MustCompile(`\b\d{1,3}\.\d{1,3}\.\d{1,3}\.\d{1,3}\b`), "<ip>"},
	{regexp.MustCompile(`\(\d+%\)`), "(<pct>)"},
}

func maskDescribe(out string) string {
	for _, m := range describeMasks {
		out = m.re.ReplaceAllString(out, m.repl)
	}
	// Column widths follow the masked values' lengths: compare words.
	lines := strings.Split(out, "\n")
	for i, l := range lines {
		indent := len(l) - len(strings.TrimLeft(l, " \t"))
		lines[i] = l[:indent] + strings.Join(strings.Fields(l), " ")
	}
	return strings.Join(lines, "\n")
}

// The events a kubelet records on its Node as it starts, shown by kubectl
// describe node and kubectl get events as an API server serves them: about
// the Node (no namespace, the node's name for its UID, as upstream's
// kubelet refers to it), in the default namespace, from the kubelet on
// this host.
func TestKubectlNodeEvents(t *testing.T) {
	_, _, k := startWithKubectl(t)
	want := [][2]string{
		{"Starting", "Starting kubelet."},
		{"NodeAllocatableEnforced", "Updated Node Allocatable limit across pods"},
		{"NodeHasSufficientMemory", "Node testnode status is now: NodeHasSufficientMemory"},
		{"NodeHasNoDiskPressure", "Node testnode status is now: NodeHasNoDiskPressure"},
		{"NodeHasSufficientPID", "Node testnode status is now: NodeHasSufficientPID"},
		{"NodeReady", "Node testnode status is now: NodeReady"},
	}
	var out string
	eventually(t, "the node's events in describe node", func() bool {
		out = k.ok("describe", "node", "testnode")
		_, events, _ := strings.Cut(out, "\nEvents:")
		for _, w := range want {
			if !hasLineWith(events, "Normal", w[0], "kubelet", w[1]) {
				return false
			}
		}
		return true
	})

	out = k.ok("get", "events", "--field-selector", "involvedObject.kind=Node")
	for _, w := range want {
		if !hasLineWith(out, "Normal", w[0], "node/testnode", w[1]) {
			t.Errorf("kubectl get events lacks %s:\n%s", w[0], out)
		}
	}
	out = k.ok("get", "events", "-A", "--field-selector", "reason=Starting", "-o",
		`jsonpath={range .items[*]}{.metadata.namespace} {.involvedObject.kind} {.involvedObject.name} ns="{.involvedObject.namespace}" uid={.involvedObject.uid} {.source.component} {.source.host}{"\n"}{end}`)
	if out != "default Node testnode ns=\"\" uid=testnode kubelet testnode\n" {
		t.Errorf("the Starting event: %q", out)
	}
}
