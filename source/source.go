package source

import (
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"syscall"
	"time"

	"github.com/fsnotify/fsnotify"
	"go.uber.org/zap"
	appsv1 "k8s.io/api/apps/v1"
	v1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/validation/field"
)

// Defaults of Config.
const (
	// DefaultRescan is the kubelet's fileCheckFrequency.
	DefaultRescan = 20 * time.Second
	// DefaultDebounce collects the burst of writes of one save. Creations,
	// renames and removals are read at once (see onEvent).
	DefaultDebounce = 100 * time.Millisecond
)

// Config configures a Source.
type Config struct {
	// Dir is the manifest directory. It is created if missing.
	Dir string
	// NodeName goes into spec.nodeName and into every generated UID.
	NodeName string
	// Rescan is the period of the full relist that catches what the watch
	// missed. Zero means DefaultRescan.
	Rescan time.Duration
	// Debounce is how long a path must stay quiet after a write before it
	// is read. Zero means DefaultDebounce.
	Debounce time.Duration
	// DisableWatch relies on the periodic rescan alone (for file systems
	// without inotify, and tests). The source also falls back to this when
	// the watch cannot be set up.
	DisableWatch bool
	// ReadTimeout bounds each directory listing and file read. Zero means
	// DefaultReadTimeout.
	ReadTimeout time.Duration
}

// Update is a complete snapshot of the directory. The receiver must treat it
// as read-only: the same pods may be shared with later snapshots' producer.
type Update struct {
	// Pods is every valid pod, sorted by namespace/name.
	Pods []*v1.Pod
	// Services is every valid v1 Service, sorted by namespace/name, with
	// creationTimestamp set to when this source first saw it.
	Services []*v1.Service
	// Deployments is every valid apps/v1 Deployment, sorted by
	// namespace/name, with creationTimestamp set to when this source first
	// saw it.
	Deployments []*appsv1.Deployment
	// DeploymentFiles is the file of each Deployment, by namespace/name.
	DeploymentFiles map[string]string
	// ConfigMaps and Secrets are every valid v1 ConfigMap and Secret,
	// sorted by namespace/name, with creationTimestamp set to when this
	// source first saw them. Pods refer to them by name.
	ConfigMaps []*v1.ConfigMap
	Secrets    []*v1.Secret
	// Errors is every problem found in this scan, sorted by file.
	Errors []FileError
	// Skipped lists the objects of kinds the agent does not run yet.
	Skipped []Skipped
	// Warnings is what is accepted but not run as written, sorted by file
	// (PodSpecWarnings).
	Warnings []FileError
}

// Source watches a manifest directory and publishes the desired pods.
type Source struct {
	log *zap.Logger
	cfg Config

	// Everything below is owned by the Run goroutine.
	files     map[string]fileResult // by path, the last read of each file
	pending   map[string]time.Time  // debounced paths and when to read them
	firstSeen map[types.UID]time.Time
	logged    map[string]bool      // problems and skipped objects already logged
	hashes    map[types.UID]string // content hashes of the pods of the last snapshot
	// lastCMs and lastSecrets are the ConfigMaps and Secrets of the last
	// snapshot, by namespace/name: an immutable one keeps its content
	// against edits of its file until the file goes.
	lastCMs     map[string]*v1.ConfigMap
	lastSecrets map[string]*v1.Secret
	lastSig     string
	sent        bool
	now         func() time.Time
	fs          *boundedFS
	// missing is set while the directory does not exist: its pods are
	// stopped, as for the kubelet, and the snapshot says why.
	missing bool
	// stamped is the last snapshot's stamped copy of each cached pod.
	stamped map[*v1.Pod]*v1.Pod
}

type fileResult struct {
	pods     []*v1.Pod
	services []*v1.Service
	deploys  []*appsv1.Deployment
	cms      []*v1.ConfigMap
	secrets  []*v1.Secret
	hashes   map[types.UID]string // content hash of each pod and service, for change detection
	skipped  []Skipped
	errs     []FileError
	warns    []FileError
	// timedOut: the read was given up on (hung file system).
	timedOut bool
	// digest is the SHA-256 of the bytes parsed: a read of the same bytes
	// stands for the same result.
	digest [sha256.Size]byte
}

