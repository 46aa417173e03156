package controller

import (
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"time"
)

// flashKey signs the flash messages this process puts in redirect URLs, so
// that a page shows only a message the controller itself wrote: a crafted
// link (…?flash=Allowlisted…) shows nothing. It is made anew at each start;
// a message from before a restart is not shown, which loses nothing.
var flashKey = func() []byte {
	k := make([]byte, 32)
	rand.Read(k) // never fails (crypto/rand, Go ≥ 1.24)
	return k
}()

const maxFlash = 300

// flashTTL is how long a flash link shows its message: long enough for
// the redirect and a reload, too short for a link passed on to be shown
// as news later.
const flashTTL = 2 * time.Minute

// A flash link is bound to whom it was made for: the browser session of
// the request that made it, or, without one (a password sent with each
// request), the client's address. Another session or address sees
// nothing, however fresh the link.
func flashBinds(r *http.Request) (session, addr string) {
	if s := WhoFrom(r).session; s != nil {
		session = "session:" + s.id
	}
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		host = r.RemoteAddr
	}
	return session, "addr:" + host
}

func flashSig(bind string, issued int64, msg string) string {
	m := hmac.New(sha256.New, flashKey)
	m.Write([]byte("hamlet flash\x00"))
	m.Write([]byte(bind))
	m.Write([]byte{0})
	m.Write(strconv.AppendInt(nil, issued, 10))
	m.Write([]byte{0})
	m.Write([]byte(msg))
	return base64.RawURLEncoding.EncodeToString(m.Sum(nil))
}

type clockKey struct{}

// withClock makes now the clock flash links are signed and checked with.
func withClock(r *http.Request, now func() time.Time) *http.Request {
	return r.WithContext(context.WithValue(r.Context(), clockKey{}, now))
}

func flashNow(r *http.Request) time.Time {
	if now, ok := r.Context().Value(clockKey{}).(func() time.Time); ok {
		return now()
	}
	return time.Now()
}

// WithFlash returns the URL to (a path on this site) with msg as a signed
// flash message for the session (or, without one, the address) r comes
// from, shown by the page it leads to for flashTTL.
func WithFlash(r *http.Request, to, msg string) string {
	u, err := url.Parse(to)
	if err != nil {
		u = &url.URL{Path: "/"}
	}
	session, addr := flashBinds(r)
	bind := session
	if bind == "" {
		bind = addr
	}
	issued := flashNow(r).Unix()
	q := u.Query()
	q.Set("flash", msg)
	q.Set("flash_t", strconv.FormatInt(issued, 10))
	q.Set("flash_sig", flashSig(bind, issued, msg))
	u.RawQuery = q.Encode()
	return u.String()
}

// RedirectFlash answers 303 See Other to WithFlash(r, to, msg).
func RedirectFlash(w http.ResponseWriter, r *http.Request, to, msg string) {
	http.Redirect(w, r, WithFlash(r, to, msg), http.StatusSeeOther)
}

// flashFrom is r's flash message if this process signed it for r's
// session or address less than flashTTL ago, else "".
func flashFrom(r *http.Request) string {
	q := r.URL.Query()
	f := q.Get("flash")
	if f == "" || len(f) >= maxFlash {
		return ""
	}
	issued, err := strconv.ParseInt(q.Get("flash_t"), 10, 64)
	if err != nil {
		return ""
	}
	if age := flashNow(r).Sub(time.Unix(issued, 0)); age < -time.Second || age > flashTTL {
		return ""
	}
	sig := []byte(q.Get("flash_sig"))
	session, addr := flashBinds(r)
	for _, bind := range []string{session, addr} {
		if bind != "" && hmac.Equal(sig, []byte(flashSig(bind, issued, f))) {
			return f
		}
	}
	return ""
}
