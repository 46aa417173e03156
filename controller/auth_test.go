package controller

import (
	"crypto/tls"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"golang.org/x/crypto/bcrypt"
)

func mustHash(t testing.TB, pw string) string {
	t.Helper()
	h, err := HashPassword(pw)
	if err != nil {
		t.Fatal(err)
	}
	return h
}

func withPasswords(t testing.TB) func(*Options) {
	ro, admin := mustHash(t, "reader"), mustHash(t, "boss")
	return func(o *Options) { o.Password, o.EnablePassword = ro, admin }
}

func TestHashes(t *testing.T) {
	h := mustHash(t, "s3cret")
	if !strings.HasPrefix(h, "$argon2id$v=19$m=19456,t=2,p=1$") || CheckHash(h) != nil {
		t.Fatalf("hash %q", h)
	}
	if !VerifyPassword(h, "s3cret") || VerifyPassword(h, "s3cre") || VerifyPassword(h, "") {
		t.Error("argon2id verify")
	}
	b, _ := bcrypt.GenerateFromPassword([]byte("old"), bcrypt.MinCost)
	if CheckHash(string(b)) != nil || !VerifyPassword(string(b), "old") || VerifyPassword(string(b), "new") {
		t.Error("bcrypt verify")
	}
	for _, bad := range []string{"plaintext", "$argon2id$v=19$m=0,t=2,p=1$c2FsdHNhbHQ$aGFzaGhhc2hoYXNoaGFzaA", "$argon2id$v=18$m=1,t=1,p=1$x$y", "$2a$10$short"} {
		if CheckHash(bad) == nil {
			t.Errorf("CheckHash(%q) accepted", bad)
		}
	}
	if _, err := New(Options{Password: "plaintext"}); err == nil || !strings.Contains(err.Error(), "hamlet passwd") {
		t.Errorf("New with a plain password: %v", err)
	}
}

func TestValidateListen(t *testing.T) {
	for _, tt := range []struct {
		listen string
		pw     bool
		ok     bool
	}{
		{"127.0.0.1:11334", false, true},
		{"[::1]:11334", false, true},
		{"localhost:11334", false, true},
		{"", false, true},
		{"0.0.0.0:11334", false, false},
		{":11334", false, false},
		{"[::]:11334", false, false},
		{"192.0.2.1:11334", false, false},
		{"mx.example.org:11334", false, false},
		{"0.0.0.0:11334", true, true},
	} {
		err := ValidateListen(tt.listen, tt.pw)
		if (err == nil) != tt.ok {
			t.Errorf("ValidateListen(%q, %v) = %v", tt.listen, tt.pw, err)
		}
	}
}

// No password: loopback is admin, other addresses get nothing, and a
// browser's cross-site request is never trusted for coming from loopback.
func TestNoPassword(t *testing.T) {
	e := newEnv(t, nil)
	if w := e.do("GET", "/stat", "", nil); w.Code != 200 {
		t.Fatalf("loopback /stat: %d %s", w.Code, w.Body)
	}
	if w := e.do("GET", "/stat", "", map[string]string{"RemoteAddr": "[::1]:5000"}); w.Code != 200 {
		t.Errorf("::1 /stat: %d", w.Code)
	}
	if w := e.do("GET", "/stat", "", map[string]string{"RemoteAddr": "192.0.2.1:5000"}); w.Code != 401 {
		t.Errorf("remote /stat: %d", w.Code)
	}
	if w := e.do("POST", "/api/greylist/allow", `{"target":"192.0.2.1"}`, nil); w.Code != 201 {
		t.Errorf("rspamc-like POST from loopback: %d %s", w.Code, w.Body)
	}
	// A page of another site, open in a browser on the host.
	cross := map[string]string{"Origin": "http://evil.example", "Sec-Fetch-Site": "cross-site", "Content-Type": "text/plain"}
	if w := e.do("POST", "/api/greylist/allow", `{"target":"192.0.2.2"}`, cross); w.Code != 403 {
		t.Errorf("cross-origin POST: %d %s", w.Code, w.Body)
	}
	if w := e.do("GET", "/api/greylist", "", map[string]string{"Sec-Fetch-Site": "cross-site", "Sec-Fetch-Mode": "cors"}); w.Code != 401 {
		t.Errorf("cross-site fetch of the greylist: %d", w.Code)
	}
	// An old browser without Sec-Fetch-Site still sends Origin.
	if w := e.do("POST", "/api/greylist/allow", `{"target":"192.0.2.3"}`, map[string]string{"Origin": "http://evil.example"}); w.Code != 403 {
		t.Errorf("cross-origin POST with Origin only: %d", w.Code)
	}
	// Same-origin browser requests need the session's token.
	same := map[string]string{"Origin": "http://127.0.0.1:11334", "Sec-Fetch-Site": "same-origin"}
	if w := e.do("POST", "/api/greylist/allow", `{"target":"192.0.2.4"}`, same); w.Code != 403 || !strings.Contains(w.Body.String(), "CSRF") {
		t.Errorf("same-origin POST without token: %d %s", w.Code, w.Body)
	}
	if l, _ := e.g.List(t.Context(), 0); len(l.Allow) != 1 {
		t.Errorf("allowlist after refused writes: %+v", l.Allow)
	}
}

