package store

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"time"
)

// The near-duplicate hashes of package fuzzy (rspamd's fuzzy storage,
// local only) live beside the rest of the state in an interface of their
// own, implemented by store/bolt and store/redis with one schema:
//
//   - hashes: digest (FuzzyDigestLen hex characters) → flag, value (the
//     summed weights of its adds), first and last add (Unix seconds), and
//     the text's shingles when it has them (so that a delete removes them);
//   - shingles: (index 0…FuzzyShingles-1, min-hash value) → the digest of
//     the last text added with that shingle.
//
// A text matches a stored one when more than half of their shingles are
// equal (rspamd's rule); the shingles index finds the candidates. An
// attachment or image matches only by its digest.

// FuzzyShingles is the number of min-hash shingles of a text.
const FuzzyShingles = 32

// FuzzyDigestLen is the length of a digest: 128 bits in hex.
const FuzzyDigestLen = 32

// FuzzyHash is one hash to add.
type FuzzyHash struct {
	// Digest identifies a normalised text, attachment or image.
	Digest string
	// Shingles are the text's FuzzyShingles min-hashes; nil for an
	// attachment or image (matched by digest alone).
	Shingles []uint64
	// Flag is rspamd's list number (1 denied, 2 probable, 3 white).
	Flag uint32
	// Value is the weight added (rspamc fuzzy_add -w).
	Value int64
}

// FuzzyEntry is a stored hash.
type FuzzyEntry struct {
	Digest string
	Flag   uint32
	// Value sums the weights of the adds with this flag (an add with
	// another flag replaces flag and value).
	Value int64
	// Added and Updated are the first and last add.
	Added, Updated time.Time
}

// FuzzyQuery is one hash to look up.
type FuzzyQuery struct {
	Digest   string
	Shingles []uint64
}

// FuzzyMatch is the answer to one query.
type FuzzyMatch struct {
	// Found is false when nothing matched.
	Found bool
	FuzzyEntry
	// Shingles counts the shingles the query shares with the entry:
	// FuzzyShingles for a match of the digest itself.
	Shingles int
}

// FuzzyStats describes the hashes kept.
type FuzzyStats struct {
	Hashes int64
}

// ErrNoFuzzy is returned where a store keeps no fuzzy hashes.
var ErrNoFuzzy = errors.New("store: no fuzzy hashes")

// Fuzzy is the near-duplicate hash database. Every method is safe for
// concurrent use; an add or delete is atomic, also between hosts sharing a
// Redis store.
type Fuzzy interface {
	// FuzzyAdd adds the hashes at now: a new digest is stored with its
	// flag and value; an existing one with the same flag adds value to
	// its value; with another flag it takes the new flag and value. The
	// shingles then point to the digest.
	FuzzyAdd(ctx context.Context, now time.Time, hs ...FuzzyHash) error
	// FuzzyDelete removes the digests and the shingles that point to
	// them, and returns how many digests were stored.
	FuzzyDelete(ctx context.Context, digests ...string) (int, error)
	// FuzzyCheck answers each query: the entry of its digest when stored,
	// else, among the texts its shingles point to, the one that shares the
	// most shingles with it when that is more than FuzzyShingles/2 of
	// them; entries updated before notBefore count as absent (expired).
	FuzzyCheck(ctx context.Context, notBefore time.Time, qs []FuzzyQuery) ([]FuzzyMatch, error)
	// FuzzyStats returns the number of hashes.
	FuzzyStats(ctx context.Context) (FuzzyStats, error)
	// FuzzyExpire removes the hashes last updated before notBefore, then,
	// while more than maxHashes remain (0: no bound), the least recently
	// updated down to 3/4 of maxHashes; it returns how many it removed.
	FuzzyExpire(ctx context.Context, notBefore time.Time, maxHashes int) (int, error)
}

// CheckFuzzyDigest validates a digest: FuzzyDigestLen lower-case hex
// characters.
func CheckFuzzyDigest(d string) error {
	if len(d) != FuzzyDigestLen {
		return fmt.Errorf("%w: fuzzy digest %.40q is not %d hex characters", ErrInvalid, d, FuzzyDigestLen)
	}
	for i := 0; i < len(d); i++ {
		c := d[i]
		if (c < '0' || c > '9') && (c < 'a' || c > 'f') {
			return fmt.Errorf("%w: fuzzy digest %.40q is not lower-case hex", ErrInvalid, d)
		}
	}
	return nil
}

// CheckFuzzyHash validates a hash for FuzzyAdd.
func CheckFuzzyHash(h FuzzyHash) error {
	if err := CheckFuzzyDigest(h.Digest); err != nil {
		return err
	}
	if len(h.Shingles) != 0 && len(h.Shingles) != FuzzyShingles {
		return fmt.Errorf("%w: %d shingles, want 0 or %d", ErrInvalid, len(h.Shingles), FuzzyShingles)
	}
	if h.Flag == 0 {
		return fmt.Errorf("%w: fuzzy flag 0", ErrInvalid)
	}
	return nil
}

// FuzzyCandidates returns the digests that shingles point to, most
// pointed to first, at most k: owners[i] is the digest shingle i points
// to ("" none). The index only finds candidates; a later text sharing
// shingles with an earlier one takes them over, so the match is decided by
// comparing the candidates' own shingles (FuzzySame).
func FuzzyCandidates(owners []string, k int) []string {
	type cand struct {
		d     string
		n, at int
	}
	var cs []cand
	for i, o := range owners {
		if o == "" {
			continue
		}
		j := slices.IndexFunc(cs, func(c cand) bool { return c.d == o })
		if j < 0 {
			cs = append(cs, cand{o, 0, i})
			j = len(cs) - 1
		}
		cs[j].n++
	}
	slices.SortStableFunc(cs, func(a, b cand) int { return b.n - a.n })
	out := make([]string, 0, min(k, len(cs)))
	for _, c := range cs[:min(k, len(cs))] {
		out = append(out, c.d)
	}
	return out
}

// FuzzyMaxCandidates bounds the candidates a query compares.
const FuzzyMaxCandidates = 4

// FuzzySame counts the indexes where two texts' shingles are equal; a
// match needs more than FuzzyShingles/2 (rspamd's rule).
func FuzzySame(a, b []uint64) int {
	if len(a) != FuzzyShingles || len(b) != FuzzyShingles {
		return 0
	}
	n := 0
	for i := range a {
		if a[i] == b[i] {
			n++
		}
	}
	return n
}

// FuzzyCutoff returns the Unix time below which hashes are expired: those
// updated before notBefore, and, when more than maxHashes would remain
// (maxHashes > 0), the least recently updated down to 3/4 of maxHashes
// (ties with the last one kept are kept). updated is reordered.
func FuzzyCutoff(updated []int64, notBefore int64, maxHashes int) int64 {
	cut := notBefore
	if maxHashes <= 0 {
		return cut
	}
	keep := updated[:0]
	for _, u := range updated {
		if u >= cut {
			keep = append(keep, u)
		}
	}
	if len(keep) <= maxHashes {
		return cut
	}
	slices.Sort(keep)
	target := maxHashes * 3 / 4
	if target == 0 {
		return keep[len(keep)-1] + 1
	}
	return max(cut, keep[len(keep)-target])
}
