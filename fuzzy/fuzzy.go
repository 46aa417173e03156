// Package fuzzy finds near-duplicates of mail the site's users called
// spam: rspamd's fuzzy_check with a local fuzzy storage, nothing leaving
// the host.
//
// Each text part of at least MinWords normalised words gets a digest and
// 32 min-hash shingles of its word trigrams (Hashes); each attachment and
// image of at least MinBytes a digest of its content. learn_spam (the
// controller's /learnspam, `hamlet learn --spam`) and rspamc fuzzy_add
// store them in the store (store.Fuzzy: embedded or Redis). A new message
// matches when a part's digest is stored, or when more than half of a
// text's shingles point to one stored text: a copy with a few words
// changed still matches, an unrelated one does not. The symbol is
// rspamd's: FUZZY_DENIED (flag 1), FUZZY_PROB (2), FUZZY_WHITE (3), with
// rspamd's weights scaled as rspamd scales them (the share of matching
// shingles times tanh(e·value/max_score)), and an option
// "flag:digest:share:kind" per match.
//
// What it does not do: it keeps no text, only hashes; it does not match
// images or attachments approximately (one changed byte is another file,
// as in rspamd); it asks no shared fuzzy storage on the network.
package fuzzy

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"slices"
	"sync"
	"time"

	"github.com/hamlet-mail/hamlet/config/duration"
	"github.com/hamlet-mail/hamlet/content"
	"github.com/hamlet-mail/hamlet/message"
	"github.com/hamlet-mail/hamlet/store"
)

// Config is the [fuzzy] section.
type Config struct {
	// Enabled turns the check on (rspamc fuzzy_add/fuzzy_del work either
	// way).
	Enabled bool `toml:"enabled"`
	// Learn: learn_spam also stores the message's hashes (flag 1, weight
	// LearnWeight); learn_ham removes the denied hashes it matches.
	Learn bool `toml:"learn"`
	// LearnWeight is the weight a learn_spam adds.
	LearnWeight int64 `toml:"learn_weight"`
	// MinWords and MinBytes: shorter texts, smaller attachments are not
	// hashed.
	MinWords int `toml:"min_words"`
	MinBytes int `toml:"min_bytes"`
	// Expire: hashes not added again for this long are forgotten
	// (rspamd's fuzzy storage expire, 90 days).
	Expire duration.Duration `toml:"expire"`
	// MaxHashes bounds the database: beyond it the least recently added
	// go, down to 3/4 of it.
	MaxHashes int `toml:"max_hashes"`
}

// DefaultConfig: on, learning from learn_spam with weight 5, texts of 16
// words, attachments of 1 KiB, 90 days, 20,000 hashes.
func DefaultConfig() Config {
	return Config{Enabled: true, Learn: true, LearnWeight: 5, MinWords: 16, MinBytes: 1024,
		Expire: duration.Duration(90 * duration.Day), MaxHashes: 20_000}
}

// Validate checks the section.
func (c *Config) Validate() error {
	switch {
	case c.LearnWeight < 1:
		return fmt.Errorf("fuzzy: learn_weight must be at least 1")
	case c.MinWords < Window:
		return fmt.Errorf("fuzzy: min_words must be at least %d", Window)
	case c.MinBytes < 1:
		return fmt.Errorf("fuzzy: min_bytes must be positive")
	case c.Expire.D() < time.Hour:
		return fmt.Errorf("fuzzy: expire must be at least 1h")
	case c.MaxHashes < 100:
		return fmt.Errorf("fuzzy: max_hashes must be at least 100")
	}
	return nil
}

// Limits are the hashing limits of c.
func (c Config) Limits() Limits { return Limits{MinWords: c.MinWords, MinBytes: c.MinBytes} }

// The flags (rspamd's fuzzy_map of its public storage) and symbols.
const (
	FlagDenied = 1
	FlagProb   = 2
	FlagWhite  = 3

	SymDenied = "FUZZY_DENIED"
	SymProb   = "FUZZY_PROB"
	SymWhite  = "FUZZY_WHITE"
	// SymError (weight 0) says the store failed: the scan goes on
	// without fuzzy hashes.
	SymError = "FUZZY_ERROR"
)

// List is one flag's symbol, weight and max_score (rspamd's
// scores.d/fuzzy_group.conf and modules.d/fuzzy_check.conf).
type List struct {
	Flag     uint32
	Symbol   string
	Weight   float64
	MaxScore float64
}

// Lists are the three lists, by flag.
var Lists = []List{
	{FlagDenied, SymDenied, 12.0, 20},
	{FlagProb, SymProb, 5.0, 10},
	{FlagWhite, SymWhite, -2.1, 2},
}

