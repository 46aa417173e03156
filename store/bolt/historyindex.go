package bolt

import (
	"bytes"
	"encoding/binary"
	"slices"
	"time"

	bbolt "go.etcd.io/bbolt"

	"github.com/hamlet-mail/hamlet/store"
)

// The history index (see store.HistoryTerms): bucket bHistIdx holds one
// sub-bucket per index block, named by the block's start (8 bytes of
// big-endian Unix milliseconds), whose keys are the terms of the
// block's records. Meta key mIdxFrom is the first block the index
// covers completely (records written before the index existed are in
// older blocks, which queries read).

var (
	bHistIdx = []byte("history_idx")
	mIdxFrom = []byte("history_idx_from")
)

func blockName(t time.Time) []byte {
	k := make([]byte, 8)
	binary.BigEndian.PutUint64(k, uint64(store.Millis(store.IndexBlockStart(t))))
	return k
}

// initIndex creates the index on a database that has none: it covers
// every block when the history is empty, else the blocks after the
// newest record's.
func initIndex(tx *bbolt.Tx) error {
	meta := tx.Bucket(bMeta)
	if meta.Get(mIdxFrom) != nil {
		return nil
	}
	from := uint64(0)
	if k, _ := tx.Bucket(bHistory).Cursor().Last(); k != nil {
		from = uint64(store.Millis(store.IndexBlockStart(keyTime(k)).Add(store.IndexBlock)))
	}
	if _, err := tx.CreateBucketIfNotExists(bHistIdx); err != nil {
		return err
	}
	return putU64(meta, mIdxFrom, from)
}

// indexer collects the terms of a transaction's records per block, and
// writes each new one once, in key order (a term most records share,
// an action or a symbol, costs one lookup per batch, not one per record).
type indexer struct {
	blocks map[string]map[string]struct{}
	// The last record's block (a batch's records are mostly in one).
	lastStart time.Time
	last      map[string]struct{}
	buf       []byte // terms' scratch
}

func newIndexer() *indexer {
	return &indexer{blocks: map[string]map[string]struct{}{}}
}

func (ix *indexer) add(r *store.HistoryRecord) {
	start := store.IndexBlockStart(r.Time)
	m := ix.last
	if m == nil || !start.Equal(ix.lastStart) {
		name := string(blockName(r.Time))
		m = ix.blocks[name]
		if m == nil {
			m = map[string]struct{}{}
			ix.blocks[name] = m
		}
		ix.lastStart, ix.last = start, m
	}
	ix.buf = store.AppendHistoryTerms(ix.buf, r, func(t []byte) {
		if _, ok := m[string(t)]; !ok {
			m[string(t)] = struct{}{}
		}
	})
}

// flush writes the terms collected (it may run again, for a retried
// transaction: it only reads the sets).
func (ix *indexer) flush(tx *bbolt.Tx) error {
	idx := tx.Bucket(bHistIdx)
	var scratch []byte
	for name, terms := range ix.blocks {
		b, err := idx.CreateBucketIfNotExists([]byte(name))
		if err != nil {
			return err
		}
		keys := make([]string, 0, len(terms))
		for t := range terms {
			keys = append(keys, t)
		}
		slices.Sort(keys)
		// The terms already there are found with one cursor (b.Get
		// makes one per call); a Put invalidates it, so it is
		// re-made after one.
		c := b.Cursor()
		for _, t := range keys {
			key := append(scratch[:0], t...)
			scratch = key
			if k, _ := c.Seek(key); k != nil && string(k) == t {
				continue
			}
			if err := b.Put([]byte(t), []byte{}); err != nil {
				return err
			}
			c = b.Cursor()
		}
	}
	return nil
}

// trimIndex drops the blocks older than the oldest record's (all of them
// when the history is empty).
func trimIndex(tx *bbolt.Tx) error {
	var keep []byte
	if k, _ := tx.Bucket(bHistory).Cursor().First(); k != nil {
		keep = blockName(keyTime(k))
	}
	idx := tx.Bucket(bHistIdx)
	c := idx.Cursor()
	var old [][]byte
	for k, v := c.First(); k != nil && (keep == nil || bytes.Compare(k, keep) < 0); k, v = c.Next() {
		if v == nil {
			old = append(old, bytes.Clone(k))
		}
	}
	for _, k := range old {
		if err := idx.DeleteBucket(k); err != nil {
			return err
		}
	}
	return nil
}

// blockFilter tells a history scan which blocks may hold records with
// all of terms.
type blockFilter struct {
	idx   *bbolt.Bucket
	from  uint64
	terms [][]byte
	name  []byte // the block last asked about
	ok    bool
}

func newBlockFilter(tx *bbolt.Tx, terms []string) *blockFilter {
	idx := tx.Bucket(bHistIdx)
	if len(terms) == 0 || idx == nil || tx.Bucket(bMeta).Get(mIdxFrom) == nil {
		return nil
	}
	f := &blockFilter{idx: idx, from: getU64(tx.Bucket(bMeta), mIdxFrom)}
	for _, t := range terms {
		f.terms = append(f.terms, []byte(t))
	}
	return f
}

// skip reports whether the block of history key k has no record with
// all the terms; it returns the block's first key to seek before.
func (f *blockFilter) skip(k []byte) (bool, []byte) {
	if f == nil {
		return false, nil
	}
	name := blockName(keyTime(k))
	if !bytes.Equal(name, f.name) {
		f.name, f.ok = name, true
		if binary.BigEndian.Uint64(name) >= f.from {
			b := f.idx.Bucket(name)
			for _, t := range f.terms {
				if b == nil || b.Get(t) == nil {
					f.ok = false
					break
				}
			}
		}
	}
	if f.ok {
		return false, nil
	}
	return true, append(bytes.Clone(name), make([]byte, 8)...)
}
