package spf

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/hamlet-mail/hamlet/dns"
	"github.com/hamlet-mail/hamlet/dns/dnstest"
)

var client = netip.MustParseAddr("192.0.2.10")

// checkZone evaluates foo@example.com from client against z.
func checkZone(t *testing.T, r dns.Resolver) *Result {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	res := Check(ctx, r, Args{IP: client, MailFrom: "foo@example.com", Helo: "mail.example.com"})
	if res == nil {
		t.Fatal("Check returned nil")
	}
	return res
}

func zoneOf(records map[string][]string) *zoneResolver {
	z := newZone()
	for name, txts := range records {
		for _, txt := range txts {
			z.add(name, zoneRR{typ: "TXT", txt: txt})
		}
	}
	return z
}

func TestHostileDNS(t *testing.T) {
	long := "v=spf1"
	for i := 0; len(long) < 4200; i++ {
		long += fmt.Sprintf(" ip4:198.51.%d.%d", i/250, i%250)
	}
	longMatch := long + " ip4:192.0.2.10 -all"
	many := func(n int, spf bool) []string {
		var out []string
		for i := 0; i < n; i++ {
			out = append(out, fmt.Sprintf("google-site-verification=%040d", i))
		}
		if spf {
			out[n/2] = "v=spf1 ip4:192.0.2.0/24 -all"
		}
		return out
	}
	var fiftySPF []string
	for i := 0; i < 50; i++ {
		fiftySPF = append(fiftySPF, "v=spf1 ip4:192.0.2.10 -all")
	}
	var includes10, includes11 []string
	zoneIncludes := map[string][]string{}
	for i := 0; i < 11; i++ {
		name := fmt.Sprintf("i%d.example.net", i)
		zoneIncludes[name] = []string{"v=spf1 ip4:203.0.113.1"}
		if i < 10 {
			includes10 = append(includes10, "include:"+name)
		}
		includes11 = append(includes11, "include:"+name)
	}

	tests := []struct {
		name    string
		zone    map[string][]string
		want    Code
		wantErr error  // errors.Is target, when set
		problem string // substring of Problem, when set
		lookups int    // expected Lookups, when > 0
	}{
		{name: "include loop", zone: map[string][]string{
			"example.com":      {"v=spf1 include:loop.example.net -all"},
			"loop.example.net": {"v=spf1 include:example.com -all"},
		}, want: PermError, wantErr: ErrTooManyLookups, lookups: 11},
		{name: "self include", zone: map[string][]string{
			"example.com": {"v=spf1 include:example.com"},
		}, want: PermError, wantErr: ErrTooManyLookups},
		{name: "redirect recursion", zone: map[string][]string{
			"example.com": {"v=spf1 redirect=%{d}"},
		}, want: PermError, wantErr: ErrTooManyLookups},
		{name: "mutual redirect", zone: map[string][]string{
			"example.com":   {"v=spf1 redirect=b.example.net"},
			"b.example.net": {"v=spf1 redirect=example.com"},
		}, want: PermError, wantErr: ErrTooManyLookups},
		{name: "record over 4 KB matching at its end", zone: map[string][]string{
			"example.com": {longMatch},
		}, want: Pass},
		{name: "record over 4 KB without match", zone: map[string][]string{
			"example.com": {long + " -all"},
		}, want: Fail},
		{name: "record over 4 KB of lookups", zone: map[string][]string{
			"example.com":   {"v=spf1" + strings.Repeat(" include:x.example.net", 300) + " -all"},
			"x.example.net": {"v=spf1"},
		}, want: PermError, wantErr: ErrTooManyLookups},
		{name: "record over 64 KB", zone: map[string][]string{
			"example.com": {"v=spf1" + strings.Repeat(" ip4:198.51.100.1", 4000) + " +all"},
		}, want: PermError, problem: "longer than"},
		{name: "50 TXT records, one SPF", zone: map[string][]string{
			"example.com": many(50, true),
		}, want: Pass},
		{name: "50 TXT records, no SPF", zone: map[string][]string{
			"example.com": many(50, false),
		}, want: None},
		{name: "50 SPF records", zone: map[string][]string{
			"example.com": fiftySPF,
		}, want: PermError, wantErr: ErrMultipleRecords},
		{name: "NUL in the SPF record", zone: map[string][]string{
			"example.com": {"v=spf1 ip4:192.0.2.10\x00 -all"},
		}, want: PermError, problem: "invalid byte 0x00"},
		{name: "NUL right after the version", zone: map[string][]string{
			"example.com": {"v=spf1\x00+all"},
		}, want: None},
		{name: "NUL in another TXT record", zone: map[string][]string{
			"example.com": {"junk\x00junk", "v=spf1 ip4:192.0.2.10 -all"},
		}, want: Pass},
		{name: "10 includes", zone: merge(zoneIncludes, map[string][]string{
			"example.com": {"v=spf1 " + strings.Join(includes10, " ") + " ip4:192.0.2.10 -all"},
		}), want: Pass, lookups: 10},
		{name: "11 includes", zone: merge(zoneIncludes, map[string][]string{
			"example.com": {"v=spf1 " + strings.Join(includes11, " ") + " ip4:192.0.2.10 -all"},
		}), want: PermError, wantErr: ErrTooManyLookups, lookups: 11},
		{name: "3 void lookups", zone: map[string][]string{
			"example.com": {"v=spf1 a:v1.example.net a:v2.example.net exists:v3.example.net ip4:192.0.2.10"},
		}, want: PermError, wantErr: ErrTooManyVoidLookups},
		{name: "2 void lookups", zone: map[string][]string{
			"example.com": {"v=spf1 a:v1.example.net a:v2.example.net ip4:192.0.2.10"},
		}, want: Pass},
		{name: "include without record", zone: map[string][]string{
			"example.com": {"v=spf1 include:nothing.example.net ip4:192.0.2.10"},
		}, want: PermError, wantErr: ErrNoRecord},
		{name: "redirect without record", zone: map[string][]string{
			"example.com": {"v=spf1 redirect=nothing.example.net"},
		}, want: PermError, wantErr: ErrNoRecord},
		{name: "huge macro expansion", zone: map[string][]string{
			"example.com": {"v=spf1 exists:" + strings.Repeat("%{s}", 3000) + ".example.net -all"},
		}, want: Fail},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			res := checkZone(t, zoneOf(tc.zone))
			if res.Code != tc.want {
				t.Fatalf("got %s, want %s (problem %q)", res.Code, tc.want, res.Problem)
			}
			if tc.wantErr != nil && !errors.Is(res.Err, tc.wantErr) {
				t.Errorf("error %v, want %v", res.Err, tc.wantErr)
			}
			if tc.problem != "" && !strings.Contains(res.Problem, tc.problem) {
				t.Errorf("problem %q does not mention %q", res.Problem, tc.problem)
			}
			if tc.lookups > 0 && res.Lookups != tc.lookups {
				t.Errorf("Lookups = %d, want %d", res.Lookups, tc.lookups)
			}
			if res.Lookups > DefaultMaxLookups+1 || res.VoidLookups > DefaultMaxVoidLookups+1 {
				t.Errorf("limits overrun: %d lookups, %d void", res.Lookups, res.VoidLookups)
			}
		})
	}
}

