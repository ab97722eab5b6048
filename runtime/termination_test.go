package runtime

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/minikubelet/minikubelet/logs"
)

func TestTerminationMessage(t *testing.T) {
	dir := t.TempDir()
	write := func(name, content string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	// A CRI log of 100 lines "line N", stdout and stderr alternating, the
	// last one split into two partial records.
	var log strings.Builder
	for i := 1; i <= 99; i++ {
		stream := logs.Stdout
		if i%2 == 0 {
			stream = logs.Stderr
		}
		fmt.Fprintf(&log, "2025-01-01T00:00:00.000000000Z %s F line %d\n", stream, i)
	}
	log.WriteString("2025-01-01T00:00:00.000000000Z stdout P last \n2025-01-01T00:00:00.000000000Z stdout F line\n")
	logPath := write("0.log", log.String())
	// The last 80 records: the split line counts twice, as in the kubelet.
	var last80 strings.Builder
	for i := 22; i <= 99; i++ {
		fmt.Fprintf(&last80, "line %d\n", i)
	}
	last80.WriteString("last line\n")
	bigLog := write("big.log", strings.Repeat("2025-01-01T00:00:00.000000000Z stdout F "+strings.Repeat("x", 99)+"\n", 100))

	long := strings.Repeat("a", 5000) + "END"
	tests := []struct {
		name   string
		labels map[string]string
		code   int32
		reason string
		want   string
	}{
		{"file", map[string]string{LabelTerminationLog: write("t1", "bye\n")}, 0, reasonCompleted, "bye\n"},
		{"file keeps its last 4 KiB", map[string]string{LabelTerminationLog: write("t2", long)}, 1, reasonError, long[len(long)-4096:]},
		{"empty file, policy File", map[string]string{LabelTerminationLog: write("t3", ""), LabelLogPath: logPath}, 1, reasonError, ""},
		{"empty file, fallback, failed", map[string]string{LabelTerminationLog: write("t4", ""), LabelLogPath: logPath,
			LabelTerminationMessagePolicy: "FallbackToLogsOnError"}, 1, reasonError, last80.String()},
		{"missing file, fallback, failed", map[string]string{LabelTerminationLog: filepath.Join(dir, "gone"), LabelLogPath: logPath,
			LabelTerminationMessagePolicy: "FallbackToLogsOnError"}, 2, reasonError, last80.String()},
		{"fallback keeps 2 KiB of the log", map[string]string{LabelTerminationLog: write("t5", ""), LabelLogPath: bigLog,
			LabelTerminationMessagePolicy: "FallbackToLogsOnError"}, 137, reasonOOMKilled, strings.Repeat(strings.Repeat("x", 99)+"\n", 21)[100*21-2048:]},
		{"fallback, succeeded: no logs", map[string]string{LabelTerminationLog: write("t6", ""), LabelLogPath: logPath,
			LabelTerminationMessagePolicy: "FallbackToLogsOnError"}, 0, reasonCompleted, ""},
		{"fallback, file written: the file", map[string]string{LabelTerminationLog: write("t7", "from file"), LabelLogPath: logPath,
			LabelTerminationMessagePolicy: "FallbackToLogsOnError"}, 1, reasonError, "from file"},
		{"fallback, never started: no logs", map[string]string{LabelTerminationLog: write("t8", ""), LabelLogPath: logPath,
			LabelTerminationMessagePolicy: "FallbackToLogsOnError"}, 128, reasonStartError, ""},
		{"fallback, log missing", map[string]string{LabelTerminationLog: write("t9", ""), LabelLogPath: filepath.Join(dir, "nolog"),
			LabelTerminationMessagePolicy: "FallbackToLogsOnError"}, 1, reasonError, "Error on reading termination message from logs: "},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := terminationMessage(context.Background(), tt.labels, tt.code, tt.reason)
			if strings.HasSuffix(tt.want, ": ") {
				if !strings.HasPrefix(got, tt.want) {
					t.Errorf("got %q, want it to start with %q", got, tt.want)
				}
				return
			}
			if got != tt.want {
				t.Errorf("got %q (%d bytes), want %q (%d bytes)", got, len(got), tt.want, len(tt.want))
			}
		})
	}
}

func TestTailBuffer(t *testing.T) {
	b := &tailBuffer{max: 5}
	for _, w := range []string{"ab", "cd", "efg", "", "h"} {
		b.Write([]byte(w))
	}
	if string(b.b) != "defgh" {
		t.Errorf("got %q", b.b)
	}
	b.Write([]byte("0123456789"))
	if string(b.b) != "56789" {
		t.Errorf("got %q", b.b)
	}
}
