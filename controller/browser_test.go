package controller

import (
	"context"
	"fmt"
	"net"
	"net/http/httptest"
	"net/netip"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/hamlet-mail/hamlet/checks"
	"github.com/hamlet-mail/hamlet/engine"
	"github.com/hamlet-mail/hamlet/greylist"
	"github.com/hamlet-mail/hamlet/internal/browsertest"
	"github.com/hamlet-mail/hamlet/internal/sharedtest"
	"github.com/hamlet-mail/hamlet/store"
	"github.com/hamlet-mail/hamlet/store/bolt"
	"github.com/hamlet-mail/hamlet/store/recorder"
)

// liveEnv is a controller over an engine that records its verdicts (the
// daemon's set-up: recorder, counters, greylisting), served on loopback.
type liveEnv struct {
	*env
	rec *recorder.Recorder
	url string
}

func newLiveEnv(t *testing.T, mod func(*Options)) *liveEnv {
	t.Helper()
	st, err := bolt.Open(t.TempDir(), store.Options{SweepInterval: -1})
	if err != nil {
		t.Fatal(err)
	}
	rec := recorder.New(st, recorder.Options{Linger: -1}) // at once: a test below asserts that a scan was NOT recorded
	t.Cleanup(func() { rec.Close(); st.Close() })
	g, err := greylist.New(st, greylist.DefaultConfig(), greylist.Options{})
	if err != nil {
		t.Fatal(err)
	}
	counters := NewCounters()
	eng, err := engine.New(engine.Options{
		Checks: []engine.Check{wordCheck{}}, Policy: engine.DefaultPolicy(),
		Finishers: []engine.Finisher{checks.NewGreylist(g, checks.SPFPassDomain, nil)},
		Observers: []engine.Observer{counters, rec},
	})
	if err != nil {
		t.Fatal(err)
	}
	o := Options{Sources: Sources{Store: st, Engine: func() *engine.Engine { return eng },
		Greylist: func() *greylist.Greylister { return g }, Counters: counters, Version: "test"}}
	if mod != nil {
		mod(&o)
	}
	srv, err := New(o)
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	hs := httptest.NewUnstartedServer(srv)
	hs.Listener = ln
	hs.Start()
	t.Cleanup(hs.Close)
	return &liveEnv{env: &env{st: st, eng: eng, srv: srv, g: g}, rec: rec, url: hs.URL}
}

// scan scans one transaction from ip with sender from and returns its
// verdict.
func (l *liveEnv) scan(t *testing.T, qid, ip, from string) *engine.Verdict {
	t.Helper()
	addr := netip.MustParseAddr(ip)
	return l.eng.Scan(context.Background(), &engine.Transaction{QueueID: qid, ClientIP: addr, Helo: "mail.example.net", MailFrom: from, Rcpts: []string{"user@example.com"}})
}

