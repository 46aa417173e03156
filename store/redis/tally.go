package redis

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	goredis "github.com/redis/go-redis/v9"

	"github.com/hamlet-mail/hamlet/store"
)

// tallyScript adds to the rows of one tally hash, atomically. KEYS[1] the
// tally; ARGV: expiry field, now, expires, max rows, then row/count pairs.
// An expired tally starts afresh; too many rows is an error and nothing
// is added.
var tallyScript = goredis.NewScript(`
local k, ef = KEYS[1], ARGV[1]
local now, exp, maxrows = tonumber(ARGV[2]), tonumber(ARGV[3]), tonumber(ARGV[4])
local e = tonumber(redis.call('HGET', k, ef))
if e and now > e then redis.call('DEL', k); e = nil end
local rows = redis.call('HLEN', k)
if e then rows = rows - 1 end
for i = 5, #ARGV, 2 do
  if redis.call('HEXISTS', k, ARGV[i]) == 0 then rows = rows + 1 end
end
if rows > maxrows then return redis.error_reply('store: full: tally rows') end
for i = 5, #ARGV, 2 do redis.call('HINCRBY', k, ARGV[i], ARGV[i+1]) end
if not e or exp > e then e = exp end
redis.call('HSET', k, ef, string.format('%.0f', e))
local ttl = e - now
if ttl < 1000 then ttl = 1000 end
redis.call('PEXPIRE', k, string.format('%.0f', ttl))
return rows
`)

// TallyAdd implements store.Store.
func (s *Store) TallyAdd(ctx context.Context, name string, rows map[string]int64, now, expires time.Time) error {
	if err := store.CheckTally(name, rows); err != nil {
		return err
	}
	args := []any{store.TallyExpiresField, store.Millis(now), store.Millis(expires), store.MaxTallyRows}
	for r, n := range rows {
		args = append(args, r, n)
	}
	err := tallyScript.Run(ctx, s.c, []string{s.prefix + "tally:" + name}, args...).Err()
	if err != nil && strings.Contains(err.Error(), "store: full") {
		return fmt.Errorf("redis store: %w: tally %q would have more than %d rows", store.ErrFull, name, store.MaxTallyRows)
	}
	return wrap(err)
}

// TallyGet implements store.Store.
func (s *Store) TallyGet(ctx context.Context, name string, now time.Time) (map[string]int64, error) {
	m, err := s.c.HGetAll(ctx, s.prefix+"tally:"+name).Result()
	if err != nil {
		return nil, wrap(err)
	}
	e, err := strconv.ParseInt(m[store.TallyExpiresField], 10, 64)
	if len(m) == 0 || err != nil || now.After(store.FromMillis(e)) {
		return nil, store.ErrNotFound
	}
	out := make(map[string]int64, len(m)-1)
	for k, v := range m {
		if k == store.TallyExpiresField {
			continue
		}
		if n, err := strconv.ParseInt(v, 10, 64); err == nil {
			out[k] = n
		}
	}
	return out, nil
}

// TallyList implements store.Store.
func (s *Store) TallyList(ctx context.Context, prefix string, now time.Time, limit int) ([]string, error) {
	limit = store.DefaultLimit(limit, 1000)
	pre := s.prefix + "tally:"
	keys, err := s.scan(ctx, pre+prefix, 100*limit)
	if err != nil {
		return nil, err
	}
	cmds := make([]*goredis.StringCmd, len(keys))
	_, err = s.c.Pipelined(ctx, func(p goredis.Pipeliner) error {
		for i, k := range keys {
			cmds[i] = p.HGet(ctx, k, store.TallyExpiresField)
		}
		return nil
	})
	if err != nil && !errors.Is(err, goredis.Nil) {
		return nil, wrap(err)
	}
	var out []string
	for i, c := range cmds {
		if e, err := c.Int64(); err == nil && !now.After(store.FromMillis(e)) {
			out = append(out, strings.TrimPrefix(keys[i], pre))
		}
	}
	slices.Sort(out)
	if len(out) > limit {
		out = out[:limit]
	}
	return out, nil
}

// TallyDelete implements store.Store.
func (s *Store) TallyDelete(ctx context.Context, name string) (bool, error) {
	n, err := s.c.Del(ctx, s.prefix+"tally:"+name).Result()
	return n > 0, wrap(err)
}
