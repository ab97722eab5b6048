package kubeapi

import (
	"context"
	"errors"
	"fmt"
	"net/http"

	appsv1 "k8s.io/api/apps/v1"
	autoscalingv1 "k8s.io/api/autoscaling/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/validation/field"

	"github.com/minikubelet/minikubelet/api"
)

// The scale subresource (autoscaling/v1 Scale) of Deployments and
// ReplicaSets, which kubectl scale reads and patches. A Deployment's scale
// is written into its manifest, like any write of it; a ReplicaSet's goes
// to the controllers, whose Deployment then scales it back, as upstream's
// deployment controller does.

var scaleGVK = autoscalingv1.SchemeGroupVersion.WithKind("Scale")

// Scaler is what an AppsStore whose controllers run Deployments can also
// do: scale a Deployment by editing its manifest, and a ReplicaSet.
type Scaler interface {
	Scale(ctx context.Context, namespace, name string, replicas int32) error
	ScaleReplicaSet(ctx context.Context, namespace, name string, replicas int32) (found bool, err error)
}

// scaleOf is the Scale of a Deployment or ReplicaSet, as the API server's
// scale REST storage builds it: the object's metadata, spec.replicas, the
// observed replicas and the selector as a string.
func scaleOf(o Object) (*autoscalingv1.Scale, error) {
	var replicas, observed int32
	var sel *metav1.LabelSelector
	switch x := o.(type) {
	case *appsv1.Deployment:
		replicas, observed, sel = ptrOr(x.Spec.Replicas, 1), x.Status.Replicas, x.Spec.Selector
	case *appsv1.ReplicaSet:
		replicas, observed, sel = ptrOr(x.Spec.Replicas, 1), x.Status.Replicas, x.Spec.Selector
	default:
		return nil, fmt.Errorf("no scale for %T", o)
	}
	selector, err := metav1.LabelSelectorAsSelector(sel)
	if err != nil {
		return nil, fmt.Errorf("selector of %s: %w", o.GetName(), err)
	}
	return &autoscalingv1.Scale{
		TypeMeta: metav1.TypeMeta{APIVersion: scaleGVK.GroupVersion().String(), Kind: scaleGVK.Kind},
		ObjectMeta: metav1.ObjectMeta{Name: o.GetName(), Namespace: o.GetNamespace(), UID: o.GetUID(),
			ResourceVersion: o.GetResourceVersion(), CreationTimestamp: o.GetCreationTimestamp()},
		Spec:   autoscalingv1.ScaleSpec{Replicas: replicas},
		Status: autoscalingv1.ScaleStatus{Replicas: observed, Selector: selector.String()},
	}, nil
}

func ptrOr(p *int32, def int32) int32 {
	if p == nil {
		return def
	}
	return *p
}

// serveScale answers get, update and patch of deployments/scale and
// replicasets/scale.
func (s *Server) serveScale(w http.ResponseWriter, r *http.Request, req resourceRequest) {
	if err := s.scale(w, r, req); err != nil {
		writeError(w, err)
	}
}

func (s *Server) scale(w http.ResponseWriter, r *http.Request, req resourceRequest) error {
	cur, ok := s.cache.Get(req.info.key(), req.namespace, req.name)
	if !ok {
		return apierrors.NewNotFound(req.info.groupResource(), req.name)
	}
	current, err := scaleOf(cur)
	if err != nil {
		return err
	}
	if r.Method == http.MethodGet {
		writeJSON(w, http.StatusOK, current)
		return nil
	}
	scaler, ok := s.deps.Apps.(Scaler)
	if !ok || (r.Method != http.MethodPut && r.Method != http.MethodPatch) {
		return methodNotSupported(req, r.Method)
	}
	body, err := readAll(r)
	if err != nil {
		return err
	}
	if r.Method == http.MethodPatch {
		if body, err = applyPatch(r, current, body, &autoscalingv1.Scale{}); err != nil {
			return err
		}
	}
	want := &autoscalingv1.Scale{}
	if err := s.decodeAs(w, r, scaleGVK, body, want); err != nil {
		return err
	}
	if err := checkScale(req, want, current); err != nil {
		return err
	}
	if dryRun(r) {
		current.Spec.Replicas = want.Spec.Replicas
		writeJSON(w, http.StatusOK, current)
		return nil
	}
	n := want.Spec.Replicas
	prev := s.cache.ResourceVersion()
	switch req.info.key() {
	case keyDeployments:
		if err := scaler.Scale(r.Context(), req.namespace, req.name, n); err != nil {
			return api.ManifestError(err)
		}
	default:
		found, err := scaler.ScaleReplicaSet(r.Context(), req.namespace, req.name, n)
		if err != nil {
			return err
		}
		if !found {
			return apierrors.NewNotFound(req.info.groupResource(), req.name)
		}
		// The answer is the ReplicaSet as written, before its Deployment
		// scales it back.
		current.Spec.Replicas = n
		writeJSON(w, http.StatusOK, current)
		return nil
	}
	// The answer is the Scale of the Deployment once the agent has read
	// its manifest again; the written Scale if that takes too long.
	if o, ok := s.await(r.Context(), req, prev, func(o Object) bool {
		d, _ := o.(*appsv1.Deployment)
		return d != nil && ptrOr(d.Spec.Replicas, 1) == n
	}); ok {
		if sc, err := scaleOf(o); err == nil {
			current = sc
		}
	}
	current.Spec.Replicas = n
	writeJSON(w, http.StatusOK, current)
	return nil
}

// checkScale makes the API server's checks of a Scale update: the name of
// the URL, a matching resourceVersion when one is given, and replicas not
// negative.
func checkScale(req resourceRequest, want, current *autoscalingv1.Scale) error {
	if want.Name != "" && want.Name != req.name {
		return apierrors.NewBadRequest(fmt.Sprintf("the name of the object (%s) does not match the name on the URL (%s)", want.Name, req.name))
	}
	if rv := want.ResourceVersion; rv != "" && rv != current.ResourceVersion {
		return apierrors.NewConflict(req.info.groupResource(), req.name,
			errors.New("the object has been modified; please apply your changes to the latest version and try again"))
	}
	if want.Spec.Replicas < 0 {
		return apierrors.NewInvalid(scaleGVK.GroupKind(), req.name, field.ErrorList{
			field.Invalid(field.NewPath("spec", "replicas"), want.Spec.Replicas, "must be greater than or equal to 0")})
	}
	return nil
}

// await waits (up to settle) until the cache holds req's object, changed
// after prev, for which cond holds.
func (s *Server) await(ctx context.Context, req resourceRequest, prev uint64, cond func(Object) bool) (Object, bool) {
	ctx, cancel := context.WithTimeout(ctx, settle)
	defer cancel()
	for {
		_, changed, ok := s.cache.since(prev)
		if !ok {
			return nil, false
		}
		if cur, ok := s.cache.Get(req.info.key(), req.namespace, req.name); ok && cond(cur) {
			return cur, true
		}
		select {
		case <-ctx.Done():
			return nil, false
		case <-changed:
		}
	}
}
