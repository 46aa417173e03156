package checks

import (
	"context"
	"log/slog"
	"slices"

	"github.com/hamlet-mail/hamlet/engine"
	"github.com/hamlet-mail/hamlet/fuzzy"
)

// CheckFuzzy is the fuzzy check's name.
const CheckFuzzy = "fuzzy"

// Fuzzy is the check that looks a message's text and attachment hashes up
// in the local fuzzy storage (rspamd's fuzzy_check): FUZZY_DENIED,
// FUZZY_PROB or FUZZY_WHITE with rspamd's weights, scaled by the share of
// matching shingles and the stored value, one option per matching part
// ("flag:digest:share:kind"); FUZZY_ERROR (weight 0) when the store failed.
// Its value is the []fuzzy.Match.
type Fuzzy struct {
	db  *fuzzy.DB
	log *slog.Logger
}

var _ engine.Check = (*Fuzzy)(nil)

// NewFuzzy returns the check.
func NewFuzzy(db *fuzzy.DB, log *slog.Logger) *Fuzzy {
	if log == nil {
		log = slog.Default()
	}
	return &Fuzzy{db: db, log: log}
}

// Name implements engine.Check.
func (f *Fuzzy) Name() string { return CheckFuzzy }

// Phase implements engine.Check.
func (f *Fuzzy) Phase() engine.Phase { return engine.PhaseData }

// After implements engine.Check.
func (f *Fuzzy) After() []string { return nil }

// Symbols implements engine.Check.
func (f *Fuzzy) Symbols() []engine.SymbolDef {
	defs := make([]engine.SymbolDef, 0, len(fuzzy.Lists)+1)
	desc := map[string]string{
		fuzzy.SymDenied: "Near-duplicate of mail learned as spam (local fuzzy hashes)",
		fuzzy.SymProb:   "Near-duplicate of mail added as probable spam (local fuzzy hashes)",
		fuzzy.SymWhite:  "Near-duplicate of mail added as good (local fuzzy hashes)",
	}
	for _, l := range fuzzy.Lists {
		defs = append(defs, engine.SymbolDef{Name: l.Symbol, Weight: l.Weight, Group: "fuzzy", Description: desc[l.Symbol]})
	}
	return append(defs, engine.SymbolDef{Name: fuzzy.SymError, Group: "fuzzy", Description: "Fuzzy hashes not checked: the store failed"})
}

// Run implements engine.Check.
func (f *Fuzzy) Run(ctx context.Context, tx *engine.Transaction, _ engine.Results) engine.Result {
	c := tx.Content()
	if c == nil {
		return engine.Result{}
	}
	empty, err := f.db.Empty(ctx)
	if err == nil && empty {
		return engine.Result{}
	}
	var ms []fuzzy.Match
	if err == nil {
		ms, err = f.db.Check(ctx, f.db.Hashes(c))
	}
	if err != nil {
		f.log.Warn("fuzzy: check skipped", "queue_id", tx.QueueID, "err", err)
		return engine.Result{Symbols: []engine.Symbol{{Name: fuzzy.SymError, Options: []string{"store unavailable"}}}}
	}
	return engine.Result{Value: ms, Symbols: FuzzySymbols(ms)}
}

// FuzzySymbols turns matches into symbols: one per list, the strongest
// match's multiplier, every match's option.
func FuzzySymbols(ms []fuzzy.Match) []engine.Symbol {
	var out []engine.Symbol
	for _, l := range fuzzy.Lists {
		var s engine.Symbol
		for _, m := range ms {
			if m.Flag != l.Flag {
				continue
			}
			s.Name = l.Symbol
			s.Multiplier = max(s.Multiplier, m.Multiplier())
			if o := m.Option(); !slices.Contains(s.Options, o) {
				s.Options = append(s.Options, o)
			}
		}
		if s.Name != "" {
			out = append(out, s)
		}
	}
	return out
}
