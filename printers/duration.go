package printers

import (
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/duration"
)

// HumanDuration formats d as kubectl's AGE column does: about two significant
// figures (45s, 3m20s, 47m, 5h30m, 30h, 3d4h, 200d, 3y20d). A slightly
// negative duration (clock skew of at most one second) prints as 0s, a more
// negative one as <invalid>.
//
// It is apimachinery's duration.HumanDuration, the function kubectl and the
// API server call, so the boundaries match exactly.
func HumanDuration(d time.Duration) string {
	return duration.HumanDuration(d)
}

// TranslateTimestampSince is the age of t at now, or "<unknown>" when t is
// the zero time.
func TranslateTimestampSince(t metav1.Time, now time.Time) string {
	if t.IsZero() {
		return "<unknown>"
	}
	return HumanDuration(now.Sub(t.Time))
}

// translateMicroTimestampSince is TranslateTimestampSince for MicroTime
// (events' eventTime and series.lastObservedTime).
func translateMicroTimestampSince(t metav1.MicroTime, now time.Time) string {
	if t.IsZero() {
		return "<unknown>"
	}
	return HumanDuration(now.Sub(t.Time))
}

func nowOr(now time.Time) time.Time {
	if now.IsZero() {
		return time.Now()
	}
	return now
}
