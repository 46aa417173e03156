// Package enginetest has the fake check and finisher that tests of the
// front ends (milter, OpenSMTPD, rspamd HTTP) build an engine from: their
// behaviour is a function of the transaction, so a test says in one
// place what the engine answers, and the real engine (phases, deadlines,
// policy) runs around it.
package enginetest

import (
	"context"

	"github.com/hamlet-mail/hamlet/engine"
)

// Check is an engine.Check whose Run calls Fn.
type Check struct {
	Label string             // Name
	Stage engine.Phase       // Phase
	Needs []string           // After
	Defs  []engine.SymbolDef // Symbols
	// Fn is Run without the dependencies; nil emits nothing.
	Fn func(ctx context.Context, tx *engine.Transaction) engine.Result
}

var _ engine.Check = (*Check)(nil)

func (c *Check) Name() string                { return c.Label }
func (c *Check) Phase() engine.Phase         { return c.Stage }
func (c *Check) After() []string             { return c.Needs }
func (c *Check) Symbols() []engine.SymbolDef { return c.Defs }

func (c *Check) Run(ctx context.Context, tx *engine.Transaction, _ engine.Results) engine.Result {
	if c.Fn == nil {
		return engine.Result{}
	}
	return c.Fn(ctx, tx)
}

// Finisher is an engine.Finisher whose Finish calls Fn.
type Finisher struct {
	Label string
	Defs  []engine.SymbolDef
	Fn    func(ctx context.Context, tx *engine.Transaction, v *engine.Verdict) error
}

var _ engine.Finisher = (*Finisher)(nil)

func (f *Finisher) Name() string                { return f.Label }
func (f *Finisher) Symbols() []engine.SymbolDef { return f.Defs }

func (f *Finisher) Finish(ctx context.Context, tx *engine.Transaction, _ engine.Results, v *engine.Verdict) error {
	if f.Fn == nil {
		return nil
	}
	return f.Fn(ctx, tx, v)
}

// AuthResults is a finisher named "authres" that puts an
// Authentication-Results field with the value value(tx) first among the
// fields to add, as the real one does (RFC 8601 §5: above the fields it
// describes).
func AuthResults(value func(tx *engine.Transaction) string) *Finisher {
	return &Finisher{Label: "authres", Fn: func(_ context.Context, tx *engine.Transaction, v *engine.Verdict) error {
		v.AddHeaders = append([]engine.Header{{Name: "Authentication-Results", Value: value(tx)}}, v.AddHeaders...)
		return nil
	}}
}
