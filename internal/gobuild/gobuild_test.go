package gobuild

import (
	"debug/elf"
	"os"
	"path/filepath"
	"testing"
)

func TestModuleRoot(t *testing.T) {
	root, err := moduleRoot(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	if !isModuleRoot(root) {
		t.Errorf("module root %s does not hold the module's go.mod", root)
	}
	if _, err := os.Stat(filepath.Join(root, "internal", "gobuild", "gobuild.go")); err != nil {
		t.Errorf("module root %s does not hold this package: %v", root, err)
	}
}

func TestIsModuleRoot(t *testing.T) {
	write := func(content string) string {
		dir := t.TempDir()
		if err := os.WriteFile(filepath.Join(dir, "go.mod"), []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
		return dir
	}
	tests := []struct {
		name string
		dir  string
		want bool
	}{
		{"this module", write("// comment\nmodule " + modulePath + "\n\ngo 1.22\n"), true},
		{"another module", write("module example.com/other\n"), false},
		{"no go.mod", t.TempDir(), false},
	}
	for _, tt := range tests {
		if got := isModuleRoot(tt.dir); got != tt.want {
			t.Errorf("%s: isModuleRoot = %v, want %v", tt.name, got, tt.want)
		}
	}
}

// TestStatic builds a real package: it needs the go toolchain, which the
// tests themselves run under.
func TestStatic(t *testing.T) {
	if testing.Short() {
		t.Skip("builds a binary")
	}
	out := filepath.Join(t.TempDir(), "myapp")
	if err := Static(t.Context(), "./images/myapp", out, "-X main.unused=1"); err != nil {
		t.Fatal(err)
	}
	checkStaticAndStripped(t, out)
}

// checkStaticAndStripped fails t unless the ELF binary at path is static (no
// loader, no dynamic symbols: an image with nothing else can run it) and
// stripped.
func checkStaticAndStripped(t *testing.T, path string) {
	t.Helper()
	f, err := elf.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	for _, p := range f.Progs {
		if p.Type == elf.PT_INTERP {
			t.Errorf("%s has a program interpreter, want a static binary", path)
		}
	}
	if _, err := f.DynamicSymbols(); err == nil {
		t.Errorf("%s has dynamic symbols, want a static binary", path)
	}
	if s := f.Section(".symtab"); s != nil {
		t.Errorf("%s keeps its symbol table, want it stripped", path)
	}
}

func TestStaticReportsBuildErrors(t *testing.T) {
	err := Static(t.Context(), "./no/such/package", filepath.Join(t.TempDir(), "x"))
	if err == nil {
		t.Fatal("building a missing package succeeded")
	}
}
