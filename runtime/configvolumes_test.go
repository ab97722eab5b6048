package runtime

import (
	"fmt"
	"maps"
	"slices"
	"testing"

	v1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"
)

func TestVolumeFiles(t *testing.T) {
	pod := &v1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: "p", Namespace: "lab", UID: "u1",
			Labels: map[string]string{"app": "web", "tier": "front"}, Annotations: map[string]string{"note": `say "hi"`}},
		Spec: v1.PodSpec{Containers: []v1.Container{{Name: "c", Resources: v1.ResourceRequirements{
			Limits: v1.ResourceList{v1.ResourceMemory: resource.MustParse("64Mi")}}}}},
	}
	ec := envContext{Objects: fakeObjects{
		cms:     map[string]*v1.ConfigMap{"lab/cfg": {Data: map[string]string{"a": "1", "b": "2"}, BinaryData: map[string][]byte{"bin": {0, 1}}}},
		secrets: map[string]*v1.Secret{"lab/s": {Data: map[string][]byte{"user": []byte("admin")}}},
	}, NodeMemory: resource.MustParse("1Gi")}
	ref := func(name string) v1.LocalObjectReference { return v1.LocalObjectReference{Name: name} }
	for _, tc := range []struct {
		name    string
		src     v1.VolumeSource
		want    []string // "path mode content", sorted
		wantErr string
	}{
		{name: "configMap, every key, defaultMode",
			src:  v1.VolumeSource{ConfigMap: &v1.ConfigMapVolumeSource{LocalObjectReference: ref("cfg"), DefaultMode: ptr.To[int32](0o644)}},
			want: []string{"a 644 1", "b 644 2", "bin 644 \x00\x01"}},
		{name: "configMap items with their modes",
			src: v1.VolumeSource{ConfigMap: &v1.ConfigMapVolumeSource{LocalObjectReference: ref("cfg"), DefaultMode: ptr.To[int32](0o440),
				Items: []v1.KeyToPath{{Key: "a", Path: "conf/a.txt"}, {Key: "b", Path: "b", Mode: ptr.To[int32](0o600)}}}},
			want: []string{"b 600 2", "conf/a.txt 440 1"}},
		{name: "configMap missing",
			src:     v1.VolumeSource{ConfigMap: &v1.ConfigMapVolumeSource{LocalObjectReference: ref("nope")}},
			wantErr: `configmap "nope" not found`},
		{name: "configMap missing, optional",
			src:  v1.VolumeSource{ConfigMap: &v1.ConfigMapVolumeSource{LocalObjectReference: ref("nope"), Optional: ptr.To(true)}},
			want: []string{}},
		{name: "configMap missing key",
			src:     v1.VolumeSource{ConfigMap: &v1.ConfigMapVolumeSource{LocalObjectReference: ref("cfg"), Items: []v1.KeyToPath{{Key: "z", Path: "z"}}}},
			wantErr: "configmap references non-existent config key: z"},
		{name: "configMap missing key, optional",
			src: v1.VolumeSource{ConfigMap: &v1.ConfigMapVolumeSource{LocalObjectReference: ref("cfg"), Optional: ptr.To(true),
				Items: []v1.KeyToPath{{Key: "z", Path: "z"}, {Key: "a", Path: "a"}}}},
			want: []string{"a 644 1"}},
		{name: "secret, default mode",
			src:  v1.VolumeSource{Secret: &v1.SecretVolumeSource{SecretName: "s"}},
			want: []string{"user 644 admin"}},
		{name: "secret missing",
			src:     v1.VolumeSource{Secret: &v1.SecretVolumeSource{SecretName: "x"}},
			wantErr: `secret "x" not found`},
		{name: "secret missing key",
			src:     v1.VolumeSource{Secret: &v1.SecretVolumeSource{SecretName: "s", Items: []v1.KeyToPath{{Key: "z", Path: "z"}}}},
			wantErr: "references non-existent secret key: z"},
		{name: "downwardAPI",
			src: v1.VolumeSource{DownwardAPI: &v1.DownwardAPIVolumeSource{Items: []v1.DownwardAPIVolumeFile{
				{Path: "labels", FieldRef: &v1.ObjectFieldSelector{FieldPath: "metadata.labels"}},
				{Path: "annotations", FieldRef: &v1.ObjectFieldSelector{FieldPath: "metadata.annotations"}, Mode: ptr.To[int32](0o400)},
				{Path: "sub/../name", FieldRef: &v1.ObjectFieldSelector{FieldPath: "metadata.name"}},
				{Path: "app", FieldRef: &v1.ObjectFieldSelector{FieldPath: "metadata.labels['app']"}},
				{Path: "mem", ResourceFieldRef: &v1.ResourceFieldSelector{ContainerName: "c", Resource: "limits.memory", Divisor: resource.MustParse("1Mi")}},
			}}},
			want: []string{"annotations 400 note=\"say \\\"hi\\\"\"", "app 644 web", "labels 644 app=\"web\"\ntier=\"front\"", "mem 644 64", "name 644 p"}},
		{name: "projected",
			src: v1.VolumeSource{Projected: &v1.ProjectedVolumeSource{DefaultMode: ptr.To[int32](0o400), Sources: []v1.VolumeProjection{
				{ConfigMap: &v1.ConfigMapProjection{LocalObjectReference: ref("cfg"), Items: []v1.KeyToPath{{Key: "a", Path: "cfg/a"}}}},
				{Secret: &v1.SecretProjection{LocalObjectReference: ref("s")}},
				{Secret: &v1.SecretProjection{LocalObjectReference: ref("gone"), Optional: ptr.To(true)}},
				{DownwardAPI: &v1.DownwardAPIProjection{Items: []v1.DownwardAPIVolumeFile{{Path: "ns", FieldRef: &v1.ObjectFieldSelector{FieldPath: "metadata.namespace"}}}}},
			}}},
			want: []string{"cfg/a 400 1", "ns 400 lab", "user 400 admin"}},
		{name: "projected, missing source",
			src: v1.VolumeSource{Projected: &v1.ProjectedVolumeSource{Sources: []v1.VolumeProjection{
				{ConfigMap: &v1.ConfigMapProjection{LocalObjectReference: ref("nope")}}}}},
			wantErr: `configmap "nope" not found`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			files, err := volumeFiles(pod, &tc.src, ec)
			if tc.wantErr != "" {
				if err == nil || err.Error() != tc.wantErr {
					t.Fatalf("err = %v, want %q", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			got := []string{}
			for _, p := range slices.Sorted(maps.Keys(files)) {
				got = append(got, fmt.Sprintf("%s %o %s", p, files[p].Mode, files[p].Data))
			}
			if !slices.Equal(got, tc.want) {
				t.Errorf("files\n got %q\nwant %q", got, tc.want)
			}
		})
	}
}