// ListOf returns the list of flag.
func ListOf(flag uint32) (List, bool) {
	for _, l := range Lists {
		if l.Flag == flag {
			return l, true
		}
	}
	return List{}, false
}

// FlagOf returns the flag of a symbol name.
func FlagOf(sym string) (uint32, bool) {
	for _, l := range Lists {
		if l.Symbol == sym {
			return l.Flag, true
		}
	}
	return 0, false
}

// Normalize is rspamd's fuzzy_normalize: a stored value's strength in
// (0, 1), tanh(e·value/maxScore).
func Normalize(value int64, maxScore float64) float64 {
	if value <= 0 || maxScore <= 0 {
		return 0
	}
	return math.Tanh(math.E * float64(value) / maxScore)
}

// Match is one hashed part that matched.
type Match struct {
	Hash
	store.FuzzyEntry
	// Share is the part of the shingles that matched (1 for a digest).
	Share float64
}

// Multiplier is the share of the symbol's weight the match earns:
// rspamd's fuzzy_check (2.x, 3.x) multiplies the normalised value by the
// square root of the share of matching shingles for a text, and takes a
// digest match (share 1: attachments, images, an identical text) whole.
func (m Match) Multiplier() float64 {
	l, ok := ListOf(m.Flag)
	if !ok {
		return 0
	}
	return math.Sqrt(m.Share) * Normalize(m.Value, l.MaxScore)
}

// Option is rspamd's option text: flag:digest:share:kind.
func (m Match) Option() string {
	return fmt.Sprintf("%d:%s:%.2f:%s", m.Flag, m.FuzzyEntry.Digest, m.Share, m.Kind)
}

// DB checks and learns hashes on top of the store.
type DB struct {
	st  store.Fuzzy
	cfg Config
	log *slog.Logger
	now func() time.Time

	mu       sync.Mutex
	expireAt time.Time
	// expiring counts the expiry runs under way (tests wait for them).
	expiring sync.WaitGroup
	// hashes and hashesAt cache the count of stored hashes (Empty).
	hashes   int64
	hashesAt time.Time
}

// statsTTL is how long the count of hashes is cached (another host's
// first add shows after at most this).
const statsTTL = 2 * time.Second

// Empty reports whether no hash is stored, from a count cached for
// statsTTL: a site that never learned pays no hashing per message.
func (d *DB) Empty(ctx context.Context) (bool, error) {
	d.maybeExpire()
	d.mu.Lock()
	if now := d.now(); now.Sub(d.hashesAt) < statsTTL && !now.Before(d.hashesAt) {
		n := d.hashes
		d.mu.Unlock()
		return n == 0, nil
	}
	d.mu.Unlock()
	st, err := d.st.FuzzyStats(ctx)
	if err != nil {
		return false, err
	}
	d.mu.Lock()
	d.hashes, d.hashesAt = st.Hashes, d.now()
	d.mu.Unlock()
	return st.Hashes == 0, nil
}

// New returns a DB on st.
func New(st store.Fuzzy, cfg Config, log *slog.Logger) *DB {
	if log == nil {
		log = slog.Default()
	}
	return &DB{st: st, cfg: cfg, log: log, now: time.Now}
}

// Config returns the configuration in force.
func (d *DB) Config() Config { return d.cfg }

// Hashes hashes a parsed message within the configured limits.
func (d *DB) Hashes(c *content.Message) []Hash { return FromContent(c, d.cfg.Limits()) }

// Check looks the hashes up and returns the matches (an entry past its
// expiry does not match).
func (d *DB) Check(ctx context.Context, hs []Hash) ([]Match, error) {
	if len(hs) == 0 {
		return nil, nil
	}
	d.maybeExpire()
	qs := make([]store.FuzzyQuery, len(hs))
	for i, h := range hs {
		qs[i] = store.FuzzyQuery{Digest: h.Digest, Shingles: h.Shingles}
	}
	res, err := d.st.FuzzyCheck(ctx, d.now().Add(-d.cfg.Expire.D()), qs)
	if err != nil {
		return nil, err
	}
	var out []Match
	for i, r := range res {
		if r.Found {
			out = append(out, Match{Hash: hs[i], FuzzyEntry: r.FuzzyEntry, Share: float64(r.Shingles) / store.FuzzyShingles})
		}
	}
	return out, nil
}

