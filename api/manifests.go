package api

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net/http"
	"strconv"
	"strings"
	"syscall"
	"time"

	"go.uber.org/zap"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/util/validation/field"

	"github.com/minikubelet/minikubelet/source"
)

// maxManifest bounds an apply or delete body; the source refuses larger
// files anyway.
const maxManifest = source.MaxFileSize + 1

// readBody reads a manifest body of at most maxManifest bytes, within
// s.limits.body: a client that stops sending mid-body must not hold a
// connection and a handler forever. Streaming routes never read a body.
func (s *Server) readBody(w http.ResponseWriter, r *http.Request) ([]byte, error) {
	// Not every ResponseWriter supports deadlines (a test recorder does
	// not); the limit then stays with the server's own timeouts.
	_ = http.NewResponseController(w).SetReadDeadline(time.Now().Add(s.limits.body))
	data, err := io.ReadAll(http.MaxBytesReader(w, r.Body, maxManifest))
	if err != nil {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			return nil, apierrors.NewRequestEntityTooLargeError(fmt.Sprintf("manifest is larger than %d bytes", source.MaxFileSize))
		}
		return nil, badRequest(fmt.Sprintf("read request body: %v", err))
	}
	return data, nil
}

// apply stores a manifest in the manifests directory; the source then
// picks it up like any file there.
func (s *Server) apply(w http.ResponseWriter, r *http.Request) {
	data, err := s.readBody(w, r)
	if err != nil {
		writeError(w, err)
		return
	}
	name := r.URL.Query().Get("name")
	if name == "" {
		name = "STDIN" // kubectl's name for it in errors
	}
	results, err := source.Apply(r.Context(), s.deps.ManifestDir, name, data, s.deps.NodeName)
	if err != nil {
		s.log.Info("apply refused", zap.String("file", name), zap.Error(err))
		writeError(w, manifestError(err))
		return
	}
	if len(results) == 0 {
		// Empty, only comments, or not YAML at all: kubectl's answer.
		writeError(w, badRequest("no objects passed to apply"))
		return
	}
	s.log.Info("applied", zap.String("file", name), zap.Strings("results", results))
	writeJSON(w, http.StatusOK, ApplyResult{Results: orEmpty(results)})
}

// manifestError turns the source's complaint about a manifest into a 422
// Invalid status with one cause per problem. When all problems are field
// errors of one pod, it names the pod the way the API server does, so the
// client prints `The Pod "x" is invalid: spec...: Required value`.
func manifestError(err error) error {
	leaves := []error{err}
	if j, ok := err.(interface{ Unwrap() []error }); ok {
		leaves = j.Unwrap()
	}
	var (
		causes   []metav1.StatusCause
		fieldErr field.ErrorList
		pods     = map[string]bool{}
		other    bool
	)
	for _, e := range leaves {
		var fe source.FileError
		if !errors.As(e, &fe) {
			// Not about the manifest: the directory could not be written.
			return err
		}
		pods[fe.Pod] = true
		var ferr *field.Error
		if errors.As(fe.Err, &ferr) {
			fieldErr = append(fieldErr, ferr)
			causes = append(causes, metav1.StatusCause{
				Type: metav1.CauseType(ferr.Type), Field: ferr.Field, Message: ferr.ErrorBody(),
			})
			continue
		}
		other = true
		causes = append(causes, metav1.StatusCause{Message: fe.Error()})
	}
	if !other && len(pods) == 1 {
		for key := range pods {
			if _, name, ok := strings.Cut(key, "/"); ok {
				return apierrors.NewInvalid(schema.GroupKind{Kind: "Pod"}, name, fieldErr)
			}
		}
	}
	return &apierrors.StatusError{ErrStatus: metav1.Status{
		Status:  metav1.StatusFailure,
		Code:    http.StatusUnprocessableEntity,
		Reason:  metav1.StatusReasonInvalid,
		Message: err.Error(),
		Details: &metav1.StatusDetails{Causes: causes},
	}}
}

