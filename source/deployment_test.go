package source

import (
	"slices"
	"strings"
	"testing"

	"go.uber.org/zap"
	"go.uber.org/zap/zaptest/observer"
	appsv1 "k8s.io/api/apps/v1"
	v1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
)

const labDeployment = `apiVersion: apps/v1
kind: Deployment
metadata:
  name: deployment-example
spec:
  replicas: 2
  selector:
    matchLabels:
      app: myapp
  template:
    metadata:
      labels:
        app: myapp
    spec:
      containers:
      - name: nginx
        image: myapp:v2
`

func TestParseDeploymentDefaults(t *testing.T) {
	objs := Parse("d.yaml", []byte(labDeployment), node)
	if len(objs.Errors) > 0 || len(objs.Deployments) != 1 {
		t.Fatalf("errors %v, deployments %v", errStrings(objs.Errors), objs.Deployments)
	}
	d := objs.Deployments[0]
	if d.Namespace != "default" || d.UID == "" || d.Kind != "Deployment" || d.APIVersion != "apps/v1" {
		t.Errorf("identity: %s/%s %q %s %s", d.Namespace, d.Name, d.UID, d.APIVersion, d.Kind)
	}
	ru := d.Spec.Strategy.RollingUpdate
	if d.Spec.Strategy.Type != appsv1.RollingUpdateDeploymentStrategyType || ru == nil ||
		*ru.MaxSurge != intstr.FromString("25%") || *ru.MaxUnavailable != intstr.FromString("25%") {
		t.Errorf("strategy = %+v", d.Spec.Strategy)
	}
	if *d.Spec.Replicas != 2 || *d.Spec.RevisionHistoryLimit != 10 || *d.Spec.ProgressDeadlineSeconds != 600 {
		t.Errorf("replicas %d, revisionHistoryLimit %d, progressDeadlineSeconds %d",
			*d.Spec.Replicas, *d.Spec.RevisionHistoryLimit, *d.Spec.ProgressDeadlineSeconds)
	}
	ps := d.Spec.Template.Spec
	if ps.RestartPolicy != v1.RestartPolicyAlways || ps.DNSPolicy != v1.DNSClusterFirst ||
		ps.Containers[0].ImagePullPolicy != v1.PullIfNotPresent || ps.Containers[0].TerminationMessagePath == "" {
		t.Errorf("template not defaulted: %+v", ps)
	}
	// An edit keeps the UID (the ReplicaSets keep their owner).
	edited := Parse("other.yaml", []byte(strings.Replace(labDeployment, "replicas: 2", "replicas: 3", 1)), node)
	if edited.Deployments[0].UID != d.UID {
		t.Errorf("UID changed with an edit")
	}
}

func TestValidateDeployment(t *testing.T) {
	for _, tc := range []struct {
		name, from, to, want string
	}{
		{"selector mismatch", "app: myapp\n    spec:", "app: other\n    spec:", "spec.template.metadata.labels: Invalid value"},
		{"no selector", "  selector:\n    matchLabels:\n      app: myapp\n", "", "spec.selector: Required value"},
		{"negative replicas", "replicas: 2", "replicas: -1", "spec.replicas: Invalid value: -1"},
		{"restart policy", "      containers:", "      restartPolicy: Never\n      containers:", "spec.template.spec.restartPolicy: Unsupported value"},
		{"both zero", "  replicas: 2", "  replicas: 2\n  strategy:\n    rollingUpdate:\n      maxSurge: 0\n      maxUnavailable: 0", "may not be 0 when `maxSurge` is 0"},
		{"bad strategy", "  replicas: 2", "  replicas: 2\n  strategy:\n    type: Blue", "spec.strategy.type: Unsupported value"},
		{"no image", "        image: myapp:v2\n", "", "spec.template.spec.containers[0].image: Required value"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			objs := Parse("d.yaml", []byte(strings.Replace(labDeployment, tc.from, tc.to, 1)), node)
			if len(objs.Deployments) != 0 || len(objs.Errors) == 0 {
				t.Fatalf("accepted: %v", objs.Deployments)
			}
			got := strings.Join(errStrings(objs.Errors), "\n")
			if !strings.Contains(got, tc.want) || !strings.Contains(got, `d.yaml: Deployment.apps "deployment-example" is invalid`) {
				t.Errorf("errors = %s, want %q", got, tc.want)
			}
		})
	}
}

// A negative terminationGracePeriodSeconds is not refused (the API server
// only warns): a Pod reads it as 1, as upstream's Pod conversion does; a
// Deployment's template keeps it, and the pods made from it read 1. Both
// are warned of, naming the file and the field.
func TestNegativeGracePeriod(t *testing.T) {
	pod := parseOne(t, "p.yaml", podYAML(metaWeb, appC+"  terminationGracePeriodSeconds: -5\n"))
	if g := pod.Spec.TerminationGracePeriodSeconds; g == nil || *g != 1 {
		t.Errorf("pod's terminationGracePeriodSeconds = %v, want 1", g)
	}
	podObjs := Parse("p.yaml", []byte(podYAML(metaWeb, appC+"  terminationGracePeriodSeconds: -5\n")), node)
	const warning = "terminationGracePeriodSeconds: must be >= 0; negative values are invalid and will be treated as 1"
	if got, want := errStrings(podObjs.Warnings), []string{"p.yaml: spec." + warning}; !slices.Equal(got, want) {
		t.Errorf("pod's warnings %q, want %q", got, want)
	}
	objs := Parse("d.yaml", []byte(strings.Replace(labDeployment, "      containers:", "      terminationGracePeriodSeconds: -5\n      containers:", 1)), node)
	if len(objs.Errors) > 0 || len(objs.Deployments) != 1 {
		t.Fatalf("errors %v, deployments %v", errStrings(objs.Errors), objs.Deployments)
	}
	if got, want := errStrings(objs.Warnings), []string{`d.yaml: Deployment.apps "deployment-example": spec.template.spec.` + warning}; !slices.Equal(got, want) {
		t.Errorf("deployment's warnings %q, want %q", got, want)
	}
	if w := Parse("d.yaml", []byte(labDeployment), node).Warnings; len(w) > 0 {
		t.Errorf("warnings without a negative grace period: %q", errStrings(w))
	}

	// The source logs each warning once, with the file.
	core, logs := observer.New(zap.WarnLevel)
	s := New(zap.New(core), Config{Dir: t.TempDir(), NodeName: node})
	u := Update{Warnings: podObjs.Warnings}
	s.report(u)
	s.report(u)
	if got := logs.FilterMessage("manifest accepted with a warning").AllUntimed(); len(got) != 1 ||
		got[0].ContextMap()["file"] != "p.yaml" || got[0].ContextMap()["warning"] != "spec."+warning {
		t.Errorf("logged %v, want one warning naming p.yaml and the field", got)
	}
	tmpl := objs.Deployments[0].Spec.Template
	if g := tmpl.Spec.TerminationGracePeriodSeconds; g == nil || *g != -5 {
		t.Errorf("template's terminationGracePeriodSeconds = %v, want -5 kept", g)
	}
	made := &v1.Pod{Spec: *tmpl.Spec.DeepCopy()}
	SetPodDefaults(made)
	if g := made.Spec.TerminationGracePeriodSeconds; *g != 1 {
		t.Errorf("a pod from the template: terminationGracePeriodSeconds = %d, want 1", *g)
	}
}
