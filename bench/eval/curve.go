package main

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"net/netip"
	"os"
	"path/filepath"
	"time"

	"github.com/hamlet-mail/hamlet/bayes"
	"github.com/hamlet-mail/hamlet/engine"
	"github.com/hamlet-mail/hamlet/internal/mailgen"
	"github.com/hamlet-mail/hamlet/message"
	"github.com/hamlet-mail/hamlet/store"
	"github.com/hamlet-mail/hamlet/store/bolt"
)

// curveCorpus is a corpus split for the learning curve: the classifier
// learns from the train halves, the test halves are scanned.
type curveCorpus struct {
	name                string
	trainSpam, trainHam []sample
	test                []sample
	sizes               []int // messages of each class learned, per row
	testSpam, testHam   int
}

// split shuffles samples (deterministically) and puts every other spam
// and every other ham into the test half.
func split(name string, samples []sample, sizes []int) curveCorpus {
	r := rand.New(rand.NewPCG(2026, 12))
	s := append([]sample(nil), samples...)
	r.Shuffle(len(s), func(i, j int) { s[i], s[j] = s[j], s[i] })
	c := curveCorpus{name: name}
	var ns, nh int
	for _, x := range s {
		switch {
		case x.spam && ns%2 == 0:
			c.test, c.testSpam = append(c.test, x), c.testSpam+1
			ns++
		case x.spam:
			c.trainSpam = append(c.trainSpam, x)
			ns++
		case nh%2 == 0:
			c.test, c.testHam = append(c.test, x), c.testHam+1
			nh++
		default:
			c.trainHam = append(c.trainHam, x)
			nh++
		}
	}
	for _, k := range sizes {
		if k <= min(len(c.trainSpam), len(c.trainHam)) {
			c.sizes = append(c.sizes, k)
		}
	}
	if n := min(len(c.trainSpam), len(c.trainHam)); len(c.sizes) == 0 || c.sizes[len(c.sizes)-1] != n {
		c.sizes = append(c.sizes, n)
	}
	return c
}

// generatedMail is internal/mailgen's spam and ham (overlapping
// vocabularies), received from the corpus relay like the fixtures: the
// words tell them apart, and the X-Mailer of the spam that names Outlook
// Express (FORGED_MUA_OUTLOOK, OLD_X_MAILER).
func generatedMail(n int) []sample {
	g := mailgen.New(777)
	var out []sample
	for i := range 2 * n {
		spam := i%2 == 0
		raw := g.Ham(1500 + i%7*400)
		kind := "ham"
		if spam {
			raw, kind = g.Spam(1500+i%7*400), "spam"
		}
		out = append(out, sample{name: fmt.Sprintf("%s-%d", kind, i/2), spam: spam, kind: kind, tx: engine.Transaction{
			Time: time.Date(2026, 3, 2, 10, 5, 0, 0, time.UTC), ClientIP: netip.MustParseAddr(relayIP), ClientPTR: "relay.corpus.example",
			RDNS: engine.FCrDNSPass, Helo: "relay.corpus.example", MailFrom: "sender@example.org", Rcpts: []string{rcpt}, Message: message.Parse(raw),
		}})
	}
	return out
}

// runCurve prints, for each corpus and each number of messages learned of
// each class, the spam caught and the ham hit by the Bayes classifier
// alone (BAYES_SPAM) and by the whole engine with it (any action but "no
// action"); the first row, nothing learned, is the engine without Bayes.
// min_learns is lowered to the number learned, so that every row
// classifies (hamlet's default waits for 200 of each).
func runCurve(dir, base string, corpora []curveCorpus) error {
	fmt.Println("learning curve: train on one half, scan the other (Bayes alone: BAYES_SPAM; engine: any action but \"no action\")")
	for _, c := range corpora {
		fmt.Printf("\n%s — test: %d spam, %d ham; train pool: %d spam, %d ham\n", c.name, c.testSpam, c.testHam, len(c.trainSpam), len(c.trainHam))
		fmt.Printf("  %-8s %-30s %-30s\n", "learned", "Bayes alone: spam | ham hit", "engine: spam acted | ham acted")
		for _, k := range c.sizes {
			learned, bayesLine, engineLine, err := curveRow(dir, base, c, k)
			if err != nil {
				return fmt.Errorf("%s, %d learned: %w", c.name, k, err)
			}
			fmt.Printf("  %-8s %-30s %-30s\n", learned, bayesLine, engineLine)
		}
	}
	return nil
}

// curveRow learns k messages of each class (fewer when some are
// duplicates) and scans the test half; learned says how many were.
func curveRow(dir, base string, c curveCorpus, k int) (learned, bayesLine, engineLine string, err error) {
	data := filepath.Join(dir, fmt.Sprintf("curve-%d-%s", k, filepath.Base(c.name)))
	if err = os.MkdirAll(data, 0o700); err != nil {
		return "", "", "", err
	}
	st, err := bolt.Open(data, store.Options{SweepInterval: -1})
	if err != nil {
		return "", "", "", err
	}
	defer st.Close()
	cfg := bayes.DefaultConfig()
	cfg.MinLearns = max(k, 1)
	cl := bayes.New(st, cfg, slog.New(slog.NewTextHandler(io.Discard, nil)))
	ctx := context.Background()
	var items []store.BayesItem
	for _, set := range []struct {
		s     []sample
		class store.BayesClass
	}{{c.trainSpam[:k], store.BayesSpam}, {c.trainHam[:k], store.BayesHam}} {
		for _, x := range set.s {
			if toks := bayes.TokenizeMessage(x.tx.Message); len(toks) >= bayes.MinTokens {
				items = append(items, bayes.Item(x.tx.Message, toks, set.class))
			}
		}
	}
	if _, err := cl.Learn(ctx, items...); err != nil {
		return "", "", "", err
	}
	// Duplicates (the same digest) are learned once: the threshold is
	// what was learned.
	stats, err := cl.Stats(ctx)
	if err != nil {
		return "", "", "", err
	}
	cfg.MinLearns = int(max(min(stats.Spam, stats.Ham), 1))
	learned = fmt.Sprintf("%d+%d", stats.Spam, stats.Ham)
	cl = bayes.New(st, cfg, slog.New(slog.NewTextHandler(io.Discard, nil)))
	text := base + fmt.Sprintf("[bayes]\nmin_learns = %d\n", cfg.MinLearns)
	eng, err := buildEngine(dir, text, cl)
	if err != nil {
		return "", "", "", err
	}
	var bs, bh, es, eh int
	for _, x := range c.test {
		r, err := cl.Classify(ctx, bayes.TokenizeMessage(x.tx.Message))
		if err != nil {
			return "", "", "", err
		}
		name, _, _ := r.Verdict(cfg.MinLearns)
		caught := k > 0 && name == bayes.SymSpam
		sctx, cancel := context.WithTimeout(ctx, 30*time.Second)
		tx := x.tx
		v := eng.Scan(sctx, &tx)
		cancel()
		acted := v.Action != engine.NoAction
		switch {
		case x.spam && caught:
			bs++
		case !x.spam && caught:
			bh++
		}
		switch {
		case x.spam && acted:
			es++
		case !x.spam && acted:
			eh++
		}
	}
	bayesLine = fmt.Sprintf("%d/%d %.1f%% | %d/%d", bs, c.testSpam, pct(bs, c.testSpam), bh, c.testHam)
	if k == 0 {
		bayesLine = "(no Bayes)"
	}
	return learned, bayesLine, fmt.Sprintf("%d/%d %.1f%% | %d/%d", es, c.testSpam, pct(es, c.testSpam), eh, c.testHam), nil
}
