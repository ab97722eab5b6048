package source

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"reflect"
	"sort"
	"strings"
	"syscall"

	v1 "k8s.io/api/core/v1"
	"sigs.k8s.io/yaml"

	"github.com/minikubelet/minikubelet/internal/atomicfile"
)

// ObjectRef names an object in the manifest directory. An empty APIVersion
// matches any group; an empty Namespace means "default" for namespaced
// kinds. Kind matches case-insensitively.
type ObjectRef struct {
	APIVersion, Kind, Namespace, Name string
}

func refOf(m objectMeta) ObjectRef {
	return ObjectRef{APIVersion: m.APIVersion, Kind: m.Kind, Namespace: namespaceOf(m), Name: m.Metadata.Name}
}

// normalize applies the namespace default to a ref given by a caller.
func (r ObjectRef) normalize() ObjectRef {
	if r.Namespace == "" && !clusterScoped[kindName(r.Kind)] {
		r.Namespace = v1.NamespaceDefault
	}
	return r
}

// kindName maps a case-insensitive kind to the spelling used in tables.
func kindName(kind string) string {
	if strings.EqualFold(kind, "pod") {
		return "Pod"
	}
	for k := range clusterScoped {
		if strings.EqualFold(k, kind) {
			return k
		}
	}
	return kind
}

// matches reports whether a stored object (its ref already defaulted) is the
// object r names: same group, kind, namespace and name. The version does not
// matter, as for kubectl.
func (r ObjectRef) matches(stored ObjectRef) bool {
	if !strings.EqualFold(r.Kind, stored.Kind) || r.Namespace != stored.Namespace || r.Name != stored.Name {
		return false
	}
	if r.APIVersion == "" {
		return true
	}
	return (objectMeta{APIVersion: r.APIVersion}).group() == (objectMeta{APIVersion: stored.APIVersion}).group()
}

func (r ObjectRef) String() string {
	return resourceName(r.APIVersion, r.Kind, false) + "/" + r.Name
}

// ObjectsIn lists the objects in a manifest (for `delete -f FILE`), Lists
// expanded. Namespaces are as written: empty when the manifest sets none,
// so that the caller can apply its own default (kubectl's -n).
func ObjectsIn(data []byte) ([]ObjectRef, error) {
	objs, docErrs, multi := splitObjects("", data)
	var errs []error
	for _, de := range docErrs {
		errs = append(errs, fmt.Errorf("%s%w", object{doc: de.doc, item: de.item}.where(multi), de.err))
	}
	var refs []ObjectRef
	for _, o := range objs {
		if err := checkTypeMeta(o.meta); err != nil {
			errs = append(errs, fmt.Errorf("%s%w", o.where(multi), err))
			continue
		}
		if o.meta.Metadata.Name == "" {
			errs = append(errs, fmt.Errorf("%sresource name may not be empty", o.where(multi)))
			continue
		}
		refs = append(refs, ObjectRef{APIVersion: o.meta.APIVersion, Kind: o.meta.Kind,
			Namespace: o.meta.Metadata.Namespace, Name: o.meta.Metadata.Name})
	}
	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	return refs, nil
}

// input is one object to store.
type input struct {
	ref  ObjectRef // namespace defaulted
	json []byte
	yaml []byte // the text written to a YAML file
	// converted: given as JSON (an edit, the API), so yaml is converted
	// and a document it replaces keeps its layout (keepLayout).
	converted bool
}

