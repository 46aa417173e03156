package spf

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/hamlet-mail/hamlet/dns"
	"github.com/hamlet-mail/hamlet/dns/dnstest"
)

var update = flag.Bool("update", false, "rewrite golden files")

func TestEvaluate(t *testing.T) {
	var mx11, ptr11 []string
	mxRecs := []dns.MX{}
	a := map[string][]string{"mail.example.com": {"192.0.2.10"}}
	for i := 0; i < 11; i++ {
		h := fmt.Sprintf("mx%d.example.com", i)
		mxRecs = append(mxRecs, dns.MX{Host: h, Pref: uint16(i)})
		mx11 = append(mx11, h)
		p := fmt.Sprintf("p%d.example.org", i)
		ptr11 = append(ptr11, p)
		a[p] = []string{"198.51.100.99"}
	}
	// Only the 11th PTR name validates: RFC 7208 §4.6.4 ignores it.
	a["p10.example.org"] = []string{"192.0.2.10"}
	a["mx10.example.com"] = []string{"192.0.2.10"}
	a["good.example.org"] = []string{"192.0.2.10"}
	a["10.2.0.192.foo._spf.exists.example"] = []string{"127.0.0.2"}
	_ = mx11

	base := &dnstest.Mock{
		TXT: map[string][]string{
			"pass.example":      {"v=spf1 ip4:192.0.2.0/24 -all"},
			"fail.example":      {"v=spf1 ip4:198.51.100.1 -all exp=exp.%{d}"},
			"exp.fail.example":  {"%{l} at %{o} may not send from %{i}; see %{r}"},
			"soft.example":      {"v=spf1 ~all"},
			"neutral.example":   {"v=spf1 ?all"},
			"default.example":   {"v=spf1 ip4:198.51.100.1"},
			"redir.example":     {"v=spf1 redirect=fail.example exp=never.example"},
			"incfail.example":   {"v=spf1 include:fail.example ~all"},
			"mx.example":        {"v=spf1 mx -all"},
			"mx11.example":      {"v=spf1 mx -all"},
			"ptr.example":       {"v=spf1 ptr:example.org -all"},
			"pmacro.example":    {"v=spf1 -all exp=pexp.example"},
			"pexp.example":      {"connect from %{p}"},
			"badexp.example":    {"v=spf1 -all exp=badexptxt.example"},
			"badexptxt.example": {"bad %{x} macro"},
			"twoexp.example":    {"v=spf1 -all exp=twoexptxt.example"},
			"twoexptxt.example": {"one", "two"},
			"mail.example.com":  {"v=spf1 a -all"},
			"exists.example":    {"v=spf1 exists:%{ir}.%{l}._spf.%{d} -all"},
			"a6.example":        {"v=spf1 a/24//64 -all"},
			"tempa.example":     {"v=spf1 a:broken.example ip4:192.0.2.10"},
		},
		A: a,
		AAAA: map[string][]string{
			"a6.example": {"2001:db8::1"},
		},
		MX: map[string][]dns.MX{
			"mx.example":   {{Host: "null.example", Pref: 0}, {Host: "mail.example.com", Pref: 10}},
			"mx11.example": mxRecs,
		},
		PTR: map[string][]string{
			"192.0.2.10":  append(ptr11[:10:10], "good.example.org"),
			"2001:db8::5": {"good.example.org"},
		},
		Fail: map[string]dns.Kind{"broken.example": dns.ServFail},
	}
	_ = ptr11
	tests := []struct {
		name      string
		args      Args
		code      Code
		mech      string
		exp       string
		identity  Identity
		domain    string
		lookups   int
		wantError error
	}{
		{name: "pass", args: Args{MailFrom: "foo@pass.example"}, code: Pass, mech: "ip4:192.0.2.0/24", domain: "pass.example"},
		{name: "fail with exp", args: Args{MailFrom: "foo@fail.example", Receiver: "mx.example.net"}, code: Fail, mech: "-all",
			exp: "foo at fail.example may not send from 192.0.2.10; see mx.example.net"},
		{name: "softfail", args: Args{MailFrom: "foo@soft.example"}, code: SoftFail, mech: "~all"},
		{name: "neutral", args: Args{MailFrom: "foo@neutral.example"}, code: Neutral, mech: "?all"},
		{name: "default neutral", args: Args{MailFrom: "foo@default.example"}, code: Neutral, mech: "default"},
		// §6.2: after redirect, the target's exp= is used, not ours.
		{name: "redirect uses target exp", args: Args{MailFrom: "bar@redir.example"}, code: Fail, mech: "-all", lookups: 1,
			exp: "bar at redir.example may not send from 192.0.2.10; see unknown"},
		{name: "include fail is no match", args: Args{MailFrom: "foo@incfail.example"}, code: SoftFail, mech: "~all", lookups: 1},
		{name: "no record", args: Args{MailFrom: "foo@nothing.example"}, code: None},
		{name: "null sender uses HELO", args: Args{Helo: "mail.example.com"}, code: Pass, mech: "a",
			identity: IdentityHelo, domain: "mail.example.com", lookups: 1},
		{name: "angle brackets", args: Args{MailFrom: "<foo@pass.example>"}, code: Pass, domain: "pass.example"},
		{name: "null reverse-path in brackets", args: Args{MailFrom: "<>", Helo: "mail.example.com"}, code: Pass, identity: IdentityHelo},
		{name: "sender without local-part", args: Args{MailFrom: "@exists.example"}, code: Fail, mech: "-all"},
		{name: "exists with macros", args: Args{MailFrom: "foo@exists.example"}, code: Pass, mech: "exists:%{ir}.%{l}._spf.%{d}", lookups: 1},
		{name: "mx skips null MX host", args: Args{MailFrom: "foo@mx.example"}, code: Pass, mech: "mx"},
		{name: "mx over 10 names", args: Args{MailFrom: "foo@mx11.example"}, code: PermError, wantError: ErrTooManyMX},
		{name: "ptr checks 10 names", args: Args{MailFrom: "foo@ptr.example"}, code: Fail, mech: "-all"},
		{name: "ptr ip6", args: Args{MailFrom: "foo@ptr.example", IP: netip.MustParseAddr("2001:db8::5")}, code: Fail},
		{name: "p macro", args: Args{MailFrom: "foo@pmacro.example"}, code: Fail, exp: "connect from unknown"},
		{name: "exp with bad macro gives default", args: Args{MailFrom: "foo@badexp.example"}, code: Fail,
			exp: "badexp.example does not designate 192.0.2.10 as permitted sender"},
		{name: "exp with two records gives default", args: Args{MailFrom: "foo@twoexp.example"}, code: Fail,
			exp: "twoexp.example does not designate 192.0.2.10 as permitted sender"},
		{name: "dual cidr v6", args: Args{MailFrom: "x@a6.example", IP: netip.MustParseAddr("2001:db8::ffff")}, code: Pass},
		{name: "dual cidr v4", args: Args{MailFrom: "x@a6.example", IP: netip.MustParseAddr("192.0.2.77")}, code: Fail},
		{name: "a temperror", args: Args{MailFrom: "x@tempa.example"}, code: TempError},
		{name: "IPv4-mapped client", args: Args{MailFrom: "foo@pass.example", IP: netip.MustParseAddr("::ffff:192.0.2.1")}, code: Pass},
		{name: "no client IP", args: Args{MailFrom: "foo@pass.example", IP: netip.Addr{}}, code: None},
		{name: "bare host name", args: Args{MailFrom: "foo@localhost"}, code: None},
		{name: "domain literal", args: Args{MailFrom: "foo@[192.0.2.10]"}, code: None},
		{name: "HELO literal", args: Args{Helo: "[192.0.2.10]"}, code: None, identity: IdentityHelo},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			args := tc.args
			if !args.IP.IsValid() && tc.name != "no client IP" {
				args.IP = netip.MustParseAddr("192.0.2.10")
			}
			res := Check(context.Background(), base, args)
			if res.Code != tc.code {
				t.Fatalf("code %s, want %s (problem %q)", res.Code, tc.code, res.Problem)
			}
			if tc.mech != "" && res.Mechanism != tc.mech {
				t.Errorf("mechanism %q, want %q", res.Mechanism, tc.mech)
			}
			if tc.exp != "" && res.Explanation != tc.exp {
				t.Errorf("explanation %q, want %q", res.Explanation, tc.exp)
			}
			if res.Code != Fail && res.Explanation != "" {
				t.Errorf("explanation %q on a %s", res.Explanation, res.Code)
			}
			wantID := tc.identity
			if wantID == "" {
				wantID = IdentityMailFrom
			}
			if res.Identity != wantID {
				t.Errorf("identity %s, want %s", res.Identity, wantID)
			}
			if tc.domain != "" && res.Domain != tc.domain {
				t.Errorf("domain %q, want %q", res.Domain, tc.domain)
			}
			if tc.lookups > 0 && res.Lookups != tc.lookups {
				t.Errorf("lookups %d, want %d", res.Lookups, tc.lookups)
			}
			if tc.wantError != nil && !errors.Is(res.Err, tc.wantError) {
				t.Errorf("error %v, want %v", res.Err, tc.wantError)
			}
			if (res.Code == PermError || res.Code == TempError || res.Code == None) && res.Problem == "" {
				t.Errorf("%s without a problem", res.Code)
			}
		})
	}
}

