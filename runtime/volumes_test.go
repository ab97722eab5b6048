package runtime

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	v1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

func TestContainerMounts(t *testing.T) {
	root := t.TempDir()
	layout := podLayout{dir: filepath.Join(root, "pod")}
	hostDir := filepath.Join(root, "host")
	dirOrCreate := v1.HostPathDirectoryOrCreate
	var tmpfs []string
	h := volumeHost{mountTmpfs: func(dir string, size int64) error { tmpfs = append(tmpfs, dir); return nil }}
	pod := &v1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: "p", Namespace: "ns"},
		Spec: v1.PodSpec{Volumes: []v1.Volume{
			{Name: "scratch", VolumeSource: v1.VolumeSource{EmptyDir: &v1.EmptyDirVolumeSource{}}},
			{Name: "mem", VolumeSource: v1.VolumeSource{EmptyDir: &v1.EmptyDirVolumeSource{Medium: v1.StorageMediumMemory}}},
			{Name: "host", VolumeSource: v1.VolumeSource{HostPath: &v1.HostPathVolumeSource{Path: hostDir, Type: &dirOrCreate}}},
		}},
	}
	c := &v1.Container{Name: "c", VolumeMounts: []v1.VolumeMount{
		{Name: "scratch", MountPath: "/data"},
		{Name: "scratch", MountPath: "/logs", SubPathExpr: "$(POD)/logs"},
		{Name: "mem", MountPath: "/mem"},
		{Name: "host", MountPath: "/host", ReadOnly: true},
		{Name: "scratch", MountPath: "/etc/resolv.conf", SubPath: "resolv"},
	}}
	mounts, err := h.containerMounts(layout, pod, c, []string{"POD=p"}, "/term/log")
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]string{}
	for _, m := range mounts {
		got[m.Destination] = m.Source + " " + strings.Join(m.Options, ",")
	}
	want := map[string]string{
		"/data":                layout.emptyDir("scratch") + " rbind,rprivate,rw",
		"/logs":                layout.emptyDir("scratch") + "/p/logs rbind,rprivate,rw",
		"/mem":                 layout.emptyDir("mem") + " rbind,rprivate,rw",
		"/host":                hostDir + " rbind,rprivate,ro",
		"/etc/resolv.conf":     layout.emptyDir("scratch") + "/resolv rbind,rprivate,rw",
		"/etc/hosts":           layout.hosts() + " rbind,rprivate,rw",
		"/etc/hostname":        layout.hostname() + " rbind,rprivate,rw",
		"/dev/shm":             layout.shm() + " rbind,rprivate,rw",
		"/dev/termination-log": "/term/log rbind,rprivate,rw",
	}
	if len(got) != len(want) {
		t.Errorf("mounts = %v", got)
	}
	for dst, w := range want {
		if got[dst] != w {
			t.Errorf("%s: got %q, want %q", dst, got[dst], w)
		}
	}
	if len(tmpfs) != 1 || tmpfs[0] != layout.emptyDir("mem") {
		t.Errorf("tmpfs mounts = %v", tmpfs)
	}
	for _, d := range []string{hostDir, layout.emptyDir("scratch") + "/p/logs"} {
		if st, err := os.Stat(d); err != nil || !st.IsDir() {
			t.Errorf("%s not created: %v", d, err)
		}
	}
	if st, _ := os.Stat(layout.emptyDir("scratch")); st.Mode().Perm() != 0o777 {
		t.Errorf("emptyDir mode = %v", st.Mode())
	}
}

func TestVolumeMountErrors(t *testing.T) {
	root := t.TempDir()
	layout := podLayout{dir: root}
	pod := &v1.Pod{Spec: v1.PodSpec{Volumes: []v1.Volume{
		{Name: "scratch", VolumeSource: v1.VolumeSource{EmptyDir: &v1.EmptyDirVolumeSource{}}},
		{Name: "cm", VolumeSource: v1.VolumeSource{ConfigMap: &v1.ConfigMapVolumeSource{}}},
	}}}
	for name, vm := range map[string]v1.VolumeMount{
		"unknown volume":   {Name: "nope", MountPath: "/x"},
		"unsupported":      {Name: "cm", MountPath: "/x"},
		"dotdot subpath":   {Name: "scratch", MountPath: "/x", SubPath: "../etc"},
		"absolute subpath": {Name: "scratch", MountPath: "/x", SubPath: "/etc"},
		"relative mount":   {Name: "scratch", MountPath: "x"},
	} {
		if _, err := (volumeHost{}).volumeMount(layout, pod, vm, nil); err == nil {
			t.Errorf("%s: expected an error", name)
		}
	}
	// A symlink inside the volume must not lead out of it.
	if err := os.Symlink("/etc", filepath.Join(layout.emptyDir("scratch"), "escape")); err != nil {
		t.Fatal(err)
	}
	if _, err := (volumeHost{}).volumeMount(layout, pod, v1.VolumeMount{Name: "scratch", MountPath: "/x", SubPath: "escape"}, nil); err == nil {
		t.Error("symlink escape accepted")
	}
}

