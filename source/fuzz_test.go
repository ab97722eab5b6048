package source

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// FuzzParse: any file content, read as YAML or JSON, gives pods and errors,
// never a panic. Every error names the file; every pod is valid as it comes
// out, has a hashed UID and names that fit a path; Apply's reading and
// delete's listing of the same content do not panic either.
func FuzzParse(f *testing.F) {
	seeds, _ := filepath.Glob("testdata/*.*")
	bad, _ := filepath.Glob("testdata/bad/*.*")
	for _, path := range append(seeds, bad...) {
		if strings.HasSuffix(path, ".want") {
			continue
		}
		data, err := os.ReadFile(path)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(data, strings.HasSuffix(path, ".json"))
	}
	f.Add([]byte(named("a", "busybox")), false)
	f.Fuzz(func(t *testing.T, data []byte, asJSON bool) {
		path := "/m/f.yaml"
		if asJSON {
			path = "/m/f.json"
		}
		objs := Parse(path, data, node)
		for _, e := range objs.Errors {
			if e.File != path || !strings.HasPrefix(e.Error(), path+": ") {
				t.Errorf("error does not name the file: %v", e)
			}
		}
		for _, p := range objs.Pods {
			if !uidPattern.MatchString(string(p.UID)) {
				t.Errorf("pod %s: uid %q", podKey(p), p.UID)
			}
			if _, err := fileBase(ObjectRef{Kind: "Pod", Namespace: p.Namespace, Name: p.Name}); err != nil {
				t.Errorf("pod %s: %v", podKey(p), err)
			}
			if errs := ValidatePod(p); len(errs) > 0 {
				t.Errorf("pod %s came out invalid: %v", podKey(p), errs)
			}
		}
		for _, svc := range objs.Services {
			if _, err := fileBase(ObjectRef{Kind: "Service", Namespace: svc.Namespace, Name: svc.Name}); err != nil {
				t.Errorf("service %s: %v", serviceKey(svc), err)
			}
		}
		if ins, err := readInput(path, data, node); err == nil {
			for _, in := range ins {
				if _, err := fileBase(in.ref); err != nil {
					t.Errorf("apply would store %s: %v", in.ref, err)
				}
			}
		}
		_, _ = ObjectsIn(data)
	})
}
