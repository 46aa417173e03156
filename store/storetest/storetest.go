// Package storetest is the conformance suite every store.Store
// implementation runs: the same table of operations against the embedded
// and the Redis store, and a model check of the greylist and counter state
// machines against store.ApplyAttempt and store.ApplyCounter.
package storetest

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"reflect"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/hamlet-mail/hamlet/store"
)

// Opener opens a fresh, empty store with the given options.
type Opener func(t *testing.T, opts store.Options) store.Store

// openAs opens a store with default options and returns it as the
// optional interface T its suite tests, failing when it does not have it.
func openAs[T any](t *testing.T, open Opener) T {
	t.Helper()
	s := open(t, store.Options{})
	v, ok := s.(T)
	if !ok {
		t.Fatalf("%T does not implement %v", s, reflect.TypeFor[T]())
	}
	return v
}

// T0 is the fake clock's start in every test.
var T0 = time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)

// Params are postgrey's defaults.
var Params = store.GreylistParams{Delay: 5 * time.Minute, RetryWindow: 48 * time.Hour, PassTTL: 35 * 24 * time.Hour}

// Run runs the whole suite.
func Run(t *testing.T, open Opener) {
	t.Run("GreylistStates", func(t *testing.T) { testGreylistStates(t, open(t, store.Options{})) })
	t.Run("GreylistModel", func(t *testing.T) { testGreylistModel(t, open(t, store.Options{})) })
	t.Run("GreylistAdmin", func(t *testing.T) { testGreylistAdmin(t, open(t, store.Options{})) })
	t.Run("GreylistConcurrent", func(t *testing.T) { testGreylistConcurrent(t, open(t, store.Options{})) })
	t.Run("Allow", func(t *testing.T) { testAllow(t, open(t, store.Options{})) })
	t.Run("Counter", func(t *testing.T) { testCounter(t, open(t, store.Options{})) })
	t.Run("CounterConcurrent", func(t *testing.T) { testCounterConcurrent(t, open(t, store.Options{})) })
	t.Run("History", func(t *testing.T) {
		testHistory(t, open(t, store.Options{HistoryMaxCount: 5, HistoryMaxAge: 24 * time.Hour}))
	})
	t.Run("HistoryBatch", func(t *testing.T) {
		testHistoryBatch(t, open(t, store.Options{HistoryMaxCount: 5, HistoryMaxAge: 24 * time.Hour}))
	})
	t.Run("HistoryIndex", func(t *testing.T) {
		testHistoryIndex(t, open(t, store.Options{HistoryMaxCount: 400, HistoryMaxAge: 365 * 24 * time.Hour}))
	})
	t.Run("Stats", func(t *testing.T) { testStats(t, open(t, store.Options{})) })
	t.Run("Tally", func(t *testing.T) { testTally(t, open(t, store.Options{})) })
	t.Run("TallyConcurrent", func(t *testing.T) { testTallyConcurrent(t, open(t, store.Options{})) })
	t.Run("Invalid", func(t *testing.T) { testInvalid(t, open(t, store.Options{})) })
	t.Run("Sweep", func(t *testing.T) { testSweep(t, open(t, store.Options{})) })
	t.Run("Bayes", func(t *testing.T) { RunBayes(t, open) })
	t.Run("Fuzzy", func(t *testing.T) { RunFuzzy(t, open) })
	t.Run("Replay", func(t *testing.T) { RunReplay(t, open) })
}

func ctx(t *testing.T) context.Context {
	c, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	t.Cleanup(cancel)
	return c
}

func attempt(t *testing.T, s store.Store, key string, now time.Time) store.GreylistEntry {
	t.Helper()
	e, err := s.GreylistAttempt(ctx(t), key, now, Params)
	if err != nil {
		t.Fatalf("GreylistAttempt(%q, %v): %v", key, now, err)
	}
	return e
}

