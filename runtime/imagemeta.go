package runtime

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"sync"

	"github.com/containerd/containerd"
	"github.com/containerd/containerd/containers"
	"github.com/containerd/containerd/content"
	"github.com/containerd/containerd/errdefs"
	"github.com/containerd/containerd/images"
	"github.com/containerd/containerd/platforms"
	"github.com/opencontainers/go-digest"
	"github.com/opencontainers/image-spec/identity"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
)

// maxImageMetas bounds the image metadata cache; past it the cache starts
// over (a node runs few distinct images at a time).
const maxImageMetas = 128

// imageMeta is what an image's content says about it for this platform:
// its size, its config blob and its layers' diff IDs. All of it follows
// from the image's target digest (content is addressed by digest), so it
// is read from the content store once per digest, not at every container
// start: ImageStatus, the unpack check, the config and the container's
// snapshot each walked the manifest and the config again, a dozen gRPC
// round trips on the path from an init container's exit to the next start.
type imageMeta struct {
	size    int64
	config  []byte // the config blob, unmarshalled afresh for each caller
	diffIDs []digest.Digest
	// configDesc is the config's descriptor with the blob as its Data, so
	// that containerd's content.ReadBlob (oci.WithImageConfig) takes it
	// from there.
	configDesc ocispec.Descriptor
}

// imageMetas caches imageMeta by target digest. Pods started together
// wait for one read (reading) rather than each reading the content.
type imageMetas struct {
	mu      sync.Mutex
	m       map[digest.Digest]*imageMeta
	reading map[digest.Digest]chan struct{}
}

// imageMeta returns the metadata of img, read from the content store on the
// first call for its target digest.
func (c *Containerd) imageMeta(ctx context.Context, img images.Image) (*imageMeta, error) {
	key := img.Target.Digest
	for {
		c.metas.mu.Lock()
		meta, wait := c.metas.m[key], c.metas.reading[key]
		if meta == nil && wait == nil {
			if c.metas.reading == nil {
				c.metas.reading = map[digest.Digest]chan struct{}{}
			}
			done := make(chan struct{})
			c.metas.reading[key] = done
			c.metas.mu.Unlock()
			meta, err := c.readImageMeta(ctx, img)
			c.metas.mu.Lock()
			delete(c.metas.reading, key)
			if err == nil {
				if c.metas.m == nil || len(c.metas.m) >= maxImageMetas {
					c.metas.m = map[digest.Digest]*imageMeta{}
				}
				c.metas.m[key] = meta
			}
			c.metas.mu.Unlock()
			close(done)
			return meta, err
		}
		c.metas.mu.Unlock()
		if meta != nil {
			return meta, nil
		}
		select {
		case <-wait: // read, or failed: then this call reads
		case <-ctx.Done():
			return nil, fmt.Errorf("image %q: %w", img.Name, ctx.Err())
		}
	}
}

func (c *Containerd) readImageMeta(ctx context.Context, img images.Image) (*imageMeta, error) {
	i := containerd.NewImageWithPlatform(c.client, img, platforms.Default())
	size, err := i.Size(ctx)
	if err != nil {
		return nil, fmt.Errorf("image %q: size: %w", img.Name, err)
	}
	desc, err := i.Config(ctx)
	if err != nil {
		return nil, fmt.Errorf("image %q: config descriptor: %w", img.Name, err)
	}
	config, err := content.ReadBlob(ctx, i.ContentStore(), desc)
	if err != nil {
		return nil, fmt.Errorf("image %q: read config: %w", img.Name, err)
	}
	diffIDs, err := i.RootFS(ctx)
	if err != nil {
		return nil, fmt.Errorf("image %q: layers: %w", img.Name, err)
	}
	desc.Data = config
	return &imageMeta{size: size, config: config, diffIDs: diffIDs, configDesc: desc}, nil
}

// spec unmarshals the image config: each caller gets its own copy, free to
// append to its slices.
func (m *imageMeta) spec() (ocispec.Image, error) {
	var s ocispec.Image
	if err := json.Unmarshal(m.config, &s); err != nil {
		return ocispec.Image{}, fmt.Errorf("unmarshal image config: %w", err)
	}
	return s, nil
}

// metaImage is a containerd image whose config, layers and size come from
// its imageMeta rather than the content store.
type metaImage struct {
	containerd.Image
	meta   *imageMeta
	client *containerd.Client
}

func (i metaImage) Config(context.Context) (ocispec.Descriptor, error) {
	return i.meta.configDesc, nil
}

func (i metaImage) RootFS(context.Context) ([]digest.Digest, error) {
	return slices.Clone(i.meta.diffIDs), nil
}

func (i metaImage) Spec(context.Context) (ocispec.Image, error) {
	return i.meta.spec()
}

func (i metaImage) Size(context.Context) (int64, error) {
	return i.meta.size, nil
}

// IsUnpacked asks the snapshotter for the image's top layer, as
// containerd's own IsUnpacked does after reading the layers.
func (i metaImage) IsUnpacked(ctx context.Context, snapshotter string) (bool, error) {
	_, err := i.client.SnapshotService(snapshotter).Stat(ctx, identity.ChainID(i.meta.diffIDs).String())
	if err == nil {
		return true, nil
	}
	if errdefs.IsNotFound(err) {
		return false, nil
	}
	return false, err
}

// withNewSnapshot is containerd.WithNewSnapshot without snapshot options:
// containerd's asks the snapshotter's capabilities (an introspection round
// trip per container) only to find there is no ID mapping to do.
func withNewSnapshot(id string, img containerd.Image) containerd.NewContainerOpts {
	return func(ctx context.Context, client *containerd.Client, c *containers.Container) error {
		diffIDs, err := img.RootFS(ctx)
		if err != nil {
			return err
		}
		if _, err := client.SnapshotService(c.Snapshotter).Prepare(ctx, id, identity.ChainID(diffIDs).String()); err != nil {
			return err
		}
		c.SnapshotKey = id
		c.Image = img.Name()
		return nil
	}
}
