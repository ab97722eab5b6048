package kubeapi

import (
	"bytes"
	"compress/gzip"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync"
	"unicode"
	"unicode/utf8"

	appsv1 "k8s.io/api/apps/v1"
	v1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1validation "k8s.io/apimachinery/pkg/apis/meta/v1/validation"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/util/managedfields"
	"k8s.io/apimachinery/pkg/util/validation/field"
	"k8s.io/kube-openapi/pkg/validation/spec"

	"github.com/minikubelet/minikubelet/source"
)

// The API server records which client set which fields of an object
// (metadata.managedFields) on every write; the agent does too, with
// apimachinery's field manager over the types of the OpenAPI documents it
// serves, so that `kubectl get --show-managed-fields` shows what a real
// server would. The entries are part of the manifest the write stores.

// fieldManagers builds the field managers on the first write: the type
// converter costs about 150 KiB of heap, which an agent nobody writes to
// through the API need not hold.
type fieldManagers struct {
	docs   map[string]openapiDoc
	scheme *runtime.Scheme

	once sync.Once
	tc   managedfields.TypeConverter
	err  error

	mu     sync.Mutex
	byKind map[schema.GroupVersionKind]*managedfields.FieldManager
}

func newFieldManagers(docs map[string]openapiDoc, scheme *runtime.Scheme) *fieldManagers {
	return &fieldManagers{docs: docs, scheme: scheme, byKind: map[schema.GroupVersionKind]*managedfields.FieldManager{}}
}

// typeConverter parses the schemas of every served OpenAPI document once.
func (f *fieldManagers) typeConverter() (managedfields.TypeConverter, error) {
	f.once.Do(func() {
		schemas := map[string]*spec.Schema{}
		for path, d := range f.docs {
			zr, err := gzip.NewReader(bytes.NewReader(d.gz))
			if err != nil {
				f.err = fmt.Errorf("OpenAPI document %s: %w", path, err)
				return
			}
			var doc struct {
				Components struct {
					Schemas map[string]*spec.Schema `json:"schemas"`
				} `json:"components"`
			}
			err = json.NewDecoder(zr).Decode(&doc)
			_, _ = io.Copy(io.Discard, zr)
			if err != nil {
				f.err = fmt.Errorf("OpenAPI document %s: %w", path, err)
				return
			}
			for name, s := range doc.Components.Schemas {
				schemas[name] = s
			}
		}
		f.tc, f.err = managedfields.NewTypeConverter(schemas, false)
	})
	return f.tc, f.err
}

// forKind returns the field manager of objects of kind gvk.
func (f *fieldManagers) forKind(gvk schema.GroupVersionKind) (*managedfields.FieldManager, error) {
	tc, err := f.typeConverter()
	if err != nil {
		return nil, err
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if m, ok := f.byKind[gvk]; ok {
		return m, nil
	}
	// The agent defaults objects itself (fieldView), so the field
	// manager's defaulter (used by server-side apply only) is the scheme,
	// which has no defaulting functions.
	m, err := managedfields.NewDefaultFieldManager(tc, f.scheme, f.scheme, f.scheme, gvk, gvk.GroupVersion(), "", nil)
	if err != nil {
		return nil, fmt.Errorf("field manager of %s: %w", gvk, err)
	}
	f.byKind[gvk] = m
	return m, nil
}

// track sets obj's managedFields for a write by manager: live is the
// object before it (nil on create). Both are compared as the API server's
// handler sees them: defaulted, without what the agent adds to what it
// serves (its annotations, the node name, status).
func (f *fieldManagers) track(gvk schema.GroupVersionKind, live, obj Object, manager string) error {
	m, err := f.forKind(gvk)
	if err != nil {
		return apierrors.NewInternalError(err)
	}
	var liveView Object
	if live == nil {
		empty, err := f.scheme.New(gvk)
		if err != nil {
			return apierrors.NewInternalError(err)
		}
		liveView = empty.(Object)
	} else {
		liveView = fieldView(live, false)
	}
	// A body without managedFields keeps the live ones (the field
	// manager takes them from liveView), as upstream.
	out, err := m.Update(liveView, fieldView(obj, true), manager)
	if err != nil {
		return apierrors.NewInternalError(fmt.Errorf("track the fields of %s %q: %w", gvk.Kind, obj.GetName(), err))
	}
	obj.SetManagedFields(out.(Object).GetManagedFields())
	return nil
}

// fieldView is a copy of obj as the API server's field manager sees it:
// defaulted (when asked: what is served already is), without status and
// what the agent adds to what it serves.
func fieldView(obj Object, defaults bool) Object {
	c := obj.DeepCopyObject().(Object)
	stripAgentAnnotations(c)
	switch x := c.(type) {
	case *v1.Pod:
		if defaults {
			source.SetPodDefaults(x)
		}
		x.Spec.NodeName = ""
		x.Status = v1.PodStatus{}
	case *v1.Service:
		if defaults {
			source.SetServiceDefaults(x)
		}
		x.Status = v1.ServiceStatus{}
	case *appsv1.Deployment:
		if defaults {
			source.SetDeploymentDefaults(x)
		}
		x.Status = appsv1.DeploymentStatus{}
	case *v1.Secret:
		if defaults {
			ns := x.Namespace
			source.SetSecretDefaults(x)
			x.Namespace = ns
		}
	}
	return c
}

// fieldManagerOf is the manager a write is recorded under: the
// fieldManager parameter, else the User-Agent up to its first "/" (as
// upstream's prefixFromUserAgent: printable characters only, at most 128
// bytes). A fieldManager that is not valid is refused as upstream
// refuses the request's options (options: CreateOptions, UpdateOptions,
// PatchOptions).
func fieldManagerOf(r *http.Request, options string) (string, error) {
	if m := r.URL.Query().Get("fieldManager"); m != "" {
		if errs := metav1validation.ValidateFieldManager(m, field.NewPath("fieldManager")); len(errs) > 0 {
			return "", apierrors.NewInvalid(schema.GroupKind{Group: "meta.k8s.io", Kind: options}, "", errs)
		}
		return m, nil
	}
	return managerFromUserAgent(r.UserAgent()), nil
}

func managerFromUserAgent(ua string) string {
	prefix, _, _ := strings.Cut(ua, "/")
	var b strings.Builder
	for _, c := range prefix {
		if !unicode.IsPrint(c) {
			continue
		}
		if b.Len()+utf8.RuneLen(c) > metav1validation.FieldManagerMaxLength {
			break
		}
		b.WriteRune(c)
	}
	return b.String()
}
