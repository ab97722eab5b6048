package runtime

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"maps"
	"net"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/containerd/containerd"
	"github.com/containerd/containerd/archive/compression"
	"github.com/containerd/containerd/errdefs"
	"github.com/containerd/containerd/images"
	"github.com/containerd/containerd/platforms"
	"github.com/containerd/containerd/remotes/docker"
	"github.com/distribution/reference"
	"go.uber.org/zap"

	"github.com/minikubelet/minikubelet/imagebuild"
	pauseimage "github.com/minikubelet/minikubelet/pause/image"
)

// normalizeImageRef parses an image reference the way Docker does
// (busybox → docker.io/library/busybox:latest).
func normalizeImageRef(ref string) (reference.Named, error) {
	named, err := reference.ParseDockerRef(ref)
	if err != nil {
		return nil, fmt.Errorf("%w: %q: %v", ErrInvalidImageName, ref, err)
	}
	return named, nil
}

// ImageStatus reports a local image; ErrImageNotPresent (wrapped) if absent.
// A digest reference also finds an image stored under a tag of the same
// repository with that digest.
func (c *Containerd) ImageStatus(ctx context.Context, ref string) (ImageInfo, error) {
	named, err := normalizeImageRef(ref)
	if err != nil {
		return ImageInfo{}, err
	}
	ctx = c.ns(ctx)
	img, err := c.client.ImageService().Get(ctx, named.String())
	if errdefs.IsNotFound(err) {
		img, err = c.findByDigest(ctx, named)
	}
	if err != nil {
		if errdefs.IsNotFound(err) {
			return ImageInfo{}, fmt.Errorf("image %q: %w", named.String(), ErrImageNotPresent)
		}
		return ImageInfo{}, fmt.Errorf("image status %q: %w", named.String(), err)
	}
	return c.imageInfo(ctx, img, named)
}

func (c *Containerd) findByDigest(ctx context.Context, named reference.Named) (images.Image, error) {
	d, ok := named.(reference.Digested)
	if !ok {
		return images.Image{}, errdefs.ErrNotFound
	}
	list, err := c.client.ImageService().List(ctx, fmt.Sprintf("target.digest==%s", d.Digest()))
	if err != nil {
		return images.Image{}, err
	}
	for _, img := range list {
		if n, err := reference.ParseNormalizedNamed(img.Name); err == nil && n.Name() == named.Name() {
			return img, nil
		}
	}
	return images.Image{}, errdefs.ErrNotFound
}

// imageInfo describes img; named is how the caller asked for it.
func (c *Containerd) imageInfo(ctx context.Context, img images.Image, named reference.Named) (ImageInfo, error) {
	meta, err := c.imageMeta(ctx, img)
	if err != nil {
		return ImageInfo{}, err
	}
	spec, err := meta.spec()
	if err != nil {
		return ImageInfo{}, fmt.Errorf("image %q: %w", img.Name, err)
	}
	return ImageInfo{
		Ref:        named.String(),
		ID:         named.Name() + "@" + img.Target.Digest.String(),
		Size:       meta.size,
		StopSignal: spec.Config.StopSignal,
	}, nil
}

// PullImage pulls ref through containerd and unpacks it for the
// snapshotter. Registries on localhost or 127.0.0.1 are spoken to over
// plain HTTP, every other one over HTTPS, anonymously.
//
// An offline runtime refuses, before any lookup, to pull from a registry
// that is not on this machine's loopback.
func (c *Containerd) PullImage(ctx context.Context, ref string) (ImageInfo, error) {
	named, err := normalizeImageRef(ref)
	if err != nil {
		return ImageInfo{}, err
	}
	if c.cfg.Offline && !IsLocalRegistry(named.String()) {
		// The image may be in an archive that failed to import and has
		// been replaced since: the offline node's only way to get it.
		if info, err := c.retryFailedImports(ctx, ref); err == nil {
			return info, nil
		}
		return ImageInfo{}, fmt.Errorf("pull image %q: %w: registry %s is not on this machine%s",
			named.String(), ErrOffline, reference.Domain(named), c.imports.note())
	}
	ctx = c.ns(ctx)
	resolver := docker.NewResolver(docker.ResolverOptions{
		Hosts: docker.ConfigureDefaultRegistries(docker.WithPlainHTTP(docker.MatchLocalhost)),
	})
	img, err := c.client.Pull(ctx, named.String(),
		containerd.WithPullUnpack,
		containerd.WithPullSnapshotter(c.cfg.Snapshotter),
		containerd.WithResolver(resolver),
	)
	if err != nil {
		return ImageInfo{}, fmt.Errorf("pull image %q: %w", named.String(), err)
	}
	return c.imageInfo(ctx, img.Metadata(), named)
}