// keepLast is what a file whose read timed out stands for: its last read,
// if any, so that its pods keep running while the file system hangs, with
// the timeout reported beside.
func (s *Source) keepLast(path string, res fileResult) fileResult {
	old, ok := s.files[path]
	if !ok {
		return res
	}
	var errs []FileError
	for _, e := range old.errs {
		if _, timeout := e.Err.(errReadTimeout); !timeout {
			errs = append(errs, e)
		}
	}
	old.errs = append(errs, res.errs...)
	old.timedOut = true
	return old
}

// New returns a Source; nothing happens until Run.
func New(log *zap.Logger, cfg Config) *Source {
	if cfg.Rescan <= 0 {
		cfg.Rescan = DefaultRescan
	}
	if cfg.Debounce <= 0 {
		cfg.Debounce = DefaultDebounce
	}
	// The path is part of every UID: make it independent of the working
	// directory the agent happens to start in.
	if abs, err := filepath.Abs(cfg.Dir); err == nil {
		cfg.Dir = abs
	}
	return &Source{
		log:       log,
		cfg:       cfg,
		files:     map[string]fileResult{},
		pending:   map[string]time.Time{},
		firstSeen: map[types.UID]time.Time{},
		logged:    map[string]bool{},
		now:       time.Now,
		fs:        newBoundedFS(cfg.ReadTimeout),
	}
}

// Run sends the first full snapshot, then a new snapshot after every change
// that alters the result (pods by UID, errors, skipped objects), until ctx
// ends. It returns nil when ctx ends and an error only if it cannot start.
// Sends block: a slow receiver delays the watch, it never loses a snapshot.
func (s *Source) Run(ctx context.Context, out chan<- Update) error {
	if err := os.MkdirAll(s.cfg.Dir, 0o755); err != nil {
		return fmt.Errorf("create manifest directory %s: %w", s.cfg.Dir, err)
	}
	var w *fsnotify.Watcher
	if !s.cfg.DisableWatch {
		// Watch before the first scan, so nothing changes unseen between.
		w = s.watch()
	}
	defer func() {
		if w != nil {
			w.Close()
		}
	}()

	s.rescan(ctx)
	if err := s.emit(ctx, out); err != nil {
		return nil
	}

	ticker := time.NewTicker(s.cfg.Rescan)
	defer ticker.Stop()
	debounce := time.NewTimer(time.Hour)
	debounce.Stop()
	defer debounce.Stop()
	// retry watches the directory again, every rewatchEvery, after the
	// watch was lost with it.
	retry := time.NewTimer(time.Hour)
	retry.Stop()
	defer retry.Stop()
	lost := func() {
		w = nil
		retry.Reset(rewatchEvery)
	}

	for {
		var (
			events <-chan fsnotify.Event
			errs   <-chan error
		)
		if w != nil {
			events, errs = w.Events, w.Errors
		}
		select {
		case <-ctx.Done():
			return nil
		case ev, ok := <-events:
			read, gone := false, false
			for more := true; more; {
				if !ok {
					lost()
					break
				}
				if ev.Name == s.cfg.Dir && ev.Op&(fsnotify.Remove|fsnotify.Rename) != 0 {
					// The directory itself went away (removed, or renamed:
					// the watch would follow it elsewhere). Its pods stop
					// now, as when its files are deleted; they come back
					// with it.
					s.log.Warn("manifest directory removed: its pods stop until it is back", zap.String("dir", s.cfg.Dir))
					w.Close()
					lost()
					gone = true
					break
				}
				read = s.onEvent(ctx, ev) || read
				// Take the rest of a burst (many manifests dropped at once)
				// before sending one snapshot for all of it.
				select {
				case ev, ok = <-w.Events:
				default:
					more = false
				}
			}
			if gone {
				// Files waiting out their debounce went with the
				// directory; the rescan when it is back reads them all.
				// Kept, they would stay pending with no timer armed, and
				// the rescan would skip them as mid-write.
				clear(s.pending)
				debounce.Stop()
				s.rescan(ctx)
				if err := s.emit(ctx, out); err != nil {
					return nil
				}
				continue
			}
			s.armTimer(debounce)
			if read {
				if err := s.emit(ctx, out); err != nil {
					return nil
				}
			}
		case err, ok := <-errs:
			if !ok {
				lost()
				continue
			}
			// Typically an inotify queue overflow: events were lost, so
			// read everything again.
			s.log.Warn("manifest watch error; rescanning", zap.Error(err))
			s.rescan(ctx)
			if err := s.emit(ctx, out); err != nil {
				return nil
			}
		case <-debounce.C:
			s.readDue(ctx)
			s.armTimer(debounce)
			if err := s.emit(ctx, out); err != nil {
				return nil
			}
		case <-retry.C:
			// Not recreated by the agent, as the kubelet does not: a
			// directory being replaced (mv new manifests) must not find
			// an empty one in its way.
			if w = s.rewatch(ctx); w == nil {
				retry.Reset(rewatchEvery)
				continue
			}
			s.log.Info("manifest directory is back", zap.String("dir", s.cfg.Dir))
			s.rescan(ctx)
			if err := s.emit(ctx, out); err != nil {
				return nil
			}
		case <-ticker.C:
			s.rescan(ctx)
			if err := s.emit(ctx, out); err != nil {
				return nil
			}
		}
	}
}

