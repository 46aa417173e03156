package greylist

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/netip"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/hamlet-mail/hamlet/internal/trustscope"
	"github.com/hamlet-mail/hamlet/store"
)

// Listing is what `hamlet greylist list` and GET /api/greylist show.
type Listing struct {
	Greylist []store.GreylistEntry `json:"greylist"`
	Allow    []store.AllowEntry    `json:"allow"`
}

// List returns up to limit greylist and allowlist entries each, sorted by
// key.
func (g *Greylister) List(ctx context.Context, limit int) (Listing, error) {
	now := g.now()
	gl, err := g.st.GreylistList(ctx, now, limit)
	if err != nil {
		return Listing{}, err
	}
	al, err := g.st.AllowList(ctx, now, limit)
	if err != nil {
		return Listing{}, err
	}
	if gl == nil {
		gl = []store.GreylistEntry{}
	}
	slices.SortFunc(gl, func(a, b store.GreylistEntry) int { return strings.Compare(a.Key, b.Key) })
	if al == nil {
		al = []store.AllowEntry{}
	}
	return Listing{Greylist: gl, Allow: al}, nil
}

// ErrBadTarget is returned by Allow for what is not an address, a network
// or a domain.
var ErrBadTarget = errors.New("greylist: not an IP address, network or domain")

// AllowKey turns an admin's target into an allowlist key: an address
// ("192.0.2.1" → "net:192.0.2.1/32"), a network of a length that lookups
// try (IPv4 /8 /16 /24 /32, IPv6 /32 /48 /56 /64 /128) or a domain
// ("example.org" → "domain:example.org", matched against the
// SPF-authenticated domain and the client's confirmed PTR name, and their
// parents). A key already in that form is accepted as it is.
func AllowKey(target string) (string, error) {
	t := strings.ToLower(strings.TrimSpace(target))
	t = strings.TrimPrefix(strings.TrimPrefix(t, "net:"), "domain:")
	if ip, err := netip.ParseAddr(t); err == nil {
		ip = ip.Unmap()
		p := netip.PrefixFrom(ip, ip.BitLen())
		if err := trustscope.Network(p); err != nil {
			return "", fmt.Errorf("%w: %w", ErrBadTarget, err)
		}
		return "net:" + p.String(), nil
	}
	if p, err := netip.ParsePrefix(t); err == nil {
		p = netip.PrefixFrom(p.Addr().Unmap(), p.Bits()).Masked()
		ok := map[int]bool{8: true, 16: true, 24: true, 32: true}
		if p.Addr().Is6() {
			ok = map[int]bool{32: true, 48: true, 56: true, 64: true, 128: true}
		}
		if !ok[p.Bits()] {
			return "", fmt.Errorf("%w: /%d networks are not looked up (IPv4: /8 /16 /24 /32; IPv6: /32 /48 /56 /64 /128)", ErrBadTarget, p.Bits())
		}
		if err := trustscope.Network(p); err != nil {
			return "", fmt.Errorf("%w: %w", ErrBadTarget, err)
		}
		return "net:" + p.String(), nil
	}
	t = strings.TrimSuffix(t, ".")
	if isDomain(t) {
		if err := trustscope.Domain(t); err != nil {
			return "", fmt.Errorf("%w: %w", ErrBadTarget, err)
		}
		return "domain:" + t, nil
	}
	return "", fmt.Errorf("%w: %q", ErrBadTarget, target)
}

func isDomain(s string) bool {
	if len(s) == 0 || len(s) > 253 || !strings.Contains(s, ".") {
		return false
	}
	for _, l := range strings.Split(s, ".") {
		if l == "" || len(l) > 63 || l[0] == '-' || l[len(l)-1] == '-' {
			return false
		}
		for _, c := range l {
			if !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '-' || c == '_') {
				return false
			}
		}
	}
	return true
}

