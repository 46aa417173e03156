package bayes

import (
	"testing"

	"github.com/hamlet-mail/hamlet/internal/mailgen"
	"github.com/hamlet-mail/hamlet/message"
	"github.com/hamlet-mail/hamlet/store"
)

// A learn through the classifier is seen by its next classification
// (the cache forgets the tokens it changed), on both stores.
func TestCacheSeesLearns(t *testing.T) {
	for name, open := range stores(t) {
		t.Run(name, func(t *testing.T) {
			cfg := DefaultConfig()
			cfg.MinLearns = 1
			c := New(open(t), cfg, nil)
			g := mailgen.New(31)
			if _, err := c.Learn(ctxT(t), items(t, g, store.BayesSpam, 3)...); err != nil {
				t.Fatal(err)
			}
			if _, err := c.Learn(ctxT(t), items(t, g, store.BayesHam, 3)...); err != nil {
				t.Fatal(err)
			}
			m := message.Parse(g.Spam(2000))
			toks := TokenizeMessage(m)
			before, err := c.Classify(ctxT(t), toks)
			if err != nil {
				t.Fatal(err)
			}
			if n := len(c.cache.m); n == 0 {
				t.Fatal("classification cached no token")
			}
			if _, err := c.Learn(ctxT(t), Item(m, toks, store.BayesSpam)); err != nil {
				t.Fatal(err)
			}
			after, err := c.Classify(ctxT(t), toks)
			if err != nil {
				t.Fatal(err)
			}
			if after.Known != len(toks) || before.Known >= after.Known {
				t.Errorf("known tokens %d → %d of %d: the learn is not seen", before.Known, after.Known, len(toks))
			}
			// Relearned as ham: the counts move, and the next verdict follows.
			if _, err := c.Learn(ctxT(t), Item(m, toks, store.BayesHam)); err != nil {
				t.Fatal(err)
			}
			again, err := c.Classify(ctxT(t), toks)
			if err != nil {
				t.Fatal(err)
			}
			if again.Prob >= after.Prob {
				t.Errorf("relearned as ham, the probability went %v → %v", after.Prob, again.Prob)
			}
		})
	}
}

func TestCacheBoundsAndGenerations(t *testing.T) {
	c := newTokenCache(10)
	toks := []uint64{1, 2, 3, 4, 5, 6, 7, 8}
	counts := make([]store.BayesCounts, len(toks))
	for i := range counts {
		counts[i] = store.BayesCounts{Spam: uint32(i + 1)}
	}
	all := []int{0, 1, 2, 3, 4, 5, 6, 7}
	miss, gen := c.get(toks, make([]store.BayesCounts, len(toks)))
	if len(miss) != 8 {
		t.Fatalf("empty cache: %d misses, want 8", len(miss))
	}
	c.put(toks, counts, all, gen)
	out := make([]store.BayesCounts, len(toks))
	if miss, _ := c.get(toks, out); len(miss) != 0 || out[7].Spam != 8 {
		t.Fatalf("after put: misses %v, counts %v", miss, out)
	}
	// A read that started before a learn is not kept.
	_, gen = c.get(toks, out)
	c.forget([]store.BayesItem{{Tokens: []uint64{3}}})
	c.put(toks, counts, all, gen)
	if miss, _ := c.get(toks, out); len(miss) != 1 || miss[0] != 2 {
		t.Errorf("stale put kept: misses %v, want [2]", miss)
	}
	// Past max it starts again.
	more := []uint64{11, 12, 13}
	_, gen = c.get(more, make([]store.BayesCounts, 3))
	c.put(more, make([]store.BayesCounts, 3), []int{0, 1, 2}, gen)
	if len(c.m) > 10 {
		t.Errorf("%d entries, bound 10", len(c.m))
	}
	if newTokenCache(0) != nil {
		t.Error("cache_tokens = 0 should turn the cache off")
	}
}
