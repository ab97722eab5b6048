//go:build integration

package agent

import (
	"context"
	"strings"
	"testing"
	"time"

	v1 "k8s.io/api/core/v1"

	"github.com/minikubelet/minikubelet/internal/testenv"
	"github.com/minikubelet/minikubelet/runtime"
)

// The pod resync reads containerd, the source of truth, every period: a
// change no event reports shows in the pods' status within it, and the
// resync disturbs nothing (no container restarted). The resync lists every
// pod at once, so two pods are changed.
func TestResyncPublishesUnreportedChange(t *testing.T) {
	env := testenv.New(t)
	cfg := testConfig(t, env)
	cfg.ResyncPeriod = 2 * time.Second
	a := startAgent(t, cfg)
	names := []string{"rs-a", "rs-b"}
	for _, name := range names {
		a.write(name+".yaml", pod(name, "Always", "  - {name: c, image: busybox, command: [sleep, '3600']}\n"))
	}
	ids := map[string]string{}
	for _, name := range names {
		p := a.waitPod(name, "running", time.Minute, func(p *v1.Pod) bool { return cstatus(p, "c").State.Running != nil })
		ids[name] = cstatus(p, "c").ContainerID
	}

	// The restart count lives in a label of the container's record; an
	// update of a record is no event the agent acts on.
	ctx := env.Ctx(context.Background())
	for _, name := range names {
		id := strings.TrimPrefix(ids[name], "containerd://")
		rec, err := env.Client.ContainerService().Get(ctx, id)
		if err != nil {
			t.Fatalf("container %s of %s: %v", id, name, err)
		}
		rec.Labels[runtime.LabelRestartCount] = "7"
		if _, err := env.Client.ContainerService().Update(ctx, rec, "labels."+runtime.LabelRestartCount); err != nil {
			t.Fatalf("update container %s of %s: %v", id, name, err)
		}
	}
	for _, name := range names {
		p := a.waitPod(name, "the restart count containerd holds", time.Minute, func(p *v1.Pod) bool { return cstatus(p, "c").RestartCount == 7 })
		if st := cstatus(p, "c"); st.ContainerID != ids[name] || st.State.Running == nil {
			t.Errorf("%s: the resync changed the container: %+v, was %s", name, st, ids[name])
		}
	}
}
