package logs

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"time"

	"github.com/fsnotify/fsnotify"
)

const (
	// timeFormatIn parses any RFC 3339 timestamp, with or without fraction.
	timeFormatIn = "2006-01-02T15:04:05.999999999Z07:00"
	// timeFormatOut is the kubelet's fixed-width format for --timestamps.
	timeFormatOut = "2006-01-02T15:04:05.000000000Z07:00"
	// pollPeriod bounds the wait for new log lines when no file event
	// arrives (the kubelet's logForceCheckPeriod); it covers filesystems
	// where inotify is unreliable.
	pollPeriod = time.Second
	// maxWatchErrors is how many fsnotify errors a follow tolerates.
	maxWatchErrors = 5
)

// ReadOptions select what Read prints, like kubectl logs' flags.
type ReadOptions struct {
	// Follow keeps reading lines appended to the file (-f).
	Follow bool
	// TailLines is the number of records to start from, counted from the
	// end (--tail); negative means the whole file and 0 means none (with
	// Follow: only new lines). A record is one line of the file, so a long
	// line split into P records counts once per record, as in the kubelet.
	TailLines int64
	// Timestamps prefixes each record's content with its timestamp.
	Timestamps bool
	// SinceTime skips records older than this.
	SinceTime *time.Time
	// LimitBytes stops after this many bytes of output; <= 0 means no limit.
	LimitBytes int64
	// Stream selects "stdout" or "stderr"; "" reads both.
	Stream string
}

// errLimitReached ends a read that has printed LimitBytes.
var errLimitReached = errors.New("log byte limit reached")

// Read writes the content of the CRI log at path to w the way the kubelet
// serves `kubectl logs`: each record's content, a newline after F records
// only (so P records join up into their line), optionally preceded by the
// record's timestamp (each record's, as the kubelet does). Malformed lines
// are skipped.
//
// The log's rotated files (<path>.<time>[.gz], see WithRotation) come
// first, oldest first, then path itself, so a rotated log reads as one;
// TailLines counts across them. (The kubelet reads only the live file.)
//
// With opts.Follow it then waits for appended records, using fsnotify on the
// file with a slow poll as a fallback, until ctx ends (returning ctx's error)
// or done is closed. done means the container has exited and its log writer
// has finished: Read then prints what is left up to the end of the file and
// returns nil. When the file is rotated, Read finishes it, reads the
// rotations that followed it, and goes on with the new live file.
func Read(ctx context.Context, path string, opts ReadOptions, w io.Writer, done <-chan struct{}) error {
	if opts.Stream != "" && opts.Stream != Stdout && opts.Stream != Stderr {
		return fmt.Errorf("read log %s: unknown stream %q", path, opts.Stream)
	}
	// fsnotify follows symlinks on Linux only; resolve them explicitly so a
	// legacy /var/log/containers link behaves the same everywhere.
	resolved, err := filepath.EvalSymlinks(path)
	if err != nil {
		return fmt.Errorf("read log %s: %w", path, err)
	}
	r := &logReader{path: resolved, opts: opts, w: w, remain: -1}
	if opts.LimitBytes > 0 {
		r.remain = opts.LimitBytes
	}
	defer r.close()
	err = r.run(ctx, done)
	if errors.Is(err, errLimitReached) {
		return nil
	}
	return err
}

type logReader struct {
	path    string
	opts    ReadOptions
	w       io.Writer
	remain  int64 // bytes left to print; -1 means no limit
	f       *os.File
	br      *bufio.Reader
	watcher *fsnotify.Watcher
	// replaced is set once path names another file than f (f was rotated).
	replaced bool
	// limited: without Follow, TailLines also bounds the records printed;
	// left is how many more may be.
	limited bool
	left    int64
}

func (r *logReader) close() {
	if r.watcher != nil {
		_ = r.watcher.Close()
	}
	if r.f != nil {
		_ = r.f.Close()
	}
}

