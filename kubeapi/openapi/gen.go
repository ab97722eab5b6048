//go:build ignore

// gen writes the OpenAPI v3 documents the agent serves: the upstream
// kube-apiserver's documents of the pinned release (from the
// k8s.io/kubernetes module, api/openapi-spec/v3), cut down to the paths of
// the resources served here and the schemas those paths reach.
//
//	go mod download k8s.io/kubernetes@v1.34.2
//	go run gen.go $(go env GOMODCACHE)/k8s.io/kubernetes@v1.34.2/api/openapi-spec/v3
package main

import (
	"bytes"
	"compress/gzip"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
)

// docs maps each served group version to the resources it serves.
var docs = map[string][]string{
	"api__v1":                       {"pods", "services", "endpoints", "events", "namespaces", "nodes", "configmaps", "secrets"},
	"apis__events.k8s.io__v1":       {"events"},
	"apis__discovery.k8s.io__v1":    {"endpointslices"},
	"apis__apps__v1":                {"deployments", "replicasets"},
	"apis__coordination.k8s.io__v1": {"leases"},
}

func main() {
	if len(os.Args) != 2 {
		fmt.Fprintln(os.Stderr, "usage: go run gen.go UPSTREAM_SPEC_V3_DIR")
		os.Exit(2)
	}
	names := make([]string, 0, len(docs))
	for n := range docs {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		if err := gen(os.Args[1], n, docs[n]); err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
	}
}

var refRE = regexp.MustCompile(`"#/components/schemas/([^"]+)"`)

func gen(dir, name string, served []string) error {
	data, err := os.ReadFile(filepath.Join(dir, name+"_openapi.json"))
	if err != nil {
		return err
	}
	var doc map[string]json.RawMessage
	if err := json.Unmarshal(data, &doc); err != nil {
		return fmt.Errorf("%s: %w", name, err)
	}
	var paths map[string]json.RawMessage
	if err := json.Unmarshal(doc["paths"], &paths); err != nil {
		return err
	}
	var schemas map[string]json.RawMessage
	var components map[string]json.RawMessage
	if err := json.Unmarshal(doc["components"], &components); err != nil {
		return err
	}
	if err := json.Unmarshal(components["schemas"], &schemas); err != nil {
		return err
	}
	kept := map[string]json.RawMessage{}
	for p, v := range paths {
		if keepPath(p, served) {
			kept[p] = v
		}
	}
	// Keep the schemas the kept paths reach, transitively.
	reach := map[string]bool{}
	var queue []string
	for _, v := range kept {
		for _, m := range refRE.FindAllStringSubmatch(string(v), -1) {
			queue = append(queue, m[1])
		}
	}
	for len(queue) > 0 {
		s := queue[0]
		queue = queue[1:]
		if reach[s] {
			continue
		}
		reach[s] = true
		for _, m := range refRE.FindAllStringSubmatch(string(schemas[s]), -1) {
			queue = append(queue, m[1])
		}
	}
	outSchemas := map[string]json.RawMessage{}
	for s := range reach {
		outSchemas[s] = schemas[s]
	}
	components["schemas"], _ = json.Marshal(outSchemas)
	doc["components"], _ = json.Marshal(components)
	doc["paths"], _ = json.Marshal(kept)
	out, err := json.Marshal(doc)
	if err != nil {
		return err
	}
	var buf bytes.Buffer
	zw, _ := gzip.NewWriterLevel(&buf, gzip.BestCompression)
	zw.Write(out)
	zw.Close()
	fmt.Printf("%s: %d paths, %d schemas, %d bytes, %d gzipped\n", name, len(kept), len(outSchemas), len(out), buf.Len())
	return os.WriteFile(name+".json.gz", buf.Bytes(), 0o644)
}

// keepPath keeps the collection, object and subresource paths of the served
// resources (namespaced, cluster-wide and watch forms).
func keepPath(p string, served []string) bool {
	segs := strings.Split(strings.Trim(p, "/"), "/")
	for i, s := range segs {
		if s == "namespaces" && i+2 < len(segs) {
			continue // the namespace segment itself; look further
		}
		for _, r := range served {
			if s == r && (i == len(segs)-1 || i >= len(segs)-3) && !strings.HasPrefix(s, "{") {
				return true
			}
		}
	}
	return false
}
