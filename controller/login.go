package controller

import (
	"net/http"
	"strconv"
	"strings"
)

func (s *Server) mountAuth() {
	s.HandleFunc("GET /login", Public, s.loginForm)
	s.HandleFunc("POST /login", Public, s.login)
	s.HandleFunc("POST /logout", Public, s.logout)
	s.HandleFunc("GET /api/session", Read, func(w http.ResponseWriter, r *http.Request) {
		who := WhoFrom(r)
		writeJSON(w, http.StatusOK, map[string]string{"level": who.Level.String(), "by": who.By, "csrf_token": CSRFToken(r)})
	})
}

// safeNext keeps a redirect target on this site. Browsers drop ASCII tab
// and newline from a URL and read a backslash as "/" (WHATWG URL), so
// "/\t/evil.org" would leave it: a target with a control character is
// refused too.
func safeNext(next string) string {
	if !strings.HasPrefix(next, "/") || strings.HasPrefix(next, "//") || strings.HasPrefix(next, "/\\") ||
		strings.ContainsFunc(next, func(r rune) bool { return r < 0x20 || r == 0x7f }) {
		return "/"
	}
	return next
}

type loginData struct {
	Next    string
	Error   string
	NoPass  bool
	Blocked bool
}

func (s *Server) loginForm(w http.ResponseWriter, r *http.Request) {
	if !s.auth.hasPasswd {
		http.Redirect(w, r, safeNext(r.URL.Query().Get("next")), http.StatusSeeOther)
		return
	}
	s.render(w, r, http.StatusOK, "login", "Log in", loginData{Next: safeNext(r.URL.Query().Get("next"))})
}

func (s *Server) login(w http.ResponseWriter, r *http.Request) {
	if !s.auth.hasPasswd {
		http.Redirect(w, r, "/", http.StatusSeeOther)
		return
	}
	r.Body = http.MaxBytesReader(w, r.Body, 1<<16)
	next := safeNext(r.FormValue("next"))
	ip := remoteAddr(r).String()
	if retry, blocked := s.auth.blocked(ip); blocked {
		w.Header().Set("Retry-After", strconv.Itoa(int(retry.Seconds())+1))
		s.render(w, r, http.StatusTooManyRequests, "login", "Log in", loginData{Next: next, Blocked: true,
			Error: "Too many failed logins from this address. Try again in " + strconv.Itoa(int(retry.Minutes())+1) + " minutes."})
		return
	}
	lvl := s.auth.check(r.FormValue("password"))
	if lvl == Public {
		s.auth.fail(ip)
		s.render(w, r, http.StatusUnauthorized, "login", "Log in", loginData{Next: next, Error: "Wrong password."})
		return
	}
	if c, err := r.Cookie(sessionCookie); err == nil {
		s.auth.endSession(c.Value)
	}
	s.auth.newSession(w, r, lvl, lvl.String()+" password")
	s.log.Info("controller: login", "level", lvl.String(), "remote", r.RemoteAddr)
	http.Redirect(w, r, next, http.StatusSeeOther)
}

func (s *Server) logout(w http.ResponseWriter, r *http.Request) {
	if c, err := r.Cookie(sessionCookie); err == nil {
		if sess := s.auth.session(c.Value); sess != nil {
			if !s.auth.tokenOK(r, Who{session: sess}) {
				s.deny(w, r, http.StatusForbidden, "Forbidden: missing or bad CSRF token (reload the page)")
				return
			}
			s.auth.endSession(c.Value)
		}
	}
	http.SetCookie(w, &http.Cookie{Name: sessionCookie, Value: "", Path: "/", MaxAge: -1, HttpOnly: true, SameSite: http.SameSiteStrictMode, Secure: secureRequest(r)})
	http.Redirect(w, r, "/login", http.StatusSeeOther)
}
