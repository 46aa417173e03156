package bolt

import (
	"bytes"
	"context"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"sync"
	"time"

	bbolt "go.etcd.io/bbolt"

	"github.com/hamlet-mail/hamlet/store"
)

// History keys are 8 bytes of big-endian Unix milliseconds followed by 8
// bytes of the bucket's sequence, so a cursor walks them in time order.
func historyKey(t time.Time, seq uint64) []byte {
	return appendHistoryKey(make([]byte, 0, 16), t, seq)
}

func appendHistoryKey(b []byte, t time.Time, seq uint64) []byte {
	b = binary.BigEndian.AppendUint64(b, uint64(store.Millis(t)))
	return binary.BigEndian.AppendUint64(b, seq)
}

func keyTime(k []byte) time.Time {
	if len(k) < 8 {
		return time.Time{}
	}
	return store.FromMillis(int64(binary.BigEndian.Uint64(k)))
}

// maxTrimPerWrite bounds the deletions one HistoryAdd does, so a write
// stays short; Sweep removes the rest.
const maxTrimPerWrite = 64

// HistoryAdd implements store.Store. The records are encoded and their
// index terms collected before the transaction, so that the store's one
// writer (greylisting waits for it) is held only for the puts and the
// commit. A record without an ID gets its key's: its JSON is written
// with a placeholder of the ID's length, filled in the transaction.
func (s *Store) HistoryAdd(ctx context.Context, rs ...store.HistoryRecord) error {
	if len(rs) == 0 {
		return nil
	}
	bufs := historyBufs.Get().(*historyBuf)
	defer historyBufs.Put(bufs)
	// One buffer holds the batch's values: bbolt keeps each value until
	// the commit. The buffers are reused by the next batch (after this
	// one's commit, bbolt holds none of them).
	buf := bufs.values[:0]
	ends := bufs.ends[:0]
	ix := newIndexer()
	latest := time.Time{}
	for i, r := range rs {
		r, err := r.Normalize()
		if err != nil {
			return err // before the transaction: a batch is written whole or not at all
		}
		if r.Time.After(latest) {
			latest = r.Time
		}
		keyID := r.ID == ""
		if keyID {
			r.ID = idPlaceholder
		}
		if buf, err = r.AppendJSON(buf); err != nil {
			return err
		}
		if i == 0 {
			// Room for the batch, from the first record's size.
			buf = slices.Grow(buf, len(buf)*len(rs)*5/4)
		}
		flags := uint64(0)
		if keyID {
			flags = 1
		}
		ends = append(ends, uint64(len(buf))<<1|flags)
		ix.add(&r)
	}
	bufs.values, bufs.ends = buf[:0], ends[:0]
	keys := slices.Grow(bufs.keys[:0], 16*len(rs))
	bufs.keys = keys
	return s.update(ctx, func(tx *bbolt.Tx) error {
		b := tx.Bucket(bHistory)
		// Keys only grow (time, then sequence), so a split leaf never
		// gets another record: fill the pages (bbolt's default half
		// fills them, for random inserts), which cuts the pages a batch
		// writes, and the file, by a third.
		b.FillPercent = 1
		keys := keys[:0]
		start := 0
		for i := range rs {
			end, ownID := int(ends[i]>>1), ends[i]&1 == 0
			v := buf[start:end:end]
			start = end
			seq, err := b.NextSequence()
			if err != nil {
				return err
			}
			// The batch's keys share one array (bbolt keeps them
			// until the commit).
			k := appendHistoryKey(keys[len(keys):], store.FromMillis(store.Millis(rs[i].Time)), seq)
			keys = keys[:len(keys)+len(k)]
			k = k[:len(k):len(k)]
			if !ownID {
				hex.Encode(v[len(idPrefix):len(idPrefix)+len(idPlaceholder)], k)
			}
			// The key is new (the bucket's next sequence): the count
			// grows by the batch once, below.
			if err := b.Put(k, v); err != nil {
				return err
			}
		}
		meta := tx.Bucket(bMeta)
		if err := putU64(meta, countKey(bHistory), getU64(meta, countKey(bHistory))+uint64(len(rs))); err != nil {
			return err
		}
		if err := ix.flush(tx); err != nil {
			return err
		}
		_, err := s.trimHistory(tx, store.FromMillis(store.Millis(latest)), maxTrimPerWrite+len(rs))
		return err
	})
}

