package checks

import (
	"context"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"testing"

	"github.com/hamlet-mail/hamlet/engine"
	"github.com/hamlet-mail/hamlet/internal/sharedtest"
	"github.com/hamlet-mail/hamlet/message"
)

// contentScore runs the content check on raw and sums its symbols with
// the default weights.
func contentScore(t testing.TB, raw []byte) (float64, []string) {
	weights := map[string]float64{}
	for _, d := range ContentSymbols {
		weights[d.Name] = d.Weight
	}
	c, err := NewContent(DefaultContentConfig())
	if err != nil {
		t.Fatal(err)
	}
	res := c.Run(context.Background(), &engine.Transaction{Message: message.Parse(raw)}, nil)
	score := 0.0
	var names []string
	for _, s := range res.Symbols {
		m := s.Multiplier
		if m == 0 {
			m = 1
		}
		w, ok := weights[s.Name]
		if !ok {
			t.Fatalf("symbol %s is not declared", s.Name)
		}
		score += w * m
		names = append(names, s.Name)
	}
	return score, names
}

// On the SpamAssassin fixtures the content rules leave ham below the add
// header threshold on their own, and raise spam.
func TestContentCorpus(t *testing.T) {
	dir := sharedtest.Dir(t, "corpus/spamassassin-testdata")
	for _, kind := range []string{"nice", "spam"} {
		files, _ := filepath.Glob(filepath.Join(dir, kind, "*"))
		var total float64
		counts := map[string]int{}
		over := 0
		n := 0
		for _, f := range files {
			if st, err := os.Stat(f); err != nil || st.IsDir() {
				continue
			}
			n++
			raw, err := os.ReadFile(f)
			if err != nil {
				t.Fatal(err)
			}
			score, names := contentScore(t, raw)
			total += score
			for _, n := range names {
				counts[n]++
			}
			if score >= 6 {
				over++
				if kind == "nice" {
					t.Errorf("ham %s: content score %.2f %v", filepath.Base(f), score, names)
				}
			}
		}
		var keys []string
		for k := range counts {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		var b strings.Builder
		for _, k := range keys {
			b.WriteString(" " + k + "=" + itoa(counts[k]))
		}
		t.Logf("%s: %d messages, mean content score %.2f, %d at 6 or more;%s", kind, n, total/float64(max(n, 1)), over, b.String())
	}
}

func itoa(n int) string { return strconv.Itoa(n) }
