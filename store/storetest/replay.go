package storetest

import (
	"sync"
	"testing"
	"time"

	"github.com/hamlet-mail/hamlet/store"
)

// RunReplay runs the DKIM replay counter suite (store.DKIMReplay).
func RunReplay(t *testing.T, open Opener) {
	get := func(t *testing.T) store.DKIMReplay { return openAs[store.DKIMReplay](t, open) }
	t.Run("Counts", func(t *testing.T) { testReplayCounts(t, get(t)) })
	t.Run("Concurrent", func(t *testing.T) { testReplayConcurrent(t, get(t)) })
	t.Run("Retries", func(t *testing.T) { testReplayRetries(t, get(t)) })
	t.Run("Invalid", func(t *testing.T) {
		r := get(t)
		for _, c := range []struct {
			s      store.ReplaySighting
			window time.Duration
			limit  int
		}{
			{store.ReplaySighting{Key: ""}, time.Hour, 10},
			{store.ReplaySighting{Key: "k"}, 0, 10},
			{store.ReplaySighting{Key: "k"}, time.Hour, 0},
			{store.ReplaySighting{Key: "k"}, time.Hour, 70000},
		} {
			if _, err := r.ReplaySee(ctx(t), T0, c.window, c.limit, c.s); err == nil {
				t.Errorf("ReplaySee(%+v, %v, %d) accepted", c.s, c.window, c.limit)
			}
		}
	})
}

func see(t *testing.T, r store.DKIMReplay, now time.Time, s ...store.ReplaySighting) []store.ReplayCounts {
	t.Helper()
	out, err := r.ReplaySee(ctx(t), now, 24*time.Hour, 5, s...)
	if err != nil {
		t.Fatal(err)
	}
	if len(out) != len(s) {
		t.Fatalf("%d counts for %d sightings", len(out), len(s))
	}
	return out
}

func testReplayCounts(t *testing.T, r store.DKIMReplay) {
	a := func(net uint64, rcpts ...uint64) store.ReplaySighting {
		return store.ReplaySighting{Key: "d=example.com:b=aaaa", Network: net, Rcpts: rcpts}
	}
	steps := []struct {
		at   time.Duration
		s    store.ReplaySighting
		want store.ReplayCounts
	}{
		{0, a(1, 10), store.ReplayCounts{Messages: 1, Networks: 1, Recipients: 1}},
		{time.Hour, a(1, 10, 11), store.ReplayCounts{Messages: 2, Networks: 1, Recipients: 2}},
		{2 * time.Hour, a(2, 12), store.ReplayCounts{Messages: 3, Networks: 2, Recipients: 3}},
		// The limit (5) bounds what is kept: 7 recipients count as 5.
		{3 * time.Hour, a(3, 13, 14, 15, 16), store.ReplayCounts{Messages: 4, Networks: 3, Recipients: 5}},
		{4 * time.Hour, a(4), store.ReplayCounts{Messages: 5, Networks: 4, Recipients: 5}},
		{5 * time.Hour, a(5), store.ReplayCounts{Messages: 6, Networks: 5, Recipients: 5}},
		{6 * time.Hour, a(6), store.ReplayCounts{Messages: 7, Networks: 5, Recipients: 5}},
		// Past the window (24 h from the first sighting) the entry starts afresh.
		{24 * time.Hour, a(7, 20), store.ReplayCounts{Messages: 1, Networks: 1, Recipients: 1}},
	}
	for i, s := range steps {
		got := see(t, r, T0.Add(s.at), s.s)[0]
		first := T0
		if s.at >= 24*time.Hour {
			first = T0.Add(24 * time.Hour)
		}
		s.want.First = first
		if !got.First.Equal(s.want.First) || got.Messages != s.want.Messages || got.Networks != s.want.Networks || got.Recipients != s.want.Recipients {
			t.Errorf("step %d (+%v): %+v, want %+v", i, s.at, got, s.want)
		}
	}
	// Another signature is counted apart, also within one call.
	got := see(t, r, T0.Add(25*time.Hour), store.ReplaySighting{Key: "d=example.com:b=bbbb", Network: 1}, a(8))
	if got[0].Messages != 1 || got[1].Messages != 2 || got[1].Networks != 2 {
		t.Errorf("two signatures in one call: %+v", got)
	}
}

func testReplayConcurrent(t *testing.T, r store.DKIMReplay) {
	var wg sync.WaitGroup
	const n = 8
	errs := make(chan error, n)
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for j := range 5 {
				if _, err := r.ReplaySee(ctx(t), T0, time.Hour, 100, store.ReplaySighting{Key: "k", Network: uint64(i), Rcpts: []uint64{uint64(100*i + j)}}); err != nil {
					errs <- err
					return
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	all, err := r.ReplaySee(ctx(t), T0, time.Hour, 100, store.ReplaySighting{Key: "k", Network: 0})
	if err != nil || all[0].Messages != n*5+1 || all[0].Networks != n || all[0].Recipients != n*5 {
		t.Errorf("after %d concurrent sightings and one more: %+v %v, want %d messages, %d networks, %d recipients", n*5, all, err, n*5+1, n, n*5)
	}
}

// testReplayRetries: a network counts only with a recipient new to the
// entry — the same message to the same users from other networks (an
// MTA retrying from another server of its pool, a user's forwarders) is
// not a replay.
func testReplayRetries(t *testing.T, r store.DKIMReplay) {
	a := func(net uint64, rcpts ...uint64) store.ReplaySighting {
		return store.ReplaySighting{Key: "d=example.com:b=cccc", Network: net, Rcpts: rcpts}
	}
	for i, s := range []struct {
		s          store.ReplaySighting
		nets, rcpt int
	}{
		{a(1, 10, 11), 1, 2},
		{a(2, 10), 1, 2},     // a retry from another network
		{a(3, 11, 10), 1, 2}, // again, the recipients in another order
		{a(4, 12), 2, 3},     // a new recipient: the network counts
		{a(5, 10, 13), 3, 4}, // one new among old ones: counts
		{a(6, 10, 11), 3, 4},
		{a(7), 4, 4},     // no recipients known (an HTTP scan): counts
		{a(8, 14), 5, 5}, // at the limit (5)
		{a(9, 10), 5, 5}, // networks at the limit too
	} {
		got := see(t, r, T0.Add(time.Duration(i)*time.Minute), s.s)[0]
		if got.Messages != int64(i+1) || got.Networks != s.nets || got.Recipients != s.rcpt {
			t.Errorf("sighting %d %+v: %+v, want %d networks, %d recipients", i, s.s, got, s.nets, s.rcpt)
		}
	}
	// With the recipients at the limit a new one cannot be told from an
	// old one: the network counts.
	b := func(net uint64, rcpts ...uint64) store.ReplaySighting {
		return store.ReplaySighting{Key: "d=example.com:b=dddd", Network: net, Rcpts: rcpts}
	}
	see(t, r, T0, b(1, 1, 2, 3, 4, 5))
	if got := see(t, r, T0, b(2, 1))[0]; got.Networks != 2 || got.Recipients != 5 {
		t.Errorf("recipients at the limit, another network: %+v, want 2 networks", got)
	}
}
