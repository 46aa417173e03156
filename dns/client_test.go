package dns_test

import (
	"context"
	"fmt"
	"net/netip"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hamlet-mail/hamlet/config/duration"
	"github.com/hamlet-mail/hamlet/dns"
	"github.com/hamlet-mail/hamlet/dns/dnstest"
)

const zone = `
example.org.        300 IN TXT "v=spf1 ip4:192.0.2.0/24 -all"
example.org.        300 IN A   192.0.2.10
example.org.        300 IN AAAA 2001:db8::10
example.org.        300 IN MX  10 mx.example.org.
mx.example.org.     300 IN A   192.0.2.25
alias.example.org.  300 IN CNAME example.org.
10.2.0.192.in-addr.arpa. 300 IN PTR mx.example.org.
short.example.org.  1   IN A   192.0.2.1
`

func newPair(t *testing.T, cfg dns.Config, opts ...dns.Option) (*dnstest.Server, *dns.Client) {
	t.Helper()
	srv, err := dnstest.NewServer(zone)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(srv.Close)
	cfg.Servers = []string{srv.Addr()}
	c, err := dns.NewClient(cfg, opts...)
	if err != nil {
		t.Fatal(err)
	}
	return srv, c
}

func TestLookups(t *testing.T) {
	_, c := newPair(t, dns.Config{})
	ctx := context.Background()
	txt, err := c.LookupTXT(ctx, "Example.ORG.")
	if err != nil || len(txt) != 1 || txt[0] != "v=spf1 ip4:192.0.2.0/24 -all" {
		t.Fatalf("TXT = %q, %v", txt, err)
	}
	a, err := c.LookupA(ctx, "alias.example.org")
	if err != nil || len(a) != 1 || a[0] != netip.MustParseAddr("192.0.2.10") {
		t.Fatalf("A via CNAME = %v, %v", a, err)
	}
	aaaa, err := c.LookupAAAA(ctx, "example.org")
	if err != nil || aaaa[0] != netip.MustParseAddr("2001:db8::10") {
		t.Fatalf("AAAA = %v, %v", aaaa, err)
	}
	mx, err := c.LookupMX(ctx, "example.org")
	if err != nil || len(mx) != 1 || mx[0] != (dns.MX{Host: "mx.example.org", Pref: 10}) {
		t.Fatalf("MX = %v, %v", mx, err)
	}
	ptr, err := c.LookupPTR(ctx, netip.MustParseAddr("192.0.2.10"))
	if err != nil || len(ptr) != 1 || ptr[0] != "mx.example.org" {
		t.Fatalf("PTR = %v, %v", ptr, err)
	}
}

func TestNegativeAnswersKeptApart(t *testing.T) {
	srv, c := newPair(t, dns.Config{Timeout: duration.Duration(200 * time.Millisecond), Attempts: 1})
	ctx := context.Background()
	_, err := c.LookupTXT(ctx, "nope.example.org")
	if !dns.IsNXDomain(err) || dns.IsTemporary(err) {
		t.Fatalf("missing name: %v (kind %v)", err, dns.KindOf(err))
	}
	_, err = c.LookupTXT(ctx, "mx.example.org")
	if dns.KindOf(err) != dns.NoData || !dns.IsNotFound(err) {
		t.Fatalf("name without TXT: %v", err)
	}
	srv.ServFail("broken.example.org")
	_, err = c.LookupTXT(ctx, "broken.example.org")
	if dns.KindOf(err) != dns.ServFail || !dns.IsTemporary(err) || dns.IsNotFound(err) {
		t.Fatalf("SERVFAIL: %v", err)
	}
	// The server never answers and ctx has no deadline: only the
	// client's own timeout can end this lookup.
	srv.Hang("slow.example.org")
	_, err = c.LookupTXT(ctx, "slow.example.org")
	if dns.KindOf(err) != dns.Timeout || !dns.IsTemporary(err) {
		t.Fatalf("hang: %v", err)
	}
}

func TestCache(t *testing.T) {
	srv, c := newPair(t, dns.Config{})
	ctx := context.Background()
	for i := 0; i < 5; i++ {
		if _, err := c.LookupTXT(ctx, "example.org"); err != nil {
			t.Fatal(err)
		}
		if _, err := c.LookupTXT(ctx, "nope.example.org"); !dns.IsNXDomain(err) {
			t.Fatal(err)
		}
	}
	if n := srv.Count("TXT", "example.org"); n != 1 {
		t.Errorf("positive answer asked upstream %d times, want 1", n)
	}
	if n := srv.Count("TXT", "nope.example.org"); n != 1 {
		t.Errorf("negative answer asked upstream %d times, want 1 (RFC 2308)", n)
	}
	if st := c.Stats(); st.CacheHits != 8 {
		t.Errorf("cache hits = %d, want 8", st.CacheHits)
	}
}

