package redis

import (
	"context"
	"errors"
	"strconv"
	"sync"
	"time"

	goredis "github.com/redis/go-redis/v9"

	"github.com/hamlet-mail/hamlet/store"
)

// The history index (see store.HistoryTerms): one set per index block,
// PREFIX hidx:<block start in Unix ms>, of the terms of the block's
// records, expiring with the block's records. PREFIX hidx:from is the
// first block the index covers completely (records written before the
// index existed are in older blocks, which queries read).

// indexState is what a Store remembers of its index.
type indexState struct {
	mu        sync.Mutex
	from      int64 // -1 until known
	known     bool
	cleaned   int64 // blocks before this were deleted (count trims)
	lastClean time.Time
}

func (s *Store) idxKey(block int64) string { return s.prefix + "hidx:" + strconv.FormatInt(block, 10) }

const blockMs = int64(store.IndexBlock / time.Millisecond)

func blockOf(ms int64) int64 { return ms - ms%blockMs }

// indexFrom returns the first block the index covers, marking it on
// first use: every block when the history is empty, else those after the
// newest record's. Another host may mark it first; its mark counts.
func (s *Store) indexFrom(ctx context.Context) (int64, error) {
	s.idx.mu.Lock()
	defer s.idx.mu.Unlock()
	if s.idx.known {
		return s.idx.from, nil
	}
	k := s.prefix + "hidx:from"
	v, err := s.c.Get(ctx, k).Int64()
	if errors.Is(err, goredis.Nil) {
		from := int64(0)
		last, lerr := s.c.ZRevRangeWithScores(ctx, s.prefix+"history", 0, 0).Result()
		if lerr != nil {
			return 0, wrap(lerr)
		}
		if len(last) > 0 {
			from = blockOf(int64(last[0].Score)) + blockMs
		}
		if serr := s.c.SetNX(ctx, k, from, 0).Err(); serr != nil {
			return 0, wrap(serr)
		}
		v, err = s.c.Get(ctx, k).Int64()
	}
	if err != nil {
		return 0, wrap(err)
	}
	s.idx.from, s.idx.known = v, true
	return v, nil
}

// indexBatch collects the terms of a batch of records per block.
type indexBatch map[int64]map[string]struct{}

func (b indexBatch) add(r *store.HistoryRecord) {
	blk := blockOf(store.Millis(r.Time))
	m := b[blk]
	if m == nil {
		m = map[string]struct{}{}
		b[blk] = m
	}
	store.EachHistoryTerm(r, func(t string) { m[t] = struct{}{} })
}

// indexWrite adds a batch's terms (one SADD per block; blocks are keys
// of their own, so this is no MULTI: on a Cluster they live on several
// nodes).
func (s *Store) indexWrite(ctx context.Context, b indexBatch) error {
	if _, err := s.indexFrom(ctx); err != nil {
		return err
	}
	_, err := s.c.Pipelined(ctx, func(p goredis.Pipeliner) error {
		for blk, terms := range b {
			members := make([]any, 0, len(terms))
			for t := range terms {
				members = append(members, t)
			}
			k := s.idxKey(blk)
			p.SAdd(ctx, k, members...)
			p.PExpireAt(ctx, k, store.FromMillis(blk+blockMs).Add(s.opts.HistoryMaxAge))
		}
		return nil
	})
	return wrap(err)
}

// indexTrim deletes, at most once a minute, the blocks older than the
// oldest record's: those the count bound emptied (the age bound's expire
// by themselves). Its errors are the next call's to find.
func (s *Store) indexTrim(ctx context.Context) {
	s.idx.mu.Lock()
	if time.Since(s.idx.lastClean) < time.Minute {
		s.idx.mu.Unlock()
		return
	}
	s.idx.lastClean = time.Now()
	cleaned := s.idx.cleaned
	s.idx.mu.Unlock()
	first, err := s.c.ZRangeWithScores(ctx, s.prefix+"history", 0, 0).Result()
	if err != nil || len(first) == 0 {
		return
	}
	upto := blockOf(int64(first[0].Score))
	from := max(cleaned, blockOf(upto-s.opts.HistoryMaxAge.Milliseconds()-blockMs))
	if from >= upto {
		return
	}
	_, err = s.c.Pipelined(ctx, func(p goredis.Pipeliner) error {
		for blk := from; blk < upto; blk += blockMs {
			p.Del(ctx, s.idxKey(blk))
		}
		return nil
	})
	if err == nil {
		s.idx.mu.Lock()
		s.idx.cleaned = max(s.idx.cleaned, upto)
		s.idx.mu.Unlock()
	}
}

