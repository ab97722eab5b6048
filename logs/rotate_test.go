package logs

import (
	"bytes"
	"compress/gzip"
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"
)

func TestParseRotated(t *testing.T) {
	for _, tt := range []struct {
		name string
		ok   bool
		want segment // name, stamp, seq and forms
	}{
		{"0.log.20250501-120000", true, segment{name: "0.log.20250501-120000", stamp: "20250501-120000", plain: true}},
		{"0.log.20250501-120000.gz", true, segment{name: "0.log.20250501-120000", stamp: "20250501-120000", gz: true}},
		{"0.log.20250501-120000.gz.tmp", true, segment{name: "0.log.20250501-120000", stamp: "20250501-120000", tmp: true}},
		{"0.log.20250501-120000-3", true, segment{name: "0.log.20250501-120000-3", stamp: "20250501-120000", seq: 3, plain: true}},
		{"0.log.20250501-120000-12.gz", true, segment{name: "0.log.20250501-120000-12", stamp: "20250501-120000", seq: 12, gz: true}},
		{"0.log", false, segment{}},
		{"10.log.20250501-120000", false, segment{}},  // another attempt's
		{"0.log.20250501-12000", false, segment{}},    // short stamp
		{"0.log.2025050a-120000", false, segment{}},   // not digits
		{"0.log.20250501_120000", false, segment{}},   // wrong separator
		{"0.log.20250501-120000-0", false, segment{}}, // seq starts at 1
		{"0.log.20250501-120000-01", false, segment{}},
		{"0.log.20250501-120000x", false, segment{}},
		{"0.log.20250501-120000.tmp", false, segment{}},
	} {
		got, ok := parseRotated("0.log", tt.name)
		if ok != tt.ok || got != tt.want {
			t.Errorf("parseRotated(%q) = %+v, %v; want %+v, %v", tt.name, got, ok, tt.want, tt.ok)
		}
	}
}

func TestNextRotatedName(t *testing.T) {
	seg := func(stamp string, seq int) segment { return segment{stamp: stamp, seq: seq} }
	for _, tt := range []struct {
		name     string
		stamp    string
		existing []segment
		want     string
	}{
		{"first", "20250501-120000", nil, "0.log.20250501-120000"},
		{"later second", "20250501-120001", []segment{seg("20250501-120000", 0)}, "0.log.20250501-120001"},
		{"same second", "20250501-120000", []segment{seg("20250501-120000", 0)}, "0.log.20250501-120000-1"},
		{"same second again", "20250501-120000", []segment{seg("20250501-120000", 0), seg("20250501-120000", 1)}, "0.log.20250501-120000-2"},
		{"clock went back", "20250501-110000", []segment{seg("20250501-120000", 0)}, "0.log.20250501-120000-1"},
	} {
		if got := nextRotatedName("0.log", tt.stamp, tt.existing); got != tt.want {
			t.Errorf("%s: %q, want %q", tt.name, got, tt.want)
		}
	}
}

// rotatedFiles lists the names in the log's directory besides the live file.
func rotatedFiles(t *testing.T, path string) []string {
	t.Helper()
	entries, err := os.ReadDir(filepath.Dir(path))
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, e := range entries {
		if e.Name() != filepath.Base(path) {
			names = append(names, e.Name())
		}
	}
	return names
}

