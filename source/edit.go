package source

import (
	"errors"
	"fmt"
	"os"

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
// under the directory lock, so no other apply or edit interleaves. A
// document edited this way is re-encoded from JSON: its comments are lost.
// A missing object gives an error that is ErrNotFound.
func Edit(dir string, ref ObjectRef, nodeName string, change func(obj []byte) ([]byte, error)) error {
	ref = ref.normalize()
	unlock, err := lockDir(dir)
	if err != nil {
		if os.IsNotExist(err) {
			return editNotFound(ref)
		}
		return err
	}
	defer unlock()
	files, err := loadDir(dir)
	if err != nil {
		return err
	}
	f, o, found := findObject(files, ref)
	if !found {
		return editNotFound(ref)
	}
	changed, err := change(o.json)
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
