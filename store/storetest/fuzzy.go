package storetest

import (
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/hamlet-mail/hamlet/store"
)

// RunFuzzy runs the near-duplicate hash suite (store.Fuzzy).
func RunFuzzy(t *testing.T, open Opener) {
	get := func(t *testing.T) store.Fuzzy { return openAs[store.Fuzzy](t, open) }
	t.Run("AddCheck", func(t *testing.T) { testFuzzyAddCheck(t, get(t)) })
	t.Run("Shingles", func(t *testing.T) { testFuzzyShingles(t, get(t)) })
	t.Run("Delete", func(t *testing.T) { testFuzzyDelete(t, get(t)) })
	t.Run("Expire", func(t *testing.T) { testFuzzyExpire(t, get(t)) })
	t.Run("Concurrent", func(t *testing.T) { testFuzzyConcurrent(t, get(t)) })
	t.Run("Invalid", func(t *testing.T) {
		f := get(t)
		for _, h := range []store.FuzzyHash{
			{Digest: "abc", Flag: 1},
			{Digest: digest(1)[:31] + "G", Flag: 1},
			{Digest: digest(1), Flag: 0},
			{Digest: digest(1), Flag: 1, Shingles: []uint64{1, 2}},
		} {
			if err := f.FuzzyAdd(ctx(t), T0, h); err == nil {
				t.Errorf("FuzzyAdd(%+v) accepted", h)
			}
		}
		if _, err := f.FuzzyDelete(ctx(t), "nope"); err == nil {
			t.Error("FuzzyDelete of a malformed digest accepted")
		}
	})
}

// digest returns a valid digest for n.
func digest(n int) string { return fmt.Sprintf("%032x", n) }

// shingles returns 32 shingles, from base on.
func shingles(base uint64) []uint64 {
	s := make([]uint64, store.FuzzyShingles)
	for i := range s {
		s[i] = base + uint64(i)
	}
	return s
}

func fuzzyCheck(t *testing.T, f store.Fuzzy, notBefore time.Time, qs ...store.FuzzyQuery) []store.FuzzyMatch {
	t.Helper()
	out, err := f.FuzzyCheck(ctx(t), notBefore, qs)
	if err != nil {
		t.Fatal(err)
	}
	if len(out) != len(qs) {
		t.Fatalf("%d answers to %d queries", len(out), len(qs))
	}
	return out
}

func fuzzyAdd(t *testing.T, f store.Fuzzy, now time.Time, hs ...store.FuzzyHash) {
	t.Helper()
	if err := f.FuzzyAdd(ctx(t), now, hs...); err != nil {
		t.Fatal(err)
	}
}

func fuzzyCount(t *testing.T, f store.Fuzzy) int64 {
	t.Helper()
	st, err := f.FuzzyStats(ctx(t))
	if err != nil {
		t.Fatal(err)
	}
	return st.Hashes
}

