package redis

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"strconv"
	"time"

	goredis "github.com/redis/go-redis/v9"

	"github.com/hamlet-mail/hamlet/store"
)

func randomID(t time.Time) string {
	var b [8]byte
	_, _ = rand.Read(b[:])
	return strconv.FormatInt(store.Millis(t), 16) + hex.EncodeToString(b[:])
}

// HistoryAdd implements store.Store: the ZADDs and both trims in one
// MULTI.
func (s *Store) HistoryAdd(ctx context.Context, rs ...store.HistoryRecord) error {
	if len(rs) == 0 {
		return nil
	}
	zs := make([]goredis.Z, len(rs))
	latest := time.Time{}
	ix := indexBatch{}
	for i, r := range rs {
		r, err := r.Normalize()
		if err != nil {
			return err
		}
		if r.ID == "" {
			r.ID = randomID(r.Time)
		}
		v, err := r.AppendJSON(nil)
		if err != nil {
			return err
		}
		zs[i] = goredis.Z{Score: float64(store.Millis(r.Time)), Member: v}
		ix.add(&r)
		if r.Time.After(latest) {
			latest = r.Time
		}
	}
	// The index first: a record is never there without its terms.
	if err := s.indexWrite(ctx, ix); err != nil {
		return err
	}
	k := s.prefix + "history"
	cutoff := store.Millis(latest.Add(-s.opts.HistoryMaxAge))
	_, err := s.c.TxPipelined(ctx, func(p goredis.Pipeliner) error {
		p.ZAdd(ctx, k, zs...)
		p.ZRemRangeByScore(ctx, k, "-inf", "("+strconv.FormatInt(cutoff, 10))
		p.ZRemRangeByRank(ctx, k, 0, int64(-s.opts.HistoryMaxCount-1))
		p.PExpire(ctx, k, s.opts.HistoryMaxAge)
		return nil
	})
	if err != nil {
		return wrap(err)
	}
	s.indexTrim(ctx)
	return nil
}

// HistoryList implements store.Store. It reads the sorted set newest
// first by rank, in chunks when filtering (rank ranges cost O(log N + M),
// so a deep scan stays linear), and filters here.
func (s *Store) HistoryList(ctx context.Context, q store.HistoryQuery) ([]store.HistoryRecord, error) {
	limit := store.DefaultLimit(q.Limit, 100)
	if len(q.Terms) > 0 {
		return s.historyIndexed(ctx, q, limit)
	}
	k := s.prefix + "history"
	var start int64
	if !q.Before.IsZero() {
		// Members at or after Before come first in reverse order.
		n, err := s.c.ZCount(ctx, k, strconv.FormatInt(store.Millis(q.Before), 10), "+inf").Result()
		if err != nil {
			return nil, wrap(err)
		}
		start = n
	}
	minScore := float64(store.Millis(q.After))
	// A filtered or time-bounded query reads in chunks: it may stop long
	// before limit records.
	chunked := q.Filtered() || !q.After.IsZero()
	chunk := int64(limit)
	if chunked {
		chunk = min(int64(limit), historyChunk)
		if q.Filtered() {
			chunk = historyChunk
		}
	}
	out := make([]store.HistoryRecord, 0, min(limit, 1024))
	var fold []byte
	scanned := 0
	for done := false; !done && len(out) < limit; start += chunk {
		zs, err := s.c.ZRevRangeWithScores(ctx, k, start, start+chunk-1).Result()
		if err != nil {
			return nil, wrap(err)
		}
		done = int64(len(zs)) < chunk || !chunked
		for _, z := range zs {
			if len(out) >= limit || (!q.After.IsZero() && z.Score < minScore) || (q.MaxScan > 0 && scanned >= q.MaxScan) {
				done = true
				break
			}
			scanned++
			v, _ := z.Member.(string)
			if r, ok := q.Decode([]byte(v), &fold); ok {
				out = append(out, r)
			}
		}
	}
	return out, nil
}

// historyChunk is how many records a filtered history query reads per
// round trip.
const historyChunk = 2000

// Sweep implements store.Store. Redis expires entries by itself; what is
// left is trimming history by age.
func (s *Store) Sweep(ctx context.Context, now time.Time) (int, error) {
	cutoff := store.Millis(now.Add(-s.opts.HistoryMaxAge))
	n, err := s.c.ZRemRangeByScore(ctx, s.prefix+"history", "-inf", "("+strconv.FormatInt(cutoff, 10)).Result()
	return int(n), wrap(err)
}
