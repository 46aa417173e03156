package checks

import (
	"go/parser"
	"go/token"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
)

// TestCheckMap keeps the map of doc.go true: every check and finisher of
// the package is in it, with the file that defines it, the phase that file
// runs it at, the checks it waits for, and symbols that exist.
func TestCheckMap(t *testing.T) {
	f, err := parser.ParseFile(token.NewFileSet(), "doc.go", nil, parser.ParseComments|parser.PackageClauseOnly)
	if err != nil {
		t.Fatal(err)
	}
	doc := f.Doc.Text()
	row := regexp.MustCompile(`^\t([a-z_]+)\s+(connect|helo|mail|rcpt|data|finish)\s+(.+?)\s+([a-z]+\.go)\s+(.+)$`)
	symbolToken := regexp.MustCompile(`^[A-Z][A-Z0-9]*_[A-Z0-9_]+$`)
	symConstRe := regexp.MustCompile(`(?m)^\s*(?:const\s+)?Sym\w+\s*=\s*"([A-Z][A-Z0-9_]+)"`)

	src := map[string]string{} // file → text, for checks/*.go and the packages symbols live in
	all := ""
	for _, glob := range []string{"*.go", "../bayes/*.go", "../fuzzy/*.go", "../content/*.go", "../engine/*.go"} {
		files, _ := filepath.Glob(glob)
		for _, name := range files {
			if strings.HasSuffix(name, "_test.go") {
				continue
			}
			b, err := os.ReadFile(name)
			if err != nil {
				t.Fatal(err)
			}
			src[name] = string(b)
			all += string(b)
		}
	}
	// The names the package's checks and finishers return.
	names := map[string]bool{}
	nameRe := regexp.MustCompile(`\) Name\(\) string\s*\{\s*return (\w+|"[a-z_]+")\s*\}`)
	constRe := regexp.MustCompile(`(?m)^\s*(?:const\s+)?(\w+)\s*=\s*"([a-z_]+)"`)
	consts := map[string]string{}
	for name, text := range src {
		if filepath.Dir(name) != "." {
			continue
		}
		for _, m := range constRe.FindAllStringSubmatch(text, -1) {
			consts[m[1]] = m[2]
		}
	}
	for name, text := range src {
		if filepath.Dir(name) != "." {
			continue
		}
		for _, m := range nameRe.FindAllStringSubmatch(text, -1) {
			switch v := m[1]; {
			case strings.HasPrefix(v, `"`):
				names[strings.Trim(v, `"`)] = true
			case v == "c.name": // dnsbl: one check per source
			default:
				if consts[v] == "" {
					t.Errorf("%s: Name returns %s, not a constant of this package", name, v)
				}
				names[consts[v]] = true
			}
		}
	}
	for _, n := range []string{CheckDNSBL, CheckDNSBLHelo, CheckDNSBLMailFrom, CheckDNSBLFrom, CheckDNSBLURL} {
		names[n] = true
	}

	mapped := map[string]bool{}
	lines := strings.Split(doc, "\n")
	for i, l := range lines {
		m := row.FindStringSubmatch(l)
		if m == nil {
			continue
		}
		name, stage, file, after := m[1], m[2], m[4], m[5]
		mapped[name] = true
		text, ok := src[file]
		if !ok {
			t.Errorf("%s: file %s does not exist", name, file)
			continue
		}
		if !strings.Contains(text, `"`+name+`"`) {
			t.Errorf("%s: %s does not name it", name, file)
		}
		if stage != "finish" {
			phase := "engine.Phase" + strings.ToUpper(stage[:1]) + stage[1:]
			if !strings.Contains(text, phase) {
				t.Errorf("%s: %s never says %s", name, file, phase)
			}
		} else if !strings.Contains(text, ") Finish(") {
			t.Errorf("%s: %s has no Finish method", name, file)
		}
		if after != "-" {
			for _, dep := range strings.Fields(after) {
				if !names[dep] {
					t.Errorf("%s waits for %q, which is no check", name, dep)
				}
			}
		}
		// The symbols line(s) that follow the row (or its group of rows),
		// up to the next group.
		listed := ""
		for _, next := range lines[i+1:] {
			if row.MatchString(next) {
				if listed != "" {
					break
				}
				continue
			}
			rest, ok := strings.CutPrefix(strings.TrimSpace(next), "symbols:")
			if !ok {
				continue
			}
			listed += " " + rest
			for _, tok := range strings.Fields(rest) {
				tok = strings.Trim(tok, "(),;")
				if symbolToken.MatchString(tok) && !strings.Contains(all, `"`+tok+`"`) {
					t.Errorf("%s: symbol %s is defined nowhere", name, tok)
				}
			}
		}
		// Every symbol constant of the check's file is listed, unless the
		// row names a table of them (HeaderSymbols, ContentSymbols).
		if !strings.Contains(listed, "Symbols") {
			for _, m := range symConstRe.FindAllStringSubmatch(text, -1) {
				if !slices.Contains(strings.Fields(listed), m[1]) {
					t.Errorf("%s: %s defines %s, not in its symbols", name, file, m[1])
				}
			}
		}
	}
	for n := range names {
		if !mapped[n] {
			t.Errorf("check or finisher %q is missing from the map in doc.go", n)
		}
	}
	if len(mapped) < 20 {
		t.Errorf("only %d rows read from doc.go: the table's format changed?", len(mapped))
	}
}
