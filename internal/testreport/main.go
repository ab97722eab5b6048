// Command testreport reads `go test -json` on stdin and prints what plain
// `go test` would (package result lines, the output of failed tests), then
// every skipped test with its reason. A skip is expected only when the
// skips file declares it for this machine; any other skip makes the exit
// status 1, so a test that cannot run where it should never reads as green.
//
//	go test -json ./... | go run ./internal/testreport -skips .ci/expected-skips
//
// The skips file has one declaration a line, "WHEN PACKAGE TEST REASON…":
// WHEN is "nonroot" (expected only when the tests do not run as root) or
// "always"; PACKAGE is relative to the module ("netns", "." for the root);
// TEST is a test's name, or a path.Match pattern ("TestBusybox*"), and
// also covers that test's subtests. "#" starts a comment.
package main

import (
	"bufio"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"os"
	"path"
	"sort"
	"strings"
)

// event is one line of `go test -json` (cmd/test2json).
type event struct {
	Action     string
	Package    string
	ImportPath string // build-output and build-fail events
	Test       string
	Output     string
}

// skip is one skipped test and its reason.
type skip struct {
	Package, Test, Reason string
}

// expectation is one line of the skips file.
type expectation struct {
	When, Package, Test, Reason string
}

func main() {
	skipsFile := flag.String("skips", "", "file declaring the skips expected on this machine")
	module := flag.String("module", "github.com/minikubelet/minikubelet", "module path, stripped from package names")
	flag.Parse()
	var expected []expectation
	if *skipsFile != "" {
		var err error
		if expected, err = readExpectations(*skipsFile); err != nil {
			fmt.Fprintln(os.Stderr, "testreport:", err)
			os.Exit(2)
		}
	}
	skips, err := report(os.Stdin, os.Stdout)
	if err != nil {
		fmt.Fprintln(os.Stderr, "testreport:", err)
		os.Exit(2)
	}
	root := os.Geteuid() == 0
	unexpected := 0
	fmt.Printf("\nskipped tests: %d\n", len(skips))
	for _, s := range skips {
		pkg := relPackage(s.Package, *module)
		verdict := "expected"
		if !isExpected(expected, pkg, s.Test, root) {
			verdict = "NOT EXPECTED on this machine"
			unexpected++
		}
		fmt.Printf("  SKIP %s %s: %s (%s)\n", pkg, s.Test, s.Reason, verdict)
	}
	fmt.Printf("skips: %d, %d not declared\n", len(skips), unexpected)
	if unexpected > 0 {
		fmt.Printf("%d skip(s) not declared in %s: a test that cannot run here must fail or be declared with its reason\n", unexpected, *skipsFile)
		os.Exit(1)
	}
}

// report prints the plain go test view of the events read from r on w and
// returns the skipped tests.
func report(r io.Reader, w io.Writer) ([]skip, error) {
	type testKey struct{ pkg, test string }
	outputs := map[testKey][]string{}
	var order []testKey
	var skips []skip
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 0, 64*1024), 16*1024*1024)
	for sc.Scan() {
		var ev event
		if err := json.Unmarshal(sc.Bytes(), &ev); err != nil || ev.Action == "" {
			// Not an event: go's own messages on stderr (a download, a
			// vet or build error in an older format). Show them as they are.
			fmt.Fprintln(w, sc.Text())
			continue
		}
		switch {
		case ev.Action == "build-output":
			fmt.Fprint(w, ev.Output)
		case ev.Test == "":
			// Package lines: ok, FAIL, "?   pkg [no test files]", panics
			// outside a test. "PASS" alone says nothing more than "ok".
			if ev.Action == "output" && ev.Output != "PASS\n" {
				fmt.Fprint(w, ev.Output)
			}
		default:
			k := testKey{ev.Package, ev.Test}
			switch ev.Action {
			case "output":
				if _, ok := outputs[k]; !ok {
					order = append(order, k)
				}
				outputs[k] = append(outputs[k], ev.Output)
			case "fail":
				for _, l := range outputs[k] {
					if !strings.HasPrefix(l, "=== ") {
						fmt.Fprint(w, l)
					}
				}
				delete(outputs, k)
			case "pass":
				delete(outputs, k)
			case "skip":
				skips = append(skips, skip{Package: ev.Package, Test: ev.Test, Reason: skipReason(outputs[k])})
				delete(outputs, k)
			}
		}
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("read go test -json: %w", err)
	}
	// A test with no result: its binary died (a crash, a timeout). Show
	// what it printed.
	for _, k := range order {
		for _, l := range outputs[k] {
			fmt.Fprint(w, l)
		}
	}
	sort.Slice(skips, func(i, j int) bool {
		if skips[i].Package != skips[j].Package {
			return skips[i].Package < skips[j].Package
		}
		return skips[i].Test < skips[j].Test
	})
	return skips, nil
}

// skipReason is the last thing a skipped test printed before its
// "--- SKIP" line: the message given to t.Skip.
func skipReason(lines []string) string {
	for i := len(lines) - 1; i >= 0; i-- {
		l := strings.TrimSpace(lines[i])
		if l == "" || strings.HasPrefix(l, "--- SKIP") || strings.HasPrefix(l, "=== ") {
			continue
		}
		// "file_test.go:12: reason"
		if _, after, ok := strings.Cut(l, ": "); ok && strings.Contains(l[:len(l)-len(after)], ".go:") {
			return after
		}
		return l
	}
	return "(no reason given)"
}

func relPackage(pkg, module string) string {
	if pkg == module {
		return "."
	}
	return strings.TrimPrefix(pkg, module+"/")
}

func isExpected(list []expectation, pkg, test string, root bool) bool {
	for _, e := range list {
		if e.Package != pkg || !matchTest(e.Test, test) {
			continue
		}
		if e.When == "always" || (e.When == "nonroot" && !root) {
			return true
		}
	}
	return false
}

// matchTest reports whether the declared pattern (path.Match syntax)
// names test, or the top-level test a subtest belongs to.
func matchTest(pattern, test string) bool {
	if ok, _ := path.Match(pattern, test); ok {
		return true
	}
	top, _, _ := strings.Cut(test, "/")
	ok, _ := path.Match(pattern, top)
	return ok
}

func readExpectations(path string) ([]expectation, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	var list []expectation
	sc := bufio.NewScanner(f)
	for n := 1; sc.Scan(); n++ {
		line, _, _ := strings.Cut(sc.Text(), "#")
		fields := strings.Fields(line)
		if len(fields) == 0 {
			continue
		}
		if len(fields) < 4 {
			return nil, fmt.Errorf("%s:%d: want WHEN PACKAGE TEST REASON", path, n)
		}
		if fields[0] != "always" && fields[0] != "nonroot" {
			return nil, fmt.Errorf("%s:%d: WHEN %q: want always or nonroot", path, n, fields[0])
		}
		list = append(list, expectation{When: fields[0], Package: fields[1], Test: fields[2], Reason: strings.Join(fields[3:], " ")})
	}
	return list, sc.Err()
}