func gunzip(t *testing.T, path string) string {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	zr, err := gzip.NewReader(f)
	if err != nil {
		t.Fatal(err)
	}
	b, err := io.ReadAll(zr)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// record is the file form of a one-record line written at second sec by
// tickClock (the clock ticks once per write and once per rotation).
func rec(sec int, content string) string { return ts(sec) + " stdout F " + content + "\n" }

func TestRotation(t *testing.T) {
	// Each record is 38 bytes ("<20-byte time> stdout F lineN\n"): a 100
	// byte limit holds two.
	f, path := openTest(t, WithRotation(100, 3))
	out := f.Stream(Stdout)
	for i := range 7 {
		write(t, out, fmt.Sprintf("line%d\n", i))
	}
	if err := f.Close(); err != nil { // waits for the compression
		t.Fatal(err)
	}
	// Records at t0+0,1; line2 stamped 2, rotation named at 3; records
	// at 4; line4 stamped 5, rotation 6; 7; line6 stamped 8, rotation 9.
	// Three files kept: the live one, the newest rotation plain, the one
	// before compressed; the oldest removed.
	want := []string{"0.log.20250501-120006.gz", "0.log.20250501-120009"}
	if got := rotatedFiles(t, path); !slices.Equal(got, want) {
		t.Fatalf("rotated files %q, want %q", got, want)
	}
	dir := filepath.Dir(path)
	if got := gunzip(t, filepath.Join(dir, want[0])); got != rec(2, "line2")+rec(4, "line3") {
		t.Errorf("compressed rotation holds %q", got)
	}
	if got := readFile(t, filepath.Join(dir, want[1])); got != rec(5, "line4")+rec(7, "line5") {
		t.Errorf("newest rotation holds %q", got)
	}
	if got := readFile(t, path); got != rec(8, "line6") {
		t.Errorf("live file holds %q", got)
	}
	// Read sees the three files as one log.
	if got := readAll(t, path, all()); got != "line2\nline3\nline4\nline5\nline6\n" {
		t.Errorf("Read = %q", got)
	}
}

func TestRotationNeverExceedsMaxSize(t *testing.T) {
	const maxSize = 4096
	path := filepath.Join(t.TempDir(), "0.log")
	f, err := OpenFile(path, WithRotation(maxSize, 4))
	if err != nil {
		t.Fatal(err)
	}
	out := f.Stream(Stdout)
	// One large chunk of short lines, as `yes` writes: it is cut into
	// files at record boundaries.
	write(t, out, strings.Repeat("y\n", 20000))
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
	names := rotatedFiles(t, path)
	if len(names) != 3 {
		t.Fatalf("rotated files %q, want 3", names)
	}
	st, err := os.Stat(path)
	if err != nil || st.Size() > maxSize {
		t.Fatalf("live file %v, %v", st.Size(), err)
	}
	for _, n := range names {
		content := ""
		if strings.HasSuffix(n, ".gz") {
			content = gunzip(t, filepath.Join(filepath.Dir(path), n))
		} else {
			content = readFile(t, filepath.Join(filepath.Dir(path), n))
		}
		if len(content) > maxSize || !strings.HasSuffix(content, " stdout F y\n") {
			t.Errorf("%s: %d bytes, ends %q", n, len(content), content[max(len(content)-20, 0):])
		}
	}
	// Most rotations happened within the same second: the names still
	// order them.
	segs, err := listRotated(path)
	if err != nil || len(segs) != 3 || !segs[0].before(segs[1]) || !segs[1].before(segs[2]) {
		t.Errorf("listRotated = %+v, %v", segs, err)
	}
}

func TestRotationContinuesAfterReopen(t *testing.T) {
	// The agent restarts: the new writer counts what is already there.
	f, path := openTest(t, WithRotation(100, 5))
	write(t, f.Stream(Stdout), "line0\nline1\n")
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
	f2, err := OpenFile(path, WithRotation(100, 5), WithClock(tickClock()))
	if err != nil {
		t.Fatal(err)
	}
	write(t, f2.Stream(Stdout), "line2\n")
	if err := f2.Close(); err != nil {
		t.Fatal(err)
	}
	if got := rotatedFiles(t, path); len(got) != 1 {
		t.Errorf("rotated files %q, want one", got)
	}
	if got := readAll(t, path, all()); got != "line0\nline1\nline2\n" {
		t.Errorf("Read = %q", got)
	}
}

func TestCompressRotatedRecovers(t *testing.T) {
	// Leftovers of an agent killed mid-compression: a whole .gz beside its
	// plain file, a cut-short .gz.tmp, and an excess of files.
	dir := t.TempDir()
	path := filepath.Join(dir, "0.log")
	put := func(name, content string) {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(content), 0o640); err != nil {
			t.Fatal(err)
		}
	}
	var gz bytes.Buffer
	zw := gzip.NewWriter(&gz)
	_, _ = io.WriteString(zw, rec(1, "one"))
	_ = zw.Close()
	put("0.log.20250501-120000", rec(0, "zero"))
	put("0.log.20250501-120001", rec(1, "one"))
	put("0.log.20250501-120001.gz", gz.String())
	put("0.log.20250501-120002", rec(2, "two"))
	put("0.log.20250501-120002.gz.tmp", "cut short")
	put("0.log.20250501-120003.gz.tmp", "orphan")
	put("0.log.20250501-120004", rec(4, "four"))
	put("0.log", rec(5, "five"))
	if err := compressRotated(path, 4); err != nil {
		t.Fatal(err)
	}
	want := []string{"0.log.20250501-120001.gz", "0.log.20250501-120002.gz", "0.log.20250501-120004"}
	if got := rotatedFiles(t, path); !slices.Equal(got, want) {
		t.Errorf("files %q, want %q", got, want)
	}
	if got := readAll(t, path, all()); got != "one\ntwo\nfour\nfive\n" {
		t.Errorf("Read = %q", got)
	}
}