// readInput parses and checks what Apply was given. Pods and Services are
// validated completely, other kinds as far as we know them.
func readInput(name string, data []byte, nodeName string) ([]input, error) {
	if len(data) > MaxFileSize {
		return nil, errors.Join(FileError{File: name, Err: fmt.Errorf("file is larger than the %d byte limit", MaxFileSize)})
	}
	objs, docErrs, multi := splitObjects(name, data)
	var errs []error
	for _, de := range docErrs {
		errs = append(errs, FileError{File: name, Err: fmt.Errorf("%s%w", object{doc: de.doc, item: de.item}.where(multi), de.err)})
	}
	var ins []input
	seen := map[ObjectRef]bool{}
	for _, o := range objs {
		if err := checkTypeMeta(o.meta); err != nil {
			errs = append(errs, FileError{File: name, Err: fmt.Errorf("%s%w", o.where(multi), err)})
			continue
		}
		if ferrs, known := loadErrors(o, name, nodeName, multi); known {
			if len(ferrs) > 0 {
				for _, fe := range ferrs {
					errs = append(errs, fe)
				}
				continue
			}
		} else if err := checkOther(o); err != nil {
			errs = append(errs, FileError{File: name, Err: fmt.Errorf("%s%w", o.where(multi), err)})
			continue
		} else if serrs := checkStorable(o); len(serrs) > 0 {
			for _, err := range serrs {
				errs = append(errs, FileError{File: name, Err: fmt.Errorf("%s%w", o.where(multi), err)})
			}
			continue
		}
		ref := refOf(o.meta)
		key := ObjectRef{APIVersion: o.meta.group(), Kind: ref.Kind, Namespace: ref.Namespace, Name: ref.Name}
		if seen[key] {
			errs = append(errs, FileError{File: name, Err: fmt.Errorf("%s%s appears more than once", o.where(multi), ref)})
			continue
		}
		seen[key] = true
		text := trimLeadingBlankLines(o.yaml)
		converted := text == nil
		if converted {
			y, err := yaml.JSONToYAML(o.json)
			if err != nil {
				errs = append(errs, FileError{File: name, Err: fmt.Errorf("%sconvert to YAML: %w", o.where(multi), err)})
				continue
			}
			text = y
		}
		ins = append(ins, input{ref: ref, json: o.json, yaml: withNewline(text), converted: converted})
	}
	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	return ins, nil
}

// loadErrors loads an object of a kind the agent runs and returns the
// problems found; known is false for the other kinds.
func loadErrors(o object, name, nodeName string, multi bool) (ferrs []FileError, known bool) {
	switch {
	case isPod(o.meta):
		_, _, ferrs = loadPod(o, name, nodeName, multi)
	case isService(o.meta):
		_, ferrs = loadService(o, name, nodeName, multi)
	case isDeployment(o.meta):
		_, ferrs = loadDeployment(o, name, nodeName, multi)
	case isConfigMap(o.meta):
		_, ferrs = loadConfigMap(o, name, nodeName, multi)
	case isSecret(o.meta):
		_, ferrs = loadSecret(o, name, nodeName, multi)
	default:
		return nil, false
	}
	return ferrs, true
}

// Apply stores the objects of data (one file's content, named name in
// errors) in dir, kubectl-apply style. An object that already sits in a file
// of dir (same group, kind, namespace and name) is replaced there: the whole
// file when it holds nothing else, that document in place otherwise. A new
// object gets a new file, <namespace>_<name>.yaml for a Pod and
// <kind>_<namespace>_<name>.yaml (lowercase) for other kinds. Input with any
// invalid object is rejected before anything is written; the error joins
// one FileError per problem. Each file is written atomically (temporary file
// and rename), so the source never reads half a file. The result has one
// line per object: "pod/x created", "pod/x configured" or "pod/x unchanged".
// Concurrent calls on one dir are serialized by a lock file.
func Apply(ctx context.Context, dir string, name string, data []byte, nodeName string) ([]string, error) {
	return apply(ctx, dir, name, data, nodeName, false)
}

// ApplyFromAPI is Apply for objects the Kubernetes API creates: a new pod's
// file is written with its identity sealed, as UpdatePod writes it, so that
// the pod is served as one created through the API rather than as a static
// pod a user wrote (which the kubelet gives its NoExecute toleration). An
// edit by hand breaks the seal and makes it a static pod again.
func ApplyFromAPI(ctx context.Context, dir string, name string, data []byte, nodeName string) ([]string, error) {
	return apply(ctx, dir, name, data, nodeName, true)
}

// Check refuses what Apply would refuse of data, writing nothing: a dry
// run answers the same errors as the write it stands for.
func Check(name string, data []byte, nodeName string) error {
	_, err := readInput(name, data, nodeName)
	return err
}

func apply(ctx context.Context, dir string, name string, data []byte, nodeName string, fromAPI bool) ([]string, error) {
	ins, err := readInput(name, data, nodeName)
	if err != nil || len(ins) == 0 {
		return nil, err
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, fmt.Errorf("create manifest directory %s: %w", dir, err)
	}
	unlock, err := lockDir(dir)
	if err != nil {
		return nil, err
	}
	defer unlock()

	b := newBoundedFS(DefaultReadTimeout)
	var lines []string
	for _, in := range ins {
		verb, err := applyOne(ctx, b, dir, in, nodeName, fromAPI)
		if err != nil {
			return lines, fmt.Errorf("apply %s: %w", in.ref, err)
		}
		lines = append(lines, in.ref.String()+" "+verb)
	}
	return lines, nil
}