func testGreylistStates(t *testing.T, s store.Store) {
	const k = "net:192.0.2.0/24|a@example.org|b@example.net"
	steps := []struct {
		at              time.Duration
		waiting         bool
		blocked, passes int64
		first           time.Duration
	}{
		{0, true, 1, 0, 0},                    // first attempt
		{time.Minute, true, 2, 0, 0},          // early retry: the delay does not restart
		{5 * time.Minute, false, 2, 1, 0},     // exactly at the delay: passes
		{6 * time.Minute, false, 2, 2, 0},     // passed: counts deliveries
		{34 * 24 * time.Hour, false, 2, 3, 0}, // within pass_ttl of the last delivery
		// 35 days + 1 ms after the last delivery: expired, a first attempt again
		{34*24*time.Hour + 35*24*time.Hour + time.Millisecond, true, 1, 0, 34*24*time.Hour + 35*24*time.Hour + time.Millisecond},
	}
	for i, st := range steps {
		now := T0.Add(st.at)
		e := attempt(t, s, k, now)
		if e.Waiting() != st.waiting || e.Blocked != st.blocked || e.Passes != st.passes || !e.FirstSeen.Equal(T0.Add(st.first)) || !e.LastSeen.Equal(now) || e.Key != k {
			t.Errorf("step %d (+%v): got %+v; want waiting=%v blocked=%d passes=%d first=+%v", i, st.at, e, st.waiting, st.blocked, st.passes, st.first)
		}
		got, err := s.GreylistGet(ctx(t), k, now)
		if err != nil || got != e {
			t.Errorf("step %d: GreylistGet = %+v, %v; want %+v", i, got, err, e)
		}
	}
	// A waiting entry expires retry_window after its first attempt.
	const k2 = "k2"
	e := attempt(t, s, k2, T0)
	if want := T0.Add(Params.RetryWindow); !e.Expires.Equal(want) {
		t.Errorf("waiting entry expires %v, want %v", e.Expires, want)
	}
	if _, err := s.GreylistGet(ctx(t), k2, T0.Add(Params.RetryWindow+time.Millisecond)); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("GreylistGet after retry window: err = %v, want ErrNotFound", err)
	}
	e = attempt(t, s, k2, T0.Add(Params.RetryWindow+time.Second))
	if !e.Waiting() || e.Blocked != 1 || !e.FirstSeen.Equal(T0.Add(Params.RetryWindow+time.Second)) {
		t.Errorf("retry after window: %+v, want a new waiting entry", e)
	}
}

// testGreylistModel drives random attempt sequences over a few keys and
// compares each answer with store.ApplyAttempt run on a map.
func testGreylistModel(t *testing.T, s store.Store) {
	rng := rand.New(rand.NewPCG(1, 2))
	type st struct {
		e     store.GreylistEntry
		found bool
	}
	model := map[string]st{}
	keys := []string{"m1", "m2", "m3"}
	now := T0
	steps := []time.Duration{0, time.Second, time.Minute, 4 * time.Minute, 6 * time.Minute, 47 * time.Hour, 49 * time.Hour, 36 * 24 * time.Hour}
	for i := 0; i < 300; i++ {
		now = now.Add(steps[rng.IntN(len(steps))] + time.Duration(rng.IntN(1000))*time.Millisecond)
		k := keys[rng.IntN(len(keys))]
		m := model[k]
		want := store.ApplyAttempt(m.e, m.found, k, now, Params)
		model[k] = st{want, true}
		got := attempt(t, s, k, now)
		if got != want {
			t.Fatalf("op %d key %s at %v: store %+v, model %+v", i, k, now, got, want)
		}
	}
}

func testGreylistAdmin(t *testing.T, s store.Store) {
	c := ctx(t)
	for i := range 5 {
		attempt(t, s, fmt.Sprintf("adm%d", i), T0.Add(time.Duration(i)*time.Hour))
	}
	// adm0 was first seen at T0 and expires at T0+48h: list at T0+48h30m.
	list, err := s.GreylistList(c, T0.Add(48*time.Hour+30*time.Minute), 0)
	if err != nil {
		t.Fatal(err)
	}
	var keys []string
	for _, e := range list {
		keys = append(keys, e.Key)
	}
	slices.Sort(keys)
	if want := []string{"adm1", "adm2", "adm3", "adm4"}; !slices.Equal(keys, want) {
		t.Errorf("GreylistList = %v, want %v", keys, want)
	}
	if l, _ := s.GreylistList(c, T0.Add(5*time.Hour), 2); len(l) != 2 {
		t.Errorf("GreylistList limit 2 returned %d", len(l))
	}
	ok, err := s.GreylistDelete(c, "adm3")
	if err != nil || !ok {
		t.Errorf("GreylistDelete(adm3) = %v, %v", ok, err)
	}
	if ok, err := s.GreylistDelete(c, "adm3"); err != nil || ok {
		t.Errorf("second GreylistDelete(adm3) = %v, %v; want false", ok, err)
	}
	if _, err := s.GreylistGet(c, "adm3", T0.Add(5*time.Hour)); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("GreylistGet after delete: %v", err)
	}
}