func merge(ms ...map[string][]string) map[string][]string {
	out := map[string][]string{}
	for _, m := range ms {
		for k, v := range m {
			out[k] = append(out[k], v...)
		}
	}
	return out
}

func TestCNAMEChains(t *testing.T) {
	z := newZone()
	z.add("example.com", zoneRR{typ: "TXT", txt: "v=spf1 include:c0.example.net a:loop1.example.net -all"})
	// A chain of 5 CNAMEs ending at the record: followed.
	for i := 0; i < 5; i++ {
		z.add(fmt.Sprintf("c%d.example.net", i), zoneRR{typ: "CNAME", txt: fmt.Sprintf("c%d.example.net", i+1)})
	}
	z.add("c5.example.net", zoneRR{typ: "TXT", txt: "v=spf1 ip4:192.0.2.10"})
	res := checkZone(t, z)
	if res.Code != Pass || res.Mechanism != "include:c0.example.net" {
		t.Errorf("chain of 5: %s via %q (%s)", res.Code, res.Mechanism, res.Problem)
	}

	// A chain longer than the resolver follows, and a loop: the resolver
	// answers SERVFAIL, which is temperror (RFC 7208 §2.6.6).
	z.maxCNAME = 3
	res = checkZone(t, z)
	if res.Code != TempError || dns.KindOf(res.Err) != dns.ServFail {
		t.Errorf("chain over the limit: %s (%v)", res.Code, res.Err)
	}
	z.maxCNAME = 8
	z.names["c5.example.net"] = []zoneRR{{typ: "TXT", txt: "v=spf1 -ip4:192.0.2.10"}}
	z.add("loop1.example.net", zoneRR{typ: "CNAME", txt: "loop2.example.net"})
	z.add("loop2.example.net", zoneRR{typ: "CNAME", txt: "loop1.example.net"})
	res = checkZone(t, z)
	if res.Code != TempError || !strings.Contains(res.Problem, "a:loop1.example.net") {
		t.Errorf("CNAME loop: %s (%s)", res.Code, res.Problem)
	}
}

