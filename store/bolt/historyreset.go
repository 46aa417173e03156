package bolt

import (
	"context"

	bbolt "go.etcd.io/bbolt"
)

// HistoryReset removes every history record (rspamd's /historyreset);
// statistics stay. It returns how many records it removed.
func (s *Store) HistoryReset(ctx context.Context) (int, error) {
	var n int
	err := s.update(ctx, func(tx *bbolt.Tx) error {
		n = tx.Bucket(bHistory).Stats().KeyN
		if err := tx.DeleteBucket(bHistory); err != nil {
			return err
		}
		if _, err := tx.CreateBucket(bHistory); err != nil {
			return err
		}
		if err := putU64(tx.Bucket(bMeta), countKey(bHistory), 0); err != nil {
			return err
		}
		return trimIndex(tx)
	})
	return n, err
}
