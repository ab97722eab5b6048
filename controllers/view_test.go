package controllers

import (
	"context"
	"fmt"
	"testing"

	"go.uber.org/goleak"
	appsv1 "k8s.io/api/apps/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// A watch dropped for falling behind leaves nothing running, though its
// context goes on: the API's feed relists and watches again under the same
// context, and each relist left a goroutine parked on it.
func TestDroppedWatchLeavesNoGoroutine(t *testing.T) {
	before := goleak.IgnoreCurrent()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	c := &Controller{}
	c.view.init()
	for i := range 100 {
		ch := c.Watch(ctx, 1)
		c.view.mu.Lock()
		for j := range 2 { // one too many
			d := &appsv1.Deployment{ObjectMeta: metav1.ObjectMeta{Namespace: "default", Name: fmt.Sprintf("d%d-%d", i, j)}}
			c.view.update("deployment/default/"+d.Name, d, false)
		}
		c.view.mu.Unlock()
		n := 0
		for range ch {
			n++
		}
		if n != 1 {
			t.Fatalf("watch %d: %d events before it closed, want its buffer's 1", i, n)
		}
	}
	if len(c.view.watchers) != 0 {
		t.Errorf("%d watchers left", len(c.view.watchers))
	}
	goleak.VerifyNone(t, before) // ctx still going
}
