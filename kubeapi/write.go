package kubeapi

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"net/http"
	"slices"
	"strings"
	"time"

	jsonpatch "gopkg.in/evanphx/json-patch.v4"
	appsv1 "k8s.io/api/apps/v1"
	autoscalingv1 "k8s.io/api/autoscaling/v1"
	v1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	apivalidation "k8s.io/apimachinery/pkg/api/validation"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	kjson "k8s.io/apimachinery/pkg/runtime/serializer/json"
	"k8s.io/apimachinery/pkg/runtime/serializer/protobuf"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/diff"
	"k8s.io/apimachinery/pkg/util/strategicpatch"
	"k8s.io/apimachinery/pkg/util/validation"
	"k8s.io/apimachinery/pkg/util/validation/field"

	"github.com/minikubelet/minikubelet/api"
	"github.com/minikubelet/minikubelet/internal/kuberules"
	"github.com/minikubelet/minikubelet/source"
)

// Writes go through the manifests directory, as the CLI's apply and delete
// do: a created or changed object is a file there (written atomically by
// source.Apply), so an object changed by kubectl and a file edited by hand
// are the same thing, and it survives restarts. The answer is the object
// once the agent has taken it up.

// maxBody bounds a request body: a manifest is never larger.
const maxBody = source.MaxFileSize

// settle bounds how long a write waits for the agent to take the change up
// before answering with the object as written.
const settle = 10 * time.Second

// writable says which resources take writes, and how to decode them.
func writable(info *resourceInfo) (func() Object, bool) {
	switch info.key() {
	case keyPods:
		return func() Object { return &v1.Pod{} }, true
	case keyServices:
		return func() Object { return &v1.Service{} }, true
	case keyDeployments:
		return func() Object { return &appsv1.Deployment{} }, true
	case keyConfigMaps:
		return func() Object { return &v1.ConfigMap{} }, true
	case keySecrets:
		return func() Object { return &v1.Secret{} }, true
	}
	return nil, false
}

// codec decodes request bodies strictly, so unknown fields are reported
// with the API server's strict decoding errors.
type codec struct {
	scheme *runtime.Scheme
	strict *kjson.Serializer
	proto  *protobuf.Serializer
}

func newCodec() *codec {
	sc := runtime.NewScheme()
	_ = v1.AddToScheme(sc)
	_ = appsv1.AddToScheme(sc)
	_ = autoscalingv1.AddToScheme(sc)
	return &codec{
		scheme: sc,
		strict: kjson.NewSerializerWithOptions(kjson.DefaultMetaFactory, sc, sc, kjson.SerializerOptions{Strict: true}),
		// kubectl's typed clients (create service, create deployment…)
		// send protobuf.
		proto: protobuf.NewSerializer(sc, sc),
	}
}

// decode decodes body into into, following fieldValidation (Strict,
// Warn — the default — or Ignore) for unknown and duplicate fields.
func (s *Server) decode(w http.ResponseWriter, r *http.Request, req resourceRequest, body []byte, into Object) error {
	return s.decodeAs(w, r, req.info.gv.WithKind(req.info.kind), body, into)
}

// decodeAs is decode for a body of kind gvk (a subresource's kind).
func (s *Server) decodeAs(w http.ResponseWriter, r *http.Request, gvk schema.GroupVersionKind, body []byte, into runtime.Object) error {
	var dec runtime.Decoder = s.codec.strict
	if strings.HasPrefix(r.Header.Get("Content-Type"), runtime.ContentTypeProtobuf) {
		dec = s.codec.proto
	}
	_, got, err := dec.Decode(body, &gvk, into)
	if err == nil {
		if got != nil && *got != gvk {
			return apierrors.NewBadRequest(fmt.Sprintf("the API version in the data (%s) does not match the expected API version (%s)", got.GroupVersion(), gvk.GroupVersion()))
		}
		return nil
	}
	strictErr, isStrict := runtime.AsStrictDecodingError(err)
	directive := r.URL.Query().Get("fieldValidation")
	switch {
	case isStrict && directive == metav1.FieldValidationIgnore:
		return nil
	case isStrict && directive != metav1.FieldValidationStrict:
		for _, e := range strictErr.Errors() {
			addWarning(w, e.Error())
		}
		return nil
	}
	kind := gvk
	if got != nil {
		kind = *got
	}
	return apierrors.NewBadRequest(fmt.Sprintf("%s in version %q cannot be handled as a %s: %v", kind.Kind, kind.Version, kind.Kind, err))
}

