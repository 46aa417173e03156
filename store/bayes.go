package store

import (
	"context"
	"errors"
	"slices"
)

// The Bayes classifier's token counts (package bayes) live beside the rest
// of the state, in a separate interface so that a store implements it
// without growing Store: both store/bolt and store/redis do, with the same
// schema (see their package docs). Other learned state that comes later
// (near-duplicate hashes, DKIM replay counters) gets interfaces of its own
// in the same way.
//
// The schema, in both stores:
//
//   - tokens: token (a 64-bit hash chosen by package bayes) → spam count,
//     ham count, last: the learn sequence number when the token was last
//     learned (the token's age is counted in learned messages, not in
//     time, so that a quiet site does not forget and two hosts agree);
//   - learned: message digest → class and learn sequence number, so that
//     a message is learned once and a relearn as the other class moves its
//     tokens; bounded to the newest MaxDigests entries;
//   - stats: learned spam and ham messages, the learn sequence number.

// BayesClass is a class a message is learned as.
type BayesClass uint8

// The two classes.
const (
	BayesSpam BayesClass = 1
	BayesHam  BayesClass = 2
)

func (c BayesClass) String() string {
	switch c {
	case BayesSpam:
		return "spam"
	case BayesHam:
		return "ham"
	}
	return "class?"
}

// Valid reports whether c is spam or ham.
func (c BayesClass) Valid() bool { return c == BayesSpam || c == BayesHam }

// BayesCounts is how many learned messages of each class had a token.
type BayesCounts struct {
	Spam, Ham uint32
}

// BayesStats describes the token database.
type BayesStats struct {
	// Spam and Ham count the learned messages of each class.
	Spam, Ham int64
	// Tokens is the number of tokens kept.
	Tokens int64
	// Seq counts learn operations (learns and relearns): the clock of token
	// ages.
	Seq int64
	// Learned is the number of message digests remembered.
	Learned int64
}

// BayesItem is one message to learn.
type BayesItem struct {
	// Digest identifies the message (package bayes: a hash of its body
	// and some header fields); at most MaxKeyLen bytes.
	Digest string
	Class  BayesClass
	// Tokens are the message's distinct tokens.
	Tokens []uint64
}

// BayesOutcome is what learning one item did.
type BayesOutcome int

// Outcomes of a learn.
const (
	// BayesLearned: a message not seen before was learned.
	BayesLearned BayesOutcome = iota + 1
	// BayesRelearned: the message had been learned as the other class; its
	// tokens moved to this one.
	BayesRelearned
	// BayesAlready: the message had been learned as this class; nothing
	// changed.
	BayesAlready
)

func (o BayesOutcome) String() string {
	switch o {
	case BayesLearned:
		return "learned"
	case BayesRelearned:
		return "relearned"
	case BayesAlready:
		return "already learned"
	}
	return "outcome?"
}

// BayesExpiry bounds the token database.
type BayesExpiry struct {
	// MaxTokens: when more tokens are kept, the least useful are removed
	// until 3/4 of MaxTokens remain (see BayesRetention).
	MaxTokens int
	// MaxDigests: when more digests of learned messages are kept, all but
	// the newest 3/4 of MaxDigests are forgotten (a message that old
	// learned again counts twice).
	MaxDigests int
}

// BayesRetentionBonus is how many learned messages each further message a
// token was learned from adds to its life (up to 8 of them).
const BayesRetentionBonus = 500

// BayesRetention orders tokens for expiry: those with the smallest value
// go first. It is the sequence number of the token's last learn, plus a
// bonus for tokens learned from more than one message, so that a hapax
// (seen once) goes before a common token of the same age.
func BayesRetention(c BayesCounts, last uint32) uint64 {
	n := uint64(c.Spam) + uint64(c.Ham)
	if n > 0 {
		n--
	}
	return uint64(last) + min(n, 8)*BayesRetentionBonus
}

// BayesCutoff returns the retention value below which tokens are removed
// so that at most target of the retentions remain: every retention < cutoff
// goes. It returns 0 (remove nothing) when len(ret) <= target. ret is
// reordered.
func BayesCutoff(ret []uint64, target int) uint64 {
	if target < 0 {
		target = 0
	}
	if len(ret) <= target {
		return 0
	}
	slices.Sort(ret)
	if target == 0 {
		return ret[len(ret)-1] + 1
	}
	// The len-target smallest go: the cutoff is the smallest value kept
	// (ties with it are kept too, so a few more than target may remain).
	return ret[len(ret)-target]
}

// ErrNoBayes is returned where a store does not keep Bayes tokens.
var ErrNoBayes = errors.New("store: no Bayes token database")

// Bayes is the token database of the Bayes classifier. Every method is
// safe for concurrent use; a learn is atomic, also between hosts sharing a
// Redis store.
type Bayes interface {
	// BayesStats returns the database's counts.
	BayesStats(ctx context.Context) (BayesStats, error)
	// BayesGet sets out[i] to the counts of tokens[i] (zero when absent).
	// len(out) must be len(tokens).
	BayesGet(ctx context.Context, tokens []uint64, out []BayesCounts) error
	// BayesLearn learns the items in order, each atomically, and returns
	// an outcome per item. An item learned as one class and then as the
	// other moves its tokens (relearn); learned again as the same class it
	// changes nothing.
	BayesLearn(ctx context.Context, items ...BayesItem) ([]BayesOutcome, error)
	// BayesExpire applies the bounds and returns how many tokens and
	// digests it removed.
	BayesExpire(ctx context.Context, e BayesExpiry) (tokens, digests int, err error)
}

// CheckBayesItem validates an item for BayesLearn.
func CheckBayesItem(it BayesItem) error {
	if err := CheckKey(it.Digest); err != nil {
		return err
	}
	if !it.Class.Valid() {
		return ErrInvalid
	}
	return nil
}
