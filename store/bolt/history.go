package bolt

import (
	"bytes"
	"context"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"time"

	bbolt "go.etcd.io/bbolt"

	"github.com/hamlet-mail/hamlet/store"
)

// History keys are 8 bytes of big-endian Unix milliseconds followed by 8
// bytes of the bucket's sequence, so a cursor walks them in time order.
func historyKey(t time.Time, seq uint64) []byte {
	k := make([]byte, 16)
	binary.BigEndian.PutUint64(k, uint64(store.Millis(t)))
	binary.BigEndian.PutUint64(k[8:], seq)
	return k
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

// HistoryAdd implements store.Store.
func (s *Store) HistoryAdd(ctx context.Context, rs ...store.HistoryRecord) error {
	if len(rs) == 0 {
		return nil
	}
	norm := make([]store.HistoryRecord, len(rs))
	latest := time.Time{}
	for i, r := range rs {
		r, err := r.Normalize()
		if err != nil {
			return err
		}
		norm[i] = r
		if r.Time.After(latest) {
			latest = r.Time
		}
	}
	return s.update(ctx, func(tx *bbolt.Tx) error {
		b := tx.Bucket(bHistory)
		for _, r := range norm {
			seq, err := b.NextSequence()
			if err != nil {
				return err
			}
			k := historyKey(r.Time, seq)
			if r.ID == "" {
				r.ID = hex.EncodeToString(k)
			}
			v, err := json.Marshal(r)
			if err != nil {
				return err
			}
			if err := put(tx, bHistory, k, v, 0); err != nil {
				return err
			}
		}
		_, err := s.trimHistory(tx, latest, maxTrimPerWrite+len(norm))
		return err
	})
}

// trimHistory deletes the oldest records while there are too many or they
// are too old, at most max of them.
func (s *Store) trimHistory(tx *bbolt.Tx, now time.Time, max int) (int, error) {
	meta := tx.Bucket(bMeta)
	cutoff := now.Add(-s.opts.HistoryMaxAge)
	c := tx.Bucket(bHistory).Cursor()
	n := 0
	for k, _ := c.First(); k != nil && n < max; k, _ = c.First() {
		count := getU64(meta, countKey(bHistory))
		if count <= uint64(s.opts.HistoryMaxCount) && !keyTime(k).Before(cutoff) {
			break
		}
		if _, err := del(tx, bHistory, bytes.Clone(k)); err != nil {
			return n, err
		}
		n++
	}
	return n, nil
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
		for ; k != nil && len(out) < limit; k, v = c.Prev() {
			var r store.HistoryRecord
			if json.Unmarshal(v, &r) != nil {
				continue
			}
			out = append(out, r)
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
	}
	for _, bucket := range [][]byte{bGreylist, bAllow, bCounters} {
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
