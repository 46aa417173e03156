package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/signal"
	"runtime"
	"slices"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/hamlet-mail/hamlet/bayes"
	"github.com/hamlet-mail/hamlet/content"
	"github.com/hamlet-mail/hamlet/daemon"
	"github.com/hamlet-mail/hamlet/fuzzy"
	"github.com/hamlet-mail/hamlet/internal/mailbox"
	"github.com/hamlet-mail/hamlet/message"
	"github.com/hamlet-mail/hamlet/store"
	"github.com/hamlet-mail/hamlet/store/bolt"
	"github.com/hamlet-mail/hamlet/store/stores"
)

func init() {
	commands["learn"] = command{"teach the Bayes classifier spam or ham from files, directories, mbox or Maildir", cmdLearn}
}

// learnBatch is how many messages share one store write.
const learnBatch = 200

// learnTally counts what a learn run did.
type learnTally struct {
	learned, relearned, already, skipped, failed int
	firstErr                                     string
}

func (t *learnTally) total() int {
	return t.learned + t.relearned + t.already + t.skipped + t.failed
}

func (t *learnTally) add(o store.BayesOutcome) {
	switch o {
	case store.BayesLearned:
		t.learned++
	case store.BayesRelearned:
		t.relearned++
	case store.BayesAlready:
		t.already++
	}
}

