package spf

import (
	"errors"
	"net/netip"
	"strings"
	"testing"
)

func TestParseValid(t *testing.T) {
	tests := []struct {
		record     string
		directives int
		lookups    int
		check      func(t *testing.T, r *Record)
	}{
		{"v=spf1", 0, 0, nil},
		{"V=SPF1 -ALL", 1, 0, func(t *testing.T, r *Record) {
			d := r.Directives[0]
			if d.Kind != MechAll || d.Qualifier != QualFail || d.Qualifier.Code() != Fail {
				t.Errorf("got %+v", d)
			}
		}},
		{"v=spf1 ip4:192.0.2.0/24 ip6:2001:db8::/32 ~all  ", 3, 0, func(t *testing.T, r *Record) {
			if r.Directives[0].Network != netip.MustParsePrefix("192.0.2.0/24") {
				t.Errorf("ip4 network %v", r.Directives[0].Network)
			}
			if r.Directives[1].Network != netip.MustParsePrefix("2001:db8::/32") {
				t.Errorf("ip6 network %v", r.Directives[1].Network)
			}
			if r.Directives[2].Qualifier != QualSoftFail {
				t.Errorf("qualifier %c", r.Directives[2].Qualifier)
			}
		}},
		{"v=spf1 ip4:192.0.2.1", 1, 0, func(t *testing.T, r *Record) {
			if r.Directives[0].Network.Bits() != 32 {
				t.Errorf("default ip4 length %d", r.Directives[0].Network.Bits())
			}
		}},
		{"v=spf1 a mx ptr exists:%{i}.x.example include:_spf.example.com redirect=_spf.example.net", 5, 6, nil},
		{"v=spf1 a/24//64 mx:example.org//48 a:example.com/0", 3, 3, func(t *testing.T, r *Record) {
			d := r.Directives
			if d[0].CIDR4 != 24 || d[0].CIDR6 != 64 || d[0].Domain != "" {
				t.Errorf("a/24//64: %+v", d[0])
			}
			if d[1].CIDR4 != 32 || d[1].CIDR6 != 48 || d[1].Domain != "example.org" {
				t.Errorf("mx:example.org//48: %+v", d[1])
			}
			if d[2].CIDR4 != 0 || d[2].CIDR6 != 128 || d[2].Domain != "example.com" {
				t.Errorf("a:example.com/0: %+v", d[2])
			}
		}},
		// RFC 7208 §7.1: a domain-spec may contain any visible character
		// but "%"; a trailing "/..." that is not a CIDR stays in it.
		{"v=spf1 a:foo:bar/baz.example.com", 1, 1, func(t *testing.T, r *Record) {
			if r.Directives[0].Domain != "foo:bar/baz.example.com" {
				t.Errorf("domain %q", r.Directives[0].Domain)
			}
		}},
		{"v=spf1 exp=explain.%{d} moo.cow-far_out=man:dog/cat ?all", 1, 0, func(t *testing.T, r *Record) {
			if r.Exp == nil || r.Exp.Value != "explain.%{d}" {
				t.Errorf("exp %+v", r.Exp)
			}
			if len(r.Unknown) != 1 || r.Unknown[0].Name != "moo.cow-far_out" {
				t.Errorf("unknown %+v", r.Unknown)
			}
		}},
		{"v=spf1 a:%{d}", 1, 1, nil},
		{"v=spf1 include:example.com.", 1, 1, nil},
		{"v=spf1 a:e.b-c", 1, 1, nil}, // toplabel with a dash
	}
	for _, tc := range tests {
		t.Run(tc.record, func(t *testing.T) {
			r, err := Parse(tc.record)
			if err != nil {
				t.Fatalf("Parse: %v", err)
			}
			if len(r.Directives) != tc.directives {
				t.Errorf("%d directives, want %d", len(r.Directives), tc.directives)
			}
			if r.Lookups() != tc.lookups {
				t.Errorf("Lookups() = %d, want %d", r.Lookups(), tc.lookups)
			}
			if r.Text != tc.record {
				t.Errorf("Text = %q", r.Text)
			}
			if tc.check != nil {
				tc.check(t, r)
			}
		})
	}
}

