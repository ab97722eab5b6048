package kubeapi

import (
	"bytes"
	"compress/gzip"
	"crypto/sha512"
	"embed"
	"encoding/hex"
	"fmt"
	"io"
	"net/http"
	"strings"
)

// The OpenAPI v3 documents of the served group versions, gzipped: the
// upstream kube-apiserver's, cut down by openapi/gen.go to the served
// paths. kubectl reads them for `explain`, and to learn that the server
// validates fields itself (the fieldValidation parameter of PATCH), so
// that `apply` needs no --validate=false. They stay compressed in the
// binary and are sent compressed to clients that take gzip (client-go
// does), so they cost no heap while idle.
//
//go:embed openapi/*.json.gz
var openapiFS embed.FS

// openapiDoc is one group version's document.
type openapiDoc struct {
	gz   []byte
	hash string
}

func loadOpenAPI() (map[string]openapiDoc, error) {
	out := map[string]openapiDoc{}
	entries, err := openapiFS.ReadDir("openapi")
	if err != nil {
		return nil, err
	}
	for _, e := range entries {
		gz, err := openapiFS.ReadFile("openapi/" + e.Name())
		if err != nil {
			return nil, err
		}
		// api__v1.json.gz → api/v1; apis__apps__v1 → apis/apps/v1.
		path := strings.ReplaceAll(strings.TrimSuffix(e.Name(), ".json.gz"), "__", "/")
		sum := sha512.Sum512(gz)
		out[path] = openapiDoc{gz: gz, hash: strings.ToUpper(hex.EncodeToString(sum[:]))}
	}
	return out, nil
}

// serveOpenAPIRoot lists the documents, as /openapi/v3 does.
func (s *Server) serveOpenAPIRoot(w http.ResponseWriter) {
	type entry struct {
		ServerRelativeURL string `json:"serverRelativeURL"`
	}
	paths := map[string]entry{}
	for p, d := range s.openapi {
		paths[p] = entry{ServerRelativeURL: "/openapi/v3/" + p + "?hash=" + d.hash}
	}
	writeJSON(w, http.StatusOK, map[string]any{"paths": paths})
}

func (s *Server) serveOpenAPIDoc(w http.ResponseWriter, r *http.Request, path string) {
	d, ok := s.openapi[path]
	if !ok {
		writeError(w, notFoundPath())
		return
	}
	h := w.Header()
	h.Set("Content-Type", "application/json")
	h.Set("Etag", `"`+d.hash+`"`)
	if r.URL.Query().Get("hash") == d.hash {
		h.Set("Cache-Control", "public, immutable")
	}
	h.Set("Vary", "Accept-Encoding")
	if acceptsGzip(r) {
		h.Set("Content-Encoding", "gzip")
		h.Set("Content-Length", fmt.Sprint(len(d.gz)))
		_, _ = w.Write(d.gz)
		return
	}
	zr, err := gzip.NewReader(bytes.NewReader(d.gz))
	if err != nil {
		writeError(w, err)
		return
	}
	_, _ = io.Copy(w, zr)
}

func acceptsGzip(r *http.Request) bool {
	for _, part := range strings.Split(r.Header.Get("Accept-Encoding"), ",") {
		if strings.TrimSpace(strings.Split(part, ";")[0]) == "gzip" {
			return true
		}
	}
	return false
}
