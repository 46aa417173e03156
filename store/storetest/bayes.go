package storetest

import (
	"fmt"
	"sync"
	"testing"

	"github.com/hamlet-mail/hamlet/store"
)

// RunBayes runs the Bayes token database suite (store.Bayes).
func RunBayes(t *testing.T, open Opener) {
	get := func(t *testing.T) store.Bayes { return openAs[store.Bayes](t, open) }
	t.Run("LearnRelearn", func(t *testing.T) { testBayesLearn(t, get(t)) })
	t.Run("Expire", func(t *testing.T) { testBayesExpire(t, get(t)) })
	t.Run("ExpireDigests", func(t *testing.T) { testBayesExpireDigests(t, get(t)) })
	t.Run("Concurrent", func(t *testing.T) { testBayesConcurrent(t, get(t)) })
	t.Run("Invalid", func(t *testing.T) {
		b := get(t)
		if _, err := b.BayesLearn(ctx(t), store.BayesItem{Digest: "", Class: store.BayesSpam}); err == nil {
			t.Error("empty digest accepted")
		}
		if _, err := b.BayesLearn(ctx(t), store.BayesItem{Digest: "d", Class: 7}); err == nil {
			t.Error("class 7 accepted")
		}
		if err := b.BayesGet(ctx(t), []uint64{1}, nil); err == nil {
			t.Error("BayesGet with a short result slice accepted")
		}
	})
}

func bayesCounts(t *testing.T, b store.Bayes, toks ...uint64) []store.BayesCounts {
	t.Helper()
	out := make([]store.BayesCounts, len(toks))
	if err := b.BayesGet(ctx(t), toks, out); err != nil {
		t.Fatal(err)
	}
	return out
}

func bayesStats(t *testing.T, b store.Bayes) store.BayesStats {
	t.Helper()
	st, err := b.BayesStats(ctx(t))
	if err != nil {
		t.Fatal(err)
	}
	return st
}

func learn1(t *testing.T, b store.Bayes, it store.BayesItem) store.BayesOutcome {
	t.Helper()
	o, err := b.BayesLearn(ctx(t), it)
	if err != nil {
		t.Fatal(err)
	}
	if len(o) != 1 {
		t.Fatalf("%d outcomes for one item", len(o))
	}
	return o[0]
}

func testBayesLearn(t *testing.T, b store.Bayes) {
	if st := bayesStats(t, b); st != (store.BayesStats{}) {
		t.Fatalf("empty database: %+v", st)
	}
	// A token of every byte pattern that could upset an encoding: 0, high
	// bit, bytes that are spaces or NUL in a string field.
	a, z, sp := uint64(0), ^uint64(0), uint64(0x2020202000000020)
	m1 := store.BayesItem{Digest: "m1", Class: store.BayesSpam, Tokens: []uint64{a, z, sp}}
	m2 := store.BayesItem{Digest: "m2", Class: store.BayesSpam, Tokens: []uint64{a, 5}}
	m3 := store.BayesItem{Digest: "m3", Class: store.BayesHam, Tokens: []uint64{a, 6}}
	out, err := b.BayesLearn(ctx(t), m1, m2, m3)
	if err != nil {
		t.Fatal(err)
	}
	if fmt.Sprint(out) != "[learned learned learned]" {
		t.Fatalf("outcomes %v", out)
	}
	got := bayesCounts(t, b, a, z, sp, 5, 6, 99)
	want := []store.BayesCounts{bc(2, 1), bc(1, 0), bc(1, 0), bc(1, 0), bc(0, 1), bc(0, 0)}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("counts %v, want %v", got, want)
	}
	st := bayesStats(t, b)
	if st.Spam != 2 || st.Ham != 1 || st.Tokens != 5 || st.Seq != 3 || st.Learned != 3 {
		t.Fatalf("stats %+v", st)
	}
	// Learned again as the same class: nothing changes.
	if o := learn1(t, b, m1); o != store.BayesAlready {
		t.Fatalf("relearn as the same class: %v", o)
	}
	if st2 := bayesStats(t, b); st2 != st {
		t.Fatalf("stats changed by a repeated learn: %+v → %+v", st, st2)
	}
	// Relearned as ham: its tokens move.
	m1.Class = store.BayesHam
	if o := learn1(t, b, m1); o != store.BayesRelearned {
		t.Fatalf("relearn as ham: %v", o)
	}
	got = bayesCounts(t, b, a, z, sp, 5, 6)
	want = []store.BayesCounts{bc(1, 2), bc(0, 1), bc(0, 1), bc(1, 0), bc(0, 1)}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("after relearn: counts %v, want %v", got, want)
	}
	st = bayesStats(t, b)
	if st.Spam != 1 || st.Ham != 2 || st.Seq != 4 || st.Learned != 3 {
		t.Fatalf("after relearn: stats %+v", st)
	}
	// And back.
	m1.Class = store.BayesSpam
	if o := learn1(t, b, m1); o != store.BayesRelearned {
		t.Fatalf("relearn back: %v", o)
	}
	if got := bayesCounts(t, b, a, z); fmt.Sprint(got) != "[{2 1} {1 0}]" {
		t.Fatalf("after relearning back: %v", got)
	}
	if st := bayesStats(t, b); st.Spam != 2 || st.Ham != 1 {
		t.Fatalf("after relearning back: %+v", st)
	}
}

