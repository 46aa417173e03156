package controller

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"net/http"
	"net/url"
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

func flashSig(msg string) string {
	m := hmac.New(sha256.New, flashKey)
	m.Write([]byte("hamlet flash\x00"))
	m.Write([]byte(msg))
	return base64.RawURLEncoding.EncodeToString(m.Sum(nil))
}

// WithFlash returns the URL to (a path on this site) with msg as a signed
// flash message, shown once by the page it leads to.
func WithFlash(to, msg string) string {
	u, err := url.Parse(to)
	if err != nil {
		u = &url.URL{Path: "/"}
	}
	q := u.Query()
	q.Set("flash", msg)
	q.Set("flash_sig", flashSig(msg))
	u.RawQuery = q.Encode()
	return u.String()
}

// RedirectFlash answers 303 See Other to WithFlash(to, msg).
func RedirectFlash(w http.ResponseWriter, r *http.Request, to, msg string) {
	http.Redirect(w, r, WithFlash(to, msg), http.StatusSeeOther)
}

// flashFrom is r's flash message if this process signed it, else "".
func flashFrom(r *http.Request) string {
	q := r.URL.Query()
	f := q.Get("flash")
	if f == "" || len(f) >= maxFlash || !hmac.Equal([]byte(q.Get("flash_sig")), []byte(flashSig(f))) {
		return ""
	}
	return f
}