func TestCacheExpiresAndIsBounded(t *testing.T) {
	var mu sync.Mutex
	now := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	clock := func() time.Time { mu.Lock(); defer mu.Unlock(); return now }
	advance := func(d time.Duration) { mu.Lock(); now = now.Add(d); mu.Unlock() }
	srv, c := newPair(t, dns.Config{CacheSize: 2}, dns.WithClock(clock))
	ctx := context.Background()
	for _, step := range []struct {
		advance time.Duration
		asked   int
	}{
		{0, 1},                      // first lookup goes upstream
		{999 * time.Millisecond, 1}, // TTL 1: still cached just before it ends
		{time.Millisecond, 2},       // expired at exactly 1 s
		{500 * time.Millisecond, 2}, // the fresh answer is cached again
	} {
		advance(step.advance)
		if _, err := c.LookupA(ctx, "short.example.org"); err != nil {
			t.Fatal(err)
		}
		if n := srv.Count("A", "short.example.org"); n != step.asked {
			t.Errorf("after +%v: asked upstream %d times, want %d", step.advance, n, step.asked)
		}
	}
	for _, n := range []string{"example.org", "mx.example.org", "alias.example.org"} {
		c.LookupA(ctx, n)
	}
	if l := c.CacheLen(); l != 2 {
		t.Errorf("cache holds %d entries, bound is 2", l)
	}
}

func TestSingleflight(t *testing.T) {
	srv, c := newPair(t, dns.Config{})
	srv.Delay("mx.example.org", 100*time.Millisecond)
	var wg sync.WaitGroup
	errs := make(chan error, 100)
	for i := 0; i < 100; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if _, err := c.LookupA(context.Background(), "mx.example.org"); err != nil {
				errs <- err
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	if n := srv.Count("A", "mx.example.org"); n != 1 {
		t.Fatalf("100 concurrent lookups caused %d upstream queries, want 1", n)
	}
}

func TestTCPFallback(t *testing.T) {
	srv, c := newPair(t, dns.Config{})
	// A TXT RRset far over 512 bytes and over the 1232-byte EDNS0 size.
	var parts []string
	for i := 0; i < 12; i++ {
		parts = append(parts, `"`+strings.Repeat(fmt.Sprint(i%10), 200)+`"`)
	}
	if err := srv.Add("big.example.org. 300 IN TXT " + strings.Join(parts, " ")); err != nil {
		t.Fatal(err)
	}
	txt, err := c.LookupTXT(context.Background(), "big.example.org")
	if err != nil {
		t.Fatal(err)
	}
	if len(txt) != 1 || len(txt[0]) != 2400 {
		t.Fatalf("got %d records, first %d bytes", len(txt), len(txt[0]))
	}
	if st := c.Stats(); st.TCP != 1 {
		t.Errorf("TCP retries = %d, want 1", st.TCP)
	}
}

// TestCallerDeadline: the caller's deadline ends a lookup. The client's
// own timeout is an hour and the server never answers, so a lookup that
// returns at all was ended by ctx (one that ignored it would hang the
// test until go test's -timeout fails it).
func TestCallerDeadline(t *testing.T) {
	srv, c := newPair(t, dns.Config{Timeout: duration.Duration(time.Hour), Attempts: 1})
	srv.Hang("slow.example.org")
	ctx, cancel := context.WithTimeout(context.Background(), 150*time.Millisecond)
	defer cancel()
	_, err := c.LookupTXT(ctx, "slow.example.org")
	if dns.KindOf(err) != dns.Timeout || ctx.Err() == nil {
		t.Fatalf("err = %v, ctx %v", err, ctx.Err())
	}
}

func TestInvalidNames(t *testing.T) {
	_, c := newPair(t, dns.Config{})
	for _, n := range []string{"", "a..b", strings.Repeat("x", 64) + ".org", strings.Repeat("a.", 130)} {
		if _, err := c.LookupTXT(context.Background(), n); dns.KindOf(err) != dns.Malformed {
			t.Errorf("%q: err = %v", n, err)
		}
	}
}

func TestReverseName(t *testing.T) {
	if got := dns.ReverseName(netip.MustParseAddr("192.0.2.1")); got != "1.2.0.192.in-addr.arpa" {
		t.Error(got)
	}
	got := dns.ReverseName(netip.MustParseAddr("2001:db8::1"))
	if got != "1.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.8.b.d.0.1.0.0.2.ip6.arpa" {
		t.Error(got)
	}
}

// Servers reports the configured servers, a copy the caller may keep.
func TestServers(t *testing.T) {
	c, err := dns.NewClient(dns.Config{Servers: []string{"127.0.0.1:5353", "[::1]:53"}})
	if err != nil {
		t.Fatal(err)
	}
	got := c.Servers()
	if len(got) != 2 || got[0] != "127.0.0.1:5353" || got[1] != "[::1]:53" {
		t.Fatalf("Servers() = %q", got)
	}
	got[0] = "changed"
	if c.Servers()[0] != "127.0.0.1:5353" {
		t.Error("Servers() shares the client's slice")
	}
}