// Allow allowlists target (see AllowKey) for ttl (0: for ever).
func (g *Greylister) Allow(ctx context.Context, target, reason string, ttl time.Duration) (store.AllowEntry, error) {
	k, err := AllowKey(target)
	if err != nil {
		return store.AllowEntry{}, err
	}
	if ttl < 0 {
		return store.AllowEntry{}, fmt.Errorf("greylist: negative ttl %v", ttl)
	}
	if reason == "" {
		reason = "admin"
	}
	now := g.now()
	e := store.AllowEntry{Key: k, Reason: reason, Added: now}
	if ttl > 0 {
		e.Expires = now.Add(ttl)
	}
	return e, g.st.AllowAdd(ctx, e)
}

// Drop removes a greylist entry or an allowlist entry ("net:…",
// "domain:…" or a target as Allow takes it); it reports whether one
// existed.
func (g *Greylister) Drop(ctx context.Context, key string) (bool, error) {
	if key == "" {
		return false, fmt.Errorf("greylist: empty key")
	}
	ok, err := g.st.GreylistDelete(ctx, key)
	if err != nil || ok {
		return ok, err
	}
	ak := key
	if !strings.Contains(key, "|") {
		if k, err := AllowKey(key); err == nil {
			ak = k
		}
	}
	ok, err = g.st.AllowDelete(ctx, ak)
	if err == nil && strings.HasPrefix(ak, "net:") {
		// An admin who drops a network's entry wants it gone: its pass
		// count goes too, or the next pass would allowlist it again.
		_, err = g.st.CounterDelete(ctx, "awl:"+strings.TrimPrefix(ak, "net:"))
	}
	return ok, err
}

// Handler serves the admin API under /api/greylist (mount it on the
// controller, behind its authentication):
//
//	GET    /api/greylist[?limit=N]   → 200 Listing
//	POST   /api/greylist/allow       {"target": "192.0.2.0/24", "reason": "…", "ttl": "30d"} → 201 AllowEntry
//	DELETE /api/greylist/{key}       → 204, or 404 when absent (key URL-escaped)
//
// Errors are JSON {"error": "..."} with 400 (bad request), 404 or 503
// (store failed).
func (g *Greylister) Handler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /api/greylist", func(w http.ResponseWriter, r *http.Request) {
		limit := 1000
		if s := r.URL.Query().Get("limit"); s != "" {
			n, err := strconv.Atoi(s)
			if err != nil || n <= 0 || n > 100000 {
				writeErr(w, http.StatusBadRequest, "limit: want 1..100000")
				return
			}
			limit = n
		}
		l, err := g.List(r.Context(), limit)
		if err != nil {
			writeErr(w, http.StatusServiceUnavailable, err.Error())
			return
		}
		writeJSON(w, http.StatusOK, l)
	})
	mux.HandleFunc("POST /api/greylist/allow", func(w http.ResponseWriter, r *http.Request) {
		var req allowRequest
		dec := json.NewDecoder(io.LimitReader(r.Body, 1<<16))
		dec.DisallowUnknownFields()
		if err := dec.Decode(&req); err != nil {
			writeErr(w, http.StatusBadRequest, "bad JSON: "+err.Error())
			return
		}
		var ttl Duration
		if req.TTL != "" {
			if err := ttl.UnmarshalText([]byte(req.TTL)); err != nil {
				writeErr(w, http.StatusBadRequest, "ttl: "+err.Error())
				return
			}
		}
		e, err := g.Allow(r.Context(), req.Target, req.Reason, ttl.D())
		switch {
		case errors.Is(err, ErrBadTarget), errors.Is(err, store.ErrInvalid):
			writeErr(w, http.StatusBadRequest, err.Error())
		case err != nil:
			writeErr(w, http.StatusServiceUnavailable, err.Error())
		default:
			writeJSON(w, http.StatusCreated, e)
		}
	})
	mux.HandleFunc("DELETE /api/greylist/{key...}", func(w http.ResponseWriter, r *http.Request) {
		ok, err := g.Drop(r.Context(), r.PathValue("key"))
		switch {
		case err != nil:
			writeErr(w, http.StatusServiceUnavailable, err.Error())
		case !ok:
			writeErr(w, http.StatusNotFound, "no such entry")
		default:
			w.WriteHeader(http.StatusNoContent)
		}
	})
	return mux
}

