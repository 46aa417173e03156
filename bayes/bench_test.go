package bayes

import (
	"context"
	"fmt"
	"math/rand/v2"
	"slices"
	"syscall"
	"testing"
	"time"

	"github.com/hamlet-mail/hamlet/internal/mailgen"
	"github.com/hamlet-mail/hamlet/message"
	"github.com/hamlet-mail/hamlet/store"
	"github.com/hamlet-mail/hamlet/store/bolt"
	"github.com/hamlet-mail/hamlet/store/redis"
	"github.com/hamlet-mail/hamlet/store/redis/redistest"
)

// benchTokens is the size of the database the classify benchmark reads.
const benchTokens = 1_000_000

// fillMillion learns, into st, 400 generated messages (so that the
// benchmark's message meets tokens it knows) and then messages of random
// tokens until the database holds benchTokens tokens.
func fillMillion(b *testing.B, st store.Bayes) {
	b.Helper()
	ctx := context.Background()
	g := mailgen.New(5150)
	var items []store.BayesItem
	for i := range 400 {
		raw := g.Ham(2500)
		class := store.BayesHam
		if i%2 == 0 {
			raw, class = g.Spam(2500), store.BayesSpam
		}
		m := message.Parse(raw)
		items = append(items, Item(m, TokenizeMessage(m), class))
	}
	learn := func() {
		for len(items) > 0 {
			n := min(len(items), 50)
			if _, err := st.BayesLearn(ctx, items[:n]...); err != nil {
				b.Fatal(err)
			}
			items = items[n:]
		}
	}
	learn()
	r := rand.New(rand.NewPCG(1, 2))
	for k := 0; ; k++ {
		s, err := st.BayesStats(ctx)
		if err != nil {
			b.Fatal(err)
		}
		if s.Tokens >= benchTokens {
			b.Logf("database: %d tokens, %d spam, %d ham", s.Tokens, s.Spam, s.Ham)
			return
		}
		for j := range 50 {
			toks := make([]uint64, min(4000, int(benchTokens-s.Tokens)/50+1))
			for i := range toks {
				toks[i] = r.Uint64()
			}
			slices.Sort(toks)
			items = append(items, store.BayesItem{Digest: fmt.Sprintf("filler-%d-%d", k, j), Class: store.BayesClass(1 + j%2), Tokens: toks})
		}
		learn()
	}
}

// BenchmarkClassify10KB1M classifies a 10 KB message (tokenizing it from
// its parsed form, reading the counts of its tokens, combining) against
// a database of a million tokens: the Bayes check's cost per message.
// "uncached" reads every token from the store (cache_tokens = 0);
// "cached" is the default cache over 200 different generated messages in
// turn (their vocabulary overlaps as mail's does; hit ratio reported).
//
//	go test -run '^$' -bench Classify10KB1M -benchtime 400x ./bayes
func BenchmarkClassify10KB1M(b *testing.B) {
	g := mailgen.New(99)
	var msgs []*message.Message
	for range 200 {
		msgs = append(msgs, message.Parse(g.Spam(10_000)))
	}
	run := func(b *testing.B, st store.Bayes) {
		fillMillion(b, st)
		for _, cached := range []bool{false, true} {
			name := "uncached"
			cfg := DefaultConfig()
			cfg.MaxTokens = 2 * benchTokens
			if !cached {
				cfg.CacheTokens = 0
			} else {
				name = "cached"
			}
			b.Run(name, func(b *testing.B) {
				c := New(st, cfg, nil)
				ctx := context.Background()
				var toks, known, hits, n int
				cpu0 := cpuTime()
				for b.Loop() {
					m := msgs[n%len(msgs)]
					n++
					r, err := c.Classify(ctx, TokenizeMessage(m))
					if err != nil {
						b.Fatal(err)
					}
					if r.Prob <= 0.5 {
						b.Fatalf("a spam message classified %v", r.Prob)
					}
					toks += r.Tokens
					known += r.Known
					hits += r.Cached
				}
				b.ReportMetric(float64((cpuTime()-cpu0).Microseconds())/float64(n), "cpu-µs/msg")
				b.ReportMetric(float64(toks)/float64(n), "tokens/msg")
				b.ReportMetric(float64(known)/float64(n), "known/msg")
				if c.cache != nil {
					b.ReportMetric(100*float64(hits)/float64(toks), "%hits")
				}
			})
		}
	}
	b.Run("bolt", func(b *testing.B) {
		st, err := bolt.Open(b.TempDir(), store.Options{SweepInterval: -1})
		if err != nil {
			b.Fatal(err)
		}
		defer st.Close()
		run(b, st)
	})
	b.Run("redis", func(b *testing.B) {
		srv := redistest.Start(b)
		st, err := redis.Open(srv.URL(0, ""), store.Options{})
		if err != nil {
			b.Fatal(err)
		}
		defer st.Close()
		run(b, st)
	})
}

// cpuTime is the CPU time the process used (user and system): on a
// shared machine a steadier figure than the time on the wall.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// BenchmarkTokenize10KB is the tokenizer's share of the above.
func BenchmarkTokenize10KB(b *testing.B) {
	m := message.Parse(mailgen.New(99).Spam(10_000))
	var n, k int
	cpu0 := cpuTime()
	for b.Loop() {
		n = len(TokenizeMessage(m))
		k++
	}
	b.ReportMetric(float64((cpuTime()-cpu0).Microseconds())/float64(k), "cpu-µs/msg")
	b.ReportMetric(float64(n), "tokens/msg")
}
