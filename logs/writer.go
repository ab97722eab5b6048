// Package logs writes and reads container logs in the CRI log format that
// containerd's CRI plugin writes and the kubelet reads:
//
//	<RFC3339Nano timestamp> <stdout|stderr> <F|P> <content>\n
//
// F marks the end of a line of the container's output, P a part of a line
// that continues in the next record of the same stream: lines longer than the
// maximum line size are cut into P…P,F records, and output that ends without
// a newline is written as P.
package logs

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sync"
	"syscall"
	"time"
)

// DefaultMaxLineSize is containerd's default max_container_log_line_size.
const DefaultMaxLineSize = 16 * 1024

// Stream names as written in the log.
const (
	Stdout = "stdout"
	Stderr = "stderr"
)

const (
	tagFull    = "F"
	tagPartial = "P"
)

// Option configures a File.
type Option func(*File)

// WithRotation rotates the file as the kubelet's container log manager does
// (containerLogMaxSize, containerLogMaxFiles): before a record would take
// the file past maxSize bytes it is renamed <path>.<YYYYMMDD-hhmmss> and a
// new file is started; rotated files but the newest are gzip-compressed, and
// the oldest are removed so that at most maxFiles files (the live one
// included) remain. maxSize <= 0 turns rotation off; maxFiles is at least 2.
func WithRotation(maxSize int64, maxFiles int) Option {
	return func(f *File) { f.maxSize, f.maxFiles = maxSize, max(maxFiles, 2) }
}

// WithErrorLog receives the errors of background work (compressing and
// removing rotated files), which has no caller to return them to.
func WithErrorLog(fn func(error)) Option { return func(f *File) { f.errLog = fn } }

// WithWriteState is told when writing to the file starts failing (with the
// error; the disk is full, say) and when it succeeds again (with nil): once
// per change, not once per write, whichever stream wrote. Records that
// cannot be written are dropped meanwhile and every later write is tried
// again, as containerd does. fn is called with the file's lock held: it
// must not block or use the File.
func WithWriteState(fn func(err error)) Option { return func(f *File) { f.writeState = fn } }

// flushSize bounds the records buffered before a write to the file: a
// chunk of output made of short lines becomes a few large writes, not one
// write per line.
const flushSize = 256 * 1024

// File is one container log file, shared by the container's stdout and
// stderr streams. The records of each chunk a stream receives are written
// together under one lock, so they never interleave with the other
// stream's within a line. Safe for concurrent use.
type File struct {
	path     string
	maxLine  int
	maxSize  int64
	maxFiles int
	now      func() time.Time
	errLog   func(error)
	// writeState hears of the changes of failing (WithWriteState).
	writeState func(error)

	mu      sync.Mutex
	f       *os.File
	size    int64  // bytes in f
	buf     []byte // records not yet written to f
	stamp   []byte // the formatted timestamp of the current chunk
	streams []*stream
	closed  bool
	failing bool // the last write to f failed
	// tidying is set while the goroutine that compresses and removes
	// rotated files runs; tidyAgain asks it for one more pass.
	tidying   bool
	tidyAgain bool
	tidyDone  sync.WaitGroup
}

// OpenFile opens (creating it and its parent directories if needed) the log
// file at path for appending.
func OpenFile(path string, opts ...Option) (*File, error) {
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return nil, fmt.Errorf("create log directory for %s: %w", path, err)
	}
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o640)
	if err != nil {
		return nil, fmt.Errorf("open log file: %w", err)
	}
	st, err := f.Stat()
	if err != nil {
		_ = f.Close()
		return nil, fmt.Errorf("open log file: %w", err)
	}
	lf := &File{path: path, maxLine: DefaultMaxLineSize, now: time.Now, f: f, size: st.Size(), errLog: func(error) {}, writeState: func(error) {}}
	for _, o := range opts {
		o(lf)
	}
	return lf, nil
}

// Path is the file's path.
func (f *File) Path() string { return f.path }