func TestCheckHelo(t *testing.T) {
	m := &dnstest.Mock{
		TXT: map[string][]string{"mail.example.com": {"v=spf1 -all"}, "example.com": {"v=spf1 +all"}},
	}
	ip := netip.MustParseAddr("192.0.2.1")
	c := Checker{Resolver: m}
	args := Args{IP: ip, MailFrom: "a@example.com", Helo: "mail.example.com"}
	if r := c.CheckHelo(context.Background(), args); r.Code != Fail || r.Identity != IdentityHelo || r.Sender != "postmaster@mail.example.com" {
		t.Errorf("CheckHelo: %s %s %s", r.Code, r.Identity, r.Sender)
	}
	if r := c.Check(context.Background(), args); r.Code != Pass || r.Identity != IdentityMailFrom {
		t.Errorf("Check: %s %s", r.Code, r.Identity)
	}
}

func TestCheckerOptions(t *testing.T) {
	m := &dnstest.Mock{
		TXT: map[string][]string{
			"example.com":    {"v=spf1 a:a1.example.com a:a2.example.com a:a3.example.com -all exp=e.example.com"},
			"e.example.com":  {"at %{t} from %{c}"},
			"a1.example.com": {"x"}, "a2.example.com": {"x"}, "a3.example.com": {"x"},
		},
	}
	ip := netip.MustParseAddr("2001:db8::1")
	args := Args{IP: ip, MailFrom: "a@example.com"}
	// Default limits: the third void lookup is permerror.
	if r := Check(context.Background(), m, args); r.Code != PermError || r.VoidLookups != 3 {
		t.Errorf("default: %s with %d void lookups", r.Code, r.VoidLookups)
	}
	c := Checker{Resolver: m, MaxVoidLookups: 5, Now: func() time.Time { return time.Unix(1700000000, 0) }}
	r := c.Check(context.Background(), args)
	if r.Code != Fail || r.VoidLookups != 3 || r.Explanation != "at 1700000000 from 2001:db8::1" {
		t.Errorf("raised void limit: %s, %d void, %q", r.Code, r.VoidLookups, r.Explanation)
	}
	c = Checker{Resolver: m, MaxLookups: 2}
	if r := c.Check(context.Background(), args); r.Code != PermError || !errors.Is(r.Err, ErrTooManyLookups) {
		t.Errorf("MaxLookups 2: %s %v", r.Code, r.Err)
	}
	m.TXT["example.com"] = []string{"v=spf1 -all"}
	c = Checker{Resolver: m, DefaultExplanation: "See https://example.com/spf?s=%{S}"}
	if r := c.Check(context.Background(), args); r.Explanation != "See https://example.com/spf?s=a%40example.com" {
		t.Errorf("default explanation %q", r.Explanation)
	}
}