// rewatchEvery is how often a lost watch is tried again.
const rewatchEvery = time.Second

// rewatch watches the directory again once it exists; nil, quietly, while
// it does not.
func (s *Source) rewatch(ctx context.Context) *fsnotify.Watcher {
	if _, err := s.fs.readDir(ctx, s.cfg.Dir); err != nil {
		return nil
	}
	return s.watch()
}

// watch sets up the fsnotify watch; nil (and a warning) when it cannot, in
// which case the periodic rescan carries on alone.
func (s *Source) watch() *fsnotify.Watcher {
	w, err := fsnotify.NewWatcher()
	if err != nil {
		s.log.Warn("cannot watch manifest directory; relying on periodic rescans",
			zap.String("dir", s.cfg.Dir), zap.Duration("rescan", s.cfg.Rescan), zap.Error(err))
		return nil
	}
	if err := w.Add(s.cfg.Dir); err != nil {
		w.Close()
		s.log.Warn("cannot watch manifest directory; relying on periodic rescans",
			zap.String("dir", s.cfg.Dir), zap.Duration("rescan", s.cfg.Rescan), zap.Error(err))
		return nil
	}
	return w
}

// onEvent reads the path of ev at once when the event ends a change, and
// reports whether it did; otherwise it debounces the path. A file renamed
// into place (as apply and editors that save atomically do), a new file
// that already has content, a removal and a rename away are whole changes:
// the kubelet reads a static pod file on such an event at once, and waiting
// here would delay every pod start and deletion by the debounce. Only
// writes come in bursts (and a new empty file is about to be written): they
// wait until the path has been quiet for the debounce, so a file being
// written is not read half-way.
func (s *Source) onEvent(ctx context.Context, ev fsnotify.Event) bool {
	if filepath.Dir(ev.Name) != s.cfg.Dir || !isManifestName(filepath.Base(ev.Name)) {
		return false
	}
	whole := ev.Op.Has(fsnotify.Remove) || ev.Op.Has(fsnotify.Rename)
	if ev.Op.Has(fsnotify.Create) {
		st, err := os.Lstat(ev.Name)
		whole = err != nil || st.Size() > 0
	}
	if !whole {
		s.pending[ev.Name] = s.now().Add(s.cfg.Debounce)
		return false
	}
	delete(s.pending, ev.Name)
	s.readPath(ctx, ev.Name)
	return true
}

// armTimer sets t to fire when the earliest pending path is due.
func (s *Source) armTimer(t *time.Timer) {
	t.Stop()
	var first time.Time
	for _, due := range s.pending {
		if first.IsZero() || due.Before(first) {
			first = due
		}
	}
	if !first.IsZero() {
		t.Reset(max(first.Sub(s.now()), 0))
	}
}

// readDue reads every debounced path whose quiet period is over.
func (s *Source) readDue(ctx context.Context) {
	now := s.now()
	for path, due := range s.pending {
		if due.After(now) {
			continue
		}
		delete(s.pending, path)
		s.readPath(ctx, path)
	}
}

