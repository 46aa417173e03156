package greylist

import (
	"context"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/hamlet-mail/hamlet/store"
	"github.com/hamlet-mail/hamlet/store/bolt"
)

func adminServer(t *testing.T) (*Greylister, *Clock, *Client) {
	t.Helper()
	st, err := bolt.Open(t.TempDir(), store.Options{SweepInterval: -1})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	clk := &Clock{t: t0}
	g := newGreylister(t, st, clk, nil)
	var gotPassword string
	h := g.Handler()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		gotPassword = r.Header.Get("Password")
		if gotPassword != "secret" {
			http.Error(w, "unauthorized", http.StatusForbidden)
			return
		}
		h.ServeHTTP(w, r)
	}))
	t.Cleanup(srv.Close)
	return g, clk, &Client{BaseURL: srv.URL + "/", Password: "secret"}
}

func TestAdminClientRoundTrip(t *testing.T) {
	g, clk, c := adminServer(t)
	ctx := context.Background()
	g.Decide(ctx, req("192.0.2.10", "a@example.org", "u@example.net"))
	g.Decide(ctx, req("198.51.100.1", "b@example.org", "v@example.net"))

	e, err := c.Allow(ctx, "203.0.113.0/24", "partner", 30*24*time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	if e.Key != "net:203.0.113.0/24" || e.Reason != "partner" || !e.Expires.Equal(t0.Add(30*24*time.Hour)) {
		t.Errorf("Allow = %+v", e)
	}
	if _, err := c.Allow(ctx, "example.com", "", 0); err != nil {
		t.Fatal(err)
	}
	_, err = c.Allow(ctx, "not a target", "", 0)
	var he *HTTPError
	if !errors.As(err, &he) || he.Code != http.StatusBadRequest || !strings.Contains(he.Message, "not an IP") {
		t.Errorf("bad target: %v", err)
	}

	l, err := c.List(ctx, 0)
	if err != nil {
		t.Fatal(err)
	}
	if len(l.Greylist) != 2 || len(l.Allow) != 2 || l.Allow[0].Key != "domain:example.com" || l.Allow[0].Reason != "admin" || !l.Allow[0].Expires.IsZero() {
		t.Fatalf("List = %+v", l)
	}
	var key string
	for _, e := range l.Greylist {
		if strings.HasPrefix(e.Key, "net:192.0.2.0/24|") {
			key = e.Key
		}
	}
	if key != "net:192.0.2.0/24|a@example.org|u@example.net" {
		t.Fatalf("greylist keys: %+v", l.Greylist)
	}
	// Drop a greylist entry (its key has "/" and "|": escaped in the path).
	if ok, err := c.Drop(ctx, key); !ok || err != nil {
		t.Errorf("Drop(%s) = %v, %v", key, ok, err)
	}
	if ok, err := c.Drop(ctx, key); ok || err != nil {
		t.Errorf("Drop again = %v, %v; want false, nil", ok, err)
	}
	// The dropped triplet starts over.
	if d := g.Decide(ctx, req("192.0.2.10", "a@example.org", "u@example.net")); d.Reason != "new" {
		t.Errorf("after drop: %v %q", d.Outcome, d.Reason)
	}
	// Drop allowlist entries by target and by key.
	if ok, err := c.Drop(ctx, "203.0.113.0/24"); !ok || err != nil {
		t.Errorf("Drop(net) = %v, %v", ok, err)
	}
	if ok, err := c.Drop(ctx, "domain:example.com"); !ok || err != nil {
		t.Errorf("Drop(domain key) = %v, %v", ok, err)
	}
	clk.Advance(49 * time.Hour)
	if l, _ := c.List(ctx, 0); len(l.Greylist) != 0 || len(l.Allow) != 0 {
		t.Errorf("after expiry and drops: %+v", l)
	}
	// A wrong password is the controller's answer, passed on as an error.
	bad := *c
	bad.Password = "nope"
	if _, err := bad.List(ctx, 0); !errors.As(err, &he) || he.Code != http.StatusForbidden {
		t.Errorf("wrong password: %v", err)
	}
}

func TestAdminHandlerErrors(t *testing.T) {
	g, _, _ := adminServer(t)
	h := g.Handler()
	tests := []struct {
		method, path, body string
		code               int
		want               string
	}{
		{"GET", "/api/greylist?limit=x", "", 400, "limit"},
		{"GET", "/api/greylist?limit=5", "", 200, `"greylist":[]`},
		{"POST", "/api/greylist/allow", "{", 400, "bad JSON"},
		{"POST", "/api/greylist/allow", `{"target":"192.0.2.1","bogus":1}`, 400, "bogus"},
		{"POST", "/api/greylist/allow", `{"target":"192.0.2.1","ttl":"soon"}`, 400, "ttl"},
		{"POST", "/api/greylist/allow", `{"target":"192.0.2.1","ttl":"7d"}`, 201, `"key":"net:192.0.2.1/32"`},
		{"DELETE", "/api/greylist/nothing-here", "", 404, "no such entry"},
		{"PUT", "/api/greylist", "", 405, ""},
	}
	for _, tt := range tests {
		r := httptest.NewRequest(tt.method, tt.path, strings.NewReader(tt.body))
		w := httptest.NewRecorder()
		h.ServeHTTP(w, r)
		body, _ := io.ReadAll(w.Result().Body)
		if w.Code != tt.code || !strings.Contains(string(body), tt.want) {
			t.Errorf("%s %s %s: %d %s; want %d containing %q", tt.method, tt.path, tt.body, w.Code, body, tt.code, tt.want)
		}
	}
}

// A store that fails answers 503, not 500 or a hang.
func TestAdminStoreDown(t *testing.T) {
	st, err := bolt.Open(t.TempDir(), store.Options{SweepInterval: -1})
	if err != nil {
		t.Fatal(err)
	}
	g := newGreylister(t, st, &Clock{t: t0}, nil)
	st.Close()
	for _, r := range []*http.Request{
		httptest.NewRequest("GET", "/api/greylist", nil),
		httptest.NewRequest("POST", "/api/greylist/allow", strings.NewReader(`{"target":"192.0.2.1"}`)),
		httptest.NewRequest("DELETE", "/api/greylist/x", nil),
	} {
		w := httptest.NewRecorder()
		g.Handler().ServeHTTP(w, r)
		if w.Code != http.StatusServiceUnavailable {
			t.Errorf("%s %s with the store closed: %d", r.Method, r.URL, w.Code)
		}
	}
	// And Decide fails open.
	if d := g.Decide(context.Background(), req("192.0.2.10", "a@example.org", "u@example.net")); d.Outcome != Error || d.Err == nil {
		t.Errorf("Decide with the store closed: %v %v", d.Outcome, d.Err)
	}
}
