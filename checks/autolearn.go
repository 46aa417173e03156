package checks

import (
	"context"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/hamlet-mail/hamlet/bayes"
	"github.com/hamlet-mail/hamlet/engine"
	"github.com/hamlet-mail/hamlet/store"
)

// Autolearn is the engine.Observer that teaches the Bayes classifier from
// scanned mail when [bayes.autolearn] is enabled: spam when the score is
// at or above the reject threshold, ham when it is below ham_below and
// both DKIM (R_DKIM_ALLOW) and DMARC (DMARC_POLICY_ALLOW) passed. Never
// from outbound, local or allowlisted mail, never from an early verdict,
// and not when the classifier already says the same class with
// confidence (there is nothing to learn, and a loop of self-confirmation
// is how autolearning goes wrong). Learning happens in a background
// goroutine from a bounded queue: Observe never blocks, and a message is
// dropped (counted in Dropped) when the queue is full.
type Autolearn struct {
	c       atomic.Pointer[bayes.Classifier]
	log     *slog.Logger
	queue   chan store.BayesItem
	done    chan struct{}
	once    sync.Once
	Dropped atomic.Int64
	Learned atomic.Int64
}

var _ engine.Observer = (*Autolearn)(nil)

// NewAutolearn starts the learner; Close stops it.
func NewAutolearn(log *slog.Logger) *Autolearn {
	if log == nil {
		log = slog.Default()
	}
	a := &Autolearn{log: log, queue: make(chan store.BayesItem, 256), done: make(chan struct{})}
	go a.run()
	return a
}

// SetClassifier sets the classifier (and with it the configuration) in
// force; nil stops autolearning.
func (a *Autolearn) SetClassifier(c *bayes.Classifier) { a.c.Store(c) }

// Close stops the learner after the queued messages.
func (a *Autolearn) Close() {
	a.once.Do(func() { close(a.queue) })
	<-a.done
}

// Decide returns the class to learn a verdict's message as, and false when
// it is not to be learned.
func Decide(cfg bayes.AutolearnConfig, tx *engine.Transaction, v *engine.Verdict) (store.BayesClass, bool) {
	if !cfg.Enabled || !v.Final || tx.Message == nil || tx.Local || tx.Outbound || tx.Allowlisted {
		return 0, false
	}
	has := map[string]float64{}
	for _, s := range v.Symbols {
		has[s.Name] = s.Score
	}
	sure := func(name string, weight float64) bool {
		sc, ok := has[name]
		return ok && sc/weight >= 0.9
	}
	switch {
	case v.RequiredScore > 0 && v.Score >= v.RequiredScore:
		if sure(bayes.SymSpam, bayes.WeightSpam) {
			return 0, false
		}
		return store.BayesSpam, true
	case v.Score < cfg.HamBelow:
		_, dkim := has[SymDKIMAllow]
		_, dmarc := has[SymDMARCAllow]
		if !dkim || !dmarc || sure(bayes.SymHam, bayes.WeightHam) {
			return 0, false
		}
		return store.BayesHam, true
	}
	return 0, false
}

// Observe implements engine.Observer.
func (a *Autolearn) Observe(tx *engine.Transaction, v *engine.Verdict, _ time.Duration) {
	c := a.c.Load()
	if c == nil {
		return
	}
	class, ok := Decide(c.Config().Autolearn, tx, v)
	if !ok {
		return
	}
	// Tokenize here, from the scan's parsed message, rather than keep it.
	toks := bayes.Tokenize(bayes.FromContent(tx.Content()))
	if len(toks) < bayes.MinTokens {
		return
	}
	select {
	case a.queue <- bayes.Item(tx.Message, toks, class):
	default:
		a.Dropped.Add(1)
	}
}

func (a *Autolearn) run() {
	defer close(a.done)
	for it := range a.queue {
		c := a.c.Load()
		if c == nil {
			continue
		}
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		out, err := c.Learn(ctx, it)
		cancel()
		if err != nil {
			a.log.Warn("bayes autolearn failed", "class", it.Class, "err", err)
			continue
		}
		a.Learned.Add(1)
		a.log.Info("bayes autolearn", "class", it.Class, "outcome", out[0], "digest", it.Digest, "tokens", len(it.Tokens))
	}
}
