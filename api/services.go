package api

import (
	"context"
	"fmt"
	"net/http"
	"net/url"

	v1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/runtime/schema"
)

// ServiceSource publishes Services and their Endpoints; services.Store
// implements it.
type ServiceSource interface {
	ListServices(namespace string) []*v1.Service
	GetService(namespace, name string) (*v1.Service, bool)
	ListEndpoints(namespace string) []*v1.Endpoints
	GetEndpoints(namespace, name string) (*v1.Endpoints, bool)
}

var (
	servicesResource  = schema.GroupResource{Resource: "services"}
	endpointsResource = schema.GroupResource{Resource: "endpoints"}
	serviceTypeMeta   = metav1.TypeMeta{APIVersion: "v1", Kind: "Service"}
	endpointsTypeMeta = metav1.TypeMeta{APIVersion: "v1", Kind: "Endpoints"}
)

// serviceRoutes adds the Services and Endpoints paths of the Kubernetes API.
func (s *Server) serviceRoutes(mux *http.ServeMux) {
	mux.HandleFunc("GET /api/v1/services", s.listServices)
	mux.HandleFunc("GET /api/v1/namespaces/{ns}/services", s.listServices)
	mux.HandleFunc("GET /api/v1/namespaces/{ns}/services/{name}", s.getService)
	mux.HandleFunc("GET /api/v1/endpoints", s.listEndpoints)
	mux.HandleFunc("GET /api/v1/namespaces/{ns}/endpoints", s.listEndpoints)
	mux.HandleFunc("GET /api/v1/namespaces/{ns}/endpoints/{name}", s.getEndpoints)
}

func parseLabelSelector(r *http.Request) (labels.Selector, error) {
	sel, err := labels.Parse(r.URL.Query().Get("labelSelector"))
	if err != nil {
		return nil, badRequest(fmt.Sprintf("unable to parse requirement: %v", err))
	}
	return sel, nil
}

func (s *Server) listServices(w http.ResponseWriter, r *http.Request) {
	sel, err := parseLabelSelector(r)
	if err != nil {
		writeError(w, err)
		return
	}
	list := v1.ServiceList{TypeMeta: metav1.TypeMeta{APIVersion: "v1", Kind: "ServiceList"}, Items: []v1.Service{}}
	if s.deps.Services != nil {
		for _, svc := range s.deps.Services.ListServices(r.PathValue("ns")) {
			if sel.Matches(labels.Set(svc.Labels)) {
				svc.TypeMeta = serviceTypeMeta
				list.Items = append(list.Items, *svc)
			}
		}
	}
	writeJSON(w, http.StatusOK, &list)
}

func (s *Server) getService(w http.ResponseWriter, r *http.Request) {
	ns, name := r.PathValue("ns"), r.PathValue("name")
	if s.deps.Services == nil {
		writeError(w, apierrors.NewNotFound(servicesResource, name))
		return
	}
	svc, ok := s.deps.Services.GetService(ns, name)
	if !ok {
		writeError(w, apierrors.NewNotFound(servicesResource, name))
		return
	}
	svc.TypeMeta = serviceTypeMeta
	writeJSON(w, http.StatusOK, svc)
}

func (s *Server) listEndpoints(w http.ResponseWriter, r *http.Request) {
	sel, err := parseLabelSelector(r)
	if err != nil {
		writeError(w, err)
		return
	}
	list := v1.EndpointsList{TypeMeta: metav1.TypeMeta{APIVersion: "v1", Kind: "EndpointsList"}, Items: []v1.Endpoints{}}
	if s.deps.Services != nil {
		for _, ep := range s.deps.Services.ListEndpoints(r.PathValue("ns")) {
			if sel.Matches(labels.Set(ep.Labels)) {
				ep.TypeMeta = endpointsTypeMeta
				list.Items = append(list.Items, *ep)
			}
		}
	}
	writeJSON(w, http.StatusOK, &list)
}

func (s *Server) getEndpoints(w http.ResponseWriter, r *http.Request) {
	ns, name := r.PathValue("ns"), r.PathValue("name")
	if s.deps.Services == nil {
		writeError(w, apierrors.NewNotFound(endpointsResource, name))
		return
	}
	ep, ok := s.deps.Services.GetEndpoints(ns, name)
	if !ok {
		writeError(w, apierrors.NewNotFound(endpointsResource, name))
		return
	}
	ep.TypeMeta = endpointsTypeMeta
	writeJSON(w, http.StatusOK, ep)
}

func collectionPath(namespace, resource string) string {
	if namespace == "" {
		return "/api/v1/" + resource
	}
	return "/api/v1/namespaces/" + url.PathEscape(namespace) + "/" + resource
}

// ListServices lists Services in namespace ("" for all namespaces).
func (c *Client) ListServices(ctx context.Context, namespace, labelSelector string) (*v1.ServiceList, error) {
	var list v1.ServiceList
	if err := c.getJSON(ctx, collectionPath(namespace, "services"), ListOptions{LabelSelector: labelSelector}.query(), &list); err != nil {
		return nil, err
	}
	return &list, nil
}

// GetService returns one Service.
func (c *Client) GetService(ctx context.Context, namespace, name string) (*v1.Service, error) {
	var svc v1.Service
	if err := c.getJSON(ctx, collectionPath(namespace, "services")+"/"+url.PathEscape(name), nil, &svc); err != nil {
		return nil, err
	}
	return &svc, nil
}

// ListEndpoints lists Endpoints in namespace ("" for all namespaces).
func (c *Client) ListEndpoints(ctx context.Context, namespace, labelSelector string) (*v1.EndpointsList, error) {
	var list v1.EndpointsList
	if err := c.getJSON(ctx, collectionPath(namespace, "endpoints"), ListOptions{LabelSelector: labelSelector}.query(), &list); err != nil {
		return nil, err
	}
	return &list, nil
}

// GetEndpoints returns the Endpoints of one Service.
func (c *Client) GetEndpoints(ctx context.Context, namespace, name string) (*v1.Endpoints, error) {
	var ep v1.Endpoints
	if err := c.getJSON(ctx, collectionPath(namespace, "endpoints")+"/"+url.PathEscape(name), nil, &ep); err != nil {
		return nil, err
	}
	return &ep, nil
}
