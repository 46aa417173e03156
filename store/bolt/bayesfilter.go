package bolt

import (
	"sync"
	"sync/atomic"

	bbolt "go.etcd.io/bbolt"
)

// tokenFilter is a Bloom filter of the tokens in bayes_tokens, in
// memory: BayesGet skips the B-tree lookup of a token the filter says was
// never stored. A new message has many tokens never seen (word pairs
// especially), each otherwise a descent from the root of a tree of a
// million keys. Only this process writes the file (it is locked), so the
// filter sees every learn: BayesLearn sets a token's bits inside its
// transaction, before the token is visible. Expiry leaves the bits of
// removed tokens set: a false positive costs one lookup, never a wrong
// count. It is built by a scan of the bucket on the first BayesGet.
type tokenFilter struct {
	mu    sync.Mutex // held while building
	ready atomic.Bool
	bits  []atomic.Uint64
}

// filterBits is the filter's size: 2^24 bits (2 MB); with filterHashes
// bits a token, one in about 400 absent tokens passes at a million tokens
// stored, one in 6 at four million.
const (
	filterBits   = 1 << 24
	filterHashes = 4
)

// positions are the bits of token t (double hashing; tokens are hashes
// already).
func positions(t uint64) (a, b uint64) {
	return t & (filterBits - 1), (t>>24 | 1) & (filterBits - 1)
}

func (f *tokenFilter) add(t uint64) {
	if f.bits == nil {
		return
	}
	a, b := positions(t)
	for i := uint64(0); i < filterHashes; i++ {
		p := (a + i*b) & (filterBits - 1)
		f.bits[p/64].Or(1 << (p % 64))
	}
}

// has is false when t was never added.
func (f *tokenFilter) has(t uint64) bool {
	a, b := positions(t)
	for i := uint64(0); i < filterHashes; i++ {
		p := (a + i*b) & (filterBits - 1)
		if f.bits[p/64].Load()&(1<<(p%64)) == 0 {
			return false
		}
	}
	return true
}

// init allocates the bits; build fills them from the bucket. Until it
// has, the filter is not used.
func (f *tokenFilter) init() {
	f.mu.Lock()
	if f.bits == nil {
		f.bits = make([]atomic.Uint64, filterBits/64)
	}
	f.mu.Unlock()
}

func (f *tokenFilter) build(db *bbolt.DB) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.ready.Load() {
		return nil
	}
	err := db.View(func(tx *bbolt.Tx) error {
		b := tx.Bucket(bBayesTokens)
		if b == nil {
			return nil
		}
		c := b.Cursor()
		for k, _ := c.First(); k != nil; k, _ = c.Next() {
			if len(k) == 8 {
				f.add(uint64(k[0])<<56 | uint64(k[1])<<48 | uint64(k[2])<<40 | uint64(k[3])<<32 |
					uint64(k[4])<<24 | uint64(k[5])<<16 | uint64(k[6])<<8 | uint64(k[7]))
			}
		}
		return nil
	})
	if err == nil {
		f.ready.Store(true)
	}
	return err
}

// BayesMayHave is false when token t is not in the database (then its
// counts are zero without a lookup); true when it may be, or when the
// filter is not built yet. The classifier asks it before its cache.
func (s *Store) BayesMayHave(t uint64) bool {
	return !s.tokens.ready.Load() || s.tokens.has(t)
}
