package controller

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"

	"golang.org/x/crypto/argon2"
	"golang.org/x/crypto/bcrypt"
)

// argon2id parameters of HashPassword (OWASP's minimum: 19 MiB, 2
// passes, 1 lane).
const (
	argonMemory = 19 * 1024
	argonTime   = 2
	argonLanes  = 1
	argonKeyLen = 32
)

// HashPassword returns the argon2id hash of password in the PHC string
// format ("$argon2id$v=19$m=19456,t=2,p=1$salt$hash"), the form the
// configuration keeps.
func HashPassword(password string) (string, error) {
	if password == "" {
		return "", errors.New("empty password")
	}
	salt := make([]byte, 16)
	if _, err := rand.Read(salt); err != nil {
		return "", err
	}
	key := argon2.IDKey([]byte(password), salt, argonTime, argonMemory, argonLanes, argonKeyLen)
	b64 := base64.RawStdEncoding
	return fmt.Sprintf("$argon2id$v=%d$m=%d,t=%d,p=%d$%s$%s", argon2.Version, argonMemory, argonTime, argonLanes,
		b64.EncodeToString(salt), b64.EncodeToString(key)), nil
}

// ErrNotHash: a configured password that is not a hash.
var ErrNotHash = errors.New("not a password hash (argon2id or bcrypt): run `hamlet passwd` and put its output in the file")

// CheckHash validates a configured password hash.
func CheckHash(h string) error {
	if strings.HasPrefix(h, "$2a$") || strings.HasPrefix(h, "$2b$") || strings.HasPrefix(h, "$2y$") {
		if _, err := bcrypt.Cost([]byte(h)); err != nil {
			return fmt.Errorf("bcrypt hash: %w", err)
		}
		return nil
	}
	if strings.HasPrefix(h, "$argon2id$") {
		_, _, _, err := parseArgon(h)
		return err
	}
	return ErrNotHash
}

type argonParams struct {
	m    uint32
	t    uint32
	p    uint8
	salt []byte
}

func parseArgon(h string) (argonParams, []byte, bool, error) {
	parts := strings.Split(h, "$")
	// "", "argon2id", "v=19", "m=…,t=…,p=…", salt, hash
	if len(parts) != 6 || parts[1] != "argon2id" {
		return argonParams{}, nil, false, fmt.Errorf("argon2id hash: want $argon2id$v=19$m=…,t=…,p=…$salt$hash")
	}
	var v int
	if _, err := fmt.Sscanf(parts[2], "v=%d", &v); err != nil || v != argon2.Version {
		return argonParams{}, nil, false, fmt.Errorf("argon2id hash: version %q (want v=%d)", parts[2], argon2.Version)
	}
	var p argonParams
	if _, err := fmt.Sscanf(parts[3], "m=%d,t=%d,p=%d", &p.m, &p.t, &p.p); err != nil || p.m == 0 || p.t == 0 || p.p == 0 || p.m > 4<<20 || p.t > 100 {
		return argonParams{}, nil, false, fmt.Errorf("argon2id hash: parameters %q", parts[3])
	}
	b64 := base64.RawStdEncoding
	salt, err1 := b64.DecodeString(parts[4])
	key, err2 := b64.DecodeString(parts[5])
	if err1 != nil || err2 != nil || len(salt) < 8 || len(key) < 16 || len(key) > 128 {
		return argonParams{}, nil, false, fmt.Errorf("argon2id hash: bad salt or key encoding")
	}
	p.salt = salt
	return p, key, true, nil
}

// VerifyPassword reports whether password matches hash.
func VerifyPassword(hash, password string) bool {
	if strings.HasPrefix(hash, "$argon2id$") {
		p, key, ok, err := parseArgon(hash)
		if err != nil || !ok {
			return false
		}
		got := argon2.IDKey([]byte(password), p.salt, p.t, p.m, p.p, uint32(len(key)))
		return subtle.ConstantTimeCompare(got, key) == 1
	}
	return bcrypt.CompareHashAndPassword([]byte(hash), []byte(password)) == nil
}

// ---- authentication ----

const (
	sessionCookie = "hamlet_session"
	maxSessions   = 10000
	maxLimited    = 10000
	maxVerified   = 64
)

