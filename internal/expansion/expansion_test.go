package expansion

import "testing"

func TestExpand(t *testing.T) {
	vars := map[string]string{"A": "alpha", "B": "beta", "EMPTY": ""}
	lookup := func(k string) (string, bool) { v, ok := vars[k]; return v, ok }
	for _, tc := range []struct{ in, want string }{
		{"", ""},
		{"plain", "plain"},
		{"$(A)", "alpha"},
		{"x$(A)y$(B)z", "xalphaybetaz"},
		{"$(A)$(A)", "alphaalpha"},
		{"$(UNKNOWN)", "$(UNKNOWN)"},
		{"$(EMPTY)-", "-"},
		{"$$(A)", "$(A)"},
		{"$$$(A)", "$alpha"},
		{"$$", "$"},
		{"a$$b", "a$b"},
		{"$", "$"},
		{"a$", "a$"},
		{"$A", "$A"},
		{"$HOME and $", "$HOME and $"},
		{"$(A", "$(A"},
		{"x $(A", "x $(A"},
		{"$(A $$", "$(A $"}, // the rest of an incomplete reference is still read
		{"$()", "$()"},
		{"$(A)(B)", "alpha(B)"},
	} {
		if got := Expand(tc.in, lookup); got != tc.want {
			t.Errorf("Expand(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
}
