package api

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"time"

	"go.uber.org/zap"
	appsv1 "k8s.io/api/apps/v1"
	autoscalingv1 "k8s.io/api/autoscaling/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/runtime/schema"

	"github.com/minikubelet/minikubelet/controllers"
)

// Controllers serves Deployments and ReplicaSets and their write
// operations; controllers.Controller implements it.
type Controllers interface {
	ListDeployments(namespace string) []*appsv1.Deployment
	GetDeployment(namespace, name string) (*appsv1.Deployment, bool)
	ListReplicaSets(namespace string) []*appsv1.ReplicaSet
	GetReplicaSet(namespace, name string) (*appsv1.ReplicaSet, bool)
	DeletePod(ctx context.Context, namespace, name string) (bool, error)
	Scale(ctx context.Context, namespace, name string, replicas int32) error
	Restart(ctx context.Context, namespace, name string, at time.Time) error
	SetPaused(ctx context.Context, namespace, name string, paused bool) error
	Undo(ctx context.Context, namespace, name string, toRevision int64) (int64, error)
}

var (
	deploymentsResource = schema.GroupResource{Group: "apps", Resource: "deployments"}
	replicaSetsResource = schema.GroupResource{Group: "apps", Resource: "replicasets"}
)

// appsRoutes adds the apps/v1 paths of the Kubernetes API, and the rollout
// actions kubectl performs as patches.
func (s *Server) appsRoutes(mux *http.ServeMux) {
	mux.HandleFunc("GET /apis/apps/v1/deployments", s.listDeployments)
	mux.HandleFunc("GET /apis/apps/v1/namespaces/{ns}/deployments", s.listDeployments)
	mux.HandleFunc("GET /apis/apps/v1/namespaces/{ns}/deployments/{name}", s.getDeployment)
	mux.HandleFunc("GET /apis/apps/v1/namespaces/{ns}/deployments/{name}/scale", s.getScale)
	mux.HandleFunc("PUT /apis/apps/v1/namespaces/{ns}/deployments/{name}/scale", s.putScale)
	mux.HandleFunc("POST /apis/apps/v1/namespaces/{ns}/deployments/{name}/rollout/{action}", s.rollout)
	mux.HandleFunc("GET /apis/apps/v1/replicasets", s.listReplicaSets)
	mux.HandleFunc("GET /apis/apps/v1/namespaces/{ns}/replicasets", s.listReplicaSets)
	mux.HandleFunc("GET /apis/apps/v1/namespaces/{ns}/replicasets/{name}", s.getReplicaSet)
}

func (s *Server) listDeployments(w http.ResponseWriter, r *http.Request) {
	sel, err := parseLabelSelector(r)
	if err != nil {
		writeError(w, err)
		return
	}
	list := appsv1.DeploymentList{TypeMeta: metav1.TypeMeta{APIVersion: "apps/v1", Kind: "DeploymentList"}, Items: []appsv1.Deployment{}}
	if s.deps.Controllers != nil {
		for _, d := range s.deps.Controllers.ListDeployments(r.PathValue("ns")) {
			if sel.Matches(labels.Set(d.Labels)) {
				list.Items = append(list.Items, *d)
			}
		}
	}
	writeJSON(w, http.StatusOK, &list)
}

func (s *Server) findDeployment(ns, name string) (*appsv1.Deployment, error) {
	if s.deps.Controllers == nil {
		return nil, apierrors.NewNotFound(deploymentsResource, name)
	}
	d, ok := s.deps.Controllers.GetDeployment(ns, name)
	if !ok {
		return nil, apierrors.NewNotFound(deploymentsResource, name)
	}
	return d, nil
}

func (s *Server) getDeployment(w http.ResponseWriter, r *http.Request) {
	d, err := s.findDeployment(r.PathValue("ns"), r.PathValue("name"))
	if err != nil {
		writeError(w, err)
		return
	}
	writeJSON(w, http.StatusOK, d)
}

func scaleOf(d *appsv1.Deployment) *autoscalingv1.Scale {
	sel, _ := metav1.LabelSelectorAsSelector(d.Spec.Selector)
	return &autoscalingv1.Scale{
		TypeMeta: metav1.TypeMeta{APIVersion: "autoscaling/v1", Kind: "Scale"},
		ObjectMeta: metav1.ObjectMeta{Name: d.Name, Namespace: d.Namespace, UID: d.UID,
			ResourceVersion: d.ResourceVersion, CreationTimestamp: d.CreationTimestamp},
		Spec:   autoscalingv1.ScaleSpec{Replicas: *d.Spec.Replicas},
		Status: autoscalingv1.ScaleStatus{Replicas: d.Status.Replicas, Selector: sel.String()},
	}
}