// blockingResolver answers nothing until its context ends, like a server
// that never replies.
type blockingResolver struct{}

func (blockingResolver) wait(ctx context.Context, typ, name string) error {
	<-ctx.Done()
	return &dns.Error{Kind: dns.Timeout, Name: name, Type: typ, Err: ctx.Err()}
}
func (b blockingResolver) LookupTXT(ctx context.Context, n string) ([]string, error) {
	return nil, b.wait(ctx, "TXT", n)
}
func (b blockingResolver) LookupA(ctx context.Context, n string) ([]netip.Addr, error) {
	return nil, b.wait(ctx, "A", n)
}
func (b blockingResolver) LookupAAAA(ctx context.Context, n string) ([]netip.Addr, error) {
	return nil, b.wait(ctx, "AAAA", n)
}
func (b blockingResolver) LookupMX(ctx context.Context, n string) ([]dns.MX, error) {
	return nil, b.wait(ctx, "MX", n)
}
func (b blockingResolver) LookupPTR(ctx context.Context, ip netip.Addr) ([]string, error) {
	return nil, b.wait(ctx, "PTR", ip.String())
}

func TestTimeouts(t *testing.T) {
	t.Run("server never answers", func(t *testing.T) {
		ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
		defer cancel()
		done := make(chan *Result, 1)
		go func() { done <- Check(ctx, blockingResolver{}, Args{IP: client, MailFrom: "a@example.com"}) }()
		select {
		case res := <-done:
			if res.Code != TempError || dns.KindOf(res.Err) != dns.Timeout {
				t.Errorf("got %s (%v), want temperror from a timeout", res.Code, res.Err)
			}
		case <-time.After(30 * time.Second):
			t.Fatal("Check did not return after its deadline passed")
		}
	})
	t.Run("slow server", func(t *testing.T) {
		m := &dnstest.Mock{
			TXT:   map[string][]string{"example.com": {"v=spf1 include:slow.example.net -all"}},
			Delay: time.Hour,
		}
		ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
		defer cancel()
		res := Check(ctx, m, Args{IP: client, MailFrom: "a@example.com"})
		if res.Code != TempError {
			t.Errorf("got %s (%s), want temperror", res.Code, res.Problem)
		}
	})
	t.Run("expired context", func(t *testing.T) {
		m := &dnstest.Mock{TXT: map[string][]string{"example.com": {"v=spf1 +all"}}}
		ctx, cancel := context.WithCancel(context.Background())
		cancel()
		res := Check(ctx, m, Args{IP: client, MailFrom: "a@example.com"})
		if res.Code != TempError || m.Queries() != 0 {
			t.Errorf("got %s after %d queries, want temperror without a query", res.Code, m.Queries())
		}
	})
	for _, kind := range []dns.Kind{dns.ServFail, dns.Refused, dns.Timeout, dns.Malformed} {
		t.Run("include "+kind.String(), func(t *testing.T) {
			m := &dnstest.Mock{
				TXT:  map[string][]string{"example.com": {"v=spf1 include:bad.example.net ip4:192.0.2.10"}},
				Fail: map[string]dns.Kind{"TXT bad.example.net": kind},
			}
			res := Check(context.Background(), m, Args{IP: client, MailFrom: "a@example.com"})
			if res.Code != TempError || dns.KindOf(res.Err) != kind {
				t.Errorf("got %s (%v), want temperror of kind %s", res.Code, res.Err, kind)
			}
		})
	}
}
