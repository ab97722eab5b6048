package logs

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// WithMaxLineSize sets the longest content of one record; longer lines are
// split. n <= 0 means no limit.
func WithMaxLineSize(n int) Option { return func(f *File) { f.maxLine = n } }

// WithClock sets the clock that timestamps records .
func WithClock(now func() time.Time) Option { return func(f *File) { f.now = now } }

var t0 = time.Date(2025, 5, 1, 12, 0, 0, 0, time.UTC)

// tickClock returns t0, t0+1s, t0+2s … on successive calls.
func tickClock() func() time.Time {
	var mu sync.Mutex
	n := 0
	return func() time.Time {
		mu.Lock()
		defer mu.Unlock()
		t := t0.Add(time.Duration(n) * time.Second)
		n++
		return t
	}
}

func ts(sec int) string { return t0.Add(time.Duration(sec) * time.Second).Format(time.RFC3339Nano) }

func openTest(t *testing.T, opts ...Option) (*File, string) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "ns_pod_uid", "c", "0.log")
	f, err := OpenFile(path, append([]Option{WithClock(tickClock())}, opts...)...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = f.Close() })
	return f, path
}

func readFile(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func write(t *testing.T, w io.Writer, s string) {
	t.Helper()
	if _, err := io.WriteString(w, s); err != nil {
		t.Fatal(err)
	}
}

func readAll(t *testing.T, path string, opts ReadOptions) string {
	t.Helper()
	var buf bytes.Buffer
	if err := Read(context.Background(), path, opts, &buf, nil); err != nil {
		t.Fatal(err)
	}
	return buf.String()
}

func all() ReadOptions { return ReadOptions{TailLines: -1} }

func TestOpenFileCreatesDirsAndMode(t *testing.T) {
	_, path := openTest(t)
	st, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if st.Mode().Perm() != 0o640 {
		t.Errorf("mode = %v, want 0640", st.Mode().Perm())
	}
}

func TestStreamRecords(t *testing.T) {
	f, path := openTest(t)
	out := f.Stream(Stdout)
	// Writes need not follow line boundaries; CRLF loses its CR; an empty
	// line is an F record with empty content.
	write(t, out, "hello\nwor")
	write(t, out, "ld\r\n")
	write(t, out, "\n")
	write(t, out, "tail without newline")
	if err := out.Close(); err != nil {
		t.Fatal(err)
	}
	want := ts(0) + " stdout F hello\n" +
		ts(1) + " stdout F world\n" +
		ts(2) + " stdout F \n" +
		ts(3) + " stdout P tail without newline\n"
	if got := readFile(t, path); got != want {
		t.Errorf("file:\n%s\nwant:\n%s", got, want)
	}
	if got := readAll(t, path, all()); got != "hello\nworld\n\ntail without newline" {
		t.Errorf("Read = %q", got)
	}
	if _, err := out.Write([]byte("x\n")); !errors.Is(err, os.ErrClosed) {
		t.Errorf("write after close: err = %v, want ErrClosed", err)
	}
	if err := out.Close(); err != nil {
		t.Errorf("second Close: %v", err)
	}
}

func TestLongLines(t *testing.T) {
	tests := []struct {
		name   string
		writes []string
		want   []string // records as "tag content"
		read   string
	}{
		{"fits", []string{"abcd\n"}, []string{"F abcd"}, "abcd\n"},
		{"split once", []string{"abcdefgh\n"}, []string{"P abcd", "F efgh"}, "abcdefgh\n"},
		{"split twice", []string{"abcdefghij\n"}, []string{"P abcd", "P efgh", "F ij"}, "abcdefghij\n"},
		{"split across writes", []string{"abc", "defg", "hij\nk\n"}, []string{"P abcd", "P efgh", "F ij", "F k"}, "abcdefghij\nk\n"},
		{"unterminated", []string{"abcdefghij"}, []string{"P abcd", "P efgh", "P ij"}, "abcdefghij"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f, path := openTest(t, WithMaxLineSize(4))
			s := f.Stream(Stderr)
			for _, w := range tt.writes {
				write(t, s, w)
			}
			if err := f.Close(); err != nil {
				t.Fatal(err)
			}
			var got []string
			for _, line := range strings.SplitAfter(readFile(t, path), "\n") {
				if line == "" {
					continue
				}
				_, stream, partial, content, err := ParseLine([]byte(line))
				if err != nil || stream != Stderr {
					t.Fatalf("bad record %q: %v", line, err)
				}
				tag := "F"
				if partial {
					tag = "P"
				}
				got = append(got, tag+" "+string(content))
			}
			if strings.Join(got, "|") != strings.Join(tt.want, "|") {
				t.Errorf("records = %q, want %q", got, tt.want)
			}
			if r := readAll(t, path, all()); r != tt.read {
				t.Errorf("Read = %q, want %q", r, tt.read)
			}
		})
	}
}

