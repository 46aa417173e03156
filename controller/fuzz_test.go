package controller

import (
	"bufio"
	"bytes"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"unicode/utf8"
)

// fuzzRequests are the seeds of FuzzRequest: each route with the
// headers and bodies its clients send (rspamd's web UI and rspamc's
// Password header, the greylist API's JSON, the pages' forms).
var fuzzRequests = []string{
	"GET /stat HTTP/1.1\r\nHost: 127.0.0.1:11334\r\nPassword: reader\r\n\r\n",
	"GET /auth HTTP/1.1\r\nHost: localhost\r\nPassword: boss\r\n\r\n",
	"GET /graph?type=daily HTTP/1.1\r\nHost: 127.0.0.1\r\nPassword: reader\r\n\r\n",
	"GET /graph?type=%00 HTTP/1.1\r\nHost: [::1]:11334\r\nPassword: reader\r\n\r\n",
	"GET /history?from=0&to=-5&limit=99999999999999999999 HTTP/1.1\r\nHost: 127.0.0.1\r\nPassword: reader\r\n\r\n",
	"POST /historyreset HTTP/1.1\r\nHost: 127.0.0.1\r\nPassword: boss\r\nContent-Length: 0\r\n\r\n",
	"GET /actions HTTP/1.1\r\nHost: 127.0.0.1\r\nPassword: reader\r\n\r\n",
	"GET /symbols HTTP/1.1\r\nHost: 127.0.0.1\r\nPassword: reader\r\n\r\n",
	"GET /errors HTTP/1.1\r\nHost: evil.example\r\nPassword: reader\r\n\r\n",
	"GET /api/greylist?limit=-1 HTTP/1.1\r\nHost: 127.0.0.1\r\nPassword: reader\r\n\r\n",
	"POST /api/greylist/allow HTTP/1.1\r\nHost: 127.0.0.1\r\nPassword: boss\r\nContent-Type: application/json\r\nContent-Length: 60\r\n\r\n{\"target\":\"192.0.2.0/24\",\"reason\":\"partner\",\"ttl\":\"30d\"}\n",
	"POST /api/greylist/allow HTTP/1.1\r\nHost: 127.0.0.1\r\nPassword: boss\r\nContent-Type: application/json\r\nContent-Length: 27\r\n\r\n{\"target\":\"co.uk\",\"x\":[1]}",
	"DELETE /api/greylist/net:192.0.2.0%2F24 HTTP/1.1\r\nHost: 127.0.0.1\r\nPassword: boss\r\n\r\n",
	"POST /login HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/x-www-form-urlencoded\r\nContent-Length: 33\r\n\r\npassword=boss&next=%2F%2Fevil.org",
	"GET /login?next=/%09/evil.org HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n",
	"POST /login HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/x-www-form-urlencoded\r\nContent-Length: 36\r\n\r\npassword=boss&next=%2F%09%2Fevil.org",
	"POST /fix/allow HTTP/1.1\r\nHost: 127.0.0.1\r\nPassword: boss\r\nContent-Type: application/x-www-form-urlencoded\r\nContent-Length: 45\r\n\r\ntarget=203.0.113.7&ttl=2w&back=/%5C/evil.org",
	"POST /try HTTP/1.1\r\nHost: 127.0.0.1\r\nPassword: reader\r\nContent-Type: application/x-www-form-urlencoded\r\nContent-Length: 52\r\n\r\nip=203.0.113.9&from=spam%40x.test&message=Subject%3A",
	"GET /mail/%ff%fe HTTP/1.1\r\nHost: 127.0.0.1\r\nPassword: reader\r\nAccept: text/html\r\n\r\n",
	"GET /api/why?id=abc HTTP/1.1\r\nHost: 127.0.0.1\r\nPassword: reader\r\n\r\n",
	"GET /whatif?symbol=R_SPF_FAIL&weight=1e400 HTTP/1.1\r\nHost: 127.0.0.1\r\nPassword: reader\r\nAccept: text/html\r\n\r\n",
	"GET / HTTP/1.1\r\nHost: 127.0.0.1\r\nCookie: hamlet_session=AAAA; hamlet_session=\r\nSec-Fetch-Site: cross-site\r\n\r\n",
	"POST /logout HTTP/1.1\r\nHost: 127.0.0.1\r\nOrigin: null\r\nX-CSRF-Token: x\r\nContent-Length: 0\r\n\r\n",
}

