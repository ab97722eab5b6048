//go:build integration

package agent

import (
	"fmt"
	"testing"
	"time"

	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	"go.uber.org/zap/zaptest"
	"go.uber.org/zap/zaptest/observer"

	"github.com/minikubelet/minikubelet/internal/testenv"
)

// The agent releases memory once a burst of pod work is over: after its
// start-up (evicting its binary from the page cache, once), and after a
// pod's start on containerd, which the pod workers report.
func TestAgentReleasesMemoryAfterBursts(t *testing.T) {
	env := testenv.New(t)
	cfg := testConfig(t, env)
	// No resync within the test: it is not what releases here.
	cfg.ResyncPeriod = time.Hour
	core, logs := observer.New(zap.DebugLevel)
	log := zap.New(zapcore.NewTee(zaptest.NewLogger(t).Core(), core))
	a := startAgentLogging(t, cfg, log)

	releases := func() []observer.LoggedEntry { return logs.FilterMessage("released memory").All() }
	evicted := func(e observer.LoggedEntry) bool { return e.ContextMap()["evicted"] == true }
	testenv.WaitFor(t, "the release after start-up", func() (bool, string) {
		return len(releases()) > 0, "none yet"
	})
	if first := releases()[0]; !evicted(first) {
		t.Errorf("the release after start-up did not evict the binary: %v", first.ContextMap())
	}

	a.write("p.yaml", pod("p", "Always", "  - name: c\n    image: busybox\n    command: [sleep, '3600']\n"))
	a.waitPod("p", "Running", time.Minute, statusIs("Running"))
	running := time.Now()
	testenv.WaitFor(t, "a release after the pod started", func() (bool, string) {
		all := releases()
		last := all[len(all)-1]
		return last.Time.After(running), fmt.Sprintf("%d releases, the last at %v", len(all), last.Time)
	})
	for _, e := range releases()[1:] {
		if evicted(e) {
			t.Errorf("a release after the first evicted the binary again: %v", e.ContextMap())
		}
	}
}
