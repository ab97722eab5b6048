package kubeapi

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"regexp"
	"testing"
)

// The golden answers of the real kube-apiserver, recorded by
// scripts/reference-apiserver (through reference_record_test.go) into
// testdata/reference/, and what both that recorder and the tests comparing
// the agent with them do to an answer first, so that the two are compared
// alike.
//
// Normalisation: an answer is its JSON with
//   - every "uid" value replaced by "<uid>";
//   - every non-empty "resourceVersion" (an object's, a list's, a
//     Table's) replaced by "<resourceVersion>";
//   - every string that is an RFC 3339 time (creationTimestamp,
//     deletionTimestamp, managedFields' time, …) replaced by "<time>";
//   - every "serverAddress" (the host and port the server was reached on)
//     replaced by "<host>";
//   - a Service's "clusterIP" and "clusterIPs" (allocated at random)
//     replaced by "<clusterIP>" and ["<clusterIP>"];
//   - in /version, every value but the release's (major, minor and
//     their emulation and minCompatibility kin) replaced by "<string>":
//     the build details of two different programs;
//   - in a Table row, the cell of an "Age" column replaced by "<age>" and
//     that of a "Cluster-IP" column by "<clusterIP>" (in a watch, by the
//     columns of the first event's Table).
//
// Object names are fixed by the recorder, so they need no normalisation.
const referenceDir = "testdata/reference"

var rfc3339 = regexp.MustCompile(`^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?(Z|[+-]\d{2}:\d{2})$`)

// normalize applies the rules above to a decoded JSON value in place and
// returns it.
func normalize(v any) any {
	switch x := v.(type) {
	case map[string]any:
		for k, e := range x {
			switch s, isString := e.(string); {
			case k == "uid" && isString:
				x[k] = "<uid>"
			case k == "resourceVersion" && isString && s != "":
				x[k] = "<resourceVersion>"
			case k == "serverAddress" && isString:
				x[k] = "<host>"
			case k == "clusterIP" && isString:
				x[k] = "<clusterIP>"
			case k == "clusterIPs":
				x[k] = []any{"<clusterIP>"}
			default:
				x[k] = normalize(e)
			}
		}
		normalizeTableCells(x)
	case []any:
		for i := range x {
			x[i] = normalize(x[i])
		}
	case string:
		if rfc3339.MatchString(x) {
			return "<time>"
		}
	}
	return v
}

// volatileColumns are the Table columns whose cells are normalized, and
// what to.
var volatileColumns = map[string]string{"Age": "<age>", "Cluster-IP": "<clusterIP>"}

// normalizeTableCells replaces the Age and Cluster-IP cells of a Table's
// rows.
func normalizeTableCells(m map[string]any) {
	if m["kind"] != "Table" {
		return
	}
	cols, _ := m["columnDefinitions"].([]any)
	rows, _ := m["rows"].([]any)
	for i, c := range cols {
		cm, _ := c.(map[string]any)
		name, _ := cm["name"].(string)
		to, ok := volatileColumns[name]
		if !ok {
			continue
		}
		for _, r := range rows {
			cells, _ := r.(map[string]any)["cells"].([]any)
			if i < len(cells) {
				cells[i] = to
			}
		}
	}
}

// normalizeWatch normalizes a watch's events (decoded JSON). A Table watch
// sends the column definitions with the first event only: the Age column
// found there is the one of the later events' rows too.
func normalizeWatch(events []any) []any {
	var cols any
	for _, e := range events {
		obj, _ := e.(map[string]any)["object"].(map[string]any)
		if obj["kind"] == "Table" {
			if defs, _ := obj["columnDefinitions"].([]any); len(defs) > 0 {
				cols = defs
			} else if cols != nil {
				own := obj["columnDefinitions"]
				obj["columnDefinitions"] = cols
				normalizeTableCells(obj)
				obj["columnDefinitions"] = own
			}
		}
		normalize(e)
	}
	return events
}

// normalizeVersion is normalize for /version.
func normalizeVersion(v any) any {
	if m, ok := v.(map[string]any); ok {
		for k := range m {
			switch k {
			case "major", "minor", "emulationMajor", "emulationMinor", "minCompatibilityMajor", "minCompatibilityMinor":
			default:
				m[k] = "<string>"
			}
		}
	}
	return v
}

// decodeNormalized decodes JSON and normalizes it.
func decodeNormalized(t *testing.T, what string, data []byte) any {
	t.Helper()
	var v any
	if err := json.Unmarshal(data, &v); err != nil {
		t.Fatalf("%s: not JSON: %v\n%s", what, err, data)
	}
	return normalize(v)
}

// encodeGolden is how a golden file is written: indented, keys sorted.
func encodeGolden(v any) []byte {
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetIndent("", "  ")
	enc.SetEscapeHTML(false)
	_ = enc.Encode(v)
	return b.Bytes()
}

// golden reads testdata/reference/NAME.json.
func golden(t *testing.T, name string) any {
	t.Helper()
	data, err := os.ReadFile(filepath.Join(referenceDir, name+".json"))
	if err != nil {
		t.Fatalf("golden answer %s (recorded by scripts/reference-apiserver): %v", name, err)
	}
	var v any
	if err := json.Unmarshal(data, &v); err != nil {
		t.Fatalf("golden answer %s: %v", name, err)
	}
	return v
}
