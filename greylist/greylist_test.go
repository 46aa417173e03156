package greylist

import (
	"context"
	"fmt"
	"net/netip"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/BurntSushi/toml"

	"github.com/hamlet-mail/hamlet/config/duration"
	"github.com/hamlet-mail/hamlet/store"
	"github.com/hamlet-mail/hamlet/store/bolt"
	"github.com/hamlet-mail/hamlet/store/redis"
	"github.com/hamlet-mail/hamlet/store/redis/redistest"
)

// Clock is a fake clock.
type Clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *Clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *Clock) Advance(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

var t0 = time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)

type backend struct {
	name string
	open func(t *testing.T) store.Store
}

var prefixN atomic.Int64

// backends returns the embedded store and, when redis-server is installed
// (always under CI), a Redis store on a server of this test's own.
func backends(t *testing.T) []backend {
	bs := []backend{{"bolt", func(t *testing.T) store.Store {
		s, err := bolt.Open(t.TempDir(), store.Options{SweepInterval: -1})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { s.Close() })
		return s
	}}}
	srv := redistest.Shared(t)
	return append(bs, backend{"redis", func(t *testing.T) store.Store {
		s, err := redis.Open(srv(t).URL(0, fmt.Sprintf("g%d:", prefixN.Add(1))), store.Options{})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { s.Close() })
		return s
	}})
}

func newGreylister(t *testing.T, st store.Store, clk *Clock, mod func(*Config)) *Greylister {
	t.Helper()
	cfg := DefaultConfig()
	if mod != nil {
		mod(&cfg)
	}
	g, err := New(st, cfg, Options{Now: clk.Now, Observer: &errorCounter{}})
	if err != nil {
		t.Fatal(err)
	}
	return g
}

func req(ip, from string, rcpts ...string) Request {
	return Request{ClientIP: netip.MustParseAddr(ip), MailFrom: from, Rcpts: rcpts}
}

func spf(r Request, domain string) Request { r.SPFDomain = domain; return r }

type step struct {
	after   time.Duration // advance the clock first
	req     Request
	outcome Outcome
	reason  string
	until   time.Duration // from t0, when greylisted
}