func (r *logReader) run(ctx context.Context, done <-chan struct{}) error {
	// The live file first, then its rotations: one rotated after this open
	// is recognized below instead of being missed.
	f, err := os.Open(r.path)
	if err != nil {
		return fmt.Errorf("read log: %w", err)
	}
	r.f = f
	history, err := r.olderThan(f)
	if err != nil {
		return err
	}
	start, found, err := tailStart(f, r.opts.TailLines, r.opts.Stream)
	if err != nil {
		return fmt.Errorf("read log %s: find tail: %w", r.path, err)
	}
	r.limited = r.opts.TailLines >= 0 && !r.opts.Follow
	r.left = r.opts.TailLines
	if r.opts.TailLines < 0 || found < r.opts.TailLines {
		// The tail reaches into the rotated files.
		first, skip, err := r.historyTail(history, r.opts.TailLines-found)
		if err != nil {
			return err
		}
		for i, s := range history[first:] {
			if i > 0 {
				skip = 0
			}
			if err := r.drain(ctx, s, skip); err != nil {
				return err
			}
		}
		start = 0
	}
	if _, err := f.Seek(start, io.SeekStart); err != nil {
		return fmt.Errorf("read log %s: %w", r.path, err)
	}
	r.br = bufio.NewReader(f)

	exited := false
	for {
		if err := ctx.Err(); err != nil {
			return err
		}
		if r.limited && r.left <= 0 {
			return nil
		}
		line, err := r.br.ReadBytes('\n')
		if err != nil && !errors.Is(err, io.EOF) {
			return fmt.Errorf("read log %s: %w", r.path, err)
		}
		if err != nil { // EOF
			if !r.opts.Follow {
				// The last line is incomplete (its writer is mid-record):
				// print what there is and stop.
				if len(line) > 0 {
					_, err := r.emit(line)
					return err
				}
				return nil
			}
			// Leave an incomplete line in the file to be read again whole.
			if _, err := r.f.Seek(-int64(len(line)), io.SeekCurrent); err != nil {
				return fmt.Errorf("read log %s: %w", r.path, err)
			}
			r.br.Reset(r.f)
			if r.replaced {
				// f is read to its end: go on with what came after it.
				if err := r.advance(ctx); err != nil {
					return err
				}
				continue
			}
			if exited {
				// The writer is done, but rotations since the last look
				// may still be unread.
				if err := r.checkReplaced(); err != nil {
					return err
				}
				if r.replaced {
					continue
				}
				return nil
			}
			select {
			case <-done:
				// Read once more to the end, then stop.
				exited = true
				continue
			default:
			}
			if err := r.wait(ctx, done); err != nil {
				return err
			}
			continue
		}
		if err := r.emitCounted(line); err != nil {
			return err
		}
	}
}

// emitCounted emits one record and counts it against the tail's limit.
func (r *logReader) emitCounted(line []byte) error {
	printed, err := r.emit(line)
	if printed && r.limited {
		r.left--
	}
	return err
}

// olderThan lists the rotations older than the open file f: all of them,
// unless f itself has been rotated meanwhile, then those before it.
func (r *logReader) olderThan(f *os.File) ([]segment, error) {
	segs, err := listRotated(r.path)
	if err != nil {
		return nil, fmt.Errorf("read log %s: %w", r.path, err)
	}
	if i := indexOf(r.path, segs, f); i >= 0 {
		return segs[:i], nil
	}
	return segs, nil
}

// indexOf finds the rotation that f is, or was compressed from, or -1 (f
// is still the live file at path, or it is gone). An older .gz may name
// f's inode number from before f existed: hence the check that f is not
// live, and the newest match winning.
func indexOf(path string, segs []segment, f *os.File) int {
	st, err := f.Stat()
	if err != nil {
		return -1
	}
	if cur, err := os.Stat(path); err == nil && os.SameFile(st, cur) {
		return -1
	}
	for i := len(segs) - 1; i >= 0; i-- {
		if segs[i].holds(st) {
			return i
		}
	}
	return -1
}

