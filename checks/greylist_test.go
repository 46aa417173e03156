package checks

import (
	"context"
	"fmt"
	"net/netip"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/hamlet-mail/hamlet/dmarc"
	"github.com/hamlet-mail/hamlet/dns/dnstest"
	"github.com/hamlet-mail/hamlet/engine"
	"github.com/hamlet-mail/hamlet/greylist"
	"github.com/hamlet-mail/hamlet/store"
	"github.com/hamlet-mail/hamlet/store/bolt"
	"github.com/hamlet-mail/hamlet/store/redis"
	"github.com/hamlet-mail/hamlet/store/redis/redistest"
)

type glClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *glClock) now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *glClock) advance(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

// scoreCheck emits TEST_SCORE weighing what the transaction's HELO name
// says ("score-4.5"), so each test picks its verdict's score.
type scoreCheck struct{}

func (scoreCheck) Name() string        { return "score" }
func (scoreCheck) Phase() engine.Phase { return engine.PhaseHelo }
func (scoreCheck) After() []string     { return nil }
func (scoreCheck) Symbols() []engine.SymbolDef {
	return []engine.SymbolDef{{Name: "TEST_SCORE", Weight: 1}}
}
func (scoreCheck) Run(_ context.Context, tx *engine.Transaction, _ engine.Results) engine.Result {
	var s float64
	fmt.Sscanf(tx.Helo, "score-%g", &s)
	return engine.Result{Symbols: []engine.Symbol{{Name: "TEST_SCORE", Multiplier: s}}}
}

type glEnv struct {
	eng   *engine.Engine
	clock *glClock
	st    store.Store
	g     *greylist.Greylister
	m     *atomic.Int64 // error decisions
}

func newGLEnv(t *testing.T, st store.Store) *glEnv {
	t.Helper()
	clk := &glClock{t: time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)}
	m := new(atomic.Int64)
	cfg := greylist.DefaultConfig()
	cfg.Message = "Greylisted, come back in 5 minutes"
	g, err := greylist.New(st, cfg, greylist.Options{Now: clk.now, Observer: greylist.ObserverFunc(func(d greylist.Decision) {
		if d.Outcome == greylist.Error {
			m.Add(1)
		}
	})})
	if err != nil {
		t.Fatal(err)
	}
	res := &dnstest.Mock{TXT: map[string][]string{
		"pool.example": {"v=spf1 ip4:192.0.2.0/24 ip4:198.51.100.0/24 -all"},
	}}
	eng, err := engine.New(engine.Options{
		Checks:    []engine.Check{scoreCheck{}, NewSPF(res)},
		Finishers: []engine.Finisher{NewGreylist(g, SPFPassDomain, nil)},
		Policy:    engine.DefaultPolicy(), // greylist 4, add header 6, reject 15
	})
	if err != nil {
		t.Fatal(err)
	}
	return &glEnv{eng: eng, clock: clk, st: st, g: g, m: m}
}

func (e *glEnv) scan(t *testing.T, tx engine.Transaction) *engine.Verdict {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	return e.eng.Scan(ctx, &tx)
}

func glTx(ip, from string, score float64) engine.Transaction {
	return engine.Transaction{
		ClientIP: netip.MustParseAddr(ip), Helo: fmt.Sprintf("score-%g", score),
		MailFrom: from, Rcpts: []string{"user@example.net"}, QueueID: "Q1",
	}
}

func symbol(v *engine.Verdict, name string) (engine.ScoredSymbol, bool) {
	for _, s := range v.Symbols {
		if s.Name == name {
			return s, true
		}
	}
	return engine.ScoredSymbol{}, false
}

func glStores(t *testing.T) map[string]func(t *testing.T) store.Store {
	m := map[string]func(t *testing.T) store.Store{
		"bolt": func(t *testing.T) store.Store {
			s, err := bolt.Open(t.TempDir(), store.Options{SweepInterval: -1})
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { s.Close() })
			return s
		},
	}
	srv := redistest.Shared(t)
	n := 0
	m["redis"] = func(t *testing.T) store.Store {
		n++
		s, err := redis.Open(srv(t).URL(0, fmt.Sprintf("c%d:", n)), store.Options{})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { s.Close() })
		return s
	}
	return m
}