// readPath re-reads one file into the cache, or forgets it if it is gone.
func (s *Source) readPath(ctx context.Context, path string) {
	res, ok := s.load(ctx, path)
	if ok && res.timedOut {
		res = s.keepLast(path, res)
	}
	if !ok {
		delete(s.files, path)
		return
	}
	s.files[path] = res
}

// rescan lists the directory and reads every manifest again. Paths with a
// pending event keep their last read: they may be mid-write, and their
// debounce timer reads them once they are quiet.
func (s *Source) rescan(ctx context.Context) {
	entries, err := s.fs.readDir(ctx, s.cfg.Dir)
	s.missing = errors.Is(err, fs.ErrNotExist)
	if err != nil {
		if !s.missing {
			// Unreadable or hung: keep what was read last.
			s.log.Warn("list manifest directory", zap.String("dir", s.cfg.Dir), zap.Error(err))
			return
		}
		// A missing directory is an empty set of pods, as for the kubelet.
		entries = nil
	}
	files := map[string]fileResult{}
	for _, e := range entries {
		if !isManifestName(e.Name()) {
			continue
		}
		path := filepath.Join(s.cfg.Dir, e.Name())
		if _, busy := s.pending[path]; busy {
			if old, ok := s.files[path]; ok {
				files[path] = old
			}
			continue
		}
		if res, ok := s.load(ctx, path); ok {
			if res.timedOut {
				res = s.keepLast(path, res)
			}
			files[path] = res
		}
	}
	s.files = files
}

// errDirMissing explains why no pod is read.
var errDirMissing = errors.New("manifest directory is missing: its pods are stopped, and start again when it is back")

// load reads and parses one file. ok is false when nothing is at path any
// more; what is there but not a regular file is reported as a problem of
// that file, and skipped.
func (s *Source) load(ctx context.Context, path string) (fileResult, bool) {
	data, err := s.fs.readFile(ctx, path)
	switch {
	case errors.Is(err, errNotManifest):
		return fileResult{}, false
	case err != nil:
		_, timedOut := err.(errReadTimeout)
		return fileResult{errs: []FileError{{File: path, Err: err}}, timedOut: timedOut}, true
	}
	// The rescan reads every manifest every 20 s, as the kubelet does;
	// parsing them again is what it cost (YAML and JSON decoding, defaults,
	// validation, hashes: with 100 pods most of the agent's idle allocation
	// and the decoders' code kept mapped). Parsing depends on nothing but
	// the path, the bytes and the node name, so the same bytes give the
	// result of their last parse; the objects in it are shared already
	// (snapshot stamps copies).
	digest := sha256.Sum256(data)
	if old, ok := s.files[path]; ok && !old.timedOut && old.digest == digest {
		return old, true
	}
	objs := Parse(path, data, s.cfg.NodeName)
	res := fileResult{pods: objs.Pods, services: objs.Services, deploys: objs.Deployments, cms: objs.ConfigMaps, secrets: objs.Secrets,
		skipped: objs.Skipped, errs: objs.Errors, warns: objs.Warnings, hashes: map[types.UID]string{}, digest: digest}
	for _, p := range objs.Pods {
		res.hashes[p.UID] = contentHash(p)
	}
	for _, svc := range objs.Services {
		// A Service keeps its UID across edits (it names the Service, not
		// its content): the hash tells the change apart.
		res.hashes[svc.UID] = objectHash(svc)
	}
	for _, d := range objs.Deployments {
		res.hashes[d.UID] = objectHash(d)
	}
	for _, cm := range objs.ConfigMaps {
		res.hashes[cm.UID] = objectHash(cm)
	}
	for _, sec := range objs.Secrets {
		res.hashes[sec.UID] = objectHash(sec)
	}
	return res, true
}

// errNotManifest means nothing is at the path any more.
var errNotManifest = errors.New("no such file")

// notRegularError refuses what is not a regular file: the kubelet's file
// source skips those too. Reading a named pipe would wait for a writer
// forever, and opening a device can have side effects.
type notRegularError struct{ mode fs.FileMode }

func (e notRegularError) Error() string {
	kind := "irregular file"
	switch t := e.mode.Type(); {
	case t&fs.ModeDir != 0:
		kind = "directory"
	case t&fs.ModeNamedPipe != 0:
		kind = "named pipe"
	case t&fs.ModeSocket != 0:
		kind = "socket"
	case t&fs.ModeCharDevice != 0:
		kind = "character device"
	case t&fs.ModeDevice != 0:
		kind = "block device"
	}
	return "not a regular file (" + kind + "): skipped"
}