// rotatedLog makes a log of lines line0…line(n-1) over several files:
// four records per file, the older files compressed.
func rotatedLog(t *testing.T, n int) string {
	t.Helper()
	f, path := openTest(t, WithRotation(4*38, 10))
	out, errw := f.Stream(Stdout), f.Stream(Stderr)
	for i := range n {
		w := out
		if i%2 == 1 {
			w = errw
		}
		write(t, w, fmt.Sprintf("line%d\n", i))
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
	if segs, err := listRotated(path); err != nil || len(segs) < 2 || !segs[0].gz {
		t.Fatalf("want a rotated log with compressed files, have %+v, %v", segs, err)
	}
	return path
}

func TestReadAcrossRotations(t *testing.T) {
	path := rotatedLog(t, 10) // files: 0-3 (gz), 4-7, 8-9 (live)
	lines := func(from, to int, step int) string {
		var b strings.Builder
		for i := from; i <= to; i += step {
			fmt.Fprintf(&b, "line%d\n", i)
		}
		return b.String()
	}
	for _, tt := range []struct {
		name string
		opts ReadOptions
		want string
	}{
		{"all", all(), lines(0, 9, 1)},
		{"tail within the live file", ReadOptions{TailLines: 2}, lines(8, 9, 1)},
		{"tail into the newest rotation", ReadOptions{TailLines: 3}, lines(7, 9, 1)},
		{"tail of exactly two files", ReadOptions{TailLines: 6}, lines(4, 9, 1)},
		{"tail into the compressed one", ReadOptions{TailLines: 7}, lines(3, 9, 1)},
		{"tail past the start", ReadOptions{TailLines: 100}, lines(0, 9, 1)},
		{"tail 0", ReadOptions{TailLines: 0}, ""},
		{"one stream", ReadOptions{TailLines: -1, Stream: Stderr}, lines(1, 9, 2)},
		{"tail of one stream across files", ReadOptions{TailLines: 3, Stream: Stdout}, lines(4, 8, 2)},
		{"limit bytes across files", ReadOptions{TailLines: -1, LimitBytes: 8}, "line0\nli"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			if got := readAll(t, path, tt.opts); got != tt.want {
				t.Errorf("Read = %q, want %q", got, tt.want)
			}
		})
	}
}

// TestFollowAcrossManyRotations follows a log whose writer rotates faster
// than the reader looks: every line arrives once, in order.
func TestFollowAcrossManyRotations(t *testing.T) {
	path := filepath.Join(t.TempDir(), "0.log")
	f, err := OpenFile(path, WithRotation(4096, 1000))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	out := f.Stream(Stdout)
	write(t, out, "first\n")
	r := follow(t, path, all())
	waitFor(t, "the first line", func() bool { return r.out.String() == "first\n" })

	var want strings.Builder
	want.WriteString("first\n")
	for i := range 2000 {
		line := fmt.Sprintf("line %d %s\n", i, strings.Repeat("x", i%50))
		want.WriteString(line)
		write(t, out, line)
	}
	if n := len(rotatedFiles(t, path)); n < 10 {
		t.Fatalf("only %d rotations", n)
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
	close(r.done)
	if err := r.wait(t); err != nil {
		t.Fatal(err)
	}
	if got := r.out.String(); got != want.String() {
		t.Errorf("followed %d bytes, want %d; first difference near %q", len(got), want.Len(), firstDiff(got, want.String()))
	}
}

func firstDiff(a, b string) string {
	for i := range min(len(a), len(b)) {
		if a[i] != b[i] {
			return a[max(i-20, 0):min(i+20, len(a))]
		}
	}
	return "(one is a prefix of the other)"
}

// BenchmarkCopyShortLines measures the agent's cost of logging output made
// of short lines (`yes`), the worst case: per MB of container output.
func BenchmarkCopyShortLines(b *testing.B) {
	chunk := []byte(strings.Repeat("y\n", 32*1024))
	for _, rot := range []bool{false, true} {
		b.Run(fmt.Sprintf("rotation=%v", rot), func(b *testing.B) {
			var opts []Option
			if rot {
				opts = append(opts, WithRotation(10<<20, 5))
			}
			f, err := OpenFile(filepath.Join(b.TempDir(), "0.log"), opts...)
			if err != nil {
				b.Fatal(err)
			}
			out := f.Stream(Stdout)
			b.SetBytes(int64(len(chunk)))
			b.ResetTimer()
			for range b.N {
				if _, err := out.Write(chunk); err != nil {
					b.Fatal(err)
				}
			}
			b.StopTimer()
			_ = f.Close()
		})
	}
}

// The concurrency of a writer rotating while streams write from two
// goroutines: every record whole, none lost.
func TestRotationWithConcurrentStreams(t *testing.T) {
	path := filepath.Join(t.TempDir(), "0.log")
	f, err := OpenFile(path, WithRotation(2048, 1000))
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	for _, name := range []string{Stdout, Stderr} {
		s := f.Stream(name)
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range 300 {
				fmt.Fprintf(s, "%s %d\n", name, i)
			}
		}()
	}
	wg.Wait()
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	if err := Read(context.Background(), path, ReadOptions{TailLines: -1, Timestamps: true}, &buf, nil); err != nil {
		t.Fatal(err)
	}
	next := map[string]int{}
	var last time.Time
	for _, line := range strings.Split(strings.TrimSuffix(buf.String(), "\n"), "\n") {
		stamp, rest, _ := strings.Cut(line, " ")
		tm, err := time.Parse(time.RFC3339Nano, stamp)
		if err != nil || tm.Before(last) {
			t.Fatalf("bad or out-of-order line %q", line)
		}
		last = tm
		var name string
		var i int
		if _, err := fmt.Sscanf(rest, "%s %d", &name, &i); err != nil || i != next[name] {
			t.Fatalf("line %q: want %s %d", line, name, next[name])
		}
		next[name]++
	}
	if next[Stdout] != 300 || next[Stderr] != 300 {
		t.Errorf("read %v", next)
	}
}