type session struct {
	id      string
	csrf    string
	level   Level
	by      string
	expires time.Time // idle expiry, moved on by every request
	end     time.Time // SessionMaxAge after the login
}

type failures struct {
	n     int
	first time.Time
}

type authenticator struct {
	o         Options
	hasPasswd bool

	mu       sync.Mutex
	sessions map[string]*session
	fails    map[string]*failures
	// verified remembers passwords that matched (by a keyed digest), so
	// that a client sending its Password with every request (rspamd's web
	// UI does) costs one hash computation, not one per request.
	verified map[[32]byte]Level
	key      []byte
}

func newAuthenticator(o Options) *authenticator {
	key := make([]byte, 32)
	_, _ = rand.Read(key)
	return &authenticator{o: o, hasPasswd: o.Password != "" || o.EnablePassword != "",
		sessions: map[string]*session{}, fails: map[string]*failures{}, verified: map[[32]byte]Level{}, key: key}
}

// identify finds the caller of r. A non-zero status is an error answer
// (a wrong password, a blocked address).
func (a *authenticator) identify(w http.ResponseWriter, r *http.Request) (Who, int, string) {
	remote := remoteAddr(r)
	who := Who{Level: Public, By: "anonymous", Remote: r.RemoteAddr}
	// Without passwords a Password header means nothing (rspamd's web UI
	// sends one, "undefined", when it has none).
	if pw, ok := passwordOf(r); ok && a.hasPasswd {
		if retry, blocked := a.blocked(remote.String()); blocked {
			w.Header().Set("Retry-After", strconv.Itoa(int(retry.Seconds())+1))
			return who, http.StatusTooManyRequests, "Too many failed logins from this address; try again later"
		}
		lvl := a.check(pw)
		if lvl == Public {
			a.fail(remote.String())
			return who, http.StatusUnauthorized, "Unauthorized: wrong password"
		}
		who.Level, who.By = lvl, lvl.String()+" password"
		return who, 0, ""
	}
	if c, err := r.Cookie(sessionCookie); err == nil {
		if s := a.session(c.Value); s != nil {
			who.Level, who.By, who.session = s.level, "session ("+s.by+")", s
			return who, 0, ""
		}
	}
	if remote.IsValid() && !crossSite(r) {
		if !a.hasPasswd && remote.IsLoopback() {
			who.Level, who.By = Admin, "loopback (no password set)"
		} else if inPrefixes(remote, a.o.SecureIP) {
			who.Level, who.By = Admin, "secure_ip"
		}
	}
	return who, 0, ""
}

// passwordOf takes a password from a "Password" header (rspamc, rspamd's
// web UI) or basic auth (Prometheus).
func passwordOf(r *http.Request) (string, bool) {
	if pw := r.Header.Get("Password"); pw != "" {
		return pw, true
	}
	if _, pw, ok := r.BasicAuth(); ok {
		return pw, true
	}
	return "", false
}

// check returns the level a password gives (Public: none).
func (a *authenticator) check(pw string) Level {
	mac := hmac.New(sha256.New, a.key)
	mac.Write([]byte(pw))
	var d [32]byte
	copy(d[:], mac.Sum(nil))
	a.mu.Lock()
	lvl, ok := a.verified[d]
	a.mu.Unlock()
	if ok {
		return lvl
	}
	lvl = Public
	switch {
	case a.o.EnablePassword != "" && VerifyPassword(a.o.EnablePassword, pw):
		lvl = Admin
	case a.o.Password != "" && VerifyPassword(a.o.Password, pw):
		lvl = Read
		if a.o.EnablePassword == "" {
			lvl = Admin // rspamd: without enable_password, password is for everything
		}
	}
	if lvl != Public {
		a.mu.Lock()
		if len(a.verified) >= maxVerified {
			clear(a.verified)
		}
		a.verified[d] = lvl
		a.mu.Unlock()
	}
	return lvl
}

