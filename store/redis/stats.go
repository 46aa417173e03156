package redis

import (
	"context"
	"fmt"
	"strconv"
	"time"

	goredis "github.com/redis/go-redis/v9"

	"github.com/hamlet-mail/hamlet/store"
)

func (s *Store) statsKey(res store.Resolution, start time.Time) string {
	tag := "h"
	if res == store.Daily {
		tag = "d"
	}
	return s.prefix + "stats:" + tag + ":" + strconv.FormatInt(start.Unix(), 10)
}

// StatsAdd implements store.Store. The two buckets are two keys (two
// Cluster slots), each updated atomically by HINCRBY.
func (s *Store) StatsAdd(ctx context.Context, t time.Time, action string, n int64) error {
	if err := store.CheckAction(action); err != nil {
		return err
	}
	if t.IsZero() {
		return fmt.Errorf("%w: stats time is zero", store.ErrInvalid)
	}
	_, err := s.c.Pipelined(ctx, func(p goredis.Pipeliner) error {
		for _, r := range []struct {
			res  store.Resolution
			keep time.Duration
		}{{store.Hourly, s.opts.StatsHourlyKeep}, {store.Daily, s.opts.StatsDailyKeep}} {
			k := s.statsKey(r.res, r.res.Truncate(t))
			p.HIncrBy(ctx, k, action, n)
			p.Expire(ctx, k, r.keep)
		}
		return nil
	})
	return wrap(err)
}

// maxStatsBuckets bounds the buckets one Stats call reads.
const maxStatsBuckets = 24 * 400

// Stats implements store.Store.
func (s *Store) Stats(ctx context.Context, res store.Resolution, from, to time.Time) ([]store.StatsBucket, error) {
	step := time.Hour
	if res == store.Daily {
		step = 24 * time.Hour
	}
	start := res.Truncate(from)
	if start.Before(from) {
		start = start.Add(step)
	}
	var starts []time.Time
	for t := start; t.Before(to) && len(starts) < maxStatsBuckets; t = t.Add(step) {
		starts = append(starts, t)
	}
	cmds := make([]*goredis.MapStringStringCmd, len(starts))
	_, err := s.c.Pipelined(ctx, func(p goredis.Pipeliner) error {
		for i, t := range starts {
			cmds[i] = p.HGetAll(ctx, s.statsKey(res, t))
		}
		return nil
	})
	if err != nil {
		return nil, wrap(err)
	}
	var out []store.StatsBucket
	for i, c := range cmds {
		m := c.Val()
		if len(m) == 0 {
			continue
		}
		counts := make(map[string]int64, len(m))
		for k, v := range m {
			if n, err := strconv.ParseInt(v, 10, 64); err == nil {
				counts[k] = n
			}
		}
		out = append(out, store.StatsBucket{Start: starts[i], Counts: counts})
	}
	return out, nil
}
