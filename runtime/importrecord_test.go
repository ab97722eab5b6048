package runtime

import (
	"os"
	"path/filepath"
	"testing"
)

// A record that cannot replace the old one (here a directory is in its
// place) is an error, and its temporary file does not stay behind.
func TestSaveImportRecordFailureLeavesNoTemp(t *testing.T) {
	root := t.TempDir()
	if err := os.MkdirAll(filepath.Join(root, importRecordFile, "x"), 0o755); err != nil {
		t.Fatal(err)
	}
	c := &Containerd{cfg: Config{Root: root}}
	rec := map[string]importedArchive{"/images/a.tar": {Images: map[string]string{"example.com/a:1": "sha256:0"}}}
	if err := c.saveImportRecord(rec); err == nil {
		t.Fatal("saved over a directory")
	}
	if _, err := os.Stat(filepath.Join(root, importRecordFile+".tmp")); !os.IsNotExist(err) {
		t.Errorf("temporary record left: %v", err)
	}

	// Saved where it can be: read back the same.
	c.cfg.Root = t.TempDir()
	if err := c.saveImportRecord(rec); err != nil {
		t.Fatal(err)
	}
	if got := c.loadImportRecord(); got["/images/a.tar"].Images["example.com/a:1"] != "sha256:0" || len(got) != 1 {
		t.Errorf("read back %v", got)
	}
}
