package controller

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/hamlet-mail/hamlet/engine"
	"github.com/hamlet-mail/hamlet/greylist"
	"github.com/hamlet-mail/hamlet/store"
)

// Level is the access an endpoint needs, or a caller has.
type Level int

// Access levels, from least to most.
const (
	// Public endpoints need no login (/ping, the login form, static files).
	Public Level = iota
	// Read endpoints show data; the read-only password suffices.
	Read
	// Admin endpoints change state; they need the admin password.
	Admin
)

func (l Level) String() string {
	switch l {
	case Read:
		return "read-only"
	case Admin:
		return "admin"
	}
	return "anonymous"
}

// Options configure a Server.
type Options struct {
	// Listen is the address the controller listens on (for the log and
	// ValidateListen; the daemon opens the socket).
	Listen string
	// Password is the read-only password's hash, EnablePassword the admin
	// password's (see HashPassword). With neither, loopback clients are
	// admins and nobody else gets in. With only Password, it is also the
	// admin password, as in rspamd.
	Password       string
	EnablePassword string
	// Hosts are the names the controller answers to besides "localhost"
	// and IP literals (a reverse proxy's name, the host's name).
	Hosts []string
	// SecureIP are networks whose clients need no password (rspamd's
	// secure_ip); empty by default once a password is set.
	SecureIP []netip.Prefix
	// MaxLoginFailures failed logins from one address within LoginWindow
	// block that address until the window ends (defaults 5 and 15 min).
	MaxLoginFailures int
	LoginWindow      time.Duration
	// RspamdWebUI, when set, is the directory of rspamd's web UI, served
	// under /rspamd/ against this controller's API.
	RspamdWebUI string
	// SessionTTL is how long an idle session lasts (default 12 h), and
	// SessionMaxAge how long one lasts however busy (default 7 days):
	// then its browser logs in again.
	SessionTTL    time.Duration
	SessionMaxAge time.Duration
	Logger        *slog.Logger
	// Now is the clock (default time.Now).
	Now func() time.Time

	Sources
}

// Sources are what the controller shows and changes. Store, Engine and
// Counters are needed for the rspamd API and the pages; without Greylist
// there is no greylist API.
type Sources struct {
	Store store.Store
	// Engine returns the engine in force (a reload replaces it).
	Engine func() *engine.Engine
	// Greylist returns the greylister in force.
	Greylist func() *greylist.Greylister
	// Counters observe the engine's verdicts (register it as an
	// engine.Observer).
	Counters *Counters
	// Version is hamlet's version, for /auth and /stat.
	Version string
	// Learned, when not nil, counts the messages learned as spam and ham
	// (the classifier's; /stat's "learned", the dashboard).
	Learned func(ctx context.Context) (spam, ham int64, err error)
	// FuzzyHashes, when not nil, counts the stored fuzzy hashes (/stat's
	// "fuzzy_hashes", which rspamc stat prints).
	FuzzyHashes func(ctx context.Context) (int64, error)
	// Learn, when not nil, learns a message (RFC 5322 text) as spam or
	// ham and says what it did ("learned as spam", "already learned as
	// ham"); the scan page offers it to admins.
	Learn func(ctx context.Context, raw []byte, spam bool) (string, error)
	// Health, when not nil, reports DNS health for the dashboard.
	Health func() Health
	// HashKey is the key the history hashes addresses with, when it does
	// ([history] hash_addresses): searches by address hash theirs.
	HashKey []byte
	// Config, when not nil, lists the effective settings the
	// configuration page shows besides thresholds and weights (never
	// password hashes).
	Config func() []ConfigItem
}

// Server is the controller's HTTP handler. Mount endpoints with Handle
// and Page before serving.
type Server struct {
	opts  Options
	src   Sources
	mux   *http.ServeMux
	cop   *http.CrossOriginProtection
	auth  *authenticator
	log   *slog.Logger
	hosts map[string]bool

	mu   sync.Mutex
	menu []MenuItem
}