func testFuzzyAddCheck(t *testing.T, f store.Fuzzy) {
	if got := fuzzyCheck(t, f, time.Time{}, store.FuzzyQuery{Digest: digest(1)}); got[0].Found {
		t.Fatalf("empty store found %+v", got[0])
	}
	if n := fuzzyCount(t, f); n != 0 {
		t.Fatalf("empty store has %d hashes", n)
	}
	fuzzyAdd(t, f, T0, store.FuzzyHash{Digest: digest(1), Flag: 1, Value: 5})
	fuzzyAdd(t, f, T0.Add(time.Hour), store.FuzzyHash{Digest: digest(1), Flag: 1, Value: 3}, store.FuzzyHash{Digest: digest(2), Flag: 3, Value: 1})
	got := fuzzyCheck(t, f, time.Time{}, store.FuzzyQuery{Digest: digest(1)}, store.FuzzyQuery{Digest: digest(3)}, store.FuzzyQuery{Digest: digest(2)})
	want := store.FuzzyMatch{Found: true, Shingles: store.FuzzyShingles, FuzzyEntry: store.FuzzyEntry{Digest: digest(1), Flag: 1, Value: 8}}
	if g := got[0]; g.Found != want.Found || g.Digest != want.Digest || g.Flag != 1 || g.Value != 8 || g.Shingles != want.Shingles ||
		!g.Added.Equal(T0) || !g.Updated.Equal(T0.Add(time.Hour)) {
		t.Errorf("digest 1: %+v, want value 8 (5+3) added %v updated %v", g, T0, T0.Add(time.Hour))
	}
	if got[1].Found {
		t.Errorf("digest 3 (never added) found: %+v", got[1])
	}
	if !got[2].Found || got[2].Flag != 3 || got[2].Value != 1 {
		t.Errorf("digest 2: %+v", got[2])
	}
	// Another flag replaces flag and value.
	fuzzyAdd(t, f, T0.Add(2*time.Hour), store.FuzzyHash{Digest: digest(1), Flag: 3, Value: 2})
	if g := fuzzyCheck(t, f, time.Time{}, store.FuzzyQuery{Digest: digest(1)})[0]; g.Flag != 3 || g.Value != 2 || !g.Added.Equal(T0) {
		t.Errorf("after re-flagging: %+v, want flag 3 value 2, first add kept", g)
	}
	if n := fuzzyCount(t, f); n != 2 {
		t.Errorf("%d hashes, want 2", n)
	}
	// An entry last updated before notBefore is expired.
	if g := fuzzyCheck(t, f, T0.Add(90*time.Minute), store.FuzzyQuery{Digest: digest(2)})[0]; g.Found {
		t.Errorf("entry updated at +1h found with notBefore +90m: %+v", g)
	}
}

func testFuzzyShingles(t *testing.T, f store.Fuzzy) {
	fuzzyAdd(t, f, T0, store.FuzzyHash{Digest: digest(10), Flag: 1, Value: 1, Shingles: shingles(1000)})
	// k of the 32 shingles equal (at their index), the rest new.
	near := func(k int) []uint64 {
		s := shingles(1000)
		for i := k; i < len(s); i++ {
			s[i] = 9_000_000 + uint64(i)
		}
		return s
	}
	for _, tt := range []struct {
		same  int
		found bool
	}{{32, true}, {20, true}, {17, true}, {16, false}, {5, false}, {0, false}} {
		g := fuzzyCheck(t, f, time.Time{}, store.FuzzyQuery{Digest: digest(99), Shingles: near(tt.same)})[0]
		if g.Found != tt.found || (tt.found && (g.Digest != digest(10) || g.Shingles != tt.same || g.Flag != 1)) {
			t.Errorf("%d of 32 shingles equal: %+v, want found=%v with %d shingles", tt.same, g, tt.found, tt.same)
		}
	}
	// A shingle's value at another index is another shingle.
	shifted := shingles(1001)
	if g := fuzzyCheck(t, f, time.Time{}, store.FuzzyQuery{Digest: digest(99), Shingles: shifted})[0]; g.Found {
		t.Errorf("shingles shifted by one index matched: %+v", g)
	}
	// A second text takes over the index entries of the shingles it
	// shares; the first keeps the rest, and a copy of it still matches it
	// with all its shingles (the candidates' own shingles decide).
	s2 := near(20)
	for i := 20; i < 32; i++ {
		s2[i] = 2000 + uint64(i)
	}
	fuzzyAdd(t, f, T0, store.FuzzyHash{Digest: digest(11), Flag: 2, Value: 1, Shingles: s2})
	if g := fuzzyCheck(t, f, time.Time{}, store.FuzzyQuery{Digest: digest(99), Shingles: s2})[0]; !g.Found || g.Digest != digest(11) || g.Shingles != 32 {
		t.Errorf("second text: %+v", g)
	}
	if g := fuzzyCheck(t, f, time.Time{}, store.FuzzyQuery{Digest: digest(99), Shingles: shingles(1000)})[0]; !g.Found || g.Digest != digest(10) || g.Shingles != 32 {
		t.Errorf("first text after the second took 20 of its 32 index entries: %+v, want a match of 32", g)
	}
	// Queries without shingles (attachments) never match by shingles.
	if g := fuzzyCheck(t, f, time.Time{}, store.FuzzyQuery{Digest: digest(98)})[0]; g.Found {
		t.Errorf("digest-only query matched: %+v", g)
	}
}

