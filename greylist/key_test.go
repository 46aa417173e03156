package greylist

import (
	"net/netip"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/hamlet-mail/hamlet/store"
)

func TestNormalizeSender(t *testing.T) {
	tests := []struct{ in, want string }{
		{"", "<>"},
		{"<>", "<>"},
		{"User@Example.ORG", "user@example.org"},
		{"<user@example.org>", "user@example.org"},
		{"user@example.org.", "user@example.org"},
		{"user+tag@example.org", "user@example.org"},
		{"user+tag+more@example.org", "user@example.org"},
		{"+user@example.org", "+user@example.org"}, // nothing before the +: kept
		// BATV (draft-levine-smtp-batv-01)
		{"prvs=0123456789=user@example.org", "user@example.org"},
		{"PRVS=A123456789=User+x@example.org", "user@example.org"},
		{"msprvs1=17abcdefgh=bounces@example.org", "bounces@example.org"},
		{"prvs=onlytag@example.org", "prvs=onlytag@example.org"}, // no loc-core: unchanged
		// SRS
		{"SRS0=HHH=TT=example.org=user@forwarder.example", "user@example.org"},
		{"SRS0+HHH=TT=example.org=user+ext@forwarder.example", "user@example.org"},
		{"srs0-hhh=tt=example.org=us=er@forwarder.example", "us=er@example.org"},
		{"SRS1=HHH=forwarder.example==HHH=TT=example.org=user@second.example", "user@example.org"},
		{"SRS0=HHH=TT=example.org=prvs=0123456789=user@fwd.example", "user@example.org"},
		{"SRS0=broken@forwarder.example", "srs0=broken@forwarder.example"},
		{"SRS1=HHH=forwarder.example=nodouble@second.example", "srs1=hhh=forwarder.example=nodouble@second.example"},
		{"SRS2=x=y=z=w@example.org", "srs2=x=y=z=w@example.org"},
		// odd but possible
		{"postmaster", "postmaster"},
		{"a@b@example.org", "a@b@example.org"},
		{"@example.org", "@example.org"},
	}
	for _, tt := range tests {
		if got := NormalizeSender(tt.in); got != tt.want {
			t.Errorf("NormalizeSender(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}

func TestClientNet(t *testing.T) {
	tests := []struct{ ip, want string }{
		{"192.0.2.77", "192.0.2.0/24"},
		{"::ffff:192.0.2.77", "192.0.2.0/24"},
		{"2001:db8:1:2:3:4:5:6", "2001:db8:1:2::/64"},
	}
	for _, tt := range tests {
		if got := ClientNet(netip.MustParseAddr(tt.ip)).String(); got != tt.want {
			t.Errorf("ClientNet(%s) = %s, want %s", tt.ip, got, tt.want)
		}
	}
}

func TestKey(t *testing.T) {
	ip := netip.MustParseAddr("192.0.2.7")
	if got := Key(Subject(ip, ""), NormalizeSender("A+b@X.org"), NormalizeRcpt("<U+box@Y.net>")); got != "net:192.0.2.0/24|a@x.org|u+box@y.net" {
		t.Errorf("Key = %q", got)
	}
	if got := Subject(ip, "Example.ORG."); got != "spf:example.org" {
		t.Errorf("Subject with SPF = %q", got)
	}
	long := Key("net:192.0.2.0/24", strings.Repeat("a", 2000)+"@x.org", "u@y.net")
	if len(long) > store.MaxKeyLen || !strings.HasPrefix(long, "net:192.0.2.0/24|sha256:") {
		t.Errorf("long key = %q (%d bytes)", long, len(long))
	}
	if long2 := Key("net:192.0.2.0/24", strings.Repeat("a", 2000)+"@x.org", "v@y.net"); long2 == long {
		t.Error("two long keys collide")
	}
}

func TestAllowKey(t *testing.T) {
	tests := []struct{ in, want, err string }{
		{"192.0.2.1", "net:192.0.2.1/32", ""},
		{"::ffff:192.0.2.1", "net:192.0.2.1/32", ""},
		{"192.0.2.77/24", "net:192.0.2.0/24", ""},
		{"10.0.0.0/8", "net:10.0.0.0/8", ""},
		{"2001:db8::1", "net:2001:db8::1/128", ""},
		{"2001:db8:1:2::/64", "net:2001:db8:1:2::/64", ""},
		{"Example.ORG.", "domain:example.org", ""},
		{"domain:example.org", "domain:example.org", ""},
		{"net:192.0.2.0/24", "net:192.0.2.0/24", ""},
		{"192.0.2.0/23", "", "networks are not looked up"},
		{"2001:db8::/40", "", "networks are not looked up"},
		{"localhost", "", "not an IP"},
		{"exa mple.org", "", "not an IP"},
		{"-bad.example", "", "not an IP"},
		{"bad-.example", "", "not an IP"},
		{"xn--abc.example", "", "not an IP"}, // no A-label: decodes to control characters
		{"xn--bcher-kva.example", "domain:xn--bcher-kva.example", ""},
		{"bücher.example", "", "not an IP"}, // the key is the A-label form
		{"_spf.example.org", "domain:_spf.example.org", ""},
		{"", "", "not an IP"},
		// Issue 16 item 7: grants that would trust strangers.
		{"co.uk", "", "public suffix"},
		{"domain:github.io", "", "public suffix"},
		{"com", "", "not an IP"},
		{"0.0.0.0/8", "", "this network"},
		{"0.0.0.1", "", "this network"},
		{"example.co.uk", "domain:example.co.uk", ""},
	}
	for _, tt := range tests {
		got, err := AllowKey(tt.in)
		if tt.err != "" {
			if err == nil || !strings.Contains(err.Error(), tt.err) {
				t.Errorf("AllowKey(%q) = %q, %v; want error %q", tt.in, got, err, tt.err)
			}
			continue
		}
		if err != nil || got != tt.want {
			t.Errorf("AllowKey(%q) = %q, %v; want %q", tt.in, got, err, tt.want)
		}
	}
}

// The keys an admin can create are among those a lookup tries.
func TestAllowCandidatesCoverAllowKey(t *testing.T) {
	r := Request{ClientIP: netip.MustParseAddr("192.0.2.77"), SPFDomain: "a.b.example.org", PTR: "mx.example.net.", AuthDomains: []string{"News.Partner.example"}}
	cands := map[string]bool{}
	for _, k := range allowCandidates(r) {
		cands[k] = true
	}
	for _, target := range []string{"192.0.2.77", "192.0.2.0/24", "192.0.0.0/16", "192.0.0.0/8", "example.org", "b.example.org", "a.b.example.org", "example.net", "mx.example.net", "partner.example", "news.partner.example"} {
		k, err := AllowKey(target)
		if err != nil || !cands[k] {
			t.Errorf("AllowKey(%s) = %q (%v), not among the candidates %v", target, k, err, allowCandidates(r))
		}
	}
	r6 := Request{ClientIP: netip.MustParseAddr("2001:db8:1:2:3::9")}
	cands = map[string]bool{}
	for _, k := range allowCandidates(r6) {
		cands[k] = true
	}
	for _, target := range []string{"2001:db8:1:2:3::9", "2001:db8:1:2::/64", "2001:db8:1::/56", "2001:db8:1::/48", "2001:db8::/32"} {
		if k, _ := AllowKey(target); !cands[k] {
			t.Errorf("AllowKey(%s) = %q not among the IPv6 candidates", target, k)
		}
	}
}

func FuzzNormalizeSender(f *testing.F) {
	for _, s := range []string{"", "<>", "a@b.c", "prvs=1=a@b", "SRS0=h=t=d=l@f", "SRS1=h=f==h=t=d=l@f", "srs0+====@", "+@", "a+@b", "SRS1-x==", "msprvs1=x=y@z"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		n := NormalizeSender(s)
		if n == "" {
			t.Fatalf("NormalizeSender(%q) is empty", s)
		}
		if utf8.ValidString(s) && n != strings.ToLower(n) {
			t.Fatalf("NormalizeSender(%q) = %q is not lower case", s, n)
		}
		// Idempotent for results that do not themselves look like SRS/BATV
		// wrappers or extensions (decoding peels one layer at a time).
		if n2 := NormalizeSender(n); n2 != n && !strings.Contains(n, "srs") && !strings.Contains(n, "prvs=") && !strings.Contains(n, "+") && !strings.Contains(n, "<") && !strings.Contains(n, ">") && strings.TrimSpace(n) == n && !strings.HasSuffix(n, ".") {
			t.Fatalf("not idempotent: %q → %q → %q", s, n, n2)
		}
		if len(n) > len(s)+2 {
			t.Fatalf("NormalizeSender(%q) = %q grew", s, n)
		}
		k := Key("net:192.0.2.0/24", n, "u@example.net")
		if len(k) > store.MaxKeyLen {
			t.Fatalf("key of %d bytes", len(k))
		}
	})
}

func FuzzAllowKey(f *testing.F) {
	for _, s := range []string{"192.0.2.1", "10.0.0.0/8", "::1", "2001:db8::/32", "example.org", "domain:x.y", "net:1.2.3.0/24", "", "a..b", "1.2.3.4/33"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		k, err := AllowKey(s)
		if err != nil {
			return
		}
		if !strings.HasPrefix(k, "net:") && !strings.HasPrefix(k, "domain:") {
			t.Fatalf("AllowKey(%q) = %q", s, k)
		}
		// A key is its own fixed point: admins may pass listed keys back.
		if k2, err := AllowKey(k); err != nil || k2 != k {
			t.Fatalf("AllowKey(%q) = %q, AllowKey(that) = %q, %v", s, k, k2, err)
		}
		if store.CheckKey(k) != nil {
			t.Fatalf("AllowKey(%q) = %q is not a valid store key", s, k)
		}
	})
}