func addWarning(w http.ResponseWriter, text string) {
	text = strings.NewReplacer(`\`, `\\`, `"`, `\"`, "\n", " ").Replace(text)
	w.Header().Add("Warning", `299 - "`+text+`"`)
}

func readAll(r *http.Request) ([]byte, error) {
	body, err := io.ReadAll(io.LimitReader(r.Body, maxBody+1))
	if err != nil {
		return nil, apierrors.NewBadRequest(fmt.Sprintf("read request body: %v", err))
	}
	if len(body) > maxBody {
		return nil, apierrors.NewRequestEntityTooLargeError(fmt.Sprintf("limit is %d", maxBody))
	}
	return body, nil
}

func dryRun(r *http.Request) bool { return len(r.URL.Query()["dryRun"]) > 0 }

// serveWrite answers create, update, patch and delete.
func (s *Server) serveWrite(w http.ResponseWriter, r *http.Request, req resourceRequest) {
	newObj, ok := writable(req.info)
	if !ok {
		writeError(w, methodNotSupported(req, r.Method))
		return
	}
	var err error
	switch {
	case r.Method == http.MethodPost && req.name == "":
		err = s.create(w, r, req, newObj())
	case r.Method == http.MethodPut && req.name != "":
		err = s.update(w, r, req, newObj())
	case r.Method == http.MethodPatch && req.name != "":
		err = s.patch(w, r, req, newObj())
	case r.Method == http.MethodDelete && req.name != "":
		err = s.delete(w, r, req)
	default:
		err = methodNotSupported(req, r.Method)
	}
	if err != nil {
		writeError(w, err)
	}
}

func (s *Server) create(w http.ResponseWriter, r *http.Request, req resourceRequest, obj Object) error {
	body, err := readAll(r)
	if err != nil {
		return err
	}
	if err := s.decode(w, r, req, body, obj); err != nil {
		return err
	}
	if err := checkNamespace(obj, req.namespace); err != nil {
		return err
	}
	if obj.GetName() == "" && obj.GetGenerateName() != "" {
		obj.SetName(obj.GetGenerateName() + suffix(uint32(time.Now().UnixNano())))
	}
	if obj.GetName() == "" {
		return apierrors.NewInvalid(req.info.gv.WithKind(req.info.kind).GroupKind(), "",
			field.ErrorList{field.Required(field.NewPath("metadata", "name"), "name or generateName is required")})
	}
	if _, ok := s.cache.Get(req.info.key(), obj.GetNamespace(), obj.GetName()); ok {
		return apierrors.NewAlreadyExists(req.info.groupResource(), obj.GetName())
	}
	if pod, ok := obj.(*v1.Pod); ok {
		if err := kuberules.CheckPriority(pod); err != nil {
			return err
		}
	}
	warnTemplate(w, obj, nil)
	if err := s.trackFields(r, req, nil, obj); err != nil {
		return err
	}
	prev := s.cache.ResourceVersion()
	if err := s.store(r, req, obj); err != nil {
		return err
	}
	if dryRun(r) {
		if pod, ok := obj.(*v1.Pod); ok {
			obj = dryRunPod(pod)
		}
		setKind(obj, req.info)
		writeJSON(w, http.StatusCreated, obj)
		return nil
	}
	writeJSON(w, http.StatusCreated, s.settled(r.Context(), req, obj, prev))
	return nil
}

// warnTemplate adds the API server's warnings about a Deployment's pod
// template (pkg/api/pod/warnings.go) to the response: on create (cur nil),
// and on an update that changes the spec, as the deployment strategy's
// WarningsOnUpdate does when the generation moves. A Pod gets none: the API
// server reads its negative grace period as 1 before it looks (conversion).
func warnTemplate(w http.ResponseWriter, obj, cur Object) {
	d, ok := obj.(*appsv1.Deployment)
	if !ok {
		return
	}
	if old, ok := cur.(*appsv1.Deployment); ok {
		spec := d.DeepCopy()
		source.SetDeploymentDefaults(spec)
		if equality.Semantic.DeepEqual(spec.Spec, old.Spec) {
			return
		}
	}
	for _, text := range source.PodSpecWarnings(&d.Spec.Template.Spec, field.NewPath("spec", "template", "spec")) {
		addWarning(w, text)
	}
}

func checkNamespace(obj Object, ns string) error {
	switch {
	case obj.GetNamespace() == "":
		obj.SetNamespace(ns)
	case ns != "" && obj.GetNamespace() != ns:
		return apierrors.NewBadRequest("the namespace of the provided object does not match the namespace sent on the request")
	}
	return nil
}

func (s *Server) update(w http.ResponseWriter, r *http.Request, req resourceRequest, obj Object) error {
	body, err := readAll(r)
	if err != nil {
		return err
	}
	if err := s.decode(w, r, req, body, obj); err != nil {
		return err
	}
	return s.replace(w, r, req, obj)
}

// replace stores obj in place of the current object, after the API
// server's checks: same name, a matching resourceVersion when one is
// given (409 otherwise), and for pods only the changes it allows.
func (s *Server) replace(w http.ResponseWriter, r *http.Request, req resourceRequest, obj Object) error {
	if err := checkNamespace(obj, req.namespace); err != nil {
		return err
	}
	if obj.GetName() != req.name {
		return apierrors.NewBadRequest(fmt.Sprintf("the name of the object (%s) does not match the name on the URL (%s)", obj.GetName(), req.name))
	}
	cur, ok := s.cache.Get(req.info.key(), req.namespace, req.name)
	if !ok {
		return apierrors.NewNotFound(req.info.groupResource(), req.name)
	}
	if rv := obj.GetResourceVersion(); rv != "" && rv != cur.GetResourceVersion() {
		return apierrors.NewConflict(req.info.groupResource(), req.name,
			errors.New("the object has been modified; please apply your changes to the latest version and try again"))
	}
	warnTemplate(w, obj, cur)
	prev := s.cache.ResourceVersion()
	if pod, ok := obj.(*v1.Pod); ok {
		admitPodUpdate(pod, cur.(*v1.Pod))
		if err := validatePodUpdate(pod, cur.(*v1.Pod)); err != nil {
			return err
		}
		pod.Generation = podGeneration(pod, cur.(*v1.Pod))
		if err := s.trackFields(r, req, cur, pod); err != nil {
			return err
		}
		if err := s.storePodUpdate(r, req, pod, cur.(*v1.Pod)); err != nil {
			return err
		}
	} else if err := validateConfigUpdate(obj, cur); err != nil {
		return err
	} else if err := s.trackFields(r, req, cur, obj); err != nil {
		return err
	} else if err := s.storeUpdate(r, req, cur, obj); err != nil {
		return err
	}
	if dryRun(r) {
		if pod, ok := obj.(*v1.Pod); ok {
			obj = dryRunUpdatedPod(pod, cur.(*v1.Pod))
		}
		setKind(obj, req.info)
		writeJSON(w, http.StatusOK, obj)
		return nil
	}
	writeJSON(w, http.StatusOK, s.settled(r.Context(), req, obj, prev))
	return nil
}

// trackFields records in obj's managedFields the write of it by the
// request's field manager; live is the object it changes (nil on create).
func (s *Server) trackFields(r *http.Request, req resourceRequest, live, obj Object) error {
	options := "UpdateOptions"
	switch r.Method {
	case http.MethodPost:
		options = "CreateOptions"
	case http.MethodPatch:
		options = "PatchOptions"
	}
	manager, err := fieldManagerOf(r, options)
	if err != nil {
		return err
	}
	return s.fields.track(req.info.gv.WithKind(req.info.kind), live, obj, manager)
}

// validateConfigUpdate refuses what the API server refuses of an update of
// a ConfigMap or Secret: new data for an immutable one, a new Secret type.
// A Secret's stringData is merged into its data here, as the API server
// does, so that the change stored is one of data.
func validateConfigUpdate(obj, cur Object) error {
	var errs field.ErrorList
	var gk schema.GroupKind
	switch x := obj.(type) {
	case *v1.ConfigMap:
		gk, errs = schema.GroupKind{Kind: "ConfigMap"}, source.ValidateConfigMapUpdate(x, cur.(*v1.ConfigMap))
	case *v1.Secret:
		source.SetSecretDefaults(x)
		gk, errs = schema.GroupKind{Kind: "Secret"}, source.ValidateSecretUpdate(x, cur.(*v1.Secret))
	}
	if len(errs) > 0 {
		return apierrors.NewInvalid(gk, obj.GetName(), errs)
	}
	return nil
}

// storedSecret is a stored Secret with its stringData merged into data, so
// that a patch of data is not undone by the stringData the file had.
func storedSecret(stored []byte) ([]byte, error) {
	var sec v1.Secret
	if err := json.Unmarshal(stored, &sec); err != nil {
		return nil, err
	}
	if len(sec.StringData) == 0 {
		return stored, nil
	}
	ns := sec.Namespace
	source.SetSecretDefaults(&sec)
	sec.Namespace = ns
	return json.Marshal(&sec)
}

// podGeneration is the generation of an update of old to pod: the API
// server's pod strategy bumps it on any change of the spec (a new image, a
// deadline, a toleration), not on one of metadata alone.
func podGeneration(pod, old *v1.Pod) int64 {
	gen := max(old.Generation, 1)
	if old.DeletionTimestamp != nil {
		// apiPod served it one more for the graceful delete.
		gen = max(gen-1, 1)
	}
	spec := pod.DeepCopy()
	source.SetPodDefaults(spec)
	if !equality.Semantic.DeepEqual(spec.Spec, old.Spec) {
		gen++
	}
	return gen
}

// validatePodUpdate refuses what the API server's ValidatePodUpdate
// refuses: a pod's spec may only change its images, activeDeadlineSeconds
// (set, or lowered) and tolerations (additions); its ownerReferences must
// be valid ones.
func validatePodUpdate(pod, old *v1.Pod) error {
	spec := field.NewPath("spec")
	errs := apivalidation.ValidateOwnerReferences(pod.OwnerReferences, field.NewPath("metadata", "ownerReferences"))
	switch nd, od := pod.Spec.ActiveDeadlineSeconds, old.Spec.ActiveDeadlineSeconds; {
	case nd == nil && od != nil:
		errs = append(errs, field.Invalid(spec.Child("activeDeadlineSeconds"), nd, "must not update from a positive integer to nil value"))
	case nd != nil && (*nd < 0 || *nd > math.MaxInt32):
		errs = append(errs, field.Invalid(spec.Child("activeDeadlineSeconds"), *nd, validation.InclusiveRangeError(0, math.MaxInt32)))
	case nd != nil && od != nil && *nd > *od:
		errs = append(errs, field.Invalid(spec.Child("activeDeadlineSeconds"), *nd, "must be less than or equal to previous value"))
	}
	for _, ot := range old.Spec.Tolerations {
		kept := slices.ContainsFunc(pod.Spec.Tolerations, func(nt v1.Toleration) bool {
			nt.TolerationSeconds = ot.TolerationSeconds
			return equality.Semantic.DeepEqual(nt, ot)
		})
		if !kept {
			errs = append(errs, field.Forbidden(spec.Child("tolerations"), "existing toleration can not be modified except its tolerationSeconds"))
			break
		}
	}
	if len(errs) > 0 {
		return apierrors.NewInvalid(schema.GroupKind{Kind: "Pod"}, pod.Name, errs)
	}
	newSpec := pod.Spec.DeepCopy()
	source.SetPodDefaults(&v1.Pod{Spec: *newSpec})
	masked := old.Spec.DeepCopy()
	for i := range masked.Containers {
		if i < len(newSpec.Containers) {
			masked.Containers[i].Image = newSpec.Containers[i].Image
		}
	}
	for i := range masked.InitContainers {
		if i < len(newSpec.InitContainers) {
			masked.InitContainers[i].Image = newSpec.InitContainers[i].Image
		}
	}
	masked.ActiveDeadlineSeconds = newSpec.ActiveDeadlineSeconds
	masked.Tolerations = newSpec.Tolerations
	cmp := pod.DeepCopy()
	source.SetPodDefaults(cmp)
	if equality.Semantic.DeepEqual(masked, &cmp.Spec) {
		return nil
	}
	// The API server adds a unified diff of the specs (its internal type's,
	// whose field names and order differ from v1's: the lines are alike,
	// not the same) so the user sees what was refused.
	return apierrors.NewInvalid(schema.GroupKind{Kind: "Pod"}, pod.Name, field.ErrorList{field.Forbidden(field.NewPath("spec"),
		"pod updates may not change fields other than `spec.containers[*].image`,`spec.initContainers[*].image`,`spec.activeDeadlineSeconds`,`spec.tolerations` (only additions to existing tolerations),`spec.terminationGracePeriodSeconds` (allow it to be set to 1 if it was previously negative)\n"+
			diff.Diff(masked, &cmp.Spec))})
}

func (s *Server) patch(w http.ResponseWriter, r *http.Request, req resourceRequest, obj Object) error {
	body, err := readAll(r)
	if err != nil {
		return err
	}
	cur, ok := s.cache.Get(req.info.key(), req.namespace, req.name)
	if !ok {
		return apierrors.NewNotFound(req.info.groupResource(), req.name)
	}
	patched, err := applyPatch(r, cur, body, obj)
	if err != nil {
		return err
	}
	if err := s.decode(w, r, req, patched, obj); err != nil {
		return err
	}
	return s.replace(w, r, req, obj)
}

// applyPatch applies a patch request's body to cur, by its Content-Type;
// schema is the Go type of the object, for strategic merge patches.
func applyPatch(r *http.Request, cur any, body []byte, schema any) ([]byte, error) {
	curJSON, err := json.Marshal(cur)
	if err != nil {
		return nil, err
	}
	var patched []byte
	switch ct := strings.TrimSpace(strings.Split(r.Header.Get("Content-Type"), ";")[0]); types.PatchType(ct) {
	case types.StrategicMergePatchType:
		patched, err = strategicpatch.StrategicMergePatch(curJSON, body, schema)
	case types.MergePatchType:
		patched, err = jsonpatch.MergePatch(curJSON, body)
	case types.JSONPatchType:
		var p jsonpatch.Patch
		if p, err = jsonpatch.DecodePatch(body); err == nil {
			patched, err = p.Apply(curJSON)
		}
	default:
		return nil, &apierrors.StatusError{ErrStatus: metav1.Status{
			Status: metav1.StatusFailure, Code: http.StatusUnsupportedMediaType, Reason: metav1.StatusReasonUnsupportedMediaType,
			Message: fmt.Sprintf("the body of the request was in an unknown format - accepted media types include: %s, %s, %s",
				types.JSONPatchType, types.MergePatchType, types.StrategicMergePatchType),
		}}
	}
	if err != nil {
		return nil, apierrors.NewBadRequest(err.Error())
	}
	return patched, nil
}

// store writes obj into the manifests directory (unless it is a dry run),
// without what the API and the agent fill in.
func (s *Server) store(r *http.Request, req resourceRequest, obj Object) error {
	if s.deps.ManifestDir == "" && !dryRun(r) {
		return apierrors.NewMethodNotSupported(req.info.groupResource(), verbOf(r.Method))
	}
	data, err := manifestOf(obj)
	if err != nil {
		return err
	}
	name := fmt.Sprintf("%s/%s/%s", req.info.name, obj.GetNamespace(), obj.GetName())
	if dryRun(r) {
		err = source.Check(name, data, s.deps.NodeName)
	} else {
		_, err = source.ApplyFromAPI(r.Context(), s.deps.ManifestDir, name, data, s.deps.NodeName)
	}
	if err != nil {
		return api.ManifestError(err)
	}
	return nil
}

// storeUpdate writes an update of cur into its manifest as the change from
// cur (what is served) to obj (what was sent): a strategic merge patch of
// the two, applied to the object as the file holds it. The fields the user
// never wrote (defaults, what the agent fills in) stay out of the file, and
// those the update leaves alone stay as the user wrote them.
func (s *Server) storeUpdate(r *http.Request, req resourceRequest, cur, obj Object) error {
	if dryRun(r) {
		return nil
	}
	if s.deps.ManifestDir == "" {
		return apierrors.NewMethodNotSupported(req.info.groupResource(), verbOf(r.Method))
	}
	from, err := manifestOf(cur)
	if err != nil {
		return err
	}
	to, err := manifestOf(obj)
	if err != nil {
		return err
	}
	schema := cur.DeepCopyObject()
	patch, err := strategicpatch.CreateTwoWayMergePatch(from, to, schema)
	if err != nil {
		return apierrors.NewBadRequest(fmt.Sprintf("compute the change of %s %q: %v", req.info.kind, req.name, err))
	}
	if string(patch) == "{}" {
		return nil
	}
	ref := source.ObjectRef{APIVersion: req.info.gv.String(), Kind: req.info.kind, Namespace: req.namespace, Name: req.name}
	err = source.Edit(r.Context(), s.deps.ManifestDir, ref, s.deps.NodeName, func(stored []byte) ([]byte, error) {
		if _, ok := cur.(*v1.Secret); ok {
			var err error
			if stored, err = storedSecret(stored); err != nil {
				return nil, err
			}
		}
		return strategicpatch.StrategicMergePatch(stored, patch, schema)
	})
	switch {
	case errors.Is(err, source.ErrNotFound):
		return apierrors.NewNotFound(req.info.groupResource(), req.name)
	case err != nil:
		return api.ManifestError(err)
	}
	return nil
}

// storePodUpdate writes an update the API allows into the pod's manifest,
// keeping its UID, so that the pod is updated in place: its containers keep
// running, but for those whose image changed (see source.UpdatePod). A pod
// that is no manifest's (a ReplicaSet's, even once released) is updated by
// the controllers.
func (s *Server) storePodUpdate(r *http.Request, req resourceRequest, pod, cur *v1.Pod) error {
	if dryRun(r) {
		return nil
	}
	if cur.Annotations[source.AnnotationConfigSource] != source.SourceFile {
		return s.updateOwnedPod(r, req, pod, cur)
	}
	if s.deps.ManifestDir == "" {
		return apierrors.NewMethodNotSupported(req.info.groupResource(), verbOf(r.Method))
	}
	written := pod.DeepCopy()
	stripAdmitted(written)
	data, err := manifestOf(written)
	if err != nil {
		return err
	}
	if data, err = withGeneration(data, pod.Generation); err != nil {
		return err
	}
	ref := source.ObjectRef{APIVersion: "v1", Kind: "Pod", Namespace: pod.Namespace, Name: pod.Name}
	err = source.UpdatePod(r.Context(), s.deps.ManifestDir, ref, s.deps.NodeName, cur.UID, data)
	switch {
	case errors.Is(err, source.ErrNotFound):
		return apierrors.NewMethodNotSupported(req.info.groupResource(), verbOf(r.Method))
	case err != nil:
		return api.ManifestError(err)
	}
	return nil
}

// withGeneration sets the generation in a pod's manifest (JSON) once an
// update has bumped it: the API server stores it, and the file is the
// store. The source keeps it only while the file is as the API wrote it.
func withGeneration(manifest []byte, gen int64) ([]byte, error) {
	if gen <= 1 {
		return manifest, nil
	}
	var m map[string]any
	if err := json.Unmarshal(manifest, &m); err != nil {
		return nil, err
	}
	md, _ := m["metadata"].(map[string]any)
	if md == nil {
		md = map[string]any{}
		m["metadata"] = md
	}
	md["generation"] = gen
	return json.Marshal(m)
}

// OwnedPodUpdater is what an AppsStore whose controllers make pods can also
// do: store an update of one of them that the API allowed (found is false
// when no controller has that pod).
type OwnedPodUpdater interface {
	UpdatePod(ctx context.Context, pod *v1.Pod) (found bool, err error)
}

// updateOwnedPod stores an update of a controller's pod: labels,
// annotations and owners (kubectl label, annotate, a patch of
// ownerReferences), and what validatePodUpdate let change of its spec
// (kubectl set image). Its ReplicaSet then releases it if its labels no
// longer match, or adopts it again if it was orphaned, as upstream's.
func (s *Server) updateOwnedPod(r *http.Request, req resourceRequest, pod, cur *v1.Pod) error {
	u, ok := s.deps.Apps.(OwnedPodUpdater)
	if !ok {
		return apierrors.NewMethodNotSupported(req.info.groupResource(), verbOf(r.Method))
	}
	update := pod.DeepCopy()
	source.SetPodDefaults(update)
	update.UID = cur.UID
	for _, k := range agentAnnotations {
		delete(update.Annotations, k)
	}
	found, err := u.UpdatePod(r.Context(), update)
	switch {
	case err != nil:
		return apierrors.NewInternalError(fmt.Errorf("update pod %s/%s: %w", pod.Namespace, pod.Name, err))
	case !found:
		return apierrors.NewMethodNotSupported(req.info.groupResource(), verbOf(r.Method))
	}
	return nil
}

// agentAnnotations are set by the agent on what it serves; they are not
// part of the manifest.
var agentAnnotations = []string{source.AnnotationConfigSource, source.AnnotationConfigHash, source.AnnotationConfigSeen, source.AnnotationManifest}

// annotationRevision is the revision the deployment controller keeps on a
// Deployment (controllers.AnnotationRevision).
const annotationRevision = "deployment.kubernetes.io/revision"

// stripAgentAnnotations takes out of c the annotations the agent sets on
// what it serves: its own, and a Deployment's revision (the deployment
// controller's, whatever a manifest says).
func stripAgentAnnotations(c Object) {
	a := c.GetAnnotations()
	if a == nil {
		return
	}
	for _, k := range agentAnnotations {
		delete(a, k)
	}
	if _, ok := c.(*appsv1.Deployment); ok {
		delete(a, annotationRevision)
	}
	if len(a) == 0 {
		c.SetAnnotations(nil)
	}
}

// manifestOf is obj as a manifest: type, metadata the user owns, spec,
// and the managedFields the API keeps of it (see trackFields).
func manifestOf(obj Object) ([]byte, error) {
	c := obj.DeepCopyObject().(Object)
	c.SetResourceVersion("")
	c.SetUID("")
	c.SetCreationTimestamp(metav1.Time{})
	c.SetGeneration(0)
	c.SetSelfLink("")
	stripAgentAnnotations(c)
	switch x := c.(type) {
	case *v1.Pod:
		x.TypeMeta = metav1.TypeMeta{APIVersion: "v1", Kind: "Pod"}
	case *v1.Service:
		x.TypeMeta = metav1.TypeMeta{APIVersion: "v1", Kind: "Service"}
	case *v1.ConfigMap:
		x.TypeMeta = metav1.TypeMeta{APIVersion: "v1", Kind: "ConfigMap"}
	case *v1.Secret:
		x.TypeMeta = metav1.TypeMeta{APIVersion: "v1", Kind: "Secret"}
	case *appsv1.Deployment:
		x.TypeMeta = metav1.TypeMeta{APIVersion: "apps/v1", Kind: "Deployment"}
	}
	data, err := json.Marshal(c)
	if err != nil {
		return nil, err
	}
	// Status is the agent's to report, never part of a manifest.
	var m map[string]any
	if err := json.Unmarshal(data, &m); err != nil {
		return nil, err
	}
	delete(m, "status")
	if md, ok := m["metadata"].(map[string]any); ok && md["creationTimestamp"] == nil {
		delete(md, "creationTimestamp")
	}
	return json.Marshal(m)
}

// settled waits until the cache holds a version of obj newer than prev, and
// returns it; after settle, obj as written.
func (s *Server) settled(ctx context.Context, req resourceRequest, obj Object, prev uint64) Object {
	setKind(obj, req.info)
	ctx, cancel := context.WithTimeout(ctx, settle)
	defer cancel()
	for {
		changes, changed, ok := s.cache.since(prev)
		if !ok {
			break
		}
		for _, c := range changes {
			prev = c.rv
			if c.resource == req.info.key() && c.typ != "DELETED" && objectKey(c.obj) == objectKey(obj) {
				if cur, ok := s.cache.Get(req.info.key(), obj.GetNamespace(), obj.GetName()); ok {
					return cur
				}
			}
		}
		select {
		case <-ctx.Done():
			return obj
		case <-changed:
		}
	}
	return obj
}

// deleteOptions decodes a delete's body: JSON from kubectl, protobuf from
// client-go's typed clients.
func (s *Server) deleteOptions(r *http.Request) (metav1.DeleteOptions, error) {
	var opts metav1.DeleteOptions
	body, err := readAll(r)
	if err != nil || len(strings.TrimSpace(string(body))) == 0 {
		return opts, err
	}
	if strings.HasPrefix(r.Header.Get("Content-Type"), runtime.ContentTypeProtobuf) {
		gvk := metav1.SchemeGroupVersion.WithKind("DeleteOptions")
		if _, _, err := s.codec.proto.Decode(body, &gvk, &opts); err != nil {
			return opts, apierrors.NewBadRequest(fmt.Sprintf("delete options: %v", err))
		}
		return opts, nil
	}
	if err := json.Unmarshal(body, &opts); err != nil {
		return opts, apierrors.NewBadRequest(fmt.Sprintf("delete options: %v", err))
	}
	return opts, nil
}

func (s *Server) delete(w http.ResponseWriter, r *http.Request, req resourceRequest) error {
	cur, ok := s.cache.Get(req.info.key(), req.namespace, req.name)
	if !ok {
		return apierrors.NewNotFound(req.info.groupResource(), req.name)
	}
	opts, err := s.deleteOptions(r)
	if err != nil {
		return err
	}
	if p := opts.Preconditions; p != nil {
		if p.UID != nil && *p.UID != cur.GetUID() {
			return apierrors.NewConflict(req.info.groupResource(), req.name, fmt.Errorf("Precondition failed: UID in precondition: %s, UID in object meta: %s", *p.UID, cur.GetUID()))
		}
		if p.ResourceVersion != nil && *p.ResourceVersion != cur.GetResourceVersion() {
			return apierrors.NewConflict(req.info.groupResource(), req.name, fmt.Errorf("Precondition failed: ResourceVersion in precondition: %s, ResourceVersion in object meta: %s", *p.ResourceVersion, cur.GetResourceVersion()))
		}
	}
	pod, isPod := cur.(*v1.Pod)
	grace := int64(v1.DefaultTerminationGracePeriodSeconds)
	if isPod && pod.Spec.TerminationGracePeriodSeconds != nil {
		grace = *pod.Spec.TerminationGracePeriodSeconds
	}
	if g := opts.GracePeriodSeconds; g != nil {
		grace = *g
	}
	// The API server's BeforeDelete and the pod strategy read a negative
	// grace period, asked for or the pod's own, as 1: not refused.
	if grace < 0 {
		grace = 1
	}
	// A pod already terminating is deleted again only to shorten its grace
	// period (the API server's graceful deletion: a later request may
	// shorten it, never lengthen it); its manifest is gone already.
	terminating := isPod && pod.DeletionTimestamp != nil
	if terminating && pod.DeletionGracePeriodSeconds != nil && *pod.DeletionGracePeriodSeconds < grace {
		grace = *pod.DeletionGracePeriodSeconds
	}
	if !dryRun(r) {
		// Told before the manifest goes, so the pod terminates with it.
		if isPod && opts.GracePeriodSeconds != nil && s.deps.Terminator != nil {
			s.deps.Terminator.SetDeletionGrace(req.namespace, req.name, time.Duration(grace)*time.Second)
		}
		ref := source.ObjectRef{APIVersion: req.info.gv.String(), Kind: req.info.kind, Namespace: req.namespace, Name: req.name}
		if !terminating {
			if _, err := source.Delete(r.Context(), s.deps.ManifestDir, []source.ObjectRef{ref}); err != nil {
				// Not a manifest: a pod a ReplicaSet made, which it replaces.
				if found, cerr := s.deleteOwnedPod(r.Context(), req); cerr != nil || !found {
					return apierrors.NewMethodNotSupported(req.info.groupResource(), "delete")
				}
			}
		}
	}
	// The answer is the object being deleted: a pod terminates with its
	// grace period, and kubectl waits for it to be gone.
	gone := cur.DeepCopyObject().(Object)
	now := metav1.Now()
	gone.SetDeletionTimestamp(&now)
	if pod, ok := gone.(*v1.Pod); ok {
		t := metav1.NewTime(now.Add(time.Duration(grace) * time.Second))
		pod.DeletionTimestamp, pod.DeletionGracePeriodSeconds = &t, &grace
	}
	writeJSON(w, http.StatusOK, gone)
	return nil
}

// OwnedPodDeleter is what an AppsStore whose controllers make pods can also
// do: delete one of them; its ReplicaSet then makes a replacement, as
// upstream.
type OwnedPodDeleter interface {
	DeletePod(ctx context.Context, namespace, name string) (found bool, err error)
}

// deleteOwnedPod deletes a controller's pod; found is false when no
// controller has it.
func (s *Server) deleteOwnedPod(ctx context.Context, req resourceRequest) (found bool, err error) {
	d, ok := s.deps.Apps.(OwnedPodDeleter)
	if !ok || req.info.key() != keyPods {
		return false, nil
	}
	return d.DeletePod(ctx, req.namespace, req.name)
}
