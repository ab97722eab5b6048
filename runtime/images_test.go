package runtime

import "testing"

func TestIsLocalRegistry(t *testing.T) {
	for ref, want := range map[string]bool{
		"busybox":                        false,
		"docker.io/library/busybox:1.36": false,
		"127.0.0.1:5000/myapp:v1":        true,
		"127.0.0.2:5000/myapp:v1":        true,
		"localhost:5000/x":               true,
		"[::1]:5000/x":                   true,
		"registry.example:5000/x":        false,
		"10.0.0.1:5000/x":                false,
	} {
		if got := IsLocalRegistry(ref); got != want {
			t.Errorf("IsLocalRegistry(%q) = %v", ref, got)
		}
	}
}
