package content

import (
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"
)

var update = flag.Bool("update", false, "rewrite the golden .symbols files")

// formatFindings writes one finding a line, sorted: SYMBOL(mult) [options].
func formatFindings(fs []Finding) string {
	var lines []string
	for _, f := range fs {
		l := fmt.Sprintf("%s(%.2f)", f.Symbol, f.Mult)
		if len(f.Options) > 0 {
			l += " [" + strings.Join(f.Options, ", ") + "]"
		}
		lines = append(lines, l)
	}
	sort.Strings(lines)
	return strings.Join(lines, "\n") + "\n"
}

// TestGolden parses and analyses every testdata/golden/*.eml and compares
// the findings with the .symbols file beside it. Adding a case is adding
// the two files (go test -run TestGolden -update writes the second; read
// it before committing).
func TestGolden(t *testing.T) {
	files, err := filepath.Glob("testdata/golden/*.eml")
	if err != nil || len(files) == 0 {
		t.Fatalf("no golden files: %v", err)
	}
	for _, f := range files {
		name := strings.TrimSuffix(filepath.Base(f), ".eml")
		t.Run(name, func(t *testing.T) {
			raw, err := os.ReadFile(f)
			if err != nil {
				t.Fatal(err)
			}
			got := formatFindings(Analyze(parse(string(raw))))
			want := strings.TrimSuffix(f, ".eml") + ".symbols"
			if *update {
				if err := os.WriteFile(want, []byte(got), 0o644); err != nil {
					t.Fatal(err)
				}
				return
			}
			w, err := os.ReadFile(want)
			if err != nil {
				t.Fatal(err)
			}
			if got != string(w) {
				t.Errorf("findings\n got:\n%s\nwant:\n%s", got, w)
			}
		})
	}
}
