package kubeapi

import (
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"testing"
)

// upstreamPrinters is the API server's Table printer code at the release
// this server answers as; its column definitions are the golden answers.
const upstreamPrinters = "pkg/printers/internalversion/printers.go"

// upstreamColumns reads the column definitions (name, type, priority) of
// every `<x>ColumnDefinitions := []metav1.TableColumnDefinition{…}` in
// k8s.io/kubernetes at ServedVersion, fetched through the Go module proxy
// (or the module cache) as any module is.
func upstreamColumns(t *testing.T) map[string][]string {
	t.Helper()
	out, err := exec.Command("go", "mod", "download", "-json", "k8s.io/kubernetes@"+ServedVersion).Output()
	if err != nil {
		t.Fatalf("go mod download k8s.io/kubernetes@%s: %v", ServedVersion, err)
	}
	var mod struct{ Dir string }
	if err := json.Unmarshal(out, &mod); err != nil || mod.Dir == "" {
		t.Fatalf("go mod download: %v %s", err, out)
	}
	src, err := os.ReadFile(filepath.Join(mod.Dir, upstreamPrinters))
	if err != nil {
		t.Fatal(err)
	}
	block := regexp.MustCompile(`(?s)(\w+)ColumnDefinitions := \[\]metav1\.TableColumnDefinition\{\n(.*?)\n\t\}\n`)
	column := regexp.MustCompile(`\{Name: "([^"]+)", Type: "([^"]+)"(?:, Priority: (\d+))?`)
	defs := map[string][]string{}
	for _, m := range block.FindAllSubmatch(src, -1) {
		var cols []string
		for _, c := range column.FindAllSubmatch(m[2], -1) {
			p := string(c[3])
			if p == "" {
				p = "0"
			}
			cols = append(cols, string(c[1])+"/"+string(c[2])+"/"+p)
		}
		defs[string(m[1])] = cols
	}
	return defs
}

// Every served Table has the API server's columns: names, types and
// priorities (priority 1 is what -o wide adds), in order.
func TestTableColumnsMatchUpstream(t *testing.T) {
	upstream := upstreamColumns(t)
	for key, name := range map[string]string{
		keyPods: "pod", keyServices: "service", keyEndpoints: "endpoint", keyEndpointSlices: "endpointSlice",
		keyEvents: "event", keyEventsV1: "event", keyNamespaces: "namespace", keyNodes: "node",
		keyConfigMaps: "configMap", keySecrets: "secret", keyDeployments: "deployment", keyReplicaSets: "replicaSet", keyLeases: "lease",
	} {
		want := upstream[name]
		if len(want) == 0 {
			t.Errorf("%s: no %sColumnDefinitions in %s", key, name, upstreamPrinters)
			continue
		}
		p, ok := printerFor[key]
		if !ok {
			t.Errorf("%s: no Table printer", key)
			continue
		}
		var got []string
		for _, c := range p.columns {
			got = append(got, c.Name+"/"+c.Type+"/"+strconv.Itoa(int(c.Priority)))
		}
		if len(got) != len(want) {
			t.Errorf("%s columns:\n got %q\nwant %q", key, got, want)
			continue
		}
		for i := range got {
			if got[i] != want[i] {
				t.Errorf("%s columns:\n got %q\nwant %q", key, got, want)
				break
			}
		}
	}
}