// Stream returns a writer that turns the bytes written to it into records of
// the named stream ("stdout" or "stderr"). Writes need not be aligned to
// lines: a line is written once its newline arrives (or once it exceeds the
// maximum line size, as P records). Close flushes an unterminated last line
// as a P record; it does not close the File.
func (f *File) Stream(name string) io.WriteCloser {
	s := &stream{file: f, name: name}
	f.mu.Lock()
	f.streams = append(f.streams, s)
	f.mu.Unlock()
	return s
}

// Close flushes and closes every stream of the file, then the file, and
// waits for the background tidying of rotated files. Safe to call twice.
func (f *File) Close() error {
	f.mu.Lock()
	streams := f.streams
	f.streams = nil
	f.mu.Unlock()
	var errs []error
	for _, s := range streams {
		errs = append(errs, s.Close())
	}
	f.mu.Lock()
	if f.closed {
		f.mu.Unlock()
		return errors.Join(errs...)
	}
	f.closed = true
	if err := f.f.Close(); err != nil {
		errs = append(errs, fmt.Errorf("close log file %s: %w", f.path, err))
	}
	f.mu.Unlock()
	f.tidyDone.Wait()
	return errors.Join(errs...)
}

// record is one record of a chunk, its content pointing into the stream's
// data.
type record struct {
	partial bool
	content []byte
}

// writeRecords appends the records of one chunk of a stream's output. They
// share one timestamp, taken under the lock so records in the file are in
// time order: they arrived together, and formatting a timestamp per line
// would cost more than copying the line.
func (f *File) writeRecords(streamName string, recs []record) error {
	if len(recs) == 0 {
		return nil
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.closed {
		return fmt.Errorf("write to log file %s: %w", f.path, os.ErrClosed)
	}
	f.stamp = f.now().AppendFormat(f.stamp[:0], time.RFC3339Nano)
	var errs []error
	for _, r := range recs {
		n := int64(len(f.stamp) + len(streamName) + len(r.content) + 5)
		if f.maxSize > 0 && f.size+int64(len(f.buf))+n > f.maxSize && f.size+int64(len(f.buf)) > 0 {
			errs = append(errs, f.flushLocked(), f.rotateLocked())
		}
		b := append(f.buf, f.stamp...)
		b = append(b, ' ')
		b = append(b, streamName...)
		b = append(b, ' ')
		if r.partial {
			b = append(b, tagPartial...)
		} else {
			b = append(b, tagFull...)
		}
		b = append(b, ' ')
		b = append(b, r.content...)
		f.buf = append(b, '\n')
		if len(f.buf) >= flushSize {
			errs = append(errs, f.flushLocked())
		}
	}
	errs = append(errs, f.flushLocked())
	return errors.Join(errs...)
}

// flushLocked writes the buffered records. Records that cannot be written
// are dropped: the container's output must keep flowing.
func (f *File) flushLocked() error {
	if len(f.buf) == 0 {
		return nil
	}
	n, err := f.f.Write(f.buf)
	if err != nil && n > 0 {
		n = f.dropTornRecordLocked(f.buf[:n])
	}
	f.size += int64(n)
	f.buf = f.buf[:0]
	if err != nil {
		err = fmt.Errorf("write to log file %s: %w", f.path, err)
		if !f.failing {
			f.failing = true
			f.writeState(err)
		}
		return err
	}
	if f.failing {
		f.failing = false
		f.writeState(nil)
	}
	return nil
}

// dropTornRecordLocked cuts a short write (the disk filled up within it)
// back to its last whole record, so that the records written once space
// returns do not continue a torn line and the file stays readable. It
// returns the bytes of written that remain in the file.
func (f *File) dropTornRecordLocked(written []byte) int {
	keep := bytes.LastIndexByte(written, '\n') + 1
	if keep == len(written) {
		return keep
	}
	// With O_APPEND the offset is the file's end, just past written.
	end, err := f.f.Seek(0, io.SeekCurrent)
	if err != nil {
		return len(written)
	}
	if err := f.f.Truncate(end - int64(len(written)-keep)); err != nil {
		return len(written)
	}
	return keep
}

// stream cuts one output stream into records.
type stream struct {
	file *File
	name string

	mu      sync.Mutex
	pending []byte // output after the last newline
	recs    []record
	closed  bool
}

// Write consumes all of p. A record that cannot be written to the file is
// lost and its error returned, but the stream stays usable: the container's
// output must keep draining whatever happens to its log.
func (s *stream) Write(p []byte) (int, error) {
	if s.name != Stdout && s.name != Stderr {
		return 0, fmt.Errorf("log stream %q: not stdout or stderr", s.name)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return 0, fmt.Errorf("write %s to %s: %w", s.name, s.file.path, os.ErrClosed)
	}
	recs := s.recs[:0]
	rest := p
	if len(s.pending) > 0 {
		// The first line starts in an earlier write: complete it in pending.
		i := bytes.IndexByte(p, '\n')
		if i < 0 {
			s.pending = append(s.pending, p...)
			rest = nil
		} else {
			s.pending = append(s.pending, p[:i]...)
			recs = s.appendLine(recs, s.pending)
			rest = p[i+1:]
		}
	}
	if rest != nil {
		for {
			i := bytes.IndexByte(rest, '\n')
			if i < 0 {
				break
			}
			recs = s.appendLine(recs, rest[:i])
			rest = rest[i+1:]
		}
	}
	// An unterminated line that is already too long goes out in P records
	// now, as containerd does, so memory stays bounded.
	tail := rest
	if rest == nil {
		tail = s.pending
	}
	if max := s.file.maxLine; max > 0 {
		for len(tail) > max {
			recs = append(recs, record{partial: true, content: tail[:max]})
			tail = tail[max:]
		}
	}
	err := s.file.writeRecords(s.name, recs)
	// recs point into pending and p: keep what is left only now (tail may
	// lie within pending; append copies like memmove).
	s.pending = append(s.pending[:0], tail...)
	clear(recs)
	s.recs = recs[:0]
	return len(p), err
}

// appendLine adds a complete line as P…P,F records.
func (s *stream) appendLine(recs []record, line []byte) []record {
	// containerd drops the CR of a CRLF line ending.
	line = bytes.TrimSuffix(line, []byte{'\r'})
	if max := s.file.maxLine; max > 0 {
		for len(line) > max {
			recs = append(recs, record{partial: true, content: line[:max]})
			line = line[max:]
		}
	}
	return append(recs, record{content: line})
}

// Flush writes an unterminated last line as a P record, as containerd does
// when the container's output ends without a newline.
func (s *stream) Flush() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.flushLocked()
}