// delete removes objects from the manifests directory: the ones a manifest
// body names, or the one given by ?kind=&namespace=&name= (and apiVersion).
func (s *Server) delete(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	var refs []source.ObjectRef
	if q.Has("name") {
		kind := q.Get("kind")
		if kind == "" || isPodKind(kind) {
			kind = "Pod"
		}
		ns := q.Get("namespace")
		if ns == "" {
			ns = "default"
		}
		refs = []source.ObjectRef{{APIVersion: q.Get("apiVersion"), Kind: kind, Namespace: ns, Name: q.Get("name")}}
	} else {
		data, err := s.readBody(w, r)
		if err != nil {
			writeError(w, err)
			return
		}
		if refs, err = source.ObjectsIn(data); err != nil {
			writeError(w, badRequest(err.Error()))
			return
		}
		if len(refs) == 0 {
			writeError(w, badRequest("no objects passed to delete"))
			return
		}
	}

	if q.Has("gracePeriodSeconds") {
		g, err := strconv.ParseInt(q.Get("gracePeriodSeconds"), 10, 64)
		if err != nil || g < 0 {
			writeError(w, badRequest(fmt.Sprintf("gracePeriodSeconds %q: must be a whole number of seconds, 0 or more", q.Get("gracePeriodSeconds"))))
			return
		}
		// Told before the manifest goes, so the pod terminates with it.
		for _, ref := range refs {
			if isPodKind(ref.Kind) && s.deps.Terminator != nil {
				ns := ref.Namespace
				if ns == "" {
					ns = "default"
				}
				s.deps.Terminator.SetDeletionGrace(ns, ref.Name, time.Duration(g)*time.Second)
			}
		}
	}

	// One object at a time, so that each failure can be told apart; the
	// answer is the first failure, after the others were still deleted.
	var results []string
	var firstErr error
	for _, ref := range refs {
		_, err := source.Delete(r.Context(), s.deps.ManifestDir, []source.ObjectRef{ref})
		if err != nil && s.deps.Controllers != nil && isPodKind(ref.Kind) {
			// Not a static pod: perhaps one a ReplicaSet made.
			ns := ref.Namespace
			if ns == "" {
				ns = "default"
			}
			found, cerr := s.deps.Controllers.DeletePod(r.Context(), ns, ref.Name)
			if cerr == nil && found {
				err = nil
			}
		}
		if err != nil && isPodKind(ref.Kind) && s.terminating(ref) {
			// Deleted already and terminating: a second delete only
			// shortens its grace period (above), as with an API server.
			err = nil
		}
		if err != nil {
			if isIOError(err) {
				err = apierrors.NewInternalError(err)
			} else {
				err = apierrors.NewNotFound(resourceOf(ref), ref.Name)
			}
			if firstErr == nil {
				firstErr = err
			}
			continue
		}
		results = append(results, fmt.Sprintf("%s %q deleted", kindString(ref), ref.Name))
	}
	s.log.Info("deleted", zap.Strings("results", results), zap.NamedError("firstError", firstErr))
	if firstErr != nil && len(results) == 0 {
		writeError(w, firstErr)
		return
	}
	if firstErr != nil {
		// Some went, some did not: report what went and warn of the rest.
		addWarnings(w.Header(), []string{firstErr.Error()})
	}
	writeJSON(w, http.StatusOK, ApplyResult{Results: orEmpty(results)})
}

// isIOError tells a failure to read or write the manifests directory from
// an object that is not there (source.Delete reports those as plain errors).
func isIOError(err error) bool {
	var pe *fs.PathError
	var errno syscall.Errno
	return errors.As(err, &pe) || errors.As(err, &errno)
}

// terminating reports whether the pod ref names is being deleted.
func (s *Server) terminating(ref source.ObjectRef) bool {
	ns := ref.Namespace
	if ns == "" {
		ns = "default"
	}
	for _, p := range s.deps.Pods.List(ns) {
		if p.Name == ref.Name && p.DeletionTimestamp != nil {
			return true
		}
	}
	return false
}

func isPodKind(kind string) bool {
	switch strings.ToLower(kind) {
	case "pod", "pods", "po":
		return true
	}
	return false
}

// resourceOf is the resource of a ref, for a not-found message like the
// API server's (`pods "x" not found`).
func resourceOf(ref source.ObjectRef) schema.GroupResource {
	gv, _ := schema.ParseGroupVersion(ref.APIVersion)
	r := strings.ToLower(ref.Kind)
	switch {
	case strings.HasSuffix(r, "s"):
		r += "es"
	case strings.HasSuffix(r, "y"):
		r = r[:len(r)-1] + "ies"
	default:
		r += "s"
	}
	return schema.GroupResource{Group: gv.Group, Resource: r}
}

// kindString is kubectl's kind spelling in `pod "x" deleted`.
func kindString(ref source.ObjectRef) string {
	gv, _ := schema.ParseGroupVersion(ref.APIVersion)
	k := strings.ToLower(ref.Kind)
	if gv.Group != "" {
		k += "." + gv.Group
	}
	return k
}

func orEmpty(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
}