// idPrefix is how a record's JSON starts (store.HistoryRecord.AppendJSON),
// idPlaceholder an ID of the length of a key's in hexadecimal.
const (
	idPrefix      = `{"id":"`
	idPlaceholder = "00000000000000000000000000000000"
)

// historyBuf is a HistoryAdd's values and keys, for the next one.
type historyBuf struct {
	values, keys []byte
	ends         []uint64 // each value's end in values << 1 | 1 if its ID is the key's
}

var historyBufs = sync.Pool{New: func() any { return new(historyBuf) }}

// trimHistory deletes the oldest records while there are too many or they
// are too old, at most max of them.
func (s *Store) trimHistory(tx *bbolt.Tx, now time.Time, max int) (int, error) {
	meta := tx.Bucket(bMeta)
	cutoff := now.Add(-s.opts.HistoryMaxAge)
	b := tx.Bucket(bHistory)
	c := b.Cursor()
	count := getU64(meta, countKey(bHistory))
	// The keys are found first, with one cursor walk, and deleted after:
	// a deletion empties leaves that stay in the tree until the commit,
	// and a cursor's First walks over every one of them (a First per
	// deletion made the trim quadratic in its length).
	var keys [][]byte
	var buf []byte
	for k, _ := c.First(); k != nil && len(keys) < max; k, _ = c.Next() {
		if left := count - min(count, uint64(len(keys))); left <= uint64(s.opts.HistoryMaxCount) && !keyTime(k).Before(cutoff) {
			break
		}
		buf = append(buf, k...)
		keys = append(keys, buf[len(buf)-len(k):len(buf):len(buf)])
	}
	n := len(keys)
	if n == 0 {
		return 0, nil
	}
	for _, k := range keys {
		if err := b.Delete(k); err != nil {
			return 0, err
		}
	}
	count -= min(count, uint64(n))
	if err := putU64(meta, countKey(bHistory), count); err != nil {
		return n, err
	}
	return n, trimIndex(tx)
}

// HistoryList implements store.Store.
func (s *Store) HistoryList(ctx context.Context, q store.HistoryQuery) ([]store.HistoryRecord, error) {
	limit := store.DefaultLimit(q.Limit, 100)
	var out []store.HistoryRecord
	err := s.view(ctx, func(tx *bbolt.Tx) error {
		c := tx.Bucket(bHistory).Cursor()
		var k, v []byte
		if q.Before.IsZero() {
			k, v = c.Last()
		} else {
			// Seek to the first key at or after Before, then step back.
			k, v = c.Seek(historyKey(q.Before, 0))
			if k == nil {
				k, v = c.Last()
			} else {
				k, v = c.Prev()
			}
		}
		var after []byte
		if !q.After.IsZero() {
			after = historyKey(q.After, 0)
		}
		var fold []byte
		scanned := 0
		blocks := newBlockFilter(tx, q.Terms)
		for k != nil && len(out) < limit {
			if after != nil && bytes.Compare(k, after) < 0 {
				break
			}
			if skip, first := blocks.skip(k); skip {
				// No record of this block has every term: go on with
				// the newest record of an older block.
				if k, _ = c.Seek(first); k == nil {
					break
				}
				k, v = c.Prev()
				continue
			}
			if q.MaxScan > 0 && scanned >= q.MaxScan {
				break
			}
			scanned++
			if r, ok := q.Decode(v, &fold); ok {
				out = append(out, r)
			}
			k, v = c.Prev()
		}
		return nil
	})
	return out, err
}