// The controller answers any request it is sent — whatever its method,
// path, query, Host, Password, cookies and body — without a panic and
// without a 500 (bad input is the client's 4xx; 503 is for a store
// that failed); what it says is JSON is JSON, and a redirect never
// leaves the host, even after a browser drops tabs and newlines from
// the Location.
func FuzzRequest(f *testing.F) {
	for _, s := range fuzzRequests {
		f.Add([]byte(s))
	}
	e := newEnv(f, withPasswords(f))
	f.Fuzz(func(t *testing.T, raw []byte) {
		r, err := http.ReadRequest(bufio.NewReader(bytes.NewReader(raw)))
		if err != nil {
			return // net/http's parser refuses it before any handler runs
		}
		r.RemoteAddr = "127.0.0.1:40000"
		if r.URL.IsAbs() || r.URL.Host != "" {
			return // a proxy request: the server never routes those to handlers
		}
		w := httptest.NewRecorder()
		e.srv.ServeHTTP(w, r)
		if w.Code < 100 || w.Code > 599 || w.Code == 500 || (w.Code > 500 && w.Code != 503) {
			t.Fatalf("%q → %d %s", raw, w.Code, w.Body.Bytes())
		}
		if strings.HasPrefix(w.Header().Get("Content-Type"), "application/json") && w.Body.Len() > 0 && !json.Valid(w.Body.Bytes()) {
			t.Fatalf("%q → invalid JSON %q", raw, w.Body.Bytes())
		}
		if loc := w.Header().Get("Location"); loc != "" && !localRedirect(loc) {
			t.Fatalf("%q → redirect off the host: %q", raw, loc)
		}
	})
}

// localRedirect: a browser resolving loc against this server's URL
// stays on it. Browsers trim leading and trailing C0 controls and spaces,
// remove ASCII tab and newline inside, and treat "\" as "/" (WHATWG URL).
func localRedirect(loc string) bool {
	loc = strings.TrimFunc(loc, func(r rune) bool { return r <= 0x20 })
	loc = strings.NewReplacer("\t", "", "\n", "", "\r", "", "\\", "/").Replace(loc)
	switch {
	case strings.HasPrefix(loc, "//"):
		return false // another host, same scheme
	case strings.HasPrefix(loc, "/"):
		return true // a path on this host, whatever its escapes
	}
	u, err := url.Parse(loc)
	return err == nil && u.Scheme == "" && u.Host == ""
}

// safeNext gives a path on this host for any "next" or "back" value.
func FuzzSafeNext(f *testing.F) {
	for _, s := range []string{"/", "/mail/1", "//evil.org", "/\\evil.org", "/\t/evil.org", "/\n/evil.org", "https://evil.org", "", "/%2F/evil.org", "/\x00"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, next string) {
		got := safeNext(next)
		if !localRedirect(got) {
			t.Fatalf("safeNext(%q) = %q: leaves the host", next, got)
		}
		if !utf8.ValidString(next) {
			return
		}
		if !strings.HasPrefix(got, "/") {
			t.Fatalf("safeNext(%q) = %q: not a path", next, got)
		}
	})
}

// Password hashes from the configuration: CheckHash and VerifyPassword
// never panic, and a hash CheckHash refuses never verifies.
func FuzzPasswordHash(f *testing.F) {
	f.Add("$argon2id$v=19$m=19456,t=2,p=1$c2FsdHNhbHRzYWx0$aGFzaGhhc2hoYXNoaGFzaGhhc2hoYXNoaGFzaGhhc2g", "pw")
	f.Add("$argon2id$v=19$m=99999999999,t=2,p=1$c2FsdA$aGFzaA", "pw")
	f.Add("$argon2id$v=19$m=8,t=0,p=0$$", "")
	f.Add("$2a$04$abcdefghijklmnopqrstuuvwxyz0123456789ABCDEFGHIJKLMNOPQ", "old")
	f.Add("plaintext", "plaintext")
	f.Fuzz(func(t *testing.T, hash, pw string) {
		if len(hash) > 512 {
			return
		}
		ok := CheckHash(hash) == nil
		if VerifyPassword(hash, pw) && !ok {
			t.Fatalf("hash %q refused by CheckHash verifies %q", hash, pw)
		}
	})
}