func applyOne(ctx context.Context, b *boundedFS, dir string, in input, nodeName string, fromAPI bool) (string, error) {
	files, err := loadDir(ctx, b, dir)
	if err != nil {
		return "", err
	}
	f, o, found := findObject(files, in.ref)
	if !found {
		path, err := newFileName(dir, in.ref)
		if err != nil {
			return "", err
		}
		mode := os.FileMode(0o644)
		if strings.EqualFold(in.ref.Kind, "Secret") {
			// A Secret's file is as private as the Secret.
			mode = 0o600
		}
		content := in.yaml
		if fromAPI && in.ref.Kind == "Pod" && in.ref.APIVersion == "v1" {
			if content, err = sealNewPod(in, path, nodeName); err != nil {
				return "", err
			}
		}
		return "created", atomicfile.Write(path, content, mode)
	}
	if sameObject(o, in, nodeName) {
		return "unchanged", nil
	}
	content, err := f.replace(o, in)
	if err != nil {
		return "", err
	}
	return "configured", atomicfile.Write(f.path, content, f.mode)
}

// sealNewPod is a new pod file's content (YAML) with its identity sealed
// to the UID the source would give the pod in that file (see UpdatePod).
func sealNewPod(in input, path, nodeName string) ([]byte, error) {
	// The source reads the directory by its absolute path, which is part
	// of the seal and of the UID.
	abs, err := filepath.Abs(path)
	if err != nil {
		return nil, err
	}
	var pod v1.Pod
	if err := decodeStrict(in.json, &pod); err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	SetPodDefaults(&pod)
	pod.Status = v1.PodStatus{}
	uid, err := podUID(&pod, abs, nodeName)
	if err != nil {
		return nil, err
	}
	sealed, err := sealIdentity(in.json, uid, abs, nodeName)
	if err != nil {
		return nil, err
	}
	// YAML, as a new file is: later edits keep its layout.
	return yaml.JSONToYAML(sealed)
}

// sameObject compares what the stored and the new object mean: for Pods the
// defaulted pods (which is what the UID hashes), for other kinds the JSON.
func sameObject(stored object, in input, nodeName string) bool {
	if isPod(stored.meta) {
		a, _, errA := loadPod(stored, "", nodeName, false)
		b, _, errB := loadPod(object{json: in.json, item: -1, meta: stored.meta}, "", nodeName, false)
		if len(errA) > 0 || len(errB) > 0 {
			return false
		}
		return a.UID == b.UID && reflect.DeepEqual(a, b)
	}
	var x, y any
	if json.Unmarshal(stored.json, &x) != nil || json.Unmarshal(in.json, &y) != nil {
		return false
	}
	return reflect.DeepEqual(x, y)
}

// Delete removes the named objects from dir: the file when the object is
// alone in it, else that document (or List item). Every copy is removed, so
// that a duplicate in a later file does not take over. It returns a
// "pod/x deleted" line per object removed and, for objects not found, an
// error like kubectl's `pods "x" not found` (the others are still deleted).
func Delete(ctx context.Context, dir string, objs []ObjectRef) ([]string, error) {
	unlock, err := lockDir(dir)
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			var errs []error
			for _, r := range objs {
				errs = append(errs, notFound(r))
			}
			return nil, errors.Join(errs...)
		}
		return nil, err
	}
	defer unlock()

	var (
		b     = newBoundedFS(DefaultReadTimeout)
		lines []string
		errs  []error
	)
	for _, r := range objs {
		r = r.normalize()
		found := false
		for {
			files, err := loadDir(ctx, b, dir)
			if err != nil {
				return lines, err
			}
			f, o, ok := findObject(files, r)
			if !ok {
				break
			}
			if err := f.remove(o); err != nil {
				return lines, fmt.Errorf("delete %s: %w", r, err)
			}
			found = true
		}
		if found {
			lines = append(lines, r.String()+" deleted")
		} else {
			errs = append(errs, notFound(r))
		}
	}
	return lines, errors.Join(errs...)
}

