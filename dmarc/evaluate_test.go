package dmarc

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/hamlet-mail/hamlet/dns"
	"github.com/hamlet-mail/hamlet/dns/dnstest"
)

func spfPass(d string) SPFInput   { return SPFInput{Domain: d, Result: "pass"} }
func dkimPass(d string) DKIMInput { return DKIMInput{Domain: d, Selector: "s1", Result: "pass"} }

func TestOrganizationalDomain(t *testing.T) {
	tests := []struct{ in, want string }{
		{"example.com", "example.com"},
		{"a.b.c.example.com", "example.com"},
		{"www.example.co.uk", "example.co.uk"},
		{"example.co.uk", "example.co.uk"},
		{"co.uk", "co.uk"},
		{"com", "com"},
		{"Mail.Example.COM.", "example.com"},
		{"sub.example.xn--p1ai", "example.xn--p1ai"},
		// private section included: each user of a private suffix is its
		// own organization.
		{"alice.github.io", "alice.github.io"},
		{"www.alice.github.io", "alice.github.io"},
		{"github.io", "github.io"},
		{"x.y.blogspot.com", "y.blogspot.com"},
		// unknown TLD: the default rule "*"
		{"a.b.unknowntld", "b.unknowntld"},
	}
	for _, tt := range tests {
		if got := OrganizationalDomain(tt.in); got != tt.want {
			t.Errorf("OrganizationalDomain(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}

// RFC 7489 Appendix B.1: identifier alignment examples.
func TestAlignedAppendixB1(t *testing.T) {
	tests := []struct {
		id, from        string
		relaxed, strict bool
	}{
		// B.1.1 SPF
		{"example.com", "example.com", true, true},
		{"child.example.com", "example.com", true, false},
		{"example.org", "example.com", false, false},
		// B.1.2 DKIM
		{"child.example.com", "example.com", true, false},
		{"example.net", "example.com", false, false},
		// B.1.3 Subdomain
		{"example.com", "child.example.com", true, false},
		// private suffix owners are separate organizations
		{"bob.github.io", "alice.github.io", false, false},
		{"www.alice.github.io", "alice.github.io", true, false},
		// a public suffix never aligns with its children in relaxed mode
		{"co.uk", "example.co.uk", false, false},
		{"", "example.com", false, false},
	}
	for _, tt := range tests {
		if got := Aligned(tt.id, tt.from, Relaxed); got != tt.relaxed {
			t.Errorf("Aligned(%q, %q, relaxed) = %v, want %v", tt.id, tt.from, got, tt.relaxed)
		}
		if got := Aligned(tt.id, tt.from, Strict); got != tt.strict {
			t.Errorf("Aligned(%q, %q, strict) = %v, want %v", tt.id, tt.from, got, tt.strict)
		}
	}
}

func fixedRand(v int) *Evaluator {
	return &Evaluator{Rand: func(n int) int { return v % n }}
}

func TestEvaluate(t *testing.T) {
	mock := &dnstest.Mock{
		TXT: map[string][]string{
			// RFC 7489 Appendix B.2.1 / B.3.1
			"_dmarc.example.com": {"v=DMARC1; p=reject; aspf=r; rua=mailto:dmarc-feedback@example.com"},
			// B.2.3: pct sampling
			"_dmarc.pct.example":    {"v=DMARC1; p=quarantine; rua=mailto:dmarc-feedback@pct.example; pct=25"},
			"_dmarc.pct0.example":   {"v=DMARC1; p=reject; pct=0"},
			"_dmarc.test.example":   {"v=DMARC1; p=reject; t=y"},
			"_dmarc.strict.example": {"v=DMARC1; p=reject; adkim=s; aspf=s"},
			"_dmarc.sp.example":     {"v=DMARC1; p=reject; sp=none"},
			"_dmarc.np.example":     {"v=DMARC1; p=quarantine; sp=none; np=reject"},
			"_dmarc.nonp.example":   {"v=DMARC1; p=quarantine"},
			// a subdomain with its own record: p applies there, not sp
			"_dmarc.own.sp.example": {"v=DMARC1; p=quarantine"},
			"_dmarc.multi.example":  {"v=DMARC1; p=reject", "v=DMARC1; p=none"},
			// multiple at the subdomain: fall back to the org domain
			"_dmarc.twice.org.example":     {"v=DMARC1; p=none", "v=DMARC1; p=none"},
			"_dmarc.org.example":           {"v=DMARC1; p=reject"},
			"_dmarc.mixed.example":         {"v=spf1 -all", "some text", "v=DMARC1; p=quarantine"},
			"_dmarc.badp-rua.example":      {"v=DMARC1; p=block; rua=mailto:r@badp-rua.example"},
			"_dmarc.badp.example":          {"v=DMARC1; p=block"},
			"_dmarc.badsp.example":         {"v=DMARC1; p=reject; sp=drop"},
			"_dmarc.upper.example":         {"V=DMARC1; P=Reject; ADKIM=S"},
			"_dmarc.space.example":         {"v=DMARC1 ;  p = quarantine ; "},
			"_dmarc.lower.example":         {"v=dmarc1; p=reject"},
			"_dmarc.psl.github.io":         {"v=DMARC1; p=reject"},
			"_dmarc.github.io":             {"v=DMARC1; p=reject"},
			"_dmarc.xn--bcher-kva.example": {"v=DMARC1; p=reject"},
		},
		A: map[string][]string{
			"exists.np.example": {"192.0.2.1"},
		},
		MX: map[string][]dns.MX{
			"mxonly.np.example": {{Host: "mx.np.example", Pref: 10}},
		},
		Fail: map[string]dns.Kind{
			"TXT _dmarc.servfail.example":     dns.ServFail,
			"TXT _dmarc.orgfail.example":      dns.Timeout,
			"TXT _dmarc.sub.orgfail2.example": dns.Refused,
			"A tempexist.np.example":          dns.ServFail,
		},
	}
	// _dmarc.orgfail2.example has no record (NXDOMAIN) — the subdomain
	// lookup failing is what matters.
	tests := []struct {
		name        string
		ev          *Evaluator
		in          Input
		status      Status
		policy      Policy
		tag         string
		disposition Policy
		spf, dkim   bool
		recordAt    string
		errIs       error
	}{
		// RFC 7489 Appendix B.3: aligned SPF pass
		{name: "B.3 spf aligned", in: Input{FromDomain: "example.com", SPF: spfPass("example.com")},
			status: StatusPass, policy: PolicyReject, tag: "p", disposition: PolicyNone, spf: true, recordAt: "example.com"},
		{name: "spf relaxed subdomain", in: Input{FromDomain: "example.com", SPF: spfPass("bounce.example.com")},
			status: StatusPass, policy: PolicyReject, tag: "p", disposition: PolicyNone, spf: true, recordAt: "example.com"},
		{name: "dkim aligned", in: Input{FromDomain: "example.com", SPF: SPFInput{Domain: "other.example", Result: "pass"}, DKIM: []DKIMInput{dkimPass("mail.example.com")}},
			status: StatusPass, policy: PolicyReject, tag: "p", disposition: PolicyNone, dkim: true, recordAt: "example.com"},
		{name: "unaligned pass fails", in: Input{FromDomain: "example.com", SPF: spfPass("example.org"), DKIM: []DKIMInput{dkimPass("example.net")}},
			status: StatusFail, policy: PolicyReject, tag: "p", disposition: PolicyReject, recordAt: "example.com"},
		{name: "spf fail aligned", in: Input{FromDomain: "example.com", SPF: SPFInput{Domain: "example.com", Result: "fail"}},
			status: StatusFail, policy: PolicyReject, tag: "p", disposition: PolicyReject, recordAt: "example.com"},
		{name: "dkim fail aligned", in: Input{FromDomain: "example.com", DKIM: []DKIMInput{{Domain: "example.com", Result: "fail"}}},
			status: StatusFail, policy: PolicyReject, tag: "p", disposition: PolicyReject, recordAt: "example.com"},
		{name: "second signature aligned", in: Input{FromDomain: "example.com", DKIM: []DKIMInput{dkimPass("esp.example"), {Domain: "example.com", Result: "fail"}, dkimPass("EXAMPLE.COM.")}},
			status: StatusPass, policy: PolicyReject, tag: "p", disposition: PolicyNone, dkim: true, recordAt: "example.com"},
		{name: "from case and dot", in: Input{FromDomain: "Example.COM.", SPF: spfPass("example.com")},
			status: StatusPass, policy: PolicyReject, tag: "p", disposition: PolicyNone, spf: true, recordAt: "example.com"},
		{name: "result words case-insensitive", in: Input{FromDomain: "example.com", SPF: SPFInput{Domain: "example.com", Result: "PASS"}},
			status: StatusPass, policy: PolicyReject, tag: "p", disposition: PolicyNone, spf: true, recordAt: "example.com"},
		// subdomain of a domain with a record: org-domain fallback, sp
		{name: "subdomain inherits p", in: Input{FromDomain: "news.example.com"},
			status: StatusFail, policy: PolicyReject, tag: "p", disposition: PolicyReject, recordAt: "example.com"},
		{name: "sp applies to subdomain", in: Input{FromDomain: "news.sp.example"},
			status: StatusFail, policy: PolicyNone, tag: "sp", disposition: PolicyNone, recordAt: "sp.example"},
		{name: "sp not for org domain itself", in: Input{FromDomain: "sp.example"},
			status: StatusFail, policy: PolicyReject, tag: "p", disposition: PolicyReject, recordAt: "sp.example"},
		{name: "subdomain own record", in: Input{FromDomain: "own.sp.example"},
			status: StatusFail, policy: PolicyQuarantine, tag: "p", disposition: PolicyQuarantine, recordAt: "own.sp.example"},
		// np (RFC 9091 / RFC 9989) for non-existent subdomains
		{name: "np nxdomain subdomain", in: Input{FromDomain: "ghost.np.example"},
			status: StatusFail, policy: PolicyReject, tag: "np", disposition: PolicyReject, recordAt: "np.example"},
		{name: "np existing subdomain gets sp", in: Input{FromDomain: "exists.np.example"},
			status: StatusFail, policy: PolicyNone, tag: "sp", disposition: PolicyNone, recordAt: "np.example"},
		{name: "np subdomain with only MX exists", in: Input{FromDomain: "mxonly.np.example"},
			status: StatusFail, policy: PolicyNone, tag: "sp", disposition: PolicyNone, recordAt: "np.example"},
		{name: "np temp failure counts as existing", in: Input{FromDomain: "tempexist.np.example"},
			status: StatusFail, policy: PolicyNone, tag: "sp", disposition: PolicyNone, recordAt: "np.example"},
		{name: "no np falls back to p", in: Input{FromDomain: "ghost.nonp.example"},
			status: StatusFail, policy: PolicyQuarantine, tag: "p", disposition: PolicyQuarantine, recordAt: "nonp.example"},
		{name: "np not for the org domain", in: Input{FromDomain: "np.example"},
			status: StatusFail, policy: PolicyQuarantine, tag: "p", disposition: PolicyQuarantine, recordAt: "np.example"},
		// pct sampling (RFC 7489 §6.6.4) with an injected random source
		{name: "pct selected", ev: fixedRand(24), in: Input{FromDomain: "pct.example"},
			status: StatusFail, policy: PolicyQuarantine, tag: "p", disposition: PolicyQuarantine, recordAt: "pct.example"},
		{name: "pct not selected", ev: fixedRand(25), in: Input{FromDomain: "pct.example"},
			status: StatusFail, policy: PolicyQuarantine, tag: "p", disposition: PolicyNone, recordAt: "pct.example"},
		{name: "pct=0 reject becomes quarantine", ev: fixedRand(0), in: Input{FromDomain: "pct0.example"},
			status: StatusFail, policy: PolicyReject, tag: "p", disposition: PolicyQuarantine, recordAt: "pct0.example"},
		{name: "t=y reject becomes quarantine", ev: fixedRand(0), in: Input{FromDomain: "test.example"},
			status: StatusFail, policy: PolicyReject, tag: "p", disposition: PolicyQuarantine, recordAt: "test.example"},
		{name: "pct=0 pass stays pass", ev: fixedRand(0), in: Input{FromDomain: "pct0.example", SPF: spfPass("pct0.example")},
			status: StatusPass, policy: PolicyReject, tag: "p", disposition: PolicyNone, spf: true, recordAt: "pct0.example"},
		// strict alignment
		{name: "strict rejects subdomain spf", in: Input{FromDomain: "strict.example", SPF: spfPass("mail.strict.example"), DKIM: []DKIMInput{dkimPass("mail.strict.example")}},
			status: StatusFail, policy: PolicyReject, tag: "p", disposition: PolicyReject, recordAt: "strict.example"},
		{name: "strict exact dkim", in: Input{FromDomain: "strict.example", DKIM: []DKIMInput{dkimPass("strict.example")}},
			status: StatusPass, policy: PolicyReject, tag: "p", disposition: PolicyNone, dkim: true, recordAt: "strict.example"},
		{name: "upper-case record", in: Input{FromDomain: "upper.example", DKIM: []DKIMInput{dkimPass("sub.upper.example")}},
			status: StatusFail, policy: PolicyReject, tag: "p", disposition: PolicyReject, recordAt: "upper.example"},
		{name: "whitespace record", in: Input{FromDomain: "space.example"},
			status: StatusFail, policy: PolicyQuarantine, tag: "p", disposition: PolicyQuarantine, recordAt: "space.example"},
		{name: "non-DMARC TXT discarded", in: Input{FromDomain: "mixed.example"},
			status: StatusFail, policy: PolicyQuarantine, tag: "p", disposition: PolicyQuarantine, recordAt: "mixed.example"},
		// none
		{name: "no record", in: Input{FromDomain: "norecord.example", SPF: spfPass("norecord.example")},
			status: StatusNone, errIs: ErrNoRecord},
		{name: "lower-case version is no record", in: Input{FromDomain: "lower.example"},
			status: StatusNone, errIs: ErrNoRecord},
		{name: "multiple records", in: Input{FromDomain: "multi.example"},
			status: StatusNone, errIs: ErrMultipleRecords},
		{name: "multiple at subdomain, org record used", in: Input{FromDomain: "twice.org.example"},
			status: StatusFail, policy: PolicyReject, tag: "p", disposition: PolicyReject, recordAt: "org.example"},
		// invalid p: with rua → p=none (RFC 7489 §6.6.3), without → permerror
		{name: "invalid p with rua is none", in: Input{FromDomain: "badp-rua.example"},
			status: StatusFail, policy: PolicyNone, tag: "p", disposition: PolicyNone, recordAt: "badp-rua.example"},
		{name: "invalid p without rua", in: Input{FromDomain: "badp.example"},
			status: StatusPermError, recordAt: "badp.example", errIs: ErrInvalidPolicy},
		{name: "invalid sp without rua", in: Input{FromDomain: "x.badsp.example"},
			status: StatusPermError, recordAt: "badsp.example", errIs: ErrInvalidPolicy},
		// temperror
		{name: "servfail", in: Input{FromDomain: "servfail.example", SPF: spfPass("servfail.example")},
			status: StatusTempError, errIs: ErrTemporary},
		{name: "org lookup timeout", in: Input{FromDomain: "a.orgfail.example"},
			status: StatusTempError, errIs: ErrTemporary},
		{name: "subdomain lookup refused", in: Input{FromDomain: "sub.orgfail2.example"},
			status: StatusTempError, errIs: ErrTemporary},
		{name: "aligned spf temperror", in: Input{FromDomain: "example.com", SPF: SPFInput{Domain: "example.com", Result: "temperror"}},
			status: StatusTempError, policy: PolicyReject, tag: "p", recordAt: "example.com", errIs: ErrTemporary},
		{name: "aligned dkim temperror", in: Input{FromDomain: "example.com", DKIM: []DKIMInput{{Domain: "example.com", Result: "temperror"}}},
			status: StatusTempError, policy: PolicyReject, tag: "p", recordAt: "example.com", errIs: ErrTemporary},
		{name: "unaligned temperror is fail", in: Input{FromDomain: "example.com", DKIM: []DKIMInput{{Domain: "other.example", Result: "temperror"}}},
			status: StatusFail, policy: PolicyReject, tag: "p", disposition: PolicyReject, recordAt: "example.com"},
		{name: "temperror but other passes", in: Input{FromDomain: "example.com", SPF: SPFInput{Domain: "example.com", Result: "temperror"}, DKIM: []DKIMInput{dkimPass("example.com")}},
			status: StatusPass, policy: PolicyReject, tag: "p", disposition: PolicyNone, dkim: true, recordAt: "example.com"},
		// private suffix: no fallback to the suffix owner's record
		{name: "private suffix user has no record", in: Input{FromDomain: "alice.github.io"},
			status: StatusNone, errIs: ErrNoRecord},
		{name: "private suffix subdomain uses its org", in: Input{FromDomain: "www.psl.github.io", DKIM: []DKIMInput{dkimPass("evil.github.io")}},
			status: StatusFail, policy: PolicyReject, tag: "p", disposition: PolicyReject, recordAt: "psl.github.io"},
		// IDN From domain
		{name: "idn from", in: Input{FromDomain: "BÜCHER.example", DKIM: []DKIMInput{dkimPass("xn--bcher-kva.example")}},
			status: StatusPass, policy: PolicyReject, tag: "p", disposition: PolicyNone, dkim: true, recordAt: "xn--bcher-kva.example"},
		// unusable From domain
		{name: "domain literal", in: Input{FromDomain: "[192.0.2.1]"}, status: StatusPermError},
		{name: "empty from", in: Input{FromDomain: ""}, status: StatusPermError},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ev := tt.ev
			if ev == nil {
				ev = &Evaluator{Rand: func(int) int { t.Fatal("random source used without pct"); return 0 }}
			}
			res := ev.Evaluate(context.Background(), mock, tt.in)
			if res.Status != tt.status {
				t.Fatalf("status = %s, want %s (reasons %q, err %v)", res.Status, tt.status, res.Reasons, res.Err)
			}
			if res.Policy != tt.policy || res.PolicyTag != tt.tag && tt.tag != "" {
				t.Errorf("policy = %q from %q, want %q from %q", res.Policy, res.PolicyTag, tt.policy, tt.tag)
			}
			if res.Disposition != tt.disposition {
				t.Errorf("disposition = %q, want %q", res.Disposition, tt.disposition)
			}
			if res.SampledOut != (tt.disposition != tt.policy && tt.status == StatusFail) {
				t.Errorf("SampledOut = %v", res.SampledOut)
			}
			if res.SPFAligned != tt.spf || res.DKIMAligned != tt.dkim {
				t.Errorf("aligned spf=%v dkim=%v, want %v %v", res.SPFAligned, res.DKIMAligned, tt.spf, tt.dkim)
			}
			if res.RecordDomain != tt.recordAt {
				t.Errorf("record at %q, want %q", res.RecordDomain, tt.recordAt)
			}
			if tt.errIs != nil && !errors.Is(res.Err, tt.errIs) {
				t.Errorf("err = %v, want %v", res.Err, tt.errIs)
			}
			if tt.status != StatusPass && len(res.Reasons) == 0 {
				t.Errorf("no reasons for %s", res.Status)
			}
		})
	}
}

func TestEvaluateReasonsAndAlignedDomain(t *testing.T) {
	mock := &dnstest.Mock{TXT: map[string][]string{"_dmarc.example.com": {"v=DMARC1; p=reject"}}}
	res := Evaluate(context.Background(), mock, Input{
		FromDomain: "example.com",
		SPF:        spfPass("example.org"),
		DKIM:       []DKIMInput{dkimPass("example.net"), dkimPass("news.example.com")},
	})
	if res.Status != StatusPass || res.AlignedDKIM != "news.example.com" || res.SPFAligned {
		t.Fatalf("got %+v", res)
	}
	res = Evaluate(context.Background(), mock, Input{FromDomain: "example.com", SPF: spfPass("example.org")})
	joined := strings.Join(res.Reasons, "; ")
	if res.Status != StatusFail || !strings.Contains(joined, "SPF pass for example.org not aligned") || !strings.Contains(joined, "no DKIM signature") {
		t.Fatalf("reasons %q", joined)
	}
}

func TestEvaluateTimeout(t *testing.T) {
	mock := &dnstest.Mock{TXT: map[string][]string{"_dmarc.example.com": {"v=DMARC1; p=reject"}}, Delay: time.Second}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Millisecond)
	defer cancel()
	res := Evaluate(ctx, mock, Input{FromDomain: "example.com"})
	if res.Status != StatusTempError || !errors.Is(res.Err, ErrTemporary) {
		t.Fatalf("got %s %v, want temperror", res.Status, res.Err)
	}
}

func TestPctSamplingDistribution(t *testing.T) {
	mock := &dnstest.Mock{TXT: map[string][]string{"_dmarc.pct.example": {"v=DMARC1; p=reject; pct=30"}}}
	i := 0
	ev := &Evaluator{Rand: func(n int) int { i++; return (i - 1) % n }}
	applied := 0
	for range 100 {
		res := ev.Evaluate(context.Background(), mock, Input{FromDomain: "pct.example"})
		if res.Disposition == PolicyReject {
			applied++
		} else if res.Disposition != PolicyQuarantine || !res.SampledOut {
			t.Fatalf("disposition %q sampled %v", res.Disposition, res.SampledOut)
		}
	}
	if applied != 30 {
		t.Fatalf("policy applied to %d of 100 messages, want 30", applied)
	}
}

func TestStrictest(t *testing.T) {
	pass := Result{Status: StatusPass, FromDomain: "a"}
	none := Result{Status: StatusNone, FromDomain: "b"}
	failQ := Result{Status: StatusFail, Disposition: PolicyQuarantine, FromDomain: "c"}
	failR := Result{Status: StatusFail, Disposition: PolicyReject, FromDomain: "d"}
	failN := Result{Status: StatusFail, Disposition: PolicyNone, FromDomain: "e"}
	temp := Result{Status: StatusTempError, FromDomain: "f"}
	tests := []struct {
		in   []Result
		want string
	}{
		{[]Result{pass, none}, "b"},
		{[]Result{pass, failQ, none}, "c"},
		{[]Result{failQ, failR, failN}, "d"},
		{[]Result{failN, temp}, "e"},
		{[]Result{pass, temp}, "f"},
		{[]Result{pass}, "a"},
	}
	for _, tt := range tests {
		if got := Strictest(tt.in...); got.FromDomain != tt.want {
			t.Errorf("Strictest = %q, want %q", got.FromDomain, tt.want)
		}
	}
	if got := Strictest(); got.Status != "" {
		t.Errorf("Strictest() = %+v", got)
	}
}

// RFC 7489 Appendix B.2.2 / §7.1: external report destinations.
func TestVerifyExternalDestination(t *testing.T) {
	mock := &dnstest.Mock{
		TXT: map[string][]string{
			"example.com._report._dmarc.thirdparty.example.net":  {"v=DMARC1"},
			"example.org._report._dmarc.thirdparty.example.net":  {"v=DMARC1; rua=mailto:other@thirdparty.example.net,mailto:x@elsewhere.example"},
			"example.info._report._dmarc.thirdparty.example.net": {"not dmarc"},
		},
		Fail: map[string]dns.Kind{"TXT example.edu._report._dmarc.thirdparty.example.net": dns.ServFail},
	}
	mustURI := func(s string) URI {
		u, err := ParseURI(s)
		if err != nil {
			t.Fatal(err)
		}
		return u
	}
	ext := mustURI("mailto:tld-test@thirdparty.example.net!10m")
	tests := []struct {
		domain             string
		uri                URI
		needed, authorized bool
		override           int
		temp               bool
	}{
		{"example.com", ext, true, true, 0, false},
		{"example.com", mustURI("mailto:dmarc@reports.example.com"), false, true, 0, false},
		{"EXAMPLE.com.", ext, true, true, 0, false},
		{"example.org", ext, true, true, 1, false},
		{"example.info", ext, true, false, 0, false},
		{"example.biz", ext, true, false, 0, false},
		{"example.edu", ext, true, false, 0, true},
	}
	for _, tt := range tests {
		a, err := VerifyExternalDestination(context.Background(), mock, tt.domain, tt.uri, false)
		if tt.temp {
			if !errors.Is(err, ErrTemporary) {
				t.Errorf("%s: err %v, want ErrTemporary", tt.domain, err)
			}
			continue
		}
		if err != nil {
			t.Errorf("%s: %v", tt.domain, err)
			continue
		}
		if a.Needed != tt.needed || a.Authorized != tt.authorized || len(a.Override) != tt.override {
			t.Errorf("%s: got %+v, want needed %v authorized %v override %d", tt.domain, a, tt.needed, tt.authorized, tt.override)
		}
		want := strings.TrimSuffix(strings.ToLower(tt.domain), ".") + "._report._dmarc.thirdparty.example.net"
		if tt.needed && a.Query != want {
			t.Errorf("query %q, want %q", a.Query, want)
		}
	}
	if _, err := VerifyExternalDestination(context.Background(), mock, "example.com", mustURI("https://r.example/x"), false); !errors.Is(err, ErrNotMailto) {
		t.Errorf("https URI: err %v, want ErrNotMailto", err)
	}
}

func BenchmarkEvaluate(b *testing.B) {
	mock := &dnstest.Mock{TXT: map[string][]string{"_dmarc.example.com": {"v=DMARC1; p=reject; rua=mailto:d@example.com"}}}
	in := Input{FromDomain: "news.example.com", SPF: spfPass("bounce.example.org"), DKIM: []DKIMInput{dkimPass("esp.example"), dkimPass("example.com")}}
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		if res := Evaluate(ctx, mock, in); res.Status != StatusPass {
			b.Fatal(res.Status)
		}
	}
}

