package controller

import (
	"context"
	"html"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/BurntSushi/toml"
	"github.com/hamlet-mail/hamlet/store"
)

// tomlString gives a TOML basic string that decodes back to its input
// (invalid UTF-8 as U+FFFD).
func TestTomlString(t *testing.T) {
	for _, tc := range []struct{ in, want, back string }{
		{"mx.example.org", `"mx.example.org"`, ""},
		{`a"b`, `"a\"b"`, ""},
		{`a\b`, `"a\\b"`, ""},
		{"tab\there\nnl\rcr\bbs\fff", `"tab\there\nnl\rcr\bbs\fff"`, ""},
		{"nul\x00esc\x1bdel\x7f", `"nul\u0000esc\u001Bdel\u007F"`, ""},
		{"bad\xffutf8", "\"bad\uFFFDutf8\"", "bad\uFFFDutf8"},
		{"héllo\u2028", "\"héllo\u2028\"", ""},
		{`x"] ips = ["0.0.0.0/0`, `"x\"] ips = [\"0.0.0.0/0"`, ""},
	} {
		got := tomlString(tc.in)
		if got != tc.want {
			t.Errorf("tomlString(%q) = %s, want %s", tc.in, got, tc.want)
		}
		var v struct{ S string }
		if _, err := toml.Decode("s = "+got, &v); err != nil {
			t.Errorf("tomlString(%q) = %s: not TOML: %v", tc.in, got, err)
			continue
		}
		back := tc.back
		if back == "" {
			back = tc.in
		}
		if v.S != back {
			t.Errorf("tomlString(%q) decodes to %q", tc.in, v.S)
		}
	}
}

// The detail page's allowlist snippet is valid TOML that holds the
// client's name as it is, whatever the name contains.
func TestDetailTOMLSnippet(t *testing.T) {
	e := newEnv(t, withPasswords(t))
	host := `evil.example"] ips = ["0.0.0.0/0` + "\\\n"
	rec := store.HistoryRecord{ID: "snip1", Time: t0, QueueID: "Q1", ClientIP: "192.0.2.7", ClientHost: host,
		From: "x@example.org", Action: "reject", Score: 20, Symbols: []string{"TEST_SPAM"}}
	if err := e.st.HistoryAdd(context.Background(), rec); err != nil {
		t.Fatal(err)
	}
	w := e.do("GET", "/mail/snip1", "", map[string]string{"Password": "boss"})
	if w.Code != 200 {
		t.Fatalf("detail: %d", w.Code)
	}
	m := regexp.MustCompile(`(?s)<pre>(\[allowlist\].*?)</pre>`).FindStringSubmatch(w.Body.String())
	if m == nil {
		t.Fatalf("no snippet in %s", w.Body)
	}
	snippet := html.UnescapeString(m[1])
	var v struct {
		Allowlist struct{ IPs, Hostnames []string }
	}
	if _, err := toml.Decode(snippet, &v); err != nil {
		t.Fatalf("snippet is not TOML: %v\n%s", err, snippet)
	}
	if !slices.Equal(v.Allowlist.IPs, []string{"192.0.2.7"}) || !slices.Equal(v.Allowlist.Hostnames, []string{host}) {
		t.Errorf("snippet decodes to %+v\n%s", v.Allowlist, snippet)
	}
}

// A page shows only a flash message the controller signed: a crafted or
// altered ?flash= shows nothing; the one from a real action is shown.
func TestFlashSigned(t *testing.T) {
	e := newEnv(t, withPasswords(t))
	admin := map[string]string{"Password": "boss"}
	shown := func(target string) bool {
		t.Helper()
		w := e.do("GET", target, "", admin)
		if w.Code != 200 {
			t.Fatalf("GET %s: %d", target, w.Code)
		}
		return strings.Contains(w.Body.String(), `class="flash`)
	}
	form := url.Values{"target": {"192.0.2.9"}, "back": {"/greylist"}}.Encode()
	w := e.do("POST", "/fix/allow", form, map[string]string{"Password": "boss", "Content-Type": "application/x-www-form-urlencoded"})
	if w.Code != 303 {
		t.Fatalf("/fix/allow: %d %s", w.Code, w.Body)
	}
	loc := w.Header().Get("Location")
	u, _ := url.Parse(loc)
	msg := u.Query().Get("flash")
	if !strings.HasPrefix(msg, "Allowlisted net:192.0.2.9/32") {
		t.Fatalf("flash %q", msg)
	}
	if body := e.do("GET", loc, "", admin).Body.String(); !strings.Contains(body, html.EscapeString(msg)) || !shown(loc) {
		t.Errorf("the server's own flash is not shown at %s", loc)
	}
	q := u.Query()
	crafted := url.Values{"flash": {"Allowlisted net:0.0.0.0/0."}}
	other := url.Values{"flash": {"Allowlisted net:0.0.0.0/0."}, "flash_sig": {q.Get("flash_sig")}}
	sig := []byte(q.Get("flash_sig"))
	sig[0] ^= 1 // a signature that differs in one byte
	forged := url.Values{"flash": {msg}, "flash_sig": {string(sig)}}
	for _, v := range []url.Values{crafted, other, forged} {
		if target := "/greylist?" + v.Encode(); shown(target) {
			t.Errorf("crafted flash shown: %s", target)
		}
	}
}

