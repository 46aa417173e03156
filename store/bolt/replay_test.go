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

// TestReplayPersists: the counters kept in memory are written at Close
// (and after ReplayFlushDelay): a reopened store goes on counting.
func TestReplayPersists(t *testing.T) {
	path := t.TempDir()
	ctx := context.Background()
	t0 := storetest.T0
	s, err := Open(path, store.Options{SweepInterval: -1})
	if err != nil {
		t.Fatal(err)
	}
	for i := range 3 {
		if _, err := s.ReplaySee(ctx, t0, time.Hour, 10, store.ReplaySighting{Key: "k", Network: uint64(i)}); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	s, err = Open(path, store.Options{SweepInterval: -1})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	got, err := s.ReplaySee(ctx, t0, time.Hour, 10, store.ReplaySighting{Key: "k", Network: 9})
	if err != nil || got[0].Messages != 4 || got[0].Networks != 4 {
		t.Fatalf("after reopening: %+v %v, want 4 messages from 4 networks", got, err)
	}
	// Written after the delay without a Close (if never, the test runs
	// into go test's timeout).
	for {
		var v []byte
		s.db.View(func(tx *bbolt.Tx) error { v = tx.Bucket(bReplay).Get([]byte("k")); return nil })
		if r, ok := decodeReplay(v); ok && r.messages == 4 {
			break
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// TestReplayCloseDuringFlush: Close writes the counters that came in
// while a timer's flush was being written (it waited for that flush
// instead of returning at once, and lost them).
func TestReplayCloseDuringFlush(t *testing.T) {
	path := t.TempDir()
	ctx := context.Background()
	t0 := storetest.T0
	s, err := Open(path, store.Options{SweepInterval: -1})
	if err != nil {
		t.Fatal(err)
	}
	see := func(s *Store, key string) store.ReplayCounts {
		t.Helper()
		got, err := s.ReplaySee(ctx, t0, time.Hour, 10, store.ReplaySighting{Key: key, Network: 1})
		if err != nil {
			t.Fatal(err)
		}
		return got[0]
	}
	see(s, "a")
	// Hold the writer so that a flush of "a" stays in flight.
	tx, err := s.db.Begin(true)
	if err != nil {
		t.Fatal(err)
	}
	go s.flushReplay()
	for {
		s.replay.mu.Lock()
		inFlight := s.replay.flushing != nil
		s.replay.mu.Unlock()
		if inFlight {
			break
		}
		time.Sleep(time.Millisecond)
	}
	see(s, "b")
	closed := make(chan error, 1)
	go func() { closed <- s.Close() }()
	time.Sleep(100 * time.Millisecond) // let Close reach its flush
	if err := tx.Rollback(); err != nil {
		t.Fatal(err)
	}
	if err := <-closed; err != nil {
		t.Fatal(err)
	}
	s2, err := Open(path, store.Options{SweepInterval: -1})
	if err != nil {
		t.Fatal(err)
	}
	defer s2.Close()
	for _, k := range []string{"a", "b"} {
		if got := see(s2, k); got.Messages != 2 {
			t.Errorf("%s after reopening: %+v, want its second message (the first was lost)", k, got)
		}
	}
}
