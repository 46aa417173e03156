package engine

import (
	"context"
	"fmt"
	"log/slog"
	"time"

	"github.com/hamlet-mail/hamlet/content"
)

// DefaultTimeout is the deadline of a transaction's checks when none is
// configured.
const DefaultTimeout = 20 * time.Second

// Observer is told of every final verdict, e.g. to count it in metrics or
// keep it in the history. It must not block.
type Observer interface {
	Observe(tx *Transaction, v *Verdict, elapsed time.Duration)
}

// Classifier sets a transaction's Local, Outbound and Allowlisted flags
// from what is known at connect (client address, names, auth).
type Classifier interface {
	Classify(tx *Transaction)
}

// Options configure an Engine.
type Options struct {
	Checks    []Check
	Finishers []Finisher
	// Composers add symbols computed from every check's symbols
	// (composites), before the policy scores them.
	Composers []Composer
	Policy    Policy
	// Timeout bounds the checks of each phase: a check gets this long
	// from the moment its phase is reached. Zero means DefaultTimeout.
	Timeout    time.Duration
	Classifier Classifier
	Observers  []Observer
	Logger     *slog.Logger
	// Content bounds the parsing of message bodies (Transaction.Content);
	// zero fields take content.DefaultLimits.
	Content content.Limits
}

// Engine runs checks and applies the policy. It is safe for concurrent use
// and immutable once built: a configuration reload builds a new Engine.
type Engine struct {
	checks    []Check
	forcing   []bool // per check: may it force an action (see Forcer)
	byName    map[string]int
	finishers []Finisher
	composers []Composer
	policy    Policy
	symbols   table
	timeout   time.Duration
	classify  Classifier
	observers []Observer
	log       *slog.Logger
	content   content.Limits
}

// Engine-level symbols.
const (
	SymCheckTimeout = "CHECK_TIMEOUT"
	SymMalformed    = "MIME_MALFORMED"
)

// New validates opts (unique check names, known dependencies, no cycles,
// ordered thresholds) and builds an Engine.
func New(opts Options) (*Engine, error) {
	e := &Engine{
		checks:    opts.Checks,
		byName:    map[string]int{},
		finishers: opts.Finishers,
		composers: opts.Composers,
		policy:    opts.Policy,
		symbols:   table{},
		timeout:   opts.Timeout,
		classify:  opts.Classifier,
		observers: opts.Observers,
		log:       opts.Logger,
		content:   opts.Content,
	}
	if e.timeout <= 0 {
		e.timeout = DefaultTimeout
	}
	if e.log == nil {
		e.log = slog.Default()
	}
	if err := e.policy.Validate(); err != nil {
		return nil, fmt.Errorf("policy: %w", err)
	}
	e.define(SymbolDef{Name: SymCheckTimeout, Weight: 0, Description: "A check did not answer before the deadline", Group: "engine"})
	e.define(SymbolDef{Name: SymMalformed, Weight: 0.1, Description: "The message is malformed", Group: "engine"})
	for i, c := range e.checks {
		if _, dup := e.byName[c.Name()]; dup {
			return nil, fmt.Errorf("check %q registered twice", c.Name())
		}
		e.byName[c.Name()] = i
		for _, d := range c.Symbols() {
			e.define(d)
		}
	}
	for _, f := range e.finishers {
		for _, d := range f.Symbols() {
			e.define(d)
		}
	}
	for _, c := range e.checks {
		for _, dep := range c.After() {
			j, ok := e.byName[dep]
			if !ok {
				return nil, fmt.Errorf("check %q depends on unknown check %q", c.Name(), dep)
			}
			if e.checks[j].Phase() > c.Phase() {
				return nil, fmt.Errorf("check %q (phase %s) depends on %q of a later phase (%s)", c.Name(), c.Phase(), dep, e.checks[j].Phase())
			}
		}
	}
	if err := e.acyclic(); err != nil {
		return nil, err
	}
	for _, c := range e.checks {
		e.forcing = append(e.forcing, mayForce(c, &e.policy))
	}
	return e, nil
}

func (e *Engine) define(d SymbolDef) { e.symbols[d.Name] = d }

// Symbols returns every symbol the engine's checks and finishers declare,
// with the weight the policy gives it.
func (e *Engine) Symbols() []SymbolDef {
	out := make([]SymbolDef, 0, len(e.symbols))
	for _, d := range e.symbols {
		d.Weight, _ = e.policy.weight(e.symbols, d.Name)
		out = append(out, d)
	}
	return out
}

// Policy returns the engine's policy.
func (e *Engine) Policy() Policy { return e.policy }

// Timeout returns the per-phase deadline of the checks.
func (e *Engine) Timeout() time.Duration { return e.timeout }

func (e *Engine) acyclic() error {
	const (
		white = iota
		grey
		black
	)
	color := make([]int, len(e.checks))
	var visit func(i int) error
	visit = func(i int) error {
		color[i] = grey
		for _, dep := range e.checks[i].After() {
			j := e.byName[dep]
			switch color[j] {
			case grey:
				return fmt.Errorf("checks %q and %q depend on each other", e.checks[i].Name(), dep)
			case white:
				if err := visit(j); err != nil {
					return err
				}
			}
		}
		color[i] = black
		return nil
	}
	for i := range e.checks {
		if color[i] == white {
			if err := visit(i); err != nil {
				return err
			}
		}
	}
	return nil
}

// DryScan is Scan as a trial: nothing is recorded or changed (see
// Scan.Dry).
func (e *Engine) DryScan(ctx context.Context, tx *Transaction) *Verdict {
	s := e.NewScan(ctx)
	defer s.Close()
	s.Dry()
	s.Update(PhaseData, func(t *Transaction) { *t = *tx.clone() })
	return s.Verdict(ctx, true)
}

// Scan runs a complete transaction at once (the /checkv2 and `hamlet
// check` case) and returns the final verdict.
func (e *Engine) Scan(ctx context.Context, tx *Transaction) *Verdict {
	s := e.NewScan(ctx)
	defer s.Close()
	s.Update(PhaseData, func(t *Transaction) { *t = *tx.clone() })
	return s.Verdict(ctx, true)
}