func cmdLearn(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("learn", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var spam, ham, quiet bool
	var ctl controllerFlags
	var dataDir string
	fs.BoolVar(&spam, "spam", false, "learn the messages as spam")
	fs.BoolVar(&ham, "ham", false, "learn the messages as ham")
	fs.StringVar(&ctl.file, "c", "", "configuration `file` (to find the store)")
	fs.StringVar(&dataDir, "data", "", "data `directory` (overrides the file's data_dir)")
	fs.StringVar(&ctl.url, "controller", "", "send to a running daemon's controller at `URL` instead of opening the store (default when the embedded store is in use by a running hamlet)")
	fs.StringVar(&ctl.password, "P", "", "controller admin `password` (default $HAMLET_PASSWORD)")
	fs.BoolVar(&quiet, "q", false, "no progress bar")
	fs.Usage = func() {
		fmt.Fprintln(stderr, "usage: hamlet learn --spam|--ham [-c hamlet.toml] FILE|DIR|MBOX|MAILDIR|- ...")
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		return exitConfig
	}
	if spam == ham || fs.NArg() == 0 {
		fmt.Fprintln(stderr, "hamlet learn: give exactly one of --spam and --ham, and at least one path")
		fs.Usage()
		return exitConfig
	}
	class := store.BayesHam
	if spam {
		class = store.BayesSpam
	}
	s, err := daemon.LoadSettings(ctl.file, daemon.Overrides{DataDir: dataDir})
	if err != nil {
		fmt.Fprintf(stderr, "hamlet: %v\n", err)
		return exitConfig
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()

	var lr learner
	var fz *fuzzy.DB // the fuzzy hashes learned into, on the store path
	ctlURL := ctl.url
	if ctlURL == "" {
		st, err := stores.Open(s.Store, s.DataDir, s.History.StoreOptions())
		switch {
		case errors.Is(err, bolt.ErrLocked) && len(s.Controller.Listen) > 0:
			ctlURL = "http://" + s.Controller.Listen[0]
			fmt.Fprintf(stderr, "hamlet learn: the store is in use by a running hamlet; learning through its controller at %s\n", ctlURL)
		case err != nil:
			fmt.Fprintf(stderr, "hamlet learn: store: %v\n", err)
			return exitFail
		default:
			defer st.Close()
			if s.Store == "" {
				// Say which store: without -c that is ./hamlet-data,
				// not the one an installed daemon uses.
				fmt.Fprintf(stderr, "hamlet learn: learning into the embedded store in %s%s\n", s.DataDir, noConfigHint(ctl.file))
			}
			bs, ok := st.(store.Bayes)
			if !ok {
				fmt.Fprintln(stderr, "hamlet learn: this store keeps no Bayes tokens")
				return exitFail
			}
			sl := &storeLearner{c: bayes.New(bs, s.Bayes, nil)}
			if fs, ok := st.(store.Fuzzy); ok && s.Fuzzy.Learn {
				sl.fz = fuzzy.New(fs, s.Fuzzy, nil)
				fz = sl.fz
			}
			lr = sl
		}
	}
	if ctlURL != "" {
		lr = &httpLearner{base: strings.TrimSuffix(ctlURL, "/"), password: ctl.pass(), client: &http.Client{Timeout: time.Minute}}
	}

	prog := newProgress(stderr, !quiet && isTerminal(stderr), "learning "+class.String())
	if prog.on && !slices.Contains(fs.Args(), "-") {
		prog.count(ctx, fs.Args())
	}
	t0 := time.Now()
	tally, err := runLearn(ctx, fs.Args(), class, lr, prog)
	prog.done()
	if fz != nil && class == store.BayesSpam && tally.learned+tally.relearned > 0 {
		// The daemon's adds start an expiry at most once an hour, in the
		// background; a bulk learn must leave the store within
		// [fuzzy] max_hashes itself.
		if n, err := fz.Expire(ctx); err != nil {
			fmt.Fprintf(stderr, "hamlet learn: fuzzy hashes not expired: %v\n", err)
		} else if n > 0 {
			fmt.Fprintf(stderr, "hamlet learn: %d fuzzy hashes beyond max_hashes (%d) or older than expire removed\n", n, s.Fuzzy.MaxHashes)
		}
	}
	el := time.Since(t0)
	rate := float64(tally.total()) / max(el.Seconds(), 1e-9)
	fmt.Fprintf(stdout, "learned %d messages as %s (%d new, %d relearned from %s), %d already learned, %d skipped (too few tokens), %d failed, in %.1f s (%.0f msg/s)",
		tally.learned+tally.relearned, class, tally.learned, tally.relearned, other(class), tally.already, tally.skipped, tally.failed, el.Seconds(), rate)
	if st, err := lr.stats(ctx); err == nil {
		fmt.Fprintf(stdout, "; database: %d spam, %d ham", st.Spam, st.Ham)
		if st.Tokens >= 0 {
			fmt.Fprintf(stdout, ", %d tokens", st.Tokens)
		}
	}
	fmt.Fprintln(stdout)
	if tally.firstErr != "" {
		fmt.Fprintf(stderr, "hamlet learn: first failure: %s\n", tally.firstErr)
	}
	if err != nil {
		fmt.Fprintf(stderr, "hamlet learn: %v\n", err)
		return exitFail
	}
	if tally.failed > 0 {
		return exitFail
	}
	return exitOK
}

func other(c store.BayesClass) store.BayesClass {
	if c == store.BayesSpam {
		return store.BayesHam
	}
	return store.BayesSpam
}

// learner learns tokenized messages: into the store, or through the
// controller.
type learner interface {
	// learn learns msgs; tally counts the outcomes.
	learn(ctx context.Context, msgs []learnMsg, class store.BayesClass, tally *learnTally) error
	stats(ctx context.Context) (store.BayesStats, error)
}

type learnMsg struct {
	source string
	raw    []byte
	item   store.BayesItem
	// fuzzy are the message's near-duplicate hashes, when the learner
	// feeds them.
	fuzzy []fuzzy.Hash
}

// storeLearner learns into the store: Bayes, and the fuzzy hashes of the
// messages Bayes learned (as the controller's learn endpoints do).
type storeLearner struct {
	c  *bayes.Classifier
	fz *fuzzy.DB
}

// hashes returns the fuzzy hashes of c when the learner feeds them.
func (l *storeLearner) hashes(c *content.Message) []fuzzy.Hash {
	if l.fz == nil {
		return nil
	}
	return l.fz.Hashes(c)
}

// learnFuzzy feeds the fuzzy hashes of the messages Bayes learned.
func (l *storeLearner) learnFuzzy(ctx context.Context, msgs []learnMsg, out []store.BayesOutcome, class store.BayesClass) error {
	var hs []fuzzy.Hash
	for i, m := range msgs {
		if out[i] != store.BayesAlready {
			hs = append(hs, m.fuzzy...)
		}
	}
	if l.fz == nil || len(hs) == 0 {
		return nil
	}
	if class == store.BayesSpam {
		return l.fz.LearnSpam(ctx, hs)
	}
	_, err := l.fz.LearnHam(ctx, hs)
	return err
}

func (l *storeLearner) learn(ctx context.Context, msgs []learnMsg, class store.BayesClass, tally *learnTally) error {
	items := make([]store.BayesItem, len(msgs))
	for i, m := range msgs {
		items[i] = m.item
	}
	out, err := l.c.Learn(ctx, items...)
	if err != nil {
		return err
	}
	for _, o := range out {
		tally.add(o)
	}
	if err := l.learnFuzzy(ctx, msgs, out, class); err != nil {
		return fmt.Errorf("fuzzy hashes: %w", err)
	}
	return nil
}

func (l *storeLearner) stats(ctx context.Context) (store.BayesStats, error) { return l.c.Stats(ctx) }

type httpLearner struct {
	base, password string
	client         *http.Client
}

func (l *httpLearner) learn(ctx context.Context, msgs []learnMsg, class store.BayesClass, tally *learnTally) error {
	path := "/learnham"
	if class == store.BayesSpam {
		path = "/learnspam"
	}
	for _, m := range msgs {
		req, err := http.NewRequestWithContext(ctx, http.MethodPost, l.base+path, bytes.NewReader(m.raw))
		if err != nil {
			return err
		}
		if l.password != "" {
			req.Header.Set("Password", l.password)
		}
		resp, err := l.client.Do(req)
		if err != nil {
			return err
		}
		body, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
		resp.Body.Close()
		switch resp.StatusCode {
		case http.StatusOK:
			tally.learned++
		case http.StatusAlreadyReported:
			tally.already++
		case http.StatusBadRequest:
			tally.skipped++
		case http.StatusUnauthorized, http.StatusForbidden:
			return fmt.Errorf("controller %s: %s (give the admin password with -P or $HAMLET_PASSWORD)", l.base, resp.Status)
		default:
			tally.failed++
			if tally.firstErr == "" {
				tally.firstErr = fmt.Sprintf("%s: %s %s", m.source, resp.Status, strings.TrimSpace(string(body)))
			}
		}
	}
	return nil
}

// stats reads the learned counts from the controller's /stat (rspamd's
// statfiles); the number of tokens is not known there (-1).
func (l *httpLearner) stats(ctx context.Context) (store.BayesStats, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, l.base+"/stat", nil)
	if err != nil {
		return store.BayesStats{}, err
	}
	if l.password != "" {
		req.Header.Set("Password", l.password)
	}
	resp, err := l.client.Do(req)
	if err != nil {
		return store.BayesStats{}, err
	}
	defer resp.Body.Close()
	var st struct {
		Statfiles []struct {
			Symbol   string `json:"symbol"`
			Revision int64  `json:"revision"`
		} `json:"statfiles"`
	}
	if resp.StatusCode != http.StatusOK {
		return store.BayesStats{}, fmt.Errorf("controller /stat: %s", resp.Status)
	}
	if err := json.NewDecoder(io.LimitReader(resp.Body, 1<<20)).Decode(&st); err != nil {
		return store.BayesStats{}, fmt.Errorf("controller /stat: %w", err)
	}
	out := store.BayesStats{Tokens: -1}
	found := false
	for _, f := range st.Statfiles {
		switch f.Symbol {
		case bayes.SymSpam:
			out.Spam, found = f.Revision, true
		case bayes.SymHam:
			out.Ham, found = f.Revision, true
		}
	}
	if !found {
		return out, errors.New("the controller reports no Bayes statfiles")
	}
	return out, nil
}

// runLearn reads the messages of paths, tokenizes them on every CPU and
// learns them in batches.
func runLearn(ctx context.Context, paths []string, class store.BayesClass, lr learner, prog *progress) (learnTally, error) {
	var tally learnTally
	raws := make(chan mailbox.Message, 64)
	toks := make(chan learnMsg, 64)
	var readErr error
	go func() {
		defer close(raws)
		readErr = mailbox.Walk(paths, stdin, func(m mailbox.Message) error {
			select {
			case raws <- m:
				return nil
			case <-ctx.Done():
				return ctx.Err()
			}
		})
	}()
	var wg sync.WaitGroup
	var mu sync.Mutex
	for range runtime.GOMAXPROCS(0) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for m := range raws {
				msg := message.Parse(m.Raw)
				c := content.Parse(msg, content.Limits{})
				t := bayes.Tokenize(bayes.FromContent(c))
				if len(t) < bayes.MinTokens {
					mu.Lock()
					tally.skipped++
					mu.Unlock()
					prog.step(1)
					continue
				}
				lm := learnMsg{source: m.Source, raw: m.Raw, item: bayes.Item(msg, t, class)}
				if sl, ok := lr.(*storeLearner); ok {
					lm.fuzzy = sl.hashes(c)
				}
				toks <- lm
			}
		}()
	}
	go func() { wg.Wait(); close(toks) }()
	var batch []learnMsg
	var learnErr error
	flush := func() {
		if len(batch) == 0 || learnErr != nil {
			batch = batch[:0]
			return
		}
		var t learnTally
		if err := lr.learn(ctx, batch, class, &t); err != nil {
			learnErr = err
		}
		mu.Lock()
		tally.learned += t.learned
		tally.relearned += t.relearned
		tally.already += t.already
		tally.skipped += t.skipped
		tally.failed += t.failed
		if tally.firstErr == "" {
			tally.firstErr = t.firstErr
		}
		mu.Unlock()
		prog.step(len(batch))
		batch = batch[:0]
	}
	for m := range toks {
		batch = append(batch, m)
		if len(batch) >= learnBatch {
			flush()
		}
	}
	flush()
	if learnErr != nil {
		return tally, learnErr
	}
	if readErr != nil && !errors.Is(readErr, context.Canceled) {
		return tally, readErr
	}
	return tally, ctx.Err()
}

// installedConfig is the Debian package's configuration file.
var installedConfig = "/etc/hamlet/hamlet.toml"

// noConfigHint points at the installed configuration when none was given
// and one exists: a command run without -c uses the embedded defaults
// (data_dir ./hamlet-data), not the installed daemon's settings.
func noConfigHint(file string) string {
	if file != "" {
		return ""
	}
	if _, err := os.Stat(installedConfig); err != nil {
		return ""
	}
	return " (no -c given: " + installedConfig + " was not read)"
}
