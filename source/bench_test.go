package source

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

	"go.uber.org/zap"
)

// BenchmarkRenameToUpdate is the source's share of a pod start: a manifest
// renamed into the directory (as apply does) → the snapshot with its pod.
func BenchmarkRenameToUpdate(b *testing.B) {
	dir := b.TempDir()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	out := make(chan Update, 1)
	s := New(zap.NewNop(), Config{Dir: dir, NodeName: node, Rescan: time.Hour})
	go func() { _ = s.Run(ctx, out) }()
	<-out
	for i := 0; b.Loop(); i++ {
		name := fmt.Sprintf("p%d", i)
		tmp := filepath.Join(dir, "."+name+".tmp")
		if err := os.WriteFile(tmp, []byte(named(name, "busybox")), 0o644); err != nil {
			b.Fatal(err)
		}
		if err := os.Rename(tmp, filepath.Join(dir, name+".yaml")); err != nil {
			b.Fatal(err)
		}
		for u := range out {
			if findPod(u, "default/"+name) != nil {
				break
			}
		}
	}
}
