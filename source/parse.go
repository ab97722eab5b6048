// Package source turns a directory of Kubernetes manifests into the desired
// set of pods, the way the kubelet's file source turns a staticPodPath into
// static pods. It is the only reader of manifest files; Apply and Delete are
// its only writers.
package source

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	appsv1 "k8s.io/api/apps/v1"
	"path/filepath"
	"strings"

	v1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/util/validation/field"
	sigsjson "sigs.k8s.io/json"
	"sigs.k8s.io/yaml"
)

// MaxFileSize is the largest manifest file read, like the kubelet's
// maxConfigLength.
const MaxFileSize = 10 << 20

// FileError is one problem found in one manifest file. A pod with several
// invalid fields yields one FileError per field.
type FileError struct {
	File string
	// Pod is "namespace/name" when the problem belongs to a known pod.
	Pod string
	Err error
}

func (e FileError) Error() string { return e.File + ": " + e.Err.Error() }

// Unwrap gives errors.As access to the *field.Error behind validation
// failures.
func (e FileError) Unwrap() error { return e.Err }

// Skipped is an object of a kind the agent does not run (yet). It is reported,
// not treated as an error, and does not affect pods in the same file.
type Skipped struct {
	File       string
	APIVersion string
	Kind       string
	Namespace  string
	Name       string
}

// object is one Kubernetes object found in a file: one YAML document or one
// item of a List.
type object struct {
	doc  int // 1-based document number within the file
	item int // index within a List document, -1 if the document is the object
	json []byte
	// yaml is the document's own text when it is a YAML document holding
	// just this object (comments and layout kept when it is stored).
	yaml []byte
	meta objectMeta
}

// objectMeta is what identifies an object, read leniently before the strict
// decode so that even a broken object can be named in errors.
type objectMeta struct {
	APIVersion string `json:"apiVersion"`
	Kind       string `json:"kind"`
	Metadata   struct {
		Name      string `json:"name"`
		Namespace string `json:"namespace"`
	} `json:"metadata"`
}

func (m objectMeta) group() string {
	gv, err := schema.ParseGroupVersion(m.APIVersion)
	if err != nil {
		return m.APIVersion
	}
	return gv.Group
}

// where names the object's position for messages that cannot name a field.
func (o object) where(multiDoc bool) string {
	var parts []string
	if multiDoc {
		parts = append(parts, fmt.Sprintf("document %d", o.doc))
	}
	if o.item >= 0 {
		parts = append(parts, fmt.Sprintf("items[%d]", o.item))
	}
	if len(parts) == 0 {
		return ""
	}
	return strings.Join(parts, ", ") + ": "
}

// segment is one YAML document's place in a file: [start, body) holds the
// "---" separator (empty for the first document), [body, end) the document.
type segment struct {
	start, body, end int
}

// isJSON reports whether a file is read as one JSON value rather than as a
// YAML stream. JSON is valid YAML in theory, but YAML parsers reject the tab
// indentation JSON files often have.
func isJSON(path string, data []byte) bool {
	if strings.EqualFold(filepath.Ext(path), ".json") {
		return true
	}
	// A YAML flow mapping also starts with "{": only valid JSON counts.
	trimmed := bytes.TrimLeft(data, " \t\r\n")
	return len(trimmed) > 0 && trimmed[0] == '{' && json.Valid(trimmed)
}

// splitYAML cuts a YAML stream at its "---" separator lines, keeping byte
// offsets so that a single document can be replaced or removed in place.
func splitYAML(data []byte) []segment {
	var segs []segment
	cur := segment{}
	for pos := 0; pos < len(data); {
		end := bytes.IndexByte(data[pos:], '\n')
		next := len(data)
		if end >= 0 {
			next = pos + end + 1
		}
		line := data[pos:next]
		if isSeparator(line) {
			cur.end = pos
			segs = append(segs, cur)
			// A comment after "---" stays with the separator; content
			// ("--- {a: b}") belongs to the document.
			cur = segment{start: pos, body: next}
			if rest := bytes.TrimSpace(line[3:]); len(rest) > 0 && rest[0] != '#' {
				cur.body = pos + 3
			}
		}
		pos = next
	}
	cur.end = len(data)
	return append(segs, cur)
}

func isSeparator(line []byte) bool {
	if !bytes.HasPrefix(line, []byte("---")) {
		return false
	}
	rest := line[3:]
	return len(rest) == 0 || rest[0] == ' ' || rest[0] == '\t' || rest[0] == '\n' || rest[0] == '\r'
}

