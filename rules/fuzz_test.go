package rules

import (
	"errors"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// FuzzParseExpr: any text parses or fails cleanly; what parses prints
// back to an expression that parses to the same tree.
func FuzzParseExpr(f *testing.F) {
	for _, s := range []string{"A", "A & !B", "(A|B)&C", "!!A && C || B", "A &", "((", "A B", "DMARC_POLICY_REJECT & !R_DKIM_ALLOW", "~A & -B | ^C", "~-^A"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		n, err := parseExpr(s)
		if err != nil {
			return
		}
		again, err := parseExpr(n.String())
		if err != nil {
			t.Fatalf("%q printed as %q, which does not parse: %v", s, n, err)
		}
		if again.String() != n.String() {
			t.Fatalf("%q: %q then %q", s, n, again)
		}
	})
}

// FuzzParse: a rule file of any content is read and compiled, or refused
// with an error; never a panic. What compiles evaluates on the test
// message.
func FuzzParse(f *testing.F) {
	for _, s := range []string{
		"[[rules]]\nname = \"A\"\nfield = \"body\"\nvalues = [\"(?i)wire\\\\s+transfer\"]\n",
		"[[rules]]\nname = \"B\"\nfield = \"ip\"\nvalues = [\"192.0.2.0/24\", \"::1\"]\n",
		"[[rules]]\nname = \"C\"\nexpression = \"A & !B\"\nweight = 2.5\n",
		"[[rules]]\nname = \"D\"\nfield = \"header\"\nheader = \"Subject\"\nmatch = \"glob\"\nvalues = [\"*win*\"]\naction = \"reject\"\nmessage = \"no\"\n",
		"[[rules]]\nname = \"E\"\nfield = \"helo\"\nmatch = \"suffix\"\nvalues = [\"example\"]\npre_result = \"accept\"\n",
	} {
		f.Add([]byte(s))
	}
	in := testInput()
	f.Fuzz(func(t *testing.T, b []byte) {
		specs, err := Parse("fuzz.toml", b)
		if err != nil {
			return
		}
		for i := range specs {
			specs[i].List = "" // no file system
		}
		s, err := Compile(specs, Options{})
		if err != nil {
			return
		}
		hits := s.Eval(in)
		has := map[string]bool{}
		for _, h := range hits {
			has[h.Rule.Name] = true
		}
		held, removed := s.Compose(func(n string) bool { return has[n] })
		if len(held) == 0 && len(removed) > 0 {
			t.Fatalf("nothing holds, yet %v removed", removed)
		}
	})
}

// FuzzReadList: a list file of any content is read as each kind of list,
// or refused with an error naming its line; never a panic.
func FuzzReadList(f *testing.F) {
	for _, s := range []string{"# c\nspam.example\n\nx.example  # note\r\n", "192.0.2.0/24\n2001:db8::/32 x\n", "*.exe\n(?i)wire\\s+transfer\n((\n", "\xff\xfe\x00\n#\n"} {
		f.Add([]byte(s))
	}
	dir := f.TempDir()
	f.Fuzz(func(t *testing.T, b []byte) {
		path := filepath.Join(dir, "list.txt")
		if err := os.WriteFile(path, b, 0o600); err != nil {
			t.Fatal(err)
		}
		matchOf := map[string]string{"name": "exact", "text": "exact", "suffix": "suffix", "cidr": "cidr", "glob": "glob", "regex": "regex"}
		for kind, match := range matchOf {
			d, err := readList(path, kind)
			if err != nil {
				var le *lineError
				if !errors.As(err, &le) && !strings.Contains(err.Error(), path) {
					t.Fatalf("%s: error without its place: %v", kind, err)
				}
				continue
			}
			if d.entries < 0 {
				t.Fatal("negative entries")
			}
			l := &List{path: path, kind: kind, ls: NewLists(nil)}
			l.data.Store(d)
			l.match(match, "a.spam.example", 0)
		}
	})
}

// FuzzReSet: the literal pre-filter never loses a match. For any
// expression and text, the set (alone, and beside a second expression
// sharing the automaton) finds the expression exactly when the regexp
// itself matches.
func FuzzReSet(f *testing.F) {
	for _, s := range [][2]string{
		{`(?i)wire\s+transfer`, "Please send the WIRE   transfer today"},
		{`w[io]n (a|the) prize`, "you win the prize"},
		{`(?i)kelvin`, "\u212aelvin"},
		{`(?i)pass`, "pa\u017f\u017f"},
		{`foo(?i:BAR)baz`, "foobarbaz"},
		{`[A-Z]{12}\d{4}`, "ABCDEFGHIJKL1234"},
		{`^abc|def$`, "xxdef"},
		{`(?i)é+t[ée]`, "ÉÉTÉ"},
		{`a{3,}bc`, "aaaabc"},
	} {
		f.Add(s[0], s[1])
	}
	other := regexp.MustCompile(`(?i)lottery\s+winner`)
	f.Fuzz(func(t *testing.T, expr, text string) {
		re, err := regexp.Compile(expr)
		if err != nil {
			return
		}
		want := re.MatchString(text)
		for _, res := range [][]*regexp.Regexp{{re}, {other, re}} {
			owners := make([]int, len(res))
			for i := range owners {
				owners[i] = i
			}
			got := false
			newReSet(res, owners).each(text, func(i int, _ *regexp.Regexp, _ string) bool {
				got = got || res[i] == re
				return true
			})
			if got != want {
				t.Fatalf("expression %q on %q: pre-filtered set found it %v, regexp %v", expr, text, got, want)
			}
		}
	})
}
