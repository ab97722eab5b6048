package runtime

import "testing"

func TestParseShim(t *testing.T) {
	for _, tc := range []struct {
		name    string
		cmdline string
		want    Shim
		ok      bool
	}{
		{"runc v2 shim", "/usr/bin/containerd-shim-runc-v2\x00-namespace\x00mk\x00-id\x00abc\x00-address\x00/run/ctd.sock\x00",
			Shim{Namespace: "mk", ID: "abc", Address: "/run/ctd.sock"}, true},
		{"flags in another order", "containerd-shim-runc-v2\x00-address\x00/a\x00-id\x00x\x00-namespace\x00n\x00",
			Shim{Namespace: "n", ID: "x", Address: "/a"}, true},
		{"another program", "/bin/sleep\x00-namespace\x00mk\x00-id\x00abc\x00", Shim{}, false},
		{"no id", "containerd-shim-runc-v2\x00-namespace\x00mk\x00", Shim{}, false},
		{"empty", "", Shim{}, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, ok := parseShim([]byte(tc.cmdline))
			if ok != tc.ok || (ok && got != tc.want) {
				t.Errorf("parseShim = %+v, %v; want %+v, %v", got, ok, tc.want, tc.ok)
			}
		})
	}
}

func TestUnixPath(t *testing.T) {
	for in, want := range map[string]string{
		"unix:///run/c.sock": "/run/c.sock",
		"unix:/run/c.sock":   "/run/c.sock",
		"/run/c.sock":        "/run/c.sock",
	} {
		if got := unixPath(in); got != want {
			t.Errorf("unixPath(%q) = %q, want %q", in, got, want)
		}
	}
}