// ImportArchive imports a docker-archive or OCI layout tarball (optionally
// compressed) and unpacks its images for the snapshotter, all under one
// lease so nothing is garbage-collected half-way. It returns the image
// names; index entries that carry only a tag and no repository are skipped.
func (c *Containerd) ImportArchive(ctx context.Context, r io.Reader) ([]string, error) {
	imgs, err := c.importArchive(ctx, r)
	return imageNames(imgs), err
}

func imageNames(imgs []images.Image) []string {
	names := make([]string, 0, len(imgs))
	for _, img := range imgs {
		names = append(names, img.Name)
	}
	return names
}

// importArchive is ImportArchive returning the images unpacked, each with
// the target it was imported with.
func (c *Containerd) importArchive(ctx context.Context, r io.Reader) ([]images.Image, error) {
	ctx = c.ns(ctx)
	ctx, done, err := c.client.WithLease(ctx)
	if err != nil {
		return nil, fmt.Errorf("import images: lease: %w", err)
	}
	defer func() {
		cctx, cancel := c.cleanupContext(ctx)
		defer cancel()
		_ = done(cctx)
	}()
	ds, err := compression.DecompressStream(r)
	if err != nil {
		return nil, fmt.Errorf("import images: %w", err)
	}
	defer ds.Close()
	imgs, err := c.client.Import(ctx, ds,
		containerd.WithImportPlatform(platforms.Default()),
		containerd.WithImageRefTranslator(fullRefOnly),
	)
	if err != nil {
		return nil, fmt.Errorf("import images: %w", err)
	}
	for n, img := range imgs {
		i := containerd.NewImageWithPlatform(c.client, img, platforms.Default())
		if err := i.Unpack(ctx, c.cfg.Snapshotter); err != nil {
			return imgs[:n], fmt.Errorf("import images: unpack %q: %w", img.Name, err)
		}
	}
	return imgs, nil
}

// fullRefOnly keeps an OCI ref.name annotation only when it is a whole
// image reference (some tools write that); a bare tag names nothing.
func fullRefOnly(name string) string {
	if !strings.ContainsAny(name, "/:") {
		return ""
	}
	named, err := reference.ParseDockerRef(name)
	if err != nil {
		return ""
	}
	return named.String()
}