func FuzzEvaluate(f *testing.F) {
	f.Add("v=DMARC1; p=reject; pct=50; np=quarantine; sp=none", "a.example.com", "example.com", "pass", "b.example.com", "pass", 3)
	f.Add("v=DMARC1; p=bogus; rua=mailto:x@example.com", "example.com", "", "", "example.com", "temperror", 0)
	f.Add("v=DMARC1; p=quarantine; t=y; adkim=s; aspf=s", "Bücher.example", "xn--bcher-kva.example", "pass", "", "", 99)
	f.Add("v=spf1 -all", "[1.2.3.4]", "x", "fail", "y", "permerror", 1)
	f.Fuzz(func(t *testing.T, record, from, spfDom, spfRes, dkimDom, dkimRes string, rnd int) {
		mock := &dnstest.Mock{TXT: map[string][]string{
			"_dmarc.example.com":              {record},
			"_dmarc." + strings.ToLower(from): {record},
		}}
		ev := &Evaluator{Rand: func(n int) int {
			if rnd < 0 {
				rnd = -rnd
			}
			return rnd % n
		}}
		in := Input{FromDomain: from, SPF: SPFInput{Domain: spfDom, Result: spfRes}, DKIM: []DKIMInput{{Domain: dkimDom, Result: dkimRes}}}
		res := ev.Evaluate(context.Background(), mock, in)
		switch res.Status {
		case StatusPass:
			if !res.SPFAligned && !res.DKIMAligned || res.Disposition != PolicyNone {
				t.Fatalf("pass without alignment or with disposition: %+v", res)
			}
		case StatusFail:
			if res.Policy.strength() == 0 || res.Disposition.strength() == 0 || res.Disposition.strength() > res.Policy.strength() {
				t.Fatalf("fail with policy %q disposition %q", res.Policy, res.Disposition)
			}
			if res.SampledOut != (res.Disposition != res.Policy) {
				t.Fatalf("SampledOut %v for %q -> %q", res.SampledOut, res.Policy, res.Disposition)
			}
		case StatusNone, StatusPermError:
			if res.Err == nil || res.Disposition != "" {
				t.Fatalf("%s without error or with disposition: %+v", res.Status, res)
			}
		case StatusTempError:
			if res.Err == nil {
				t.Fatalf("temperror without error")
			}
		default:
			t.Fatalf("status %q", res.Status)
		}
	})
}

