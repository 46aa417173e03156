package bolt

import (
	"context"
	"testing"
	"time"

	bbolt "go.etcd.io/bbolt"

	"github.com/hamlet-mail/hamlet/store"
	"github.com/hamlet-mail/hamlet/store/storetest"
)

// TestReplaySwept: Sweep removes replay entries past their window and
// keeps the others.
func TestReplaySwept(t *testing.T) {
	s := openTemp(t, store.Options{}).(*Store)
	ctx := context.Background()
	t0 := storetest.T0
	if _, err := s.ReplaySee(ctx, t0, time.Hour, 10, store.ReplaySighting{Key: "old", Network: 1}); err != nil {
		t.Fatal(err)
	}
	if _, err := s.ReplaySee(ctx, t0.Add(90*time.Minute), time.Hour, 10, store.ReplaySighting{Key: "new", Network: 1}); err != nil {
		t.Fatal(err)
	}
	n, err := s.Sweep(ctx, t0.Add(2*time.Hour))
	if err != nil || n != 1 {
		t.Fatalf("Sweep = %d, %v; want 1", n, err)
	}
	var keys []string
	s.db.View(func(tx *bbolt.Tx) error {
		return tx.Bucket(bReplay).ForEach(func(k, _ []byte) error { keys = append(keys, string(k)); return nil })
	})
	if len(keys) != 1 || keys[0] != "new" {
		t.Errorf("left after the sweep: %v, want [new]", keys)
	}
}