// ImportImages imports every image tarball in dir (*.tar, *.tar.gz, *.tgz,
// *.tar.zst: docker-archive or OCI layout), one file at a time, k3s style: a
// file that fails is logged and skipped, and never stops the others or the
// caller. The error is only for a dir that cannot be read or a ctx that
// ended. A missing dir is not an error. An archive imported before (by
// this runtime's Root) is not imported again while it is the same file
// and the images it gave are still there on the same targets.
func (c *Containerd) ImportImages(ctx context.Context, dir string) error {
	entries, err := os.ReadDir(dir)
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("import images from %s: %w", dir, err)
	}
	prev, next := c.loadImportRecord(), map[string]importedArchive{}
	var present map[string]string // listed once, if an archive was imported before
	var failed []string
	for _, e := range entries {
		name := e.Name()
		if e.IsDir() || strings.HasPrefix(name, ".") || !isImageArchive(name) {
			continue
		}
		if err := ctx.Err(); err != nil {
			return err
		}
		path := filepath.Join(dir, name)
		// Read before the import: a file changed during it is imported
		// again at the next start.
		file, statErr := statArchive(path)
		if rec, ok := prev[path]; ok && statErr == nil {
			if present == nil {
				if present, err = c.imageDigests(ctx); err != nil {
					present = map[string]string{} // import them all
				}
			}
			if unchangedSince(rec, file, present) {
				next[path] = rec
				c.imports.record(path, nil)
				c.log.Info("image archive unchanged since its import, images present", zap.String("file", path), zap.Strings("images", slices.Sorted(maps.Keys(rec.Images))))
				continue
			}
		}
		imgs, err := c.importFile(ctx, path)
		c.imports.record(path, err)
		if err != nil {
			c.log.Error("image import failed; skipping the file", zap.String("file", path), zap.Error(err))
			failed = append(failed, name)
			continue
		}
		c.log.Info("imported images", zap.String("file", path), zap.Strings("images", imageNames(imgs)))
		if statErr == nil {
			next[path] = importedArchive{File: file, Images: importTargets(imgs)}
		}
	}
	c.importRecordMu.Lock()
	err = c.saveImportRecord(next)
	c.importRecordMu.Unlock()
	if err != nil {
		c.log.Warn("record of imported image archives not saved; the next start imports them again", zap.Error(err))
	}
	if len(failed) > 0 {
		sort.Strings(failed)
		c.log.Warn("some image archives were skipped", zap.String("dir", dir), zap.Strings("files", failed))
	}
	return nil
}

// importLedger remembers the image archives that failed to import, with
// the file's size and time then, so that a pod waiting for one of their
// images is told why it is missing, and a replaced archive is imported.
type importLedger struct {
	mu     sync.Mutex
	failed map[string]importFailure // by path
}

type importFailure struct {
	err     error
	size    int64
	modTime time.Time
}

// record notes the outcome of importing path.
func (l *importLedger) record(path string, err error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if err == nil {
		delete(l.failed, path)
		return
	}
	f := importFailure{err: err}
	if st, serr := os.Stat(path); serr == nil {
		f.size, f.modTime = st.Size(), st.ModTime()
	}
	if l.failed == nil {
		l.failed = map[string]importFailure{}
	}
	l.failed[path] = f
}

// note is what a missing image's error adds: the archives that failed.
func (l *importLedger) note() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	if len(l.failed) == 0 {
		return ""
	}
	var parts []string
	for _, path := range slices.Sorted(maps.Keys(l.failed)) {
		parts = append(parts, fmt.Sprintf("%s (%v)", path, l.failed[path].err))
	}
	return "; image archives that failed to import, the image may be in one: " + strings.Join(parts, ", ")
}

// changed lists the failed archives that were replaced since they failed.
func (l *importLedger) changed() []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	var out []string
	for path, f := range l.failed {
		st, err := os.Stat(path)
		if err != nil {
			delete(l.failed, path) // gone: nothing to import, nothing to say
			continue
		}
		if st.Size() != f.size || !st.ModTime().Equal(f.modTime) {
			out = append(out, path)
		}
	}
	slices.Sort(out)
	return out
}

// retryFailedImports imports again the failed archives that were replaced
// since, and returns ref's image if it is now present.
func (c *Containerd) retryFailedImports(ctx context.Context, ref string) (ImageInfo, error) {
	for _, path := range c.imports.changed() {
		file, statErr := statArchive(path) // before the import, as ImportImages
		imgs, err := c.importFile(ctx, path)
		c.imports.record(path, err)
		if err != nil {
			c.log.Error("image import failed again; skipping the file", zap.String("file", path), zap.Error(err))
			continue
		}
		c.log.Info("imported images from a replaced archive", zap.String("file", path), zap.Strings("images", imageNames(imgs)))
		if statErr == nil {
			if err := c.recordImport(path, file, imgs); err != nil {
				c.log.Warn("record of imported image archives not updated; the next start imports the archive again", zap.String("file", path), zap.Error(err))
			}
		}
	}
	return c.ImageStatus(ctx, ref)
}