// docError is a problem with a document that has no object to name yet.
type docError struct {
	doc  int
	item int
	err  error
}

// splitObjects returns the objects of a file's content in order, expanding
// Lists, and the documents that could not be read.
func splitObjects(path string, data []byte) (objs []object, errs []docError, multiDoc bool) {
	if isJSON(path, data) {
		o, e := objectsOf(1, data)
		return o, e, false
	}
	segs := splitYAML(data)
	n := 0
	for i, seg := range segs {
		// Pad with the lines before the document so that the parser's
		// line numbers are the file's.
		pad := bytes.Repeat([]byte("\n"), bytes.Count(data[:seg.body], []byte("\n")))
		j, err := yaml.YAMLToJSONStrict(append(pad, data[seg.body:seg.end]...))
		if err != nil {
			errs = append(errs, docError{doc: i + 1, item: -1, err: fmt.Errorf("error converting YAML to JSON: %w", err)})
			n++
			continue
		}
		if isEmptyJSON(j) {
			continue
		}
		n++
		o, e := objectsOf(i+1, j)
		if len(o) == 1 && o[0].item < 0 {
			o[0].yaml = data[seg.body:seg.end]
		}
		objs = append(objs, o...)
		errs = append(errs, e...)
	}
	return objs, errs, n > 1
}

func isEmptyJSON(j []byte) bool {
	t := bytes.TrimSpace(j)
	return len(t) == 0 || bytes.Equal(t, []byte("null"))
}

// objectsOf turns one document's JSON into objects, expanding a List
// (kubectl accepts any kind ending in "List" that carries items).
func objectsOf(doc int, j []byte) ([]object, []docError) {
	meta, err := parseMeta(j)
	if err != nil {
		return nil, []docError{{doc: doc, item: -1, err: err}}
	}
	if strings.HasSuffix(meta.Kind, "List") {
		var list struct {
			Items *[]json.RawMessage `json:"items"`
		}
		if err := json.Unmarshal(j, &list); err == nil && list.Items != nil {
			var objs []object
			var errs []docError
			for i, raw := range *list.Items {
				m, err := parseMeta(raw)
				if err != nil {
					errs = append(errs, docError{doc: doc, item: i, err: err})
					continue
				}
				objs = append(objs, object{doc: doc, item: i, json: raw, meta: m})
			}
			return objs, errs
		}
	}
	return []object{{doc: doc, item: -1, json: j, meta: meta}}, nil
}

// parseMeta reads what identifies an object, leniently (unknown fields are
// left to the strict decode).
func parseMeta(j []byte) (objectMeta, error) {
	var meta objectMeta
	err := json.Unmarshal(j, &meta)
	if err == nil {
		return meta, nil
	}
	if !json.Valid(j) {
		return meta, fmt.Errorf("error parsing JSON: %w", err)
	}
	if t := bytes.TrimSpace(j); len(t) == 0 || t[0] != '{' {
		return meta, errors.New("not a Kubernetes object: a document must be a mapping")
	}
	var te *json.UnmarshalTypeError
	if errors.As(err, &te) {
		return meta, fmt.Errorf("not a Kubernetes object: %s: expected %s, got %s", te.Field, te.Type, te.Value)
	}
	return meta, fmt.Errorf("not a Kubernetes object: %w", err)
}

// checkTypeMeta reports what kubectl reports for an object it cannot map.
func checkTypeMeta(m objectMeta) error {
	var missing []string
	if m.APIVersion == "" {
		missing = append(missing, "apiVersion not set")
	}
	if m.Kind == "" {
		missing = append(missing, "kind not set")
	}
	if len(missing) > 0 {
		return fmt.Errorf("error validating data: [%s]", strings.Join(missing, ", "))
	}
	return nil
}

func isPod(m objectMeta) bool { return m.Kind == "Pod" && m.group() == "" }

// Objects is what one manifest file holds.
type Objects struct {
	// Pods are the valid v1 Pods, defaulted, with UID, node name and the
	// static-pod annotations.
	Pods []*v1.Pod
	// Services are the valid v1 Services, defaulted, with UID.
	Services []*v1.Service
	// Deployments are the valid apps/v1 Deployments, defaulted, with UID.
	Deployments []*appsv1.Deployment
	// ConfigMaps and Secrets are the valid v1 ones, defaulted, with UID.
	ConfigMaps []*v1.ConfigMap
	Secrets    []*v1.Secret
	// Skipped are the objects of kinds the agent does not run.
	Skipped []Skipped
	// Errors is every problem found.
	Errors []FileError
	// Warnings is what is accepted but not run as written (PodSpecWarnings).
	Warnings []FileError
}