var scenarios = []struct {
	name  string
	steps []step
}{
	{"first attempt, early retry, retry after delay", []step{
		{0, req("192.0.2.10", "a@example.org", "u@example.net"), Greylisted, "new", 5 * time.Minute},
		{4 * time.Minute, req("192.0.2.10", "a@example.org", "u@example.net"), Greylisted, "early", 5 * time.Minute},
		{time.Minute, req("192.0.2.10", "a@example.org", "u@example.net"), Pass, "retry", 0},
		{time.Hour, req("192.0.2.10", "a@example.org", "u@example.net"), Pass, "known", 0},
	}},
	{"retry from another IP of the same /24", []step{
		{0, req("192.0.2.10", "a@example.org", "u@example.net"), Greylisted, "new", 5 * time.Minute},
		{6 * time.Minute, req("192.0.2.77", "a@example.org", "u@example.net"), Pass, "retry", 0},
	}},
	{"retry from another /24 without SPF is a new triplet", []step{
		{0, req("192.0.2.10", "a@example.org", "u@example.net"), Greylisted, "new", 5 * time.Minute},
		{6 * time.Minute, req("198.51.100.7", "a@example.org", "u@example.net"), Greylisted, "new", 11 * time.Minute},
	}},
	{"with SPF pass, a retry from another network passes", []step{
		{0, spf(req("192.0.2.10", "a@example.org", "u@example.net"), "example.org"), Greylisted, "new", 5 * time.Minute},
		{6 * time.Minute, spf(req("198.51.100.7", "a@example.org", "u@example.net"), "Example.ORG."), Pass, "retry", 0},
	}},
	{"IPv6 /64", []step{
		{0, req("2001:db8:1:2::10", "a@example.org", "u@example.net"), Greylisted, "new", 5 * time.Minute},
		{6 * time.Minute, req("2001:db8:1:2:ffff::1", "a@example.org", "u@example.net"), Pass, "retry", 0},
		{0, req("2001:db8:1:3::10", "a@example.org", "u@example.net"), Greylisted, "new", 11 * time.Minute},
	}},
	{"sender tags do not make a retry new", []step{
		{0, req("192.0.2.10", "prvs=1234abcdef=Bounce+list@Example.org", "u@example.net"), Greylisted, "new", 5 * time.Minute},
		{6 * time.Minute, req("192.0.2.10", "prvs=9999ffffff=bounce+other@example.org", "U@Example.NET"), Pass, "retry", 0},
		{0, req("192.0.2.10", "SRS0=HHH=TT=example.org=bounce@forwarder.example", "u@example.net"), Pass, "known", 0},
	}},
	{"a new recipient keeps the message greylisted", []step{
		{0, req("192.0.2.10", "a@example.org", "u@example.net"), Greylisted, "new", 5 * time.Minute},
		{6 * time.Minute, req("192.0.2.10", "a@example.org", "u@example.net", "v@example.net"), Greylisted, "new", 11 * time.Minute},
		{5 * time.Minute, req("192.0.2.10", "a@example.org", "u@example.net", "v@example.net"), Pass, "retry", 0},
	}},
	{"an unpassed entry expires after the retry window", []step{
		{0, req("192.0.2.10", "a@example.org", "u@example.net"), Greylisted, "new", 5 * time.Minute},
		{48*time.Hour + time.Second, req("192.0.2.10", "a@example.org", "u@example.net"), Greylisted, "new", 48*time.Hour + time.Second + 5*time.Minute},
	}},
	{"a passed entry expires after pass_ttl idle", []step{
		{0, req("192.0.2.10", "a@example.org", "u@example.net"), Greylisted, "new", 5 * time.Minute},
		{5 * time.Minute, req("192.0.2.10", "a@example.org", "u@example.net"), Pass, "retry", 0},
		{34 * 24 * time.Hour, req("192.0.2.10", "a@example.org", "u@example.net"), Pass, "known", 0},
		{35*24*time.Hour + time.Second, req("192.0.2.10", "a@example.org", "u@example.net"), Greylisted, "new", 69*24*time.Hour + 10*time.Minute + time.Second},
	}},
	{"the null sender", []step{
		{0, req("192.0.2.10", "", "postmaster@example.net"), Greylisted, "new", 5 * time.Minute},
		{5 * time.Minute, req("192.0.2.10", "<>", "postmaster@example.net"), Pass, "retry", 0},
	}},
	{"no client address passes", []step{
		{0, Request{MailFrom: "a@example.org", Rcpts: []string{"u@example.net"}}, Pass, "no client address", 0},
	}},
}

func TestDecide(t *testing.T) {
	for _, b := range backends(t) {
		t.Run(b.name, func(t *testing.T) {
			for _, sc := range scenarios {
				t.Run(sc.name, func(t *testing.T) {
					clk := &Clock{t: t0}
					g := newGreylister(t, b.open(t), clk, nil)
					elapsed := time.Duration(0)
					for i, st := range sc.steps {
						clk.Advance(st.after)
						elapsed += st.after
						d := g.Decide(context.Background(), st.req)
						if d.Outcome != st.outcome || d.Reason != st.reason || d.Err != nil {
							t.Fatalf("step %d (+%v): %v %q err=%v; want %v %q", i, elapsed, d.Outcome, d.Reason, d.Err, st.outcome, st.reason)
						}
						if st.outcome == Greylisted && !d.Until.Equal(t0.Add(st.until)) {
							t.Errorf("step %d: until %v, want %v", i, d.Until, t0.Add(st.until))
						}
					}
				})
			}
		})
	}
}

