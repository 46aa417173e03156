package dnsbl

import (
	"bytes"
	"context"
	"log/slog"
	"net/netip"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/hamlet-mail/hamlet/dns"
	"github.com/hamlet-mail/hamlet/dns/dnstest"
)

// countMetrics records what a List reports.
type countMetrics struct {
	mu       sync.Mutex
	lookups  map[string]int
	disabled map[string]int
	health   map[string]bool
}

func newCountMetrics() *countMetrics {
	return &countMetrics{lookups: map[string]int{}, disabled: map[string]int{}, health: map[string]bool{}}
}

func (m *countMetrics) Lookup(list, outcome string) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.lookups[list+"/"+outcome]++
}

func (m *countMetrics) Disabled(list, reason string) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.disabled[list+"/"+reason]++
}

func (m *countMetrics) Health(list string, usable bool) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.health[list] = usable
}

func (m *countMetrics) get(mp map[string]int, k string) int {
	m.mu.Lock()
	defer m.mu.Unlock()
	return mp[k]
}

// swapResolver lets a test change the DNS data under a running List.
type swapResolver struct{ cur atomic.Pointer[dnstest.Mock] }

func (s *swapResolver) set(m *dnstest.Mock) { s.cur.Store(m) }
func (s *swapResolver) LookupTXT(ctx context.Context, n string) ([]string, error) {
	return s.cur.Load().LookupTXT(ctx, n)
}
func (s *swapResolver) LookupA(ctx context.Context, n string) ([]netip.Addr, error) {
	return s.cur.Load().LookupA(ctx, n)
}
func (s *swapResolver) LookupAAAA(ctx context.Context, n string) ([]netip.Addr, error) {
	return s.cur.Load().LookupAAAA(ctx, n)
}
func (s *swapResolver) LookupMX(ctx context.Context, n string) ([]dns.MX, error) {
	return s.cur.Load().LookupMX(ctx, n)
}
func (s *swapResolver) LookupPTR(ctx context.Context, ip netip.Addr) ([]string, error) {
	return s.cur.Load().LookupPTR(ctx, ip)
}

// fakeClock is a settable clock.
type fakeClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *fakeClock) Now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *fakeClock) Add(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

func testList() ListConfig {
	return ListConfig{
		Name: "testbl", Zone: "bl.example", Enabled: true, Families: []string{"ip4", "ip6"},
		Symbol: "RBL_TESTBL", Weight: 0.5,
		Codes: []Code{
			{Answer: "127.0.0.2", Symbol: "RBL_TESTBL_SPAM", Weight: 4},
			{Answer: "127.0.0.3-127.0.0.4", Symbol: "RBL_TESTBL_BOT", Weight: 3, Reject: boolp(true)},
			{Answer: "127.0.0.10", Symbol: "RBL_TESTBL_POLICY", Weight: 1},
		},
		Message: "listed at bl.example",
	}
}

// healthy is a zone that passes the RFC 5782 §5 test.
func healthyA() map[string][]string {
	return map[string][]string{"2.0.0.127.bl.example": {"127.0.0.2"}}
}

func withA(extra map[string][]string) map[string][]string {
	a := healthyA()
	for k, v := range extra {
		a[k] = v
	}
	return a
}

func newTestList(t *testing.T, cfg ListConfig, r dns.Resolver) (*List, *countMetrics, *bytes.Buffer, *fakeClock) {
	t.Helper()
	var logs bytes.Buffer
	m := newCountMetrics()
	clk := &fakeClock{t: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)}
	l, err := NewList(cfg, r, Options{
		Logger: slog.New(slog.NewTextHandler(&logs, nil)), Metrics: m, Now: clk.Now,
		HealthInterval: time.Hour, RetryInterval: time.Minute,
	})
	if err != nil {
		t.Fatal(err)
	}
	return l, m, &logs, clk
}

func symbols(hits []Hit) string {
	var s []string
	for _, h := range hits {
		s = append(s, h.Symbol)
	}
	return strings.Join(s, ",")
}

