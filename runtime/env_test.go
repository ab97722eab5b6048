package runtime

import (
	"slices"
	"testing"

	v1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

func TestContainerEnv(t *testing.T) {
	pod := &v1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: "web", Namespace: "lab", UID: "u-1",
			Labels: map[string]string{"app": "web"}, Annotations: map[string]string{"note": "hi"}},
		Spec: v1.PodSpec{ServiceAccountName: "sa"},
	}
	opt := true
	c := &v1.Container{
		Name: "c",
		Resources: v1.ResourceRequirements{
			Limits:   v1.ResourceList{v1.ResourceMemory: resource.MustParse("64Mi")},
			Requests: v1.ResourceList{v1.ResourceCPU: resource.MustParse("250m")},
		},
		Env: []v1.EnvVar{
			{Name: "GREETING", Value: "hello"},
			{Name: "MSG", Value: "$(GREETING) $(LATER) $$(GREETING)"},
			{Name: "LATER", Value: "late"},
			{Name: "POD", ValueFrom: &v1.EnvVarSource{FieldRef: &v1.ObjectFieldSelector{FieldPath: "metadata.name"}}},
			{Name: "NS", ValueFrom: &v1.EnvVarSource{FieldRef: &v1.ObjectFieldSelector{FieldPath: "metadata.namespace"}}},
			{Name: "UID", ValueFrom: &v1.EnvVarSource{FieldRef: &v1.ObjectFieldSelector{FieldPath: "metadata.uid"}}},
			{Name: "IP", ValueFrom: &v1.EnvVarSource{FieldRef: &v1.ObjectFieldSelector{FieldPath: "status.podIP"}}},
			{Name: "NODE", ValueFrom: &v1.EnvVarSource{FieldRef: &v1.ObjectFieldSelector{FieldPath: "spec.nodeName"}}},
			{Name: "HOST", ValueFrom: &v1.EnvVarSource{FieldRef: &v1.ObjectFieldSelector{FieldPath: "status.hostIP"}}},
			{Name: "APP", ValueFrom: &v1.EnvVarSource{FieldRef: &v1.ObjectFieldSelector{FieldPath: "metadata.labels['app']"}}},
			{Name: "NOTE", ValueFrom: &v1.EnvVarSource{FieldRef: &v1.ObjectFieldSelector{FieldPath: "metadata.annotations['note']"}}},
			{Name: "SA", ValueFrom: &v1.EnvVarSource{FieldRef: &v1.ObjectFieldSelector{FieldPath: "spec.serviceAccountName"}}},
			{Name: "MEM", ValueFrom: &v1.EnvVarSource{ResourceFieldRef: &v1.ResourceFieldSelector{Resource: "limits.memory", Divisor: resource.MustParse("1Mi")}}},
			{Name: "CPU", ValueFrom: &v1.EnvVarSource{ResourceFieldRef: &v1.ResourceFieldSelector{Resource: "requests.cpu"}}},
			{Name: "CPULIM", ValueFrom: &v1.EnvVarSource{ResourceFieldRef: &v1.ResourceFieldSelector{Resource: "limits.cpu"}}},
			{Name: "OPT", ValueFrom: &v1.EnvVarSource{ConfigMapKeyRef: &v1.ConfigMapKeySelector{Key: "k", Optional: &opt}}},
			{Name: "VERBATIM", ValueFrom: &v1.EnvVarSource{FieldRef: &v1.ObjectFieldSelector{FieldPath: "metadata.annotations['missing']"}}},
			{Name: "GREETING", Value: "again"},
		},
	}
	got, err := containerEnv(pod, c, envContext{NodeName: "node1", NodeIP: "192.0.2.1", PodIPs: []string{"10.1.0.5"},
		NodeCPU: resource.MustParse("2"), NodeMemory: resource.MustParse("1Gi")})
	if err != nil {
		t.Fatal(err)
	}
	want := []string{
		"GREETING=again",
		"MSG=hello $(LATER) $(GREETING)",
		"LATER=late",
		"POD=web", "NS=lab", "UID=u-1", "IP=10.1.0.5", "NODE=node1", "HOST=192.0.2.1", "APP=web", "NOTE=hi", "SA=sa",
		"MEM=64", "CPU=1", "CPULIM=2",
		"VERBATIM=",
	}
	if !slices.Equal(got, want) {
		t.Errorf("env\n got %q\nwant %q", got, want)
	}
}

func TestContainerEnvErrors(t *testing.T) {
	pod := &v1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "p"}}
	for name, c := range map[string]*v1.Container{
		"configmap": {Name: "c", Env: []v1.EnvVar{{Name: "X", ValueFrom: &v1.EnvVarSource{ConfigMapKeyRef: &v1.ConfigMapKeySelector{Key: "k"}}}}},
		"secret":    {Name: "c", Env: []v1.EnvVar{{Name: "X", ValueFrom: &v1.EnvVarSource{SecretKeyRef: &v1.SecretKeySelector{Key: "k"}}}}},
		"field":     {Name: "c", Env: []v1.EnvVar{{Name: "X", ValueFrom: &v1.EnvVarSource{FieldRef: &v1.ObjectFieldSelector{FieldPath: "spec.bogus"}}}}},
		"envFrom":   {Name: "c", EnvFrom: []v1.EnvFromSource{{ConfigMapRef: &v1.ConfigMapEnvSource{}}}},
	} {
		if _, err := containerEnv(pod, c, envContext{}); err == nil {
			t.Errorf("%s: expected an error", name)
		}
	}
}

func TestProcessArgs(t *testing.T) {
	env := []string{"WHO=world", "N=3"}
	entry, cmd := []string{"/entry"}, []string{"default", "cmd"}
	for _, tc := range []struct {
		name          string
		command, args []string
		entry, cmd    []string
		want          []string
		wantErr       bool
	}{
		{name: "image only", entry: entry, cmd: cmd, want: []string{"/entry", "default", "cmd"}},
		{name: "command drops image cmd", command: []string{"sh", "-c"}, entry: entry, cmd: cmd, want: []string{"sh", "-c"}},
		{name: "command and args", command: []string{"echo"}, args: []string{"hello $(WHO)", "$$(WHO)", "$(NOPE)"}, entry: entry, cmd: cmd,
			want: []string{"echo", "hello world", "$(WHO)", "$(NOPE)"}},
		{name: "args replace cmd", args: []string{"x$(N)"}, entry: entry, cmd: cmd, want: []string{"/entry", "x3"}},
		{name: "args without entrypoint", args: []string{"ls"}, cmd: cmd, want: []string{"ls"}},
		{name: "nothing", wantErr: true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := processArgs(tc.entry, tc.cmd, &v1.Container{Name: "c", Command: tc.command, Args: tc.args}, env)
			if (err != nil) != tc.wantErr {
				t.Fatalf("err = %v", err)
			}
			if !slices.Equal(got, tc.want) {
				t.Errorf("got %q, want %q", got, tc.want)
			}
		})
	}
}
