package controller

import (
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"
)

// clock is a settable clock for session tests.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *clock) add(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

// dashboardAs asks for the dashboard with cookie c: 200, or 303 to the login
// form.
func dashboardAs(e *env, c *http.Cookie) *httptest.ResponseRecorder {
	r := httptest.NewRequest("GET", "/", nil)
	r.RemoteAddr, r.Host = "198.51.100.9:4000", "127.0.0.1:11334"
	r.Header.Set("Accept", "text/html")
	if c != nil {
		r.AddCookie(c)
	}
	w := httptest.NewRecorder()
	e.srv.ServeHTTP(w, r)
	return w
}

func loggedIn(t *testing.T, w *httptest.ResponseRecorder) bool {
	t.Helper()
	switch {
	case w.Code == 200:
		return true
	case w.Code == http.StatusSeeOther && strings.HasPrefix(w.Header().Get("Location"), "/login"):
		return false
	}
	t.Fatalf("dashboard: %d %v", w.Code, w.Header())
	return false
}

func TestSessionExpiry(t *testing.T) {
	clk := &clock{t: t0}
	pw := withPasswords(t)
	e := newEnv(t, func(o *Options) {
		pw(o)
		o.Now, o.SessionTTL, o.SessionMaxAge = clk.now, time.Hour, 5*time.Hour
	})
	c := loginCookie(t, e, "boss", false)
	if !loggedIn(t, dashboardAs(e, c)) {
		t.Fatal("a fresh session is not logged in")
	}
	// Each request moves the idle expiry on: four requests 50 minutes
	// apart keep it.
	for range 4 {
		clk.add(50 * time.Minute)
		if !loggedIn(t, dashboardAs(e, c)) {
			t.Fatalf("logged out after 50 idle minutes (%v after the login)", clk.now().Sub(t0))
		}
	}
	// An hour and a minute without a request ends it.
	clk.add(61 * time.Minute)
	if loggedIn(t, dashboardAs(e, c)) {
		t.Error("the session outlived its idle time")
	}

	// However busy, it ends SessionMaxAge after the login.
	c = loginCookie(t, e, "boss", false)
	start := clk.now()
	for clk.now().Sub(start) < 5*time.Hour-30*time.Minute {
		clk.add(30 * time.Minute)
		if !loggedIn(t, dashboardAs(e, c)) {
			t.Fatalf("a busy session ended %v after the login", clk.now().Sub(start))
		}
	}
	clk.add(31 * time.Minute)
	if loggedIn(t, dashboardAs(e, c)) {
		t.Errorf("a busy session outlived its maximum age (%v)", clk.now().Sub(start))
	}
}

func TestLogout(t *testing.T) {
	e := newEnv(t, withPasswords(t))
	c := loginCookie(t, e, "reader", false)
	tok := csrfOf(t, e, c)
	logout := func(tok string) *httptest.ResponseRecorder {
		r := httptest.NewRequest("POST", "/logout", strings.NewReader(url.Values{"csrf_token": {tok}}.Encode()))
		r.RemoteAddr, r.Host = "198.51.100.9:4000", "127.0.0.1:11334"
		r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		r.Header.Set("Origin", "http://127.0.0.1:11334")
		r.Header.Set("Sec-Fetch-Site", "same-origin")
		r.AddCookie(c)
		w := httptest.NewRecorder()
		e.srv.ServeHTTP(w, r)
		return w
	}
	// Without the token (a page of another site posting the form) the
	// session stays.
	if w := logout("wrong"); w.Code != 403 {
		t.Errorf("logout with a bad token: %d", w.Code)
	}
	if !loggedIn(t, dashboardAs(e, c)) {
		t.Fatal("a forged logout ended the session")
	}
	w := logout(tok)
	if w.Code != http.StatusSeeOther || w.Header().Get("Location") != "/login" {
		t.Errorf("logout: %d %v", w.Code, w.Header())
	}
	cs := w.Result().Cookies()
	if len(cs) != 1 || cs[0].Name != sessionCookie || cs[0].MaxAge >= 0 || cs[0].Value != "" {
		t.Errorf("logout cookie: %+v", cs)
	}
	// The server forgot it: the old cookie, replayed, is no login.
	if loggedIn(t, dashboardAs(e, c)) {
		t.Error("the session cookie still works after logging out")
	}
}

