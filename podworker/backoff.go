package podworker

import "time"

// backOff is the kubelet's per-key exponential back-off (client-go
// flowcontrol.Backoff without jitter), used for container restarts
// (CrashLoopBackOff) and image pulls. It is owned by one pod worker and is
// not safe for concurrent use.
type backOff struct {
	initial, max time.Duration
	entries      map[string]*backOffEntry
}

type backOffEntry struct {
	backoff    time.Duration
	lastUpdate time.Time
}

func newBackOff(initial, max time.Duration) *backOff {
	if initial > max {
		// KEP-4603: a configured cap below the initial delay lowers the initial delay too.
		initial = max
	}
	return &backOff{initial: initial, max: max, entries: map[string]*backOffEntry{}}
}

// expired reports whether an entry last updated at lastUpdate no longer
// applies at eventTime: the thing ran (or stayed quiet) for more than twice
// the cap, so the sequence starts over.
func (b *backOff) expired(e *backOffEntry, eventTime time.Time) bool {
	return eventTime.Sub(e.lastUpdate) > 2*b.max
}

// Next records an attempt at now and returns the delay that will apply to
// the following one.
func (b *backOff) Next(key string, now time.Time) time.Duration {
	e, ok := b.entries[key]
	if !ok || b.expired(e, now) {
		e = &backOffEntry{backoff: b.initial}
		b.entries[key] = e
	} else {
		e.backoff = min(2*e.backoff, b.max)
	}
	e.lastUpdate = now
	return e.backoff
}

// InBackOffSince reports whether an attempt at now must wait because the
// previous failure happened at eventTime, and until when.
func (b *backOff) InBackOffSince(key string, eventTime, now time.Time) (bool, time.Time) {
	e, ok := b.entries[key]
	if !ok || b.expired(e, eventTime) {
		return false, time.Time{}
	}
	until := eventTime.Add(e.backoff)
	return now.Before(until), until
}

// Current returns the delay in force for key (0 when none).
func (b *backOff) Current(key string) time.Duration {
	if e, ok := b.entries[key]; ok {
		return e.backoff
	}
	return 0
}

// Reset forgets key: its next attempt starts the sequence over.
func (b *backOff) Reset(key string) { delete(b.entries, key) }

// GC drops entries idle for more than twice the cap.
func (b *backOff) GC(now time.Time) {
	for k, e := range b.entries {
		if b.expired(e, now) {
			delete(b.entries, k)
		}
	}
}

// InBackOffSinceUpdate reports whether an attempt at now must wait because
// the last recorded attempt was less than the current delay ago (the image
// pull back-off's rule).
func (b *backOff) InBackOffSinceUpdate(key string, now time.Time) (bool, time.Time) {
	e, ok := b.entries[key]
	if !ok || b.expired(e, now) {
		return false, time.Time{}
	}
	until := e.lastUpdate.Add(e.backoff)
	return now.Before(until), until
}

// retryGate paces the retries of something that failed for want of a
// ConfigMap or Secret (a volume, a container's configuration): an attempt
// waits out the back-off since the last failure, unless the ConfigMaps and
// Secrets changed since (the manager's configGen moved), which is what
// usually cures it. Owned by one pod worker, like backOff.
type retryGate struct {
	b *backOff
	// gen is the configGen at each key's last failure.
	gen map[string]uint64
}

func newRetryGate(b *backOff) *retryGate {
	return &retryGate{b: b, gen: map[string]uint64{}}
}

// Wait reports whether an attempt for key at now, with the configuration at
// generation gen, must wait, and until when.
func (g *retryGate) Wait(key string, gen uint64, now time.Time) (bool, time.Time) {
	if last, ok := g.gen[key]; !ok || last != gen {
		return false, time.Time{}
	}
	return g.b.InBackOffSinceUpdate(key, now)
}

// Failed records a failed attempt at now and returns when the next one is
// due.
func (g *retryGate) Failed(key string, gen uint64, now time.Time) time.Time {
	g.gen[key] = gen
	return now.Add(g.b.Next(key, now))
}

// Succeeded forgets key, so that a later failure starts the back-off over.
func (g *retryGate) Succeeded(key string) {
	delete(g.gen, key)
	g.b.Reset(key)
}