func TestCheckHostPath(t *testing.T) {
	root := t.TempDir()
	file := filepath.Join(root, "file")
	if err := os.WriteFile(file, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	typ := func(t v1.HostPathType) *v1.HostPathType { return &t }
	for _, tc := range []struct {
		name    string
		path    string
		typ     *v1.HostPathType
		wantErr bool
		created bool
	}{
		{"unset missing creates dir", filepath.Join(root, "a"), nil, false, true},
		{"dir or create", filepath.Join(root, "b/c"), typ(v1.HostPathDirectoryOrCreate), false, true},
		{"dir or create on a file", file, typ(v1.HostPathDirectoryOrCreate), true, false},
		{"directory missing", filepath.Join(root, "missing"), typ(v1.HostPathDirectory), true, false},
		{"directory ok", root, typ(v1.HostPathDirectory), false, false},
		{"file or create", filepath.Join(root, "newfile"), typ(v1.HostPathFileOrCreate), false, true},
		{"file ok", file, typ(v1.HostPathFile), false, false},
		{"file is dir", root, typ(v1.HostPathFile), true, false},
		{"socket", file, typ(v1.HostPathSocket), true, false},
		{"relative", "rel", nil, true, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := checkHostPath(&v1.HostPathVolumeSource{Path: tc.path, Type: tc.typ})
			if (err != nil) != tc.wantErr {
				t.Fatalf("err = %v", err)
			}
			if tc.created {
				if _, err := os.Stat(tc.path); err != nil {
					t.Errorf("not created: %v", err)
				}
			}
		})
	}
}

// A subPath known only once expanded is checked as the kubelet's makeMounts
// does, with its messages, and the failure is a ConfigError (the pod shows
// CreateContainerConfigError). The cases are upstream's e2e "Variable
// Expansion should fail substituting values in a volume subpath with
// absolute path" and "… with backticks" (whose value is in fact "..").
func TestSubPathExprErrors(t *testing.T) {
	layout := podLayout{dir: t.TempDir()}
	pod := &v1.Pod{Spec: v1.PodSpec{Volumes: []v1.Volume{
		{Name: "work", VolumeSource: v1.VolumeSource{EmptyDir: &v1.EmptyDirVolumeSource{}}},
	}}}
	tests := []struct {
		expr string
		env  []string
		want string // "" means no error, and the mount lands under the volume
	}{
		{"$(POD_NAME)", []string{"POD_NAME=/tmp"}, "error SubPath `/tmp` must not be an absolute path"},
		{"$(POD_NAME)", []string{"POD_NAME=.."}, "unable to provision SubPath `..`: must not contain '..'"},
		{"logs/$(POD_NAME)/x", []string{"POD_NAME=.."}, "unable to provision SubPath `logs/../x`: must not contain '..'"},
		{"$(A)/$(B)", []string{"A="}, "missing value for A, B"},
		{"$(POD_NAME)..$(POD_NAME)", []string{"POD_NAME=a"}, ""},
		{"logs/$(POD_NAME)", []string{"POD_NAME=web-1"}, ""},
	}
	for _, tt := range tests {
		vm := v1.VolumeMount{Name: "work", MountPath: "/logs", SubPathExpr: tt.expr}
		m, err := (volumeHost{}).volumeMount(layout, pod, vm, tt.env)
		if tt.want == "" {
			if err != nil || !strings.HasPrefix(m.Source, layout.emptyDir("work")+"/") {
				t.Errorf("%s %v: mount %+v, %v", tt.expr, tt.env, m, err)
			}
			continue
		}
		var cfg *ConfigError
		if !errors.As(err, &cfg) || cfg.Error() != tt.want {
			t.Errorf("%s %v: error %v, want a ConfigError %q", tt.expr, tt.env, err, tt.want)
		}
	}
}
