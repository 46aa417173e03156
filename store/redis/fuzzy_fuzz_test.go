package redis

import (
	"strings"
	"testing"
)

// A fuzzy record in Redis may be damaged (or written by hand): parsing
// gives a value or refuses, never a panic, and never more shingles than
// the record has fields.
func FuzzParseFuzzy(f *testing.F) {
	f.Add("1 5 1000000000 1000000005 " + strings.Repeat("00000000000000ff ", 32))
	f.Add("3 -2 1 2")
	f.Add("x")
	f.Fuzz(func(t *testing.T, v string) {
		e, sh, ok := parseFuzzy("d", v)
		if !ok {
			return
		}
		if n := len(strings.Fields(v)); len(sh) != n-4 {
			t.Fatalf("%q: %d shingles from %d fields", v, len(sh), n)
		}
		if e.Digest != "d" {
			t.Fatalf("digest %q", e.Digest)
		}
	})
}