// A login replaces the session the browser had (no fixation), and a
// proxy's TLS makes the cookie Secure.
func TestSessionLogin(t *testing.T) {
	e := newEnv(t, withPasswords(t))
	old := loginCookie(t, e, "reader", false)
	r := httptest.NewRequest("POST", "/login", strings.NewReader(url.Values{"password": {"boss"}, "next": {"/history"}}.Encode()))
	r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	r.Header.Set("X-Forwarded-Proto", "https")
	r.RemoteAddr, r.Host = "198.51.100.9:4000", "127.0.0.1:11334"
	r.AddCookie(old)
	w := httptest.NewRecorder()
	e.srv.ServeHTTP(w, r)
	cs := w.Result().Cookies()
	if w.Code != http.StatusSeeOther || len(cs) != 1 || cs[0].Value == old.Value || !cs[0].Secure || !cs[0].HttpOnly {
		t.Fatalf("login over a TLS proxy: %d %+v", w.Code, cs)
	}
	if loggedIn(t, dashboardAs(e, old)) {
		t.Error("the session before the login still works")
	}
	if !loggedIn(t, dashboardAs(e, cs[0])) {
		t.Error("the new session does not work")
	}
	for _, tc := range []struct {
		hdr, val string
		secure   bool
	}{{"Forwarded", `for=192.0.2.1;proto=https`, true}, {"Forwarded", `for=192.0.2.1;proto=http`, false}, {"X-Forwarded-Proto", "http", false}} {
		r := httptest.NewRequest("GET", "/", nil)
		r.Header.Set(tc.hdr, tc.val)
		if got := secureRequest(r); got != tc.secure {
			t.Errorf("%s: %s → secure %v", tc.hdr, tc.val, got)
		}
	}
}

// countingReader counts the bytes read from it.
type countingReader struct {
	r io.Reader
	n int64
}

func (c *countingReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n += int64(n)
	return n, err
}

// TestFormBodyBounded: the CSRF check reads a session's form to find
// its token, before the endpoint bounds the body; that read is bounded
// too (it was not: a logged-in reader's 40 MB upload to /try was read
// whole, 32 MB of it into memory and the rest to a temporary file).
func TestFormBodyBounded(t *testing.T) {
	e := newEnv(t, withPasswords(t))
	c := loginCookie(t, e, "reader", false)
	const size = 40 << 20
	head := "--b\r\nContent-Disposition: form-data; name=\"csrf_token\"\r\n\r\nx\r\n" +
		"--b\r\nContent-Disposition: form-data; name=\"file\"; filename=\"m.eml\"\r\nContent-Type: message/rfc822\r\n\r\n"
	body := &countingReader{r: io.MultiReader(strings.NewReader(head), io.LimitReader(zeros{}, size), strings.NewReader("\r\n--b--\r\n"))}
	r := httptest.NewRequest("POST", "/try", body)
	r.RemoteAddr, r.Host = "198.51.100.9:4000", "127.0.0.1:11334"
	r.Header.Set("Content-Type", "multipart/form-data; boundary=b")
	r.Header.Set("Accept", "text/html")
	r.AddCookie(c)
	w := httptest.NewRecorder()
	e.srv.ServeHTTP(w, r)
	if w.Code != http.StatusRequestEntityTooLarge {
		t.Errorf("a %d MB form: %d, want 413", size>>20, w.Code)
	}
	if lim := int64(maxFormBody) + 1<<20; body.n > lim {
		t.Errorf("read %d MB of the body, more than the %d MB a form may have", body.n>>20, maxFormBody>>20)
	}
}

type zeros struct{}

func (zeros) Read(p []byte) (int, error) {
	clear(p)
	return len(p), nil
}