// Parse reads one manifest file's content: every valid v1 Pod and Service,
// the objects of other kinds, and every problem found. It is pure: the same
// input gives the same output. The time an object was first seen
// (creationTimestamp, and for pods the kubernetes.io/config.seen
// annotation) is left to the caller.
func Parse(path string, data []byte, nodeName string) Objects {
	return parse(path, data, nodeName, false)
}

func parse(path string, data []byte, nodeName string, skipServices bool) Objects {
	var res Objects
	if len(data) > MaxFileSize {
		res.Errors = []FileError{{File: path, Err: fmt.Errorf("file is larger than the %d byte limit", MaxFileSize)}}
		return res
	}
	objs, docErrs, multi := splitObjects(path, data)
	for _, de := range docErrs {
		o := object{doc: de.doc, item: de.item}
		res.Errors = append(res.Errors, FileError{File: path, Err: fmt.Errorf("%s%w", o.where(multi), de.err)})
	}
	seen := map[string]object{}
	seenSvc := map[string]object{}
	seenCfg := map[string]object{}
	for _, o := range objs {
		if err := checkTypeMeta(o.meta); err != nil {
			res.Errors = append(res.Errors, FileError{File: path, Err: fmt.Errorf("%s%w", o.where(multi), err)})
			continue
		}
		if isService(o.meta) {
			svc, ferrs := loadService(o, path, nodeName, multi)
			if len(ferrs) > 0 {
				res.Errors = append(res.Errors, ferrs...)
				continue
			}
			key := serviceKey(svc)
			if first, dup := seenSvc[key]; dup {
				res.Errors = append(res.Errors, FileError{File: path,
					Err: fmt.Errorf("%sduplicate service %q: already defined in %s (document %d)", o.where(multi), key, path, first.doc)})
				continue
			}
			seenSvc[key] = o
			if skipServices {
				res.Skipped = append(res.Skipped, Skipped{File: path, APIVersion: o.meta.APIVersion, Kind: o.meta.Kind,
					Namespace: svc.Namespace, Name: svc.Name})
				continue
			}
			res.Services = append(res.Services, svc)
			continue
		}
		if isDeployment(o.meta) && !skipServices {
			d, ferrs := loadDeployment(o, path, nodeName, multi)
			if len(ferrs) > 0 {
				res.Errors = append(res.Errors, ferrs...)
				continue
			}
			for _, w := range PodSpecWarnings(&d.Spec.Template.Spec, field.NewPath("spec", "template", "spec")) {
				res.Warnings = append(res.Warnings, FileError{File: path, Err: fmt.Errorf("%sDeployment.apps %q: %s", o.where(multi), d.Name, w)})
			}
			res.Deployments = append(res.Deployments, d)
			continue
		}
		if isConfigMap(o.meta) && !skipServices {
			if cm, ok := loadConfig(&res, seenCfg, "configmap", o, path, multi, func() (*v1.ConfigMap, []FileError) {
				return loadConfigMap(o, path, nodeName, multi)
			}); ok {
				res.ConfigMaps = append(res.ConfigMaps, cm)
			}
			continue
		}
		if isSecret(o.meta) && !skipServices {
			if sec, ok := loadConfig(&res, seenCfg, "secret", o, path, multi, func() (*v1.Secret, []FileError) {
				return loadSecret(o, path, nodeName, multi)
			}); ok {
				res.Secrets = append(res.Secrets, sec)
			}
			continue
		}
		if !isPod(o.meta) {
			if err := checkOther(o); err != nil {
				res.Errors = append(res.Errors, FileError{File: path, Err: fmt.Errorf("%s%w", o.where(multi), err)})
				continue
			}
			res.Skipped = append(res.Skipped, Skipped{File: path, APIVersion: o.meta.APIVersion, Kind: o.meta.Kind,
				Namespace: namespaceOf(o.meta), Name: o.meta.Metadata.Name})
			continue
		}
		pod, warns, ferrs := loadPod(o, path, nodeName, multi)
		if len(ferrs) > 0 {
			res.Errors = append(res.Errors, ferrs...)
			continue
		}
		key := podKey(pod)
		if first, dup := seen[key]; dup {
			res.Errors = append(res.Errors, FileError{File: path, Pod: key,
				Err: fmt.Errorf("%sduplicate pod %q: already defined in %s (document %d)", o.where(multi), key, path, first.doc)})
			continue
		}
		seen[key] = o
		for _, w := range warns {
			res.Warnings = append(res.Warnings, FileError{File: path, Pod: key, Err: fmt.Errorf("%s%s", o.where(multi), w)})
		}
		res.Pods = append(res.Pods, pod)
	}
	return res
}

