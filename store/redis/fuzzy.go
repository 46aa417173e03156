package redis

import (
	"context"
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"

	goredis "github.com/redis/go-redis/v9"

	"github.com/hamlet-mail/hamlet/store"
)

// The fuzzy hashes (store.Fuzzy), the embedded store's schema in two keys
// sharing the hash tag {fuzzy} (one script touches both, also in a
// Cluster):
//
//	P{fuzzy}:hashes    hash  digest → "flag value added updated [s0 … s31]"
//	                   (times in Unix seconds, shingles in 16 hex digits)
//	P{fuzzy}:shingles  hash  "i:s" (index, shingle in hex) → digest
//
// No TTL: FuzzyExpire bounds them, and FuzzyCheck ignores what is older
// than its notBefore. About 4.4 KB of Redis memory per learned text (32
// shingles; measured with 10,000 texts by BenchmarkCheck in package fuzzy).

var _ store.Fuzzy = (*Store)(nil)

func (s *Store) fuzzyKeys() []string {
	p := s.prefix + "{fuzzy}:"
	return []string{p + "hashes", p + "shingles"}
}

func shingleHex(sh uint64) string { return fmt.Sprintf("%016x", sh) }

func shingleField(i int, sh uint64) string { return strconv.Itoa(i) + ":" + shingleHex(sh) }

// parseFuzzy reads a hashes record.
func parseFuzzy(d, v string) (store.FuzzyEntry, []uint64, bool) {
	f := strings.Fields(v)
	if len(f) < 4 {
		return store.FuzzyEntry{}, nil, false
	}
	flag, e1 := strconv.ParseUint(f[0], 10, 32)
	val, e2 := strconv.ParseInt(f[1], 10, 64)
	added, e3 := strconv.ParseInt(f[2], 10, 64)
	upd, e4 := strconv.ParseInt(f[3], 10, 64)
	if e1 != nil || e2 != nil || e3 != nil || e4 != nil {
		return store.FuzzyEntry{}, nil, false
	}
	var sh []uint64
	for _, x := range f[4:] {
		n, err := strconv.ParseUint(x, 16, 64)
		if err != nil {
			return store.FuzzyEntry{}, nil, false
		}
		sh = append(sh, n)
	}
	return store.FuzzyEntry{Digest: d, Flag: uint32(flag), Value: val, Added: time.Unix(added, 0), Updated: time.Unix(upd, 0)}, sh, true
}

// fuzzyAddScript adds one hash. KEYS hashes, shingles; ARGV now, digest,
// flag, value, then the shingles in hex. Returns 1 for a new digest.
var fuzzyAddScript = goredis.NewScript(`
local now, d, flag, val = ARGV[1], ARGV[2], ARGV[3], tonumber(ARGV[4])
local prev = redis.call('HGET', KEYS[1], d)
local added, sh, new = now, '', 1
if prev then
  local f, v, a, rest = string.match(prev, '^(%d+) (%-?%d+) (%d+) %d+ ?(.*)$')
  if f then
    new = 0
    added, sh = a, rest
    if f == flag then val = val + tonumber(v) end
  end
end
if #ARGV > 4 then
  sh = table.concat(ARGV, ' ', 5)
  for i = 5, #ARGV do redis.call('HSET', KEYS[2], (i - 5) .. ':' .. ARGV[i], d) end
end
local rec = flag .. ' ' .. string.format('%d', val) .. ' ' .. added .. ' ' .. now
if sh ~= '' then rec = rec .. ' ' .. sh end
redis.call('HSET', KEYS[1], d, rec)
return new
`)

// fuzzyDeleteScript deletes digests updated before a cutoff and the
// shingles still pointing to them. KEYS hashes, shingles; ARGV cutoff
// (Unix seconds), digests. Returns how many it deleted.
var fuzzyDeleteScript = goredis.NewScript(`
local cutoff = tonumber(ARGV[1])
local n = 0
for j = 2, #ARGV do
  local d = ARGV[j]
  local prev = redis.call('HGET', KEYS[1], d)
  if prev then
    local upd, rest = string.match(prev, '^%d+ %-?%d+ %d+ (%d+) ?(.*)$')
    if not upd or tonumber(upd) < cutoff then
      local i = 0
      for hex in string.gmatch(rest or '', '%x+') do
        local f = i .. ':' .. hex
        if redis.call('HGET', KEYS[2], f) == d then redis.call('HDEL', KEYS[2], f) end
        i = i + 1
      end
      redis.call('HDEL', KEYS[1], d)
      n = n + 1
    end
  end
end
return n
`)

// fuzzyChunk is how many scripts share a pipeline, or digests a script.
const fuzzyChunk = 64

// FuzzyAdd implements store.Fuzzy: one script run per hash, pipelined.
func (s *Store) FuzzyAdd(ctx context.Context, now time.Time, hs ...store.FuzzyHash) error {
	for _, h := range hs {
		if err := store.CheckFuzzyHash(h); err != nil {
			return err
		}
	}
	if len(hs) == 0 {
		return nil
	}
	keys := s.fuzzyKeys()
	if err := fuzzyAddScript.Load(ctx, s.c).Err(); err != nil {
		return wrap(err)
	}
	for lo := 0; lo < len(hs); lo += fuzzyChunk {
		pipe := s.c.Pipeline()
		for _, h := range hs[lo:min(lo+fuzzyChunk, len(hs))] {
			args := make([]any, 0, 4+len(h.Shingles))
			args = append(args, now.Unix(), h.Digest, h.Flag, h.Value)
			for _, sh := range h.Shingles {
				args = append(args, shingleHex(sh))
			}
			fuzzyAddScript.EvalSha(ctx, pipe, keys, args...)
		}
		if _, err := pipe.Exec(ctx); err != nil {
			return wrap(err)
		}
	}
	return nil
}

