package redis

import (
	"context"
	"encoding/binary"
	"fmt"
	"strconv"
	"strings"

	goredis "github.com/redis/go-redis/v9"

	"github.com/hamlet-mail/hamlet/store"
)

// The Bayes token database (store.Bayes), the same schema as the embedded
// store's, in three keys that share the hash tag {bayes} (so that one Lua
// script may touch all three, also in a Cluster, where they live on one
// node):
//
//	P{bayes}:tokens   hash  token (8 bytes, big endian) → "spam ham last"
//	P{bayes}:learned  hash  digest → "class seq" (class 1 spam, 2 ham)
//	P{bayes}:stats    hash  spam, ham, seq (learned messages, learn clock)
//
// A learn is one script run (atomic between hosts). The keys carry no TTL:
// BayesExpire bounds them, by the same rule as the embedded store. Memory:
// about 80 bytes per token in Redis 7, 80 MB for a million tokens.

var _ store.Bayes = (*Store)(nil)

func (s *Store) bayesKeys() []string {
	p := s.prefix + "{bayes}:"
	return []string{p + "tokens", p + "learned", p + "stats"}
}

func tokenField(t uint64) string {
	var b [8]byte
	binary.BigEndian.PutUint64(b[:], t)
	return string(b[:])
}

// parseToken reads "spam ham last".
func parseToken(v string) (c store.BayesCounts, last uint32) {
	f := strings.Fields(v)
	if len(f) != 3 {
		return c, 0
	}
	sp, _ := strconv.ParseUint(f[0], 10, 32)
	hm, _ := strconv.ParseUint(f[1], 10, 32)
	l, _ := strconv.ParseUint(f[2], 10, 32)
	return store.BayesCounts{Spam: uint32(sp), Ham: uint32(hm)}, uint32(l)
}

// BayesStats implements store.Bayes.
func (s *Store) BayesStats(ctx context.Context) (store.BayesStats, error) {
	k := s.bayesKeys()
	pipe := s.c.Pipeline()
	hl := pipe.HLen(ctx, k[0])
	ll := pipe.HLen(ctx, k[1])
	st := pipe.HMGet(ctx, k[2], "spam", "ham", "seq")
	if _, err := pipe.Exec(ctx); err != nil {
		return store.BayesStats{}, wrap(err)
	}
	vals := st.Val()
	n := func(i int) int64 {
		if i >= len(vals) {
			return 0
		}
		v, _ := vals[i].(string)
		x, _ := strconv.ParseInt(v, 10, 64)
		return x
	}
	return store.BayesStats{Spam: n(0), Ham: n(1), Seq: n(2), Tokens: hl.Val(), Learned: ll.Val()}, nil
}

// bayesGetChunk bounds the fields of one HMGET.
const bayesGetChunk = 4096

// BayesGet implements store.Bayes: one round trip (HMGETs pipelined).
func (s *Store) BayesGet(ctx context.Context, tokens []uint64, out []store.BayesCounts) error {
	if len(out) != len(tokens) {
		return fmt.Errorf("%w: %d tokens, %d results", store.ErrInvalid, len(tokens), len(out))
	}
	clear(out)
	if len(tokens) == 0 {
		return nil
	}
	key := s.bayesKeys()[0]
	pipe := s.c.Pipeline()
	var cmds []*goredis.SliceCmd
	for i := 0; i < len(tokens); i += bayesGetChunk {
		j := min(i+bayesGetChunk, len(tokens))
		fields := make([]string, 0, j-i)
		for _, t := range tokens[i:j] {
			fields = append(fields, tokenField(t))
		}
		cmds = append(cmds, pipe.HMGet(ctx, key, fields...))
	}
	if _, err := pipe.Exec(ctx); err != nil {
		return wrap(err)
	}
	i := 0
	for _, c := range cmds {
		for _, v := range c.Val() {
			if v, ok := v.(string); ok {
				out[i], _ = parseToken(v)
			}
			i++
		}
	}
	return nil
}

// bayesLearnChunk is how many learn scripts share a pipeline.
const bayesLearnChunk = 16

// bayesLearnScript learns one message. KEYS tokens, learned, stats; ARGV
// digest, class (1 spam, 2 ham), then the tokens. Returns 1 learned, 2
// relearned, 3 already learned.
var bayesLearnScript = goredis.NewScript(`
local prev = redis.call('HGET', KEYS[2], ARGV[1])
local class = tonumber(ARGV[2])
local pc = 0
if prev then pc = tonumber(string.match(prev, '^(%d+)')) end
if pc == class then return 3 end
local relearn = (pc == 1 or pc == 2)
local seq = redis.call('HINCRBY', KEYS[3], 'seq', 1)
for i = 3, #ARGV do
  local v = redis.call('HGET', KEYS[1], ARGV[i])
  local s, h = 0, 0
  if v then
    local a, b = string.match(v, '^(%d+) (%d+)')
    s, h = tonumber(a), tonumber(b)
  end
  if class == 1 then
    s = s + 1
    if relearn and h > 0 then h = h - 1 end
  else
    h = h + 1
    if relearn and s > 0 then s = s - 1 end
  end
  redis.call('HSET', KEYS[1], ARGV[i], s .. ' ' .. h .. ' ' .. seq)
end
local mine, other = 'spam', 'ham'
if class == 2 then mine, other = 'ham', 'spam' end
redis.call('HINCRBY', KEYS[3], mine, 1)
redis.call('HSET', KEYS[2], ARGV[1], class .. ' ' .. seq)
if relearn then
  local o = tonumber(redis.call('HGET', KEYS[3], other) or '0')
  if o > 0 then redis.call('HINCRBY', KEYS[3], other, -1) end
  return 2
end
return 1
`)