func TestLookupIP(t *testing.T) {
	tests := []struct {
		name    string
		ip      string
		a       map[string][]string
		fail    map[string]dns.Kind
		status  Status
		symbols string
		reject  bool
	}{
		{
			name:    "two codes mapped to two symbols",
			ip:      "192.0.2.99",
			a:       withA(map[string][]string{"99.2.0.192.bl.example": {"127.0.0.2", "127.0.0.3"}}),
			status:  Listed,
			symbols: "RBL_TESTBL_SPAM,RBL_TESTBL_BOT",
			reject:  true,
		},
		{
			name:    "one code, no reject",
			ip:      "192.0.2.98",
			a:       withA(map[string][]string{"98.2.0.192.bl.example": {"127.0.0.2"}}),
			status:  Listed,
			symbols: "RBL_TESTBL_SPAM",
		},
		{
			name:    "range code",
			ip:      "192.0.2.97",
			a:       withA(map[string][]string{"97.2.0.192.bl.example": {"127.0.0.4"}}),
			status:  Listed,
			symbols: "RBL_TESTBL_BOT",
			reject:  true,
		},
		{
			name:    "unknown code gives the list symbol once",
			ip:      "192.0.2.96",
			a:       withA(map[string][]string{"96.2.0.192.bl.example": {"127.0.0.50", "127.0.0.51"}}),
			status:  Listed,
			symbols: "RBL_TESTBL",
		},
		{
			name:   "not listed",
			ip:     "192.0.2.95",
			a:      healthyA(),
			status: NotListed,
		},
		{
			name:   "timeout",
			ip:     "192.0.2.94",
			a:      healthyA(),
			fail:   map[string]dns.Kind{"94.2.0.192.bl.example": dns.Timeout},
			status: Error,
		},
		{
			name: "IPv6 nibbles",
			ip:   "2001:db8::1",
			a: withA(map[string][]string{
				"1.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.8.b.d.0.1.0.0.2.bl.example": {"127.0.0.10"},
			}),
			status:  Listed,
			symbols: "RBL_TESTBL_POLICY",
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			l, m, _, _ := newTestList(t, testList(), &dnstest.Mock{A: tc.a, Fail: tc.fail})
			res := l.LookupIP(context.Background(), netip.MustParseAddr(tc.ip))
			if res.Status != tc.status {
				t.Fatalf("status %s, want %s (%v)", res.Status, tc.status, res.Err)
			}
			if got := symbols(res.Hits); got != tc.symbols {
				t.Errorf("symbols %q, want %q", got, tc.symbols)
			}
			if res.Reject() != tc.reject {
				t.Errorf("reject %v, want %v", res.Reject(), tc.reject)
			}
			if tc.status == Error && res.Err == nil {
				t.Error("no error")
			}
			if m.get(m.lookups, "testbl/"+tc.status.String()) != 1 {
				t.Errorf("lookup metric %v", m.lookups)
			}
			if !l.Usable() {
				t.Error("list disabled")
			}
		})
	}
}

func TestListsEverythingIsDisabled(t *testing.T) {
	// A zone that answers 127.0.0.2 for every name, as some lists do for
	// queries through public resolvers.
	everything := map[string][]string{
		"2.0.0.127.bl.example":  {"127.0.0.2"},
		"1.0.0.127.bl.example":  {"127.0.0.2"},
		"99.2.0.192.bl.example": {"127.0.0.2"},
		"5.2.0.192.bl.example":  {"127.0.0.2"},
	}
	l, m, logs, _ := newTestList(t, testList(), &dnstest.Mock{A: everything})
	for _, ip := range []string{"192.0.2.99", "192.0.2.5"} {
		res := l.LookupIP(context.Background(), netip.MustParseAddr(ip))
		if res.Status != Disabled || len(res.Hits) != 0 || res.Reject() {
			t.Fatalf("%s: %+v, want disabled without hits", ip, res)
		}
	}
	if l.Usable() {
		t.Error("still usable")
	}
	if n := m.get(m.disabled, "testbl/lists_everything"); n != 1 {
		t.Errorf("disabled metric %v", m.disabled)
	}
	if m.health["testbl"] {
		t.Error("health gauge true")
	}
	if !strings.Contains(logs.String(), "level=ERROR") || !strings.Contains(logs.String(), "LIST DISABLED") {
		t.Errorf("no loud log line: %s", logs)
	}
	if strings.Count(logs.String(), "LIST DISABLED") != 1 {
		t.Errorf("logged more than once: %s", logs)
	}
}

func TestTestEntryMissingIsDisabled(t *testing.T) {
	l, m, _, _ := newTestList(t, testList(), &dnstest.Mock{A: map[string][]string{"9.2.0.192.bl.example": {"127.0.0.2"}}})
	res := l.LookupIP(context.Background(), netip.MustParseAddr("192.0.2.9"))
	if res.Status != Disabled {
		t.Fatalf("status %s", res.Status)
	}
	if m.get(m.disabled, "testbl/test_not_listed") != 1 {
		t.Errorf("metric %v", m.disabled)
	}
}