func notFound(r ObjectRef) error {
	return fmt.Errorf("%s %q not found", resourceName(r.APIVersion, r.Kind, true), r.Name)
}

// lockDir takes an exclusive lock on dir for the duration of an edit. The
// lock file is a dotfile, which the source ignores.
func lockDir(dir string) (func(), error) {
	f, err := os.OpenFile(filepath.Join(dir, ".minikubelet.lock"), os.O_CREATE|os.O_RDWR, 0o600)
	if err != nil {
		return nil, fmt.Errorf("lock manifest directory %s: %w", dir, err)
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX); err != nil {
		f.Close()
		return nil, fmt.Errorf("lock manifest directory %s: %w", dir, err)
	}
	return func() {
		syscall.Flock(int(f.Fd()), syscall.LOCK_UN)
		f.Close()
	}, nil
}

// storedFile is one manifest file of the directory, parsed for editing.
type storedFile struct {
	path string
	mode fs.FileMode
	data []byte
	json bool
	segs []segment // YAML only
	objs []object
}

// loadDir reads the manifests of dir in sorted order (the order in which
// duplicates are resolved). Unreadable files are skipped: their objects are
// unknown. But a listing or a read that the file system does not answer
// within the source's bound (b), or before ctx ends, fails the whole load:
// on a hung file system an apply, delete or edit fails naming the file,
// rather than hang, or miss the object in that file and store a second one.
func loadDir(ctx context.Context, b *boundedFS, dir string) ([]*storedFile, error) {
	entries, err := b.readDir(ctx, dir)
	if err != nil {
		return nil, fmt.Errorf("list manifest directory %s: %w", dir, err)
	}
	type read struct {
		data []byte
		mode fs.FileMode
	}
	var files []*storedFile
	for _, e := range entries {
		if !isManifestName(e.Name()) {
			continue
		}
		path := filepath.Join(dir, e.Name())
		r, err := bounded(ctx, b, path, func() (read, error) {
			data, err := b.read(path)
			if err != nil {
				return read{}, err
			}
			st, err := os.Stat(path)
			if err != nil {
				return read{}, err
			}
			return read{data, st.Mode().Perm()}, nil
		})
		var timeout errReadTimeout
		if errors.As(err, &timeout) || ctx.Err() != nil {
			return nil, fmt.Errorf("read manifest %s: %w", path, err)
		}
		if err != nil {
			continue
		}
		f := &storedFile{path: path, mode: r.mode, data: r.data, json: isJSON(path, r.data)}
		objs, _, _ := splitObjects(path, r.data)
		for _, o := range objs {
			if checkTypeMeta(o.meta) == nil {
				f.objs = append(f.objs, o)
			}
		}
		if !f.json {
			f.segs = splitYAML(r.data)
		}
		files = append(files, f)
	}
	sort.Slice(files, func(i, j int) bool { return files[i].path < files[j].path })
	return files, nil
}

func findObject(files []*storedFile, r ObjectRef) (*storedFile, object, bool) {
	for _, f := range files {
		for _, o := range f.objs {
			if r.matches(refOf(o.meta)) {
				return f, o, true
			}
		}
	}
	return nil, object{}, false
}

// alone reports whether the object is the only one in its file.
func (f *storedFile) alone() bool { return len(f.objs) == 1 }

// replace returns the file's content with object o replaced by in.
func (f *storedFile) replace(o object, in input) ([]byte, error) {
	switch {
	case f.alone() && f.json:
		return indentJSON(in.json)
	case o.item >= 0:
		return f.editList(o, in.json)
	case in.converted:
		// An edit of a field or a few: the rest of the document stays as
		// the user wrote it.
		seg := f.segs[o.doc-1]
		if kept, err := keepLayout(f.data[seg.body:seg.end], in.json); err == nil {
			return f.spliceDoc(o.doc, kept), nil
		}
	case f.alone():
		return in.yaml, nil
	}
	return f.spliceDoc(o.doc, in.yaml), nil
}

// remove deletes object o from the file, or the file when nothing else is
// in it.
func (f *storedFile) remove(o object) error {
	if f.alone() {
		if err := os.Remove(f.path); err != nil && !errors.Is(err, fs.ErrNotExist) {
			return err
		}
		return atomicfile.SyncDir(filepath.Dir(f.path))
	}
	var content []byte
	var err error
	switch {
	case o.item >= 0:
		content, err = f.editList(o, nil)
	default:
		content = f.cutDoc(o.doc)
	}
	if err != nil {
		return err
	}
	return atomicfile.Write(f.path, content, f.mode)
}

