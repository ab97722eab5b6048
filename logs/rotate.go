package logs

import (
	"compress/gzip"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
)

// Rotated files keep the kubelet's names (pkg/kubelet/logs/
// container_log_manager.go): <log>.<YYYYMMDD-hhmmss> in the log's
// directory, with .gz once compressed. A second rotation within the same
// second (this writer rotates as soon as the size is reached, the kubelet
// only every 10 s) gets -1, -2 … after the time.
const (
	rotatedTimeFormat = "20060102-150405"
	gzSuffix          = ".gz"
	tmpSuffix         = ".tmp"
)

// segment is one rotated file of a log: one rotation, in whichever forms
// exist on disk.
type segment struct {
	dir   string
	name  string // <log>.<stamp>[-<seq>], without .gz
	stamp string
	seq   int
	plain bool // <name> exists
	gz    bool // <name>.gz exists
	tmp   bool // <name>.gz.tmp exists (a compression under way or cut short)
}

func (s segment) path() string { return filepath.Join(s.dir, s.name) }

// before orders segments by rotation.
func (s segment) before(o segment) bool {
	if s.stamp != o.stamp {
		return s.stamp < o.stamp
	}
	return s.seq < o.seq
}

// open opens the segment's content: the plain file if it is still there
// (it may be compressed meanwhile), else the compressed one.
func (s segment) open() (io.ReadCloser, error) {
	f, err := os.Open(s.path())
	if err == nil {
		return f, nil
	}
	if !errors.Is(err, os.ErrNotExist) {
		return nil, err
	}
	gf, err := os.Open(s.path() + gzSuffix)
	if err != nil {
		return nil, err
	}
	zr, err := gzip.NewReader(gf)
	if err != nil {
		_ = gf.Close()
		return nil, fmt.Errorf("%s%s: %w", s.path(), gzSuffix, err)
	}
	return gzipFile{zr, gf}, nil
}

type gzipFile struct {
	*gzip.Reader
	f *os.File
}

func (g gzipFile) Close() error { return errors.Join(g.Reader.Close(), g.f.Close()) }

// parseRotated recognizes the name of a rotated file of the log named base:
// base.<stamp>[-<seq>][.gz[.tmp]].
func parseRotated(base, name string) (s segment, ok bool) {
	rest, ok := strings.CutPrefix(name, base+".")
	if !ok {
		return segment{}, false
	}
	if r, ok := strings.CutSuffix(rest, gzSuffix+tmpSuffix); ok {
		rest, s.tmp = r, true
	} else if r, ok := strings.CutSuffix(rest, gzSuffix); ok {
		rest, s.gz = r, true
	} else {
		s.plain = true
	}
	if len(rest) < len(rotatedTimeFormat) {
		return segment{}, false
	}
	s.stamp, rest = rest[:len(rotatedTimeFormat)], rest[len(rotatedTimeFormat):]
	for _, c := range []byte(s.stamp) {
		if c != '-' && (c < '0' || c > '9') {
			return segment{}, false
		}
	}
	if s.stamp[8] != '-' {
		return segment{}, false
	}
	if rest != "" {
		n, err := strconv.Atoi(strings.TrimPrefix(rest, "-"))
		if !strings.HasPrefix(rest, "-") || err != nil || n < 1 || strconv.Itoa(n) != rest[1:] {
			return segment{}, false
		}
		s.seq = n
	}
	s.name = base + "." + s.stamp + rest
	return s, true
}

// listRotated returns the rotated files of the log at path, oldest first.
func listRotated(path string) ([]segment, error) {
	dir, base := filepath.Split(path)
	entries, err := os.ReadDir(dir)
	if err != nil {
		return nil, fmt.Errorf("list rotated logs of %s: %w", path, err)
	}
	byName := map[string]*segment{}
	var segs []segment
	for _, e := range entries {
		s, ok := parseRotated(base, e.Name())
		if !ok || !e.Type().IsRegular() {
			continue
		}
		s.dir = filepath.Clean(dir)
		if have := byName[s.name]; have != nil {
			have.plain = have.plain || s.plain
			have.gz = have.gz || s.gz
			have.tmp = have.tmp || s.tmp
			continue
		}
		segs = append(segs, s)
		byName[s.name] = &segs[len(segs)-1]
	}
	// byName's pointers are stale once segs grows; rebuild from the map.
	out := make([]segment, 0, len(byName))
	for _, s := range byName {
		out = append(out, *s)
	}
	slices.SortFunc(out, func(a, b segment) int {
		switch {
		case a.before(b):
			return -1
		case b.before(a):
			return 1
		}
		return 0
	})
	return out, nil
}

// nextRotatedName is the name for the log's rotation now: the kubelet's
// timestamp, after every existing rotation even if the clock went back.
func nextRotatedName(base, stamp string, existing []segment) string {
	seq := 0
	if n := len(existing); n > 0 {
		if last := existing[n-1]; stamp <= last.stamp {
			stamp, seq = last.stamp, last.seq+1
		}
	}
	name := base + "." + stamp
	if seq > 0 {
		name += "-" + strconv.Itoa(seq)
	}
	return name
}

