package redis

import (
	"context"
	"encoding/json"
	"errors"
	"slices"
	"strings"
	"time"

	goredis "github.com/redis/go-redis/v9"

	"github.com/hamlet-mail/hamlet/store"
)

// AllowAdd implements store.Store. An entry with Expires gets a Redis TTL
// of Expires-Added.
func (s *Store) AllowAdd(ctx context.Context, e store.AllowEntry) error {
	if err := store.CheckKey(e.Key); err != nil {
		return err
	}
	v, err := json.Marshal(e)
	if err != nil {
		return err
	}
	var ttl time.Duration
	if !e.Expires.IsZero() {
		ref := e.Added
		if ref.IsZero() {
			ref = time.Now()
		}
		if ttl = e.Expires.Sub(ref) + time.Minute; ttl < time.Second {
			ttl = time.Second
		}
	}
	return wrap(s.c.Set(ctx, s.prefix+"allow:"+e.Key, v, ttl).Err())
}

// AllowLookup implements store.Store.
func (s *Store) AllowLookup(ctx context.Context, keys []string, now time.Time) (store.AllowEntry, bool, error) {
	if len(keys) == 0 {
		return store.AllowEntry{}, false, nil
	}
	cmds := make([]*goredis.StringCmd, len(keys))
	_, err := s.c.Pipelined(ctx, func(p goredis.Pipeliner) error {
		for i, k := range keys {
			cmds[i] = p.Get(ctx, s.prefix+"allow:"+k)
		}
		return nil
	})
	if err != nil && !errors.Is(err, goredis.Nil) {
		return store.AllowEntry{}, false, wrap(err)
	}
	for _, c := range cmds {
		b, err := c.Bytes()
		if err != nil {
			continue
		}
		var e store.AllowEntry
		if json.Unmarshal(b, &e) == nil && !e.Expired(now) {
			return e, true, nil
		}
	}
	return store.AllowEntry{}, false, nil
}

// AllowList implements store.Store.
func (s *Store) AllowList(ctx context.Context, now time.Time, limit int) ([]store.AllowEntry, error) {
	limit = store.DefaultLimit(limit, 1000)
	keys, err := s.scan(ctx, s.prefix+"allow:", 100*limit)
	if err != nil {
		return nil, err
	}
	cmds := make([]*goredis.StringCmd, len(keys))
	_, err = s.c.Pipelined(ctx, func(p goredis.Pipeliner) error {
		for i, k := range keys {
			cmds[i] = p.Get(ctx, k)
		}
		return nil
	})
	if err != nil && !errors.Is(err, goredis.Nil) {
		return nil, wrap(err)
	}
	var out []store.AllowEntry
	for _, c := range cmds {
		var e store.AllowEntry
		if b, err := c.Bytes(); err == nil && json.Unmarshal(b, &e) == nil && !e.Expired(now) {
			out = append(out, e)
		}
	}
	slices.SortFunc(out, func(a, b store.AllowEntry) int { return strings.Compare(a.Key, b.Key) })
	if len(out) > limit {
		out = out[:limit]
	}
	return out, nil
}

// AllowDelete implements store.Store.
func (s *Store) AllowDelete(ctx context.Context, key string) (bool, error) {
	n, err := s.c.Del(ctx, s.prefix+"allow:"+key).Result()
	return n > 0, wrap(err)
}
