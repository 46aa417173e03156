package recorder

import (
	"context"
	"maps"
	"net/netip"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/hamlet-mail/hamlet/engine"
	"github.com/hamlet-mail/hamlet/store"
	"github.com/hamlet-mail/hamlet/store/bolt"
)

var t0 = time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)

func TestRecorder(t *testing.T) {
	st, err := bolt.Open(t.TempDir(), store.Options{SweepInterval: -1})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	now := t0
	r := New(st, Options{Now: func() time.Time { return now }})
	tx := &engine.Transaction{QueueID: "ABC", ClientIP: netip.MustParseAddr("192.0.2.1"), MailFrom: "a@example.org", Rcpts: []string{"u@x", "v@x"}}
	v := &engine.Verdict{Action: engine.Reject, Score: 16.5, Symbols: []engine.ScoredSymbol{{Name: "RBL_X", Options: []string{"secret detail"}}, {Name: "R_SPF_FAIL"}}}
	r.Observe(tx, v, time.Millisecond)
	now = now.Add(2 * time.Hour)
	r.Observe(&engine.Transaction{}, &engine.Verdict{Action: engine.NoAction}, time.Millisecond)
	r.Close()
	r.Observe(tx, v, time.Millisecond) // after Close: dropped, no panic
	if w, f, d := r.Stats(); w != 2 || f != 0 || d != 1 {
		t.Errorf("stats written=%d failed=%d dropped=%d", w, f, d)
	}
	ctx := context.Background()
	h, err := st.HistoryList(ctx, store.HistoryQuery{})
	if err != nil || len(h) != 2 {
		t.Fatalf("history: %+v, %v", h, err)
	}
	got := h[1]
	if got.QueueID != "ABC" || got.ClientIP != "192.0.2.1" || got.From != "a@example.org" || got.Rcpts != 2 || got.Action != "reject" ||
		got.Score != 16.5 || !slices.Equal(got.Symbols, []string{"RBL_X", "R_SPF_FAIL"}) || !got.Time.Equal(t0) {
		t.Errorf("record: %+v", got)
	}
	if h[0].Action != "no action" || h[0].ClientIP != "" {
		t.Errorf("second record: %+v", h[0])
	}
	b, err := st.Stats(ctx, store.Hourly, t0, t0.Add(3*time.Hour))
	if err != nil || len(b) != 2 || b[0].Counts["reject"] != 1 || b[1].Counts["no action"] != 1 {
		t.Errorf("stats: %+v, %v", b, err)
	}
}

func TestRecorderStoreFailsAndQueueFull(t *testing.T) {
	st, err := bolt.Open(t.TempDir(), store.Options{SweepInterval: -1})
	if err != nil {
		t.Fatal(err)
	}
	st.Close() // every write fails
	r := New(st, Options{Queue: 1, Now: func() time.Time { return t0 }})
	for range 200 {
		r.Observe(&engine.Transaction{}, &engine.Verdict{}, 0) // must not block
	}
	r.Close()
	w, f, d := r.Stats()
	if w != 0 || f+d != 200 || f == 0 {
		t.Errorf("written=%d failed=%d dropped=%d", w, f, d)
	}
}

// A burst is written in batches: nothing dropped, every verdict counted.
func TestRecorderBurst(t *testing.T) {
	st, err := bolt.Open(t.TempDir(), store.Options{SweepInterval: -1, HistoryMaxCount: 500})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	r := New(st, Options{Queue: 4096, Now: func() time.Time { return t0 }})
	actions := []engine.Action{engine.NoAction, engine.Reject, engine.AddHeader}
	for i := range 3000 {
		r.Observe(&engine.Transaction{QueueID: "Q"}, &engine.Verdict{Action: actions[i%3]}, 0)
	}
	r.Close()
	if w, f, d := r.Stats(); w != 3000 || f != 0 || d != 0 {
		t.Fatalf("written=%d failed=%d dropped=%d", w, f, d)
	}
	h, _ := st.HistoryList(context.Background(), store.HistoryQuery{Limit: 10000})
	if len(h) != 500 {
		t.Errorf("history holds %d records, want the 500 newest", len(h))
	}
	b, err := st.Stats(context.Background(), store.Daily, t0.Add(-24*time.Hour), t0.Add(24*time.Hour))
	if err != nil || len(b) != 1 || b[0].Counts["no action"] != 1000 || b[0].Counts["reject"] != 1000 || b[0].Counts["add header"] != 1000 {
		t.Errorf("daily stats: %+v, %v", b, err)
	}
}

// countingStore counts HistoryAdd calls and their records.
type countingStore struct {
	store.Store
	mu    sync.Mutex
	calls []int
}

func (c *countingStore) HistoryAdd(ctx context.Context, rs ...store.HistoryRecord) error {
	c.mu.Lock()
	c.calls = append(c.calls, len(rs))
	c.mu.Unlock()
	return c.Store.HistoryAdd(ctx, rs...)
}