func (a *authenticator) blocked(ip string) (time.Duration, bool) {
	a.mu.Lock()
	defer a.mu.Unlock()
	f := a.fails[ip]
	if f == nil {
		return 0, false
	}
	left := a.o.LoginWindow - a.o.Now().Sub(f.first)
	if left <= 0 {
		delete(a.fails, ip)
		return 0, false
	}
	return left, f.n >= a.o.MaxLoginFailures
}

func (a *authenticator) fail(ip string) {
	a.mu.Lock()
	defer a.mu.Unlock()
	now := a.o.Now()
	f := a.fails[ip]
	if f == nil || now.Sub(f.first) >= a.o.LoginWindow {
		if len(a.fails) >= maxLimited {
			for k, v := range a.fails {
				if now.Sub(v.first) >= a.o.LoginWindow {
					delete(a.fails, k)
				}
			}
		}
		f = &failures{first: now}
		a.fails[ip] = f
	}
	f.n++
	a.o.Logger.Warn("controller: failed login", "remote", ip, "failures", f.n)
}

func randomToken() string {
	b := make([]byte, 24)
	_, _ = rand.Read(b)
	return base64.RawURLEncoding.EncodeToString(b)
}

func (a *authenticator) newSession(w http.ResponseWriter, r *http.Request, lvl Level, by string) *session {
	now := a.o.Now()
	s := &session{id: randomToken(), csrf: randomToken(), level: lvl, by: by, expires: now.Add(a.o.SessionTTL), end: now.Add(a.o.SessionMaxAge)}
	a.mu.Lock()
	if len(a.sessions) >= maxSessions {
		for k, v := range a.sessions {
			if v.over(now) {
				delete(a.sessions, k)
			}
		}
		if len(a.sessions) >= maxSessions {
			clear(a.sessions)
		}
	}
	a.sessions[s.id] = s
	a.mu.Unlock()
	http.SetCookie(w, &http.Cookie{Name: sessionCookie, Value: s.id, Path: "/", HttpOnly: true,
		SameSite: http.SameSiteStrictMode, Secure: secureRequest(r)})
	return s
}

// over reports whether the session has ended at now (idle too long, or
// logged in too long ago).
func (s *session) over(now time.Time) bool { return now.After(s.expires) || now.After(s.end) }

// secureRequest reports whether the browser reached us over TLS: our
// own, or a reverse proxy's that says so (X-Forwarded-Proto, RFC 7239
// Forwarded). A forged claim only makes the cookie stricter: a browser
// then keeps it off plain HTTP.
func secureRequest(r *http.Request) bool {
	if r.TLS != nil || strings.EqualFold(r.Header.Get("X-Forwarded-Proto"), "https") {
		return true
	}
	for _, f := range strings.Split(r.Header.Get("Forwarded"), ";") {
		if k, v, ok := strings.Cut(strings.TrimSpace(f), "="); ok && strings.EqualFold(k, "proto") && strings.EqualFold(strings.Trim(v, `"`), "https") {
			return true
		}
	}
	return false
}

func (a *authenticator) session(id string) *session {
	a.mu.Lock()
	defer a.mu.Unlock()
	s := a.sessions[id]
	if s == nil {
		return nil
	}
	now := a.o.Now()
	if s.over(now) {
		delete(a.sessions, id)
		return nil
	}
	s.expires = now.Add(a.o.SessionTTL)
	return s
}

func (a *authenticator) endSession(id string) {
	a.mu.Lock()
	delete(a.sessions, id)
	a.mu.Unlock()
}

// tokenOK checks the CSRF token of a state-changing browser request.
func (a *authenticator) tokenOK(r *http.Request, who Who) bool {
	if who.session == nil {
		// A browser request authenticated by a Password header: a page
		// of another site cannot set that header (CORS), so it is no
		// forgery. A browser trusted for its address alone has no token
		// to show.
		_, ok := passwordOf(r)
		return ok
	}
	tok := r.Header.Get("X-CSRF-Token")
	if tok == "" {
		ct := r.Header.Get("Content-Type")
		if strings.HasPrefix(ct, "application/x-www-form-urlencoded") || strings.HasPrefix(ct, "multipart/form-data") {
			tok = r.FormValue("csrf_token")
		}
	}
	return tok != "" && subtle.ConstantTimeCompare([]byte(tok), []byte(who.session.csrf)) == 1
}
