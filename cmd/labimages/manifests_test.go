package main

import (
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"

	"github.com/minikubelet/minikubelet/imagebuild"
	"github.com/minikubelet/minikubelet/images"
	"github.com/minikubelet/minikubelet/source"
)

// labImageNames are the images labimages writes.
var labImageNames = []string{
	images.BusyboxLatest, images.Busybox136,
	images.BusyboxPlusLatest, images.BusyboxPlusCurl,
	images.MyAppName + ":v1", images.MyAppName + ":v2",
}

// TestLabManifests reads the repository's manifests/ as the agent's source
// does: every pod is valid and uses only the lab images (the node is
// offline), and the other kinds are skipped, not errors.
func TestLabManifests(t *testing.T) {
	files, err := filepath.Glob("../../manifests/*.yml")
	if err != nil {
		t.Fatal(err)
	}
	lab, err := filepath.Glob("../../manifests/lab/*.yml")
	if err != nil {
		t.Fatal(err)
	}
	if len(files) == 0 || len(lab) == 0 {
		t.Fatalf("no manifests found: %v %v", files, lab)
	}
	known := map[string]bool{}
	for _, n := range labImageNames {
		known[n] = true
	}
	var pods, skipped []string
	for _, f := range append(files, lab...) {
		data, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		o := source.Parse(f, data, "node")
		for _, e := range o.Errors {
			t.Errorf("%v", e)
		}
		for _, p := range o.Pods {
			pods = append(pods, filepath.Base(f)+":"+p.Name)
			for _, c := range append(p.Spec.InitContainers, p.Spec.Containers...) {
				name, err := imagebuild.NormalizeName(c.Image)
				if err != nil || !known[name] {
					t.Errorf("%s: pod %s container %s: image %q is not a lab image", f, p.Name, c.Name, c.Image)
				}
			}
		}
		// What the agent does not run as a pod: the lab applies it with
		// `minikubelet apply -f`.
		for _, s := range o.Services {
			skipped = append(skipped, filepath.Base(f)+":Service/"+s.Name)
		}
		for _, d := range o.Deployments {
			skipped = append(skipped, filepath.Base(f)+":Deployment/"+d.Name)
		}
		for _, s := range o.Skipped {
			skipped = append(skipped, filepath.Base(f)+":"+s.Kind+"/"+s.Name)
		}
	}
	sort.Strings(pods)
	sort.Strings(skipped)
	wantPods := "02-liveness.yml:myapp-pod 04-readiness.yml:myapp-pod 06-demo.yml:demo init.yml:myapp-pod"
	if got := strings.Join(pods, " "); got != wantPods {
		t.Errorf("pods = %s, want %s", got, wantPods)
	}
	wantSkipped := "03-service-selector.yml:Service/myservice 05-service-port-80.yml:Service/myservice 07-deployment.yml:Deployment/deployment-example service.yml:Service/mydb service.yml:Service/myservice"
	if got := strings.Join(skipped, " "); got != wantSkipped {
		t.Errorf("skipped = %s, want %s", got, wantSkipped)
	}
	// The agent reads only the top level: the lab's later steps are applied
	// one by one with `minikubelet apply -f`.
	top := map[string]bool{}
	for _, f := range files {
		top[filepath.Base(f)] = true
	}
	if !top["init.yml"] || !top["service.yml"] || len(top) != 2 {
		t.Errorf("top-level manifests = %v, want init.yml and service.yml", top)
	}
}