func TestBadAnswersDisable(t *testing.T) {
	for _, tc := range []struct{ answer, reason string }{
		{"127.255.255.254", "error_answer"},
		{"127.255.255.255", "error_answer"},
		{"198.51.100.1", "bad_answer"},
	} {
		t.Run(tc.answer, func(t *testing.T) {
			l, m, logs, _ := newTestList(t, testList(), &dnstest.Mock{A: withA(map[string][]string{"7.2.0.192.bl.example": {tc.answer}})})
			res := l.LookupIP(context.Background(), netip.MustParseAddr("192.0.2.7"))
			if res.Status != Disabled || len(res.Hits) != 0 {
				t.Fatalf("%+v", res)
			}
			if m.get(m.disabled, "testbl/"+tc.reason) != 1 {
				t.Errorf("metric %v", m.disabled)
			}
			if !strings.Contains(logs.String(), "LIST DISABLED") {
				t.Errorf("no log: %s", logs)
			}
			// Subsequent queries do not reach DNS.
			if r2 := l.LookupIP(context.Background(), netip.MustParseAddr("192.0.2.8")); r2.Status != Disabled {
				t.Errorf("second lookup %s", r2.Status)
			}
		})
	}
}

func TestHealthRecheck(t *testing.T) {
	sw := &swapResolver{}
	sw.set(&dnstest.Mock{A: map[string][]string{"2.0.0.127.bl.example": {"127.0.0.2"}, "1.0.0.127.bl.example": {"127.0.0.2"}}})
	l, m, logs, clk := newTestList(t, testList(), sw)
	ip := netip.MustParseAddr("192.0.2.99")
	if res := l.LookupIP(context.Background(), ip); res.Status != Disabled {
		t.Fatalf("status %s", res.Status)
	}
	// The operator fixes the list; nothing changes before the interval.
	sw.set(&dnstest.Mock{A: withA(map[string][]string{"99.2.0.192.bl.example": {"127.0.0.2"}})})
	clk.Add(30 * time.Minute)
	if res := l.LookupIP(context.Background(), ip); res.Status != Disabled {
		t.Fatalf("re-enabled too early: %s", res.Status)
	}
	clk.Add(31 * time.Minute)
	res := l.LookupIP(context.Background(), ip)
	if res.Status != Listed || symbols(res.Hits) != "RBL_TESTBL_SPAM" {
		t.Fatalf("after recheck: %+v", res)
	}
	if !m.health["testbl"] {
		t.Error("health gauge not true")
	}
	if !strings.Contains(logs.String(), "enabled again") {
		t.Errorf("no log of re-enabling: %s", logs)
	}
	// A healthy list due for a check keeps answering while the check
	// runs in the background; that check finds it broken again.
	sw.set(&dnstest.Mock{A: map[string][]string{"2.0.0.127.bl.example": {"127.0.0.2"}, "1.0.0.127.bl.example": {"127.0.0.2"}, "99.2.0.192.bl.example": {"127.0.0.2"}}})
	clk.Add(2 * time.Hour)
	if res := l.LookupIP(context.Background(), ip); res.Status != Listed {
		t.Fatalf("healthy list during background check: %s", res.Status)
	}
	deadline := time.Now().Add(5 * time.Second)
	for l.Usable() && time.Now().Before(deadline) {
		time.Sleep(time.Millisecond)
	}
	if l.Usable() {
		t.Fatal("background recheck did not disable the list")
	}
	if m.get(m.disabled, "testbl/lists_everything") != 2 {
		t.Errorf("metric %v", m.disabled)
	}
}

func TestHealthInconclusive(t *testing.T) {
	sw := &swapResolver{}
	sw.set(&dnstest.Mock{Fail: map[string]dns.Kind{"2.0.0.127.bl.example": dns.ServFail}})
	l, _, _, clk := newTestList(t, testList(), sw)
	ip := netip.MustParseAddr("192.0.2.99")
	res := l.LookupIP(context.Background(), ip)
	if res.Status != Error || res.Err == nil {
		t.Fatalf("status %s", res.Status)
	}
	if !l.Usable() {
		t.Error("a DNS failure disabled the list")
	}
	sw.set(&dnstest.Mock{A: withA(map[string][]string{"99.2.0.192.bl.example": {"127.0.0.2"}})})
	clk.Add(2 * time.Minute)
	if res := l.LookupIP(context.Background(), ip); res.Status != Listed {
		t.Fatalf("after retry: %s %v", res.Status, res.Err)
	}
}