func testGreylistConcurrent(t *testing.T, s store.Store) {
	const n = 40
	var wg sync.WaitGroup
	errs := make(chan error, n)
	for range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if _, err := s.GreylistAttempt(context.Background(), "race", T0, Params); err != nil {
				errs <- err
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	e, err := s.GreylistGet(ctx(t), "race", T0)
	if err != nil || e.Blocked != n {
		t.Errorf("after %d concurrent attempts: %+v, %v; want Blocked=%d", n, e, err, n)
	}
}

func testAllow(t *testing.T, s store.Store) {
	c := ctx(t)
	perm := store.AllowEntry{Key: "net:192.0.2.0/24", Reason: "admin", Added: T0}
	tmp := store.AllowEntry{Key: "domain:example.org", Reason: "auto", Added: T0, Expires: T0.Add(time.Hour)}
	for _, e := range []store.AllowEntry{perm, tmp} {
		if err := s.AllowAdd(c, e); err != nil {
			t.Fatal(err)
		}
	}
	e, ok, err := s.AllowLookup(c, []string{"net:198.51.100.0/24", "domain:example.org", "net:192.0.2.0/24"}, T0)
	if err != nil || !ok || e.Key != tmp.Key || e.Reason != "auto" || !e.Expires.Equal(tmp.Expires) {
		t.Errorf("AllowLookup = %+v, %v, %v; want the first matching key %q", e, ok, err, tmp.Key)
	}
	e, ok, err = s.AllowLookup(c, []string{"domain:example.org", "net:192.0.2.0/24"}, T0.Add(2*time.Hour))
	if err != nil || !ok || e.Key != perm.Key {
		t.Errorf("AllowLookup after expiry = %+v, %v, %v; want %q", e, ok, err, perm.Key)
	}
	if _, ok, err := s.AllowLookup(c, []string{"net:203.0.113.0/24"}, T0); ok || err != nil {
		t.Errorf("AllowLookup(unknown) = %v, %v", ok, err)
	}
	if _, ok, err := s.AllowLookup(c, nil, T0); ok || err != nil {
		t.Errorf("AllowLookup(nil) = %v, %v", ok, err)
	}
	list, err := s.AllowList(c, T0, 0)
	if err != nil || len(list) != 2 || list[0].Key != tmp.Key || list[1].Key != perm.Key {
		t.Errorf("AllowList = %+v, %v; want both, sorted by key", list, err)
	}
	list, _ = s.AllowList(c, T0.Add(2*time.Hour), 0)
	if len(list) != 1 || list[0].Key != perm.Key {
		t.Errorf("AllowList after expiry = %+v", list)
	}
	if ok, err := s.AllowDelete(c, perm.Key); !ok || err != nil {
		t.Errorf("AllowDelete = %v, %v", ok, err)
	}
	if _, ok, _ := s.AllowLookup(c, []string{perm.Key}, T0); ok {
		t.Error("deleted entry still found")
	}
	if ok, err := s.AllowDelete(c, perm.Key); ok || err != nil {
		t.Errorf("AllowDelete again = %v, %v", ok, err)
	}
}

func testCounter(t *testing.T, s store.Store) {
	c := ctx(t)
	op := func(at time.Duration) store.CounterOp {
		return store.CounterOp{Now: T0.Add(at), TTL: 24 * time.Hour, MinInterval: time.Hour}
	}
	var model store.Counter
	found := false
	for i, at := range []time.Duration{0, 10 * time.Minute, time.Hour, 90 * time.Minute, 2 * time.Hour, 27 * time.Hour, 52 * time.Hour} {
		got, err := s.CounterIncr(c, "awl", op(at))
		if err != nil {
			t.Fatal(err)
		}
		model, found = store.ApplyCounter(model, found, op(at)), true
		if got != model {
			t.Errorf("incr %d at +%v: %+v, model %+v", i, at, got, model)
		}
	}
	// Values along the way: 1 (0), 1 (10m), 2 (1h), 2 (90m), 3 (2h), 4 (27h), then
	// 52h is more than 24h after 27h: expired, restarts at 1.
	if model.Value != 1 {
		t.Errorf("model value %d, want 1 after expiry", model.Value)
	}
	got, err := s.CounterGet(c, "awl", T0.Add(52*time.Hour))
	if err != nil || got.Value != 1 {
		t.Errorf("CounterGet = %+v, %v", got, err)
	}
	got, err = s.CounterGet(c, "awl", T0.Add(77*time.Hour))
	if err != nil || got.Value != 0 {
		t.Errorf("CounterGet after expiry = %+v, %v; want zero", got, err)
	}
	got, err = s.CounterIncr(c, "delta", store.CounterOp{Now: T0, TTL: time.Hour, Delta: 5})
	if err != nil || got.Value != 5 {
		t.Errorf("CounterIncr delta 5 = %+v, %v", got, err)
	}
	if ok, err := s.CounterDelete(c, "delta"); !ok || err != nil {
		t.Errorf("CounterDelete = %v, %v", ok, err)
	}
	if got, _ := s.CounterGet(c, "delta", T0); got.Value != 0 {
		t.Errorf("deleted counter = %+v", got)
	}
	if ok, err := s.CounterDelete(c, "delta"); ok || err != nil {
		t.Errorf("CounterDelete again = %v, %v", ok, err)
	}
}

func testCounterConcurrent(t *testing.T, s store.Store) {
	const n = 50
	var wg sync.WaitGroup
	for range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if _, err := s.CounterIncr(context.Background(), "cc", store.CounterOp{Now: T0, TTL: time.Hour}); err != nil {
				t.Error(err)
			}
		}()
	}
	wg.Wait()
	got, err := s.CounterGet(ctx(t), "cc", T0)
	if err != nil || got.Value != n {
		t.Errorf("after %d concurrent increments: %+v, %v", n, got, err)
	}
}