func TestGreylistFinisher(t *testing.T) {
	for name, open := range glStores(t) {
		t.Run(name, func(t *testing.T) {
			t.Run("greylisted then passes", func(t *testing.T) {
				e := newGLEnv(t, open(t))
				v := e.scan(t, glTx("203.0.113.5", "a@nospf.example", 4.5))
				if v.Action != engine.SoftReject || v.Reply != "4.7.1 Greylisted, come back in 5 minutes" {
					t.Fatalf("first attempt: %v %q", v.Action, v.Reply)
				}
				s, ok := symbol(v, SymGreylist)
				until := e.clock.now().Add(5 * time.Minute).Format(time.RFC1123)
				if !ok || !slices.Equal(s.Options, []string{"greylisted", until}) || s.Score != 0 {
					t.Errorf("GREYLIST = %+v, want options [greylisted %s], score 0", s, until)
				}
				if v.Score != 4.5 {
					t.Errorf("score changed to %v", v.Score)
				}
				e.clock.advance(4 * time.Minute)
				if v := e.scan(t, glTx("203.0.113.5", "a@nospf.example", 4.5)); v.Action != engine.SoftReject {
					t.Errorf("retry before the delay: %v", v.Action)
				}
				e.clock.advance(time.Minute)
				v = e.scan(t, glTx("203.0.113.99", "a@nospf.example", 4.5))
				s, _ = symbol(v, SymGreylist)
				if v.Action != engine.NoAction || v.Reply != "" || !slices.Equal(s.Options, []string{"pass", "retry"}) {
					t.Errorf("retry from the same /24 after the delay: %v %q %+v", v.Action, v.Reply, s)
				}
			})
			t.Run("SPF pass: retry from another network in the record", func(t *testing.T) {
				e := newGLEnv(t, open(t))
				if v := e.scan(t, glTx("192.0.2.10", "bounce@pool.example", 5)); v.Action != engine.SoftReject {
					t.Fatalf("first attempt: %v", v.Action)
				}
				if l, _ := e.st.GreylistList(context.Background(), e.clock.now(), 0); len(l) != 1 || !strings.HasPrefix(l[0].Key, "spf:pool.example|") {
					t.Fatalf("entry keyed by SPF domain: %+v", l)
				}
				e.clock.advance(6 * time.Minute)
				if v := e.scan(t, glTx("198.51.100.20", "bounce@pool.example", 5)); v.Action != engine.NoAction {
					t.Errorf("retry from 198.51.100.20 (in pool.example's SPF): %v %+v", v.Action, v.Symbols)
				}
			})
			t.Run("score outside the band is never greylisted", func(t *testing.T) {
				e := newGLEnv(t, open(t))
				for _, sc := range []struct {
					score float64
					want  engine.Action
				}{{0, engine.NoAction}, {3.99, engine.NoAction}, {6, engine.AddHeader}, {14, engine.AddHeader}, {20, engine.Reject}} {
					for range 2 {
						v := e.scan(t, glTx("203.0.113.5", "a@nospf.example", sc.score))
						if v.Action != sc.want {
							t.Errorf("score %v: %v, want %v", sc.score, v.Action, sc.want)
						}
						if _, ok := symbol(v, SymGreylist); ok {
							t.Errorf("score %v: GREYLIST symbol", sc.score)
						}
					}
				}
				if l, _ := e.st.GreylistList(context.Background(), e.clock.now(), 0); len(l) != 0 {
					t.Errorf("entries recorded outside the band: %+v", l)
				}
			})
			t.Run("not inbound", func(t *testing.T) {
				e := newGLEnv(t, open(t))
				for i, tx := range []engine.Transaction{
					func() engine.Transaction {
						tx := glTx("203.0.113.5", "a@x.example", 4.5)
						tx.AuthUser = "alice"
						tx.Outbound = true
						return tx
					}(),
					func() engine.Transaction { tx := glTx("192.168.1.5", "a@x.example", 4.5); tx.Local = true; return tx }(),
					func() engine.Transaction {
						tx := glTx("203.0.113.5", "a@x.example", 4.5)
						tx.Allowlisted = true
						return tx
					}(),
				} {
					v := e.scan(t, tx)
					if v.Action != engine.NoAction {
						t.Errorf("tx %d: %v", i, v.Action)
					}
					if _, ok := symbol(v, SymGreylist); ok {
						t.Errorf("tx %d: GREYLIST symbol", i)
					}
				}
				if l, _ := e.st.GreylistList(context.Background(), e.clock.now(), 0); len(l) != 0 {
					t.Errorf("entries recorded for non-inbound mail: %+v", l)
				}
			})
		})
	}
}

