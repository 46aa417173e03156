// Package bayes is hamlet's Bayes classifier: it learns from messages its
// users call spam or ham and says how spammy a new message looks.
//
// Tokens (Tokenize) come from the content stage's parsed message:
// normalised words of the subject and the text and HTML parts with sparse
// bigrams over a window of five words (as rspamd's OSB tokenizer), words
// and values of a few header fields, URL hosts, attachment types. A
// token's counts in learned spam and ham give its probability (Robinson's
// f(w)); the MaxDiscriminators most significant of them are combined with
// Fisher's chi-square method (Combine), as SpamBayes, SpamAssassin and
// rspamd do. The counts live in the store (store.Bayes: embedded or Redis,
// one schema), bounded by expiry.
//
// What it does not do: it never classifies before MinLearns spam and ham
// messages were learned (a classifier trained on a handful of messages
// says more about them than about spam), and it keeps no message: only
// hashed tokens and a digest of each learned message.
package bayes

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"strings"
	"sync"
	"time"

	"github.com/hamlet-mail/hamlet/message"
	"github.com/hamlet-mail/hamlet/store"
)

// Config is the [bayes] section.
type Config struct {
	// Enabled turns classification on (learning works either way).
	Enabled bool `toml:"enabled"`
	// MinLearns: no verdict until this many spam and this many ham
	// messages were learned (rspamd's min_learns).
	MinLearns int `toml:"min_learns"`
	// MaxTokens bounds the token database: beyond it the least useful
	// tokens (oldest, seen once) are removed down to 3/4 of it.
	MaxTokens int `toml:"max_tokens"`
	// MaxLearned is how many digests of learned messages are kept (to
	// learn each once, and relearn it as the other class).
	MaxLearned int `toml:"max_learned"`
	// CacheTokens is how many tokens' counts are kept in memory between
	// scans (about 40 bytes each); 0 reads every token from the store.
	CacheTokens int `toml:"cache_tokens"`
	// Autolearn learns from scanned mail (off by default).
	Autolearn AutolearnConfig `toml:"autolearn"`
}

// AutolearnConfig is [bayes.autolearn].
type AutolearnConfig struct {
	Enabled bool `toml:"enabled"`
	// HamBelow: inbound mail scoring below this (negative) score, with
	// DKIM and DMARC passing, is learned as ham. Spam is mail scoring at
	// or above the reject threshold.
	HamBelow float64 `toml:"ham_below"`
}

// DefaultConfig: on, 200 learns of each class, a million tokens, 200,000
// digests, no autolearn.
func DefaultConfig() Config {
	return Config{Enabled: true, MinLearns: 200, MaxTokens: 1_000_000, MaxLearned: 200_000,
		CacheTokens: 250_000, Autolearn: AutolearnConfig{HamBelow: -1}}
}

// Validate checks the section.
func (c *Config) Validate() error {
	switch {
	case c.MinLearns < 1:
		return fmt.Errorf("bayes: min_learns must be at least 1")
	case c.MaxTokens < 1000:
		return fmt.Errorf("bayes: max_tokens must be at least 1000")
	case c.MaxLearned < 1:
		return fmt.Errorf("bayes: max_learned must be positive")
	case c.CacheTokens < 0:
		return fmt.Errorf("bayes: cache_tokens must not be negative")
	case c.Autolearn.HamBelow >= 0:
		return fmt.Errorf("bayes: autolearn.ham_below must be negative (mail that earned a good score), not %v", c.Autolearn.HamBelow)
	}
	return nil
}

// Result is one classification.
type Result struct {
	// Prob is the probability that the message is spam (0.5: no idea).
	Prob float64
	// Trained is false when fewer than MinLearns spam or ham were
	// learned: then Prob is 0.5 and means nothing.
	Trained bool
	// Spam and Ham are the learned message counts.
	Spam, Ham int64
	// Tokens is the message's distinct tokens, Known those the database
	// knows, Used those combined, Cached those whose counts came from the
	// in-memory cache.
	Tokens, Known, Used, Cached int
}

// ReportEvery is how many learned messages lie between two reports of the
// database's size.
const ReportEvery = 10_000

// Classifier classifies and learns on top of a token database.
type Classifier struct {
	st  store.Bayes
	cfg Config
	log *slog.Logger
	// OnReport, when set, is called with the database's figures after
	// every ReportEvery learned messages (they are also logged).
	OnReport func(store.BayesStats)

	cache *tokenCache // nil: off

	mu       sync.Mutex
	stats    store.BayesStats
	statsAt  time.Time
	expiring bool
}

// statsTTL is how long the learned counts are cached between
// classifications (another host's learns show after at most this).
const statsTTL = 2 * time.Second