// testHistory expects HistoryMaxCount 5 and HistoryMaxAge 24h.
func testHistory(t *testing.T, s store.Store) {
	c := ctx(t)
	for i := range 8 {
		r := store.HistoryRecord{
			Time: T0.Add(time.Duration(i) * time.Minute), QueueID: fmt.Sprintf("Q%d", i), ClientIP: "192.0.2.1",
			From: "a@example.org", Rcpts: i, Action: "no action", Score: float64(i) / 2, Symbols: []string{"R_SPF_ALLOW", fmt.Sprint("S", i)},
		}
		if err := s.HistoryAdd(c, r); err != nil {
			t.Fatal(err)
		}
	}
	got, err := s.HistoryList(c, store.HistoryQuery{})
	if err != nil {
		t.Fatal(err)
	}
	var ids []string
	for _, r := range got {
		ids = append(ids, r.QueueID)
	}
	if want := []string{"Q7", "Q6", "Q5", "Q4", "Q3"}; !slices.Equal(ids, want) {
		t.Fatalf("HistoryList = %v, want %v (newest first, 5 kept)", ids, want)
	}
	r := got[0]
	if r.ID == "" || r.Rcpts != 7 || r.Score != 3.5 || !slices.Equal(r.Symbols, []string{"R_SPF_ALLOW", "S7"}) || !r.Time.Equal(T0.Add(7*time.Minute)) || r.From != "a@example.org" {
		t.Errorf("record round trip: %+v", r)
	}
	page, err := s.HistoryList(c, store.HistoryQuery{Before: got[1].Time, Limit: 2})
	if err != nil || len(page) != 2 || page[0].QueueID != "Q5" || page[1].QueueID != "Q4" {
		t.Errorf("HistoryList(before Q6, limit 2) = %+v, %v", page, err)
	}
	// A record a day and a half later pushes the old ones out by age.
	if err := s.HistoryAdd(c, store.HistoryRecord{Time: T0.Add(36 * time.Hour), QueueID: "late", Action: "reject"}); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Sweep(c, T0.Add(36*time.Hour)); err != nil {
		t.Fatal(err)
	}
	got, _ = s.HistoryList(c, store.HistoryQuery{})
	if len(got) != 1 || got[0].QueueID != "late" {
		t.Errorf("after age trim: %+v", got)
	}
	// Over-long fields are cut, not refused.
	long := make([]byte, 5000)
	for i := range long {
		long[i] = 'x'
	}
	if err := s.HistoryAdd(c, store.HistoryRecord{Time: T0.Add(37 * time.Hour), From: string(long), Action: "reject"}); err != nil {
		t.Fatal(err)
	}
	got, _ = s.HistoryList(c, store.HistoryQuery{Limit: 1})
	if len(got) != 1 || len(got[0].From) >= 5000 || len(got[0].From) == 0 {
		t.Errorf("long From kept as %d bytes", len(got[0].From))
	}
}

