package bolt

import (
	"context"
	"encoding/binary"
	"fmt"
	"slices"

	bbolt "go.etcd.io/bbolt"

	"github.com/hamlet-mail/hamlet/store"
)

// The Bayes token database (store.Bayes), in three buckets of the same
// file:
//
//	bayes_tokens   token (8 bytes, big endian) → spam u32, ham u32, last u32
//	bayes_learned  digest → class (1 byte), seq u32
//	bayes_meta     "spam" "ham" "seq" "tokens" → u64
//
// A learn is one write transaction (a batch of items shares it, and
// concurrent learners share bbolt's Batch), so a crash never leaves half a
// message learned.
var (
	bBayesTokens  = []byte("bayes_tokens")
	bBayesLearned = []byte("bayes_learned")
	bBayesMeta    = []byte("bayes_meta")
	mSpam         = []byte("spam")
	mHam          = []byte("ham")
	mSeq          = []byte("seq")
	mTokens       = []byte("tokens")
	mLearned      = []byte("learned")
)

var _ store.Bayes = (*Store)(nil)

func bayesBuckets(tx *bbolt.Tx) (tok, learned, meta *bbolt.Bucket, err error) {
	if tx.Writable() {
		for _, n := range [][]byte{bBayesTokens, bBayesLearned, bBayesMeta} {
			if _, err := tx.CreateBucketIfNotExists(n); err != nil {
				return nil, nil, nil, err
			}
		}
	}
	return tx.Bucket(bBayesTokens), tx.Bucket(bBayesLearned), tx.Bucket(bBayesMeta), nil
}

func tokenKey(k *[8]byte, t uint64) []byte {
	binary.BigEndian.PutUint64(k[:], t)
	return k[:]
}

func decodeToken(v []byte) (c store.BayesCounts, last uint32) {
	if len(v) != 12 {
		return c, 0
	}
	return store.BayesCounts{Spam: binary.BigEndian.Uint32(v), Ham: binary.BigEndian.Uint32(v[4:])}, binary.BigEndian.Uint32(v[8:])
}

func encodeToken(c store.BayesCounts, last uint32) []byte {
	v := make([]byte, 12)
	binary.BigEndian.PutUint32(v, c.Spam)
	binary.BigEndian.PutUint32(v[4:], c.Ham)
	binary.BigEndian.PutUint32(v[8:], last)
	return v
}

// BayesStats implements store.Bayes.
func (s *Store) BayesStats(ctx context.Context) (st store.BayesStats, err error) {
	err = s.view(ctx, func(tx *bbolt.Tx) error {
		_, _, meta, _ := bayesBuckets(tx)
		if meta == nil {
			return nil
		}
		st = store.BayesStats{Spam: int64(getU64(meta, mSpam)), Ham: int64(getU64(meta, mHam)),
			Seq: int64(getU64(meta, mSeq)), Tokens: int64(getU64(meta, mTokens)), Learned: int64(getU64(meta, mLearned))}
		return nil
	})
	return st, err
}

// BayesGet implements store.Bayes.
func (s *Store) BayesGet(ctx context.Context, tokens []uint64, out []store.BayesCounts) error {
	if len(out) != len(tokens) {
		return fmt.Errorf("%w: %d tokens, %d results", store.ErrInvalid, len(tokens), len(out))
	}
	if !s.tokens.ready.Load() {
		s.tokens.init()
		if err := s.tokens.build(s.db); err != nil {
			return wrap(err)
		}
	}
	return s.view(ctx, func(tx *bbolt.Tx) error {
		tok, _, _, _ := bayesBuckets(tx)
		clear(out)
		if tok == nil {
			return nil
		}
		var k [8]byte
		for i, t := range tokens {
			if s.tokens.has(t) {
				out[i], _ = decodeToken(tok.Get(tokenKey(&k, t)))
			}
		}
		return nil
	})
}

// tokenDelta is what one transaction does to a token.
type tokenDelta struct {
	spam, ham int64
	last      uint32
}