func TestAutoAllow(t *testing.T) {
	for _, b := range backends(t) {
		t.Run(b.name, func(t *testing.T) {
			clk := &Clock{t: t0}
			st := b.open(t)
			g := newGreylister(t, st, clk, nil)
			ctx := context.Background()
			from := func(i int) Request {
				return req(fmt.Sprintf("192.0.2.%d", 10+i), fmt.Sprintf("s%d@example.org", i), "u@example.net")
			}
			// Five senders from one /24, each greylisted then passing, an
			// hour apart: the fifth pass allowlists the network.
			for i := range 5 {
				if d := g.Decide(ctx, from(i)); d.Outcome != Greylisted {
					t.Fatalf("sender %d first attempt: %v", i, d.Outcome)
				}
				clk.Advance(10 * time.Minute)
				d := g.Decide(ctx, from(i))
				if d.Outcome != Pass || d.AutoAllowed != (i == 4) {
					t.Fatalf("pass %d: %v auto=%v", i+1, d.Outcome, d.AutoAllowed)
				}
				// More passes within the hour do not count.
				if d := g.Decide(ctx, from(i)); d.Outcome != Pass || d.AutoAllowed || (i == 4) != (d.Reason == "allowlisted") {
					t.Fatalf("pass %d repeated: %v %q auto=%v", i+1, d.Outcome, d.Reason, d.AutoAllowed)
				}
				clk.Advance(50 * time.Minute)
			}
			// A new sender from another address of that /24 is not greylisted.
			d := g.Decide(ctx, req("192.0.2.200", "new@example.com", "w@example.net"))
			if d.Outcome != Pass || d.Reason != "allowlisted" || d.Allow.Key != "net:192.0.2.0/24" {
				t.Fatalf("after auto-allow: %+v", d)
			}
			// Another network still is.
			if d := g.Decide(ctx, req("192.0.3.1", "new@example.com", "w@example.net")); d.Outcome != Greylisted {
				t.Errorf("other network: %v", d.Outcome)
			}
			// The entry expires pass_ttl after it was made, unless refreshed
			// by traffic: after 36 idle days the network is greylisted again.
			clk.Advance(36 * 24 * time.Hour)
			if d := g.Decide(ctx, req("192.0.2.201", "new2@example.com", "w@example.net")); d.Outcome != Greylisted {
				t.Errorf("after the auto entry expired: %v %q", d.Outcome, d.Reason)
			}
		})
	}
}

func TestAutoAllowBurstDoesNotCount(t *testing.T) {
	clk := &Clock{t: t0}
	st, err := bolt.Open(t.TempDir(), store.Options{SweepInterval: -1})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	g := newGreylister(t, st, clk, nil)
	ctx := context.Background()
	for i := range 8 {
		r := req("192.0.2.10", fmt.Sprintf("s%d@example.org", i), "u@example.net")
		g.Decide(ctx, r)
		clk.Advance(6 * time.Minute)
		if d := g.Decide(ctx, r); d.Outcome != Pass || d.AutoAllowed {
			t.Fatalf("burst pass %d: %v auto=%v", i, d.Outcome, d.AutoAllowed)
		}
	}
	if d := g.Decide(ctx, req("192.0.2.10", "x@example.org", "u@example.net")); d.Outcome != Greylisted {
		t.Errorf("8 passes within an hour allowlisted the network: %v", d.Outcome)
	}
}

func TestAutoAllowDisabled(t *testing.T) {
	clk := &Clock{t: t0}
	st, err := bolt.Open(t.TempDir(), store.Options{SweepInterval: -1})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	g := newGreylister(t, st, clk, func(c *Config) { c.AutoAllowAfter = 0 })
	ctx := context.Background()
	for i := range 6 {
		r := req("192.0.2.10", fmt.Sprintf("s%d@example.org", i), "u@example.net")
		g.Decide(ctx, r)
		clk.Advance(2 * time.Hour)
		if d := g.Decide(ctx, r); d.Outcome != Pass || d.AutoAllowed {
			t.Fatalf("pass %d: %v auto=%v", i, d.Outcome, d.AutoAllowed)
		}
	}
	if l, _ := st.AllowList(ctx, clk.Now(), 0); len(l) != 0 {
		t.Errorf("allowlist with auto_allow_after = 0: %+v", l)
	}
}

