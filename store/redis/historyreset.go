package redis

import (
	"context"

	goredis "github.com/redis/go-redis/v9"
)

// HistoryReset removes every history record (rspamd's /historyreset);
// statistics stay. It returns how many records it removed.
func (s *Store) HistoryReset(ctx context.Context) (int, error) {
	k := s.prefix + "history"
	n, err := s.c.ZCard(ctx, k).Result()
	if err != nil {
		return 0, wrap(err)
	}
	// The index blocks of the records go too (older ones expire).
	first, _ := s.c.ZRangeWithScores(ctx, k, 0, 0).Result()
	last, _ := s.c.ZRevRangeWithScores(ctx, k, 0, 0).Result()
	if err := s.c.Del(ctx, k).Err(); err != nil {
		return 0, wrap(err)
	}
	if len(first) > 0 && len(last) > 0 {
		_, err := s.c.Pipelined(ctx, func(p goredis.Pipeliner) error {
			for blk := blockOf(int64(first[0].Score)); blk <= int64(last[0].Score); blk += blockMs {
				p.Del(ctx, s.idxKey(blk))
			}
			return nil
		})
		if err != nil {
			return int(n), wrap(err)
		}
	}
	return int(n), nil
}
