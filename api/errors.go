package api

import (
	"encoding/json"
	"net/http"
	"strings"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
)

var podsResource = schema.GroupResource{Resource: "pods"}

// writeError answers with err as a metav1.Status object, as the API server
// does; errors that are not API errors become 500s.
func writeError(w http.ResponseWriter, err error) {
	var st metav1.Status
	if se, ok := err.(apierrors.APIStatus); ok {
		st = se.Status()
	} else {
		st = apierrors.NewInternalError(err).Status()
	}
	st.TypeMeta = metav1.TypeMeta{APIVersion: "v1", Kind: "Status"}
	if st.Status == "" {
		st.Status = metav1.StatusFailure
	}
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(int(st.Code))
	_ = json.NewEncoder(w).Encode(&st)
}

func podNotFound(name string) error { return apierrors.NewNotFound(podsResource, name) }

func notFoundPath() error {
	return &apierrors.StatusError{ErrStatus: metav1.Status{
		Status:  metav1.StatusFailure,
		Code:    http.StatusNotFound,
		Reason:  metav1.StatusReasonNotFound,
		Message: "the server could not find the requested resource",
	}}
}

func badRequest(msg string) error { return apierrors.NewBadRequest(msg) }

// The Warning header carries one warning per value in the RFC 7234 form the
// API server uses: `299 - "text"`, with `"` and `\` backslash-escaped.
const warningHeader = "Warning"

func addWarnings(h http.Header, warnings []string) {
	for _, text := range warnings {
		h.Add(warningHeader, formatWarning(text))
	}
}

func formatWarning(text string) string {
	// Header values cannot hold line breaks or other control characters.
	text = strings.Map(func(r rune) rune {
		if r < 0x20 || r == 0x7f {
			return ' '
		}
		return r
	}, text)
	text = strings.NewReplacer(`\`, `\\`, `"`, `\"`).Replace(text)
	return `299 - "` + text + `"`
}

// parseWarning returns the text of one Warning header value, or false when
// the value is not in the form formatWarning writes.
func parseWarning(v string) (string, bool) {
	rest, ok := strings.CutPrefix(strings.TrimSpace(v), "299 - ")
	if !ok || len(rest) < 2 || rest[0] != '"' {
		return "", false
	}
	var b strings.Builder
	for i := 1; i < len(rest); i++ {
		c := rest[i]
		switch {
		case c == '\\' && i+1 < len(rest):
			i++
			b.WriteByte(rest[i])
		case c == '"':
			return b.String(), true
		default:
			b.WriteByte(c)
		}
	}
	return "", false
}