type allowRequest struct {
	Target string `json:"target"`
	Reason string `json:"reason,omitempty"`
	TTL    string `json:"ttl,omitempty"`
}

func writeJSON(w http.ResponseWriter, code int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	_ = json.NewEncoder(w).Encode(v)
}

func writeErr(w http.ResponseWriter, code int, msg string) {
	writeJSON(w, code, map[string]string{"error": msg})
}

// Client talks to a running daemon's admin API, for `hamlet greylist
// list | allow | drop`.
type Client struct {
	// BaseURL is the controller, e.g. "http://127.0.0.1:11334".
	BaseURL string
	// HTTP is the client to use (default: one with a 10 s timeout).
	HTTP *http.Client
	// Password, when set, is sent in a "Password" header, as rspamd's
	// controller expects it.
	Password string
}

// List fetches the listing.
func (c *Client) List(ctx context.Context, limit int) (Listing, error) {
	u := "/api/greylist"
	if limit > 0 {
		u += "?limit=" + strconv.Itoa(limit)
	}
	var l Listing
	return l, c.do(ctx, http.MethodGet, u, nil, http.StatusOK, &l)
}

// Allow allowlists target for ttl (0: for ever).
func (c *Client) Allow(ctx context.Context, target, reason string, ttl time.Duration) (store.AllowEntry, error) {
	req := allowRequest{Target: target, Reason: reason}
	if ttl > 0 {
		b, _ := Duration(ttl).MarshalText()
		req.TTL = string(b)
	}
	var e store.AllowEntry
	return e, c.do(ctx, http.MethodPost, "/api/greylist/allow", req, http.StatusCreated, &e)
}

// Drop removes an entry; it reports false when none existed.
func (c *Client) Drop(ctx context.Context, key string) (bool, error) {
	err := c.do(ctx, http.MethodDelete, "/api/greylist/"+url.PathEscape(key), nil, http.StatusNoContent, nil)
	var he *HTTPError
	if errors.As(err, &he) && he.Code == http.StatusNotFound {
		return false, nil
	}
	return err == nil, err
}

// HTTPError is an error answer of the API.
type HTTPError struct {
	Code    int
	Message string
}

func (e *HTTPError) Error() string { return fmt.Sprintf("greylist API: %d: %s", e.Code, e.Message) }

func (c *Client) do(ctx context.Context, method, path string, body any, want int, out any) error {
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			return err
		}
		rd = strings.NewReader(string(b))
	}
	req, err := http.NewRequestWithContext(ctx, method, strings.TrimSuffix(c.BaseURL, "/")+path, rd)
	if err != nil {
		return err
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if c.Password != "" {
		req.Header.Set("Password", c.Password)
	}
	hc := c.HTTP
	if hc == nil {
		hc = &http.Client{Timeout: 10 * time.Second}
	}
	resp, err := hc.Do(req)
	if err != nil {
		return fmt.Errorf("greylist API: %w", err)
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(io.LimitReader(resp.Body, 64<<20))
	if err != nil {
		return fmt.Errorf("greylist API: %w", err)
	}
	if resp.StatusCode != want {
		var e struct {
			Error string `json:"error"`
		}
		msg := strings.TrimSpace(string(data))
		if json.Unmarshal(data, &e) == nil && e.Error != "" {
			msg = e.Error
		}
		return &HTTPError{Code: resp.StatusCode, Message: msg}
	}
	if out == nil {
		return nil
	}
	if err := json.Unmarshal(data, out); err != nil {
		return fmt.Errorf("greylist API: bad reply: %w", err)
	}
	return nil
}