func TestDefaultMaxLineSize(t *testing.T) {
	f, path := openTest(t)
	line := strings.Repeat("x", 40*1024)
	write(t, f.Stream(Stdout), line+"\n")
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
	records := strings.Split(strings.TrimSuffix(readFile(t, path), "\n"), "\n")
	if len(records) != 3 || !strings.Contains(records[0], " P ") || !strings.Contains(records[2], " F ") {
		t.Fatalf("got %d records, want P,P,F", len(records))
	}
	if got := readAll(t, path, all()); got != line+"\n" {
		t.Errorf("Read did not join the line back (%d bytes)", len(got))
	}
}

func TestInterleavedStreams(t *testing.T) {
	f, path := openTest(t)
	out, errw := f.Stream(Stdout), f.Stream(Stderr)
	write(t, out, "o1\n")
	write(t, errw, "e1\n")
	write(t, out, "o2 part ")
	write(t, errw, "e2\n")
	write(t, out, "rest\n")
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
	want := ts(0) + " stdout F o1\n" +
		ts(1) + " stderr F e1\n" +
		ts(2) + " stderr F e2\n" +
		ts(3) + " stdout F o2 part rest\n"
	if got := readFile(t, path); got != want {
		t.Errorf("file:\n%s\nwant:\n%s", got, want)
	}
	for _, tt := range []struct{ stream, want string }{
		{"", "o1\ne1\ne2\no2 part rest\n"},
		{Stdout, "o1\no2 part rest\n"},
		{Stderr, "e1\ne2\n"},
	} {
		if got := readAll(t, path, ReadOptions{TailLines: -1, Stream: tt.stream}); got != tt.want {
			t.Errorf("stream %q: Read = %q, want %q", tt.stream, got, tt.want)
		}
	}
}

func TestConcurrentWritersNeverInterleaveRecords(t *testing.T) {
	path := filepath.Join(t.TempDir(), "0.log")
	f, err := OpenFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	for _, name := range []string{Stdout, Stderr} {
		s := f.Stream(name)
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < 500; i++ {
				fmt.Fprintf(s, "%s line %d %s\n", name, i, strings.Repeat(name[3:], 50))
			}
		}()
	}
	wg.Wait()
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
	counts := map[string]int{}
	for _, line := range strings.Split(strings.TrimSuffix(readFile(t, path), "\n"), "\n") {
		_, stream, partial, content, err := ParseLine([]byte(line))
		if err != nil || partial || !strings.HasPrefix(string(content), stream+" line ") {
			t.Fatalf("corrupt record %q (%v)", line, err)
		}
		counts[stream]++
	}
	if counts[Stdout] != 500 || counts[Stderr] != 500 {
		t.Errorf("counts = %v", counts)
	}
}

// writeLines makes a log with records "line0" … at t0, t0+1s …, stdout for
// even and stderr for odd numbers.
func writeLines(t *testing.T, n int) string {
	t.Helper()
	f, path := openTest(t)
	out, errw := f.Stream(Stdout), f.Stream(Stderr)
	for i := 0; i < n; i++ {
		w := out
		if i%2 == 1 {
			w = errw
		}
		write(t, w, fmt.Sprintf("line%d\n", i))
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
	return path
}

func TestReadOptions(t *testing.T) {
	path := writeLines(t, 5)
	since := t0.Add(3 * time.Second)
	tests := []struct {
		name string
		opts ReadOptions
		want string
	}{
		{"all", all(), "line0\nline1\nline2\nline3\nline4\n"},
		{"tail 2", ReadOptions{TailLines: 2}, "line3\nline4\n"},
		{"tail 0", ReadOptions{TailLines: 0}, ""},
		{"tail more than there is", ReadOptions{TailLines: 10}, "line0\nline1\nline2\nline3\nline4\n"},
		{"tail of one stream", ReadOptions{TailLines: 2, Stream: Stdout}, "line2\nline4\n"},
		{"tail 1 of stderr", ReadOptions{TailLines: 1, Stream: Stderr}, "line3\n"},
		{"since", ReadOptions{TailLines: -1, SinceTime: &since}, "line3\nline4\n"},
		{"since and tail", ReadOptions{TailLines: 3, SinceTime: &since}, "line3\nline4\n"},
		{"timestamps", ReadOptions{TailLines: 1, Timestamps: true}, "2025-05-01T12:00:04.000000000Z line4\n"},
		{"limit bytes", ReadOptions{TailLines: -1, LimitBytes: 8}, "line0\nli"},
		{"limit bytes on a line end", ReadOptions{TailLines: -1, LimitBytes: 6}, "line0\n"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := readAll(t, path, tt.opts); got != tt.want {
				t.Errorf("Read = %q, want %q", got, tt.want)
			}
		})
	}
}