// testHistoryBatch expects HistoryMaxCount 5.
func testHistoryBatch(t *testing.T, s store.Store) {
	c := ctx(t)
	if err := s.HistoryAdd(c); err != nil {
		t.Errorf("empty HistoryAdd: %v", err)
	}
	var rs []store.HistoryRecord
	for i := range 7 {
		rs = append(rs, store.HistoryRecord{Time: T0.Add(time.Duration(i) * time.Second), QueueID: fmt.Sprint("B", i), Action: "no action"})
	}
	bad := append(append([]store.HistoryRecord(nil), rs[:2]...), store.HistoryRecord{QueueID: "no time"})
	if err := s.HistoryAdd(c, bad...); !errors.Is(err, store.ErrInvalid) {
		t.Errorf("batch with an invalid record: %v", err)
	}
	if got, _ := s.HistoryList(c, store.HistoryQuery{}); len(got) != 0 {
		t.Errorf("a refused batch wrote %d records", len(got))
	}
	if err := s.HistoryAdd(c, rs...); err != nil {
		t.Fatal(err)
	}
	got, err := s.HistoryList(c, store.HistoryQuery{})
	if err != nil {
		t.Fatal(err)
	}
	var ids []string
	seen := map[string]bool{}
	for _, r := range got {
		ids = append(ids, r.QueueID)
		if r.ID == "" || seen[r.ID] {
			t.Errorf("record ID %q empty or repeated", r.ID)
		}
		seen[r.ID] = true
	}
	if want := []string{"B6", "B5", "B4", "B3", "B2"}; !slices.Equal(ids, want) {
		t.Errorf("after a batch of 7 with max 5: %v, want %v", ids, want)
	}
}

