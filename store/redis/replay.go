package redis

import (
	"context"
	"fmt"
	"strconv"
	"time"

	goredis "github.com/redis/go-redis/v9"

	"github.com/hamlet-mail/hamlet/store"
)

// The DKIM replay counters (store.DKIMReplay), one hash per signature:
//
//	P replay:KEY  hash  first, expires (Unix ms), msgs, nn, nr (counts),
//	                    "n:HEX" and "r:HEX" (the network and recipient
//	                    hashes, at most the limit of each)
//
// The key expires with its window (PEXPIRE, server time); a sighting at or
// past "expires" (the caller's clock) starts the entry afresh, so that
// every host and the embedded store agree on the window. A network is
// added only by a sighting that brings a recipient new to the entry (or
// none at all, or when the recipients are at the limit), as
// store.DKIMReplay says.

var _ store.DKIMReplay = (*Store)(nil)

// replayScript records one sighting. KEYS entry; ARGV now, window (ms),
// limit, network, recipients. Returns first, msgs, nn, nr.
var replayScript = goredis.NewScript(`
local now, win, lim = tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3])
local exp = tonumber(redis.call('HGET', KEYS[1], 'expires') or '0')
if now >= exp then
  redis.call('DEL', KEYS[1])
  redis.call('HSET', KEYS[1], 'first', ARGV[1], 'expires', string.format('%d', now + win), 'msgs', 0, 'nn', 0, 'nr', 0)
  redis.call('PEXPIRE', KEYS[1], win)
end
local msgs = redis.call('HINCRBY', KEYS[1], 'msgs', 1)
local function add(kind, count, x)
  local n = tonumber(redis.call('HGET', KEYS[1], count))
  if n < lim and redis.call('HSETNX', KEYS[1], kind .. x, 1) == 1 then
    n = redis.call('HINCRBY', KEYS[1], count, 1)
  end
  return n
end
local nr0 = tonumber(redis.call('HGET', KEYS[1], 'nr'))
local nr = nr0
for i = 5, #ARGV do nr = add('r:', 'nr', ARGV[i]) end
local nn = tonumber(redis.call('HGET', KEYS[1], 'nn'))
if #ARGV < 5 or nr0 >= lim or nr > nr0 then nn = add('n:', 'nn', ARGV[4]) end
return {redis.call('HGET', KEYS[1], 'first'), msgs, nn, nr}
`)

// ReplaySee implements store.DKIMReplay: one script run per sighting,
// pipelined.
func (s *Store) ReplaySee(ctx context.Context, now time.Time, window time.Duration, limit int, ss ...store.ReplaySighting) ([]store.ReplayCounts, error) {
	for _, x := range ss {
		if err := store.CheckReplaySighting(x, window, limit); err != nil {
			return nil, err
		}
	}
	if len(ss) == 0 {
		return nil, nil
	}
	if err := replayScript.Load(ctx, s.c).Err(); err != nil {
		return nil, wrap(err)
	}
	pipe := s.c.Pipeline()
	cmds := make([]*goredis.Cmd, len(ss))
	for i, x := range ss {
		args := make([]any, 0, 4+len(x.Rcpts))
		args = append(args, store.Millis(now), window.Milliseconds(), limit, strconv.FormatUint(x.Network, 16))
		for _, r := range x.Rcpts {
			args = append(args, strconv.FormatUint(r, 16))
		}
		cmds[i] = replayScript.EvalSha(ctx, pipe, []string{s.prefix + "replay:" + x.Key}, args...)
	}
	if _, err := pipe.Exec(ctx); err != nil {
		return nil, wrap(err)
	}
	out := make([]store.ReplayCounts, len(ss))
	for i, c := range cmds {
		v, err := c.Slice()
		if err != nil {
			return nil, wrap(err)
		}
		if len(v) != 4 {
			return nil, fmt.Errorf("redis store: replay script returned %d values", len(v))
		}
		first, _ := strconv.ParseInt(toString(v[0]), 10, 64)
		out[i] = store.ReplayCounts{First: store.FromMillis(first), Messages: toInt(v[1]), Networks: int(toInt(v[2])), Recipients: int(toInt(v[3]))}
	}
	return out, nil
}

func toString(v any) string {
	s, _ := v.(string)
	return s
}

func toInt(v any) int64 {
	switch x := v.(type) {
	case int64:
		return x
	case string:
		n, _ := strconv.ParseInt(x, 10, 64)
		return n
	}
	return 0
}
