package checks

import (
	"context"
	"log/slog"
	"net/netip"
	"os"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"github.com/hamlet-mail/hamlet/bayes"
	"github.com/hamlet-mail/hamlet/engine"
	"github.com/hamlet-mail/hamlet/internal/loadgen"
	"github.com/hamlet-mail/hamlet/internal/mailgen"
	"github.com/hamlet-mail/hamlet/internal/samplemail"
	"github.com/hamlet-mail/hamlet/message"
	"github.com/hamlet-mail/hamlet/store"
	"github.com/hamlet-mail/hamlet/store/bolt"
)

// BenchmarkEngineBayes is what the Bayes check costs in an engine scan
// (with the content stage, which it reads): no Bayes, then Bayes trained
// on 300+300 generated messages with and without its token cache, over
// the embedded store. CPU time per message is reported beside the time
// on the wall (steadier on a shared machine). With $HAMLET_SHARED set,
// bench/compare's corpus (the SpamAssassin fixtures) is scanned too.
//
//	go test -run '^$' -bench EngineBayes -benchtime 400x ./checks
func BenchmarkEngineBayes(b *testing.B) {
	content, err := NewContent(DefaultContentConfig())
	if err != nil {
		b.Fatal(err)
	}
	log := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelError}))
	st, err := bolt.Open(b.TempDir(), store.Options{SweepInterval: -1})
	if err != nil {
		b.Fatal(err)
	}
	defer st.Close()
	g := mailgen.New(8)
	var items []store.BayesItem
	for i := range 600 {
		raw, class := g.Ham(3000), store.BayesHam
		if i%2 == 0 {
			raw, class = g.Spam(3000), store.BayesSpam
		}
		m := message.Parse(raw)
		items = append(items, bayes.Item(m, bayes.TokenizeMessage(m), class))
	}
	if _, err := bayes.New(st, bayes.DefaultConfig(), log).Learn(context.Background(), items...); err != nil {
		b.Fatal(err)
	}
	msgs := map[string][][]byte{"news-10KB": {samplemail.News10KB()}}
	for range 50 {
		msgs["mailgen-4KB"] = append(msgs["mailgen-4KB"], g.Spam(4000), g.Ham(4000))
	}
	names := []string{"news-10KB", "mailgen-4KB"}
	// bench/compare's corpus, when the shared data is there.
	if dir := os.Getenv("HAMLET_SHARED"); dir != "" {
		if corpus, err := loadgen.Load(filepath.Join(dir, "corpus", "spamassassin-testdata")); err == nil && len(corpus) > 0 {
			msgs["spamassassin"] = corpus
			names = append(names, "spamassassin")
		}
	}
	for _, name := range names {
		for _, mode := range []string{"off", "cached", "uncached"} {
			cs := []engine.Check{content}
			if mode != "off" {
				cfg := bayes.DefaultConfig()
				if mode == "uncached" {
					cfg.CacheTokens = 0
				}
				cs = append(cs, NewBayes(bayes.New(st, cfg, log), log))
			}
			e, err := engine.New(engine.Options{Checks: cs, Policy: engine.DefaultPolicy(), Logger: log})
			if err != nil {
				b.Fatal(err)
			}
			b.Run(name+"/bayes-"+mode, func(b *testing.B) {
				ip := netip.MustParseAddr("192.0.2.1")
				n, verdicts := 0, 0
				cpu0 := cpuTime()
				for b.Loop() {
					raw := msgs[name][n%len(msgs[name])]
					n++
					tx := &engine.Transaction{ClientIP: ip, Helo: "mx.example.org", MailFrom: "a@example.org",
						Rcpts: []string{"b@example.net"}, Message: message.Parse(raw)}
					v := e.Scan(context.Background(), tx)
					if hasBayes(v) {
						verdicts++
					}
				}
				if name != "spamassassin" && (mode != "off") != (verdicts > 0) {
					b.Fatalf("Bayes %s: %d verdicts with BAYES_SPAM or BAYES_HAM of %d", mode, verdicts, n)
				}
				b.ReportMetric(float64((cpuTime()-cpu0).Microseconds())/float64(n), "cpu-µs/msg")
			})
		}
	}
}

func hasBayes(v *engine.Verdict) bool {
	for _, s := range v.Symbols {
		if s.Name == bayes.SymSpam || s.Name == bayes.SymHam {
			return true
		}
	}
	return false
}

func cpuTime() time.Duration {
	var ru syscall.Rusage
	syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
