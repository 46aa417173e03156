package dmarcreport

import (
	"context"
	"net/netip"
	"sync"
	"testing"
	"time"

	"github.com/hamlet-mail/hamlet/dns"
	"github.com/hamlet-mail/hamlet/dns/dnstest"
)

func addrs(ss ...string) []netip.Addr {
	out := make([]netip.Addr, len(ss))
	for i, s := range ss {
		out[i] = netip.MustParseAddr(s)
	}
	return out
}

// TestPTRNames: a name is forward-confirmed or not, an address without
// PTR has none, and each answer is cached: asked once, not again.
func TestPTRNames(t *testing.T) {
	res := &dnstest.Mock{
		PTR: map[string][]string{
			"192.0.2.1":    {"mx1.example.org."},
			"192.0.2.2":    {"mx.example.org."}, // a spoofer's claim: no A back to it
			"2001:db8::25": {"mx6.example.org."},
		},
		A:    map[string][]string{"mx1.example.org": {"192.0.2.1"}, "mx.example.org": {"203.0.113.99"}},
		AAAA: map[string][]string{"mx6.example.org": {"2001:db8::25"}},
	}
	c := newPTRCache(res)
	ips := addrs("192.0.2.1", "192.0.2.2", "2001:db8::25", "198.51.100.1")
	got := c.names(context.Background(), ips)
	want := map[string]ptrName{
		"192.0.2.1":    {"mx1.example.org", true},
		"192.0.2.2":    {"mx.example.org", false},
		"2001:db8::25": {"mx6.example.org", true},
		"198.51.100.1": {},
	}
	for ip, w := range want {
		n, ok := got[netip.MustParseAddr(ip)]
		if !ok || n != w {
			t.Errorf("%s: %+v (present %v), want %+v", ip, n, ok, w)
		}
	}
	q := res.Queries()
	if q != 7 { // 4 PTR, 3 forward
		t.Errorf("%d queries, want 7", q)
	}
	if again := c.names(context.Background(), ips); len(again) != 4 || res.Queries() != q {
		t.Errorf("second time: %d names, %d queries (were %d)", len(again), res.Queries(), q)
	}
}

// TestPTRExpiry: names are kept a day; a temporary failure only
// ptrRetry, then asked again.
func TestPTRExpiry(t *testing.T) {
	res := &dnstest.Mock{PTR: map[string][]string{"192.0.2.1": {"mx1.example.org."}},
		A: map[string][]string{"mx1.example.org": {"192.0.2.1"}}, Fail: map[string]dns.Kind{"PTR 2.2.0.192.in-addr.arpa": dns.ServFail}}
	c := newPTRCache(res)
	now := time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC)
	c.now = func() time.Time { return now }
	ips := addrs("192.0.2.1", "192.0.2.2")
	got := c.names(context.Background(), ips)
	if n := got[ips[1]]; n.Name != "" {
		t.Errorf("SERVFAIL gave %+v", n)
	}
	q := res.Queries()
	now = now.Add(ptrRetry - time.Second)
	c.names(context.Background(), ips)
	if res.Queries() != q {
		t.Errorf("asked again within the retry period: %d queries, were %d", res.Queries(), q)
	}
	now = now.Add(2 * time.Second)
	c.names(context.Background(), ips)
	if res.Queries() != q+1 {
		t.Errorf("after the retry period: %d queries, want %d (only the failed PTR)", res.Queries(), q+1)
	}
	now = now.Add(ptrTTL)
	got = c.names(context.Background(), ips)
	if res.Queries() != q+4 || got[ips[0]].Name != "mx1.example.org" {
		t.Errorf("after a day: %d queries, want %d; %+v", res.Queries(), q+4, got)
	}
}

// TestPTRBound: at most max addresses, the least recently used go first.
func TestPTRBound(t *testing.T) {
	res := &dnstest.Mock{}
	c := newPTRCache(res)
	c.max = 3
	ctx := context.Background()
	c.names(ctx, addrs("192.0.2.1", "192.0.2.2", "192.0.2.3"))
	c.names(ctx, addrs("192.0.2.1")) // used: now the most recent
	c.names(ctx, addrs("192.0.2.4")) // evicts 192.0.2.2
	if c.len() != 3 {
		t.Fatalf("%d cached, max 3", c.len())
	}
	q := res.Queries()
	c.names(ctx, addrs("192.0.2.1", "192.0.2.3", "192.0.2.4"))
	if res.Queries() != q {
		t.Errorf("kept addresses asked again: %d queries, were %d", res.Queries(), q)
	}
	c.names(ctx, addrs("192.0.2.2"))
	if res.Queries() != q+1 {
		t.Errorf("the evicted address was not asked again: %d queries, were %d", res.Queries(), q)
	}
}

// TestPTRBackground: a caller that stops waiting gets no name, but the
// lookup goes on and the next caller has it without asking DNS again;
// concurrent callers share one lookup per address.
func TestPTRBackground(t *testing.T) {
	res := &dnstest.Mock{PTR: map[string][]string{"192.0.2.1": {"mx1.example.org."}},
		A: map[string][]string{"mx1.example.org": {"192.0.2.1"}}, Delay: 200 * time.Millisecond}
	c := newPTRCache(res)
	ips := addrs("192.0.2.1")
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if got := c.names(ctx, ips); len(got) != 0 {
		t.Errorf("a caller that did not wait got %+v", got)
	}
	var wg sync.WaitGroup
	results := make([]map[netip.Addr]ptrName, 4)
	for i := range results {
		wg.Add(1)
		go func() {
			defer wg.Done()
			results[i] = c.names(context.Background(), ips)
		}()
	}
	wg.Wait()
	for i, r := range results {
		if r[ips[0]] != (ptrName{"mx1.example.org", true}) {
			t.Errorf("caller %d: %+v", i, r)
		}
	}
	if q := res.Queries(); q != 2 { // one PTR, one A
		t.Errorf("%d queries for one address asked five times", q)
	}
}