// historyTail finds where the last want records of the rotated files
// start: the index of the first file to read and how many counted records
// to skip in it. want < 0 means all of them.
func (r *logReader) historyTail(segs []segment, want int64) (int, int64, error) {
	if want < 0 {
		return 0, 0, nil
	}
	for i := len(segs) - 1; i >= 0; i-- {
		n, err := r.countRecords(segs[i])
		if err != nil {
			return 0, 0, err
		}
		if n >= want {
			return i, n - want, nil
		}
		want -= n
	}
	return 0, 0, nil
}

// countRecords counts the records of a rotated file the way tailStart does:
// lines, or the parsed records of the selected stream.
func (r *logReader) countRecords(s segment) (int64, error) {
	rc, err := s.open()
	if errors.Is(err, os.ErrNotExist) {
		return 0, nil // removed as excess meanwhile
	}
	if err != nil {
		return 0, fmt.Errorf("read rotated log: %w", err)
	}
	defer rc.Close()
	var n int64
	br := bufio.NewReaderSize(rc, 64*1024)
	for {
		line, err := br.ReadSlice('\n')
		if errors.Is(err, bufio.ErrBufferFull) {
			// A line longer than the buffer: count it at its end.
			continue
		}
		if len(line) > 0 && line[len(line)-1] == '\n' {
			if r.opts.Stream == "" {
				n++
			} else if _, st, _, _, perr := ParseLine(line); perr == nil && st == r.opts.Stream {
				n++
			}
		}
		if err != nil {
			if errors.Is(err, io.EOF) {
				return n, nil
			}
			return 0, fmt.Errorf("read rotated log %s: %w", s.path(), err)
		}
	}
}

// drain prints a rotated file, skipping its first skip counted records.
func (r *logReader) drain(ctx context.Context, s segment, skip int64) error {
	rc, err := s.open()
	if errors.Is(err, os.ErrNotExist) {
		return nil // removed as excess meanwhile
	}
	if err != nil {
		return fmt.Errorf("read rotated log: %w", err)
	}
	defer rc.Close()
	br := bufio.NewReaderSize(rc, 64*1024)
	for {
		if err := ctx.Err(); err != nil {
			return err
		}
		if r.limited && r.left <= 0 {
			return nil
		}
		line, err := br.ReadBytes('\n')
		if len(line) > 0 {
			if skip > 0 {
				if _, st, _, _, perr := ParseLine(line); r.opts.Stream == "" || (perr == nil && st == r.opts.Stream) {
					skip--
				}
			} else if err := r.emitCounted(line); err != nil {
				return err
			}
		}
		if err != nil {
			if errors.Is(err, io.EOF) {
				return nil
			}
			return fmt.Errorf("read rotated log %s: %w", s.path(), err)
		}
	}
}

// advance moves on from f, which has been rotated and is read to its end:
// it prints the rotations that came after f, then continues with the live
// file. When f is no longer among the rotations, it was the oldest and has
// been removed (the reader fell behind by maxFiles rotations): every
// rotation left is newer.
func (r *logReader) advance(ctx context.Context) error {
	// Open the live file before listing, so that a rotation in between
	// shows up as the live file among the rotations instead of being missed.
	live, err := os.Open(r.path)
	if errors.Is(err, os.ErrNotExist) {
		r.replaced = false // not recreated yet: wait for it
		return nil
	}
	if err != nil {
		return fmt.Errorf("reopen log %s: %w", r.path, err)
	}
	segs, err := listRotated(r.path)
	if err != nil {
		_ = live.Close()
		return fmt.Errorf("read log %s: %w", r.path, err)
	}
	newer := segs[indexOf(r.path, segs, r.f)+1:]
	if j := indexOf(r.path, newer, live); j >= 0 {
		newer = newer[:j]
	}
	for _, s := range newer {
		if err := r.drain(ctx, s, 0); err != nil {
			_ = live.Close()
			return err
		}
	}
	_ = r.f.Close()
	r.f, r.replaced = live, false
	r.br.Reset(r.f)
	if r.watcher != nil {
		_ = r.watcher.Close()
		r.watcher = nil
	}
	// live may have been rotated too by now.
	return r.checkReplaced()
}