// testBayesExpire: tokens beyond MaxTokens go, oldest hapaxes first, and a
// token learned from many messages outlives hapaxes learned after it.
func testBayesExpire(t *testing.T, b store.Bayes) {
	// A common token learned by messages 1..9; then 400 messages of one
	// hapax each (tokens 1000+i).
	const common = 7
	var items []store.BayesItem
	for i := range 9 {
		items = append(items, store.BayesItem{Digest: fmt.Sprint("c", i), Class: store.BayesSpam, Tokens: []uint64{common}})
	}
	for i := range 400 {
		items = append(items, store.BayesItem{Digest: fmt.Sprint("h", i), Class: store.BayesHam, Tokens: []uint64{1000 + uint64(i)}})
	}
	if _, err := b.BayesLearn(ctx(t), items...); err != nil {
		t.Fatal(err)
	}
	if st := bayesStats(t, b); st.Tokens != 401 {
		t.Fatalf("tokens %d, want 401", st.Tokens)
	}
	// Under the bound: nothing goes.
	if n, _, err := b.BayesExpire(ctx(t), store.BayesExpiry{MaxTokens: 401}); err != nil || n != 0 {
		t.Fatalf("expire under the bound: %d, %v", n, err)
	}
	n, _, err := b.BayesExpire(ctx(t), store.BayesExpiry{MaxTokens: 200})
	if err != nil {
		t.Fatal(err)
	}
	// Down to 3/4 of the bound: 150 remain.
	if n != 251 {
		t.Errorf("removed %d tokens, want 251", n)
	}
	st := bayesStats(t, b)
	if st.Tokens != 150 {
		t.Errorf("tokens %d after expiry, want 150", st.Tokens)
	}
	got := bayesCounts(t, b, common, 1000, 1250, 1251, 1399)
	// The common token (retention 9+8*500) stays; hapaxes 1000..1250
	// (seq 10..260) went, 1251.. stayed.
	want := []store.BayesCounts{bc(9, 0), bc(0, 0), bc(0, 0), bc(0, 1), bc(0, 1)}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("counts after expiry %v, want %v", got, want)
	}
	// Learned messages are still counted: expiry forgets tokens, not
	// how many messages were learned.
	if st.Spam != 9 || st.Ham != 400 {
		t.Errorf("stats after expiry %+v", st)
	}
}

func testBayesExpireDigests(t *testing.T, b store.Bayes) {
	var items []store.BayesItem
	for i := range 30 {
		items = append(items, store.BayesItem{Digest: fmt.Sprint("d", i), Class: store.BayesSpam, Tokens: []uint64{uint64(i)}})
	}
	if _, err := b.BayesLearn(ctx(t), items...); err != nil {
		t.Fatal(err)
	}
	_, n, err := b.BayesExpire(ctx(t), store.BayesExpiry{MaxDigests: 10})
	if err != nil {
		t.Fatal(err)
	}
	// Down to 3/4 of the bound: the newest 7 stay.
	if n != 23 {
		t.Errorf("removed %d digests, want 23", n)
	}
	if st := bayesStats(t, b); st.Learned != 7 || st.Tokens != 30 {
		t.Errorf("stats %+v", st)
	}
	// An old digest is forgotten (learns again); a new one is not.
	if o := learn1(t, b, items[0]); o != store.BayesLearned {
		t.Errorf("forgotten digest: %v", o)
	}
	if o := learn1(t, b, items[29]); o != store.BayesAlready {
		t.Errorf("kept digest: %v", o)
	}
}

func testBayesConcurrent(t *testing.T, b store.Bayes) {
	var wg sync.WaitGroup
	const n = 8
	errs := make(chan error, n)
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for j := range 10 {
				cl := store.BayesSpam
				if j%2 == 1 {
					cl = store.BayesHam
				}
				// every worker learns the same 10 digests: each is learned once.
				if _, err := b.BayesLearn(ctx(t), store.BayesItem{Digest: fmt.Sprint("m", j), Class: cl, Tokens: []uint64{42, uint64(100 + i)}}); err != nil {
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
	st := bayesStats(t, b)
	if st.Spam != 5 || st.Ham != 5 || st.Learned != 10 {
		t.Fatalf("stats %+v, want 5 spam, 5 ham, 10 digests", st)
	}
	if got := bayesCounts(t, b, 42); got[0] != (store.BayesCounts{Spam: 5, Ham: 5}) {
		t.Fatalf("shared token %v, want 5/5", got[0])
	}
}

func bc(spam, ham uint32) store.BayesCounts { return store.BayesCounts{Spam: spam, Ham: ham} }