func TestAdminAllow(t *testing.T) {
	for _, b := range backends(t) {
		t.Run(b.name, func(t *testing.T) {
			clk := &Clock{t: t0}
			g := newGreylister(t, b.open(t), clk, nil)
			ctx := context.Background()
			for _, target := range []string{"203.0.113.9", "198.51.100.0/24", "example.com"} {
				if _, err := g.Allow(ctx, target, "", 0); err != nil {
					t.Fatalf("Allow(%s): %v", target, err)
				}
			}
			if _, err := g.Allow(ctx, "2001:db8::/40", "", 0); err == nil {
				t.Error("Allow(/40): no error")
			}
			pass := []Request{
				req("203.0.113.9", "a@x.example", "u@example.net"),
				req("198.51.100.200", "a@x.example", "u@example.net"),
				spf(req("192.0.2.1", "a@mail.example.com", "u@example.net"), "mail.example.com"),
				{ClientIP: netip.MustParseAddr("192.0.2.2"), MailFrom: "a@y.example", Rcpts: []string{"u@example.net"}, PTR: "out1.example.com."},
			}
			for i, r := range pass {
				if d := g.Decide(ctx, r); d.Outcome != Pass || d.Reason != "allowlisted" {
					t.Errorf("allowlisted request %d: %v %q", i, d.Outcome, d.Reason)
				}
			}
			// The envelope domain alone proves nothing.
			if d := g.Decide(ctx, req("192.0.2.3", "a@example.com", "u@example.net")); d.Outcome != Greylisted {
				t.Errorf("unauthenticated example.com sender: %v", d.Outcome)
			}
			if ok, err := g.Drop(ctx, "example.com"); !ok || err != nil {
				t.Errorf("Drop(example.com) = %v, %v", ok, err)
			}
			if d := g.Decide(ctx, spf(req("192.0.2.4", "a@example.com", "u@example.net"), "example.com")); d.Outcome != Greylisted {
				t.Errorf("after drop: %v", d.Outcome)
			}
			// A timed entry expires.
			if _, err := g.Allow(ctx, "192.0.2.50", "test", time.Hour); err != nil {
				t.Fatal(err)
			}
			if d := g.Decide(ctx, req("192.0.2.50", "z@z.example", "u@example.net")); d.Reason != "allowlisted" {
				t.Errorf("timed entry: %v %q", d.Outcome, d.Reason)
			}
			clk.Advance(2 * time.Hour)
			if d := g.Decide(ctx, req("192.0.2.50", "z@z.example", "u@example.net")); d.Outcome != Greylisted {
				t.Errorf("expired timed entry: %v %q", d.Outcome, d.Reason)
			}
		})
	}
}