func (s *Store) fuzzyDelete(ctx context.Context, cutoff int64, digests []string) (int, error) {
	n := 0
	keys := s.fuzzyKeys()
	for lo := 0; lo < len(digests); lo += fuzzyChunk {
		args := []any{cutoff}
		for _, d := range digests[lo:min(lo+fuzzyChunk, len(digests))] {
			args = append(args, d)
		}
		k, err := fuzzyDeleteScript.Run(ctx, s.c, keys, args...).Int()
		n += k
		if err != nil {
			return n, wrap(err)
		}
	}
	return n, nil
}

// FuzzyDelete implements store.Fuzzy.
func (s *Store) FuzzyDelete(ctx context.Context, digests ...string) (int, error) {
	for _, d := range digests {
		if err := store.CheckFuzzyDigest(d); err != nil {
			return 0, err
		}
	}
	return s.fuzzyDelete(ctx, math.MaxInt64, digests)
}

// FuzzyCheck implements store.Fuzzy: one round trip for the digests and
// shingles, a second for the entries the shingles point to.
func (s *Store) FuzzyCheck(ctx context.Context, notBefore time.Time, qs []store.FuzzyQuery) ([]store.FuzzyMatch, error) {
	out := make([]store.FuzzyMatch, len(qs))
	if len(qs) == 0 {
		return out, nil
	}
	keys := s.fuzzyKeys()
	digests := make([]string, len(qs))
	var fields []string
	for i, q := range qs {
		digests[i] = q.Digest
		if len(q.Shingles) == store.FuzzyShingles {
			for j, sh := range q.Shingles {
				fields = append(fields, shingleField(j, sh))
			}
		}
	}
	pipe := s.c.Pipeline()
	hc := pipe.HMGet(ctx, keys[0], digests...)
	var sc *goredis.SliceCmd
	if len(fields) > 0 {
		sc = pipe.HMGet(ctx, keys[1], fields...)
	}
	if _, err := pipe.Exec(ctx); err != nil {
		return nil, wrap(err)
	}
	entry := func(d string, v any) (store.FuzzyEntry, []uint64, bool) {
		str, ok := v.(string)
		if !ok {
			return store.FuzzyEntry{}, nil, false
		}
		e, sh, ok := parseFuzzy(d, str)
		return e, sh, ok && !e.Updated.Before(notBefore)
	}
	var owners []any
	if sc != nil {
		owners = sc.Val()
	}
	type cand struct {
		q int
		d string
	}
	var cands []cand
	own := make([]string, store.FuzzyShingles)
	next := 0
	for i, q := range qs {
		hasSh := len(q.Shingles) == store.FuzzyShingles
		var mine []any
		if hasSh && next+store.FuzzyShingles <= len(owners) {
			mine = owners[next : next+store.FuzzyShingles]
		}
		if hasSh {
			next += store.FuzzyShingles
		}
		if e, _, ok := entry(q.Digest, hc.Val()[i]); ok {
			out[i] = store.FuzzyMatch{Found: true, FuzzyEntry: e, Shingles: store.FuzzyShingles}
			continue
		}
		if mine == nil {
			continue
		}
		for j, v := range mine {
			own[j], _ = v.(string)
		}
		for _, d := range store.FuzzyCandidates(own, store.FuzzyMaxCandidates) {
			cands = append(cands, cand{i, d})
		}
	}
	if len(cands) == 0 {
		return out, nil
	}
	ds := make([]string, len(cands))
	for i, c := range cands {
		ds[i] = c.d
	}
	vals, err := s.c.HMGet(ctx, keys[0], ds...).Result()
	if err != nil {
		return nil, wrap(err)
	}
	for i, c := range cands {
		e, sh, ok := entry(c.d, vals[i])
		if n := store.FuzzySame(qs[c.q].Shingles, sh); ok && n > store.FuzzyShingles/2 && n > out[c.q].Shingles {
			out[c.q] = store.FuzzyMatch{Found: true, FuzzyEntry: e, Shingles: n}
		}
	}
	return out, nil
}

// FuzzyStats implements store.Fuzzy.
func (s *Store) FuzzyStats(ctx context.Context) (store.FuzzyStats, error) {
	n, err := s.c.HLen(ctx, s.fuzzyKeys()[0]).Result()
	if err != nil {
		return store.FuzzyStats{}, wrap(err)
	}
	return store.FuzzyStats{Hashes: n}, nil
}

// FuzzyExpire implements store.Fuzzy: HSCAN finds the cutoff, scripts
// delete what is below it, each checking the entry again (an add since
// the scan keeps it).
func (s *Store) FuzzyExpire(ctx context.Context, notBefore time.Time, maxHashes int) (int, error) {
	key := s.fuzzyKeys()[0]
	var updated []int64
	err := s.hscan(ctx, key, func(d, v string) {
		if e, _, ok := parseFuzzy(d, v); ok {
			updated = append(updated, e.Updated.Unix())
		}
	})
	if err != nil || len(updated) == 0 {
		return 0, err
	}
	cut := store.FuzzyCutoff(updated, notBefore.Unix(), maxHashes)
	var gone []string
	err = s.hscan(ctx, key, func(d, v string) {
		if e, _, ok := parseFuzzy(d, v); !ok || e.Updated.Unix() < cut {
			gone = append(gone, d)
		}
	})
	if err != nil {
		return 0, err
	}
	return s.fuzzyDelete(ctx, cut, gone)
}