// readManifest reads a regular file (following symlinks, as the kubelet
// does) of at most MaxFileSize bytes. Anything else is refused without a
// blocking open: the path is checked before it is opened, and the open is
// non-blocking and checked again in case the entry was replaced in between.
func readManifest(path string) ([]byte, error) {
	st, err := os.Stat(path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, errNotManifest
	}
	if err != nil {
		return nil, err
	}
	if !st.Mode().IsRegular() {
		return nil, notRegularError{st.Mode()}
	}
	f, err := os.OpenFile(path, os.O_RDONLY|syscall.O_NONBLOCK|syscall.O_NOCTTY, 0)
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return nil, errNotManifest
		}
		return nil, err
	}
	defer f.Close()
	if st, err = f.Stat(); err != nil {
		return nil, err
	}
	if !st.Mode().IsRegular() {
		return nil, notRegularError{st.Mode()}
	}
	if st.Size() > MaxFileSize {
		return nil, fmt.Errorf("file is larger than the %d byte limit", MaxFileSize)
	}
	data, err := io.ReadAll(io.LimitReader(f, MaxFileSize+1))
	if err != nil {
		return nil, err
	}
	if len(data) > MaxFileSize {
		return nil, fmt.Errorf("file is larger than the %d byte limit", MaxFileSize)
	}
	return data, nil
}

// isManifestName reports whether a directory entry is read as a manifest:
// .yaml, .yml or .json, and not a dotfile or an editor's backup, swap or
// lock file.
func isManifestName(name string) bool {
	if strings.HasPrefix(name, ".") || strings.HasSuffix(name, "~") ||
		(strings.HasPrefix(name, "#") && strings.HasSuffix(name, "#")) {
		return false
	}
	switch strings.ToLower(filepath.Ext(name)) {
	case ".yaml", ".yml", ".json":
		return true
	}
	return false
}