// waitHistory waits until the store holds n records.
func (l *liveEnv) waitHistory(t *testing.T, n int) {
	t.Helper()
	for range 200 {
		rs, err := l.st.HistoryList(context.Background(), store.HistoryQuery{Limit: n + 1})
		if err != nil {
			t.Fatal(err)
		}
		if len(rs) >= n {
			return
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Fatalf("history did not reach %d records", n)
}

// The flows a postmaster uses: log in, read the dashboard, filter the
// history, read a verdict's explanation, allowlist a sender.
func TestBrowserFlows(t *testing.T) {
	l := newLiveEnv(t, withPasswords(t))
	ctx := browsertest.Start(t)

	// 50 messages: 30 clean, 10 tagged, 5 rejected, 5 greylisted.
	n := 0
	mix := []struct {
		k    int
		from string
		ip   string
	}{{30, "ok%d@good.example", "198.51.100.%d"}, {10, "tag%d@promo.example", "203.0.113.%d"}, {5, "spam%d@bad.example", "192.0.2.%d"}, {5, "grey%d@new.example", "100.64.0.%d"}}
	for _, m := range mix {
		for i := range m.k {
			n++
			l.scan(t, fmt.Sprintf("Q%03d", n), fmt.Sprintf(m.ip, i+1), fmt.Sprintf(m.from, i))
		}
	}
	// A reject at a low score forced by a local rule, with long symbol
	// names and a zero-weight symbol (as a real server records them).
	forced := store.HistoryRecord{
		ID: "forced1", Time: time.Now().Add(-time.Minute), QueueID: "QFORCE", ClientIP: "192.0.2.200", From: "billing@freemail.example",
		RcptList: []string{"user@example.com"}, Action: "reject", Score: 2, ForcedBy: "LOCAL_EXECUTABLE",
		Symbols: []string{"ARC_NA", "LOCAL_EXECUTABLE", "LOCAL_FREEMAIL_REPLYTO", "REPLYTO_DOM_NEQ_FROM_DOM"},
		Hits:    []store.HistoryHit{{}, {Score: 1.5, Weight: 1.5}, {Score: 1, Weight: 1, Options: []string{"replyto@freemail.example"}}, {Score: -0.5, Weight: -0.5}},
	}
	if err := l.st.HistoryAdd(context.Background(), forced); err != nil {
		t.Fatal(err)
	}
	l.waitHistory(t, 51)

	// Log in.
	err := chromedp.Do(ctx, chromedp.Navigate(l.url+"/"), chromedp.WaitVisible(chromedp.CSS(`#password`)))
	loc := browsertest.Run(t, ctx, chromedp.Location())
	if err != nil || !strings.Contains(loc, "/login?next=") {
		t.Fatalf("not sent to the login form: %v %s", err, loc)
	}
	browsertest.ShootFitting(t, ctx, "login")
	t.Log("logging in")
	if err := chromedp.Do(ctx,
		chromedp.SendKeys(chromedp.CSS(`#password`), "boss"),
		chromedp.Submit(chromedp.CSS(`#password`)),
		chromedp.WaitVisible(chromedp.CSS(`.tiles`)),
	); err != nil {
		t.Fatalf("login: %v", err)
	}
	// The dashboard's counts are the 50 messages.
	t.Log("dashboard")
	browsertest.ShootFitting(t, ctx, "dashboard")
	// The greylisted ones are "greylisted", not soft rejects (rspamd's
	// name for them); there is no greylist tile: greylisting resolved
	// every greylist action.
	want := map[string]int{"no action": 30, "greylisted": 5, "add header": 10, "rewrite subject": 0, "soft reject": 0, "reject": 5}
	tiles := browsertest.Run(t, ctx, chromedp.Evaluate[map[string]string](`Object.fromEntries([...document.querySelectorAll('a.tile')].map(a => [a.dataset.kind, a.querySelector('b').dataset.count]))`))
	if len(tiles) != len(want) {
		t.Errorf("dashboard tiles %v, want %v", tiles, want)
	}
	for a, w := range want {
		if got := tiles[a]; got != strconv.Itoa(w) {
			t.Errorf("dashboard %s: %q, want %d", a, got, w)
		}
	}
	legend := browsertest.Run(t, ctx, chromedp.Evaluate[string](`document.querySelector(".legend").innerText`))
	if !strings.Contains(legend, "greylisted 10.0%") || !strings.Contains(legend, "soft reject 0.0%") {
		t.Errorf("donut legend: %q", legend)
	}
	bars := browsertest.Run(t, ctx, chromedp.Evaluate[string](`[...document.querySelectorAll("section.chart svg title")].map(e => e.textContent).join(" | ")`))
	if !strings.Contains(bars, "greylisted 5") || strings.Contains(bars, "soft reject") {
		t.Errorf("chart titles: %q", bars)
	}
	top := browsertest.Run(t, ctx, chromedp.Evaluate[string](`document.querySelector("main").innerText`))
	for _, w := range []string{"TEST_TAG", "192.0.2.0/24", "bad.example"} {
		if !strings.Contains(top, w) {
			t.Errorf("dashboard lacks %q", w)
		}
	}
	// The chart's axis is readable on a phone too: its labels are drawn
	// at least 12 px high (the SVG shrinks to the screen).
	browsertest.AtWidths(t, ctx, func(tag string, _ int64) {
		h := browsertest.Run(t, ctx, chromedp.Evaluate[float64](`Math.min(...[...document.querySelectorAll("svg.bars text")].map(e => e.getBoundingClientRect().height))`))
		if h < 12 {
			t.Errorf("throughput axis labels at the %s width: %.1f px high", tag, h)
		}
		out := browsertest.Run(t, ctx, chromedp.Evaluate[[]string](`(() => { const s = document.querySelector("svg.bars").getBoundingClientRect(); return [...document.querySelectorAll("svg.bars text")].filter(e => { const r = e.getBoundingClientRect(); return r.left < s.left - 0.5 || r.top < s.top - 0.5 || r.bottom > s.bottom + 0.5 }).map(e => e.textContent) })()`))
		if len(out) > 0 {
			t.Errorf("throughput axis labels cut at the %s width: %q", tag, out)
		}
	})
	browsertest.ShootFitting(t, ctx, "dashboard")

	// The greylisted tile leads to exactly those messages.
	if err := chromedp.Do(ctx, chromedp.Click(chromedp.CSS(`a.tile[data-kind="greylisted"]`)), chromedp.WaitVisible(chromedp.CSS(`#filtered`))); err != nil {
		t.Fatal(err)
	}
	badges := browsertest.Run(t, ctx, chromedp.Evaluate[[]string](`[...document.querySelectorAll("table.history tbody tr[data-id] .badge")].map(b => b.textContent)`))
	sel := browsertest.Run(t, ctx, chromedp.Evaluate[string](`document.querySelector("select[name=action]").value`))
	matches := browsertest.Run(t, ctx, chromedp.Evaluate[string](`document.querySelector("#matches").innerText`))
	if strings.Join(badges, ",") != "greylisted,greylisted,greylisted,greylisted,greylisted" || sel != "greylisted" || matches != "5 messages match." {
		t.Errorf("history of the greylisted tile: %v (filter %q, %q)", badges, sel, matches)
	}
	browsertest.ShootFitting(t, ctx, "history-greylisted")

	// Filter the history by action.
	if err := chromedp.Do(ctx,
		chromedp.Navigate(l.url+"/mail"),
		chromedp.WaitVisible(chromedp.CSS(`select[name=action]`)),
		chromedp.SetValue(chromedp.CSS(`select[name=action]`), "reject"),
		chromedp.Submit(chromedp.CSS(`select[name=action]`)),
		chromedp.WaitVisible(chromedp.CSS(`#filtered`)),
	); err != nil {
		t.Fatal(err)
	}
	rows := browsertest.Run(t, ctx, chromedp.Evaluate[int](`document.querySelectorAll("table.history tbody tr[data-id]").length`))
	badges = browsertest.Run(t, ctx, chromedp.Evaluate[[]string](`[...document.querySelectorAll("table.history tbody .badge")].map(b => b.textContent)`))
	if rows != 6 || len(badges) != 6 || strings.Count(strings.Join(badges, ","), "reject") != 6 { // 5 scanned, 1 forced
		t.Errorf("history filtered by reject: %d rows %v", rows, badges)
	}
	browsertest.ShootFitting(t, ctx, "history-reject")

	// Open a detail page and read the explanation.
	if err := chromedp.Do(ctx, chromedp.Click(chromedp.CSS(`table.history tbody tr[data-id] a`)), chromedp.WaitVisible(chromedp.CSS(`#summary`))); err != nil {
		t.Fatal(err)
	}
	summary := browsertest.Run(t, ctx, chromedp.Evaluate[string](`document.querySelector("#summary").innerText`))
	change := browsertest.Run(t, ctx, chromedp.Evaluate[string](`document.querySelector("#wouldchange").innerText`))
	if !strings.Contains(summary, "Reject with a score of 20.00") || !strings.Contains(change, "Without TEST_SPAM this would have been no action") {
		t.Errorf("explanation: %q / %q", summary, change)
	}
	browsertest.ShootFitting(t, ctx, "detail-reject")

	// The list says why the forced reject was rejected: the forcing
	// symbol first, on a phone too, and the zero-weight one last.
	if err := chromedp.Do(ctx, chromedp.Navigate(l.url+"/mail?qid=QFORCE"), chromedp.WaitVisible(chromedp.CSS(`table.history tbody tr[data-id]`))); err != nil {
		t.Fatal(err)
	}
	const visibleSyms = `[...document.querySelectorAll("table.history tbody tr[data-id] td.syms .sym")].filter(e => e.getClientRects().length > 0).map(e => e.innerText)`
	if got := strings.Join(browsertest.Run(t, ctx, chromedp.Evaluate[[]string](visibleSyms)), " | "); got != "forced by LOCAL_EXECUTABLE | LOCAL_FREEMAIL_REPLYTO | REPLYTO_DOM_NEQ_FROM_DOM | ARC_NA" {
		t.Errorf("history symbols at 1280 px: %q", got)
	}
	if err := chromedp.Do(ctx, chromedp.EmulateViewport(390, 844)); err != nil {
		t.Fatal(err)
	}
	if got := strings.Join(browsertest.Run(t, ctx, chromedp.Evaluate[[]string](visibleSyms)), " | "); got != "forced by LOCAL_EXECUTABLE | LOCAL_FREEMAIL_REPLYTO" {
		t.Errorf("history symbols at 390 px: %q", got)
	}
	browsertest.ShootFitting(t, ctx, "history-forced")

	// The forced reject's detail page fits a phone, long names and all.
	if err := chromedp.Do(ctx, chromedp.Navigate(l.url+recordLink(forced)), chromedp.WaitVisible(chromedp.CSS(`#symbols`))); err != nil {
		t.Fatal(err)
	}
	browsertest.ShootFitting(t, ctx, "detail-forced")

	// A greylisted sender: allowlist its address from its detail page,
	// and its next message passes.
	if err := chromedp.Do(ctx,
		chromedp.Navigate(l.url+"/mail?qid=Q050"),
		chromedp.WaitVisible(chromedp.CSS(`table.history tbody tr[data-id] a`)),
		chromedp.Click(chromedp.CSS(`table.history tbody tr[data-id] a`)),
		chromedp.WaitVisible(chromedp.CSS(`#summary`)),
	); err != nil {
		t.Fatal(err)
	}
	summary = browsertest.Run(t, ctx, chromedp.Evaluate[string](`document.querySelector("#summary").innerText`))
	decision := browsertest.Run(t, ctx, chromedp.Evaluate[string](`document.querySelector("#decision").innerText`))
	badge := browsertest.Run(t, ctx, chromedp.Evaluate[string](`document.querySelector("h1 .badge").innerText`))
	symbols := browsertest.Run(t, ctx, chromedp.Evaluate[string](`document.querySelector("#symbols").innerText`))
	if badge != "greylisted" || !strings.HasPrefix(summary, "Greylisted (soft reject) with a score of 5.00") || !strings.Contains(decision, "greylist band") {
		t.Errorf("greylisted explanation: badge %q, %q / %q", badge, summary, decision)
	}
	if !regexp.MustCompile(`GREYLIST: greylisted until \w{3}, \d\d \w{3} \d{4} \d\d:\d\d:\d\d UTC; a retry from then on passes\.`).MatchString(symbols) || strings.Contains(symbols, "counted nothing") {
		t.Errorf("greylisted symbol lines: %q", symbols)
	}
	browsertest.ShootFitting(t, ctx, "detail-greylisted")
	if err := chromedp.Do(ctx, chromedp.Click(chromedp.CSS(`button[data-target="100.64.0.5"]`)), chromedp.WaitVisible(chromedp.CSS(`.flash`))); err != nil {
		t.Fatal(err)
	}
	flash := browsertest.Run(t, ctx, chromedp.Evaluate[string](`document.querySelector(".flash").innerText`))
	if !strings.Contains(flash, "Allowlisted net:100.64.0.5/32") {
		t.Errorf("flash after allowlisting: %q", flash)
	}
	if v := l.scan(t, "Q051", "100.64.0.5", "grey9@new.example"); v.Action != engine.NoAction {
		t.Errorf("next message from the allowlisted sender: %v %v", v.Action, v.Symbols)
	}
}

// What-if shows the changed counts; the scan page and the configuration
// view render; rspamd's own web UI shows hamlet's stat numbers.
func TestBrowserWhatIfScanRspamdUI(t *testing.T) {
	const www = "/usr/share/rspamd/www"
	if _, err := os.Stat(filepath.Join(www, "index.html")); err != nil {
		sharedtest.Missing(t, "rspamd's web UI not installed (Debian package rspamd): %v", err)
	}
	l := newLiveEnv(t, func(o *Options) { o.RspamdWebUI = www })
	ctx := browsertest.Start(t)
	for i := range 10 {
		l.scan(t, fmt.Sprintf("T%02d", i), fmt.Sprintf("203.0.113.%d", i+1), fmt.Sprintf("tag%d@promo.example", i))
		l.scan(t, fmt.Sprintf("O%02d", i), fmt.Sprintf("198.51.100.%d", i+1), fmt.Sprintf("ok%d@good.example", i))
	}
	l.waitHistory(t, 20)

	// What if add header started at 8 and greylisting were off: the ten
	// tagged messages (TEST_TAG, 7) pass.
	if err := chromedp.Do(ctx,
		chromedp.Navigate(l.url+"/whatif"),
		chromedp.WaitVisible(chromedp.CSS(`input[name=add_header]`)),
		chromedp.SetValue(chromedp.CSS(`input[name=add_header]`), "8"),
		chromedp.SetValue(chromedp.CSS(`input[name=greylist]`), ""),
		chromedp.SendKeys(chromedp.CSS(`#weights`), "TEST_GOOD = -2"),
		chromedp.Submit(chromedp.CSS(`input[name=add_header]`)),
		chromedp.WaitVisible(chromedp.CSS(`#whatif-counts`)),
	); err != nil {
		t.Fatal(err)
	}
	cell := func(action, col string) string {
		return browsertest.Run(t, ctx, chromedp.Evaluate[string](fmt.Sprintf(`document.querySelector('#whatif-counts tr[data-kind=%q] .%s').innerText`, action, col)))
	}
	if b, a := cell("add header", "before"), cell("add header", "after"); b != "10" || a != "0" {
		t.Errorf("what-if add header: %s → %s, want 10 → 0", b, a)
	}
	if b, a := cell("no action", "before"), cell("no action", "after"); b != "10" || a != "20" {
		t.Errorf("what-if no action: %s → %s, want 10 → 20", b, a)
	}
	changed := browsertest.Run(t, ctx, chromedp.Evaluate[int](`document.querySelectorAll("#whatif-changed tbody a").length`))
	toml := browsertest.Run(t, ctx, chromedp.Evaluate[string](`document.querySelector("#toml").innerText`))
	if changed != 10 || !strings.Contains(toml, "add_header = 8") || !strings.Contains(toml, "greylist = false") || !strings.Contains(toml, "TEST_GOOD = -2") {
		t.Errorf("what-if: %d changed, TOML %q", changed, toml)
	}
	browsertest.ShootFitting(t, ctx, "whatif")

	// The scan page gives a verdict and records nothing.
	if err := chromedp.Do(ctx,
		chromedp.Navigate(l.url+"/try"),
		chromedp.WaitVisible(chromedp.CSS(`#message`)),
		chromedp.SendKeys(chromedp.CSS(`input[name=from]`), "spam@bad.example"),
		chromedp.SendKeys(chromedp.CSS(`#message`), "From: spam@bad.example\nSubject: buy\n\nnow\n"),
		chromedp.Submit(chromedp.CSS(`#message`)),
		chromedp.WaitVisible(chromedp.CSS(`#try-action`)),
	); err != nil {
		t.Fatal(err)
	}
	if a := browsertest.Run(t, ctx, chromedp.Evaluate[string](`document.querySelector("#try-action").innerText`)); a != "reject" {
		t.Errorf("scan page verdict: %q", a)
	}
	browsertest.ShootFitting(t, ctx, "scan")
	time.Sleep(200 * time.Millisecond)
	if rs, _ := l.st.HistoryList(context.Background(), store.HistoryQuery{Limit: 100}); len(rs) != 20 {
		t.Errorf("the scan page recorded its scan: %d records", len(rs))
	}

	if err := chromedp.Do(ctx, chromedp.Navigate(l.url+"/config"), chromedp.WaitVisible(chromedp.CSS(`#weights`))); err != nil {
		t.Fatal(err)
	}
	if w := browsertest.Run(t, ctx, chromedp.Evaluate[string](`document.querySelector("#weights").innerText`)); !strings.Contains(w, "TEST_SPAM") {
		t.Errorf("configuration view lacks TEST_SPAM")
	}
	browsertest.ShootFitting(t, ctx, "config")

	// rspamd's web UI, served by hamlet, shows hamlet's numbers.
	if err := chromedp.Do(ctx, chromedp.Navigate(l.url+"/rspamd/")); err != nil {
		t.Fatal(err)
	}
	wctx, wcancel := context.WithTimeout(ctx, 15*time.Second)
	defer wcancel()
	if err := chromedp.Do(wctx, chromedp.WaitVisible(chromedp.CSS(`#statWidgets .stat-box`))); err != nil {
		browsertest.Shoot(t, ctx, "rspamd-webui-failed")
		res := browsertest.Run(t, ctx, chromedp.Evaluate[[]string](`[...performance.getEntriesByType('resource')].map(e => e.name + ' ' + e.responseStatus)`))
		t.Logf("resources: %q", res)
		t.Fatalf("rspamd web UI: %v", err)
	}
	widgets := browsertest.Run(t, ctx, chromedp.Evaluate[string](`document.querySelector("#statWidgets").innerText`))
	norm := strings.Join(strings.Fields(strings.ToLower(widgets)), " ")
	for _, want := range []string{"20 scanned", "10 no action", "10 add header"} {
		if !strings.Contains(norm, want) {
			t.Errorf("rspamd web UI widgets lack %q: %q", want, norm)
		}
	}
	browsertest.Shoot(t, ctx, "rspamd-webui")
}