func testFuzzyDelete(t *testing.T, f store.Fuzzy) {
	fuzzyAdd(t, f, T0,
		store.FuzzyHash{Digest: digest(20), Flag: 1, Value: 1, Shingles: shingles(500)},
		store.FuzzyHash{Digest: digest(21), Flag: 1, Value: 1})
	n, err := f.FuzzyDelete(ctx(t), digest(20), digest(22))
	if err != nil || n != 1 {
		t.Fatalf("FuzzyDelete = %d, %v; want 1 (digest 22 was never stored)", n, err)
	}
	got := fuzzyCheck(t, f, time.Time{}, store.FuzzyQuery{Digest: digest(20)}, store.FuzzyQuery{Digest: digest(77), Shingles: shingles(500)},
		store.FuzzyQuery{Digest: digest(21)})
	if got[0].Found || got[1].Found {
		t.Errorf("deleted text still matches: by digest %v, by shingles %v", got[0].Found, got[1].Found)
	}
	if !got[2].Found {
		t.Error("digest 21 was not deleted but is gone")
	}
	if c := fuzzyCount(t, f); c != 1 {
		t.Errorf("%d hashes after the delete, want 1", c)
	}
	// Added again, it matches again (no stale state).
	fuzzyAdd(t, f, T0, store.FuzzyHash{Digest: digest(20), Flag: 1, Value: 1, Shingles: shingles(500)})
	if g := fuzzyCheck(t, f, time.Time{}, store.FuzzyQuery{Digest: digest(77), Shingles: shingles(500)})[0]; !g.Found || g.Value != 1 {
		t.Errorf("re-added text: %+v, want found with value 1", g)
	}
}

func testFuzzyExpire(t *testing.T, f store.Fuzzy) {
	for i := range 10 {
		fuzzyAdd(t, f, T0.Add(time.Duration(i)*time.Hour), store.FuzzyHash{Digest: digest(100 + i), Flag: 1, Value: 1, Shingles: shingles(uint64(10_000 * (i + 1)))})
	}
	// By age: the first three go.
	n, err := f.FuzzyExpire(ctx(t), T0.Add(3*time.Hour), 0)
	if err != nil || n != 3 {
		t.Fatalf("FuzzyExpire by age = %d, %v; want 3", n, err)
	}
	if g := fuzzyCheck(t, f, time.Time{}, store.FuzzyQuery{Digest: digest(55), Shingles: shingles(10_000)})[0]; g.Found {
		t.Errorf("expired text matches by shingles: %+v", g)
	}
	// By count: 7 left, bound 4 → down to 3 (3/4 of 4), the newest.
	n, err = f.FuzzyExpire(ctx(t), time.Time{}, 4)
	if err != nil || n != 4 {
		t.Fatalf("FuzzyExpire by count = %d, %v; want 4", n, err)
	}
	if c := fuzzyCount(t, f); c != 3 {
		t.Errorf("%d hashes left, want 3", c)
	}
	for i := range 10 {
		g := fuzzyCheck(t, f, time.Time{}, store.FuzzyQuery{Digest: digest(100 + i)})[0]
		if g.Found != (i >= 7) {
			t.Errorf("hash %d (updated at +%dh) found=%v, want %v", i, i, g.Found, i >= 7)
		}
	}
	if n, err := f.FuzzyExpire(ctx(t), time.Time{}, 4); err != nil || n != 0 {
		t.Errorf("second expire removed %d, %v; want 0", n, err)
	}
}

func testFuzzyConcurrent(t *testing.T, f store.Fuzzy) {
	var wg sync.WaitGroup
	const n = 8
	errs := make(chan error, n)
	for range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for j := range 5 {
				if err := f.FuzzyAdd(ctx(t), T0, store.FuzzyHash{Digest: digest(200 + j), Flag: 1, Value: 1, Shingles: shingles(uint64(j * 100))}); err != nil {
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
	for j := range 5 {
		if g := fuzzyCheck(t, f, time.Time{}, store.FuzzyQuery{Digest: digest(200 + j)})[0]; g.Value != n {
			t.Errorf("digest %d: value %d after %d concurrent adds of 1", j, g.Value, n)
		}
	}
	if c := fuzzyCount(t, f); c != 5 {
		t.Errorf("%d hashes, want 5", c)
	}
}
