package kubeapi

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strconv"
	"testing"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/watch"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
)

// A watch from a resourceVersion older than the history kept gets what
// kube-apiserver's watch cache sends: one ERROR event, its 410 Expired
// Status "too old resource version: X (Y)", Y the oldest resourceVersion a
// watch can still start from, and the end of the stream. client-go reads
// it as an expired resourceVersion (its reflectors then list again); from
// Y, the watch works.
func TestWatchTooOldResourceVersion(t *testing.T) {
	s := referenceServer(t)
	s.cache = NewCache(4)
	for i := range 10 {
		p := watchedPod()
		p.Labels = map[string]string{"step": strconv.Itoa(i)}
		s.cache.Put(keyPods, apiPod(p), nil)
	}
	oldest := s.cache.oldestWatchable()
	if oldest <= 1 {
		t.Fatalf("nothing compacted: oldest watchable %d", oldest)
	}
	srv := httptest.NewServer(http.HandlerFunc(s.route))
	defer srv.Close()
	cs, err := kubernetes.NewForConfig(&rest.Config{Host: srv.URL})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	pods := cs.CoreV1().Pods("default")

	w, err := pods.Watch(ctx, metav1.ListOptions{ResourceVersion: "1"})
	if err != nil {
		t.Fatal(err)
	}
	defer w.Stop()
	ev, open := <-w.ResultChan()
	if !open || ev.Type != watch.Error {
		t.Fatalf("first event %v %s, want ERROR", open, ev.Type)
	}
	gone := apierrors.FromObject(ev.Object)
	st, _ := ev.Object.(*metav1.Status)
	want := fmt.Sprintf("too old resource version: 1 (%d)", oldest)
	if !apierrors.IsResourceExpired(gone) || st == nil || st.Code != http.StatusGone || st.Message != want || st.Status != metav1.StatusFailure {
		t.Errorf("error event %+v, want 410 Expired %q", ev.Object, want)
	}
	if _, open := <-w.ResultChan(); open {
		t.Error("the watch went on after its ERROR")
	}

	from, err := pods.Watch(ctx, metav1.ListOptions{ResourceVersion: strconv.FormatUint(oldest, 10)})
	if err != nil {
		t.Fatal(err)
	}
	defer from.Stop()
	if ev := <-from.ResultChan(); ev.Type != watch.Modified {
		t.Errorf("watch from %d: first event %s %+v", oldest, ev.Type, ev.Object)
	}
}
