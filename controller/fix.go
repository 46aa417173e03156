package controller

import (
	"net/http"
	"strconv"
	"strings"

	"github.com/hamlet-mail/hamlet/config/duration"
	"github.com/hamlet-mail/hamlet/greylist"
)

// The fix buttons: form posts that change the allowlist and greylist,
// then go back to the page they came from with a message.
func (s *Server) mountFixes() {
	if s.src.Greylist == nil {
		return
	}
	s.HandleFunc("POST /fix/allow", Admin, func(w http.ResponseWriter, r *http.Request) {
		r.Body = http.MaxBytesReader(w, r.Body, 1<<16)
		target := strings.TrimSpace(r.FormValue("target"))
		var ttl duration.Duration
		if t := r.FormValue("ttl"); t != "" {
			if err := ttl.UnmarshalText([]byte(t)); err != nil {
				back(w, r, "error: ttl: "+err.Error())
				return
			}
		}
		e, err := s.allow(r, s.src.Greylist(), target, r.FormValue("reason"), ttl)
		if err != nil {
			back(w, r, "error: "+err.Error())
			return
		}
		back(w, r, "Allowlisted "+e.Key+".")
	})
	// A form may name several keys (a message's greylist triplets: one
	// per recipient); those that exist are dropped.
	s.HandleFunc("POST /fix/drop", Admin, func(w http.ResponseWriter, r *http.Request) {
		r.Body = http.MaxBytesReader(w, r.Body, 1<<16)
		if err := r.ParseForm(); err != nil {
			back(w, r, "error: "+err.Error())
			return
		}
		keys := r.PostForm["key"]
		if len(keys) == 0 || len(keys) > 2*greylist.MaxRcpts {
			back(w, r, "error: name one to "+strconv.Itoa(2*greylist.MaxRcpts)+" entries")
			return
		}
		var dropped []string
		for _, key := range keys {
			ok, err := s.drop(r, s.src.Greylist(), key)
			if err != nil {
				back(w, r, "error: "+err.Error())
				return
			}
			if ok {
				dropped = append(dropped, key)
			}
		}
		if len(dropped) == 0 {
			back(w, r, "error: no entry "+strings.Join(keys, ", ")+" (expired, passed or dropped already)")
			return
		}
		back(w, r, "Dropped "+strings.Join(dropped, ", ")+".")
	})
}

// back redirects to the form's "back" page (on this site) with a signed
// flash message.
func back(w http.ResponseWriter, r *http.Request, msg string) {
	RedirectFlash(w, r, safeNext(r.FormValue("back")), msg)
}