// ---- statistics ----

func statsKey(t time.Time) []byte {
	k := make([]byte, 8)
	binary.BigEndian.PutUint64(k, uint64(t.Unix()))
	return k
}

// StatsAdd implements store.Store.
func (s *Store) StatsAdd(ctx context.Context, t time.Time, action string, n int64) error {
	if err := store.CheckAction(action); err != nil {
		return err
	}
	if t.IsZero() {
		return fmt.Errorf("%w: stats time is zero", store.ErrInvalid)
	}
	return s.update(ctx, func(tx *bbolt.Tx) error {
		for _, rb := range []struct {
			res    store.Resolution
			bucket []byte
		}{{store.Hourly, bStatsH}, {store.Daily, bStatsD}} {
			b := tx.Bucket(rb.bucket)
			k := statsKey(rb.res.Truncate(t))
			counts := map[string]int64{}
			if v := b.Get(k); v != nil {
				_ = json.Unmarshal(v, &counts) // a damaged bucket restarts at zero
			}
			counts[action] += n
			v, err := json.Marshal(counts)
			if err != nil {
				return err
			}
			if err := b.Put(k, v); err != nil {
				return err
			}
		}
		return nil
	})
}

// Stats implements store.Store.
func (s *Store) Stats(ctx context.Context, res store.Resolution, from, to time.Time) ([]store.StatsBucket, error) {
	bucket := bStatsH
	if res == store.Daily {
		bucket = bStatsD
	}
	var out []store.StatsBucket
	err := s.view(ctx, func(tx *bbolt.Tx) error {
		c := tx.Bucket(bucket).Cursor()
		end := statsKey(to)
		for k, v := c.Seek(statsKey(res.Truncate(from))); k != nil && bytes.Compare(k, end) < 0; k, v = c.Next() {
			start := time.Unix(int64(binary.BigEndian.Uint64(k)), 0).UTC()
			if start.Before(from) {
				continue
			}
			var counts map[string]int64
			if json.Unmarshal(v, &counts) != nil || len(counts) == 0 {
				continue
			}
			out = append(out, store.StatsBucket{Start: start, Counts: counts})
		}
		return nil
	})
	return out, err
}

// ---- sweeping ----

// sweepChunk bounds the keys one sweep transaction deletes, so that the
// single writer is never held for long.
const sweepChunk = 5000

