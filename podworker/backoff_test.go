package podworker

import (
	"testing"
	"time"
)

func TestBackOffCrashLoopSequence(t *testing.T) {
	t0 := time.Unix(1000, 0)
	b := newBackOff(10*time.Second, 300*time.Second)
	const key = "c"

	// First crash: no entry, restart at once.
	if in, _ := b.InBackOffSince(key, t0, t0); in {
		t.Fatal("first restart must not wait")
	}
	if d := b.Next(key, t0); d != 10*time.Second {
		t.Fatalf("first Next = %v, want 10s", d)
	}
	// Then 10, 20, 40, 80, 160, 300, 300 after each further crash.
	now := t0
	for i, want := range []time.Duration{10, 20, 40, 80, 160, 300, 300} {
		want *= time.Second
		exit := now.Add(time.Second) // the container ran one second
		in, until := b.InBackOffSince(key, exit, exit)
		if !in || until.Sub(exit) != want {
			t.Fatalf("crash %d: in=%v wait=%v, want %v", i+2, in, until.Sub(exit), want)
		}
		if in, _ := b.InBackOffSince(key, exit, until); in {
			t.Fatalf("crash %d: still in back-off at expiry", i+2)
		}
		now = until
		b.Next(key, now)
	}
}

func TestBackOffResetAfterLongRun(t *testing.T) {
	t0 := time.Unix(1000, 0)
	b := newBackOff(10*time.Second, 300*time.Second)
	b.Next("c", t0)
	b.Next("c", t0.Add(10*time.Second)) // now 20s
	exit := t0.Add(10*time.Second + 11*time.Minute)
	if in, _ := b.InBackOffSince("c", exit, exit); in {
		t.Fatal("a container that ran for more than 2×cap must restart at once")
	}
	if d := b.Next("c", exit); d != 10*time.Second {
		t.Fatalf("after reset Next = %v, want 10s", d)
	}
}

func TestBackOffTunables(t *testing.T) {
	tests := []struct {
		name         string
		initial, max time.Duration
		want         []time.Duration
	}{
		{"reduced decay", time.Second, 60 * time.Second, []time.Duration{1, 2, 4, 8, 16, 32, 60, 60}},
		{"cap below initial", 10 * time.Second, 5 * time.Second, []time.Duration{5, 5, 5}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b := newBackOff(tt.initial, tt.max)
			now := time.Unix(0, 0)
			for i, w := range tt.want {
				if got := b.Next("k", now); got != w*time.Second {
					t.Fatalf("step %d: %v, want %v", i, got, w*time.Second)
				}
				now = now.Add(time.Second)
			}
		})
	}
}

// A volume that keeps failing is retried as the kubelet's volume manager
// retries it: 500 ms after the first failure, then twice as long each
// time, at most 2m2s.
func TestVolumeBackOffSequence(t *testing.T) {
	b := newBackOff(volumeBackOffInitial, volumeBackOffMax)
	now := time.Unix(1000, 0)
	for i, want := range []time.Duration{
		500 * time.Millisecond, time.Second, 2 * time.Second, 4 * time.Second, 8 * time.Second, 16 * time.Second,
		32 * time.Second, 64 * time.Second, 122 * time.Second, 122 * time.Second,
	} {
		d := b.Next(volumesKey, now)
		if d != want {
			t.Fatalf("failure %d: retry after %v, want %v", i+1, d, want)
		}
		now = now.Add(d)
	}
}