func TestParseErrors(t *testing.T) {
	tests := []struct{ record, msg string }{
		{"", "v=spf1"},
		{"v=spf10", "v=spf1"},
		{"spf1 -all", "v=spf1"},
		{"v=spf1 -all moo", "unknown mechanism"},
		{"v=spf1 foo:bar", "unknown mechanism"},
		{"v=spf1 -all:foobar", "unexpected text"},
		{"v=spf1 redirect:example.com", "unknown mechanism"},
		{"v=spf1 moo.cow/far_out=man", "unknown mechanism"},
		{"v=spf1 1up=x", "invalid term"},
		{"v=spf1 a:foo-bar", "top-level label"},
		{"v=spf1 a:example.123", "top-level label"},
		{"v=spf1 a:com", "top-level label"},
		{"v=spf1 include", "needs"},
		{"v=spf1 include:", "empty domain-spec"},
		{"v=spf1 exists", "needs"},
		{"v=spf1 ptr:", "empty domain-spec"},
		{"v=spf1 ip4", "needs"},
		{"v=spf1 ip4:1.2.3.4/33", "exceeds 32"},
		{"v=spf1 ip4:1.2.3.4/032", "invalid CIDR length"},
		{"v=spf1 ip4:1.2.3.4//32", "invalid CIDR length"},
		{"v=spf1 ip4:1.2.3", "invalid ip4"},
		{"v=spf1 ip4:::1", "invalid ip4"},
		{"v=spf1 ip6:1.2.3.4", "invalid ip6"},
		{"v=spf1 ip6:fe80::1%eth0", "invalid ip6"},
		{"v=spf1 ip6:::1/129", "exceeds 128"},
		{"v=spf1 a/33", "exceeds 32"},
		{"v=spf1 a//129", "exceeds 128"},
		{"v=spf1 a/24/64", "invalid"},
		{"v=spf1 mx:example.com/", "top-level label"},
		{"v=spf1 redirect=a.example redirect=b.example", "more than once"},
		{"v=spf1 exp=a.example exp=b.example", "more than once"},
		{"v=spf1 exp=", "empty domain-spec"},
		{"v=spf1 a:%{x}.example.com", "unknown macro letter"},
		{"v=spf1 a:%{d0}.example.com", "nonzero"},
		{"v=spf1 a:%{c}.example.com", "only allowed in explanation"},
		{"v=spf1 a:%{d.example.com", "unterminated"},
		{"v=spf1 a:%a.example.com", "invalid macro"},
		{"v=spf1 a:example.com%", "at end"},
		{"v=spf1 a:%{d2r!}.example.com", "invalid delimiter"},
		{"v=spf1 foo=%{z}", "unknown macro letter"},
		{"v=spf1 ip4:1.2.3.4\x00 -all", "invalid byte 0x00"},
		{"v=spf1 ip4:1.2.3.4\t-all", "invalid byte 0x09"},
		{"v=spf1 -all \xef\xbb\xbf", "invalid byte 0xef"},
		{"v=spf1 " + strings.Repeat("a", MaxRecordLength), "longer than"},
	}
	for _, tc := range tests {
		name := tc.record
		if len(name) > 60 {
			name = name[:60]
		}
		t.Run(name, func(t *testing.T) {
			r, err := Parse(tc.record)
			if err == nil {
				t.Fatalf("Parse succeeded: %+v", r)
			}
			var se *SyntaxError
			if !errors.As(err, &se) {
				t.Fatalf("error %T is not a *SyntaxError", err)
			}
			if !strings.Contains(err.Error(), tc.msg) {
				t.Errorf("error %q does not mention %q", err, tc.msg)
			}
		})
	}
}

func TestIsSPF(t *testing.T) {
	for s, want := range map[string]bool{
		"v=spf1": true, "v=spf1 -all": true, "V=SpF1 a": true,
		"v=spf10": false, "v=spf1\t-all": false, "v=spf": false, "": false,
		" v=spf1": false, "v=spf2.0/pra": false, "v=spf1\x00": false,
	} {
		if got := IsSPF(s); got != want {
			t.Errorf("IsSPF(%q) = %v, want %v", s, got, want)
		}
	}
}