// emit prints one record if it passes the filters; it reports whether the
// record counted (parsed and of the selected stream).
func (r *logReader) emit(line []byte) (bool, error) {
	ts, stream, partial, content, err := ParseLine(line)
	if err != nil {
		return false, nil // skipped, as the kubelet skips lines it cannot parse
	}
	if r.opts.Stream != "" && stream != r.opts.Stream {
		return false, nil
	}
	if r.opts.SinceTime != nil && ts.Before(*r.opts.SinceTime) {
		return true, nil
	}
	var out []byte
	// Like the kubelet, every record gets its own timestamp, so with
	// Timestamps the P records of a long line read "<ts> part<ts> rest".
	if r.opts.Timestamps {
		out = ts.AppendFormat(out, timeFormatOut)
		out = append(out, ' ')
	}
	out = append(out, content...)
	if !partial && bytes.HasSuffix(line, []byte{'\n'}) {
		out = append(out, '\n')
	}
	if r.remain >= 0 && int64(len(out)) > r.remain {
		out = out[:r.remain]
	}
	n, err := r.w.Write(out)
	if r.remain >= 0 {
		r.remain -= int64(n)
	}
	if err != nil {
		return true, fmt.Errorf("write log %s: %w", r.path, err)
	}
	if r.remain == 0 {
		return true, errLimitReached
	}
	return true, nil
}

// wait blocks until the file may have grown or been replaced, done is
// closed, or ctx ends. When the path now names another file (rotation),
// r.replaced is set; the caller finishes the old file first.
func (r *logReader) wait(ctx context.Context, done <-chan struct{}) error {
	if r.watcher == nil {
		w, err := fsnotify.NewWatcher()
		if err == nil {
			if err = w.Add(r.path); err != nil {
				_ = w.Close()
			}
		}
		if err == nil {
			r.watcher = w
			// Lines may have been appended before the watch started.
			return nil
		}
		// No inotify (limits reached, odd filesystem): poll only.
	}
	var events chan fsnotify.Event
	var errs chan error
	if r.watcher != nil {
		events, errs = r.watcher.Events, r.watcher.Errors
	}
	timer := time.NewTimer(pollPeriod)
	defer timer.Stop()
	watchErrors := 0
	for {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-done:
			return nil
		case <-timer.C:
			return r.checkReplaced()
		case e, ok := <-events:
			if !ok {
				events = nil
				continue
			}
			if e.Has(fsnotify.Write) {
				return nil
			}
			if e.Has(fsnotify.Create) || e.Has(fsnotify.Rename) || e.Has(fsnotify.Remove) || e.Has(fsnotify.Chmod) {
				return r.checkReplaced()
			}
		case err, ok := <-errs:
			if !ok {
				errs = nil
				continue
			}
			watchErrors++
			if watchErrors > maxWatchErrors {
				return fmt.Errorf("follow log %s: %w", r.path, err)
			}
		}
	}
}

// checkReplaced notes when path names another file than f (f was rotated).
func (r *logReader) checkReplaced() error {
	if r.replaced {
		return nil
	}
	st, err := os.Stat(r.path)
	if errors.Is(err, os.ErrNotExist) {
		return nil // not recreated yet
	}
	if err != nil {
		return fmt.Errorf("reopen log %s: %w", r.path, err)
	}
	if cur, err := r.f.Stat(); err == nil && os.SameFile(cur, st) {
		return nil
	}
	r.replaced = true
	return nil
}

