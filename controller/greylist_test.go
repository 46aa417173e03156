package controller

import (
	"context"
	"errors"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/hamlet-mail/hamlet/engine"
	"github.com/hamlet-mail/hamlet/greylist"
	"github.com/hamlet-mail/hamlet/store"
	"github.com/hamlet-mail/hamlet/store/bolt"
)

func TestGreylistAPIErrors(t *testing.T) {
	e := newEnv(t, nil)
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
		{"POST", "/api/greylist/allow", `{"target":"not a target"}`, 400, "not an IP"},
		{"POST", "/api/greylist/allow", `{"target":"192.0.2.1","ttl":"7d"}`, 201, `"key":"net:192.0.2.1/32"`},
		{"DELETE", "/api/greylist/nothing-here", "", 404, "no such entry"},
		{"PUT", "/api/greylist", "", 405, ""},
	}
	for _, tt := range tests {
		w := e.do(tt.method, tt.path, tt.body, nil)
		if w.Code != tt.code || !strings.Contains(w.Body.String(), tt.want) {
			t.Errorf("%s %s %s: %d %s; want %d containing %q", tt.method, tt.path, tt.body, w.Code, w.Body, tt.code, tt.want)
		}
	}
}

// A store that fails answers 503, not 500 or a hang.
func TestGreylistAPIStoreDown(t *testing.T) {
	st, err := bolt.Open(t.TempDir(), store.Options{SweepInterval: -1})
	if err != nil {
		t.Fatal(err)
	}
	g, err := greylist.New(st, greylist.DefaultConfig(), greylist.Options{})
	if err != nil {
		t.Fatal(err)
	}
	eng, _ := engine.New(engine.Options{Policy: engine.DefaultPolicy()})
	srv, err := New(Options{Sources: Sources{Store: st, Engine: func() *engine.Engine { return eng }, Greylist: func() *greylist.Greylister { return g }}})
	if err != nil {
		t.Fatal(err)
	}
	st.Close()
	e := &env{srv: srv}
	for _, r := range []struct{ m, p, b string }{
		{"GET", "/api/greylist", ""},
		{"POST", "/api/greylist/allow", `{"target":"192.0.2.1"}`},
		{"DELETE", "/api/greylist/x", ""},
	} {
		if w := e.do(r.m, r.p, r.b, nil); w.Code != http.StatusServiceUnavailable {
			t.Errorf("%s %s with the store closed: %d", r.m, r.p, w.Code)
		}
	}
}

// The client `hamlet greylist` uses, against a controller with passwords.
func TestClientRoundTrip(t *testing.T) {
	e := newEnv(t, withPasswords(t))
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewUnstartedServer(e.srv)
	srv.Listener = ln
	srv.Start()
	defer srv.Close()
	ctx := context.Background()
	greq := greylist.Request{MailFrom: "a@example.org", Rcpts: []string{"u@example.net"}}
	greq.ClientIP, _ = netipParse("192.0.2.10")
	e.g.Decide(ctx, greq)

	c := &Client{BaseURL: srv.URL + "/", Password: "boss"}
	en, err := c.Allow(ctx, "203.0.113.0/24", "partner", 30*24*time.Hour)
	if err != nil || en.Key != "net:203.0.113.0/24" || en.Reason != "partner" {
		t.Fatalf("Allow = %+v, %v", en, err)
	}
	l, err := c.GreylistList(ctx, 0)
	if err != nil || len(l.Greylist) != 1 || len(l.Allow) != 1 {
		t.Fatalf("List = %+v, %v", l, err)
	}
	key := l.Greylist[0].Key
	if ok, err := c.Drop(ctx, key); !ok || err != nil {
		t.Errorf("Drop(%s) = %v, %v", key, ok, err)
	}
	if ok, err := c.Drop(ctx, key); ok || err != nil {
		t.Errorf("Drop again = %v, %v; want false, nil", ok, err)
	}
	ro := &Client{BaseURL: srv.URL, Password: "reader"}
	var he *HTTPError
	if _, err := ro.Allow(ctx, "192.0.2.1", "", 0); !errors.As(err, &he) || he.Code != http.StatusForbidden {
		t.Errorf("read-only Allow: %v", err)
	}
	if _, err := ro.GreylistList(ctx, 0); err != nil {
		t.Errorf("read-only List: %v", err)
	}
	none := &Client{BaseURL: srv.URL}
	if _, err := none.GreylistList(ctx, 0); !errors.As(err, &he) || he.Code != http.StatusUnauthorized {
		t.Errorf("no password: %v", err)
	}
}

// The greylist page says when a waiting sender's retry passes.
func TestRetryText(t *testing.T) {
	first := time.Date(2026, 12, 3, 11, 0, 0, 0, time.Local)
	for _, tt := range []struct {
		e    store.GreylistEntry
		now  time.Time
		want string
	}{
		{store.GreylistEntry{FirstSeen: first}, first.Add(time.Minute), "from Dec 03 11:05:00"},
		{store.GreylistEntry{FirstSeen: first}, first.Add(5 * time.Minute), "now"},
		{store.GreylistEntry{FirstSeen: first, Passed: first.Add(7 * time.Minute)}, first.Add(time.Hour), "passed Dec 03 11:07"},
	} {
		if got := retryText(tt.e, 5*time.Minute, tt.now); got != tt.want {
			t.Errorf("retryText(%+v, now %s) = %q, want %q", tt.e, tt.now, got, tt.want)
		}
	}
}
