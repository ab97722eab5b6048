package source

import (
	"strings"
	"testing"

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
// Deployment's template keeps it, and the pods made from it read 1.
func TestNegativeGracePeriod(t *testing.T) {
	pod := parseOne(t, "p.yaml", podYAML(metaWeb, appC+"  terminationGracePeriodSeconds: -5\n"))
	if g := pod.Spec.TerminationGracePeriodSeconds; g == nil || *g != 1 {
		t.Errorf("pod's terminationGracePeriodSeconds = %v, want 1", g)
	}
	objs := Parse("d.yaml", []byte(strings.Replace(labDeployment, "      containers:", "      terminationGracePeriodSeconds: -5\n      containers:", 1)), node)
	if len(objs.Errors) > 0 || len(objs.Deployments) != 1 {
		t.Fatalf("errors %v, deployments %v", errStrings(objs.Errors), objs.Deployments)
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