// Sweep implements store.Store: it removes expired greylist entries,
// allowlist entries and counters, history beyond its bounds and
// statistics beyond their retention.
func (s *Store) Sweep(ctx context.Context, now time.Time) (int, error) {
	total := 0
	s.flushReplay()
	expired := map[string]func(v []byte) bool{
		string(bGreylist): func(v []byte) bool {
			e, err := decodeGreylist("", v)
			return err != nil || e.Expired(now)
		},
		string(bAllow): func(v []byte) bool {
			var e store.AllowEntry
			return json.Unmarshal(v, &e) != nil || e.Expired(now)
		},
		string(bCounters): func(v []byte) bool {
			c, ok := decodeCounter(v)
			return !ok || (!c.Expires.IsZero() && now.After(c.Expires))
		},
		string(bReplay): func(v []byte) bool {
			r, ok := decodeReplay(v)
			return !ok || store.Millis(now) >= r.expires
		},
	}
	for _, bucket := range [][]byte{bGreylist, bAllow, bCounters, bReplay} {
		isExpired := expired[string(bucket)]
		var after []byte
		for {
			if err := ctx.Err(); err != nil {
				return total, err
			}
			var keys [][]byte
			var last []byte
			err := s.db.View(func(tx *bbolt.Tx) error {
				c := tx.Bucket(bucket).Cursor()
				k, v := c.First()
				if after != nil {
					k, v = c.Seek(after)
					if k != nil && bytes.Equal(k, after) {
						k, v = c.Next()
					}
				}
				for n := 0; k != nil && n < 4*sweepChunk && len(keys) < sweepChunk; k, v = c.Next() {
					n++
					last = bytes.Clone(k)
					if isExpired(v) {
						keys = append(keys, bytes.Clone(k))
					}
				}
				return nil
			})
			if err != nil {
				return total, wrap(err)
			}
			if len(keys) > 0 {
				err = s.db.Update(func(tx *bbolt.Tx) error {
					b := tx.Bucket(bucket)
					for _, k := range keys {
						if v := b.Get(k); v == nil || !isExpired(v) {
							continue // renewed since we looked
						}
						ok, err := del(tx, bucket, k)
						if err != nil {
							return err
						}
						if ok {
							total++
						}
					}
					return nil
				})
				if err != nil {
					return total, wrap(err)
				}
			}
			if last == nil {
				break
			}
			after = last
		}
	}
	n, err := s.sweepTallies(now)
	total += n
	if err != nil {
		return total, err
	}
	// Received DMARC reports past their retention.
	n, err = s.DMARCReportSweep(ctx, now)
	total += n
	if err != nil {
		return total, err
	}
	// History and statistics.
	for {
		var n int
		err := s.db.Update(func(tx *bbolt.Tx) error {
			var err error
			n, err = s.trimHistory(tx, now, sweepChunk)
			if err != nil {
				return err
			}
			for _, rb := range []struct {
				bucket []byte
				keep   time.Duration
			}{{bStatsH, s.opts.StatsHourlyKeep}, {bStatsD, s.opts.StatsDailyKeep}} {
				cutoff := statsKey(now.Add(-rb.keep))
				c := tx.Bucket(rb.bucket).Cursor()
				for k, _ := c.First(); k != nil && bytes.Compare(k, cutoff) < 0; k, _ = c.First() {
					if err := c.Delete(); err != nil {
						return err
					}
					n++
				}
			}
			return nil
		})
		if err != nil {
			return total, wrap(err)
		}
		total += n
		if n < sweepChunk {
			break
		}
	}
	return total, nil
}

// ---- tallies ----

// Each tally is a sub-bucket of bTally named after it, holding its rows
// (8-byte big-endian counts) and reserved fields: its expiry and its
// number of rows.

var tallyRows = []byte("\x00rows")

func tallyExpired(b *bbolt.Bucket, now time.Time) bool {
	v := b.Get([]byte(store.TallyExpiresField))
	return len(v) == 8 && now.After(store.FromMillis(int64(binary.BigEndian.Uint64(v))))
}

// TallyAdd implements store.Store.
func (s *Store) TallyAdd(ctx context.Context, name string, rows map[string]int64, now, expires time.Time) error {
	if err := store.CheckTally(name, rows); err != nil {
		return err
	}
	return s.update(ctx, func(tx *bbolt.Tx) error {
		top, meta := tx.Bucket(bTally), tx.Bucket(bMeta)
		n := getU64(meta, countKey(bTally))
		b := top.Bucket([]byte(name))
		if b != nil && tallyExpired(b, now) {
			if err := top.DeleteBucket([]byte(name)); err != nil {
				return err
			}
			b, n = nil, n-1
		}
		if b == nil {
			if n >= uint64(s.opts.MaxEntries) {
				return fmt.Errorf("%w: %d tallies", store.ErrFull, n)
			}
			var err error
			if b, err = top.CreateBucket([]byte(name)); err != nil {
				return err
			}
			n++
		}
		if err := putU64(meta, countKey(bTally), n); err != nil {
			return err
		}
		nrows := getU64(b, tallyRows)
		for r := range rows {
			if b.Get([]byte(r)) == nil {
				nrows++
			}
		}
		if nrows > store.MaxTallyRows {
			return fmt.Errorf("%w: tally %q would have %d rows (max %d)", store.ErrFull, name, nrows, store.MaxTallyRows)
		}
		for r, d := range rows {
			if err := putU64(b, []byte(r), uint64(int64(getU64(b, []byte(r)))+d)); err != nil {
				return err
			}
		}
		if err := putU64(b, tallyRows, nrows); err != nil {
			return err
		}
		if v := b.Get([]byte(store.TallyExpiresField)); len(v) != 8 || store.Millis(expires) > int64(binary.BigEndian.Uint64(v)) {
			return putU64(b, []byte(store.TallyExpiresField), uint64(store.Millis(expires)))
		}
		return nil
	})
}

