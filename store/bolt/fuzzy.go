package bolt

import (
	"bytes"
	"context"
	"encoding/binary"
	"slices"
	"time"

	bbolt "go.etcd.io/bbolt"

	"github.com/hamlet-mail/hamlet/store"
)

// The fuzzy hashes (store.Fuzzy), in three buckets of the same file:
//
//	fuzzy_hashes    digest (32 hex chars) → flag u32, value i64, added i64,
//	                updated i64 (Unix seconds), then 0 or 32 shingles u64
//	fuzzy_shingles  index (1 byte) + shingle (u64 big endian) → digest
//	fuzzy_meta      "hashes" → u64
var (
	bFuzzyHashes   = []byte("fuzzy_hashes")
	bFuzzyShingles = []byte("fuzzy_shingles")
	bFuzzyMeta     = []byte("fuzzy_meta")
	mHashes        = []byte("hashes")
)

var _ store.Fuzzy = (*Store)(nil)

const fuzzyHead = 4 + 8 + 8 + 8

type fuzzyRec struct {
	store.FuzzyEntry
	shingles []uint64
}

func decodeFuzzy(k, v []byte) (r fuzzyRec, ok bool) {
	if len(v) < fuzzyHead || (len(v)-fuzzyHead)%8 != 0 {
		return r, false
	}
	r.Digest = string(k)
	r.Flag = binary.BigEndian.Uint32(v)
	r.Value = int64(binary.BigEndian.Uint64(v[4:]))
	r.Added = time.Unix(int64(binary.BigEndian.Uint64(v[12:])), 0)
	r.Updated = time.Unix(int64(binary.BigEndian.Uint64(v[20:])), 0)
	for i := fuzzyHead; i < len(v); i += 8 {
		r.shingles = append(r.shingles, binary.BigEndian.Uint64(v[i:]))
	}
	return r, true
}

func encodeFuzzy(r fuzzyRec) []byte {
	v := make([]byte, fuzzyHead+8*len(r.shingles))
	binary.BigEndian.PutUint32(v, r.Flag)
	binary.BigEndian.PutUint64(v[4:], uint64(r.Value))
	binary.BigEndian.PutUint64(v[12:], uint64(r.Added.Unix()))
	binary.BigEndian.PutUint64(v[20:], uint64(r.Updated.Unix()))
	for i, s := range r.shingles {
		binary.BigEndian.PutUint64(v[fuzzyHead+8*i:], s)
	}
	return v
}

func shingleKey(i int, s uint64) []byte {
	k := make([]byte, 9)
	k[0] = byte(i)
	binary.BigEndian.PutUint64(k[1:], s)
	return k
}

func fuzzyBuckets(tx *bbolt.Tx) (hashes, shingles, meta *bbolt.Bucket, err error) {
	if tx.Writable() {
		for _, n := range [][]byte{bFuzzyHashes, bFuzzyShingles, bFuzzyMeta} {
			if _, err := tx.CreateBucketIfNotExists(n); err != nil {
				return nil, nil, nil, err
			}
		}
	}
	return tx.Bucket(bFuzzyHashes), tx.Bucket(bFuzzyShingles), tx.Bucket(bFuzzyMeta), nil
}

// FuzzyAdd implements store.Fuzzy.
func (s *Store) FuzzyAdd(ctx context.Context, now time.Time, hs ...store.FuzzyHash) error {
	for _, h := range hs {
		if err := store.CheckFuzzyHash(h); err != nil {
			return err
		}
	}
	now = now.Truncate(time.Second)
	return s.update(ctx, func(tx *bbolt.Tx) error {
		hashes, shingles, meta, err := fuzzyBuckets(tx)
		if err != nil {
			return err
		}
		n := getU64(meta, mHashes)
		for _, h := range hs {
			key := []byte(h.Digest)
			r, ok := decodeFuzzy(key, hashes.Get(key))
			switch {
			case !ok:
				n++
				r = fuzzyRec{FuzzyEntry: store.FuzzyEntry{Digest: h.Digest, Flag: h.Flag, Value: h.Value, Added: now}}
			case r.Flag == h.Flag:
				r.Value += h.Value
			default:
				r.Flag, r.Value = h.Flag, h.Value
			}
			r.Updated = now
			if len(h.Shingles) > 0 {
				r.shingles = h.Shingles
			}
			if err := hashes.Put(key, encodeFuzzy(r)); err != nil {
				return err
			}
			for i, sh := range h.Shingles {
				if err := shingles.Put(shingleKey(i, sh), []byte(h.Digest)); err != nil {
					return err
				}
			}
		}
		return putU64(meta, mHashes, n)
	})
}

