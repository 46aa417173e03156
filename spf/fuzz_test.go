package spf

import (
	"context"
	"errors"
	"net/netip"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/hamlet-mail/hamlet/dns"
)

var parseSeeds = []string{
	"v=spf1",
	"v=spf1 -all",
	"v=spf1 ip4:192.0.2.0/24 ip6:2001:db8::/32 a mx ptr ~all",
	"v=spf1 a:%{d}/24//64 mx:example.org//48 exists:%{ir}.%{l1r-}.lp._spf.%{d2} -all",
	"v=spf1 include:_spf.example.com redirect=_spf.example.net exp=explain.%{d}",
	"v=spf1 moo.cow-far_out=man:dog/cat ?all",
	"v=spf1 a:foo:bar/baz.example.com",
	"v=spf1 ip4:1.2.3.4/032",
	"v=spf1 a//0 -all",
	"v=spf1 exp=%{d99999999999r-+,/_=}.x",
	"v=spf1 a:%{S}%%%_%-.example.com",
	"v=spf1 ip4:1.2.3.4\x00 -all",
	"V=SPF1 +ALL",
	"v=spf1 redirect=a redirect=b",
}

// FuzzParse checks that Parse never panics, and that what it accepts is
// consistent.
func FuzzParse(f *testing.F) {
	for _, s := range parseSeeds {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		r, err := Parse(s)
		if err != nil {
			var se *SyntaxError
			if !errors.As(err, &se) {
				t.Fatalf("error %T is not a *SyntaxError", err)
			}
			if r != nil {
				t.Fatal("record returned with an error")
			}
			return
		}
		if !IsSPF(s) {
			t.Fatalf("accepted a record without version: %q", s)
		}
		terms := len(strings.Fields(s)) - 1
		if n := len(r.Directives) + len(r.Unknown); n > terms {
			t.Fatalf("%d directives and modifiers from %d terms", n, terms)
		}
		if r.Lookups() > terms {
			t.Fatalf("Lookups %d > %d terms", r.Lookups(), terms)
		}
		for _, d := range r.Directives {
			if d.Text == "" || !strings.Contains(s, d.Text) {
				t.Fatalf("directive text %q not in record", d.Text)
			}
			if d.CIDR4 < 0 || d.CIDR4 > 32 || d.CIDR6 < 0 || d.CIDR6 > 128 {
				t.Fatalf("CIDR lengths %d/%d", d.CIDR4, d.CIDR6)
			}
			if (d.Kind == MechIP4 || d.Kind == MechIP6) && !d.Network.IsValid() {
				t.Fatalf("%s without network", d.Text)
			}
		}
		// Trailing spaces are allowed (RFC 7208 §12: *SP at the end).
		if _, err := Parse(s + "  "); err != nil && len(s)+2 <= MaxRecordLength {
			t.Fatalf("trailing spaces rejected: %v", err)
		}
	})
}

// FuzzMacro checks that macro parsing and expansion never panic, and that
// a macro-free string expands to itself.
func FuzzMacro(f *testing.F) {
	for _, s := range []string{
		"%{s}", "%{ir}.%{v}._spf.%{d2}", "%{lr-}.lp._spf.%{d2}", "%{L1R-+}", "%%%_%-",
		"%{d0}", "%{x}", "%{c} %{r} %{t}", "%{p}.x", "plain.example.com", "%{d2147483648}", "%{", "%",
		"%{i-.+,/_=}",
	} {
		f.Add(s, false)
		f.Add(s, true)
	}
	envs := []*macroEnv{
		{sender: "a-b+c=d@x.example.com", local: "a-b+c=d", senderDomain: "x.example.com",
			domain: "x.example.com", ip: netip.MustParseAddr("192.0.2.3"), helo: "h.example"},
		{sender: "@", local: "", senderDomain: "", domain: "", ip: netip.MustParseAddr("2001:db8::1")},
	}
	f.Fuzz(func(t *testing.T, s string, explain bool) {
		ms, err := parseMacroString(s, explain)
		if _, derr := parseDomainSpec(s); derr == nil && err != nil && !explain {
			t.Fatalf("domain-spec accepted what macro-string rejects: %v", err)
		}
		if err != nil {
			return
		}
		literal := !strings.Contains(s, "%")
		for _, env := range envs {
			got := ms.expand(env)
			if literal && got != s {
				t.Fatalf("literal %q expanded to %q", s, got)
			}
		}
		if n, ok := queryName(ms.expand(envs[0])); ok && len(n) > 253 {
			t.Fatalf("queryName gave %d characters", len(n))
		}
	})
}

// FuzzCheck evaluates a fuzzed record, with includes of more fuzzed
// records, and checks that the result is defined and within the limits.
func FuzzCheck(f *testing.F) {
	for _, s := range parseSeeds {
		f.Add(s, "v=spf1 include:example.com")
	}
	f.Add("v=spf1 include:b.example.net -all", "v=spf1 ptr mx a exists:%{p}.x.example.net include:b.example.net")
	f.Add("v=spf1 a:b.example.net mx:b.example.net ?all exp=b.example.net", "%{c} %{r} %{t} %{p}")
	valid := []Code{None, Neutral, Pass, Fail, SoftFail, TempError, PermError}
	f.Fuzz(func(t *testing.T, rec, other string) {
		z := newZone()
		z.add("example.com", zoneRR{typ: "TXT", txt: rec})
		z.add("b.example.net", zoneRR{typ: "TXT", txt: other})
		z.add("b.example.net", zoneRR{typ: "A", ip: netip.MustParseAddr("192.0.2.1")})
		z.add("b.example.net", zoneRR{typ: "MX", mx: dns.MX{Host: "b.example.net", Pref: 10}})
		z.add("1.2.0.192.in-addr.arpa", zoneRR{typ: "PTR", txt: "b.example.net"})
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		res := Check(ctx, z, Args{IP: netip.MustParseAddr("192.0.2.1"), MailFrom: "x@example.com", Helo: "h.example"})
		if !slices.Contains(valid, res.Code) {
			t.Fatalf("invalid code %q", res.Code)
		}
		if res.Lookups > DefaultMaxLookups+1 || res.VoidLookups > DefaultMaxVoidLookups+1 {
			t.Fatalf("limits overrun: %d lookups, %d void", res.Lookups, res.VoidLookups)
		}
		if _, err := Parse(rec); err != nil && IsSPF(rec) && res.Code != PermError {
			t.Fatalf("invalid record gave %s", res.Code)
		}
		if res.Code != Fail && res.Explanation != "" {
			t.Fatalf("explanation on %s", res.Code)
		}
		_ = res.Header()
	})
}