func TestSkipHealthCheck(t *testing.T) {
	cfg := testList()
	cfg.SkipHealthCheck = true
	mock := &dnstest.Mock{A: map[string][]string{"99.2.0.192.bl.example": {"127.0.0.2"}}}
	l, _, _, _ := newTestList(t, cfg, mock)
	if res := l.LookupIP(context.Background(), netip.MustParseAddr("192.0.2.99")); res.Status != Listed {
		t.Fatalf("status %s", res.Status)
	}
	if mock.Queries() != 1 {
		t.Errorf("%d queries, want 1", mock.Queries())
	}
}

func TestHealthCheckedOnce(t *testing.T) {
	mock := &dnstest.Mock{A: withA(map[string][]string{"99.2.0.192.bl.example": {"127.0.0.2"}})}
	l, _, _, _ := newTestList(t, testList(), mock)
	var wg sync.WaitGroup
	for range 20 {
		wg.Go(func() {
			if res := l.LookupIP(context.Background(), netip.MustParseAddr("192.0.2.99")); res.Status != Listed {
				t.Errorf("status %s", res.Status)
			}
		})
	}
	wg.Wait()
	if q := mock.Queries(); q != 22 {
		t.Errorf("%d queries, want 2 health + 20", q)
	}
}

func TestSkipped(t *testing.T) {
	cfg := testList()
	cfg.Families = nil // ip4 only
	l, _, _, _ := newTestList(t, cfg, &dnstest.Mock{A: healthyA()})
	if res := l.LookupIP(context.Background(), netip.MustParseAddr("2001:db8::1")); res.Status != Skipped {
		t.Errorf("IPv6 on an ip4 list: %s", res.Status)
	}
	if res := l.LookupDomain(context.Background(), "example.com"); res.Status != Skipped {
		t.Errorf("domain on an IP list: %s", res.Status)
	}
	if res := l.LookupIP(context.Background(), netip.Addr{}); res.Status != Skipped {
		t.Errorf("invalid IP: %s", res.Status)
	}
}

func TestLookupDomain(t *testing.T) {
	cfg := ListConfig{
		Name: "dbl", Zone: "dbl.example", Enabled: true, Kind: KindDomain, Check: []string{SourceHelo, SourceFrom},
		Codes: []Code{{Answer: "127.0.1.2", Symbol: "DBL_SPAM", Weight: 6.5}, {Answer: "127.0.1.0/24", Symbol: "DBL_ANY", Weight: 1}},
	}
	mock := &dnstest.Mock{A: map[string][]string{
		"test.dbl.example":            {"127.0.1.2"},
		"spammer.example.dbl.example": {"127.0.1.2"},
	}}
	l, _, _, _ := newTestList(t, cfg, mock)
	if !l.Checks(SourceHelo) || l.Checks(SourceRDNS) {
		t.Error("Checks wrong")
	}
	res := l.LookupDomain(context.Background(), "Spammer.Example.")
	if res.Status != Listed || symbols(res.Hits) != "DBL_SPAM,DBL_ANY" || res.Query != "spammer.example.dbl.example" {
		t.Fatalf("%+v", res)
	}
	if res := l.LookupDomain(context.Background(), "good.example"); res.Status != NotListed {
		t.Errorf("good.example: %s", res.Status)
	}
	for _, d := range []string{"[192.0.2.1]", "192.0.2.1", "localhost", "", "a..b"} {
		if res := l.LookupDomain(context.Background(), d); res.Status != Skipped {
			t.Errorf("%q: %s", d, res.Status)
		}
	}
}

func TestIPv6OnlyListHealth(t *testing.T) {
	cfg := testList()
	cfg.Families = []string{"ip6"}
	// ::ffff:7f00:2 in nibbles.
	test := "2.0.0.0.0.0.f.7.f.f.f.f.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.bl.example"
	l, _, _, _ := newTestList(t, cfg, &dnstest.Mock{A: map[string][]string{test: {"127.0.0.2"}}})
	if ok, why := l.CheckHealth(context.Background()); !ok {
		t.Fatalf("unhealthy: %s", why)
	}
}