// snapshot builds the Update from the cached files: duplicates resolved in
// sorted file order, first-seen times stamped.
func (s *Source) snapshot() Update {
	paths := make([]string, 0, len(s.files))
	for p := range s.files {
		paths = append(paths, p)
	}
	sort.Strings(paths)

	var u Update
	hashes := map[types.UID]string{}
	owner := map[string]string{}    // namespace/name → file
	svcOwner := map[string]string{} // namespace/name → file
	dOwner := map[string]string{}   // namespace/name → file
	cfgOwner := map[string]string{} // kind namespace/name → file
	// claim takes namespace/name of kind for path, or reports the file
	// that has it already (the first in sorted order wins).
	claim := func(kind, key, path string, uid types.UID) bool {
		if first, dup := cfgOwner[kind+" "+key]; dup {
			u.Errors = append(u.Errors, FileError{File: path,
				Err: fmt.Errorf("duplicate %s %q: already defined in %s", kind, key, first)})
			return false
		}
		cfgOwner[kind+" "+key] = path
		hashes[uid] = s.files[path].hashes[uid]
		return true
	}
	for _, path := range paths {
		res := s.files[path]
		u.Errors = append(u.Errors, res.errs...)
		u.Skipped = append(u.Skipped, res.skipped...)
		u.Warnings = append(u.Warnings, res.warns...)
		for _, svc := range res.services {
			key := serviceKey(svc)
			if first, dup := svcOwner[key]; dup {
				u.Errors = append(u.Errors, FileError{File: path,
					Err: fmt.Errorf("duplicate service %q: already defined in %s", key, first)})
				continue
			}
			svcOwner[key] = path
			hashes[svc.UID] = res.hashes[svc.UID]
			u.Services = append(u.Services, svc)
		}
		for _, d := range res.deploys {
			key := deploymentKey(d)
			if first, dup := dOwner[key]; dup {
				u.Errors = append(u.Errors, FileError{File: path,
					Err: fmt.Errorf("duplicate deployment %q: already defined in %s", key, first)})
				continue
			}
			dOwner[key] = path
			if u.DeploymentFiles == nil {
				u.DeploymentFiles = map[string]string{}
			}
			u.DeploymentFiles[key] = path
			hashes[d.UID] = res.hashes[d.UID]
			u.Deployments = append(u.Deployments, d)
		}
		for _, cm := range res.cms {
			if claim("configmap", objectKey(cm), path, cm.UID) {
				if old := s.lastCMs[objectKey(cm)]; old != nil && keepImmutable(&u, hashes, path, "ConfigMap", cm, old, ValidateConfigMapUpdate(cm, old)) {
					cm = old
				}
				u.ConfigMaps = append(u.ConfigMaps, cm)
			}
		}
		for _, sec := range res.secrets {
			if claim("secret", objectKey(sec), path, sec.UID) {
				if old := s.lastSecrets[objectKey(sec)]; old != nil && keepImmutable(&u, hashes, path, "Secret", sec, old, ValidateSecretUpdate(sec, old)) {
					sec = old
				}
				u.Secrets = append(u.Secrets, sec)
			}
		}
		for _, p := range res.pods {
			key := podKey(p)
			if first, dup := owner[key]; dup {
				u.Errors = append(u.Errors, FileError{File: path, Pod: key,
					Err: fmt.Errorf("duplicate pod %q: already defined in %s", key, first)})
				continue
			}
			owner[key] = path
			hashes[p.UID] = res.hashes[p.UID]
			u.Pods = append(u.Pods, p)
		}
	}
	if s.missing {
		u.Errors = append(u.Errors, FileError{File: s.cfg.Dir, Err: errDirMissing})
	}
	sort.SliceStable(u.Errors, func(i, j int) bool { return u.Errors[i].File < u.Errors[j].File })
	sort.Slice(u.Pods, func(i, j int) bool { return podKey(u.Pods[i]) < podKey(u.Pods[j]) })
	sort.Slice(u.Services, func(i, j int) bool { return serviceKey(u.Services[i]) < serviceKey(u.Services[j]) })
	sort.Slice(u.Deployments, func(i, j int) bool { return deploymentKey(u.Deployments[i]) < deploymentKey(u.Deployments[j]) })
	sort.Slice(u.ConfigMaps, func(i, j int) bool { return objectKey(u.ConfigMaps[i]) < objectKey(u.ConfigMaps[j]) })
	sort.Slice(u.Secrets, func(i, j int) bool { return objectKey(u.Secrets[i]) < objectKey(u.Secrets[j]) })

	now := s.now()
	seen := make(map[types.UID]time.Time, len(u.Pods)+len(u.Services))
	seenAt := func(uid types.UID) time.Time {
		t, ok := s.firstSeen[uid]
		if !ok {
			t = now
		}
		seen[uid] = t
		return t
	}
	stamped := make(map[*v1.Pod]*v1.Pod, len(u.Pods))
	for i, p := range u.Pods {
		// The cached pod is shared with later snapshots: stamp a copy,
		// once per file read. The copy stands in the next snapshots too
		// while the file is unchanged, so that receivers can tell an
		// unchanged pod by its pointer: with many files, a copy and a
		// comparison of every pod at each snapshot grows with the square
		// of their number.
		seen := seenAt(p.UID)
		cp := s.stamped[p]
		if cp == nil || !cp.CreationTimestamp.Time.Equal(seen) {
			cp = p.DeepCopy()
			stampSeen(cp, seen)
		}
		stamped[p] = cp
		u.Pods[i] = cp
	}
	s.stamped = stamped
	stampCreation(u.Services, seenAt)
	stampCreation(u.Deployments, seenAt)
	stampCreation(u.ConfigMaps, seenAt)
	stampCreation(u.Secrets, seenAt)
	s.firstSeen = seen
	s.hashes = hashes
	s.lastCMs = make(map[string]*v1.ConfigMap, len(u.ConfigMaps))
	for _, cm := range u.ConfigMaps {
		s.lastCMs[objectKey(cm)] = cm
	}
	s.lastSecrets = make(map[string]*v1.Secret, len(u.Secrets))
	for _, sec := range u.Secrets {
		s.lastSecrets[objectKey(sec)] = sec
	}
	return u
}