// TestReceivedSPFGolden renders Received-SPF headers (RFC 7208 §9.1) for
// each result and compares them with testdata/received-spf.golden.
func TestReceivedSPFGolden(t *testing.T) {
	m := &dnstest.Mock{
		TXT: map[string][]string{
			"pass.example": {"v=spf1 ip4:192.0.2.0/24 -all"},
			"fail.example": {"v=spf1 -all"},
			"soft.example": {"v=spf1 ~all"},
			"neut.example": {"v=spf1 ?all"},
			"perm.example": {"v=spf1 ip4:1.2.3.4/99"},
			"temp.example": {"v=spf1 include:broken.example"},
		},
		Fail: map[string]dns.Kind{"broken.example": dns.ServFail},
	}
	var b strings.Builder
	for _, from := range []string{"a@pass.example", "a@fail.example", "a@soft.example", "a@neut.example",
		"a@none.example", "a@perm.example", "a@temp.example", `"odd local"@pass.example`} {
		for _, ip := range []string{"192.0.2.7", "2001:db8::7"} {
			r := Check(context.Background(), m, Args{
				IP: netip.MustParseAddr(ip), MailFrom: from, Helo: "mail.example.org", Receiver: "mx.example.net"})
			h := r.Header()
			if strings.ContainsAny(h, "\r\n") {
				t.Errorf("header contains a line break: %q", h)
			}
			b.WriteString(h + "\n")
		}
	}
	r := Check(context.Background(), m, Args{IP: netip.MustParseAddr("192.0.2.7"), Helo: "pass.example"})
	b.WriteString(r.Header() + "\n")
	golden := filepath.Join("testdata", "received-spf.golden")
	if *update {
		if err := os.WriteFile(golden, []byte(b.String()), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(golden)
	if err != nil {
		t.Fatalf("%v (run with -update to create)", err)
	}
	if b.String() != string(want) {
		t.Errorf("headers differ from %s:\n%s", golden, b.String())
	}
}
