package main

import (
	"context"
	"errors"
	"testing"
	"time"
)

func TestParseMachineBusy(t *testing.T) {
	for _, tc := range []struct {
		name, stat string
		want       time.Duration
		wantErr    bool
	}{
		{"all fields", "cpu  100 5 50 9000 40 1 2 3 7 0\ncpu0 1 2 3 4\n", 161 * 10 * time.Millisecond, false},
		{"old kernel, no steal", "cpu 100 0 50 9000 40 1 2\n", 153 * 10 * time.Millisecond, false},
		{"no cpu line", "intr 1 2 3\n", 0, true},
		{"bad number", "cpu 1 x 3 4 5\n", 0, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := parseMachineBusy([]byte(tc.stat))
			if (err != nil) != tc.wantErr {
				t.Fatalf("error %v, want error %v", err, tc.wantErr)
			}
			if got != tc.want {
				t.Errorf("busy %v, want %v", got, tc.want)
			}
		})
	}
}

func TestWaitQuiet(t *testing.T) {
	const window, maxBusy = time.Millisecond, 10 * time.Millisecond
	for _, tc := range []struct {
		name      string
		readings  []time.Duration // busy at each read
		wantReads int
	}{
		{"quiet at once", []time.Duration{0, 5 * time.Millisecond}, 2},
		{"busy, then quiet", []time.Duration{0, 100 * time.Millisecond, 300 * time.Millisecond, 310 * time.Millisecond}, 4},
	} {
		t.Run(tc.name, func(t *testing.T) {
			reads := 0
			busy := func() (time.Duration, error) {
				if reads == len(tc.readings) {
					return 0, errors.New("read after the machine was quiet")
				}
				reads++
				return tc.readings[reads-1], nil
			}
			if err := waitQuiet(context.Background(), busy, window, maxBusy); err != nil {
				t.Fatal(err)
			}
			if reads != tc.wantReads {
				t.Errorf("%d reads, want %d", reads, tc.wantReads)
			}
		})
	}
	t.Run("never quiet", func(t *testing.T) {
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Millisecond)
		defer cancel()
		var n time.Duration
		err := waitQuiet(ctx, func() (time.Duration, error) { n += time.Second; return n, nil }, window, maxBusy)
		if !errors.Is(err, context.DeadlineExceeded) {
			t.Fatalf("error %v, want the deadline", err)
		}
	})
}
