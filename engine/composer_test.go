package engine

import (
	"context"
	"fmt"
	"strings"
	"testing"
)

// andNot is a composite "A & !B" giving C.
type andNot struct{ saw []string }

func (c *andNot) Compose(_ *Transaction, syms []Symbol) Composition {
	has := map[string]bool{}
	for _, s := range syms {
		has[s.Name] = true
		c.saw = append(c.saw, s.Name)
	}
	if has["A"] && !has["B"] {
		return Composition{Add: []Symbol{{Name: "C", Options: []string{"A & !B"}, Force: Reject, Message: "5.7.1 composite"}}}
	}
	return Composition{}
}

// taker is a composer that always adds T and takes what remove says.
type taker struct{ remove map[string]Removal }

func (c taker) Compose(*Transaction, []Symbol) Composition {
	return Composition{Add: []Symbol{{Name: "T"}}, Remove: c.remove}
}

// TestComposerRemoves: what a composition takes: the weight (listed, 0),
// the symbol (not listed, weight counts) or both (gone); a symbol that
// forces an action, by itself or by the policy's force, only loses its
// weight and still forces.
func TestComposerRemoves(t *testing.T) {
	for _, tt := range []struct {
		name   string
		remove map[string]Removal
		force  map[string]Action
		listed string
		score  float64
		forced string
	}{
		{"nothing", nil, nil, "A:1 B:2 F:4 T:8", 15, "F"},
		{"weight", map[string]Removal{"A": RemoveWeight}, nil, "A:0 B:2 F:4 T:8", 14, "F"},
		{"symbol", map[string]Removal{"A": RemoveSymbol}, nil, "B:2 F:4 T:8", 15, "F"},
		{"all", map[string]Removal{"A": RemoveWeight | RemoveSymbol, "B": RemoveWeight | RemoveSymbol}, nil, "F:4 T:8", 12, "F"},
		{"forcing symbol keeps its action", map[string]Removal{"F": RemoveWeight | RemoveSymbol}, nil, "A:1 B:2 F:0 T:8", 11, "F"},
		{"forcing symbol is not hidden", map[string]Removal{"F": RemoveSymbol}, nil, "A:1 B:2 F:4 T:8", 15, "F"},
		{"policy force counts", map[string]Removal{"B": RemoveWeight | RemoveSymbol}, map[string]Action{"B": SoftReject}, "A:1 B:0 F:4 T:8", 13, "B"},
		{"absent symbol", map[string]Removal{"X": RemoveWeight | RemoveSymbol}, nil, "A:1 B:2 F:4 T:8", 15, "F"},
		{"a symbol it adds (composite of a composite)", map[string]Removal{"T": RemoveWeight | RemoveSymbol}, nil, "A:1 B:2 F:4", 7, "F"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			a := &fakeCheck{name: "a", phase: PhaseConnect, defs: []SymbolDef{sym("A", 1), sym("B", 2), sym("F", 4), sym("T", 8)},
				emit: []Symbol{{Name: "A"}, {Name: "B"}, {Name: "F", Force: AddHeader}, {Name: "B"}}}
			p := DefaultPolicy()
			p.Thresholds = map[Action]float64{}
			p.Force = tt.force
			e, err := New(Options{Checks: []Check{a}, Composers: []Composer{taker{tt.remove}}, Policy: p})
			if err != nil {
				t.Fatal(err)
			}
			v := e.Scan(context.Background(), &Transaction{})
			var got []string
			for _, s := range v.Symbols {
				got = append(got, fmt.Sprintf("%s:%g", s.Name, s.Score))
			}
			if strings.Join(got, " ") != tt.listed || v.Score != tt.score || v.ForcedBy != tt.forced {
				t.Fatalf("symbols %q score %g forced by %q, want %q %g %q", got, v.Score, v.ForcedBy, tt.listed, tt.score, tt.forced)
			}
		})
	}
}

// TestComposer: a composer sees every check's symbols and its own are
// scored and may force the action.
func TestComposer(t *testing.T) {
	for _, tt := range []struct {
		emitB bool
		want  Action
		score float64
	}{{false, Reject, 3}, {true, NoAction, 1.5}} {
		a := &fakeCheck{name: "a", phase: PhaseConnect, defs: []SymbolDef{sym("A", 1), sym("C", 2)}, emit: []Symbol{{Name: "A"}}}
		b := &fakeCheck{name: "b", phase: PhaseData, defs: []SymbolDef{sym("B", 0.5)}}
		if tt.emitB {
			b.emit = []Symbol{{Name: "B"}}
		}
		comp := &andNot{}
		e, err := New(Options{Checks: []Check{a, b}, Composers: []Composer{comp}, Policy: DefaultPolicy()})
		if err != nil {
			t.Fatal(err)
		}
		v := e.Scan(context.Background(), &Transaction{})
		if v.Action != tt.want || v.Score != tt.score {
			t.Fatalf("B emitted %v: action %v score %.2f, want %v %.2f", tt.emitB, v.Action, v.Score, tt.want, tt.score)
		}
		if tt.want == Reject && (v.ForcedBy != "C" || v.Reply != "5.7.1 composite") {
			t.Fatalf("forced by %q reply %q", v.ForcedBy, v.Reply)
		}
		if len(comp.saw) != 1+btoi(tt.emitB) {
			t.Fatalf("composer saw %q", comp.saw)
		}
	}
}

// TestComposerNotEarly: an early verdict does not compose: "A & !B"
// must not force a reject before B's check (of a later phase) has run.
func TestComposerNotEarly(t *testing.T) {
	a := &fakeCheck{name: "a", phase: PhaseConnect, defs: []SymbolDef{sym("A", 1), sym("C", 2)}, emit: []Symbol{{Name: "A"}}}
	b := &fakeCheck{name: "b", phase: PhaseData, defs: []SymbolDef{sym("B", 0.5)}, emit: []Symbol{{Name: "B"}}}
	e, err := New(Options{Checks: []Check{a, b}, Composers: []Composer{&andNot{}}, Policy: DefaultPolicy()})
	if err != nil {
		t.Fatal(err)
	}
	s := e.NewScan(context.Background())
	defer s.Close()
	s.Update(PhaseRcpt, nil)
	if v := s.Verdict(context.Background(), false); v.Action != NoAction || v.ForcedBy != "" {
		t.Fatalf("early verdict %v forced by %q", v.Action, v.ForcedBy)
	}
	s.Update(PhaseData, nil)
	if v := s.Verdict(context.Background(), true); v.Action == Reject {
		t.Fatalf("final verdict with B: %v", v.Action)
	}
}

func btoi(b bool) int {
	if b {
		return 1
	}
	return 0
}

// TestForceReplyWhenScoreAgrees: a symbol forcing the action the score
// reaches anyway still gives its reply text and is named as the cause
// (a local rule's "5.7.1 Mail from this domain is refused").
func TestForceReplyWhenScoreAgrees(t *testing.T) {
	c := &fakeCheck{name: "c", phase: PhaseData, defs: []SymbolDef{sym("DENY", 20)},
		emit: []Symbol{{Name: "DENY", Force: Reject, Message: "5.7.1 refused here"}}}
	e, err := New(Options{Checks: []Check{c}, Policy: DefaultPolicy()})
	if err != nil {
		t.Fatal(err)
	}
	v := e.Scan(context.Background(), &Transaction{})
	if v.Action != Reject || v.ForcedBy != "DENY" || v.Reply != "5.7.1 refused here" {
		t.Fatalf("action %v forced by %q reply %q", v.Action, v.ForcedBy, v.Reply)
	}
}
