package redis

import (
	"context"
	"fmt"
	"strconv"
	"time"

	goredis "github.com/redis/go-redis/v9"

	"github.com/hamlet-mail/hamlet/store"
)

// counterScript is store.ApplyCounter in Lua. ARGV now, ttl, min
// interval, delta. Returns v l e.
var counterScript = goredis.NewScript(`
local k = KEYS[1]
local now, ttl, mini, delta = tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3]), tonumber(ARGV[4])
local r = redis.call('HMGET', k, 'v', 'l', 'e')
local v, l, e = tonumber(r[1]), tonumber(r[2]), tonumber(r[3])
if v == nil or l == nil or e == nil or (e ~= 0 and now > e) then v, l = 0, 0 end
if l == 0 or mini <= 0 or now - l >= mini then v, l = v + delta, now end
e = now + ttl
local function s(x) return string.format('%.0f', x) end
redis.call('HSET', k, 'v', s(v), 'l', s(l), 'e', s(e))
redis.call('PEXPIRE', k, s(ttl))
return {s(v), s(l), s(e)}
`)

// CounterIncr implements store.Store.
func (s *Store) CounterIncr(ctx context.Context, key string, op store.CounterOp) (store.Counter, error) {
	if err := store.CheckKey(key); err != nil {
		return store.Counter{}, err
	}
	if op.TTL <= 0 {
		return store.Counter{}, fmt.Errorf("%w: counter TTL %v", store.ErrInvalid, op.TTL)
	}
	d := op.Delta
	if d == 0 {
		d = 1
	}
	v, err := counterScript.Run(ctx, s.c, []string{s.prefix + "ctr:" + key},
		store.Millis(op.Now), ms(op.TTL), ms(op.MinInterval), d).Result()
	if err != nil {
		return store.Counter{}, wrap(err)
	}
	n, err := ints(v, 3)
	if err != nil {
		return store.Counter{}, err
	}
	return store.Counter{Value: n[0], Last: store.FromMillis(n[1]), Expires: store.FromMillis(n[2])}, nil
}

// CounterGet implements store.Store.
func (s *Store) CounterGet(ctx context.Context, key string, now time.Time) (store.Counter, error) {
	vals, err := s.c.HMGet(ctx, s.prefix+"ctr:"+key, "v", "l", "e").Result()
	if err != nil {
		return store.Counter{}, wrap(err)
	}
	var n [3]int64
	for i, v := range vals {
		sv, ok := v.(string)
		if !ok {
			return store.Counter{}, nil
		}
		if n[i], err = strconv.ParseInt(sv, 10, 64); err != nil {
			return store.Counter{}, nil
		}
	}
	c := store.Counter{Value: n[0], Last: store.FromMillis(n[1]), Expires: store.FromMillis(n[2])}
	if !c.Expires.IsZero() && now.After(c.Expires) {
		return store.Counter{}, nil
	}
	return c, nil
}

// CounterDelete implements store.Store.
func (s *Store) CounterDelete(ctx context.Context, key string) (bool, error) {
	n, err := s.c.Del(ctx, s.prefix+"ctr:"+key).Result()
	return n > 0, wrap(err)
}
