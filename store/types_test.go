package store

import (
	"slices"
	"strings"
	"testing"
	"time"
)

// Normalize cuts what is too long and leaves the caller's slices as they
// were.
func TestNormalize(t *testing.T) {
	long := strings.Repeat("é", 400) // 800 bytes
	syms := []string{"A", long}
	opts := []string{"x", long, "3", "4", "5", "6", "7"}
	r := HistoryRecord{Time: time.Unix(1, 5e6), From: long, Symbols: syms, RcptList: []string{"a@b"},
		Hits: []HistoryHit{{Score: 1}, {Score: 2, Options: opts}}}
	n, err := r.Normalize()
	if err != nil {
		t.Fatal(err)
	}
	if len(n.From) > maxHistoryString || !strings.HasPrefix(long, n.From) || n.From == "" {
		t.Errorf("From cut to %d bytes", len(n.From))
	}
	if len(n.Symbols[1]) > maxHistoryString || n.Symbols[0] != "A" {
		t.Errorf("symbols %q", n.Symbols)
	}
	if o := n.Hits[1].Options; len(o) != maxHitOptions || len(o[1]) > maxHitOption || o[0] != "x" {
		t.Errorf("options %q", o)
	}
	if syms[1] != long || opts[1] != long || len(r.Hits[1].Options) != 7 {
		t.Error("Normalize changed the caller's slices")
	}
	// Within bounds, nothing is copied.
	ok := HistoryRecord{Time: time.Unix(1, 0), Symbols: []string{"A"}, Hits: []HistoryHit{{Options: []string{"o"}}}}
	m, _ := ok.Normalize()
	if &m.Symbols[0] != &ok.Symbols[0] || &m.Hits[0] != &ok.Hits[0] || !slices.Equal(m.Symbols, ok.Symbols) {
		t.Error("a record within bounds was copied")
	}
	if _, err := (HistoryRecord{}).Normalize(); err == nil {
		t.Error("a record without time accepted")
	}
}