// Redis stopped mid-run: mail keeps flowing with GREYLIST_ERROR and the
// metric; Redis back: greylisting resumes without rebuilding anything.
func TestGreylistFinisherRedisDown(t *testing.T) {
	srv := redistest.Start(t)
	st, err := redis.Open(srv.URL(0, "down:"), store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	e := newGLEnv(t, st)
	if v := e.scan(t, glTx("203.0.113.5", "a@nospf.example", 4.5)); v.Action != engine.SoftReject {
		t.Fatalf("before: %v", v.Action)
	}
	srv.Stop()
	for i := range 3 {
		v := e.scan(t, glTx("203.0.113.5", fmt.Sprintf("s%d@nospf.example", i), 4.5))
		s, ok := symbol(v, SymGreylistError)
		if v.Action != engine.NoAction || !ok || len(s.Options) != 1 || !strings.Contains(s.Options[0], "redis") {
			t.Fatalf("Redis down, message %d: %v %+v", i, v.Action, v.Symbols)
		}
		if len(v.Errors) != 0 {
			t.Errorf("fail open is not a finisher failure: %v", v.Errors)
		}
	}
	if n := e.m.Load(); n != 3 {
		t.Errorf("error metric %d, want 3", n)
	}
	srv.Restart()
	var v *engine.Verdict
	for range 50 {
		v = e.scan(t, glTx("203.0.113.5", "a@nospf.example", 4.5))
		if _, failed := symbol(v, SymGreylistError); !failed {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	if v.Action != engine.SoftReject {
		t.Fatalf("after Redis came back: %v %+v", v.Action, v.Symbols)
	}
}

// fakeDMARC stands in for the dmarc check: it passes for
// news@partner.example and fails for everyone else.
type fakeDMARC struct{}

func (fakeDMARC) Name() string                { return CheckDMARC }
func (fakeDMARC) Phase() engine.Phase         { return engine.PhaseHelo }
func (fakeDMARC) After() []string             { return nil }
func (fakeDMARC) Symbols() []engine.SymbolDef { return nil }
func (fakeDMARC) Run(_ context.Context, tx *engine.Transaction, _ engine.Results) engine.Result {
	o := &DMARCOutcome{Result: dmarc.Result{Status: dmarc.StatusFail, FromDomain: "forged.example"}}
	if tx.MailFrom == "news@partner.example" {
		o.Result = dmarc.Result{Status: dmarc.StatusPass, FromDomain: "partner.example", DKIMAligned: true, AlignedDKIM: "mail.partner.example"}
	}
	return engine.Result{Value: o}
}

func TestGreylistFinisherDMARCAllow(t *testing.T) {
	st, err := bolt.Open(t.TempDir(), store.Options{SweepInterval: -1})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	clk := &glClock{t: time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)}
	g, err := greylist.New(st, greylist.DefaultConfig(), greylist.Options{Now: clk.now})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := g.Allow(context.Background(), "partner.example", "", 0); err != nil {
		t.Fatal(err)
	}
	eng, err := engine.New(engine.Options{
		Checks:    []engine.Check{scoreCheck{}, fakeDMARC{}},
		Finishers: []engine.Finisher{NewGreylist(g, nil, nil).WithAuthDomains(DMARCPassDomains)},
		Policy:    engine.DefaultPolicy(),
	})
	if err != nil {
		t.Fatal(err)
	}
	scan := func(from string) *engine.Verdict {
		tx := glTx("203.0.113.5", from, 4.5)
		return eng.Scan(context.Background(), &tx)
	}
	v := scan("news@partner.example")
	s, _ := symbol(v, SymGreylist)
	if v.Action != engine.NoAction || !slices.Equal(s.Options, []string{"pass", "allowlisted", "domain:partner.example"}) {
		t.Errorf("DMARC-authenticated allowlisted domain: %v %+v", v.Action, s)
	}
	// The same allowlisted domain without DMARC pass is greylisted.
	if v := scan("other@partner.example"); v.Action != engine.SoftReject {
		t.Errorf("unauthenticated partner.example sender: %v", v.Action)
	}
	if got := DMARCPassDomains(nil, nil); got != nil {
		t.Errorf("DMARCPassDomains without results = %v", got)
	}
}
