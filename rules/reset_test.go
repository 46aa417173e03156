package rules

import (
	"math/rand"
	"reflect"
	"regexp"
	"strings"
	"testing"
)

func TestRequiredLiterals(t *testing.T) {
	tests := []struct {
		re   string
		want []string
	}{
		{`wire\s+transfer`, []string{"transfer"}},
		{`(?i)Bitcoin`, []string{"bitcoin"}},
		{`(?i)Kelvin`, []string{"elvin"}},   // k folds to the Kelvin sign
		{`(?i)passwords`, []string{"word"}}, // cut at the s
		{`(?i)ask`, nil},                    // too short once cut
		{`lottery|jackpot|prize`, []string{"jackpot", "lottery", "prize"}},
		{`(lottery|\d+)`, nil},
		{`(?:abc)+x`, []string{"abc"}},
		{`(?:abc)*x`, nil},
		{`(?:abcd){2,3}`, []string{"abcd"}},
		{`\d{3}`, nil},
		{`café`, []string{"café"}},
		{`(?i)café au`, []string{"caf"}},
	}
	for _, tt := range tests {
		got := requiredLiterals(tt.re)
		if !reflect.DeepEqual(got, tt.want) {
			t.Errorf("requiredLiterals(%q) = %q, want %q", tt.re, got, tt.want)
		}
	}
}

func TestRequiredClauses(t *testing.T) {
	tests := []struct {
		re   string
		want [][]string
	}{
		{`(?i)\bthe\s+(?:win|won)\s+\$\d+`, [][]string{{"the"}, {"win", "won"}}},
		{`gr[ae]y`, [][]string{{"gray", "grey"}}},
		{`(?i)(?:claim|collect)\s+your\s+prize`, [][]string{{"prize"}, {"claim", "collect"}, {"your"}, {"laim", "ollect"}}},
		{`[a-z]+x`, nil},
	}
	for _, tt := range tests {
		if got := requiredClauses(tt.re); !reflect.DeepEqual(got, tt.want) {
			t.Errorf("requiredClauses(%q) = %q, want %q", tt.re, got, tt.want)
		}
	}
}

// TestReSetAgreesWithRegexp: the pre-filter never changes a result —
// the set finds exactly the expressions that match when each is run.
func TestReSetAgreesWithRegexp(t *testing.T) {
	exprs := []string{
		`wire\s+transfer`, `(?i)WIRE`, `(?i)kelvin`, `(?i)stop`, `lottery|jackpot`, `\d{3}-\d{4}`,
		`(?i)caf[eé]`, `café`, `(?i)ÉTÉ`, `^Dear`, `(?m)^Dear`, `x+y+z`, `(?s)begin.*end`, `(?i)(?:free|cheap) (?:pills|meds)`,
		`\bwin\b`, `[[:upper:]]{5}`, `(?i)ß`, `prize$`, `(?i)\bthe\s+(?:win|won)\b`, `gr[ae]y\d`, `(?i)(?:claim|collect) it`,
	}
	texts := []string{
		"Dear friend, the WIRE TRANSFER of $1,000 is ready", "wire \t transfer", "\u212Aelvin and KELVIN", "ſtop",
		"jackpot!", "call 555-1234", "CAFÉ", "café", "été", "no\nDear x", "xyz xxyyzz", "begin\n…\nend",
		"Cheap MEDS", "we win", "SHOUT", "STRASSE ẞ", "a prize", "", "THE WON", "the\twin", "grey1 gray2", "Collect It",
	}
	res := make([]*regexp.Regexp, len(exprs))
	owners := make([]int, len(exprs))
	for i, e := range exprs {
		res[i] = regexp.MustCompile(e)
		owners[i] = i
	}
	set := newReSet(res, owners)
	rng := rand.New(rand.NewSource(1))
	for n := 0; n < 300; n++ {
		text := texts[n%len(texts)]
		if n >= len(texts) {
			// Mix pieces of the texts.
			var b strings.Builder
			for j := 0; j < 3; j++ {
				b.WriteString(texts[rng.Intn(len(texts))])
				b.WriteByte(" \n"[rng.Intn(2)])
			}
			text = b.String()
		}
		var got, want []int
		set.each(text, func(o int, _ *regexp.Regexp, m string) bool {
			got = append(got, o)
			if loc := res[o].FindStringIndex(text); loc == nil || text[loc[0]:loc[1]] != m {
				t.Errorf("%q on %q: match %q", exprs[o], text, m)
			}
			return true
		})
		for i, re := range res {
			if re.MatchString(text) {
				want = append(want, i)
			}
		}
		if !reflect.DeepEqual(got, want) {
			t.Fatalf("text %q: set found %v, regexps %v", text, got, want)
		}
	}
}

// TestAhoCorasick compares both automaton forms with strings.Contains.
func TestAhoCorasick(t *testing.T) {
	rng := rand.New(rand.NewSource(2))
	word := func(n int) string {
		b := make([]byte, n)
		for i := range b {
			b[i] = "abcab\x00\xff"[rng.Intn(7)]
		}
		return string(b)
	}
	for round := 0; round < 200; round++ {
		var needles []string
		for i := 0; i < 1+rng.Intn(20); i++ {
			needles = append(needles, word(1+rng.Intn(5)))
		}
		text := word(rng.Intn(200))
		for _, sparse := range []bool{false, true} {
			m := newAC(needles)
			if sparse {
				m.dense = nil
			} else if m.dense == nil {
				t.Fatal("a small set has no dense table")
			}
			seen := make([]bool, m.n)
			m.scan([]byte(text), seen, func(int) {})
			for i, nd := range needles {
				if seen[i] != strings.Contains(text, nd) {
					t.Fatalf("sparse=%v needle %q in %q: found %v", sparse, nd, text, seen[i])
				}
			}
		}
	}
}