// BayesLearn implements store.Bayes. The items' effects on each token are
// summed first and the tokens written once each, in key order: bbolt
// inserts into an in-memory node by moving its tail, so scattered repeated
// writes to a growing node cost quadratic time.
func (s *Store) BayesLearn(ctx context.Context, items ...store.BayesItem) ([]store.BayesOutcome, error) {
	for _, it := range items {
		if err := store.CheckBayesItem(it); err != nil {
			return nil, err
		}
	}
	out := make([]store.BayesOutcome, len(items))
	err := s.update(ctx, func(tx *bbolt.Tx) error {
		tok, learned, meta, err := bayesBuckets(tx)
		if err != nil {
			return err
		}
		spam, ham, seq := getU64(meta, mSpam), getU64(meta, mHam), getU64(meta, mSeq)
		ntok, nlearned := getU64(meta, mTokens), getU64(meta, mLearned)
		delta := map[uint64]*tokenDelta{}
		digests := map[string]store.BayesClass{} // learned in this transaction
		for i, it := range items {
			prev, ok := digests[it.Digest]
			if !ok {
				if v := learned.Get([]byte(it.Digest)); len(v) == 5 {
					prev = store.BayesClass(v[0])
				}
			}
			if prev == it.Class {
				out[i] = store.BayesAlready
				continue
			}
			seq++
			relearn := prev.Valid()
			ds, dh := int64(1), int64(0)
			if relearn {
				dh = -1
			}
			if it.Class == store.BayesHam {
				ds, dh = dh, ds
			}
			for _, t := range it.Tokens {
				d := delta[t]
				if d == nil {
					d = &tokenDelta{}
					delta[t] = d
				}
				d.spam += ds
				d.ham += dh
				d.last = uint32(seq)
			}
			spam, ham = uint64(int64(spam)+max(ds, -int64(spam))), uint64(int64(ham)+max(dh, -int64(ham)))
			out[i] = store.BayesLearned
			if relearn {
				out[i] = store.BayesRelearned
			} else {
				nlearned++
			}
			digests[it.Digest] = it.Class
			v := make([]byte, 5)
			v[0] = byte(it.Class)
			binary.BigEndian.PutUint32(v[1:], uint32(seq))
			// bbolt keeps key and value slices until the commit;
			// []byte(string) is a fresh copy.
			if err := learned.Put([]byte(it.Digest), v); err != nil {
				return err
			}
		}
		keys := make([]uint64, 0, len(delta))
		for t := range delta {
			keys = append(keys, t)
		}
		slices.Sort(keys)
		slab := make([]byte, 8*len(keys))
		s.tokens.init()
		for _, t := range keys {
			s.tokens.add(t) // before the token is visible to BayesGet
		}
		for j, t := range keys {
			key := slab[8*j : 8*j+8 : 8*j+8]
			binary.BigEndian.PutUint64(key, t)
			old := tok.Get(key)
			if old == nil {
				ntok++
			}
			c, _ := decodeToken(old)
			d := delta[t]
			c.Spam = uint32(max(0, int64(c.Spam)+d.spam))
			c.Ham = uint32(max(0, int64(c.Ham)+d.ham))
			if err := tok.Put(key, encodeToken(c, d.last)); err != nil {
				return err
			}
		}
		for _, kv := range []struct {
			k []byte
			v uint64
		}{{mSpam, spam}, {mHam, ham}, {mSeq, seq}, {mTokens, ntok}, {mLearned, nlearned}} {
			if err := putU64(meta, kv.k, kv.v); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// BayesExpire implements store.Bayes: one read pass finds the cutoff, one
// write transaction removes what is below it.
func (s *Store) BayesExpire(ctx context.Context, e store.BayesExpiry) (ntok, ndig int, err error) {
	var ret []uint64
	var seq uint64
	var nlearned int
	err = s.view(ctx, func(tx *bbolt.Tx) error {
		tok, _, meta, _ := bayesBuckets(tx)
		if tok == nil {
			return nil
		}
		seq = getU64(meta, mSeq)
		nlearned = int(getU64(meta, mLearned))
		if n := int(getU64(meta, mTokens)); e.MaxTokens <= 0 || n <= e.MaxTokens {
			return nil
		}
		ret = make([]uint64, 0, getU64(meta, mTokens))
		return tok.ForEach(func(_, v []byte) error {
			ret = append(ret, store.BayesRetention(decodeToken(v)))
			return nil
		})
	})
	if err != nil {
		return 0, 0, err
	}
	cutoff := store.BayesCutoff(ret, e.MaxTokens*3/4)
	var digCut uint64
	if e.MaxDigests > 0 && nlearned > e.MaxDigests && seq > uint64(e.MaxDigests) {
		digCut = seq - uint64(e.MaxDigests*3/4) + 1
	}
	if cutoff == 0 && digCut == 0 {
		return 0, 0, nil
	}
	err = s.update(ctx, func(tx *bbolt.Tx) error {
		ntok, ndig = 0, 0
		tok, learned, meta, err := bayesBuckets(tx)
		if err != nil {
			return err
		}
		if cutoff > 0 {
			c := tok.Cursor()
			for k, v := c.First(); k != nil; {
				if store.BayesRetention(decodeToken(v)) < cutoff {
					if err := c.Delete(); err != nil {
						return err
					}
					ntok++
					// After a Delete the cursor stands on the next item.
					k, v = c.Seek(k)
					continue
				}
				k, v = c.Next()
			}
		}
		if digCut > 0 {
			c := learned.Cursor()
			for k, v := c.First(); k != nil; {
				if len(v) != 5 || uint64(binary.BigEndian.Uint32(v[1:])) < digCut {
					if err := c.Delete(); err != nil {
						return err
					}
					ndig++
					k, v = c.Seek(k)
					continue
				}
				k, v = c.Next()
			}
		}
		if err := putU64(meta, mTokens, sub(getU64(meta, mTokens), ntok)); err != nil {
			return err
		}
		return putU64(meta, mLearned, sub(getU64(meta, mLearned), ndig))
	})
	return ntok, ndig, err
}

func sub(a uint64, b int) uint64 { return a - min(a, uint64(b)) }
