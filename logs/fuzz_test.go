package logs

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"testing"
	"time"
)

// FuzzRead: a log file of any content is read to its end (malformed lines
// skipped) with any tail and limit, never panics or hangs.
func FuzzRead(f *testing.F) {
	f.Add([]byte("2024-01-02T03:04:05.123456789Z stdout P a\n2024-01-02T03:04:05.2Z stdout F b\n"), int64(-1), int64(0), "")
	f.Add([]byte("2024-01-02T03:04:05Z stderr F x\nbroken\n\n\n"), int64(1), int64(3), "stderr")
	f.Add([]byte("no newline at the end"), int64(5), int64(-1), "stdout")
	f.Fuzz(func(t *testing.T, data []byte, tail, limit int64, stream string) {
		if stream != "" && stream != Stdout && stream != Stderr {
			stream = ""
		}
		path := filepath.Join(t.TempDir(), "0.log")
		if err := os.WriteFile(path, data, 0o644); err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		var out bytes.Buffer
		err := Read(ctx, path, ReadOptions{TailLines: tail, LimitBytes: limit, Stream: stream, Timestamps: tail%2 == 0}, &out, nil)
		if err != nil {
			t.Fatalf("Read: %v", err)
		}
		if limit > 0 && int64(out.Len()) > limit {
			t.Errorf("%d bytes written past the limit of %d", out.Len(), limit)
		}
	})
}
