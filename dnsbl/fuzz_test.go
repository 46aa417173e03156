package dnsbl

import (
	"context"
	"net/netip"
	"strings"
	"testing"

	"github.com/hamlet-mail/hamlet/dns"
)

// FuzzDecode feeds arbitrary answer specifications and answers (raw A/AAAA
// bytes, 4 or 16 per address) to the answer parser and decoder: no panic,
// every hit names a configured symbol, and an unusable answer gives no
// hit.
func FuzzDecode(f *testing.F) {
	f.Add("127.0.0.2", "127.0.0.4-127.0.0.7", []byte{127, 0, 0, 2, 127, 0, 0, 5})
	f.Add("127.0.*.3", "127.0.1.0/24", []byte{127, 0, 9, 3})
	f.Add("127.0.0.2", "", []byte{127, 255, 255, 254})
	f.Add("", "x", []byte{198, 51, 100, 1})
	f.Add("2001:db8::/32", "127.0.0.0/8", []byte{0x20, 1, 0xd, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1})
	f.Add("*.*.*.*", "127.0.0.1-127.0.0.0", []byte{})
	f.Fuzz(func(t *testing.T, spec1, spec2 string, raw []byte) {
		for _, s := range []string{spec1, spec2} {
			if m, err := ParseAnswer(s); err == nil {
				// A parsed matcher must match its own low bound.
				if m.wild == [4]bool{} && !m.Match(m.lo) {
					t.Fatalf("%q does not match its own start %s", s, m.lo)
				}
			}
		}
		cfg := ListConfig{Name: "fuzz", Zone: "bl.example", Symbol: "RBL_FUZZ"}
		for i, s := range []string{spec1, spec2} {
			if _, err := ParseAnswer(s); err == nil {
				cfg.Codes = append(cfg.Codes, Code{Answer: s, Symbol: []string{"RBL_A", "RBL_B"}[i]})
			}
		}
		var answers []netip.Addr
		for len(raw) >= 4 {
			n := 4
			if len(raw) >= 16 && raw[0]&1 == 1 {
				n = 16
			}
			a, _ := netip.AddrFromSlice(raw[:n])
			answers = append(answers, a)
			raw = raw[n:]
		}
		hits, bad, err := DecodeAnswers(cfg, answers)
		if err != nil {
			t.Fatalf("valid config rejected: %v", err)
		}
		if bad != "" && len(hits) != 0 {
			t.Fatalf("hits %v with unusable answer %s", hits, bad)
		}
		seen := map[string]bool{}
		for _, h := range hits {
			switch h.Symbol {
			case "RBL_A", "RBL_B", "RBL_FUZZ":
			default:
				t.Fatalf("unknown symbol %s", h.Symbol)
			}
			if seen[h.Symbol] {
				t.Fatalf("symbol %s twice", h.Symbol)
			}
			seen[h.Symbol] = true
			if h.Answer.As4()[0] != 127 {
				t.Fatalf("hit from answer %s", h.Answer)
			}
		}
	})
}

// FuzzLookupDomain: any domain string is either skipped or turned into a
// query name of at most 253 octets under the list's zone.
func FuzzLookupDomain(f *testing.F) {
	for _, s := range []string{"example.com", "Spam.Example.", "[192.0.2.1]", "192.0.2.1", "a..b", "", ".", "x y.example", "\x00.example", "ex\\ample.com"} {
		f.Add(s)
	}
	l, err := NewList(ListConfig{Name: "fuzz", Zone: "dbl.example", Kind: KindDomain, SkipHealthCheck: true}, nilResolver{}, Options{})
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, d string) {
		res := l.LookupDomain(context.Background(), d)
		if res.Status == Skipped {
			return
		}
		if len(res.Query) > 253 || !strings.HasSuffix(res.Query, ".dbl.example") || strings.Contains(res.Query, "..") {
			t.Fatalf("query %q for %q", res.Query, d)
		}
	})
}

// nilResolver answers NXDOMAIN to everything.
type nilResolver struct{}

func (nilResolver) LookupTXT(_ context.Context, n string) ([]string, error) {
	return nil, &dns.Error{Kind: dns.NXDomain, Name: n}
}
func (nilResolver) LookupA(_ context.Context, n string) ([]netip.Addr, error) {
	return nil, &dns.Error{Kind: dns.NXDomain, Name: n}
}
func (nilResolver) LookupAAAA(_ context.Context, n string) ([]netip.Addr, error) {
	return nil, &dns.Error{Kind: dns.NXDomain, Name: n}
}
func (nilResolver) LookupMX(_ context.Context, n string) ([]dns.MX, error) {
	return nil, &dns.Error{Kind: dns.NXDomain, Name: n}
}
func (nilResolver) LookupPTR(_ context.Context, ip netip.Addr) ([]string, error) {
	return nil, &dns.Error{Kind: dns.NXDomain, Name: ip.String()}
}
