package main

import (
	"math"
	"testing"
	"time"
)

func TestSlope(t *testing.T) {
	for _, tc := range []struct {
		name string
		x, y []float64
		want float64
	}{
		{"empty", nil, nil, 0},
		{"one point", []float64{1}, []float64{5}, 0},
		{"flat", []float64{0, 1, 2, 3}, []float64{7, 7, 7, 7}, 0},
		{"exact line", []float64{0, 0.5, 1}, []float64{10, 11, 12}, 2},
		{"noise around a line", []float64{0, 1, 2, 3}, []float64{1, 2.5, 2.5, 4}, 0.9},
		{"same x", []float64{1, 1}, []float64{1, 9}, 0},
		{"lengths differ", []float64{0, 1}, []float64{1}, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := slope(tc.x, tc.y); math.Abs(got-tc.want) > 1e-9 {
				t.Errorf("slope = %v, want %v", got, tc.want)
			}
		})
	}
}

func TestSummarizeSeries(t *testing.T) {
	start := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	at := func(m int) time.Time { return start.Add(time.Duration(m) * time.Minute) }
	// rss grows 1 MiB per 15 minutes for the first half hour, then stays
	// flat: the slope over the whole run is positive, the second half's 0.
	// fds is flat; shims appears late.
	samples := []soakSample{
		{at(0), map[string]float64{"rss": 10, "fds": 20}},
		{at(15), map[string]float64{"rss": 11, "fds": 20}},
		{at(30), map[string]float64{"rss": 12, "fds": 20, "shims": 3}},
		{at(45), map[string]float64{"rss": 12, "fds": 20, "shims": 3}},
		{at(60), map[string]float64{"rss": 12, "fds": 20, "shims": 3}},
	}
	got := summarizeSeries(samples, start)
	want := []series{
		{Name: "fds", First: 20, Last: 20, Min: 20, Max: 20},
		{Name: "rss", First: 10, Last: 12, Min: 10, Max: 12, SlopePerH: 2, SlopeHalfPH: 0},
		{Name: "shims", First: 3, Last: 3, Min: 3, Max: 3},
	}
	if len(got) != len(want) {
		t.Fatalf("got %d series, want %d: %+v", len(got), len(want), got)
	}
	for i := range want {
		if got[i] != want[i] {
			t.Errorf("series %d = %+v, want %+v", i, got[i], want[i])
		}
	}
	if summarizeSeries(nil, start) != nil {
		t.Error("no samples must give no series")
	}
}

func TestSoakResultFailed(t *testing.T) {
	for _, tc := range []struct {
		name string
		r    soakResult
		want bool
	}{
		{"clean", soakResult{SteadyRestarts: map[string]int32{"a": 0}}, false},
		{"leak", soakResult{Leaks: 1}, true},
		{"churn error", soakResult{ChurnErrors: []string{"x"}}, true},
		{"scale error", soakResult{ScaleErrors: []string{"x"}}, true},
		{"other error", soakResult{Errors: []string{"x"}}, true},
		{"steady pod restarted", soakResult{SteadyRestarts: map[string]int32{"a": 0, "b": 2}}, true},
		{"crash loop restarts are expected", soakResult{CrashRestarts: 9}, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := tc.r.failed(); got != tc.want {
				t.Errorf("failed() = %v, want %v", got, tc.want)
			}
		})
	}
}
