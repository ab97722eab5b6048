package main

import (
	"bytes"
	"strings"
	"testing"
)

// The events of a run with one package passing, one test failing, one
// skipping with a reason and one subtest skipping.
const stream = `{"Action":"start","Package":"m/a"}
go: downloading example.com/x v1.0.0
{"Action":"run","Package":"m/a","Test":"TestOK"}
{"Action":"output","Package":"m/a","Test":"TestOK","Output":"=== RUN   TestOK\n"}
{"Action":"output","Package":"m/a","Test":"TestOK","Output":"    a_test.go:5: chatter\n"}
{"Action":"output","Package":"m/a","Test":"TestOK","Output":"--- PASS: TestOK (0.00s)\n"}
{"Action":"pass","Package":"m/a","Test":"TestOK"}
{"Action":"output","Package":"m/a","Test":"TestRoot","Output":"=== RUN   TestRoot\n"}
{"Action":"output","Package":"m/a","Test":"TestRoot","Output":"    a_test.go:9: needs root\n"}
{"Action":"output","Package":"m/a","Test":"TestRoot","Output":"--- SKIP: TestRoot (0.00s)\n"}
{"Action":"skip","Package":"m/a","Test":"TestRoot"}
{"Action":"output","Package":"m/a","Test":"TestBad","Output":"=== RUN   TestBad\n"}
{"Action":"output","Package":"m/a","Test":"TestBad","Output":"    a_test.go:12: boom\n"}
{"Action":"output","Package":"m/a","Test":"TestBad","Output":"--- FAIL: TestBad (0.00s)\n"}
{"Action":"fail","Package":"m/a","Test":"TestBad"}
{"Action":"output","Package":"m/a","Output":"FAIL\n"}
{"Action":"output","Package":"m/a","Output":"FAIL\tm/a\t0.01s\n"}
{"Action":"fail","Package":"m/a"}
{"Action":"output","Package":"m","Test":"TestT/sub","Output":"    t_test.go:3: no busybox: open /bin/busybox: no such file\n"}
{"Action":"output","Package":"m","Test":"TestT/sub","Output":"    --- SKIP: TestT/sub (0.00s)\n"}
{"Action":"skip","Package":"m","Test":"TestT/sub"}
{"Action":"output","Package":"m","Output":"PASS\n"}
{"Action":"output","Package":"m","Output":"ok  \tm\t0.02s\n"}
{"Action":"pass","Package":"m"}
`

func TestReport(t *testing.T) {
	var out bytes.Buffer
	skips, err := report(strings.NewReader(stream), &out)
	if err != nil {
		t.Fatal(err)
	}
	want := "go: downloading example.com/x v1.0.0\n    a_test.go:12: boom\n--- FAIL: TestBad (0.00s)\nFAIL\nFAIL\tm/a\t0.01s\nok  \tm\t0.02s\n"
	if out.String() != want {
		t.Errorf("output:\n%q\nwant:\n%q", out.String(), want)
	}
	wantSkips := []skip{
		{"m", "TestT/sub", "no busybox: open /bin/busybox: no such file"},
		{"m/a", "TestRoot", "needs root"},
	}
	if len(skips) != len(wantSkips) {
		t.Fatalf("skips %+v, want %+v", skips, wantSkips)
	}
	for i := range skips {
		if skips[i] != wantSkips[i] {
			t.Errorf("skip %d: %+v, want %+v", i, skips[i], wantSkips[i])
		}
	}
}

func TestIsExpected(t *testing.T) {
	list := []expectation{
		{When: "nonroot", Package: "netns", Test: "TestRoutes"},
		{When: "always", Package: ".", Test: "TestT/sub"},
		{When: "always", Package: "images", Test: "TestBusybox*"},
	}
	tests := []struct {
		pkg, test string
		root      bool
		want      bool
	}{
		{"netns", "TestRoutes", false, true},
		{"netns", "TestRoutes", true, false},
		{".", "TestT/sub", true, true},
		{".", "TestT", true, false},
		{"netns", "TestOther", false, false},
		{"images", "TestBusyboxImage/oci", true, true},
		{"images", "TestMyApp", true, false},
	}
	for _, tt := range tests {
		if got := isExpected(list, tt.pkg, tt.test, tt.root); got != tt.want {
			t.Errorf("isExpected(%s, %s, root=%v) = %v, want %v", tt.pkg, tt.test, tt.root, got, tt.want)
		}
	}
}

func TestRelPackage(t *testing.T) {
	for in, want := range map[string]string{"github.com/x/y": ".", "github.com/x/y/netns": "netns", "github.com/x/y/cmd/z": "cmd/z"} {
		if got := relPackage(in, "github.com/x/y"); got != want {
			t.Errorf("relPackage(%s) = %s, want %s", in, got, want)
		}
	}
}
