package api

import (
	"fmt"
	"net/http"

	v1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/fields"
)

// EventFields are the field selector keys the API server supports for
// core/v1 events.
func EventFields(e *v1.Event) fields.Set {
	return fields.Set{
		"metadata.name":                  e.Name,
		"metadata.namespace":             e.Namespace,
		"involvedObject.kind":            e.InvolvedObject.Kind,
		"involvedObject.namespace":       e.InvolvedObject.Namespace,
		"involvedObject.name":            e.InvolvedObject.Name,
		"involvedObject.uid":             string(e.InvolvedObject.UID),
		"involvedObject.apiVersion":      e.InvolvedObject.APIVersion,
		"involvedObject.resourceVersion": e.InvolvedObject.ResourceVersion,
		"involvedObject.fieldPath":       e.InvolvedObject.FieldPath,
		"reason":                         e.Reason,
		"reportingComponent":             e.ReportingController,
		"source":                         e.Source.Component,
		"type":                           e.Type,
	}
}

func (s *Server) listEvents(w http.ResponseWriter, r *http.Request) {
	sel, err := fields.ParseSelector(r.URL.Query().Get("fieldSelector"))
	if err != nil {
		writeError(w, badRequest(fmt.Sprintf("invalid field selector: %v", err)))
		return
	}
	s.warn(w)
	list := v1.EventList{TypeMeta: metav1.TypeMeta{APIVersion: "v1", Kind: "EventList"}, Items: []v1.Event{}}
	if s.deps.Events != nil {
		// Narrow by name in the store when the selector names the object.
		name, _ := sel.RequiresExactMatch("involvedObject.name")
		for _, e := range s.deps.Events.List(r.PathValue("ns"), name) {
			if sel.Matches(EventFields(&e)) {
				list.Items = append(list.Items, e)
			}
		}
	}
	writeJSON(w, http.StatusOK, &list)
}
