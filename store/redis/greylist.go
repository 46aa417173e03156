package redis

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"time"

	goredis "github.com/redis/go-redis/v9"

	"github.com/hamlet-mail/hamlet/store"
)

// greylistScript is store.ApplyAttempt in Lua. KEYS[1] the entry; ARGV
// now, delay, retry window, pass TTL (all ms). Returns f l p b n e.
var greylistScript = goredis.NewScript(`
local k = KEYS[1]
local now, delay, window, passttl = tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3]), tonumber(ARGV[4])
local v = redis.call('HMGET', k, 'f', 'p', 'b', 'n', 'e')
local f, p, b, n, e = tonumber(v[1]), tonumber(v[2]), tonumber(v[3]), tonumber(v[4]), tonumber(v[5])
if f == nil or p == nil or b == nil or n == nil or e == nil or now > e then
  f, p, b, n = now, 0, 0, 0
end
if p ~= 0 then
  n = n + 1
elseif now - f >= delay then
  p, n = now, 1
else
  b = b + 1
end
if p == 0 then e = f + window else e = now + passttl end
local function s(x) return string.format('%.0f', x) end
redis.call('HSET', k, 'f', s(f), 'l', s(now), 'p', s(p), 'b', s(b), 'n', s(n), 'e', s(e))
local ttl = e - now
if ttl < 1 then ttl = 1 end
redis.call('PEXPIRE', k, s(ttl))
return {s(f), s(now), s(p), s(b), s(n), s(e)}
`)

func ints(v any, n int) ([]int64, error) {
	arr, ok := v.([]any)
	if !ok || len(arr) != n {
		return nil, fmt.Errorf("redis store: unexpected script reply %v", v)
	}
	out := make([]int64, n)
	for i, x := range arr {
		var err error
		switch x := x.(type) {
		case string:
			out[i], err = strconv.ParseInt(x, 10, 64)
		case int64:
			out[i] = x
		default:
			err = fmt.Errorf("type %T", x)
		}
		if err != nil {
			return nil, fmt.Errorf("redis store: unexpected script reply %v: %w", v, err)
		}
	}
	return out, nil
}

func entryFrom(key string, n []int64) store.GreylistEntry {
	return store.GreylistEntry{
		Key: key, FirstSeen: store.FromMillis(n[0]), LastSeen: store.FromMillis(n[1]), Passed: store.FromMillis(n[2]),
		Blocked: n[3], Passes: n[4], Expires: store.FromMillis(n[5]),
	}
}

// GreylistAttempt implements store.Store.
func (s *Store) GreylistAttempt(ctx context.Context, key string, now time.Time, p store.GreylistParams) (store.GreylistEntry, error) {
	if err := store.CheckKey(key); err != nil {
		return store.GreylistEntry{}, err
	}
	if err := p.Validate(); err != nil {
		return store.GreylistEntry{}, err
	}
	v, err := greylistScript.Run(ctx, s.c, []string{s.prefix + "gl:" + key},
		store.Millis(now), ms(p.Delay), ms(p.RetryWindow), ms(p.PassTTL)).Result()
	if err != nil {
		return store.GreylistEntry{}, wrap(err)
	}
	n, err := ints(v, 6)
	if err != nil {
		return store.GreylistEntry{}, err
	}
	return entryFrom(key, n), nil
}

var greylistFields = []string{"f", "l", "p", "b", "n", "e"}

func parseEntry(key string, vals []any) (store.GreylistEntry, bool) {
	if len(vals) != len(greylistFields) {
		return store.GreylistEntry{}, false
	}
	n := make([]int64, len(vals))
	for i, v := range vals {
		sv, ok := v.(string)
		if !ok {
			return store.GreylistEntry{}, false
		}
		var err error
		if n[i], err = strconv.ParseInt(sv, 10, 64); err != nil {
			return store.GreylistEntry{}, false
		}
	}
	return entryFrom(key, n), true
}

// GreylistGet implements store.Store.
func (s *Store) GreylistGet(ctx context.Context, key string, now time.Time) (store.GreylistEntry, error) {
	vals, err := s.c.HMGet(ctx, s.prefix+"gl:"+key, greylistFields...).Result()
	if err != nil {
		return store.GreylistEntry{}, wrap(err)
	}
	e, ok := parseEntry(key, vals)
	if !ok || e.Expired(now) {
		return store.GreylistEntry{}, store.ErrNotFound
	}
	return e, nil
}

// GreylistList implements store.Store.
func (s *Store) GreylistList(ctx context.Context, now time.Time, limit int) ([]store.GreylistEntry, error) {
	limit = store.DefaultLimit(limit, 1000)
	pre := s.prefix + "gl:"
	keys, err := s.scan(ctx, pre, limit)
	if err != nil {
		return nil, err
	}
	cmds := make([]*goredis.SliceCmd, len(keys))
	_, err = s.c.Pipelined(ctx, func(p goredis.Pipeliner) error {
		for i, k := range keys {
			cmds[i] = p.HMGet(ctx, k, greylistFields...)
		}
		return nil
	})
	if err != nil {
		return nil, wrap(err)
	}
	var out []store.GreylistEntry
	for i, c := range cmds {
		if e, ok := parseEntry(strings.TrimPrefix(keys[i], pre), c.Val()); ok && !e.Expired(now) {
			out = append(out, e)
		}
	}
	return out, nil
}

// GreylistDelete implements store.Store.
func (s *Store) GreylistDelete(ctx context.Context, key string) (bool, error) {
	n, err := s.c.Del(ctx, s.prefix+"gl:"+key).Result()
	return n > 0, wrap(err)
}
