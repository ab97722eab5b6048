package main

import (
	"math"
	"slices"
	"time"
)

// dist summarises a sample of durations.
type dist struct {
	N                  int
	P50, P90, P99, Max time.Duration
}

// summarize returns the distribution of xs (which it does not modify).
func summarize(xs []time.Duration) dist {
	if len(xs) == 0 {
		return dist{}
	}
	s := slices.Clone(xs)
	slices.Sort(s)
	return dist{
		N:   len(s),
		P50: quantile(s, 0.50),
		P90: quantile(s, 0.90),
		P99: quantile(s, 0.99),
		Max: s[len(s)-1],
	}
}

// quantile interpolates linearly between the closest ranks of sorted s
// (numpy's default), so that the p50 of an even count is the mean of the
// two middle values.
func quantile(s []time.Duration, q float64) time.Duration {
	if len(s) == 0 {
		return 0
	}
	pos := q * float64(len(s)-1)
	lo := int(math.Floor(pos))
	hi := min(lo+1, len(s)-1)
	frac := pos - float64(lo)
	return s[lo] + time.Duration(frac*float64(s[hi]-s[lo]))
}

// ms is d in milliseconds, rounded to 0.1 ms, for reports.
func ms(d time.Duration) float64 {
	return math.Round(float64(d)/float64(time.Millisecond)*10) / 10
}

// ms2 is d in milliseconds, rounded to 0.01 ms.
func ms2(d time.Duration) float64 {
	return math.Round(float64(d)/float64(time.Millisecond)*100) / 100
}

// secs is d in seconds, rounded to ms, for reports.
func secs(d time.Duration) float64 {
	return math.Round(float64(d)/float64(time.Millisecond)) / 1000
}

// mib is b bytes in MiB, rounded to 0.01.
func mib(b int64) float64 {
	return math.Round(float64(b)/(1<<20)*100) / 100
}

// round2 rounds to two decimals.
func round2(v float64) float64 { return math.Round(v*100) / 100 }

// ratio is a/b rounded to 0.01, 0 when b is 0.
func ratio[T time.Duration | float64](a, b T) float64 {
	if b == 0 {
		return 0
	}
	return math.Round(float64(a)/float64(b)*100) / 100
}

// gridLateness measures how late each event of a periodic series came
// against a fixed grid of the given period: each time is folded onto the
// grid anchored at the first event, and the earliest folded offset counts
// as on time. A ticker that fires late never fires early, so the earliest
// offset over many periods is the best estimate of the grid itself. Times
// must be ascending; a gap of several periods (a skipped tick) is fine.
func gridLateness(times []time.Time, period time.Duration) []time.Duration {
	if len(times) < 2 || period <= 0 {
		return nil
	}
	offs := make([]time.Duration, len(times))
	for i, t := range times {
		d := t.Sub(times[0])
		k := (d + period/2) / period // nearest grid point
		offs[i] = d - k*period
	}
	lo := slices.Min(offs)
	out := make([]time.Duration, len(offs))
	for i, o := range offs {
		out[i] = o - lo
	}
	return out
}