func TestTailCountsRecordsLikeTheKubelet(t *testing.T) {
	// A long line split into records counts once per record; an incomplete
	// last line (writer mid-record) comes along with the tail.
	path := filepath.Join(t.TempDir(), "0.log")
	content := ts(0) + " stdout F a\n" + ts(1) + " stdout P bb\n" + ts(2) + " stdout F cc\n" + ts(3) + " stdout F d"
	if err := os.WriteFile(path, []byte(content), 0o640); err != nil {
		t.Fatal(err)
	}
	if got := readAll(t, path, ReadOptions{TailLines: 1}); got != "cc\n" {
		t.Errorf("tail 1 = %q", got)
	}
	if got := readAll(t, path, ReadOptions{TailLines: 2}); got != "bbcc\n" {
		t.Errorf("tail 2 = %q", got)
	}
	if got := readAll(t, path, ReadOptions{TailLines: -1}); got != "a\nbbcc\nd" {
		t.Errorf("all = %q", got)
	}
	// The kubelet prefixes each record, partial ones included.
	want := "2025-05-01T12:00:01.000000000Z bb2025-05-01T12:00:02.000000000Z cc\n"
	if got := readAll(t, path, ReadOptions{TailLines: 2, Timestamps: true}); got != want {
		t.Errorf("tail 2 with timestamps = %q, want %q", got, want)
	}
}

func TestMalformedLinesAreSkipped(t *testing.T) {
	path := filepath.Join(t.TempDir(), "0.log")
	content := "garbage\n" +
		"\n" +
		"not-a-time stdout F x\n" +
		ts(0) + " stdin F wrong stream\n" +
		ts(0) + " stdout\n" +
		ts(0) + " stdout F\n" +
		"\x00\xff\xfe binary\n" +
		ts(1) + " stdout F good\n" +
		ts(2) + " stderr P:more also \n" +
		ts(3) + " stderr F good\n"
	if err := os.WriteFile(path, []byte(content), 0o640); err != nil {
		t.Fatal(err)
	}
	if got := readAll(t, path, all()); got != "good\nalso good\n" {
		t.Errorf("Read = %q", got)
	}
}

func TestParseLine(t *testing.T) {
	tests := []struct {
		line    string
		ts      time.Time
		stream  string
		partial bool
		content string
		bad     bool
	}{
		{line: "2025-05-01T10:00:00.123456789Z stdout F hello\n", ts: time.Date(2025, 5, 1, 10, 0, 0, 123456789, time.UTC), stream: "stdout", content: "hello"},
		{line: "2025-05-01T10:00:00Z stderr P part", ts: time.Date(2025, 5, 1, 10, 0, 0, 0, time.UTC), stream: "stderr", partial: true, content: "part"},
		{line: "2025-05-01T12:00:00.5+02:00 stdout F  two  spaces \n", ts: time.Date(2025, 5, 1, 10, 0, 0, 5e8, time.UTC), stream: "stdout", content: " two  spaces "},
		{line: "2025-05-01T10:00:00Z stdout F \n", ts: time.Date(2025, 5, 1, 10, 0, 0, 0, time.UTC), stream: "stdout", content: ""},
		{line: "2025-05-01T10:00:00Z stdout X:y future tag\n", ts: time.Date(2025, 5, 1, 10, 0, 0, 0, time.UTC), stream: "stdout", content: "future tag"},
		{line: "", bad: true},
		{line: "2025-05-01T10:00:00Z", bad: true},
		{line: "2025-05-01 stdout F x", bad: true},
		{line: "2025-05-01T10:00:00Z stdin F x", bad: true},
		{line: "2025-05-01T10:00:00Z stdout F", bad: true},
	}
	for _, tt := range tests {
		ts, stream, partial, content, err := ParseLine([]byte(tt.line))
		if tt.bad {
			if err == nil {
				t.Errorf("ParseLine(%q) succeeded, want error", tt.line)
			}
			continue
		}
		if err != nil {
			t.Errorf("ParseLine(%q): %v", tt.line, err)
			continue
		}
		if !ts.Equal(tt.ts) || stream != tt.stream || partial != tt.partial || string(content) != tt.content {
			t.Errorf("ParseLine(%q) = %v %q %v %q", tt.line, ts, stream, partial, content)
		}
	}
}