// loadConfig loads a ConfigMap or Secret with load and records it in seen;
// ok is false, with the problems added to res, when it is invalid or a
// duplicate within the file.
func loadConfig[T interface {
	GetNamespace() string
	GetName() string
}](res *Objects, seen map[string]object, kind string, o object, path string, multi bool,
	load func() (T, []FileError)) (obj T, ok bool) {
	obj, ferrs := load()
	if len(ferrs) > 0 {
		res.Errors = append(res.Errors, ferrs...)
		return obj, false
	}
	key := kind + " " + objectKey(obj)
	if first, dup := seen[key]; dup {
		res.Errors = append(res.Errors, FileError{File: path,
			Err: fmt.Errorf("%sduplicate %s %q: already defined in %s (document %d)", o.where(multi), kind, objectKey(obj), path, first.doc)})
		return obj, false
	}
	seen[key] = o
	return obj, true
}

func podKey(p *v1.Pod) string { return p.Namespace + "/" + p.Name }

// loadPod decodes, defaults, validates and identifies one Pod object; warns
// is what the API server would warn of in it as written.
func loadPod(o object, path, nodeName string, multi bool) (*v1.Pod, []string, []FileError) {
	key := ""
	if o.meta.Metadata.Name != "" {
		ns := o.meta.Metadata.Namespace
		if ns == "" {
			ns = v1.NamespaceDefault
		}
		key = ns + "/" + o.meta.Metadata.Name
	}
	if o.meta.APIVersion != "v1" {
		return nil, nil, []FileError{{File: path, Pod: key,
			Err: fmt.Errorf("%sno matches for kind %q in version %q", o.where(multi), o.meta.Kind, o.meta.APIVersion)}}
	}
	pod := &v1.Pod{}
	if err := decodeStrict(o.json, pod); err != nil {
		return nil, nil, []FileError{{File: path, Pod: key, Err: fmt.Errorf("%s%w", o.where(multi), err)}}
	}
	warns := PodSpecWarnings(&pod.Spec, field.NewPath("spec"))
	SetPodDefaults(pod)
	if errs := ValidatePod(pod); len(errs) > 0 {
		out := make([]FileError, 0, len(errs))
		for _, e := range errs {
			out = append(out, FileError{File: path, Pod: key, Err: e})
		}
		return nil, nil, out
	}
	if err := makeStatic(pod, path, nodeName); err != nil {
		return nil, nil, []FileError{{File: path, Pod: key, Err: err}}
	}
	return pod, warns, nil
}

// decodeStrict decodes like the API server with strict field validation:
// case-sensitive, unknown and duplicate fields are errors naming their path.
func decodeStrict(j []byte, into any) error {
	strict, err := sigsjson.UnmarshalStrict(j, into)
	if err != nil {
		return err
	}
	if len(strict) > 0 {
		msgs := make([]string, len(strict))
		for i, e := range strict {
			msgs[i] = e.Error()
		}
		return fmt.Errorf("strict decoding error: %s", strings.Join(msgs, ", "))
	}
	return nil
}

// checkOther checks an object the agent does not run: it must be nameable,
// and the kinds we know are decoded strictly so that a typo is caught when
// the object is stored, not when support for it arrives.
func checkOther(o object) error {
	if o.meta.Metadata.Name == "" {
		return field.Required(field.NewPath("metadata", "name"), "name or generateName is required")
	}
	if errs := validateObjectName(o.meta.Metadata.Name); len(errs) > 0 {
		return errs[0]
	}
	if newObj, ok := knownKinds[schema.GroupKind{Group: o.meta.group(), Kind: o.meta.Kind}]; ok {
		if err := decodeStrict(o.json, newObj()); err != nil {
			return err
		}
	}
	return nil
}

// namespaceOf is the object's namespace with the default applied; empty for
// cluster-scoped kinds.
func namespaceOf(m objectMeta) string {
	if clusterScoped[m.Kind] {
		return ""
	}
	if m.Metadata.Namespace == "" {
		return v1.NamespaceDefault
	}
	return m.Metadata.Namespace
}