// TestFlashBound: a flash link shows its message only for flashTTL, and
// only to whom it was made for: the browser session that did the action,
// or, for a password sent with each request, the same address. A link
// passed on (another session, another address) or kept (a later visit)
// shows nothing.
func TestFlashBound(t *testing.T) {
	clk := &clock{t: t0}
	pw := withPasswords(t)
	e := newEnv(t, func(o *Options) { pw(o); o.Now = clk.now })
	get := func(target, addr string, c *http.Cookie) bool {
		t.Helper()
		r := httptest.NewRequest("GET", target, nil)
		r.RemoteAddr, r.Host = addr, "127.0.0.1:11334"
		r.Header.Set("Accept", "text/html")
		if c != nil {
			r.AddCookie(c)
		} else {
			r.Header.Set("Password", "boss")
		}
		w := httptest.NewRecorder()
		e.srv.ServeHTTP(w, r)
		if w.Code != 200 {
			t.Fatalf("GET %s: %d", target, w.Code)
		}
		return strings.Contains(w.Body.String(), `class="flash`)
	}
	allow := func(target string, c *http.Cookie) string {
		t.Helper()
		form := url.Values{"target": {target}, "back": {"/greylist"}}
		r := httptest.NewRequest("POST", "/fix/allow", nil)
		r.RemoteAddr, r.Host = "198.51.100.9:4000", "127.0.0.1:11334"
		if c != nil {
			form.Set("csrf_token", csrfOf(t, e, c))
			r.AddCookie(c)
			r.Header.Set("Origin", "http://127.0.0.1:11334")
			r.Header.Set("Sec-Fetch-Site", "same-origin")
		} else {
			r.Header.Set("Password", "boss")
		}
		r.Body = io.NopCloser(strings.NewReader(form.Encode()))
		r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		w := httptest.NewRecorder()
		e.srv.ServeHTTP(w, r)
		if w.Code != 303 || !strings.Contains(w.Header().Get("Location"), "flash_sig=") {
			t.Fatalf("/fix/allow: %d %v %s", w.Code, w.Header(), w.Body)
		}
		return w.Header().Get("Location")
	}

	// A password with each request: bound to the address.
	loc := allow("192.0.2.10", nil)
	if !get(loc, "198.51.100.9:5000", nil) {
		t.Fatal("the flash is not shown to the address that did the action")
	}
	if get(loc, "203.0.113.7:4000", nil) {
		t.Error("the flash is shown to another address")
	}
	clk.add(flashTTL - time.Second)
	if !get(loc, "198.51.100.9:5000", nil) {
		t.Error("the flash is not shown on a reload within flashTTL")
	}
	clk.add(2 * time.Second)
	if get(loc, "198.51.100.9:5000", nil) {
		t.Error("the flash link is replayable after flashTTL")
	}

	// A browser session: bound to it, not to its address.
	mine, other := loginCookie(t, e, "boss", false), loginCookie(t, e, "boss", false)
	loc = allow("192.0.2.11", mine)
	if !get(loc, "198.51.100.9:4000", mine) {
		t.Fatal("the flash is not shown to the session that did the action")
	}
	if get(loc, "198.51.100.9:4000", other) {
		t.Error("the flash is shown to another session from the same address")
	}
	if get(loc, "198.51.100.9:4000", nil) {
		t.Error("a session's flash is shown to a password request from its address")
	}
	// A timestamp moved on does not make an old link fresh.
	u, _ := url.Parse(loc)
	q := u.Query()
	clk.add(flashTTL + time.Second)
	q.Set("flash_t", strconv.FormatInt(clk.now().Unix(), 10))
	if get("/greylist?"+q.Encode(), "198.51.100.9:4000", mine) {
		t.Error("a link with a changed flash_t is shown")
	}
}
