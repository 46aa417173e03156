package controller

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/hamlet-mail/hamlet/bayes"
	"github.com/hamlet-mail/hamlet/engine"
	"github.com/hamlet-mail/hamlet/greylist"
	"github.com/hamlet-mail/hamlet/internal/browsertest"
	"github.com/hamlet-mail/hamlet/store"
)

// withLearning wires a Bayes classifier over the controller's store, as
// the daemon does.
func withLearning(t *testing.T, out **bayes.Classifier) func(*Options) {
	return func(o *Options) {
		bs, ok := o.Store.(store.Bayes)
		if !ok {
			t.Fatal("the store keeps no Bayes tokens")
		}
		c := bayes.New(bs, bayes.DefaultConfig(), nil)
		*out = c
		o.Learned = func(ctx context.Context) (int64, int64, error) {
			st, err := c.Stats(ctx)
			return st.Spam, st.Ham, err
		}
		o.Learn = func(ctx context.Context, raw []byte, spam bool) (string, error) {
			class := store.BayesHam
			if spam {
				class = store.BayesSpam
			}
			l, err := c.LearnMessage(ctx, raw, class)
			if err != nil {
				return "", err
			}
			return l.String(), nil
		}
	}
}

// The fix buttons of the list pages and the learn buttons of the scan
// page, clicked in a browser, change the store, and the dashboard
// counts what was learned.
func TestBrowserFixAndLearn(t *testing.T) {
	var cl *bayes.Classifier
	pw := withPasswords(t)
	l := newLiveEnv(t, func(o *Options) { pw(o); withLearning(t, &cl)(o) })
	ctx := browsertest.Start(t)
	bg := context.Background()

	// Four greylisted senders on two networks, and clean mail.
	for i, ip := range []string{"100.64.0.1", "100.64.0.2", "100.64.1.1", "100.64.1.2"} {
		l.scan(t, fmt.Sprintf("G%d", i+1), ip, fmt.Sprintf("grey%d@new.example", i+1))
	}
	for i := range 4 {
		l.scan(t, fmt.Sprintf("C%d", i+1), fmt.Sprintf("198.51.100.%d", i+1), fmt.Sprintf("ok%d@good.example", i+1))
	}
	l.waitHistory(t, 8)
	key := func(ip, from string) string {
		return greylist.Key(greylist.Subject(netip.MustParseAddr(ip), ""), greylist.NormalizeSender(from), "user@example.com")
	}
	exists := func(k string) bool {
		_, err := l.st.GreylistGet(bg, k, time.Now())
		if err != nil && !errors.Is(err, store.ErrNotFound) {
			t.Fatal(err)
		}
		return err == nil
	}
	for _, k := range []string{key("100.64.0.1", "grey1@new.example"), key("100.64.0.2", "grey2@new.example")} {
		if !exists(k) {
			t.Fatalf("the scan left no greylist entry %s", k)
		}
	}

	if err := chromedp.Do(ctx, chromedp.Navigate(l.url+"/login"), chromedp.WaitVisible(chromedp.CSS(`#password`)),
		chromedp.SendKeys(chromedp.CSS(`#password`), "boss"), chromedp.Submit(chromedp.CSS(`#password`)),
		chromedp.WaitVisible(chromedp.CSS(`.tiles`))); err != nil {
		t.Fatalf("login: %v", err)
	}

	// From the history list: drop G1's greylist entry.
	flash := func() string {
		return browsertest.Run(t, ctx, chromedp.Evaluate[string](`document.querySelector(".flash").innerText`))
	}
	// submit clicks a form's button and waits for the page it leads to
	// (the old page's flash is removed first, so the wait is for the new
	// one).
	submit := func(sel string) {
		t.Helper()
		browsertest.Run(t, ctx, chromedp.Evaluate[bool](`document.querySelectorAll(".flash").forEach(e => e.remove()), true`))
		if err := chromedp.Do(ctx, chromedp.Click(chromedp.CSS(sel)), chromedp.WaitVisible(chromedp.CSS(`.flash`))); err != nil {
			t.Fatalf("clicking %s: %v", sel, err)
		}
	}
	shot := false
	fix := func(qid, button string) {
		t.Helper()
		if err := chromedp.Do(ctx, chromedp.Navigate(l.url+"/mail"),
			chromedp.WaitVisible(chromedp.CSS(`tr[data-qid=`+qid+`] td.fix summary`)),
			chromedp.Click(chromedp.CSS(`tr[data-qid=`+qid+`] td.fix summary`)),
			chromedp.WaitVisible(chromedp.CSS(`tr[data-qid=`+qid+`] td.fix `+button))); err != nil {
			t.Fatalf("opening %s's fixes: %v", qid, err)
		}
		if !shot {
			browsertest.ShootFitting(t, ctx, "history-fix")
			shot = true
		}
		submit(`tr[data-qid=` + qid + `] td.fix ` + button)
	}
	k1 := key("100.64.0.1", "grey1@new.example")
	fix("G1", `button[data-drop]`)
	if f := flash(); !strings.Contains(f, "Dropped "+k1) {
		t.Errorf("flash after dropping: %q", f)
	}
	if exists(k1) {
		t.Errorf("%s is still in the greylist", k1)
	}
	if loc := browsertest.Run(t, ctx, chromedp.Location()); !strings.Contains(loc, "/mail?") {
		t.Errorf("not back on the history page: %s", loc)
	}
	// Dropping it again says there is nothing to drop.
	fix("G1", `button[data-drop]`)
	if f := flash(); !strings.Contains(f, "error: no entry") {
		t.Errorf("flash after dropping twice: %q", f)
	}

	// From the history list: allowlist G3's network; the next message
	// from it is not greylisted.
	fix("G3", `button[data-target="100.64.1.0/24"]`)
	if f := flash(); !strings.Contains(f, "Allowlisted net:100.64.1.0/24") {
		t.Errorf("flash after allowlisting: %q", f)
	}
	if v := l.scan(t, "G9", "100.64.1.9", "grey9@new.example"); v.Action != engine.NoAction {
		t.Errorf("a message from the allowlisted network: %v %v", v.Action, v.Symbols)
	}

	// The greylist page: the waiting triplets with drop buttons, the
	// allowlist with remove buttons, a form that allowlists.
	if err := chromedp.Do(ctx, chromedp.Navigate(l.url+"/greylist"), chromedp.WaitVisible(chromedp.CSS(`#greylist`))); err != nil {
		t.Fatal(err)
	}
	browsertest.ShootFitting(t, ctx, "greylist")
	keys := browsertest.Run(t, ctx, chromedp.Evaluate[[]string](`[...document.querySelectorAll("#greylist tbody tr[data-key]")].map(r => r.dataset.key)`))
	k2 := key("100.64.0.2", "grey2@new.example")
	if len(keys) != 3 || !strings.Contains(strings.Join(keys, " "), k2) || strings.Contains(strings.Join(keys, " "), k1) {
		t.Errorf("greylist page rows: %q", keys)
	}
	// Each waiting sender says when its retry gets through.
	retry := browsertest.Run(t, ctx, chromedp.Evaluate[[]string](`[...document.querySelectorAll("#greylist tbody tr[data-key] td.retry")].map(e => e.innerText)`))
	for _, r := range retry {
		if !regexp.MustCompile(`^from [A-Z][a-z]{2} \d\d \d\d:\d\d:\d\d$`).MatchString(r) {
			t.Errorf("greylist page retry times %q", retry)
			break
		}
	}
	submit(fmt.Sprintf(`#greylist button[data-drop=%q]`, k2))
	if exists(k2) {
		t.Errorf("%s survived its drop button", k2)
	}
	if n := browsertest.Run(t, ctx, chromedp.Evaluate[int](`document.querySelectorAll("#greylist tbody tr[data-key]").length`)); n != 2 {
		t.Errorf("greylist page after a drop: %d rows", n)
	}
	if err := chromedp.Do(ctx,
		chromedp.SendKeys(chromedp.CSS(`#allow-form input[name=target]`), "partner.example"),
		chromedp.SendKeys(chromedp.CSS(`#allow-form input[name=reason]`), "our partner")); err != nil {
		t.Fatalf("allowlist form: %v", err)
	}
	submit(`#allow-form button`)
	if n := browsertest.Run(t, ctx, chromedp.Evaluate[int](`document.querySelectorAll('#allowlist tr[data-key="domain:partner.example"]').length`)); n != 1 {
		t.Errorf("the allowlist form's entry is not listed")
	}
	submit(`#allowlist button[data-drop="net:100.64.1.0/24"]`)
	al, err := l.st.AllowList(bg, time.Now(), 100)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, e := range al {
		got = append(got, e.Key+" "+e.Reason)
	}
	if strings.Join(got, ",") != "domain:partner.example our partner" {
		t.Errorf("allowlist after the page's add and remove: %q", got)
	}
	// A search narrows the triplets.
	if err := chromedp.Do(ctx, chromedp.Navigate(l.url+"/greylist?q=grey3"), chromedp.WaitVisible(chromedp.CSS(`#greylist`))); err != nil {
		t.Fatal(err)
	}
	if keys := browsertest.Run(t, ctx, chromedp.Evaluate[[]string](`[...document.querySelectorAll("#greylist tbody tr[data-key]")].map(r => r.dataset.key)`)); len(keys) != 1 || !strings.Contains(keys[0], "grey3@new.example") {
		t.Errorf("greylist search grey3: %q", keys)
	}

	// The scan page learns the message it scanned.
	msg := "From: Prize Desk <win@lottery.example>\nTo: user@example.com\nSubject: You have won a prize\nMessage-ID: <prize-1@lottery.example>\n\nClaim your lottery prize now, send your bank details to claim the money today.\n"
	if err := chromedp.Do(ctx, chromedp.Navigate(l.url+"/try"), chromedp.WaitVisible(chromedp.CSS(`#message`)),
		chromedp.SendKeys(chromedp.CSS(`#message`), msg), chromedp.Submit(chromedp.CSS(`#message`)),
		chromedp.WaitVisible(chromedp.CSS(`#learn-spam`))); err != nil {
		t.Fatalf("scan page: %v", err)
	}
	browsertest.ShootFitting(t, ctx, "scan-learn")
	if err := chromedp.Do(ctx, chromedp.Click(chromedp.CSS(`#learn-spam`)), chromedp.WaitVisible(chromedp.CSS(`#learned`))); err != nil {
		t.Fatalf("learn from the scan page: %v", err)
	}
	if s := browsertest.Run(t, ctx, chromedp.Evaluate[string](`document.querySelector("#learned").innerText`)); !strings.HasPrefix(s, "Learned as spam") {
		t.Errorf("after learn as spam: %q", s)
	}
	browsertest.ShootFitting(t, ctx, "scan-learned")
	if st, err := cl.Stats(bg); err != nil || st.Spam != 1 || st.Ham != 0 {
		t.Errorf("classifier after learning from the page: %+v %v", st, err)
	}
	// The page kept the message: learning it again says so; as ham, it
	// moves. (The old answer is removed first, so that the wait is for
	// the new page's.)
	relearn := func(button string) error {
		browsertest.Run(t, ctx, chromedp.Evaluate[bool](`document.querySelector("#learned").remove(), true`))
		return chromedp.Do(ctx, chromedp.Click(chromedp.CSS(button)), chromedp.WaitVisible(chromedp.CSS(`#learned`)))
	}
	if err := relearn(`#learn-spam`); err != nil {
		t.Fatal(err)
	}
	if s := browsertest.Run(t, ctx, chromedp.Evaluate[string](`document.querySelector("#learned").innerText`)); !strings.HasPrefix(s, "Already learned as spam") {
		t.Errorf("learning twice: %q", s)
	}
	if err := relearn(`#learn-ham`); err != nil {
		t.Fatal(err)
	}
	if s := browsertest.Run(t, ctx, chromedp.Evaluate[string](`document.querySelector("#learned").innerText`)); !strings.HasPrefix(s, "Relearned as ham") {
		t.Errorf("relearning as ham: %q", s)
	}
	// A second message learned as spam; the dashboard counts 1 spam, 1 ham.
	msg2 := strings.ReplaceAll(msg, "prize-1", "prize-2") + "Second notice about your unclaimed lottery winnings.\n"
	if err := chromedp.Do(ctx, chromedp.Navigate(l.url+"/try"), chromedp.WaitVisible(chromedp.CSS(`#message`)),
		chromedp.SendKeys(chromedp.CSS(`#message`), msg2), chromedp.Submit(chromedp.CSS(`#message`)),
		chromedp.WaitVisible(chromedp.CSS(`#learn-spam`)),
		chromedp.Click(chromedp.CSS(`#learn-spam`)), chromedp.WaitVisible(chromedp.CSS(`#learned`))); err != nil {
		t.Fatal(err)
	}
	if err := chromedp.Do(ctx, chromedp.Navigate(l.url+"/"), chromedp.WaitVisible(chromedp.CSS(`#learned-counts`))); err != nil {
		t.Fatal(err)
	}
	if s := browsertest.Run(t, ctx, chromedp.Evaluate[string](`document.querySelector("#learned-counts").innerText`)); s != "1 spam, 1 ham." {
		t.Errorf("dashboard learned counts: %q", s)
	}
	browsertest.ShootFitting(t, ctx, "dashboard-learned")

	// Log out: the login form again, and the pages want a login.
	if err := chromedp.Do(ctx, chromedp.Click(chromedp.CSS(`form.who button`)), chromedp.WaitVisible(chromedp.CSS(`#password`)),
		chromedp.Navigate(l.url+"/greylist"), chromedp.WaitVisible(chromedp.CSS(`#password`))); err != nil {
		t.Fatalf("log out: %v", err)
	}
	if loc := browsertest.Run(t, ctx, chromedp.Location()); !strings.Contains(loc, "/login?next=") {
		t.Errorf("after logging out, /greylist is at %s", loc)
	}
}