func (s *Server) getScale(w http.ResponseWriter, r *http.Request) {
	d, err := s.findDeployment(r.PathValue("ns"), r.PathValue("name"))
	if err != nil {
		writeError(w, err)
		return
	}
	writeJSON(w, http.StatusOK, scaleOf(d))
}

// putScale sets spec.replicas in the Deployment's manifest.
func (s *Server) putScale(w http.ResponseWriter, r *http.Request) {
	ns, name := r.PathValue("ns"), r.PathValue("name")
	d, err := s.findDeployment(ns, name)
	if err != nil {
		writeError(w, err)
		return
	}
	body, err := s.readBody(w, r)
	if err != nil {
		writeError(w, err)
		return
	}
	var sc autoscalingv1.Scale
	if err := json.Unmarshal(body, &sc); err != nil {
		writeError(w, badRequest(fmt.Sprintf("decode Scale: %v", err)))
		return
	}
	if sc.Spec.Replicas < 0 {
		writeError(w, apierrors.NewBadRequest(fmt.Sprintf("Scale.autoscaling %q is invalid: spec.replicas: Invalid value: %d: must be greater than or equal to 0", name, sc.Spec.Replicas)))
		return
	}
	if err := s.deps.Controllers.Scale(r.Context(), ns, name, sc.Spec.Replicas); err != nil {
		writeError(w, controllerError(err, name))
		return
	}
	d.Spec.Replicas = &sc.Spec.Replicas
	writeJSON(w, http.StatusOK, scaleOf(d))
}

// RolloutResult answers a rollout action: what kubectl prints after
// "deployment.apps/NAME ".
type RolloutResult struct {
	Message string `json:"message"`
}

// rollout performs restart, pause, resume or undo (?toRevision=N).
func (s *Server) rollout(w http.ResponseWriter, r *http.Request) {
	ns, name, action := r.PathValue("ns"), r.PathValue("name"), r.PathValue("action")
	if _, err := s.findDeployment(ns, name); err != nil {
		writeError(w, err)
		return
	}
	c := s.deps.Controllers
	var (
		msg string
		err error
	)
	switch action {
	case "restart":
		err, msg = c.Restart(r.Context(), ns, name, s.now()), "restarted"
	case "pause", "resume":
		paused := action == "pause"
		err = c.SetPaused(r.Context(), ns, name, paused)
		msg = action + "d"
		if errors.Is(err, controllers.ErrNoChange) {
			err = apierrors.NewBadRequest(fmt.Sprintf("deployments.apps %q is already paused", name))
			if !paused {
				err = apierrors.NewBadRequest(fmt.Sprintf("deployments.apps %q is not paused", name))
			}
		}
	case "undo":
		var to int64
		if v := r.URL.Query().Get("toRevision"); v != "" {
			if to, err = strconv.ParseInt(v, 10, 64); err != nil || to < 0 {
				writeError(w, badRequest(fmt.Sprintf("toRevision %q: must be a revision number", v)))
				return
			}
		}
		var rev int64
		rev, err = c.Undo(r.Context(), ns, name, to)
		msg = "rolled back"
		if errors.Is(err, controllers.ErrNoChange) {
			err, msg = nil, "skipped rollback (current template already matches revision "+strconv.FormatInt(rev, 10)+")"
		}
	default:
		writeError(w, notFoundPath())
		return
	}
	if err != nil {
		writeError(w, controllerError(err, name))
		return
	}
	s.log.Info("rollout", zap.String("deployment", ns+"/"+name), zap.String("action", action))
	writeJSON(w, http.StatusOK, RolloutResult{Message: msg})
}

// controllerError maps a write operation's error to an API status.
func controllerError(err error, name string) error {
	switch {
	case errors.Is(err, controllers.ErrNotFound):
		return apierrors.NewNotFound(deploymentsResource, name)
	case isIOError(err):
		return apierrors.NewInternalError(err)
	}
	return apierrors.NewBadRequest(err.Error())
}

