package agent

import (
	"strings"
	"testing"
)

func TestLogRotationConfig(t *testing.T) {
	for _, tt := range []struct {
		size     string
		files    int
		wantSize int64
		wantErr  string
	}{
		{"10Mi", 5, 10 << 20, ""},
		{"100k", 2, 100000, ""},
		{"1Gi", 10, 1 << 30, ""},
		{"2048", 3, 2048, ""},
		{"10MB", 5, 0, `containerLogMaxSize "10MB"`},
		{"", 5, 0, `containerLogMaxSize ""`},
		{"0", 5, 0, "must be greater than 0"},
		{"-1Mi", 5, 0, "must be greater than 0"},
		{"10Mi", 1, 0, "containerLogMaxFiles 1: must be greater than 1"},
		{"10Mi", 0, 0, "containerLogMaxFiles 0: must be greater than 1"},
	} {
		c := DefaultConfig()
		c.ContainerLogMaxSize, c.ContainerLogMaxFiles = tt.size, tt.files
		size, files, err := c.logRotation()
		switch {
		case tt.wantErr == "" && (err != nil || size != tt.wantSize || files != tt.files):
			t.Errorf("%q, %d: got %d, %d, %v", tt.size, tt.files, size, files, err)
		case tt.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tt.wantErr)):
			t.Errorf("%q, %d: error %v, want %q", tt.size, tt.files, err, tt.wantErr)
		}
	}
	def := DefaultConfig()
	if _, _, err := def.logRotation(); err != nil {
		t.Errorf("defaults: %v", err)
	}
}

func TestMaxPodsConfig(t *testing.T) {
	c := DefaultConfig()
	if c.MaxPods != 110 {
		t.Errorf("default maxPods = %d, want the kubelet's 110", c.MaxPods)
	}
	c.MaxPods = 0
	if err := c.Complete(); err == nil || !strings.Contains(err.Error(), "maxPods 0: must be at least 1") {
		t.Errorf("maxPods 0: error %v, want it named", err)
	}
}
