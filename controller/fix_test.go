package controller

import (
	"context"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/hamlet-mail/hamlet/bayes"
	"github.com/hamlet-mail/hamlet/greylist"
	"github.com/hamlet-mail/hamlet/store"
)

func TestGreylistKeys(t *testing.T) {
	grey := []string{"TEST_GREY", "GREYLIST"}
	for _, tc := range []struct {
		name string
		rec  store.HistoryRecord
		want []string
	}{
		{"network and SPF subjects, per recipient", store.HistoryRecord{ClientIP: "192.0.2.7", From: "Bob+tag@Example.ORG", RcptList: []string{"a@example.com", "B@example.com"}, Symbols: grey},
			[]string{"net:192.0.2.0/24|bob@example.org|a@example.com", "net:192.0.2.0/24|bob@example.org|b@example.com",
				"spf:example.org|bob@example.org|a@example.com", "spf:example.org|bob@example.org|b@example.com"}},
		{"null sender: the HELO name's SPF", store.HistoryRecord{ClientIP: "2001:db8:1:2::9", Helo: "MX.example.net.", RcptList: []string{"a@example.com"}, Symbols: grey},
			[]string{"net:2001:db8:1:2::/64|<>|a@example.com", "spf:mx.example.net|<>|a@example.com"}},
		{"not greylisted", store.HistoryRecord{ClientIP: "192.0.2.7", From: "bob@example.org", RcptList: []string{"a@example.com"}, Symbols: []string{"TEST_GREY"}}, nil},
		{"hashed addresses", store.HistoryRecord{ClientIP: "192.0.2.7", From: "h:0123@example.org", RcptList: []string{"h:4567@example.com"}, Symbols: grey}, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := greylistKeys(tc.rec); !slices.Equal(got, tc.want) {
				t.Errorf("got  %q\nwant %q", got, tc.want)
			}
		})
	}
}

// The fix and learn forms need the admin level; /fix/drop drops those of
// its keys that exist and says which.
func TestFixDropAndLearnAccess(t *testing.T) {
	var cl *bayes.Classifier
	pw := withPasswords(t)
	e := newEnv(t, func(o *Options) { pw(o); withLearning(t, &cl)(o) })
	ctx := context.Background()
	k := greylist.Key("net:192.0.2.0/24", "bob@example.org", "a@example.com")
	gc := greylist.DefaultConfig()
	if _, err := e.st.GreylistAttempt(ctx, k, time.Now(), gc.Params()); err != nil {
		t.Fatal(err)
	}
	form := url.Values{"key": {"net:192.0.2.0/24|nobody@example.org|a@example.com", k}, "back": {"/greylist?q=bob"}}.Encode()
	hdr := func(pw string) map[string]string {
		return map[string]string{"Password": pw, "Content-Type": "application/x-www-form-urlencoded"}
	}
	if w := e.do("POST", "/fix/drop", form, hdr("reader")); w.Code != 403 {
		t.Errorf("read-only /fix/drop: %d", w.Code)
	}
	if _, err := e.st.GreylistGet(ctx, k, time.Now()); err != nil {
		t.Fatalf("the read-only drop dropped: %v", err)
	}
	w := e.do("POST", "/fix/drop", form, hdr("boss"))
	loc, _ := url.Parse(w.Header().Get("Location"))
	if w.Code != 303 || loc.Path != "/greylist" || loc.Query().Get("q") != "bob" || loc.Query().Get("flash") != "Dropped "+k+"." {
		t.Errorf("admin /fix/drop: %d %s", w.Code, w.Header().Get("Location"))
	}
	if _, err := e.st.GreylistGet(ctx, k, time.Now()); err == nil {
		t.Error("the entry survived its drop")
	}
	w = e.do("POST", "/fix/drop", form, hdr("boss"))
	if loc, _ := url.Parse(w.Header().Get("Location")); !strings.HasPrefix(loc.Query().Get("flash"), "error: no entry") {
		t.Errorf("dropping again: %s", w.Header().Get("Location"))
	}
	// A foreign back link goes home instead.
	w = e.do("POST", "/fix/drop", url.Values{"key": {k}, "back": {"https://evil.example/"}}.Encode(), hdr("boss"))
	if loc, _ := url.Parse(w.Header().Get("Location")); loc.Host != "" || loc.Path != "/" {
		t.Errorf("back to another site: %s", w.Header().Get("Location"))
	}

	msg := url.Values{"class": {"spam"}, "message": {"Subject: cheap pills\n\nbuy cheap pills online now from our pharmacy store\n"}}.Encode()
	if w := e.do("POST", "/try/learn", msg, hdr("reader")); w.Code != 403 {
		t.Errorf("read-only /try/learn: %d", w.Code)
	}
	if w := e.do("POST", "/try/learn", msg, hdr("boss")); w.Code != 200 || !strings.Contains(w.Body.String(), "Learned as spam") {
		t.Errorf("admin /try/learn: %d %s", w.Code, w.Body)
	}
	if st, _ := cl.Stats(ctx); st.Spam != 1 {
		t.Errorf("learned spam: %d", st.Spam)
	}
	if w := e.do("POST", "/try/learn", url.Values{"class": {"spam"}, "message": {"Subject: x\n\nhi\n"}}.Encode(), hdr("boss")); w.Code != 503 || !strings.Contains(w.Body.String(), "too few tokens") {
		t.Errorf("learning a message without tokens: %d", w.Code)
	}
	if w := e.do("POST", "/try/learn", url.Values{"class": {"eggs"}, "message": {"x"}}.Encode(), hdr("boss")); w.Code != 400 {
		t.Errorf("learning as neither class: %d", w.Code)
	}
	// The read-only caller sees no learn buttons; the admin does.
	if w := e.do("POST", "/try", msg, hdr("reader")); strings.Contains(w.Body.String(), `id="learn-spam"`) {
		t.Error("read-only scan page offers to learn")
	}
	if w := e.do("POST", "/try", msg, hdr("boss")); !strings.Contains(w.Body.String(), `id="learn-spam"`) {
		t.Error("admin scan page lacks the learn buttons")
	}
}