// deleteFuzzy removes one digest and the shingles still pointing to it.
func deleteFuzzy(hashes, shingles *bbolt.Bucket, key []byte) (bool, error) {
	v := hashes.Get(key)
	if v == nil {
		return false, nil
	}
	r, ok := decodeFuzzy(key, v)
	if ok {
		for i, sh := range r.shingles {
			k := shingleKey(i, sh)
			if bytes.Equal(shingles.Get(k), key) {
				if err := shingles.Delete(k); err != nil {
					return false, err
				}
			}
		}
	}
	return true, hashes.Delete(key)
}

// FuzzyDelete implements store.Fuzzy.
func (s *Store) FuzzyDelete(ctx context.Context, digests ...string) (int, error) {
	for _, d := range digests {
		if err := store.CheckFuzzyDigest(d); err != nil {
			return 0, err
		}
	}
	var n int
	err := s.update(ctx, func(tx *bbolt.Tx) error {
		n = 0
		hashes, shingles, meta, err := fuzzyBuckets(tx)
		if err != nil {
			return err
		}
		for _, d := range digests {
			ok, err := deleteFuzzy(hashes, shingles, []byte(d))
			if err != nil {
				return err
			}
			if ok {
				n++
			}
		}
		return putU64(meta, mHashes, sub(getU64(meta, mHashes), n))
	})
	return n, err
}

// FuzzyCheck implements store.Fuzzy.
func (s *Store) FuzzyCheck(ctx context.Context, notBefore time.Time, qs []store.FuzzyQuery) ([]store.FuzzyMatch, error) {
	out := make([]store.FuzzyMatch, len(qs))
	err := s.view(ctx, func(tx *bbolt.Tx) error {
		clear(out)
		hashes, shingles, _, _ := fuzzyBuckets(tx)
		if hashes == nil {
			return nil
		}
		get := func(d string) (fuzzyRec, bool) {
			r, ok := decodeFuzzy([]byte(d), hashes.Get([]byte(d)))
			return r, ok && !r.Updated.Before(notBefore)
		}
		owners := make([]string, store.FuzzyShingles)
		for i, q := range qs {
			if r, ok := get(q.Digest); ok {
				out[i] = store.FuzzyMatch{Found: true, FuzzyEntry: r.FuzzyEntry, Shingles: store.FuzzyShingles}
				continue
			}
			if len(q.Shingles) != store.FuzzyShingles {
				continue
			}
			for j, sh := range q.Shingles {
				owners[j] = string(shingles.Get(shingleKey(j, sh)))
			}
			for _, d := range store.FuzzyCandidates(owners, store.FuzzyMaxCandidates) {
				r, ok := get(d)
				if n := store.FuzzySame(q.Shingles, r.shingles); ok && n > store.FuzzyShingles/2 && n > out[i].Shingles {
					out[i] = store.FuzzyMatch{Found: true, FuzzyEntry: r.FuzzyEntry, Shingles: n}
				}
			}
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// FuzzyStats implements store.Fuzzy.
func (s *Store) FuzzyStats(ctx context.Context) (st store.FuzzyStats, err error) {
	err = s.view(ctx, func(tx *bbolt.Tx) error {
		if _, _, meta, _ := fuzzyBuckets(tx); meta != nil {
			st.Hashes = int64(getU64(meta, mHashes))
		}
		return nil
	})
	return st, err
}

// FuzzyExpire implements store.Fuzzy: a read pass finds the cutoff, a
// write transaction removes what is below it.
func (s *Store) FuzzyExpire(ctx context.Context, notBefore time.Time, maxHashes int) (int, error) {
	var updated []int64
	err := s.view(ctx, func(tx *bbolt.Tx) error {
		hashes, _, _, _ := fuzzyBuckets(tx)
		if hashes == nil {
			return nil
		}
		return hashes.ForEach(func(k, v []byte) error {
			if r, ok := decodeFuzzy(k, v); ok {
				updated = append(updated, r.Updated.Unix())
			}
			return nil
		})
	})
	if err != nil || len(updated) == 0 {
		return 0, err
	}
	cut := store.FuzzyCutoff(updated, notBefore.Unix(), maxHashes)
	var n int
	err = s.update(ctx, func(tx *bbolt.Tx) error {
		n = 0
		hashes, shingles, meta, err := fuzzyBuckets(tx)
		if err != nil {
			return err
		}
		var gone [][]byte
		err = hashes.ForEach(func(k, v []byte) error {
			if r, ok := decodeFuzzy(k, v); !ok || r.Updated.Unix() < cut {
				gone = append(gone, slices.Clone(k))
			}
			return nil
		})
		if err != nil {
			return err
		}
		for _, k := range gone {
			if _, err := deleteFuzzy(hashes, shingles, k); err != nil {
				return err
			}
			n++
		}
		return putU64(meta, mHashes, sub(getU64(meta, mHashes), n))
	})
	return n, err
}
