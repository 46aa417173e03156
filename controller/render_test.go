package controller

import (
	"context"
	"html"
	"net/url"
	"regexp"
	"slices"
	"strings"
	"testing"

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