// MenuItem is an entry of the UI's navigation.
type MenuItem struct {
	Title string
	Path  string
	Level Level
}

// New builds a Server. Its errors are configuration errors (a password
// that is not a hash, a bad host name).
func New(o Options) (*Server, error) {
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.MaxLoginFailures <= 0 {
		o.MaxLoginFailures = 5
	}
	if o.LoginWindow <= 0 {
		o.LoginWindow = 15 * time.Minute
	}
	if o.SessionTTL <= 0 {
		o.SessionTTL = 12 * time.Hour
	}
	if o.SessionMaxAge <= 0 {
		o.SessionMaxAge = 7 * 24 * time.Hour
	}
	for _, h := range []string{o.Password, o.EnablePassword} {
		if h != "" {
			if err := CheckHash(h); err != nil {
				return nil, err
			}
		}
	}
	if o.Counters == nil {
		o.Counters = NewCounters()
	}
	s := &Server{opts: o, src: o.Sources, mux: http.NewServeMux(), cop: http.NewCrossOriginProtection(), log: o.Logger, hosts: map[string]bool{}}
	for _, h := range o.Hosts {
		h = normHost(h)
		if h == "" {
			return nil, fmt.Errorf("controller: empty name in hosts")
		}
		s.hosts[h] = true
	}
	s.auth = newAuthenticator(o)
	s.mountAuth()
	s.Handle("GET /static/", Public, staticHandler())
	if o.Store != nil && o.Engine != nil {
		s.mountRspamd()
		s.mountPages()
	}
	if o.Greylist != nil {
		s.mountGreylist(o.Greylist)
	}
	if o.RspamdWebUI != "" {
		s.mountRspamdWebUI(o.RspamdWebUI)
	}
	return s, nil
}

// Handle mounts h at pattern (a net/http.ServeMux pattern) behind the
// access rules for lvl.
func (s *Server) Handle(pattern string, lvl Level, h http.Handler) {
	s.mux.Handle(pattern, s.guard(lvl, h))
}

// HandleFunc is Handle for a function.
func (s *Server) HandleFunc(pattern string, lvl Level, h func(http.ResponseWriter, *http.Request)) {
	s.Handle(pattern, lvl, http.HandlerFunc(h))
}

// AddMenu adds an entry to the UI's navigation (for pages mounted with
// Handle by other packages).
func (s *Server) AddMenu(title, path string, lvl Level) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.menu = append(s.menu, MenuItem{Title: title, Path: path, Level: lvl})
}

// Menu returns the navigation entries the caller of r may use.
func (s *Server) Menu(r *http.Request) []MenuItem {
	who := WhoFrom(r)
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []MenuItem
	for _, m := range s.menu {
		if who.Level >= m.Level {
			out = append(out, m)
		}
	}
	return out
}

// ServeHTTP implements http.Handler: Host check, security headers, then
// the mounted endpoint.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if !s.hostAllowed(r.Host) {
		s.log.Warn("controller: request for a host name it does not serve (DNS rebinding?)", "host", clip(r.Host), "remote", r.RemoteAddr, "path", clip(r.URL.Path))
		http.Error(w, "misdirected request: this controller does not serve "+clip(r.Host)+" (add it to [controller] hosts)", http.StatusMisdirectedRequest)
		return
	}
	h := w.Header()
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("X-Frame-Options", "DENY")
	h.Set("Referrer-Policy", "same-origin")
	s.mux.ServeHTTP(w, r)
}

// hostAllowed: IP literals (a rebinding attack needs a name), localhost
// and the configured names.
func (s *Server) hostAllowed(host string) bool {
	if host == "" {
		return true // HTTP/1.0 without Host: not a browser
	}
	h := normHost(host)
	if h == "localhost" || strings.HasSuffix(h, ".localhost") || s.hosts[h] {
		return true
	}
	_, err := netip.ParseAddr(h)
	return err == nil
}