func (s *stream) flushLocked() error {
	if s.closed || len(s.pending) == 0 {
		return nil
	}
	err := s.file.writeRecords(s.name, []record{{partial: true, content: s.pending}})
	s.pending = s.pending[:0]
	return err
}

// Close flushes the stream. Safe to call twice.
func (s *stream) Close() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	err := s.flushLocked()
	s.closed = true
	return err
}

// The read buffer of Copy: small while a stream is quiet, a pipe's
// capacity once it is busy.
const (
	copyBufSmall = 4 << 10
	copyBufLarge = 64 << 10
)

// flusher is implemented by the writers Stream returns.
type flusher interface{ Flush() error }

// Copy copies a container's output from r (typically a FIFO) into dst
// (typically a Stream) until r reports EOF, then flushes dst if it can be
// flushed, so that output ending without a newline is logged as P. It does
// not close dst.
//
// A write to dst that fails does not stop Copy: the chunk is lost, and the
// next one is written again (the log's disk may have space again), so the
// container never blocks on a full pipe. At EOF Copy returns the error of
// the last write if it failed.
//
// When ctx ends, Copy interrupts the blocked read (with a read deadline when
// r supports one, as *os.File on a FIFO does, else by closing r if it is an
// io.Closer) and returns ctx's error.
func Copy(ctx context.Context, dst io.Writer, r io.Reader) error {
	stop := context.AfterFunc(ctx, func() { interrupt(r) })
	defer stop()
	_, err := newCopier(ctx, dst, r).copy(nil, 0)
	return err
}

// copier is the state of one Copy.
type copier struct {
	ctx      context.Context
	dst      io.Writer
	read     *chunkReader
	writeErr error // of the last write
}

func newCopier(ctx context.Context, dst io.Writer, r io.Reader) *copier {
	return &copier{ctx: ctx, dst: dst, read: newChunkReader(r)}
}