func TestParseAnswer(t *testing.T) {
	tests := []struct {
		spec string
		in   []string
		out  []string
	}{
		{"127.0.0.2", []string{"127.0.0.2"}, []string{"127.0.0.3", "::1"}},
		{"127.0.0.4-127.0.0.7", []string{"127.0.0.4", "127.0.0.5", "127.0.0.7"}, []string{"127.0.0.3", "127.0.0.8"}},
		{"127.0.1.0/24", []string{"127.0.1.0", "127.0.1.255"}, []string{"127.0.2.0", "127.0.0.255"}},
		{"127.0.*.3", []string{"127.0.0.3", "127.0.15.3"}, []string{"127.0.15.2", "127.1.0.3"}},
		{"2001:db8::/127", []string{"2001:db8::1"}, []string{"2001:db8::2", "127.0.0.1"}},
	}
	for _, tc := range tests {
		m, err := ParseAnswer(tc.spec)
		if err != nil {
			t.Fatalf("%s: %v", tc.spec, err)
		}
		for _, s := range tc.in {
			if !m.Match(netip.MustParseAddr(s)) {
				t.Errorf("%s does not match %s", tc.spec, s)
			}
		}
		for _, s := range tc.out {
			if m.Match(netip.MustParseAddr(s)) {
				t.Errorf("%s matches %s", tc.spec, s)
			}
		}
	}
	for _, bad := range []string{"", "x", "127.0.0.5-127.0.0.2", "127.0.0.1-::1", "127.*.0", "*.*.*.*.*", "127.0.0.0/33", "fe80::1%eth0", "127.0.*.x"} {
		if _, err := ParseAnswer(bad); err == nil {
			t.Errorf("ParseAnswer(%q) accepted", bad)
		}
	}
}

func TestValidate(t *testing.T) {
	if err := ValidateLists(DefaultLists()); err != nil {
		t.Fatalf("shipped lists: %v", err)
	}
	for _, l := range DefaultLists() {
		if l.Enabled {
			t.Errorf("shipped list %s is enabled", l.Name)
		}
	}
	bad := []func(*ListConfig){
		func(c *ListConfig) { c.Name = "Bad Name" },
		func(c *ListConfig) { c.Zone = "" },
		func(c *ListConfig) { c.Zone = "a..b" },
		func(c *ListConfig) { c.Kind = "url" },
		func(c *ListConfig) { c.Families = []string{"ipv4"} },
		func(c *ListConfig) { c.Check = []string{"body"} },
		func(c *ListConfig) { c.Symbol = "lower" },
		func(c *ListConfig) { c.Codes[0].Answer = "nope" },
		func(c *ListConfig) { c.Codes[0].Symbol = "" },
		func(c *ListConfig) { c.ErrorAnswers = []string{"x"} },
		func(c *ListConfig) { c.TestListed = "not-an-ip" },
	}
	for i, mod := range bad {
		c := testList()
		mod(&c)
		if err := c.Validate(); err == nil {
			t.Errorf("case %d accepted", i)
		}
	}
	dup := []ListConfig{testList(), testList()}
	if err := ValidateLists(dup); err == nil || !strings.Contains(err.Error(), "twice") {
		t.Errorf("duplicate: %v", err)
	}
	c := testList()
	c.Symbol = ""
	c.Name = "my-list"
	if c.DefaultSymbol() != "RBL_MY_LIST" {
		t.Errorf("default symbol %s", c.DefaultSymbol())
	}
}

func TestDefaultListsDecode(t *testing.T) {
	byName := map[string]ListConfig{}
	for _, l := range DefaultLists() {
		byName[l.Name] = l
	}
	tests := []struct {
		list, answer, symbols string
		bad                   bool
	}{
		{"spamhaus_zen", "127.0.0.2", "RBL_SPAMHAUS_SBL", false},
		{"spamhaus_zen", "127.0.0.11", "RBL_SPAMHAUS_PBL", false},
		{"spamhaus_zen", "127.0.0.5", "RBL_SPAMHAUS_XBL", false},
		{"spamhaus_zen", "127.255.255.254", "", true},
		{"dnswl", "127.0.10.3", "RCVD_IN_DNSWL_HI", false},
		{"dnswl", "127.0.5.0", "RCVD_IN_DNSWL_NONE", false},
		{"dnswl", "127.0.0.255", "", true},
		{"spamhaus_dbl", "127.0.1.104", "DBL_ABUSE", false},
		{"spamcop", "127.0.0.2", "RBL_SPAMCOP", false},
	}
	for _, tc := range tests {
		hits, bad, err := DecodeAnswers(byName[tc.list], []netip.Addr{netip.MustParseAddr(tc.answer)})
		if err != nil {
			t.Fatal(err)
		}
		if (bad != "") != tc.bad || symbols(hits) != tc.symbols {
			t.Errorf("%s %s: hits %q bad %q", tc.list, tc.answer, symbols(hits), bad)
		}
	}
}

func BenchmarkLookupIP(b *testing.B) {
	mock := &dnstest.Mock{A: withA(map[string][]string{"99.2.0.192.bl.example": {"127.0.0.2", "127.0.0.3"}})}
	l, err := NewList(testList(), mock, Options{Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		b.Fatal(err)
	}
	ip := netip.MustParseAddr("192.0.2.99")
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		if l.LookupIP(ctx, ip).Status != Listed {
			b.Fatal("not listed")
		}
	}
}