// editList replaces (or, with item nil, removes) one item of a List
// document and re-encodes that document.
func (f *storedFile) editList(o object, item []byte) ([]byte, error) {
	docJSON := f.data
	if !f.json {
		seg := f.segs[o.doc-1]
		j, err := yaml.YAMLToJSON(f.data[seg.body:seg.end])
		if err != nil {
			return nil, err
		}
		docJSON = j
	}
	var list map[string]json.RawMessage
	if err := json.Unmarshal(docJSON, &list); err != nil {
		return nil, err
	}
	var items []json.RawMessage
	if err := json.Unmarshal(list["items"], &items); err != nil {
		return nil, err
	}
	if o.item >= len(items) {
		return nil, fmt.Errorf("list item %d vanished", o.item)
	}
	if item != nil {
		items[o.item] = item
	} else {
		items = append(items[:o.item], items[o.item+1:]...)
	}
	if len(items) == 0 && !f.json {
		return f.cutDoc(o.doc), nil
	}
	raw, err := json.Marshal(items)
	if err != nil {
		return nil, err
	}
	list["items"] = raw
	newDoc, err := json.Marshal(list)
	if err != nil {
		return nil, err
	}
	if f.json {
		return indentJSON(newDoc)
	}
	y, err := yaml.JSONToYAML(newDoc)
	if err != nil {
		return nil, err
	}
	return f.spliceDoc(o.doc, y), nil
}

// spliceDoc returns the file with document doc's text replaced.
func (f *storedFile) spliceDoc(doc int, text []byte) []byte {
	seg := f.segs[doc-1]
	var b bytes.Buffer
	b.Write(f.data[:seg.body])
	if seg.body > seg.start && f.data[seg.body-1] != '\n' {
		// The body started on the "---" line: keep the separator on its own.
		b.WriteByte('\n')
	}
	b.Write(withNewline(trimLeadingBlankLines(text)))
	b.Write(f.data[seg.end:])
	return b.Bytes()
}

// cutDoc returns the file without document doc and its separator.
func (f *storedFile) cutDoc(doc int) []byte {
	i := doc - 1
	seg := f.segs[i]
	start, end := seg.start, seg.end
	if i == 0 && len(f.segs) > 1 {
		// The first document has no separator of its own: take the next one.
		end = f.segs[1].body
	}
	var b bytes.Buffer
	b.Write(f.data[:start])
	b.Write(bytes.TrimLeft(f.data[end:], " \t\r\n"))
	return withNewline(b.Bytes())
}

func indentJSON(j []byte) ([]byte, error) {
	var b bytes.Buffer
	if err := json.Indent(&b, j, "", "  "); err != nil {
		return nil, err
	}
	b.WriteByte('\n')
	return b.Bytes(), nil
}

func withNewline(b []byte) []byte {
	if len(b) > 0 && b[len(b)-1] != '\n' {
		return append(append([]byte{}, b...), '\n')
	}
	return b
}

// trimLeadingBlankLines drops the empty lines a document starts with (the
// rest of its "---" line); nil stays nil.
func trimLeadingBlankLines(b []byte) []byte {
	if b == nil {
		return nil
	}
	for len(b) > 0 {
		nl := bytes.IndexByte(b, '\n')
		if nl < 0 || len(bytes.TrimSpace(b[:nl])) > 0 {
			break
		}
		b = b[nl+1:]
	}
	return b
}

// newFileName picks the file for a new object, avoiding existing files.
func newFileName(dir string, r ObjectRef) (string, error) {
	base, err := fileBase(r)
	if err != nil {
		return "", fmt.Errorf("name a file for %s: %w", r, err)
	}
	for i := 1; i < 1000; i++ {
		name := base + ".yaml"
		if i > 1 {
			name = fmt.Sprintf("%s-%d.yaml", base, i)
		}
		path := filepath.Join(dir, name)
		if _, err := os.Lstat(path); errors.Is(err, fs.ErrNotExist) {
			return path, nil
		}
	}
	return "", fmt.Errorf("no free file name for %s in %s", r, dir)
}