// BayesLearn implements store.Bayes: one script run per item, pipelined.
func (s *Store) BayesLearn(ctx context.Context, items ...store.BayesItem) ([]store.BayesOutcome, error) {
	for _, it := range items {
		if err := store.CheckBayesItem(it); err != nil {
			return nil, err
		}
	}
	keys := s.bayesKeys()
	// Load the script once, so the pipeline can use EVALSHA.
	if err := bayesLearnScript.Load(ctx, s.c).Err(); err != nil {
		return nil, wrap(err)
	}
	// Pipelines of a few messages: a reply must come within the read
	// timeout, and each script takes its time.
	cmds := make([]*goredis.Cmd, len(items))
	for lo := 0; lo < len(items); lo += bayesLearnChunk {
		pipe := s.c.Pipeline()
		for i := lo; i < min(lo+bayesLearnChunk, len(items)); i++ {
			it := items[i]
			args := make([]any, 0, 2+len(it.Tokens))
			args = append(args, it.Digest, int(it.Class))
			for _, t := range it.Tokens {
				args = append(args, tokenField(t))
			}
			cmds[i] = bayesLearnScript.EvalSha(ctx, pipe, keys, args...)
		}
		if _, err := pipe.Exec(ctx); err != nil {
			return nil, wrap(err)
		}
	}
	out := make([]store.BayesOutcome, len(items))
	for i, c := range cmds {
		n, err := c.Int()
		if err != nil {
			return nil, wrap(err)
		}
		out[i] = store.BayesOutcome(n)
	}
	return out, nil
}

// bayesDeleteScript removes the given token fields whose retention is
// still below the cutoff (a learn since the scan keeps its token). KEYS
// tokens; ARGV cutoff, bonus, fields.
var bayesDeleteScript = goredis.NewScript(`
local cutoff, bonus = tonumber(ARGV[1]), tonumber(ARGV[2])
local n = 0
for i = 3, #ARGV do
  local v = redis.call('HGET', KEYS[1], ARGV[i])
  if v then
    local a, b, l = string.match(v, '^(%d+) (%d+) (%d+)')
    local c = tonumber(a) + tonumber(b)
    if c > 0 then c = c - 1 end
    if c > 8 then c = 8 end
    if tonumber(l) + c * bonus < cutoff then
      redis.call('HDEL', KEYS[1], ARGV[i])
      n = n + 1
    end
  end
end
return n
`)

// bayesDigestScript removes learned digests older than a sequence number.
// KEYS learned; ARGV cutoff, digests.
var bayesDigestScript = goredis.NewScript(`
local cutoff = tonumber(ARGV[1])
local n = 0
for i = 2, #ARGV do
  local v = redis.call('HGET', KEYS[1], ARGV[i])
  if v then
    local seq = tonumber(string.match(v, ' (%d+)$') or '0')
    if seq < cutoff then
      redis.call('HDEL', KEYS[1], ARGV[i])
      n = n + 1
    end
  end
end
return n
`)

// BayesExpire implements store.Bayes: HSCAN finds the cutoff, then
// scripts delete in chunks, each checking the token again.
func (s *Store) BayesExpire(ctx context.Context, e store.BayesExpiry) (ntok, ndig int, err error) {
	st, err := s.BayesStats(ctx)
	if err != nil {
		return 0, 0, err
	}
	keys := s.bayesKeys()
	if e.MaxTokens > 0 && st.Tokens > int64(e.MaxTokens) {
		var ret []uint64
		err := s.hscan(ctx, keys[0], func(_, v string) {
			ret = append(ret, store.BayesRetention(parseToken(v)))
		})
		if err != nil {
			return 0, 0, err
		}
		cutoff := store.BayesCutoff(ret, e.MaxTokens*3/4)
		if cutoff > 0 {
			var cand []any
			err := s.hscan(ctx, keys[0], func(k, v string) {
				if store.BayesRetention(parseToken(v)) < cutoff {
					cand = append(cand, k)
				}
			})
			if err != nil {
				return 0, 0, err
			}
			for i := 0; i < len(cand); i += 1000 {
				j := min(i+1000, len(cand))
				n, err := bayesDeleteScript.Run(ctx, s.c, keys[:1], append([]any{cutoff, store.BayesRetentionBonus}, cand[i:j]...)...).Int()
				ntok += n
				if err != nil {
					return ntok, 0, wrap(err)
				}
			}
		}
	}
	if e.MaxDigests > 0 && st.Learned > int64(e.MaxDigests) && st.Seq > int64(e.MaxDigests) {
		cut := st.Seq - int64(e.MaxDigests*3/4) + 1
		var old []any
		err := s.hscan(ctx, keys[1], func(k, v string) {
			_, seq, _ := strings.Cut(v, " ")
			if n, _ := strconv.ParseInt(seq, 10, 64); n < cut {
				old = append(old, k)
			}
		})
		if err != nil {
			return ntok, 0, err
		}
		for i := 0; i < len(old); i += 1000 {
			j := min(i+1000, len(old))
			n, err := bayesDigestScript.Run(ctx, s.c, keys[1:2], append([]any{cut}, old[i:j]...)...).Int()
			ndig += n
			if err != nil {
				return ntok, ndig, wrap(err)
			}
		}
	}
	return ntok, ndig, nil
}

// hscan calls fn for every field of the hash.
func (s *Store) hscan(ctx context.Context, key string, fn func(k, v string)) error {
	var cursor uint64
	for {
		kv, next, err := s.c.HScan(ctx, key, cursor, "", 10000).Result()
		if err != nil {
			return wrap(err)
		}
		for i := 0; i+1 < len(kv); i += 2 {
			fn(kv[i], kv[i+1])
		}
		if next == 0 {
			return nil
		}
		cursor = next
	}
}