// stampCreation replaces each object with a copy whose creationTimestamp
// is when it was first seen: the cached objects are shared with later
// snapshots.
func stampCreation[T interface {
	metav1.Object
	DeepCopy() T
}](objs []T, seenAt func(types.UID) time.Time) {
	for i, o := range objs {
		cp := o.DeepCopy()
		cp.SetCreationTimestamp(metav1.NewTime(seenAt(o.GetUID())))
		objs[i] = cp
	}
}

// keepImmutable refuses the edit of a file that changes what the API server
// would not let change (an immutable ConfigMap's or Secret's data, a
// Secret's type): the object keeps the content of the last snapshot, as
// an update would be refused, and the file's problem says which field. It
// reports whether the old object stays.
func keepImmutable(u *Update, hashes map[types.UID]string, path, kind string, obj, old metav1.Object, errs field.ErrorList) bool {
	if len(errs) == 0 {
		return false
	}
	for _, e := range errs {
		u.Errors = append(u.Errors, FileError{File: path,
			Err: fmt.Errorf("%s %q is invalid: %w; the last accepted version stays (delete the file, then create it again, to replace it)", kind, obj.GetName(), e)})
	}
	hashes[obj.GetUID()] = objectHash(old)
	return true
}

// signature identifies what receivers care about in a snapshot.
func (s *Source) signature(u Update) string {
	var b strings.Builder
	for _, p := range u.Pods {
		fmt.Fprintf(&b, "pod %s %s %s\n", podKey(p), p.UID, s.hashes[p.UID])
	}
	for _, svc := range u.Services {
		fmt.Fprintf(&b, "svc %s %s %s\n", serviceKey(svc), svc.UID, s.hashes[svc.UID])
	}
	for _, d := range u.Deployments {
		fmt.Fprintf(&b, "deploy %s %s %s\n", deploymentKey(d), d.UID, s.hashes[d.UID])
	}
	for _, cm := range u.ConfigMaps {
		fmt.Fprintf(&b, "cm %s %s %s\n", objectKey(cm), cm.UID, s.hashes[cm.UID])
	}
	for _, sec := range u.Secrets {
		fmt.Fprintf(&b, "secret %s %s %s\n", objectKey(sec), sec.UID, s.hashes[sec.UID])
	}
	for _, e := range u.Errors {
		fmt.Fprintf(&b, "err %s\n", e.Error())
	}
	for _, sk := range u.Skipped {
		fmt.Fprintf(&b, "skip %s %s %s %s/%s\n", sk.File, sk.APIVersion, sk.Kind, sk.Namespace, sk.Name)
	}
	for _, w := range u.Warnings {
		fmt.Fprintf(&b, "warn %s\n", w.Error())
	}
	return b.String()
}

// emit sends the current snapshot unless it equals the last one sent. It
// fails only when ctx ends first.
func (s *Source) emit(ctx context.Context, out chan<- Update) error {
	u := s.snapshot()
	sig := s.signature(u)
	if s.sent && sig == s.lastSig {
		return nil
	}
	s.report(u)
	select {
	case out <- u:
		s.sent, s.lastSig = true, sig
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// report logs each problem and each skipped object once, not at every
// rescan; what disappears is forgotten so it is logged again if it returns.
func (s *Source) report(u Update) {
	current := map[string]bool{}
	for _, e := range u.Errors {
		key := "err " + e.Error()
		current[key] = true
		if !s.logged[key] {
			s.log.Warn("invalid manifest", zap.String("file", e.File), zap.String("pod", e.Pod), zap.Error(e.Err))
		}
	}
	for _, w := range u.Warnings {
		key := "warn " + w.Error()
		current[key] = true
		if !s.logged[key] {
			s.log.Warn("manifest accepted with a warning", zap.String("file", w.File), zap.String("pod", w.Pod), zap.String("warning", w.Err.Error()))
		}
	}
	for _, sk := range u.Skipped {
		key := fmt.Sprintf("skip %s %s/%s %s/%s", sk.File, sk.APIVersion, sk.Kind, sk.Namespace, sk.Name)
		current[key] = true
		if !s.logged[key] {
			s.log.Info("kind not yet supported; object skipped", zap.String("file", sk.File),
				zap.String("apiVersion", sk.APIVersion), zap.String("kind", sk.Kind),
				zap.String("namespace", sk.Namespace), zap.String("name", sk.Name))
		}
	}
	s.logged = current
}
