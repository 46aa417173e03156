package redis

import "context"

// HistoryReset removes every history record (rspamd's /historyreset);
// statistics stay. It returns how many records it removed.
func (s *Store) HistoryReset(ctx context.Context) (int, error) {
	k := s.prefix + "history"
	n, err := s.c.ZCard(ctx, k).Result()
	if err != nil {
		return 0, wrap(err)
	}
	if err := s.c.Del(ctx, k).Err(); err != nil {
		return 0, wrap(err)
	}
	return int(n), nil
}