// Hostile DNS answers get a defined result (issue: records over 4 KB,
// 50 TXT records, NUL bytes).
func TestEvaluateHostileDNS(t *testing.T) {
	junk := make([]string, 0, 50)
	for i := range 49 {
		junk = append(junk, fmt.Sprintf("junk record %d", i))
	}
	big := "v=DMARC1; p=reject; " + strings.Repeat("x=0123456789abcdef; ", 300)
	mock := &dnstest.Mock{TXT: map[string][]string{
		"_dmarc.fifty.example":  append(slices.Clone(junk), "v=DMARC1; p=quarantine"),
		"_dmarc.fifty2.example": append(slices.Clone(junk), "v=DMARC1; p=quarantine", "v=DMARC1; p=none"),
		"_dmarc.big.example":    {big},
		"_dmarc.huge.example":   {"v=DMARC1; p=reject; " + strings.Repeat("a", 70<<10)},
		"_dmarc.nul.example":    {"v=DMARC1; p=reject\x00"},
		"_dmarc.nulrua.example": {"v=DMARC1; p=re\x00ject; rua=mailto:r@nulrua.example"},
		"_dmarc.nultag.example": {"v=DMARC1\x00; p=reject"},
		"_dmarc.binary.example": {"v=DMARC1; p=reject; rua=mailto:\xff\xfe@\x01.example"},
	}}
	tests := []struct {
		from   string
		status Status
		policy Policy
	}{
		{"fifty.example", StatusFail, PolicyQuarantine},
		{"fifty2.example", StatusNone, ""},
		{"big.example", StatusFail, PolicyReject},
		{"huge.example", StatusNone, ""},
		{"nul.example", StatusPermError, ""},
		{"nulrua.example", StatusFail, PolicyNone},
		{"nultag.example", StatusNone, ""},
		{"binary.example", StatusFail, PolicyReject},
	}
	for _, tt := range tests {
		res := Evaluate(context.Background(), mock, Input{FromDomain: tt.from})
		if res.Status != tt.status || res.Policy != tt.policy {
			t.Errorf("%s: %s %q, want %s %q (%v)", tt.from, res.Status, res.Policy, tt.status, tt.policy, res.Reasons)
		}
	}
	if len(big) <= 4096 {
		t.Fatalf("big record only %d bytes", len(big))
	}
}