func (c *countingStore) writes() []int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return slices.Clone(c.calls)
}

// Verdicts that arrive within the linger time share one write; Close
// does not wait for the linger time to end.
func TestRecorderLingerGroupsWrites(t *testing.T) {
	st, err := bolt.Open(t.TempDir(), store.Options{SweepInterval: -1})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	cs := &countingStore{Store: st}
	r := New(cs, Options{Linger: time.Hour, Now: func() time.Time { return t0 }})
	r.Observe(&engine.Transaction{QueueID: "A"}, &engine.Verdict{}, 0)
	time.Sleep(50 * time.Millisecond) // without lingering, A is written alone meanwhile
	r.Observe(&engine.Transaction{QueueID: "B"}, &engine.Verdict{}, 0)
	r.Close()
	if got := cs.writes(); !slices.Equal(got, []int{2}) {
		t.Errorf("history writes %v, want one of 2 records", got)
	}
	if w, f, d := r.Stats(); w != 2 || f != 0 || d != 0 {
		t.Errorf("written=%d failed=%d dropped=%d", w, f, d)
	}
}

// A lone verdict is written when the linger time is over, without Close.
func TestRecorderLingerExpires(t *testing.T) {
	st, err := bolt.Open(t.TempDir(), store.Options{SweepInterval: -1})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	r := New(st, Options{Linger: 20 * time.Millisecond, Now: func() time.Time { return t0 }})
	defer r.Close()
	r.Observe(&engine.Transaction{QueueID: "A"}, &engine.Verdict{}, 0)
	for deadline := time.Now().Add(30 * time.Second); ; time.Sleep(10 * time.Millisecond) {
		if w, _, _ := r.Stats(); w == 1 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the verdict was never written")
		}
	}
	h, err := st.HistoryList(context.Background(), store.HistoryQuery{})
	if err != nil || len(h) != 1 || h[0].QueueID != "A" {
		t.Errorf("history %+v, %v", h, err)
	}
}

// More than a batch's worth is written in batches of at most maxBatch.
func TestRecorderLingerFullBatch(t *testing.T) {
	st, err := bolt.Open(t.TempDir(), store.Options{SweepInterval: -1})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	cs := &countingStore{Store: st}
	r := New(cs, Options{Queue: 4096, Linger: time.Hour, Now: func() time.Time { return t0 }})
	for range 3 * maxBatch {
		r.Observe(&engine.Transaction{}, &engine.Verdict{}, 0)
	}
	// Two full batches go out without waiting for the linger time.
	for deadline := time.Now().Add(30 * time.Second); len(cs.writes()) < 2; time.Sleep(10 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("writes %v: full batches waited for the linger time", cs.writes())
		}
	}
	r.Close()
	total := 0
	for _, n := range cs.writes() {
		if n > maxBatch {
			t.Errorf("a write of %d records (max %d)", n, maxBatch)
		}
		total += n
	}
	if total != 3*maxBatch {
		t.Errorf("%d records written, want %d", total, 3*maxBatch)
	}
}

// A message greylisting deferred counts as "soft reject", as rspamd
// counts it, and once more in the StatGreylisted row; a greylisting pass,
// another soft reject and a GREYLIST without options do not.
func TestRecorderGreylistedStats(t *testing.T) {
	st, err := bolt.Open(t.TempDir(), store.Options{SweepInterval: -1})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	r := New(st, Options{Now: func() time.Time { return t0 }})
	grey := func(a engine.Action, opts ...string) *engine.Verdict {
		return &engine.Verdict{Action: a, Symbols: []engine.ScoredSymbol{{Name: "A_SYM", Score: 4}, {Name: "GREYLIST", Options: opts}}}
	}
	for _, v := range []*engine.Verdict{
		grey(engine.SoftReject, "greylisted", "Sun, 01 Mar 2026 12:05:00 UTC"),
		grey(engine.SoftReject, "greylisted", "Sun, 01 Mar 2026 12:05:00 UTC"),
		grey(engine.NoAction, "pass", "retry"),
		grey(engine.SoftReject),
		{Action: engine.SoftReject, Symbols: []engine.ScoredSymbol{{Name: "CLAM_VIRUS", Options: []string{"greylisted"}}}},
	} {
		r.Observe(&engine.Transaction{QueueID: "Q"}, v, 0)
	}
	r.Close()
	for _, res := range []store.Resolution{store.Hourly, store.Daily} {
		b, err := st.Stats(context.Background(), res, t0.Add(-24*time.Hour), t0.Add(24*time.Hour))
		want := map[string]int64{"soft reject": 4, StatGreylisted: 2, "no action": 1}
		if err != nil || len(b) != 1 || !maps.Equal(b[0].Counts, want) {
			t.Errorf("%s stats: %+v, %v; want %v", res, b, err, want)
		}
	}
}
