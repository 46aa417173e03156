package checks

import (
	"context"
	"log/slog"

	"github.com/hamlet-mail/hamlet/bayes"
	"github.com/hamlet-mail/hamlet/engine"
)

// CheckBayes is the Bayes check's name.
const CheckBayes = "bayes"

// Bayes is the check that classifies a message with the Bayes classifier:
// BAYES_SPAM or BAYES_HAM, weighted by the probability (up to +5.1 and
// -3.0, rspamd's weights), the probability in the option;
// BAYES_UNTRAINED (weight 0) until min_learns spam and ham messages were
// learned, with the counts; BAYES_ERROR (weight 0) when the store failed —
// the scan goes on without Bayes. Its value is the *bayes.Result.
type Bayes struct {
	c   *bayes.Classifier
	log *slog.Logger
}

var _ engine.Check = (*Bayes)(nil)

// NewBayes returns the check.
func NewBayes(c *bayes.Classifier, log *slog.Logger) *Bayes {
	if log == nil {
		log = slog.Default()
	}
	return &Bayes{c: c, log: log}
}

// Name implements engine.Check.
func (b *Bayes) Name() string { return CheckBayes }

// Phase implements engine.Check.
func (b *Bayes) Phase() engine.Phase { return engine.PhaseData }

// After implements engine.Check.
func (b *Bayes) After() []string { return nil }

// Symbols implements engine.Check.
func (b *Bayes) Symbols() []engine.SymbolDef {
	return []engine.SymbolDef{
		{Name: bayes.SymSpam, Weight: bayes.WeightSpam, Group: "statistics", Description: "Bayes classifier: spam (weight scaled by the probability)"},
		{Name: bayes.SymHam, Weight: bayes.WeightHam, Group: "statistics", Description: "Bayes classifier: ham (weight scaled by the probability)"},
		{Name: bayes.SymUntrained, Weight: 0, Group: "statistics", Description: "Bayes classifier not used: too few spam or ham messages learned"},
		{Name: bayes.SymError, Weight: 0, Group: "statistics", Description: "Bayes classifier not used: its store failed"},
	}
}

// Run implements engine.Check.
func (b *Bayes) Run(ctx context.Context, tx *engine.Transaction, _ engine.Results) engine.Result {
	c := tx.Content()
	if c == nil {
		return engine.Result{}
	}
	r, err := b.c.Trained(ctx)
	if err == nil && r.Trained {
		r, err = b.c.Classify(ctx, bayes.Tokenize(bayes.FromContent(c)))
	}
	if err != nil {
		b.log.Warn("bayes: classification skipped", "queue_id", tx.QueueID, "err", err)
		return engine.Result{Symbols: []engine.Symbol{{Name: bayes.SymError, Options: []string{"store unavailable"}}}}
	}
	res := engine.Result{Value: &r}
	name, mult, opts := r.Verdict(b.c.Config().MinLearns)
	if name == "" {
		return res
	}
	res.Symbols = []engine.Symbol{{Name: name, Options: opts, Multiplier: mult}}
	return res
}
