package spf

import (
	"net/netip"
	"testing"
)

// TestMacroRFCExamples runs the examples of RFC 7208 §7.4.
func TestMacroRFCExamples(t *testing.T) {
	env4 := &macroEnv{
		sender: "strong-bad@email.example.com", local: "strong-bad",
		senderDomain: "email.example.com", domain: "email.example.com",
		ip: netip.MustParseAddr("192.0.2.3"), helo: "mx.example.org",
	}
	env6 := *env4
	env6.ip = netip.MustParseAddr("2001:db8::cb01")
	tests := []struct {
		env        *macroEnv
		in, want   string
		explainTxt bool
	}{
		{env4, "%{s}", "strong-bad@email.example.com", false},
		{env4, "%{o}", "email.example.com", false},
		{env4, "%{d}", "email.example.com", false},
		{env4, "%{d4}", "email.example.com", false},
		{env4, "%{d3}", "email.example.com", false},
		{env4, "%{d2}", "example.com", false},
		{env4, "%{d1}", "com", false},
		{env4, "%{dr}", "com.example.email", false},
		{env4, "%{d2r}", "example.email", false},
		{env4, "%{l}", "strong-bad", false},
		{env4, "%{l-}", "strong.bad", false},
		{env4, "%{lr}", "strong-bad", false},
		{env4, "%{lr-}", "bad.strong", false},
		{env4, "%{l1r-}", "strong", false},
		{env4, "%{ir}.%{v}._spf.%{d2}", "3.2.0.192.in-addr._spf.example.com", false},
		{env4, "%{lr-}.lp._spf.%{d2}", "bad.strong.lp._spf.example.com", false},
		{env4, "%{lr-}.lp.%{ir}.%{v}._spf.%{d2}", "bad.strong.lp.3.2.0.192.in-addr._spf.example.com", false},
		{env4, "%{ir}.%{v}.%{l1r-}.lp._spf.%{d2}", "3.2.0.192.in-addr.strong.lp._spf.example.com", false},
		{env4, "%{d2}.trusted-domains.example.net", "example.com.trusted-domains.example.net", false},
		{&env6, "%{ir}.%{v}._spf.%{d2}", "1.0.b.c.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.8.b.d.0.1.0.0.2.ip6._spf.example.com", false},
		// §7.3: upper-case letters are URL-escaped.
		{env4, "%{S}", "strong-bad%40email.example.com", false},
		// §7.1: the escapes.
		{env4, "%%%_%-", "% %20", false},
		{env4, "%{h}", "mx.example.org", false},
		// Digits larger than the number of parts keep all parts.
		{env4, "%{d99999999999}", "email.example.com", false},
		// Several delimiters at once, with reversal.
		{&macroEnv{local: "a+b-c=d"}, "%{lr+-=}", "d.c.b.a", false},
		// Explanation-only letters and a space.
		{env4, "%{c} is not %{r}", "192.0.2.3 is not unknown", true},
		{&env6, "%{c}", "2001:db8::cb01", true},
		{env4, "%{t}", "0", true},
		{env4, "%{p}", "unknown", false},
	}
	for _, tc := range tests {
		ms, err := parseMacroString(tc.in, tc.explainTxt)
		if err != nil {
			t.Errorf("parse %q: %v", tc.in, err)
			continue
		}
		if got := ms.expand(tc.env); got != tc.want {
			t.Errorf("expand %q = %q, want %q", tc.in, got, tc.want)
		}
	}
}

func TestQueryName(t *testing.T) {
	long := ""
	for i := 0; i < 60; i++ {
		long += "abcde."
	}
	long += "example.com"
	got, ok := queryName(long)
	if !ok || len(got) > 253 || got[len(got)-len("example.com"):] != "example.com" {
		t.Errorf("truncation of %d chars: %q (%d), %v", len(long), got, len(got), ok)
	}
	// §7.3: truncation removes whole labels from the left.
	if got != long[len(long)-len(got):] || long[len(long)-len(got)-1] != '.' {
		t.Errorf("truncation did not cut at a label boundary: %q", got)
	}
	for _, bad := range []string{"", ".", "a..b.example", "x." + string(make([]byte, 64)) + ".example"} {
		if _, ok := queryName(bad); ok {
			t.Errorf("queryName(%q) accepted", bad)
		}
	}
	if n, ok := queryName("Example.COM."); !ok || n != "example.com" {
		t.Errorf("queryName(Example.COM.) = %q, %v", n, ok)
	}
}