// New returns a classifier on st.
func New(st store.Bayes, cfg Config, log *slog.Logger) *Classifier {
	if log == nil {
		log = slog.Default()
	}
	return &Classifier{st: st, cfg: cfg, log: log, cache: newTokenCache(cfg.CacheTokens)}
}

// Config returns the configuration.
func (c *Classifier) Config() Config { return c.cfg }

// Stats returns the database's counts, fresh.
func (c *Classifier) Stats(ctx context.Context) (store.BayesStats, error) {
	st, err := c.st.BayesStats(ctx)
	if err == nil {
		c.mu.Lock()
		c.stats, c.statsAt = st, time.Now()
		c.mu.Unlock()
	}
	return st, err
}

func (c *Classifier) cachedStats(ctx context.Context) (store.BayesStats, error) {
	c.mu.Lock()
	st, at := c.stats, c.statsAt
	c.mu.Unlock()
	if !at.IsZero() && time.Since(at) < statsTTL {
		return st, nil
	}
	return c.Stats(ctx)
}

// Trained is the result of a classification before any token is read:
// the learned counts, and whether there are enough of them (MinLearns of
// each class) to classify at all. A scan asks it first, so that an
// untrained database costs no tokenizing.
func (c *Classifier) Trained(ctx context.Context) (Result, error) {
	st, err := c.cachedStats(ctx)
	if err != nil {
		return Result{Prob: 0.5}, err
	}
	min := int64(c.cfg.MinLearns)
	return Result{Prob: 0.5, Spam: st.Spam, Ham: st.Ham, Trained: st.Spam >= min && st.Ham >= min}, nil
}

// Classify returns the spam probability of a message with the tokens toks.
func (c *Classifier) Classify(ctx context.Context, toks Tokens) (Result, error) {
	r, err := c.Trained(ctx)
	if err != nil {
		return r, err
	}
	r.Tokens = len(toks)
	if !r.Trained {
		return r, nil
	}
	cp := countBufs.Get().(*[]store.BayesCounts)
	defer countBufs.Put(cp)
	if cap(*cp) < len(toks) {
		*cp = make([]store.BayesCounts, len(toks))
	}
	counts := (*cp)[:len(toks)]
	clear(counts)
	var err2 error
	if r.Cached, err2 = c.counts(ctx, toks, counts); err2 != nil {
		return r, err2
	}
	for _, k := range counts {
		if k.Spam+k.Ham > 0 {
			r.Known++
		}
	}
	probs := Significant(counts, r.Spam, r.Ham, MaxDiscriminators)
	r.Used = len(probs)
	r.Prob = Combine(probs)
	return r, nil
}

// countBufs hold Classify's counts between messages.
var countBufs = sync.Pool{New: func() any { return new([]store.BayesCounts) }}

// counts reads the counts of toks: from the cache, and the store for the
// tokens it does not hold; cached is how many came from the cache.
func (c *Classifier) counts(ctx context.Context, toks Tokens, out []store.BayesCounts) (cached int, err error) {
	if f, ok := c.st.(mayHaver); ok && c.cache != nil {
		// Only the tokens the store may hold go to the cache and the
		// store; the others are zero.
		var idx []int
		var sub []uint64
		for i, t := range toks {
			if f.BayesMayHave(t) {
				idx = append(idx, i)
				sub = append(sub, t)
			}
		}
		if len(sub) < len(toks) {
			subOut := make([]store.BayesCounts, len(sub))
			n, err := c.lookup(ctx, sub, subOut)
			if err != nil {
				return 0, err
			}
			clear(out)
			for j, i := range idx {
				out[i] = subOut[j]
			}
			return n, nil
		}
	}
	return c.lookup(ctx, toks, out)
}

// mayHaver is a store that knows, without a lookup, that a token is not
// stored (the embedded store's filter).
type mayHaver interface{ BayesMayHave(t uint64) bool }

// lookup reads the counts of toks from the cache and the store.
func (c *Classifier) lookup(ctx context.Context, toks []uint64, out []store.BayesCounts) (cached int, err error) {
	if c.cache == nil {
		return 0, c.st.BayesGet(ctx, toks, out)
	}
	miss, gen := c.cache.get(toks, out)
	if len(miss) == 0 {
		return len(toks), nil
	}
	mt := make([]uint64, len(miss))
	for j, i := range miss {
		mt[j] = toks[i]
	}
	mc := make([]store.BayesCounts, len(miss))
	if err := c.st.BayesGet(ctx, mt, mc); err != nil {
		return 0, err
	}
	for j, i := range miss {
		out[i] = mc[j]
	}
	c.cache.put(toks, out, miss, gen)
	return len(toks) - len(miss), nil
}