func testStats(t *testing.T, s store.Store) {
	c := ctx(t)
	adds := []struct {
		at     time.Duration
		action string
		n      int64
	}{
		{0, "no action", 1}, {10 * time.Minute, "no action", 2}, {20 * time.Minute, "reject", 1},
		{70 * time.Minute, "greylist", 1}, {25 * time.Hour, "no action", 4},
	}
	for _, a := range adds {
		if err := s.StatsAdd(c, T0.Add(a.at), a.action, a.n); err != nil {
			t.Fatal(err)
		}
	}
	hours, err := s.Stats(c, store.Hourly, T0, T0.Add(48*time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	want := []store.StatsBucket{
		{Start: T0, Counts: map[string]int64{"no action": 3, "reject": 1}},
		{Start: T0.Add(time.Hour), Counts: map[string]int64{"greylist": 1}},
		{Start: T0.Add(25 * time.Hour), Counts: map[string]int64{"no action": 4}},
	}
	if !equalBuckets(hours, want) {
		t.Errorf("hourly = %+v\nwant %+v", hours, want)
	}
	days, err := s.Stats(c, store.Daily, T0.Add(-12*time.Hour), T0.Add(48*time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	want = []store.StatsBucket{
		{Start: store.Daily.Truncate(T0), Counts: map[string]int64{"no action": 3, "reject": 1, "greylist": 1}},
		{Start: store.Daily.Truncate(T0.Add(25 * time.Hour)), Counts: map[string]int64{"no action": 4}},
	}
	if !equalBuckets(days, want) {
		t.Errorf("daily = %+v\nwant %+v", days, want)
	}
	hours, _ = s.Stats(c, store.Hourly, T0.Add(time.Hour), T0.Add(2*time.Hour))
	if len(hours) != 1 || hours[0].Counts["greylist"] != 1 {
		t.Errorf("one-hour window = %+v", hours)
	}
}

func equalBuckets(a, b []store.StatsBucket) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if !a[i].Start.Equal(b[i].Start) || len(a[i].Counts) != len(b[i].Counts) {
			return false
		}
		for k, v := range b[i].Counts {
			if a[i].Counts[k] != v {
				return false
			}
		}
	}
	return true
}

func testTally(t *testing.T, s store.Store) {
	c := ctx(t)
	day := T0.Add(24 * time.Hour)
	row1 := `{"ip":"192.0.2.1","disposition":"none","dkim":"pass","spf":"pass"}`
	row2 := `{"ip":"198.51.100.7","disposition":"reject","dkim":"fail","spf":"fail"}`
	if err := s.TallyAdd(c, "dmarc:example.org:20260301", map[string]int64{row1: 1}, T0, day); err != nil {
		t.Fatal(err)
	}
	if err := s.TallyAdd(c, "dmarc:example.org:20260301", map[string]int64{row1: 2, row2: 1}, T0.Add(time.Hour), day); err != nil {
		t.Fatal(err)
	}
	if err := s.TallyAdd(c, "dmarc:example.com:20260301", map[string]int64{row2: 5}, T0, day.Add(time.Hour)); err != nil {
		t.Fatal(err)
	}
	if err := s.TallyAdd(c, "other:x", map[string]int64{"r": 1}, T0, day); err != nil {
		t.Fatal(err)
	}
	got, err := s.TallyGet(c, "dmarc:example.org:20260301", T0.Add(2*time.Hour))
	if err != nil || len(got) != 2 || got[row1] != 3 || got[row2] != 1 {
		t.Errorf("TallyGet = %v, %v; want row1=3 row2=1", got, err)
	}
	names, err := s.TallyList(c, "dmarc:", T0, 0)
	if err != nil || !slices.Equal(names, []string{"dmarc:example.com:20260301", "dmarc:example.org:20260301"}) {
		t.Errorf("TallyList(dmarc:) = %v, %v", names, err)
	}
	if names, _ := s.TallyList(c, "dmarc:", T0, 1); len(names) != 1 {
		t.Errorf("TallyList limit 1 = %v", names)
	}
	// Expiry: example.org's tally expires at day, example.com's an hour later.
	after := day.Add(time.Minute)
	if _, err := s.TallyGet(c, "dmarc:example.org:20260301", after); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("TallyGet after expiry: %v", err)
	}
	if names, _ := s.TallyList(c, "dmarc:", after, 0); !slices.Equal(names, []string{"dmarc:example.com:20260301"}) {
		t.Errorf("TallyList after one expired = %v", names)
	}
	// Adding to an expired tally starts it afresh.
	if err := s.TallyAdd(c, "dmarc:example.org:20260301", map[string]int64{row2: 1}, after, after.Add(time.Hour)); err != nil {
		t.Fatal(err)
	}
	if got, _ := s.TallyGet(c, "dmarc:example.org:20260301", after); len(got) != 1 || got[row2] != 1 {
		t.Errorf("re-added expired tally = %v", got)
	}
	// A later expiry extends a tally, an earlier one does not shorten it.
	if err := s.TallyAdd(c, "other:x", map[string]int64{"r": 1}, T0, T0.Add(time.Hour)); err != nil {
		t.Fatal(err)
	}
	if got, err := s.TallyGet(c, "other:x", day); err != nil || got["r"] != 2 {
		t.Errorf("tally shortened by an earlier expiry: %v, %v", got, err)
	}
	if ok, err := s.TallyDelete(c, "other:x"); !ok || err != nil {
		t.Errorf("TallyDelete = %v, %v", ok, err)
	}
	if ok, err := s.TallyDelete(c, "other:x"); ok || err != nil {
		t.Errorf("TallyDelete again = %v, %v", ok, err)
	}
	if _, err := s.TallyGet(c, "other:x", T0); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("TallyGet after delete: %v", err)
	}
	for _, bad := range []map[string]int64{{"": 1}, {"\x00expires": 1}} {
		if err := s.TallyAdd(c, "t", bad, T0, day); !errors.Is(err, store.ErrInvalid) {
			t.Errorf("TallyAdd(%v): %v", bad, err)
		}
	}
	// Too many rows: refused whole.
	big := make(map[string]int64, store.MaxTallyRows+1)
	for i := range store.MaxTallyRows + 1 {
		big[fmt.Sprint("row", i)] = 1
	}
	if err := s.TallyAdd(c, "big", big, T0, day); !errors.Is(err, store.ErrFull) {
		t.Errorf("TallyAdd of %d rows: %v, want ErrFull", len(big), err)
	}
	if got, err := s.TallyGet(c, "big", T0); err == nil && len(got) != 0 {
		t.Errorf("a refused TallyAdd wrote %d rows", len(got))
	}
	// Sweeping removes expired tallies and keeps live ones.
	if _, err := s.Sweep(c, day.Add(3*time.Hour)); err != nil {
		t.Fatal(err)
	}
	if names, err := s.TallyList(c, "", day.Add(3*time.Hour), 0); len(names) != 0 || err != nil {
		t.Errorf("after sweep: %v, %v", names, err)
	}
}

