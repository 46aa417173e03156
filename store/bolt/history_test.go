package bolt

import (
	"context"
	"encoding/hex"
	"encoding/json"
	"testing"
	"time"

	bbolt "go.etcd.io/bbolt"

	"github.com/hamlet-mail/hamlet/store"
)

// A record without an ID is stored with its key's (encoded before the
// transaction, the ID filled in it); one with an ID keeps it. Each
// value is the record's JSON as json.Marshal writes it.
func TestHistoryAddIDs(t *testing.T) {
	s, err := Open(t.TempDir(), store.Options{SweepInterval: -1})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	at := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	rs := []store.HistoryRecord{
		{Time: at, Action: "reject", Symbols: []string{"A"}, Hits: []store.HistoryHit{{Score: 1, Options: []string{"<x>"}}}},
		{Time: at.Add(time.Millisecond), ID: "mine", Action: "no action"},
		{Time: at.Add(2 * time.Millisecond), Action: "add header", From: "a@example.org"},
	}
	for range 2 {
		if err := s.HistoryAdd(context.Background(), rs...); err != nil {
			t.Fatal(err)
		}
	}
	n := 0
	err = s.db.View(func(tx *bbolt.Tx) error {
		return tx.Bucket(bHistory).ForEach(func(k, v []byte) error {
			var r store.HistoryRecord
			if err := json.Unmarshal(v, &r); err != nil {
				t.Fatalf("%x: %v", k, err)
			}
			var want store.HistoryRecord
			for _, x := range rs { // keys are in time order: the two batches interleave
				if x.Action == r.Action {
					want = x
				}
			}
			want.Time = store.FromMillis(store.Millis(want.Time))
			if want.ID == "" {
				want.ID = hex.EncodeToString(k)
			}
			if b, _ := json.Marshal(want); string(b) != string(v) {
				t.Errorf("stored\n%s\nwant\n%s", v, b)
			}
			n++
			return nil
		})
	})
	if err != nil || n != 6 {
		t.Errorf("%d records, %v", n, err)
	}
}
