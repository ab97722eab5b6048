// Package expansion expands $(VAR) references the way Kubernetes does in
// container commands, args, env values and subPathExpr (upstream
// third_party/forked/golang/expansion).
package expansion

import "strings"

// Expand replaces each $(VAR) in s with lookup's value for VAR. A reference
// lookup does not know stays as written, $$ is an escaped $, and any other $
// (last in s, before another character, or opening a "$(" that is never
// closed) is literal.
func Expand(s string, lookup func(name string) (string, bool)) string {
	if !strings.Contains(s, "$") {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] != '$' || i+1 == len(s) {
			b.WriteByte(s[i])
			continue
		}
		switch s[i+1] {
		case '$':
			b.WriteByte('$')
			i++
		case '(':
			end := strings.IndexByte(s[i+2:], ')')
			if end < 0 {
				// Incomplete: "$(" is literal and the rest is read on,
				// so a later "$$" is still an escape.
				b.WriteString("$(")
				i++
				continue
			}
			name := s[i+2 : i+2+end]
			if v, ok := lookup(name); ok {
				b.WriteString(v)
			} else {
				b.WriteString("$(" + name + ")")
			}
			i += 2 + end
		default:
			b.WriteByte('$')
		}
	}
	return b.String()
}