// TallyGet implements store.Store.
func (s *Store) TallyGet(ctx context.Context, name string, now time.Time) (map[string]int64, error) {
	var out map[string]int64
	err := s.view(ctx, func(tx *bbolt.Tx) error {
		b := tx.Bucket(bTally).Bucket([]byte(name))
		if b == nil || tallyExpired(b, now) {
			return store.ErrNotFound
		}
		out = map[string]int64{}
		return b.ForEach(func(k, v []byte) error {
			if len(v) == 8 && !bytes.HasPrefix(k, []byte{0}) {
				out[string(k)] = int64(binary.BigEndian.Uint64(v))
			}
			return nil
		})
	})
	return out, err
}

// TallyList implements store.Store.
func (s *Store) TallyList(ctx context.Context, prefix string, now time.Time, limit int) ([]string, error) {
	limit = store.DefaultLimit(limit, 1000)
	var out []string
	err := s.view(ctx, func(tx *bbolt.Tx) error {
		top := tx.Bucket(bTally)
		c := top.Cursor()
		for k, v := c.Seek([]byte(prefix)); k != nil && bytes.HasPrefix(k, []byte(prefix)) && len(out) < limit; k, v = c.Next() {
			if v != nil {
				continue
			}
			if b := top.Bucket(k); b != nil && !tallyExpired(b, now) {
				out = append(out, string(k))
			}
		}
		return nil
	})
	return out, err
}

// TallyDelete implements store.Store.
func (s *Store) TallyDelete(ctx context.Context, name string) (bool, error) {
	var ok bool
	err := s.update(ctx, func(tx *bbolt.Tx) error {
		ok = false
		if err := tx.Bucket(bTally).DeleteBucket([]byte(name)); err != nil {
			if errors.Is(err, bbolt.ErrBucketNotFound) {
				return nil
			}
			return err
		}
		ok = true
		meta := tx.Bucket(bMeta)
		if n := getU64(meta, countKey(bTally)); n > 0 {
			return putU64(meta, countKey(bTally), n-1)
		}
		return nil
	})
	return ok, err
}

// sweepTallies removes expired tallies.
func (s *Store) sweepTallies(now time.Time) (int, error) {
	var names [][]byte
	err := s.db.View(func(tx *bbolt.Tx) error {
		top := tx.Bucket(bTally)
		return top.ForEach(func(k, v []byte) error {
			if v == nil {
				if b := top.Bucket(k); b != nil && tallyExpired(b, now) {
					names = append(names, bytes.Clone(k))
				}
			}
			return nil
		})
	})
	if err != nil || len(names) == 0 {
		return 0, wrap(err)
	}
	n := 0
	err = s.db.Update(func(tx *bbolt.Tx) error {
		top, meta := tx.Bucket(bTally), tx.Bucket(bMeta)
		for _, k := range names {
			if b := top.Bucket(k); b == nil || !tallyExpired(b, now) {
				continue
			}
			if err := top.DeleteBucket(k); err != nil {
				return err
			}
			n++
		}
		c := getU64(meta, countKey(bTally))
		if uint64(n) > c {
			c = uint64(n)
		}
		return putU64(meta, countKey(bTally), c-uint64(n))
	})
	return n, wrap(err)
}
