package controller

import (
	"context"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/hamlet-mail/hamlet/engine"
	"github.com/hamlet-mail/hamlet/greylist"
	"github.com/hamlet-mail/hamlet/store"
	"github.com/hamlet-mail/hamlet/store/bolt"
)

// wordCheck emits a symbol for each marker word in the envelope sender's
// local part ("spam" → TEST_SPAM 20, "grey" → TEST_GREY 5, "tag" →
// TEST_TAG 7), so tests choose a verdict by the sender they scan.
type wordCheck struct{}

func (wordCheck) Name() string        { return "words" }
func (wordCheck) Phase() engine.Phase { return engine.PhaseMail }
func (wordCheck) After() []string     { return nil }
func (wordCheck) Symbols() []engine.SymbolDef {
	return []engine.SymbolDef{
		{Name: "TEST_SPAM", Weight: 20, Description: "The sender says spam", Group: "test"},
		{Name: "TEST_GREY", Weight: 5, Description: "The sender says grey", Group: "test"},
		{Name: "TEST_TAG", Weight: 7, Description: "The sender says tag", Group: "test"},
		{Name: "TEST_GOOD", Weight: -1, Description: "The sender says good", Group: "test"},
	}
}
func (wordCheck) Run(_ context.Context, tx *engine.Transaction, _ engine.Results) engine.Result {
	var r engine.Result
	local, _, _ := strings.Cut(tx.MailFrom, "@")
	for w, s := range map[string]string{"spam": "TEST_SPAM", "grey": "TEST_GREY", "tag": "TEST_TAG", "good": "TEST_GOOD"} {
		if strings.Contains(local, w) {
			r.Symbols = append(r.Symbols, engine.Symbol{Name: s, Options: []string{w}})
		}
	}
	return r
}

type env struct {
	st  store.Store
	eng *engine.Engine
	srv *Server
	g   *greylist.Greylister
}

// newEnv builds a controller over an embedded store and an engine with
// wordCheck; mod changes the options before New.
func newEnv(t testing.TB, mod func(*Options)) *env {
	t.Helper()
	st, err := bolt.Open(t.TempDir(), store.Options{SweepInterval: -1})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	counters := NewCounters()
	eng, err := engine.New(engine.Options{Checks: []engine.Check{wordCheck{}}, Policy: engine.DefaultPolicy(), Observers: []engine.Observer{counters}})
	if err != nil {
		t.Fatal(err)
	}
	g, err := greylist.New(st, greylist.DefaultConfig(), greylist.Options{})
	if err != nil {
		t.Fatal(err)
	}
	o := Options{Listen: "127.0.0.1:11334", Sources: Sources{Store: st, Engine: func() *engine.Engine { return eng },
		Greylist: func() *greylist.Greylister { return g }, Counters: counters, Version: "test"}}
	if mod != nil {
		mod(&o)
	}
	srv, err := New(o)
	if err != nil {
		t.Fatal(err)
	}
	return &env{st: st, eng: eng, srv: srv, g: g}
}

// do sends a request from remote (default loopback) with headers.
func (e *env) do(method, target, body string, hdr map[string]string) *httptest.ResponseRecorder {
	r := httptest.NewRequest(method, target, strings.NewReader(body))
	r.RemoteAddr = "127.0.0.1:40000"
	r.Host = "127.0.0.1:11334"
	for k, v := range hdr {
		switch k {
		case "RemoteAddr":
			r.RemoteAddr = v
		case "Host":
			r.Host = v
		default:
			r.Header.Set(k, v)
		}
	}
	w := httptest.NewRecorder()
	e.srv.ServeHTTP(w, r)
	return w
}

var t0 = time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)

// seed records n verdicts per action in the store's history and
// statistics at t.
func seed(t testing.TB, st store.Store, at time.Time, counts map[string]int) {
	t.Helper()
	ctx := context.Background()
	for a, n := range counts {
		var rs []store.HistoryRecord
		for i := range n {
			rs = append(rs, store.HistoryRecord{Time: at.Add(time.Duration(i) * time.Second), QueueID: a[:1] + string(rune('A'+i%26)),
				ClientIP: "192.0.2.7", From: "x@example.org", Action: a, Score: 1, Symbols: []string{"TEST_TAG"}})
		}
		if err := st.HistoryAdd(ctx, rs...); err != nil {
			t.Fatal(err)
		}
		if err := st.StatsAdd(ctx, at, a, int64(n)); err != nil {
			t.Fatal(err)
		}
	}
}

var _ = http.StatusOK

func netipParse(s string) (netip.Addr, error) { return netip.ParseAddr(s) }
