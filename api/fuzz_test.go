package api

import (
	"bytes"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"testing"

	"go.uber.org/zap"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/minikubelet/minikubelet/status"
)

// FuzzApplyBody: any body posted to /apply and /delete gets a Kubernetes
// answer (a result or a Status), never a panic; a success lists what was
// stored.
func FuzzApplyBody(f *testing.F) {
	f.Add([]byte(webManifest), "web.yaml")
	f.Add([]byte("apiVersion: v1\nkind: ../../../x/evilkind\nmetadata: {name: x}\n"), "")
	f.Add([]byte("apiVersion: v1\nkind: ConfigMap\nmetadata: {name: c, namespace: ../..}\n"), "x.yaml")
	f.Add([]byte(`{"apiVersion":"v1","kind":"List","items":[{"apiVersion":"v1","kind":"Pod"}]}`), "l.json")
	f.Add([]byte{0x1f, 0x8b, 0x08, 0x00}, "")
	f.Add([]byte(""), "")
	f.Fuzz(func(t *testing.T, body []byte, name string) {
		dir := t.TempDir()
		srv := NewServer(zap.NewNop(), Deps{Pods: status.NewStore(), ManifestDir: filepath.Join(dir, "manifests"), NodeName: "node1"})
		for _, route := range []string{"/apply", "/delete"} {
			req := httptest.NewRequest(http.MethodPost, route, bytes.NewReader(body))
			q := req.URL.Query()
			q.Set("name", name)
			req.URL.RawQuery = q.Encode()
			rec := httptest.NewRecorder()
			srv.Handler().ServeHTTP(rec, req)
			switch rec.Code {
			case http.StatusOK:
				var res ApplyResult
				if err := json.Unmarshal(rec.Body.Bytes(), &res); err != nil {
					t.Fatalf("%s: 200 with %q: %v", route, rec.Body, err)
				}
				if route == "/apply" && len(res.Results) == 0 {
					t.Errorf("apply answered 200 with no results")
				}
			case http.StatusBadRequest, http.StatusNotFound, http.StatusRequestEntityTooLarge,
				http.StatusUnprocessableEntity, http.StatusInternalServerError:
				var st metav1.Status
				if err := json.Unmarshal(rec.Body.Bytes(), &st); err != nil || st.Message == "" {
					t.Fatalf("%s: %d with %q", route, rec.Code, rec.Body)
				}
			default:
				t.Fatalf("%s: status %d", route, rec.Code)
			}
		}
	})
}