// loginCookie logs in with pw and returns the session cookie.
func loginCookie(t *testing.T, e *env, pw string, tlsOn bool) *http.Cookie {
	t.Helper()
	r := httptest.NewRequest("POST", "/login", strings.NewReader(url.Values{"password": {pw}, "next": {"/history"}}.Encode()))
	r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	r.RemoteAddr, r.Host = "198.51.100.9:4000", "127.0.0.1:11334"
	if tlsOn {
		r.TLS = &tls.ConnectionState{}
	}
	w := httptest.NewRecorder()
	e.srv.ServeHTTP(w, r)
	if w.Code != http.StatusSeeOther || w.Header().Get("Location") != "/history" {
		t.Fatalf("login: %d %v %s", w.Code, w.Header(), w.Body)
	}
	cs := w.Result().Cookies()
	if len(cs) != 1 || cs[0].Name != sessionCookie || !cs[0].HttpOnly || cs[0].SameSite != http.SameSiteStrictMode || cs[0].Secure != tlsOn {
		t.Fatalf("session cookie: %+v", cs)
	}
	return cs[0]
}

// csrfOf fetches a page with the cookie and takes the token from its
// logout form.
func csrfOf(t *testing.T, e *env, c *http.Cookie) string {
	t.Helper()
	w := e.do("GET", "/login", "", nil) // public; the token comes from an authenticated page
	_ = w
	r := httptest.NewRequest("GET", "/api/session", nil)
	r.RemoteAddr, r.Host = "198.51.100.9:4000", "127.0.0.1:11334"
	r.AddCookie(c)
	rw := httptest.NewRecorder()
	e.srv.ServeHTTP(rw, r)
	var v struct {
		CSRF  string `json:"csrf_token"`
		Level string `json:"level"`
	}
	if err := json.Unmarshal(rw.Body.Bytes(), &v); err != nil || v.CSRF == "" {
		t.Fatalf("/api/session: %d %s", rw.Code, rw.Body)
	}
	return v.CSRF
}