// ParseLine parses one CRI log record. line may end with its newline; content
// never includes it. partial is true for P records. Tags after the first
// (P:extra) are ignored and any tag other than P counts as full, as in the
// kubelet's parser.
func ParseLine(line []byte) (ts time.Time, stream string, partial bool, content []byte, err error) {
	line = bytes.TrimSuffix(line, []byte{'\n'})
	field := func(name string) ([]byte, error) {
		i := bytes.IndexByte(line, ' ')
		if i < 0 {
			return nil, fmt.Errorf("parse CRI log line: %s not found", name)
		}
		f := line[:i]
		line = line[i+1:]
		return f, nil
	}
	tsField, err := field("timestamp")
	if err != nil {
		return time.Time{}, "", false, nil, err
	}
	ts, err = time.Parse(timeFormatIn, string(tsField))
	if err != nil {
		return time.Time{}, "", false, nil, fmt.Errorf("parse CRI log line: timestamp: %w", err)
	}
	streamField, err := field("stream")
	if err != nil {
		return time.Time{}, "", false, nil, err
	}
	stream = string(streamField)
	if stream != Stdout && stream != Stderr {
		return time.Time{}, "", false, nil, fmt.Errorf("parse CRI log line: unknown stream %q", stream)
	}
	tagField, err := field("tag")
	if err != nil {
		return time.Time{}, "", false, nil, err
	}
	tag, _, _ := bytes.Cut(tagField, []byte{':'})
	return ts, stream, string(tag) == tagPartial, line, nil
}

// tailStart returns the offset of the record n records before the end of f,
// counting only records of stream when stream is set, and how many of those
// n records f holds (fewer than n when the tail reaches past its start).
// n < 0 means the start.
func tailStart(f *os.File, n int64, stream string) (int64, int64, error) {
	if n < 0 {
		return 0, 0, nil
	}
	if stream == "" {
		return tailStartAll(f, n)
	}
	return tailStartStream(f, n, stream)
}

// tailStartAll scans f backwards for the (n+1)-th newline from the end and
// returns the offset after it: the start of the last n complete lines (plus
// any incomplete line after them), like the kubelet's tail.
func tailStartAll(f *os.File, n int64) (int64, int64, error) {
	const block = 4096
	size, err := f.Seek(0, io.SeekEnd)
	if err != nil {
		return 0, 0, err
	}
	buf := make([]byte, block)
	var seen int64
	for end := size; end > 0; {
		start := max(end-block, 0)
		b := buf[:end-start]
		if _, err := f.ReadAt(b, start); err != nil && !errors.Is(err, io.EOF) {
			return 0, 0, err
		}
		for i := len(b) - 1; i >= 0; i-- {
			if b[i] != '\n' {
				continue
			}
			seen++
			if seen == n+1 {
				return start + int64(i) + 1, n, nil
			}
		}
		end = start
	}
	return 0, seen, nil
}

// tailStartStream reads f forwards and returns the offset of the n-th last
// complete record of stream (or the end of the complete records for n = 0).
func tailStartStream(f *os.File, n int64, stream string) (int64, int64, error) {
	if _, err := f.Seek(0, io.SeekStart); err != nil {
		return 0, 0, err
	}
	ring := make([]int64, 0, min(n, 1024))
	next := 0 // ring slot to overwrite once full
	var off, end int64
	br := bufio.NewReader(f)
	for {
		line, err := br.ReadBytes('\n')
		if err != nil {
			if errors.Is(err, io.EOF) {
				break
			}
			return 0, 0, err
		}
		if _, s, _, _, perr := ParseLine(line); perr == nil && s == stream && n > 0 {
			if int64(len(ring)) < n {
				ring = append(ring, off)
			} else {
				ring[next] = off
				next = (next + 1) % len(ring)
			}
		}
		off += int64(len(line))
		end = off
	}
	switch {
	case n == 0:
		return end, 0, nil
	case int64(len(ring)) < n:
		return 0, int64(len(ring)), nil
	default:
		return ring[next], n, nil
	}
}
