package source

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"

	v1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/types"

	"github.com/minikubelet/minikubelet/internal/atomicfile"
)

// ErrNotFound is what Edit's error is when the object is not in the
// directory; its message is kubectl's (`deployments.apps "x" not found`).
var ErrNotFound = errors.New("object not found")

type notFoundError struct{ err error }

func (e notFoundError) Error() string        { return e.err.Error() }
func (e notFoundError) Is(target error) bool { return target == ErrNotFound }

func editNotFound(r ObjectRef) error { return notFoundError{notFound(r)} }

// Edit changes one object of dir in place, for commands that change a
// field of what the user stored (scale, rollout restart/undo/pause/resume):
// change receives the stored object as JSON and returns the new object.
// The result is checked like Apply's input and written where the object
// was (its file, or its document in a file of several), atomically and
// under the directory lock, so no other apply or edit interleaves. A YAML
// document keeps its comments, key order and quoting where values did not
// change (keepLayout); a JSON file is re-indented.
// A missing object gives an error that is ErrNotFound.
func Edit(ctx context.Context, dir string, ref ObjectRef, nodeName string, change func(obj []byte) ([]byte, error)) error {
	return edit(ctx, dir, ref, nodeName, func(_ string, obj []byte) ([]byte, error) { return change(obj) })
}

// edit is Edit whose change also learns the path of the object's file.
func edit(ctx context.Context, dir string, ref ObjectRef, nodeName string, change func(path string, obj []byte) ([]byte, error)) error {
	ref = ref.normalize()
	unlock, err := lockDir(dir)
	if err != nil {
		if os.IsNotExist(err) {
			return editNotFound(ref)
		}
		return err
	}
	defer unlock()
	files, err := loadDir(ctx, newBoundedFS(DefaultReadTimeout), dir)
	if err != nil {
		return err
	}
	f, o, found := findObject(files, ref)
	if !found {
		return editNotFound(ref)
	}
	changed, err := change(f.path, o.json)
	if err != nil {
		return err
	}
	ins, err := readInput(f.path, changed, nodeName)
	if err != nil {
		return err
	}
	if len(ins) != 1 || !ref.matches(ins[0].ref) {
		return fmt.Errorf("edit %s: the change must keep the object's kind, namespace and name", ref)
	}
	content, err := f.replace(o, ins[0])
	if err != nil {
		return err
	}
	return atomicfile.Write(f.path, content, f.mode)
}

// UpdatePod stores pod (its JSON) in place of the Pod ref names in dir,
// keeping uid: the update the Kubernetes API lets through for a running pod
// (labels, annotations, images, activeDeadlineSeconds, tolerations) is
// applied to that pod in place, as the API server and the kubelet do, rather
// than by replacing it. The pod is written with an identity annotation whose
// seal binds uid to exactly this content in this file on this node (see
// makeStatic): an edit by hand breaks the seal, and such a pod is replaced,
// as a changed static pod is. The caller checks that the change is one the
// API allows. A missing object gives an error that is ErrNotFound.
func UpdatePod(ctx context.Context, dir string, ref ObjectRef, nodeName string, uid types.UID, pod []byte) error {
	if !isPodUID(string(uid)) {
		return fmt.Errorf("update %s in place: UID %q was not made by this node", ref, uid)
	}
	// The source reads the directory by its absolute path, which is part
	// of the seal.
	abs, err := filepath.Abs(dir)
	if err != nil {
		return err
	}
	return edit(ctx, abs, ref, nodeName, func(path string, _ []byte) ([]byte, error) {
		return sealIdentity(pod, uid, path, nodeName)
	})
}

// sealIdentity returns the pod manifest data with its identity annotation:
// uid and the seal of the pod as the source will decode and default it.
func sealIdentity(data []byte, uid types.UID, path, nodeName string) ([]byte, error) {
	var pod v1.Pod
	if err := decodeStrict(data, &pod); err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	SetPodDefaults(&pod)
	pod.Status = v1.PodStatus{}
	delete(pod.Annotations, AnnotationIdentity)
	if len(pod.Annotations) == 0 {
		pod.Annotations = nil
	}
	seal, err := identitySeal(uid, &pod, path, nodeName)
	if err != nil {
		return nil, err
	}
	var m map[string]any
	if err := json.Unmarshal(data, &m); err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	md, _ := m["metadata"].(map[string]any)
	if md == nil {
		md = map[string]any{}
		m["metadata"] = md
	}
	ann, _ := md["annotations"].(map[string]any)
	if ann == nil {
		ann = map[string]any{}
		md["annotations"] = ann
	}
	ann[AnnotationIdentity] = string(uid) + "/" + seal
	return json.Marshal(m)
}