func TestPasswords(t *testing.T) {
	e := newEnv(t, withPasswords(t))
	remote := map[string]string{"RemoteAddr": "198.51.100.9:4000"}
	// No credentials: 401 for the API, a redirect to the login form for a page.
	if w := e.do("GET", "/stat", "", remote); w.Code != 401 {
		t.Errorf("/stat without password: %d", w.Code)
	}
	if w := e.do("GET", "/stat", "", nil); w.Code != 401 {
		t.Errorf("/stat from loopback once a password is set: %d", w.Code)
	}
	if w := e.do("GET", "/api/greylist", "", map[string]string{"Accept": "text/html", "RemoteAddr": "198.51.100.9:4000"}); w.Code != 303 || !strings.HasPrefix(w.Header().Get("Location"), "/login?next=") {
		t.Errorf("page without session: %d %v", w.Code, w.Header())
	}
	// rspamc's Password header, and basic auth for Prometheus.
	if w := e.do("GET", "/stat", "", map[string]string{"Password": "reader", "RemoteAddr": "198.51.100.9:4000"}); w.Code != 200 || !strings.Contains(w.Body.String(), `"read_only":true`) {
		t.Errorf("/stat with the read-only password: %d %s", w.Code, w.Body)
	}
	if w := e.do("GET", "/stat", "", map[string]string{"Authorization": "Basic cHJvbTpib3Nz", "RemoteAddr": "198.51.100.9:4000"}); w.Code != 200 || !strings.Contains(w.Body.String(), `"read_only":false`) {
		t.Errorf("/stat with basic auth: %d %s", w.Code, w.Body)
	}
	// The read-only password cannot write; the admin password can.
	body := `{"target":"203.0.113.5"}`
	if w := e.do("POST", "/api/greylist/allow", body, map[string]string{"Password": "reader"}); w.Code != 403 {
		t.Errorf("write with the read-only password: %d %s", w.Code, w.Body)
	}
	if w := e.do("POST", "/api/greylist/allow", body, map[string]string{"Password": "boss"}); w.Code != 201 {
		t.Errorf("write with the admin password: %d %s", w.Code, w.Body)
	}

	// A browser session: writes need the CSRF token.
	c := loginCookie(t, e, "boss", false)
	tok := csrfOf(t, e, c)
	post := func(tokHdr string) int {
		r := httptest.NewRequest("POST", "/api/greylist/allow", strings.NewReader(`{"target":"203.0.113.6"}`))
		r.RemoteAddr, r.Host = "198.51.100.9:4000", "127.0.0.1:11334"
		r.Header.Set("Origin", "http://127.0.0.1:11334")
		r.Header.Set("Sec-Fetch-Site", "same-origin")
		r.AddCookie(c)
		if tokHdr != "" {
			r.Header.Set("X-CSRF-Token", tokHdr)
		}
		w := httptest.NewRecorder()
		e.srv.ServeHTTP(w, r)
		return w.Code
	}
	if code := post(""); code != 403 {
		t.Errorf("session POST without token: %d", code)
	}
	if code := post("wrong" + tok); code != 403 {
		t.Errorf("session POST with a bad token: %d", code)
	}
	if code := post(tok); code != 201 {
		t.Errorf("session POST with the token: %d", code)
	}
	// A read-only session cannot write even with its token.
	rc := loginCookie(t, e, "reader", true)
	rtok := csrfOf(t, e, rc)
	r := httptest.NewRequest("DELETE", "/api/greylist/net:203.0.113.6%2F32", nil)
	r.RemoteAddr, r.Host = "198.51.100.9:4000", "127.0.0.1:11334"
	r.Header.Set("X-CSRF-Token", rtok)
	r.Header.Set("Sec-Fetch-Site", "same-origin")
	r.AddCookie(rc)
	w := httptest.NewRecorder()
	e.srv.ServeHTTP(w, r)
	if w.Code != 403 {
		t.Errorf("read-only session DELETE: %d", w.Code)
	}
}

func TestLoginRateLimit(t *testing.T) {
	now := t0
	e := newEnv(t, func(o *Options) {
		withPasswords(t)(o)
		o.MaxLoginFailures = 3
		o.LoginWindow = 10 * time.Minute
		o.Now = func() time.Time { return now }
	})
	hdr := func(pw string) map[string]string {
		return map[string]string{"Password": pw, "RemoteAddr": "198.51.100.20:1000"}
	}
	for i := range 3 {
		if w := e.do("GET", "/stat", "", hdr("guess")); w.Code != 401 {
			t.Fatalf("failure %d: %d", i, w.Code)
		}
	}
	// Blocked now, even with the right password, also on the login form.
	if w := e.do("GET", "/stat", "", hdr("boss")); w.Code != 429 || w.Header().Get("Retry-After") == "" {
		t.Errorf("after 3 failures: %d %v", w.Code, w.Header())
	}
	form := map[string]string{"RemoteAddr": "198.51.100.20:1000", "Content-Type": "application/x-www-form-urlencoded"}
	if w := e.do("POST", "/login", "password=boss", form); w.Code != 429 {
		t.Errorf("login form while blocked: %d", w.Code)
	}
	// Another address is not blocked.
	if w := e.do("GET", "/stat", "", map[string]string{"Password": "boss", "RemoteAddr": "198.51.100.21:1000"}); w.Code != 200 {
		t.Errorf("other address: %d", w.Code)
	}
	now = now.Add(11 * time.Minute)
	if w := e.do("GET", "/stat", "", hdr("boss")); w.Code != 200 {
		t.Errorf("after the window: %d", w.Code)
	}
}

func TestHostCheck(t *testing.T) {
	e := newEnv(t, func(o *Options) { o.Hosts = []string{"mx.example.org"} })
	for host, want := range map[string]int{
		"127.0.0.1:11334":        200,
		"[::1]:11334":            200,
		"localhost:11334":        200,
		"mx.example.org":         200,
		"MX.Example.Org.:8080":   200,
		"192.0.2.1:11334":        200, // an IP literal cannot be rebound
		"evil.example:11334":     421,
		"127.0.0.1.evil.example": 421,
	} {
		if w := e.do("GET", "/stat", "", map[string]string{"Host": host}); w.Code != want {
			t.Errorf("Host %q: %d, want %d", host, w.Code, want)
		}
	}
}
