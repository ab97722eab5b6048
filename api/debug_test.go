package api

import (
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"

	"go.uber.org/zap/zaptest"
)

func TestGoroutineCount(t *testing.T) {
	srv := NewServer(zaptest.NewLogger(t), Deps{})
	rec := httptest.NewRecorder()
	srv.Handler().ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/debug/goroutines", nil))
	if rec.Code != http.StatusOK {
		t.Fatalf("status %d", rec.Code)
	}
	body, _ := io.ReadAll(rec.Body)
	n, err := strconv.Atoi(strings.TrimSpace(string(body)))
	if err != nil || n < 1 {
		t.Fatalf("body %q: want a positive count (%v)", body, err)
	}
}