func (s *Server) listReplicaSets(w http.ResponseWriter, r *http.Request) {
	sel, err := parseLabelSelector(r)
	if err != nil {
		writeError(w, err)
		return
	}
	list := appsv1.ReplicaSetList{TypeMeta: metav1.TypeMeta{APIVersion: "apps/v1", Kind: "ReplicaSetList"}, Items: []appsv1.ReplicaSet{}}
	if s.deps.Controllers != nil {
		for _, rs := range s.deps.Controllers.ListReplicaSets(r.PathValue("ns")) {
			if sel.Matches(labels.Set(rs.Labels)) {
				list.Items = append(list.Items, *rs)
			}
		}
	}
	writeJSON(w, http.StatusOK, &list)
}

func (s *Server) getReplicaSet(w http.ResponseWriter, r *http.Request) {
	ns, name := r.PathValue("ns"), r.PathValue("name")
	if s.deps.Controllers == nil {
		writeError(w, apierrors.NewNotFound(replicaSetsResource, name))
		return
	}
	rs, ok := s.deps.Controllers.GetReplicaSet(ns, name)
	if !ok {
		writeError(w, apierrors.NewNotFound(replicaSetsResource, name))
		return
	}
	writeJSON(w, http.StatusOK, rs)
}

func appsPath(namespace, resource string) string {
	if namespace == "" {
		return "/apis/apps/v1/" + resource
	}
	return "/apis/apps/v1/namespaces/" + url.PathEscape(namespace) + "/" + resource
}

// ListDeployments lists Deployments in namespace ("" for all namespaces).
func (c *Client) ListDeployments(ctx context.Context, namespace, labelSelector string) (*appsv1.DeploymentList, error) {
	var list appsv1.DeploymentList
	if err := c.getJSON(ctx, appsPath(namespace, "deployments"), ListOptions{LabelSelector: labelSelector}.query(), &list); err != nil {
		return nil, err
	}
	return &list, nil
}

// GetDeployment returns one Deployment with its status.
func (c *Client) GetDeployment(ctx context.Context, namespace, name string) (*appsv1.Deployment, error) {
	var d appsv1.Deployment
	if err := c.getJSON(ctx, appsPath(namespace, "deployments")+"/"+url.PathEscape(name), nil, &d); err != nil {
		return nil, err
	}
	return &d, nil
}

// ListReplicaSets lists ReplicaSets in namespace ("" for all namespaces).
func (c *Client) ListReplicaSets(ctx context.Context, namespace, labelSelector string) (*appsv1.ReplicaSetList, error) {
	var list appsv1.ReplicaSetList
	if err := c.getJSON(ctx, appsPath(namespace, "replicasets"), ListOptions{LabelSelector: labelSelector}.query(), &list); err != nil {
		return nil, err
	}
	return &list, nil
}

// GetReplicaSet returns one ReplicaSet.
func (c *Client) GetReplicaSet(ctx context.Context, namespace, name string) (*appsv1.ReplicaSet, error) {
	var rs appsv1.ReplicaSet
	if err := c.getJSON(ctx, appsPath(namespace, "replicasets")+"/"+url.PathEscape(name), nil, &rs); err != nil {
		return nil, err
	}
	return &rs, nil
}

// ScaleDeployment sets a Deployment's replicas.
func (c *Client) ScaleDeployment(ctx context.Context, namespace, name string, replicas int32) error {
	body, _ := json.Marshal(&autoscalingv1.Scale{
		TypeMeta:   metav1.TypeMeta{APIVersion: "autoscaling/v1", Kind: "Scale"},
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: namespace},
		Spec:       autoscalingv1.ScaleSpec{Replicas: replicas},
	})
	resp, err := c.do(ctx, http.MethodPut, appsPath(namespace, "deployments")+"/"+url.PathEscape(name)+"/scale", nil, bytes.NewReader(body), nil)
	if err != nil {
		return err
	}
	return resp.Body.Close()
}

// Rollout performs a rollout action (restart, pause, resume, undo) and
// returns kubectl's message for it.
func (c *Client) Rollout(ctx context.Context, namespace, name, action string, toRevision int64) (string, error) {
	q := url.Values{}
	if toRevision > 0 {
		q.Set("toRevision", strconv.FormatInt(toRevision, 10))
	}
	resp, err := c.do(ctx, http.MethodPost, appsPath(namespace, "deployments")+"/"+url.PathEscape(name)+"/rollout/"+action, q, nil, nil)
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	var res RolloutResult
	if err := json.NewDecoder(resp.Body).Decode(&res); err != nil {
		return "", fmt.Errorf("decode answer of rollout %s: %w", action, err)
	}
	return res.Message, nil
}