func normHost(host string) string {
	h := host
	if hh, _, err := net.SplitHostPort(host); err == nil {
		h = hh
	}
	h = strings.TrimSuffix(strings.TrimSuffix(strings.TrimPrefix(h, "["), "]"), ".")
	if i := strings.IndexByte(h, '%'); i >= 0 { // zone of a link-local literal
		h = h[:i]
	}
	return strings.ToLower(h)
}

// ValidateListen refuses a controller listening beyond loopback without
// a password: anyone who can reach it could read the history and change
// the allowlist.
func ValidateListen(listen string, hasPassword bool) error {
	if listen == "" || hasPassword {
		return nil
	}
	host, _, err := net.SplitHostPort(listen)
	if err != nil {
		return fmt.Errorf("listen %q: %w", listen, err)
	}
	if host == "localhost" {
		return nil
	}
	if ip, err := netip.ParseAddr(host); err == nil && ip.IsLoopback() {
		return nil
	}
	return fmt.Errorf("listen %q is reachable beyond loopback and no password is set: set password and enable_password (see `hamlet passwd`) or listen on 127.0.0.1", listen)
}

// ---- who is calling ----

// Who is the caller of a request, as the access rules saw it.
type Who struct {
	Level Level
	// By says how: "admin password", "read-only password", "session
	// (admin)", "loopback 127.0.0.1 (no password set)", "anonymous".
	By      string
	Remote  string
	session *session
}

func (w Who) String() string { return w.By + " from " + w.Remote }

type whoKey struct{}

// WhoFrom returns the caller of r (set by the Server before a mounted
// handler runs).
func WhoFrom(r *http.Request) Who {
	if w, ok := r.Context().Value(whoKey{}).(Who); ok {
		return w
	}
	return Who{By: "anonymous", Remote: r.RemoteAddr}
}

// CSRFToken returns the token a form rendered for r must send back in a
// "csrf_token" field (or an X-CSRF-Token header); "" when the caller has
// no browser session.
func CSRFToken(r *http.Request) string {
	if s := WhoFrom(r).session; s != nil {
		return s.csrf
	}
	return ""
}

// Audit logs a write: who did what. Every state-changing handler calls it.
func (s *Server) Audit(r *http.Request, what string, args ...any) {
	who := WhoFrom(r)
	s.log.Info("controller write", append([]any{"what", what, "who", who.By, "remote", who.Remote}, args...)...)
}

func safeMethod(m string) bool {
	return m == http.MethodGet || m == http.MethodHead || m == http.MethodOptions
}

// fromBrowser: a request a browser made (a non-browser client sends none
// of these on its own; a page cannot strip them).
func fromBrowser(r *http.Request) bool {
	h := r.Header
	return h.Get("Origin") != "" || h.Get("Sec-Fetch-Site") != "" || h.Get("Cookie") != ""
}

// crossSite reports a browser request started by another site's page.
// Top-level navigations (a link in a mail) are not counted for GET, so a
// postmaster can follow a link to a history entry.
func crossSite(r *http.Request) bool {
	switch r.Header.Get("Sec-Fetch-Site") {
	case "cross-site", "same-site":
		return !(safeMethod(r.Method) && r.Header.Get("Sec-Fetch-Mode") == "navigate")
	}
	if o := r.Header.Get("Origin"); o != "" && o != "null" {
		u, err := url.Parse(o)
		return err != nil || !strings.EqualFold(u.Host, r.Host)
	}
	return r.Header.Get("Origin") == "null"
}

func wantsHTML(r *http.Request) bool {
	return strings.Contains(r.Header.Get("Accept"), "text/html")
}

