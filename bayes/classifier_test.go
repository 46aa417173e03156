package bayes

import (
	"context"
	"fmt"
	"sync/atomic"
	"testing"
	"time"

	"github.com/hamlet-mail/hamlet/internal/mailgen"
	"github.com/hamlet-mail/hamlet/message"
	"github.com/hamlet-mail/hamlet/store"
	"github.com/hamlet-mail/hamlet/store/bolt"
	"github.com/hamlet-mail/hamlet/store/redis"
	"github.com/hamlet-mail/hamlet/store/redis/redistest"
)

// stores opens, for a subtest, an empty embedded store or an empty Redis
// store (a prefix of its own on one server; without redis-server the
// Redis subtest skips, or fails under CI=true).
func stores(t *testing.T) map[string]func(t *testing.T) store.Bayes {
	t.Helper()
	srv := redistest.Shared(t)
	var n atomic.Int64
	return map[string]func(t *testing.T) store.Bayes{
		"bolt": func(t *testing.T) store.Bayes {
			b, err := bolt.Open(t.TempDir(), store.Options{SweepInterval: -1})
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { b.Close() })
			return b
		},
		"redis": func(t *testing.T) store.Bayes {
			r, err := redis.Open(srv(t).URL(0, fmt.Sprintf("b%d:", n.Add(1))), store.Options{})
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { r.Close() })
			return r
		},
	}
}

func ctxT(t *testing.T) context.Context {
	c, cancel := context.WithTimeout(context.Background(), time.Minute)
	t.Cleanup(cancel)
	return c
}

func items(t *testing.T, g *mailgen.Gen, class store.BayesClass, n int) []store.BayesItem {
	t.Helper()
	var out []store.BayesItem
	for range n {
		raw := g.Ham(600)
		if class == store.BayesSpam {
			raw = g.Spam(600)
		}
		m := message.Parse(raw)
		out = append(out, Item(m, TokenizeMessage(m), class))
	}
	return out
}

func TestClassifier(t *testing.T) {
	for name, open := range stores(t) {
		t.Run(name, func(t *testing.T) {
			st := open(t)
			ctx := ctxT(t)
			cfg := DefaultConfig()
			c := New(st, cfg, nil)
			g := mailgen.New(1)
			spam, ham := items(t, g, store.BayesSpam, 200), items(t, g, store.BayesHam, 199)
			if _, err := c.Learn(ctx, append(spam, ham...)...); err != nil {
				t.Fatal(err)
			}
			probe := mailgen.New(99)
			sm := message.Parse(probe.Spam(800))
			hm := message.Parse(probe.Ham(800))
			// 199 ham: not enough (min_learns 200).
			r, err := c.Classify(ctx, TokenizeMessage(sm))
			if err != nil {
				t.Fatal(err)
			}
			if n, _, opts := r.Verdict(cfg.MinLearns); r.Trained || n != SymUntrained || opts[1] != "ham 199/200" {
				t.Fatalf("with 199 ham: %+v, %s %v", r, n, opts)
			}
			if _, err := c.Learn(ctx, items(t, g, store.BayesHam, 1)...); err != nil {
				t.Fatal(err)
			}
			r, err = c.Classify(ctx, TokenizeMessage(sm))
			if err != nil {
				t.Fatal(err)
			}
			if n, mult, _ := r.Verdict(cfg.MinLearns); n != SymSpam || mult < 0.9 || r.Used == 0 || r.Known == 0 {
				t.Errorf("spam: %+v → %s ×%.2f", r, n, mult)
			}
			r, err = c.Classify(ctx, TokenizeMessage(hm))
			if err != nil {
				t.Fatal(err)
			}
			if n, mult, _ := r.Verdict(cfg.MinLearns); n != SymHam || mult < 0.9 {
				t.Errorf("ham: %+v → %s ×%.2f", r, n, mult)
			}
		})
	}
}

// TestRelearn: a message learned as spam and then as ham counts once, as
// ham, and its tokens moved.
func TestRelearn(t *testing.T) {
	for name, open := range stores(t) {
		t.Run(name, func(t *testing.T) {
			st := open(t)
			ctx := ctxT(t)
			c := New(st, DefaultConfig(), nil)
			m := message.Parse(mailgen.New(3).Spam(500))
			toks := TokenizeMessage(m)
			out, err := c.Learn(ctx, Item(m, toks, store.BayesSpam))
			if err != nil || out[0] != store.BayesLearned {
				t.Fatalf("learn: %v %v", out, err)
			}
			out, _ = c.Learn(ctx, Item(m, toks, store.BayesSpam))
			if out[0] != store.BayesAlready {
				t.Fatalf("second learn: %v", out)
			}
			out, _ = c.Learn(ctx, Item(m, toks, store.BayesHam))
			if out[0] != store.BayesRelearned {
				t.Fatalf("relearn: %v", out)
			}
			st2, err := c.Stats(ctx)
			if err != nil {
				t.Fatal(err)
			}
			if st2.Spam != 0 || st2.Ham != 1 || st2.Tokens != int64(len(toks)) {
				t.Errorf("stats after relearn %+v (%d tokens)", st2, len(toks))
			}
			counts := make([]store.BayesCounts, len(toks))
			if err := st.BayesGet(ctx, toks, counts); err != nil {
				t.Fatal(err)
			}
			for i, k := range counts {
				if k != (store.BayesCounts{Ham: 1}) {
					t.Fatalf("token %d: %+v, want ham 1", i, k)
				}
			}
		})
	}
}

// TestExpiryBoundsDatabase: learning far more distinct tokens than
// max_tokens keeps the database at most max_tokens, and reports its size
// every ReportEvery learned messages.
func TestExpiryBoundsDatabase(t *testing.T) {
	for name, open := range stores(t) {
		t.Run(name, func(t *testing.T) {
			st := open(t)
			ctx := ctxT(t)
			cfg := DefaultConfig()
			cfg.MaxTokens, cfg.MaxLearned = 20_000, 15_000
			c := New(st, cfg, nil)
			var reports []store.BayesStats
			c.OnReport = func(s store.BayesStats) { reports = append(reports, s) }
			const total = 2*ReportEvery + 500
			for i := 0; i < total; i += 500 {
				var batch []store.BayesItem
				for j := i; j < i+500; j++ {
					// 5 tokens of its own per message, one shared.
					toks := Tokens{1, uint64(j)*8 + 2, uint64(j)*8 + 3, uint64(j)*8 + 4, uint64(j)*8 + 5, uint64(j)*8 + 6}
					batch = append(batch, store.BayesItem{Digest: fmt.Sprint("m", j), Class: store.BayesClass(1 + j%2), Tokens: toks})
				}
				if _, err := c.Learn(ctx, batch...); err != nil {
					t.Fatal(err)
				}
				s, _ := c.Stats(ctx)
				if s.Tokens > int64(cfg.MaxTokens) || s.Learned > int64(cfg.MaxLearned) {
					t.Fatalf("after %d messages: %+v exceeds the bounds", i+500, s)
				}
			}
			if len(reports) != 2 {
				t.Fatalf("%d size reports for %d messages, want 2", len(reports), total)
			}
			for _, r := range reports {
				if r.Tokens == 0 || r.Tokens > int64(cfg.MaxTokens) {
					t.Errorf("report %+v", r)
				}
			}
			// The shared token survived every expiry.
			k := make([]store.BayesCounts, 1)
			st.BayesGet(ctx, []uint64{1}, k)
			if k[0].Spam+k[0].Ham < total/2 {
				t.Errorf("the shared token: %+v", k[0])
			}
		})
	}
}