func FuzzParseLine(f *testing.F) {
	f.Add([]byte("2025-05-01T10:00:00.123456789Z stdout F hello\n"))
	f.Add([]byte("2025-05-01T10:00:00Z stderr P "))
	f.Add([]byte("  \n"))
	f.Fuzz(func(t *testing.T, line []byte) {
		_, stream, _, content, err := ParseLine(line)
		if err == nil && (stream != Stdout && stream != Stderr || len(content) > len(line)) {
			t.Errorf("ParseLine(%q) accepted stream %q", line, stream)
		}
	})
}

// syncBuffer is a bytes.Buffer safe for a reader goroutine and the test.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// waitFor polls cond until it holds or a generous deadline passes.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

type followRun struct {
	out    *syncBuffer
	done   chan struct{}
	cancel context.CancelFunc
	result chan error
}

func follow(t *testing.T, path string, opts ReadOptions) *followRun {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	r := &followRun{out: &syncBuffer{}, done: make(chan struct{}), cancel: cancel, result: make(chan error, 1)}
	opts.Follow = true
	go func() { r.result <- Read(ctx, path, opts, r.out, r.done) }()
	t.Cleanup(func() {
		cancel()
		select {
		case <-r.result:
		case <-time.After(10 * time.Second):
			t.Error("Read did not return after cancel")
		}
	})
	return r
}

func (r *followRun) wait(t *testing.T) error {
	t.Helper()
	select {
	case err := <-r.result:
		r.result <- err // for the cleanup
		return err
	case <-time.After(10 * time.Second):
		t.Fatal("Read did not return")
		return nil
	}
}

func TestFollow(t *testing.T) {
	f, path := openTest(t)
	out := f.Stream(Stdout)
	write(t, out, "before1\nbefore2\n")

	r := follow(t, path, ReadOptions{TailLines: 1})
	waitFor(t, "the tail", func() bool { return r.out.String() == "before2\n" })

	write(t, out, "after1\n")
	waitFor(t, "an appended line", func() bool { return r.out.String() == "before2\nafter1\n" })
	// A line in the making is printed only once complete.
	write(t, out, "after2 ")
	write(t, out, "complete\n")
	waitFor(t, "a line written in two parts", func() bool { return r.out.String() == "before2\nafter1\nafter2 complete\n" })

	// The container exits: its last output is logged, then done is closed.
	write(t, out, "last words")
	if err := out.Close(); err != nil {
		t.Fatal(err)
	}
	close(r.done)
	if err := r.wait(t); err != nil {
		t.Fatalf("Read after done: %v", err)
	}
	if got, want := r.out.String(), "before2\nafter1\nafter2 complete\nlast words"; got != want {
		t.Errorf("followed %q, want %q", got, want)
	}
}

func TestFollowStopsOnContext(t *testing.T) {
	_, path := openTest(t)
	r := follow(t, path, all())
	r.cancel()
	if err := r.wait(t); !errors.Is(err, context.Canceled) {
		t.Errorf("Read = %v, want context.Canceled", err)
	}
}

func TestFollowAlreadyDone(t *testing.T) {
	path := writeLines(t, 3)
	var buf bytes.Buffer
	done := make(chan struct{})
	close(done)
	if err := Read(context.Background(), path, ReadOptions{Follow: true, TailLines: -1}, &buf, done); err != nil {
		t.Fatal(err)
	}
	if buf.String() != "line0\nline1\nline2\n" {
		t.Errorf("Read = %q", buf.String())
	}
}

