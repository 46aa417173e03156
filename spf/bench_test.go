package spf

import (
	"context"
	"net/netip"
	"testing"

	"github.com/hamlet-mail/hamlet/dns"
	"github.com/hamlet-mail/hamlet/dns/dnstest"
)

// mapResolver answers from ready maps keyed by normalized name, as a
// cache that already holds every answer would: the benchmark then
// measures the evaluation, not the test double.
type mapResolver struct {
	txt  map[string][]string
	a    map[string][]netip.Addr
	aaaa map[string][]netip.Addr
	mx   map[string][]dns.MX
}

func (m *mapResolver) LookupTXT(_ context.Context, n string) ([]string, error) {
	if v, ok := m.txt[n]; ok {
		return v, nil
	}
	return nil, &dns.Error{Kind: dns.NXDomain, Name: n, Type: "TXT"}
}

func addrLookup(mp map[string][]netip.Addr, typ, n string) ([]netip.Addr, error) {
	if v, ok := mp[n]; ok {
		return v, nil
	}
	return nil, &dns.Error{Kind: dns.NXDomain, Name: n, Type: typ}
}

func (m *mapResolver) LookupA(_ context.Context, n string) ([]netip.Addr, error) {
	return addrLookup(m.a, "A", n)
}

func (m *mapResolver) LookupAAAA(_ context.Context, n string) ([]netip.Addr, error) {
	return addrLookup(m.aaaa, "AAAA", n)
}

func (m *mapResolver) LookupMX(_ context.Context, n string) ([]dns.MX, error) {
	if v, ok := m.mx[n]; ok {
		return v, nil
	}
	return nil, &dns.Error{Kind: dns.NXDomain, Name: n, Type: "MX"}
}

func (m *mapResolver) LookupPTR(_ context.Context, ip netip.Addr) ([]string, error) {
	return nil, &dns.Error{Kind: dns.NXDomain, Name: dns.ReverseName(ip), Type: "PTR"}
}

// threeIncludes is a typical hosted-mail record: three includes, the
// client matching in the last one.
var threeIncludes = map[string][]string{
	"example.com":    {"google-site-verification=abcdef", "v=spf1 mx include:_spf.a.example include:_spf.b.example include:_spf.c.example -all"},
	"_spf.a.example": {"v=spf1 ip4:198.51.100.0/24 ip4:203.0.113.0/25 ip6:2001:db8:a::/48 ~all"},
	"_spf.b.example": {"v=spf1 ip4:198.18.0.0/15 ip6:2001:db8:b::/48 ~all"},
	"_spf.c.example": {"v=spf1 a:relay.c.example ip4:192.0.2.0/24 ~all"},
}

func BenchmarkCheckThreeIncludes(b *testing.B) {
	r := &mapResolver{
		txt:  threeIncludes,
		a:    map[string][]netip.Addr{"mx.example.com": {netip.MustParseAddr("198.51.100.200")}, "relay.c.example": {netip.MustParseAddr("203.0.113.200")}},
		aaaa: map[string][]netip.Addr{},
		mx:   map[string][]dns.MX{"example.com": {{Host: "mx.example.com", Pref: 10}}},
	}
	args := Args{IP: netip.MustParseAddr("192.0.2.55"), MailFrom: "user@example.com", Helo: "mail.example.com"}
	ctx := context.Background()
	if res := Check(ctx, r, args); res.Code != Pass || res.Lookups != 5 {
		b.Fatalf("setup: %s with %d lookups (%s)", res.Code, res.Lookups, res.Problem)
	}
	b.ReportAllocs()
	for b.Loop() {
		Check(ctx, r, args)
	}
}

// BenchmarkCheckThreeIncludesMock is the same through dnstest.Mock, whose
// linear map scans and copies add their own cost.
func BenchmarkCheckThreeIncludesMock(b *testing.B) {
	m := &dnstest.Mock{
		TXT: threeIncludes,
		A:   map[string][]string{"mx.example.com": {"198.51.100.200"}, "relay.c.example": {"203.0.113.200"}},
		MX:  map[string][]dns.MX{"example.com": {{Host: "mx.example.com", Pref: 10}}},
	}
	args := Args{IP: netip.MustParseAddr("192.0.2.55"), MailFrom: "user@example.com", Helo: "mail.example.com"}
	ctx := context.Background()
	if res := Check(ctx, m, args); res.Code != Pass {
		b.Fatalf("setup: %s (%s)", res.Code, res.Problem)
	}
	b.ReportAllocs()
	for b.Loop() {
		Check(ctx, m, args)
	}
}

func BenchmarkParse(b *testing.B) {
	rec := "v=spf1 a mx ip4:198.51.100.0/24 ip6:2001:db8::/32 include:_spf.example.com exists:%{ir}.%{l1r-}.lp._spf.%{d2} ~all"
	b.ReportAllocs()
	for b.Loop() {
		if _, err := Parse(rec); err != nil {
			b.Fatal(err)
		}
	}
}