// historyIndexed answers a query with index terms: it asks every block
// between the oldest and the newest record in range whether it has all
// the terms (one round trip), then reads the blocks that do, newest
// first, in chunks.
func (s *Store) historyIndexed(ctx context.Context, q store.HistoryQuery, limit int) ([]store.HistoryRecord, error) {
	from, err := s.indexFrom(ctx)
	if err != nil {
		return nil, err
	}
	k := s.prefix + "history"
	var newest, oldest *goredis.ZSliceCmd
	_, err = s.c.Pipelined(ctx, func(p goredis.Pipeliner) error {
		newest = p.ZRevRangeWithScores(ctx, k, 0, 0)
		oldest = p.ZRangeWithScores(ctx, k, 0, 0)
		return nil
	})
	if err != nil {
		return nil, wrap(err)
	}
	if len(newest.Val()) == 0 || len(oldest.Val()) == 0 {
		return nil, nil
	}
	hi, lo := int64(newest.Val()[0].Score), int64(oldest.Val()[0].Score)
	if !q.Before.IsZero() {
		hi = min(hi, store.Millis(q.Before)-1)
	}
	if !q.After.IsZero() {
		lo = max(lo, store.Millis(q.After))
	}
	if hi < lo {
		return nil, nil
	}
	var blocks []int64
	for blk := blockOf(hi); blk >= blockOf(lo); blk -= blockMs {
		blocks = append(blocks, blk)
	}
	// A block whose set is gone is read like an unindexed one: its set
	// expires at the block's end plus the retention in force when it was
	// written, and the records may outlive it (retention raised since, a
	// host with a longer one, a record written late).
	has := make([]*goredis.BoolSliceCmd, len(blocks))
	exists := make([]*goredis.IntCmd, len(blocks))
	_, err = s.c.Pipelined(ctx, func(p goredis.Pipeliner) error {
		for i, blk := range blocks {
			if blk >= from {
				has[i] = p.SMIsMember(ctx, s.idxKey(blk), toAny(q.Terms)...)
				exists[i] = p.Exists(ctx, s.idxKey(blk))
			}
		}
		return nil
	})
	for i := range has {
		if exists[i] != nil && exists[i].Val() == 0 {
			has[i] = nil
		}
	}
	if err != nil {
		return nil, wrap(err)
	}
	out := make([]store.HistoryRecord, 0, min(limit, 1024))
	var fold []byte
	scanned := 0
	// Runs of adjacent candidate blocks are read as one score range.
	for i := 0; i < len(blocks) && len(out) < limit; {
		if !candidate(has[i]) {
			i++
			continue
		}
		j := i
		for j+1 < len(blocks) && candidate(has[j+1]) {
			j++
		}
		top, bottom := min(hi, blocks[i]+blockMs-1), max(lo, blocks[j])
		i = j + 1
		// Each chunk starts at the last score read, past the records of
		// that score already read (a score is a millisecond; several
		// records may share it), so that a deep read stays linear.
		cur, skip := top, int64(0)
		for len(out) < limit {
			zs, err := s.c.ZRevRangeByScoreWithScores(ctx, k, &goredis.ZRangeBy{
				Max: strconv.FormatInt(cur, 10), Min: strconv.FormatInt(bottom, 10), Offset: skip, Count: historyChunk}).Result()
			if err != nil {
				return nil, wrap(err)
			}
			if n := len(zs); n > 0 {
				if last := int64(zs[n-1].Score); last == cur {
					skip += int64(n)
				} else {
					cur, skip = last, 0
					for m := n - 1; m >= 0 && int64(zs[m].Score) == last; m-- {
						skip++
					}
				}
			}
			for _, z := range zs {
				if len(out) >= limit || (q.MaxScan > 0 && scanned >= q.MaxScan) {
					return out, nil
				}
				scanned++
				v, _ := z.Member.(string)
				if r, ok := q.Decode([]byte(v), &fold); ok {
					out = append(out, r)
				}
			}
			if len(zs) < historyChunk {
				break
			}
		}
	}
	return out, nil
}

// candidate reports whether a block may hold matching records: it is
// not indexed (nil), or it has every term.
func candidate(c *goredis.BoolSliceCmd) bool {
	if c == nil {
		return true
	}
	for _, ok := range c.Val() {
		if !ok {
			return false
		}
	}
	return true
}

func toAny(ss []string) []any {
	out := make([]any, len(ss))
	for i, s := range ss {
		out[i] = s
	}
	return out
}