// Item makes the store item that learns a message with tokens toks.
func Item(m *message.Message, toks Tokens, class store.BayesClass) store.BayesItem {
	return store.BayesItem{Digest: Digest(m), Class: class, Tokens: toks}
}

// Digest identifies a message for learning: a hash of its Message-ID and
// body, the parts that stay the same whether the message arrives by SMTP,
// from a mailbox file or from IMAP (trace fields differ).
func Digest(m *message.Message) string {
	h := sha256.New()
	id, _ := m.First("Message-ID")
	h.Write([]byte(strings.TrimSpace(id)))
	h.Write([]byte{0})
	h.Write(m.Body)
	return hex.EncodeToString(h.Sum(nil)[:16])
}

// Learn learns the items (each at most once; see store.Bayes), then
// applies the expiry bounds if the database outgrew them and reports its
// size at every ReportEvery learned messages.
func (c *Classifier) Learn(ctx context.Context, items ...store.BayesItem) ([]store.BayesOutcome, error) {
	if len(items) == 0 {
		return nil, nil
	}
	before, err := c.st.BayesStats(ctx)
	if err != nil {
		return nil, err
	}
	out, err := c.st.BayesLearn(ctx, items...)
	if c.cache != nil {
		c.cache.forget(items)
	}
	if err != nil {
		return nil, err
	}
	after, err := c.Stats(ctx)
	if err != nil {
		return out, err
	}
	if after.Tokens > int64(c.cfg.MaxTokens) || after.Learned > int64(c.cfg.MaxLearned) {
		c.expire(ctx)
		if s, err := c.Stats(ctx); err == nil {
			after = s
		}
	}
	if after.Seq/ReportEvery > before.Seq/ReportEvery {
		c.log.Info("bayes database", "learned_spam", after.Spam, "learned_ham", after.Ham,
			"learns", after.Seq, "tokens", after.Tokens, "digests", after.Learned)
		if c.OnReport != nil {
			c.OnReport(after)
		}
	}
	return out, nil
}

// expire applies the bounds, once at a time.
func (c *Classifier) expire(ctx context.Context) {
	c.mu.Lock()
	if c.expiring {
		c.mu.Unlock()
		return
	}
	c.expiring = true
	c.mu.Unlock()
	defer func() { c.mu.Lock(); c.expiring = false; c.mu.Unlock() }()
	t0 := time.Now()
	nt, nd, err := c.st.BayesExpire(ctx, store.BayesExpiry{MaxTokens: c.cfg.MaxTokens, MaxDigests: c.cfg.MaxLearned})
	if err != nil {
		c.log.Warn("bayes expiry failed", "err", err)
		return
	}
	c.log.Info("bayes expiry", "tokens_removed", nt, "digests_removed", nd, "took", time.Since(t0).Round(time.Millisecond))
}

// Symbols of the classifier, rspamd's names.
const (
	SymSpam      = "BAYES_SPAM"
	SymHam       = "BAYES_HAM"
	SymUntrained = "BAYES_UNTRAINED"
	SymError     = "BAYES_ERROR"
)

// Default weights (rspamd's statistics group).
const (
	WeightSpam = 5.1
	WeightHam  = -3.0
)

// MinConfidence: no symbol when the probability is closer to 0.5 than
// this (rspamd: 0.05).
const MinConfidence = 0.05

// Verdict returns the symbol for a classification: BAYES_SPAM or
// BAYES_HAM with a multiplier that grows from 0 at probability 0.5 to 1 at
// certainty (so the weight is scaled up to +5.1 / -3.0), and the spam
// probability as its option; BAYES_UNTRAINED when there were too few
// learns; "" when the message is neither.
func (r Result) Verdict(minLearns int) (name string, mult float64, opts []string) {
	if !r.Trained {
		return SymUntrained, 0, []string{fmt.Sprintf("spam %d/%d", r.Spam, minLearns), fmt.Sprintf("ham %d/%d", r.Ham, minLearns)}
	}
	d := r.Prob - 0.5
	if math.Abs(d) <= MinConfidence || math.IsNaN(d) {
		return "", 0, nil
	}
	opt := fmt.Sprintf("%.2f%%", r.Prob*100)
	if d > 0 {
		return SymSpam, math.Min(1, 2*d), []string{opt}
	}
	return SymHam, math.Min(1, -2*d), []string{opt}
}

// ErrNotLearned is returned for a message with too few tokens to learn.
var ErrNotLearned = errors.New("bayes: message has too few tokens to learn")

// MinTokens is the fewest tokens a message must have to be learned.
const MinTokens = 5