// Add stores the hashes with flag and weight (rspamc fuzzy_add).
func (d *DB) Add(ctx context.Context, hs []Hash, flag uint32, weight int64) error {
	if _, ok := ListOf(flag); !ok {
		return fmt.Errorf("%w: fuzzy flag %d (1 denied, 2 probable, 3 white)", store.ErrInvalid, flag)
	}
	items := make([]store.FuzzyHash, len(hs))
	for i, h := range hs {
		items[i] = store.FuzzyHash{Digest: h.Digest, Shingles: h.Shingles, Flag: flag, Value: weight}
	}
	if err := d.st.FuzzyAdd(ctx, d.now(), items...); err != nil {
		return err
	}
	d.mu.Lock()
	d.hashesAt = time.Time{} // count again
	d.mu.Unlock()
	d.maybeExpire()
	return nil
}

// Delete removes the hashes' digests (rspamc fuzzy_del, fuzzy_delhash)
// and returns how many were stored.
func (d *DB) Delete(ctx context.Context, digests []string) (int, error) {
	return d.st.FuzzyDelete(ctx, digests...)
}

// LearnSpam stores the hashes as denied with the learn weight.
func (d *DB) LearnSpam(ctx context.Context, hs []Hash) error {
	return d.Add(ctx, hs, FlagDenied, d.cfg.LearnWeight)
}

// LearnHam removes the denied and probable entries the hashes match (a
// message moved out of Junk says that what it resembles is not spam) and
// returns how many it removed.
func (d *DB) LearnHam(ctx context.Context, hs []Hash) (int, error) {
	ms, err := d.Check(ctx, hs)
	if err != nil {
		return 0, err
	}
	var ds []string
	for _, m := range ms {
		if (m.Flag == FlagDenied || m.Flag == FlagProb) && !slices.Contains(ds, m.FuzzyEntry.Digest) {
			ds = append(ds, m.FuzzyEntry.Digest)
		}
	}
	if len(ds) == 0 {
		return 0, nil
	}
	return d.st.FuzzyDelete(ctx, ds...)
}

// LearnMessage is what learn_spam and learn_ham do to the fuzzy hashes
// once Bayes learned a message (when [fuzzy] learn is on): spam stores its
// hashes as denied, ham removes the denied hashes it matches. It returns
// how many hashes it stored or removed.
func (d *DB) LearnMessage(ctx context.Context, raw []byte, spam bool) (int, error) {
	if !d.cfg.Learn {
		return 0, nil
	}
	hs := d.Hashes(content.Parse(message.Parse(raw), content.Limits{}))
	if len(hs) == 0 {
		return 0, nil
	}
	if spam {
		if err := d.LearnSpam(ctx, hs); err != nil {
			return 0, err
		}
		d.log.Info("fuzzy: learned spam", "hashes", len(hs))
		return len(hs), nil
	}
	n, err := d.LearnHam(ctx, hs)
	if err == nil && n > 0 {
		d.log.Info("fuzzy: ham removed denied hashes", "removed", n)
	}
	return n, err
}

// Stats returns the number of hashes (those expired less than
// expireEvery ago may still be counted).
func (d *DB) Stats(ctx context.Context) (store.FuzzyStats, error) {
	d.maybeExpire()
	return d.st.FuzzyStats(ctx)
}

// expireEvery is how often an expiry run starts.
const expireEvery = time.Hour

// maybeExpire starts an expiry run in the background at most once per
// expireEvery. Reads start it as well as adds: a site that stopped
// learning would otherwise keep hashes past their expiry for ever (they
// match nothing, but are counted, kept on disk, and make Empty false, so
// that every message is hashed for nothing). The daemon reads on every
// message, so no timer of its own is needed; a DB made again on reload
// starts with a run.
func (d *DB) maybeExpire() {
	d.mu.Lock()
	now := d.now()
	if now.Before(d.expireAt) {
		d.mu.Unlock()
		return
	}
	d.expireAt = now.Add(expireEvery)
	d.expiring.Add(1)
	d.mu.Unlock()
	go func() {
		defer d.expiring.Done()
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
		defer cancel()
		n, err := d.st.FuzzyExpire(ctx, now.Add(-d.cfg.Expire.D()), d.cfg.MaxHashes)
		switch {
		case errors.Is(err, store.ErrClosed):
		case err != nil:
			d.log.Warn("fuzzy: expiry failed", "err", err)
		case n > 0:
			d.log.Info("fuzzy: expired hashes", "removed", n)
		}
	}()
}

// Expire runs an expiry now and returns how many hashes it removed.
func (d *DB) Expire(ctx context.Context) (int, error) {
	return d.st.FuzzyExpire(ctx, d.now().Add(-d.cfg.Expire.D()), d.cfg.MaxHashes)
}