func testTallyConcurrent(t *testing.T, s store.Store) {
	var wg sync.WaitGroup
	for i := range 40 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			rows := map[string]int64{"all": 1, fmt.Sprint("r", i%4): 1}
			if err := s.TallyAdd(context.Background(), "conc", rows, T0, T0.Add(time.Hour)); err != nil {
				t.Error(err)
			}
		}()
	}
	wg.Wait()
	got, err := s.TallyGet(ctx(t), "conc", T0)
	if err != nil || got["all"] != 40 || got["r0"] != 10 || got["r3"] != 10 || len(got) != 5 {
		t.Errorf("after 40 concurrent adds: %v, %v", got, err)
	}
}

func testInvalid(t *testing.T, s store.Store) {
	c := ctx(t)
	long := string(make([]byte, store.MaxKeyLen+1))
	if _, err := s.GreylistAttempt(c, "", T0, Params); !errors.Is(err, store.ErrInvalid) {
		t.Errorf("empty key: %v", err)
	}
	if _, err := s.GreylistAttempt(c, long, T0, Params); !errors.Is(err, store.ErrInvalid) {
		t.Errorf("long key: %v", err)
	}
	if _, err := s.GreylistAttempt(c, "k", T0, store.GreylistParams{Delay: time.Hour, RetryWindow: time.Minute, PassTTL: time.Hour}); !errors.Is(err, store.ErrInvalid) {
		t.Errorf("window shorter than delay: %v", err)
	}
	if err := s.AllowAdd(c, store.AllowEntry{}); !errors.Is(err, store.ErrInvalid) {
		t.Errorf("empty allow key: %v", err)
	}
	if _, err := s.CounterIncr(c, "k", store.CounterOp{Now: T0}); !errors.Is(err, store.ErrInvalid) {
		t.Errorf("counter without TTL: %v", err)
	}
	if err := s.HistoryAdd(c, store.HistoryRecord{Action: "reject"}); !errors.Is(err, store.ErrInvalid) {
		t.Errorf("history without time: %v", err)
	}
	if err := s.StatsAdd(c, T0, "", 1); !errors.Is(err, store.ErrInvalid) {
		t.Errorf("stats without action: %v", err)
	}
	cancelled, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := s.GreylistAttempt(cancelled, "k", T0, Params); err == nil {
		t.Error("cancelled context: no error")
	}
}

func testSweep(t *testing.T, s store.Store) {
	c := ctx(t)
	attempt(t, s, "old", T0)
	attempt(t, s, "new", T0.Add(47*time.Hour))
	if err := s.AllowAdd(c, store.AllowEntry{Key: "a-old", Added: T0, Expires: T0.Add(time.Hour)}); err != nil {
		t.Fatal(err)
	}
	if err := s.AllowAdd(c, store.AllowEntry{Key: "a-perm", Added: T0}); err != nil {
		t.Fatal(err)
	}
	if _, err := s.CounterIncr(c, "c-old", store.CounterOp{Now: T0, TTL: time.Hour}); err != nil {
		t.Fatal(err)
	}
	now := T0.Add(49 * time.Hour)
	if _, err := s.Sweep(c, now); err != nil {
		t.Fatal(err)
	}
	// Whatever a backend reclaims physically, nothing expired is visible
	// and nothing live was lost.
	if _, err := s.GreylistGet(c, "old", now); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("old entry after sweep: %v", err)
	}
	if _, err := s.GreylistGet(c, "new", now); err != nil {
		t.Errorf("live entry lost by sweep: %v", err)
	}
	if _, ok, _ := s.AllowLookup(c, []string{"a-perm"}, now); !ok {
		t.Error("permanent allow entry lost by sweep")
	}
	if l, _ := s.AllowList(c, now, 0); len(l) != 1 {
		t.Errorf("AllowList after sweep: %+v", l)
	}
}
