package spf

import (
	"context"
	"net/netip"
	"slices"
	"testing"

	"github.com/hamlet-mail/hamlet/dns/dnstest"
)

// TestWorstCase: no mechanism matches, so every term before "all" is
// counted (RFC 7208 §4.6.4), includes that pass included; ptr counts
// without a query; void terms are named.
func TestWorstCase(t *testing.T) {
	r := &dnstest.Mock{
		TXT: map[string][]string{
			"ex.example":    {"v=spf1 ip4:192.0.2.0/24 a mx include:pass.example include:fail.example exists:gone.example ptr -all"},
			"pass.example":  {"v=spf1 +all"},
			"fail.example":  {"v=spf1 a:nothing.example -all"},
			"redir.example": {"v=spf1 ip6:2001:db8::/32 redirect=ex.example"},
			"many.example":  {"v=spf1 a a a a a a a a a a a -all"},
		},
		A:  map[string][]string{"ex.example": {"192.0.2.1"}, "many.example": {"192.0.2.1"}},
		MX: nil,
	}
	c := Checker{Resolver: r, MaxLookups: 100, MaxVoidLookups: 100}
	v4, v6 := netip.MustParseAddr("192.0.2.1"), netip.MustParseAddr("2001:db8::1")
	for _, tc := range []struct {
		domain  string
		ip      netip.Addr
		lookups int
		voids   []string
		code    Code
	}{
		// a, mx (void), include, include, a:nothing (void), exists (void), ptr.
		{"ex.example", v4, 7, []string{"mx", "a:nothing.example", "exists:gone.example"}, Fail},
		// The same for IPv6: a has no AAAA, one more void.
		{"ex.example", v6, 7, []string{"a", "mx", "a:nothing.example", "exists:gone.example"}, Fail},
		// redirect counts too.
		{"redir.example", v6, 8, []string{"a", "mx", "a:nothing.example", "exists:gone.example"}, Fail},
		// Past the limit: counted on because the limits were raised.
		{"many.example", v4, 11, nil, Fail},
	} {
		res := c.WorstCase(context.Background(), tc.domain, tc.ip)
		if res.Lookups != tc.lookups || res.VoidLookups != len(tc.voids) || !slices.Equal(res.VoidTerms, tc.voids) || res.Code != tc.code {
			t.Errorf("%s %v: lookups %d voids %d %q code %s (%s), want %d %q %s",
				tc.domain, tc.ip, res.Lookups, res.VoidLookups, res.VoidTerms, res.Code, res.Problem, tc.lookups, tc.voids, tc.code)
		}
	}
	// With the RFC's limits, many.example is a permerror, as receivers see it.
	if res := (&Checker{Resolver: r}).WorstCase(context.Background(), "many.example", v4); res.Code != PermError || res.Lookups != 11 {
		t.Errorf("default limits: %s after %d lookups (%s)", res.Code, res.Lookups, res.Problem)
	}
	// A real check of an address the record lists stops at its ip4 term.
	if res := c.Check(context.Background(), Args{IP: v4, MailFrom: "a@ex.example"}); res.Code != Pass || res.Lookups != 0 {
		t.Errorf("Check: %s after %d lookups", res.Code, res.Lookups)
	}
}