// Redis stopped mid-run: decisions fail open (Error), the metric counts
// them; Redis back: greylisting resumes with the same Greylister.
func TestRedisOutage(t *testing.T) {
	srv := redistest.Start(t)
	st, err := redis.Open(srv.URL(0, "outage:"), store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	clk := &Clock{t: t0}
	g := newGreylister(t, st, clk, nil)
	ctx := context.Background()
	r := req("192.0.2.10", "a@example.org", "u@example.net")
	if d := g.Decide(ctx, r); d.Outcome != Greylisted {
		t.Fatalf("before outage: %v", d.Outcome)
	}
	srv.Stop()
	for i := range 3 {
		c, cancel := context.WithTimeout(ctx, 3*time.Second)
		d := g.Decide(c, r)
		cancel()
		if d.Outcome != Error || d.Err == nil {
			t.Fatalf("during outage %d: %v %v", i, d.Outcome, d.Err)
		}
	}
	if n := g.obs.(*errorCounter).n.Load(); n != 3 {
		t.Errorf("error metric = %d, want 3", n)
	}
	srv.Restart() // empty: the old entry is gone with the server
	var d Decision
	for range 50 {
		if d = g.Decide(ctx, r); d.Outcome != Error {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	if d.Outcome != Greylisted || d.Reason != "new" {
		t.Fatalf("after Redis came back: %v %q %v", d.Outcome, d.Reason, d.Err)
	}
	clk.Advance(5 * time.Minute)
	if d := g.Decide(ctx, r); d.Outcome != Pass {
		t.Errorf("retry after Redis came back: %v", d.Outcome)
	}
}

// Two hosts (two Greylisters, two clients) sharing one Redis: the first
// attempt through A is greylisted, the retry through B passes.
func TestTwoHostsShareRedis(t *testing.T) {
	srv := redistest.Start(t)
	clk := &Clock{t: t0}
	var gs [2]*Greylister
	for i := range gs {
		st, err := redis.Open(srv.URL(0, "shared:"), store.Options{})
		if err != nil {
			t.Fatal(err)
		}
		defer st.Close()
		gs[i] = newGreylister(t, st, clk, nil)
	}
	ctx := context.Background()
	r := req("192.0.2.10", "a@example.org", "u@example.net")
	if d := gs[0].Decide(ctx, r); d.Outcome != Greylisted {
		t.Fatalf("host A first attempt: %v", d.Outcome)
	}
	clk.Advance(time.Minute)
	if d := gs[1].Decide(ctx, r); d.Outcome != Greylisted || d.Reason != "early" {
		t.Fatalf("host B early retry: %v %q", d.Outcome, d.Reason)
	}
	clk.Advance(5 * time.Minute)
	if d := gs[1].Decide(ctx, r); d.Outcome != Pass || d.Reason != "retry" {
		t.Fatalf("host B retry after delay: %v %q", d.Outcome, d.Reason)
	}
}

func TestConfig(t *testing.T) {
	c := DefaultConfig()
	if err := c.Validate(); err != nil {
		t.Fatal(err)
	}
	p := c.Params()
	if p.Delay != 5*time.Minute || p.RetryWindow != 48*time.Hour || p.PassTTL != 35*24*time.Hour || c.AutoAllowAfter != 5 || !c.Enabled {
		t.Errorf("defaults: %+v", c)
	}
	bad := []struct {
		mod  func(*Config)
		want string
	}{
		{func(c *Config) { c.Delay = -1 }, "delay"},
		{func(c *Config) { c.RetryWindow = c.Delay }, "retry_window"},
		{func(c *Config) { c.PassTTL = 0 }, "pass_ttl"},
		{func(c *Config) { c.AutoAllowAfter = -1 }, "auto_allow_after"},
		{func(c *Config) { c.Message = "a\r\nb" }, "message"},
	}
	for _, b := range bad {
		c := DefaultConfig()
		b.mod(&c)
		if err := c.Validate(); err == nil || !strings.Contains(err.Error(), b.want) {
			t.Errorf("Validate() = %v, want an error naming %s", err, b.want)
		}
	}
}

func TestManyRecipients(t *testing.T) {
	for _, b := range backends(t) {
		t.Run(b.name, func(t *testing.T) {
			clk := &Clock{t: t0}
			g := newGreylister(t, b.open(t), clk, nil)
			var rcpts []string
			for i := range MaxRcpts + 20 {
				rcpts = append(rcpts, fmt.Sprintf("u%d@example.net", i), fmt.Sprintf("U%d@Example.NET", i))
			}
			r := req("192.0.2.10", "a@example.org", rcpts...)
			d := g.Decide(context.Background(), r)
			if d.Outcome != Greylisted || len(d.Keys) != MaxRcpts {
				t.Fatalf("first: %v with %d keys, want greylisted with %d (duplicates folded, capped)", d.Outcome, len(d.Keys), MaxRcpts)
			}
			clk.Advance(5 * time.Minute)
			if d := g.Decide(context.Background(), r); d.Outcome != Pass || d.Reason != "retry" {
				t.Fatalf("retry: %v %q %v", d.Outcome, d.Reason, d.Err)
			}
			l, err := g.Store().GreylistList(context.Background(), clk.Now(), 0)
			if err != nil || len(l) != MaxRcpts {
				t.Errorf("%d entries stored, want %d (%v)", len(l), MaxRcpts, err)
			}
		})
	}
}

func TestConfigTOML(t *testing.T) {
	c := DefaultConfig()
	_, err := toml.Decode(`
enabled = false
delay = "2s"
retry_window = "1h"
pass_ttl = "7d"
auto_allow_after = 3
message = "Come back later"
`, &c)
	if err != nil {
		t.Fatal(err)
	}
	want := Config{Enabled: false, Delay: duration.Duration(2 * time.Second), RetryWindow: duration.Duration(time.Hour), PassTTL: duration.Duration(7 * 24 * time.Hour), AutoAllowAfter: 3, Message: "Come back later"}
	if c != want {
		t.Errorf("decoded %+v, want %+v", c, want)
	}
	if err := c.Validate(); err != nil {
		t.Error(err)
	}
	c = DefaultConfig()
	if _, err := toml.Decode(`delay = "five minutes"`, &c); err == nil || !strings.Contains(err.Error(), "bad duration") {
		t.Errorf("bad duration: %v", err)
	}
	// A partial section keeps the other defaults.
	c = DefaultConfig()
	if _, err := toml.Decode(`delay = "1m"`, &c); err != nil || c.PassTTL.D() != 35*24*time.Hour || c.Delay.D() != time.Minute || !c.Enabled {
		t.Errorf("partial section: %+v, %v", c, err)
	}
}

// An admin who drops an auto-allowlist entry also drops the network's pass
// count: the next pass does not allowlist it again.
func TestAutoAllowDrop(t *testing.T) {
	for _, b := range backends(t) {
		t.Run(b.name, func(t *testing.T) {
			clk := &Clock{t: t0}
			g := newGreylister(t, b.open(t), clk, nil)
			ctx := context.Background()
			for i := range 5 {
				r := req(fmt.Sprintf("192.0.2.%d", 10+i), fmt.Sprintf("s%d@example.org", i), "u@example.net")
				g.Decide(ctx, r)
				clk.Advance(time.Hour)
				if d := g.Decide(ctx, r); d.Outcome != Pass || d.AutoAllowed != (i == 4) {
					t.Fatalf("pass %d: %v auto=%v", i+1, d.Outcome, d.AutoAllowed)
				}
			}
			if ok, err := g.Drop(ctx, "192.0.2.0/24"); !ok || err != nil {
				t.Fatalf("Drop = %v, %v", ok, err)
			}
			r := req("192.0.2.202", "z@example.com", "w@example.net")
			if d := g.Decide(ctx, r); d.Outcome != Greylisted {
				t.Errorf("after drop: %v %q", d.Outcome, d.Reason)
			}
			clk.Advance(2 * time.Hour)
			if d := g.Decide(ctx, r); d.Outcome != Pass || d.AutoAllowed {
				t.Errorf("first pass after drop: %v auto=%v (the old count should be gone)", d.Outcome, d.AutoAllowed)
			}
		})
	}
}

// errorCounter counts error decisions.
type errorCounter struct{ n atomic.Int64 }

func (c *errorCounter) ObserveDecision(d Decision) {
	if d.Outcome == Error {
		c.n.Add(1)
	}
}