// copy copies until the stream ends and returns true and what Copy
// returns. With deadline (the reader's SetReadDeadline) it also returns,
// false and nil, once no input came for quiet; a line begun stays pending
// in dst until the copy goes on.
func (c *copier) copy(deadline func(time.Time) error, quiet time.Duration) (bool, error) {
	for {
		if deadline != nil {
			// Before ctx is read: ctx's interrupt, which sets a
			// deadline in the past, must win over this one.
			if deadline(time.Now().Add(quiet)) != nil {
				deadline = nil
			}
		}
		var chunk []byte
		var err error
		if deadline != nil {
			err = c.ctx.Err()
		}
		if err == nil {
			chunk, err = c.read.next()
		}
		if len(chunk) > 0 {
			_, c.writeErr = c.dst.Write(chunk)
		}
		if err == nil {
			continue
		}
		if deadline != nil && errors.Is(err, os.ErrDeadlineExceeded) && c.ctx.Err() == nil {
			return false, nil
		}
		var flushErr error
		if fl, ok := c.dst.(flusher); ok {
			flushErr = fl.Flush()
		}
		if ctxErr := c.ctx.Err(); ctxErr != nil {
			return true, ctxErr
		}
		if errors.Is(err, io.EOF) {
			return true, errors.Join(c.writeErr, flushErr)
		}
		return true, errors.Join(fmt.Errorf("read container output: %w", err), c.writeErr, flushErr)
	}
}

// chunkReader reads a stream in chunks into a buffer of its own. Most
// containers write little: the buffer starts small, as every container
// has a copier per stream for as long as it runs (two 64 KiB buffers per
// container were 6 MiB of the agent's memory with 100 pods). A read that
// fills the buffer is a busy stream: the pipe is read whole (it holds 64
// KiB) from then on.
type chunkReader struct {
	r   io.Reader
	raw syscall.RawConn // r's, when it can wait for input without a buffer
	buf []byte
}

func newChunkReader(r io.Reader) *chunkReader {
	c := &chunkReader{r: r}
	if sc, ok := r.(syscall.Conn); ok {
		if raw, err := sc.SyscallConn(); err == nil {
			c.raw = raw
		}
	}
	return c
}

// next returns the next chunk, valid until the next call; io.EOF at the
// end of the stream.
func (c *chunkReader) next() ([]byte, error) {
	if c.raw == nil {
		c.grow()
		n, err := c.r.Read(c.buf)
		return c.chunk(n), err
	}
	// Wait for input holding no buffer while the stream is quiet: a
	// running container's copier waits most of its life, and 100 pods'
	// 200 idle copiers held 800 KiB of empty buffers. A busy stream keeps
	// its large buffer: it would be allocated again at once.
	var n int
	var rerr error
	err := c.raw.Read(func(fd uintptr) bool {
		c.grow()
		for {
			n, rerr = syscall.Read(int(fd), c.buf)
			if rerr != syscall.EINTR {
				break
			}
		}
		if rerr == syscall.EAGAIN {
			if len(c.buf) < copyBufLarge {
				c.buf = nil
			}
			return false // wait until readable
		}
		return true
	})
	switch {
	case err != nil:
		return nil, err
	case rerr != nil:
		return nil, rerr
	case n == 0:
		return nil, io.EOF
	}
	return c.chunk(n), nil
}

// grow makes sure there is a buffer.
func (c *chunkReader) grow() {
	if c.buf == nil {
		c.buf = make([]byte, copyBufSmall)
	}
}

// chunk returns the first n bytes read into the buffer, and grows the
// buffer for the next read when they filled it.
func (c *chunkReader) chunk(n int) []byte {
	if n <= 0 {
		return nil
	}
	chunk := c.buf[:n]
	if n == len(c.buf) && len(c.buf) < copyBufLarge {
		c.buf = make([]byte, copyBufLarge)
	}
	return chunk
}

// interrupt makes a blocked Read on r return.
func interrupt(r io.Reader) {
	if d, ok := r.(interface{ SetReadDeadline(time.Time) error }); ok {
		if d.SetReadDeadline(time.Unix(1, 0)) == nil {
			return
		}
	}
	if c, ok := r.(io.Closer); ok {
		_ = c.Close()
	}
}