// rotateLocked renames the live file to its rotated name and starts a new
// one, removes the rotations beyond maxFiles at once (so the disk used stays
// bounded however fast the container writes), and leaves compressing to the
// background. On failure the old file stays in use.
func (f *File) rotateLocked() error {
	segs, err := listRotated(f.path)
	if err != nil {
		return err
	}
	dir, base := filepath.Split(f.path)
	name := filepath.Join(dir, nextRotatedName(base, f.now().Format(rotatedTimeFormat), segs))
	// Do not retry on every record when rotating fails: the next attempt
	// comes after another maxSize bytes.
	f.size = 0
	if err := os.Rename(f.path, name); err != nil {
		return fmt.Errorf("rotate log %s: %w", f.path, err)
	}
	nf, err := os.OpenFile(f.path, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o640)
	if err != nil {
		// Keep writing into the renamed file rather than lose output.
		return fmt.Errorf("rotate log %s: %w", f.path, err)
	}
	_ = f.f.Close()
	f.f = nf
	err = removeExcess(f.path, f.maxFiles)
	f.startTidyLocked()
	return err
}

// removeExcess removes the oldest rotations so that at most maxFiles-1
// remain beside the live file.
func removeExcess(path string, maxFiles int) error {
	segs, err := listRotated(path)
	if err != nil {
		return err
	}
	var errs []error
	for _, s := range segs[:max(len(segs)-(maxFiles-1), 0)] {
		for _, p := range []string{s.path(), s.path() + gzSuffix, s.path() + gzSuffix + tmpSuffix} {
			if err := os.Remove(p); err != nil && !errors.Is(err, os.ErrNotExist) {
				errs = append(errs, fmt.Errorf("remove rotated log: %w", err))
			}
		}
	}
	return errors.Join(errs...)
}

// startTidyLocked has the rotated files compressed in the background, one
// goroutine per File at most.
func (f *File) startTidyLocked() {
	if f.tidying {
		f.tidyAgain = true
		return
	}
	f.tidying = true
	f.tidyDone.Add(1)
	go f.tidy()
}

func (f *File) tidy() {
	defer f.tidyDone.Done()
	for {
		if err := compressRotated(f.path, f.maxFiles); err != nil {
			f.errLog(err)
		}
		f.mu.Lock()
		again := f.tidyAgain
		f.tidyAgain = false
		f.tidying = again
		f.mu.Unlock()
		if !again {
			return
		}
	}
}

// compressRotated gzips every rotation but the newest (a reader following
// the log may still be finishing it, as the kubelet leaves it for the
// runtime), finishes or undoes compressions cut short, and removes the
// rotations in excess.
func compressRotated(path string, maxFiles int) error {
	segs, err := listRotated(path)
	if err != nil {
		return err
	}
	var errs []error
	for i, s := range segs {
		switch {
		case s.plain && s.gz:
			// The .gz is whole (it is renamed into place once written).
			errs = append(errs, removeIfExists(s.path()))
		case s.plain && i < len(segs)-1:
			errs = append(errs, compressFile(s.path()))
		case s.tmp && !s.plain:
			errs = append(errs, removeIfExists(s.path()+gzSuffix+tmpSuffix))
		}
	}
	errs = append(errs, removeExcess(path, maxFiles))
	return errors.Join(errs...)
}

// inodeComment names the file a .gz was made from, in its gzip header: a
// reader that holds the original open can still tell which rotation it was
// reading once it is compressed (while the reader holds it, its inode
// number cannot be reused).
func inodeComment(st os.FileInfo) string {
	if sys, ok := st.Sys().(*syscall.Stat_t); ok {
		return fmt.Sprintf("inode %d", sys.Ino)
	}
	return ""
}

// holds reports whether the segment is (or was compressed from) the file
// st describes.
func (s segment) holds(st os.FileInfo) bool {
	if o, err := os.Stat(s.path()); err == nil {
		return os.SameFile(st, o)
	}
	want := inodeComment(st)
	if want == "" {
		return false
	}
	f, err := os.Open(s.path() + gzSuffix)
	if err != nil {
		return false
	}
	defer f.Close()
	zr, err := gzip.NewReader(f)
	if err != nil {
		return false
	}
	return zr.Comment == want
}

// compressFile replaces src by src.gz.
func compressFile(src string) (retErr error) {
	in, err := os.Open(src)
	if errors.Is(err, os.ErrNotExist) {
		return nil // removed as excess meanwhile
	}
	if err != nil {
		return fmt.Errorf("compress rotated log: %w", err)
	}
	defer in.Close()
	tmp := src + gzSuffix + tmpSuffix
	out, err := os.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o640)
	if err != nil {
		return fmt.Errorf("compress rotated log: %w", err)
	}
	defer func() {
		if retErr != nil {
			_ = os.Remove(tmp)
		}
	}()
	// The fastest level: this runs on the node beside the pods, and log
	// text compresses well at any level.
	zw, err := gzip.NewWriterLevel(out, gzip.BestSpeed)
	if err != nil {
		_ = out.Close()
		return err
	}
	if st, err := in.Stat(); err == nil {
		zw.Comment = inodeComment(st)
	}
	_, err = io.Copy(zw, in)
	err = errors.Join(err, zw.Close(), out.Close())
	if err != nil {
		return fmt.Errorf("compress rotated log %s: %w", src, err)
	}
	if _, err := os.Stat(src); errors.Is(err, os.ErrNotExist) {
		return os.Remove(tmp) // removed as excess while we compressed it
	}
	if err := os.Rename(tmp, src+gzSuffix); err != nil {
		return fmt.Errorf("compress rotated log %s: %w", src, err)
	}
	return removeIfExists(src)
}

func removeIfExists(path string) error {
	if err := os.Remove(path); err != nil && !errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("remove rotated log: %w", err)
	}
	return nil
}