// guard applies the access rules of lvl before h.
func (s *Server) guard(lvl Level, h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !safeMethod(r.Method) {
			if err := s.cop.Check(r); err != nil {
				s.deny(w, r, http.StatusForbidden, "Forbidden: cross-origin request refused")
				return
			}
		}
		who, status, msg := s.auth.identify(w, r)
		if status != 0 {
			s.deny(w, r, status, msg)
			return
		}
		if who.Level < lvl {
			if who.Level == Public {
				if safeMethod(r.Method) && wantsHTML(r) {
					http.Redirect(w, r, "/login?next="+url.QueryEscape(r.URL.RequestURI()), http.StatusSeeOther)
					return
				}
				w.Header().Set("WWW-Authenticate", `Basic realm="hamlet controller"`)
				s.deny(w, r, http.StatusUnauthorized, "Unauthorized: a password is needed")
				return
			}
			s.deny(w, r, http.StatusForbidden, "Forbidden: this needs the admin password (enable_password)")
			return
		}
		if !safeMethod(r.Method) {
			if who.session != nil && r.Header.Get("X-CSRF-Token") == "" {
				// The token check reads the form, before the endpoint
				// bounds its body: bound it here (no form of the UI is
				// larger than the scan page's).
				r.Body = http.MaxBytesReader(w, r.Body, maxFormBody)
				var tooLarge *http.MaxBytesError
				if err := parseForm(r); errors.As(err, &tooLarge) {
					s.deny(w, r, http.StatusRequestEntityTooLarge, "Request Entity Too Large: a form has at most "+strconv.Itoa(maxFormBody>>20)+" MB")
					return
				}
			}
			if fromBrowser(r) && lvl > Public && !s.auth.tokenOK(r, who) {
				s.deny(w, r, http.StatusForbidden, "Forbidden: missing or bad CSRF token (reload the page)")
				return
			}
		}
		if who.session == nil && lvl > Public && safeMethod(r.Method) && wantsHTML(r) && who.Level > Public {
			// A browser trusted for its address gets a session, so the
			// forms of the page carry a CSRF token.
			who.session = s.auth.newSession(w, r, who.Level, who.By)
		}
		h.ServeHTTP(w, withClock(r.WithContext(context.WithValue(r.Context(), whoKey{}, who)), s.opts.Now))
	})
}

// maxFormBody bounds a form a session posts (the scan page's message
// and its fields).
const maxFormBody = maxTrySize + 1<<20

// parseForm parses a form body (what the CSRF check then reads).
func parseForm(r *http.Request) error {
	ct := r.Header.Get("Content-Type")
	switch {
	case strings.HasPrefix(ct, "multipart/form-data"):
		return r.ParseMultipartForm(32 << 20)
	case strings.HasPrefix(ct, "application/x-www-form-urlencoded"):
		return r.ParseForm()
	}
	return nil
}

// deny answers an access error: JSON {"error": …} as rspamd does, or
// text for a browser page.
func (s *Server) deny(w http.ResponseWriter, r *http.Request, code int, msg string) {
	if code != http.StatusUnauthorized {
		s.log.Info("controller: request refused", "code", code, "path", clip(r.URL.Path), "remote", r.RemoteAddr, "reason", msg)
	}
	if wantsHTML(r) {
		http.Error(w, msg, code)
		return
	}
	writeJSON(w, code, map[string]string{"error": msg})
}

func writeJSON(w http.ResponseWriter, code int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	_ = json.NewEncoder(w).Encode(v)
}

func writeErr(w http.ResponseWriter, code int, msg string) {
	writeJSON(w, code, map[string]string{"error": msg})
}

func clip(s string) string {
	if len(s) > 200 {
		return s[:200] + "…"
	}
	return s
}

// remoteAddr is the client's address of r.
func remoteAddr(r *http.Request) netip.Addr {
	ap, err := netip.ParseAddrPort(r.RemoteAddr)
	if err != nil {
		return netip.Addr{}
	}
	return ap.Addr().Unmap()
}

func inPrefixes(ip netip.Addr, ps []netip.Prefix) bool {
	return slices.ContainsFunc(ps, func(p netip.Prefix) bool { return p.Contains(ip) })
}
