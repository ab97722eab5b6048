package runtime

import (
	"strings"
	"testing"
)

// The embedded containerd's CRI plugin is off unless WithCRI turns it on
// with its config, which then is the plugin's section.
func TestEmbeddedConfigCRI(t *testing.T) {
	cfg, err := newEmbeddedConfig(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	off := cfg.configTOML()
	if !strings.Contains(off, `disabled_plugins = ["io.containerd.grpc.v1.cri"`) {
		t.Errorf("CRI not disabled by default:\n%s", off)
	}
	if strings.Contains(off, `[plugins."io.containerd.grpc.v1.cri"]`) {
		t.Errorf("CRI section in the default config:\n%s", off)
	}

	WithCRI(`  sandbox_image = "example.test/pause:1"`)(&cfg)
	on := cfg.configTOML()
	if strings.Contains(on, "disabled_plugins") {
		t.Errorf("plugins disabled with CRI on:\n%s", on)
	}
	section := "[plugins.\"io.containerd.grpc.v1.cri\"]\n  sandbox_image = \"example.test/pause:1\"\n"
	if !strings.Contains(on, section) {
		t.Errorf("CRI section missing or not last; want %q in:\n%s", section, on)
	}
	if !strings.HasSuffix(on, section) {
		t.Errorf("CRI section not at the end (its body would take the next keys):\n%s", on)
	}
}