func isImageArchive(name string) bool {
	for _, ext := range []string{".tar", ".tar.gz", ".tgz", ".tar.zst", ".tar.zstd"} {
		if strings.HasSuffix(name, ext) {
			return true
		}
	}
	return false
}

func (c *Containerd) importFile(ctx context.Context, path string) ([]images.Image, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	return c.importArchive(ctx, f)
}

// EnsurePauseImage makes the sandbox image available without a registry:
// when cfg.PauseImage is the agent's own pause image and it is missing, it
// is built from the pause binary at pauseBinaryPath and imported.
func (c *Containerd) EnsurePauseImage(ctx context.Context, pauseBinaryPath string) error {
	if _, err := c.ImageStatus(ctx, c.cfg.PauseImage); err == nil {
		return nil
	} else if !errors.Is(err, ErrImageNotPresent) {
		return err
	}
	named, err := normalizeImageRef(pauseimage.Ref)
	if err != nil {
		return err
	}
	if want, _ := normalizeImageRef(c.cfg.PauseImage); want == nil || want.String() != named.String() {
		return fmt.Errorf("pause image %q is not present (only %s can be built locally)", c.cfg.PauseImage, pauseimage.Ref)
	}
	bin, err := os.ReadFile(pauseBinaryPath)
	if err != nil {
		return fmt.Errorf("build pause image: %w", err)
	}
	var buf bytes.Buffer
	if err := imagebuild.WriteOCIArchive(&buf, pauseimage.Build(bin)); err != nil {
		return fmt.Errorf("build pause image: %w", err)
	}
	names, err := c.ImportArchive(ctx, &buf)
	if err != nil {
		return fmt.Errorf("import pause image: %w", err)
	}
	c.log.Info("pause image imported", zap.Strings("images", names))
	return nil
}

// ensureUnpacked unpacks an image for the snapshotter if an earlier pull
// or import did not (another snapshotter, an interrupted import).
func (c *Containerd) ensureUnpacked(ctx context.Context, img containerd.Image) error {
	ok, err := img.IsUnpacked(ctx, c.cfg.Snapshotter)
	if err != nil {
		return err
	}
	if ok {
		return nil
	}
	return img.Unpack(ctx, c.cfg.Snapshotter)
}

// getImage loads an image by reference for running a container.
func (c *Containerd) getImage(ctx context.Context, ref string) (containerd.Image, reference.Named, error) {
	named, err := normalizeImageRef(ref)
	if err != nil {
		return nil, nil, err
	}
	img, err := c.client.ImageService().Get(ctx, named.String())
	if errdefs.IsNotFound(err) {
		img, err = c.findByDigest(ctx, named)
	}
	if err != nil {
		if errdefs.IsNotFound(err) {
			return nil, nil, fmt.Errorf("image %q: %w", named.String(), ErrImageNotPresent)
		}
		return nil, nil, fmt.Errorf("image %q: %w", named.String(), err)
	}
	meta, err := c.imageMeta(ctx, img)
	if err != nil {
		return nil, nil, err
	}
	i := metaImage{Image: containerd.NewImageWithPlatform(c.client, img, platforms.Default()), meta: meta, client: c.client}
	if err := c.ensureUnpacked(ctx, i); err != nil {
		return nil, nil, fmt.Errorf("unpack image %q: %w", named.String(), err)
	}
	return i, named, nil
}

// IsLocalRegistry reports whether an image reference names a registry on
// this machine's loopback (localhost, 127.0.0.0/8, ::1).
func IsLocalRegistry(ref string) bool {
	named, err := reference.ParseNormalizedNamed(ref)
	if err != nil {
		return false
	}
	host := reference.Domain(named)
	if h, _, err := net.SplitHostPort(host); err == nil {
		host = h
	}
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}