func TestFollowAcrossRotation(t *testing.T) {
	f, path := openTest(t)
	write(t, f.Stream(Stdout), "old1\n")
	r := follow(t, path, all())
	waitFor(t, "the first line", func() bool { return r.out.String() == "old1\n" })

	// Rotate as the kubelet does: rename, then the runtime reopens the path.
	write(t, f.Stream(Stdout), "old2\n")
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(path, path+".20250501-120000"); err != nil {
		t.Fatal(err)
	}
	nf, err := OpenFile(path, WithClock(tickClock()))
	if err != nil {
		t.Fatal(err)
	}
	defer nf.Close()
	write(t, nf.Stream(Stdout), "new1\n")
	waitFor(t, "the rotated file's line", func() bool { return r.out.String() == "old1\nold2\nnew1\n" })
}

func TestCopy(t *testing.T) {
	f, path := openTest(t)
	pr, pw := io.Pipe()
	go func() {
		_, _ = io.WriteString(pw, "one\ntw")
		_, _ = io.WriteString(pw, "o\nno newline")
		_ = pw.Close()
	}()
	if err := Copy(context.Background(), f.Stream(Stdout), pr); err != nil {
		t.Fatal(err)
	}
	want := ts(0) + " stdout F one\n" + ts(1) + " stdout F two\n" + ts(2) + " stdout P no newline\n"
	if got := readFile(t, path); got != want {
		t.Errorf("file:\n%s\nwant:\n%s", got, want)
	}
}

