package runtime

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"syscall"

	"github.com/containerd/containerd/images"
)

// importRecordFile, under Root, lists the image archives imported and what
// each gave, so that a start imports only the archives that changed or
// whose images are gone: importing an unchanged archive again rewrote
// every layer and image record, a tenth to half a second of each start
// (most of it containerd's) before the agent served its API.
const importRecordFile = "imported-archives.json"

// archiveFile identifies an archive file without reading it: a replaced
// file has another inode, one rewritten in place another size or times.
type archiveFile struct {
	Device     uint64 `json:"device"`
	Inode      uint64 `json:"inode"`
	Size       int64  `json:"size"`
	ModTimeNs  int64  `json:"mtimeNs"`
	ChangeTime int64  `json:"ctimeNs"`
}

// importedArchive is an archive as it was imported and the images it
// gave: each name with the digest of its target then.
type importedArchive struct {
	File   archiveFile       `json:"file"`
	Images map[string]string `json:"images"`
}

func statArchive(path string) (archiveFile, error) {
	fi, err := os.Stat(path)
	if err != nil {
		return archiveFile{}, err
	}
	st, ok := fi.Sys().(*syscall.Stat_t)
	if !ok {
		return archiveFile{}, fmt.Errorf("stat %s: no inode", path)
	}
	return archiveFile{
		Device:     uint64(st.Dev), // uint32 on some Linux ports
		Inode:      st.Ino,
		Size:       st.Size,
		ModTimeNs:  st.Mtim.Nano(),
		ChangeTime: st.Ctim.Nano(),
	}, nil
}

// loadImportRecord reads the record of imported archives, by path. A
// missing or unreadable record is an empty one: every archive is imported.
func (c *Containerd) loadImportRecord() map[string]importedArchive {
	out := map[string]importedArchive{}
	data, err := os.ReadFile(filepath.Join(c.cfg.Root, importRecordFile))
	if err != nil {
		return out
	}
	if err := json.Unmarshal(data, &out); err != nil {
		return map[string]importedArchive{}
	}
	return out
}

// saveImportRecord replaces the record; a failure only costs the next
// start an import of every archive, and leaves no temporary file behind.
func (c *Containerd) saveImportRecord(rec map[string]importedArchive) error {
	data, err := json.Marshal(rec)
	if err != nil {
		return err
	}
	path := filepath.Join(c.cfg.Root, importRecordFile)
	tmp := path + ".tmp"
	err = os.WriteFile(tmp, data, 0o600)
	if err == nil {
		err = os.Rename(tmp, path)
	}
	if err != nil {
		_ = os.Remove(tmp)
		return fmt.Errorf("save the record of imported image archives: %w", err)
	}
	return nil
}

// recordImport adds an archive imported while the runtime runs (a failed
// one replaced since) to the record, so that the next start does not
// import it again.
func (c *Containerd) recordImport(path string, file archiveFile, imgs []images.Image) error {
	c.importRecordMu.Lock()
	defer c.importRecordMu.Unlock()
	rec := c.loadImportRecord()
	rec[path] = importedArchive{File: file, Images: importTargets(imgs)}
	return c.saveImportRecord(rec)
}

// importTargets is each imported image's name with its target's digest.
func importTargets(imgs []images.Image) map[string]string {
	targets := make(map[string]string, len(imgs))
	for _, img := range imgs {
		targets[img.Name] = img.Target.Digest.String()
	}
	return targets
}

// imageDigests lists the namespace's images: each name's target digest.
func (c *Containerd) imageDigests(ctx context.Context) (map[string]string, error) {
	imgs, err := c.client.ImageService().List(c.ns(ctx))
	if err != nil {
		return nil, fmt.Errorf("list images: %w", err)
	}
	out := make(map[string]string, len(imgs))
	for _, img := range imgs {
		out[img.Name] = img.Target.Digest.String()
	}
	return out, nil
}

// unchangedSince reports whether path is still the file rec was imported
// from and every image it gave is still there, on the same target.
func unchangedSince(rec importedArchive, file archiveFile, present map[string]string) bool {
	if rec.File != file || len(rec.Images) == 0 {
		return false
	}
	for name, digest := range rec.Images {
		if present[name] != digest {
			return false
		}
	}
	return true
}