func TestCopyFromFIFO(t *testing.T) {
	dir := t.TempDir()
	fifo := filepath.Join(dir, "stdout")
	if err := syscall.Mkfifo(fifo, 0o600); err != nil {
		t.Fatalf("mkfifo: %v", err)
	}
	f, path := openTest(t)
	// Open both ends the way the runtime and the container do.
	rd, err := os.OpenFile(fifo, os.O_RDONLY|syscall.O_NONBLOCK, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer rd.Close()
	wr, err := os.OpenFile(fifo, os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	result := make(chan error, 1)
	go func() { result <- Copy(ctx, f.Stream(Stdout), rd) }()

	write(t, wr, "from the fifo\n")
	waitFor(t, "the fifo line", func() bool { return strings.Contains(readFile(t, path), " stdout F from the fifo\n") })

	// The container is still running when the agent stops: ctx ends and
	// Copy must not stay blocked in the read.
	cancel()
	select {
	case err := <-result:
		if !errors.Is(err, context.Canceled) {
			t.Errorf("Copy = %v, want context.Canceled", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Copy did not return after cancel")
	}
	_ = wr.Close()
}

func TestCopyKeepsDrainingAfterWriteErrors(t *testing.T) {
	f, _ := openTest(t)
	s := f.Stream(Stdout)
	if err := f.Close(); err != nil { // every record write now fails
		t.Fatal(err)
	}
	src := strings.NewReader(strings.Repeat("x\n", 100000))
	err := Copy(context.Background(), s, src)
	if err == nil {
		t.Fatal("Copy reported no error")
	}
	if src.Len() != 0 {
		t.Errorf("%d bytes left unread", src.Len())
	}
}

// A quiet stream's copier holds a small buffer; a busy one grows it to a
// pipe's capacity, and every byte of both arrives in order.
func TestCopyBufferGrowsWhenBusy(t *testing.T) {
	for _, tc := range []struct {
		name   string
		writes []string
	}{
		{"quiet", []string{"one line\n"}},
		{"busy", []string{strings.Repeat("x", copyBufSmall), strings.Repeat("y\n", copyBufLarge)}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f, path := openTest(t)
			pr, pw := io.Pipe()
			go func() {
				for _, w := range tc.writes {
					_, _ = io.WriteString(pw, w)
				}
				_ = pw.Close()
			}()
			if err := Copy(context.Background(), f.Stream(Stdout), pr); err != nil {
				t.Fatal(err)
			}
			var content strings.Builder
			for _, line := range strings.Split(strings.TrimSuffix(readFile(t, path), "\n"), "\n") {
				fields := strings.SplitN(line, " ", 4)
				content.WriteString(fields[3])
				if fields[2] == "F" {
					content.WriteString("\n")
				}
			}
			if want := strings.Join(tc.writes, ""); content.String() != want {
				t.Errorf("logged %d bytes, want %d; around %q", content.Len(), len(want), firstDiff(content.String(), want))
			}
		})
	}
}

// Copiers of pipes with nothing to read hold no buffer while they wait,
// after the first output too: a running container's copier waits most of
// its life.
func TestIdleCopiersHoldNoBuffer(t *testing.T) {
	const copiers = 100
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	defer wg.Wait()
	defer cancel()
	var logged sync.WaitGroup
	heap := func() uint64 {
		runtime.GC()
		var ms runtime.MemStats
		runtime.ReadMemStats(&ms)
		return ms.HeapAlloc
	}
	before := heap()
	for range copiers {
		pr, pw, err := os.Pipe()
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = pr.Close(); _ = pw.Close() })
		logged.Add(1)
		wg.Add(1)
		go func() {
			defer wg.Done()
			_ = Copy(ctx, writerFunc(func(p []byte) (int, error) {
				logged.Done()
				return len(p), nil
			}), pr)
		}()
		if _, err := pw.WriteString("ready\n"); err != nil {
			t.Fatal(err)
		}
	}
	logged.Wait()
	// Each copier read its line and waits for the next; with a buffer each
	// they would hold copiers*copyBufSmall.
	if grown, limit := int64(heap())-int64(before), int64(copiers*copyBufSmall/2); grown > limit {
		t.Errorf("heap grew by %d bytes with %d idle copiers, want under %d", grown, copiers, limit)
	}
}

// writerFunc is an io.Writer calling f.
type writerFunc func([]byte) (int, error)

func (f writerFunc) Write(p []byte) (int, error) { return f(p) }

// BenchmarkCopyQuietStream is the memory of a copier whose container says
// one line: what every running container costs the agent per stream.
func BenchmarkCopyQuietStream(b *testing.B) {
	f, err := OpenFile(filepath.Join(b.TempDir(), "0.log"))
	if err != nil {
		b.Fatal(err)
	}
	defer f.Close()
	out := f.Stream(Stdout)
	b.ReportAllocs()
	for b.Loop() {
		if err := Copy(context.Background(), out, strings.NewReader("ready\n")); err != nil {
			b.Fatal(err)
		}
	}
}

// A log whose disk is full drops records and says so once; once writes
// succeed again the records are written again and it says that once too.
// /dev/full stands in for the full disk (the integration test fills a real
// one).
func TestWriteStateReportsFailureOnceAndResumes(t *testing.T) {
	var states []error
	f, path := openTest(t, WithWriteState(func(err error) { states = append(states, err) }))
	full, err := os.OpenFile("/dev/full", os.O_WRONLY, 0)
	if err != nil {
		t.Fatalf("open /dev/full: %v", err)
	}
	out, errOut := f.Stream(Stdout), f.Stream(Stderr)
	write(t, out, "before\n")

	f.mu.Lock()
	live := f.f
	f.f = full
	f.mu.Unlock()
	pr, pw := io.Pipe()
	go func() {
		for i := range 5 {
			_, _ = fmt.Fprintf(pw, "lost %d\n", i)
		}
		_ = pw.Close()
	}()
	if err := Copy(context.Background(), out, pr); !errors.Is(err, syscall.ENOSPC) {
		t.Errorf("Copy on a full disk = %v, want ENOSPC", err)
	}
	if _, err := io.WriteString(errOut, "lost on stderr\n"); !errors.Is(err, syscall.ENOSPC) {
		t.Errorf("stderr write on a full disk = %v, want ENOSPC", err)
	}
	if len(states) != 1 || !errors.Is(states[0], syscall.ENOSPC) || !strings.Contains(states[0].Error(), path) {
		t.Fatalf("write states while full = %v, want one ENOSPC naming %s", states, path)
	}

	f.mu.Lock()
	f.f = live
	f.mu.Unlock()
	_ = full.Close()
	write(t, errOut, "after\n")
	write(t, out, "and after\n")
	if len(states) != 2 || states[1] != nil {
		t.Fatalf("write states after space came back = %v, want [ENOSPC <nil>]", states)
	}
	want := ts(0) + " stdout F before\n" + ts(7) + " stderr F after\n" + ts(8) + " stdout F and after\n"
	if got := readFile(t, path); got != want {
		t.Errorf("file:\n%s\nwant:\n%s", got, want)
	}
}
