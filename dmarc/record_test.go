package dmarc

import (
	"errors"
	"strings"
	"testing"
)

func TestParseValid(t *testing.T) {
	tests := []struct {
		txt   string
		check func(t *testing.T, r *Record)
	}{
		{"v=DMARC1; p=none; rua=mailto:dmarc-feedback@example.com", func(t *testing.T, r *Record) {
			if r.Policy != PolicyNone || len(r.RUA) != 1 || r.RUA[0].Address != "dmarc-feedback@example.com" || r.RUA[0].Domain != "example.com" {
				t.Errorf("got %+v", r)
			}
			if r.Percent != 100 || r.DKIM != Relaxed || r.SPF != Relaxed || r.Interval != 86400 || r.PSD != 'u' {
				t.Errorf("defaults wrong: %+v", r)
			}
			if strings.Join(r.FailureOptions, ":") != "0" || strings.Join(r.ReportFormats, ":") != "afrf" {
				t.Errorf("fo/rf defaults wrong: %v %v", r.FailureOptions, r.ReportFormats)
			}
		}},
		// RFC 7489 Appendix B.2.3
		{"v=DMARC1; p=quarantine; rua=mailto:dmarc-feedback@example.com,mailto:tld-test@thirdparty.example.net!10m; pct=25", func(t *testing.T, r *Record) {
			if r.Policy != PolicyQuarantine || r.Percent != 25 || !r.PercentSet || len(r.RUA) != 2 {
				t.Fatalf("got %+v", r)
			}
			if r.RUA[1].MaxSize != 10<<20 || r.RUA[1].Domain != "thirdparty.example.net" {
				t.Errorf("rua[1] = %+v", r.RUA[1])
			}
		}},
		{"v=DMARC1;p=reject;sp=quarantine;np=reject;adkim=s;aspf=s;pct=0;fo=1:d:s;rf=afrf;ri=3600;ruf=mailto:f@example.com!5k;t=y;psd=n", func(t *testing.T, r *Record) {
			if r.Policy != PolicyReject || r.SubdomainPolicy != PolicyQuarantine || r.NonexistentPolicy != PolicyReject {
				t.Errorf("policies %+v", r)
			}
			if r.DKIM != Strict || r.SPF != Strict || r.Percent != 0 || r.Interval != 3600 || !r.Testing || r.PSD != 'n' {
				t.Errorf("tags %+v", r)
			}
			if strings.Join(r.FailureOptions, ":") != "1:d:s" || len(r.RUF) != 1 || r.RUF[0].MaxSize != 5<<10 {
				t.Errorf("fo/ruf %+v %+v", r.FailureOptions, r.RUF)
			}
		}},
		// whitespace around tags, names and values; trailing separators
		{"  v = DMARC1 ;\tp = reject ; ; adkim\t=\ts ;", func(t *testing.T, r *Record) {
			if r.Policy != PolicyReject || r.DKIM != Strict {
				t.Errorf("got %+v", r)
			}
		}},
		// upper-case tag names and keyword values are accepted (RFC 5234 §2.3)
		{"V=DMARC1; P=REJECT; SP=None; ADKIM=S; RUA=MAILTO:Dmarc@Example.COM", func(t *testing.T, r *Record) {
			if r.Policy != PolicyReject || r.SubdomainPolicy != PolicyNone || r.DKIM != Strict {
				t.Errorf("got %+v", r)
			}
			if len(r.RUA) != 1 || r.RUA[0].Domain != "example.com" {
				t.Errorf("rua %+v", r.RUA)
			}
		}},
		// unknown tags are ignored with a warning; p after other tags is a warning
		{"v=DMARC1; rua=mailto:a@example.com; p=none; foo=bar", func(t *testing.T, r *Record) {
			if r.Policy != PolicyNone || len(r.Unknown) != 1 || r.Unknown[0] != "foo" {
				t.Errorf("got %+v", r)
			}
			if !hasProblem(r, Warning, "p") || !hasProblem(r, Warning, "foo") {
				t.Errorf("warnings missing: %v", r.Problems)
			}
		}},
		// other URI schemes are kept with a warning
		{"v=DMARC1; p=none; rua=https://reports.example.com/dmarc", func(t *testing.T, r *Record) {
			if len(r.RUA) != 1 || r.RUA[0].Address != "" || !hasProblem(r, Warning, "rua") {
				t.Errorf("got %+v %v", r.RUA, r.Problems)
			}
		}},
	}
	for _, tt := range tests {
		r, err := Parse(tt.txt)
		if err != nil {
			t.Errorf("Parse(%q): %v", tt.txt, err)
			continue
		}
		for _, p := range r.Problems {
			if p.Severity == Invalid {
				t.Errorf("Parse(%q): unexpected invalid %v", tt.txt, p)
			}
		}
		t.Run(tt.txt, func(t *testing.T) { tt.check(t, r) })
	}
}

func hasProblem(r *Record, sev Severity, tag string) bool {
	for _, p := range r.Problems {
		if p.Severity == sev && p.Tag == tag {
			return true
		}
	}
	return false
}

func TestParseNotDMARC(t *testing.T) {
	for _, txt := range []string{
		"", ";", "v=spf1 -all", "v=DMARC2; p=none", "v=dmarc1; p=none", "p=none; v=DMARC1",
		"v=DMARC1x; p=none", " ; v=DMARC1", "v DMARC1; p=none",
		strings.Repeat("v=DMARC1;", 8000),
	} {
		r, err := Parse(txt)
		if r != nil || !errors.Is(err, ErrNotDMARC) {
			t.Errorf("Parse(%q) = %v, %v; want nil, ErrNotDMARC", txt, r, err)
		}
	}
}

func TestParseInvalidTags(t *testing.T) {
	tests := []struct {
		txt      string
		tag      string
		validPol bool
		check    func(r *Record) bool
	}{
		{"v=DMARC1; p=bogus; rua=mailto:a@example.com", "p", false, func(r *Record) bool { return r.Policy == "" && len(r.RUA) == 1 }},
		{"v=DMARC1; rua=mailto:a@example.com", "p", false, func(r *Record) bool { return r.Policy == "" }},
		{"v=DMARC1; p=none; sp=maybe", "sp", false, func(r *Record) bool { return r.SubdomainPolicy == "" }},
		{"v=DMARC1; p=none; np=maybe", "np", true, func(r *Record) bool { return r.NonexistentPolicy == "" }},
		{"v=DMARC1; p=reject; pct=101", "pct", true, func(r *Record) bool { return r.Percent == 100 && !r.PercentSet }},
		{"v=DMARC1; p=reject; pct=-1", "pct", true, func(r *Record) bool { return r.Percent == 100 }},
		{"v=DMARC1; p=reject; pct=+5", "pct", true, func(r *Record) bool { return r.Percent == 100 }},
		{"v=DMARC1; p=reject; pct=abc", "pct", true, func(r *Record) bool { return r.Percent == 100 }},
		{"v=DMARC1; p=reject; adkim=x", "adkim", true, func(r *Record) bool { return r.DKIM == Relaxed }},
		{"v=DMARC1; p=reject; aspf=strict", "aspf", true, func(r *Record) bool { return r.SPF == Relaxed }},
		{"v=DMARC1; p=reject; rua=dmarc@example.com", "rua", true, func(r *Record) bool { return len(r.RUA) == 0 }},
		{"v=DMARC1; p=reject; rua=mailto:a@example.com!10x", "rua", true, func(r *Record) bool { return len(r.RUA) == 0 }},
		{"v=DMARC1; p=reject; rua=mailto:not-an-address", "rua", true, func(r *Record) bool { return len(r.RUA) == 0 }},
		{"v=DMARC1; p=reject; rua=mailto:a@example.com,bad", "rua", true, func(r *Record) bool { return len(r.RUA) == 1 }},
		{"v=DMARC1; p=reject; fo=2", "fo", true, func(r *Record) bool { return strings.Join(r.FailureOptions, "") == "0" }},
		{"v=DMARC1; p=reject; rf=iodef", "rf", true, func(r *Record) bool { return r.ReportFormats[0] == "afrf" }},
		{"v=DMARC1; p=reject; ri=4294967296", "ri", true, func(r *Record) bool { return r.Interval == 86400 }},
		{"v=DMARC1; p=reject; t=maybe", "t", true, func(r *Record) bool { return !r.Testing }},
		{"v=DMARC1; p=reject; psd=x", "psd", true, func(r *Record) bool { return r.PSD == 'u' }},
		{"v=DMARC1; p=reject; p=none", "p", true, func(r *Record) bool { return r.Policy == PolicyReject }},
		{"v=DMARC1; p=reject; junk", "", true, func(r *Record) bool { return r.Policy == PolicyReject }},
	}
	for _, tt := range tests {
		r, err := Parse(tt.txt)
		var se *SyntaxError
		if r == nil || !errors.As(err, &se) {
			t.Errorf("Parse(%q) = %v, %v; want record and *SyntaxError", tt.txt, r, err)
			continue
		}
		if !hasProblem(r, Invalid, tt.tag) {
			t.Errorf("Parse(%q): no invalid problem for tag %q in %v", tt.txt, tt.tag, r.Problems)
		}
		if r.PolicyValid() != tt.validPol {
			t.Errorf("Parse(%q).PolicyValid() = %v, want %v", tt.txt, r.PolicyValid(), tt.validPol)
		}
		if !tt.check(r) {
			t.Errorf("Parse(%q): fallback values wrong: %+v", tt.txt, r)
		}
	}
}

func TestParseProblemOffsets(t *testing.T) {
	txt := "v=DMARC1; p=reject;  adkim=q"
	r, err := Parse(txt)
	if err == nil {
		t.Fatal("no error")
	}
	for _, p := range r.Problems {
		if p.Tag == "adkim" {
			if p.Offset != strings.Index(txt, "adkim") || p.Value != "q" {
				t.Errorf("problem %+v: want offset %d value q", p, strings.Index(txt, "adkim"))
			}
			if !strings.Contains(err.Error(), "adkim") {
				t.Errorf("error %q does not name the tag", err)
			}
			return
		}
	}
	t.Fatalf("no adkim problem in %v", r.Problems)
}

func TestParseURI(t *testing.T) {
	tests := []struct {
		raw    string
		addr   string
		size   uint64
		hasErr bool
	}{
		{"mailto:a@example.com", "a@example.com", 0, false},
		{"mailto:a@EXAMPLE.com!1", "a@example.com", 1, false},
		{"mailto:a@example.com!2g", "a@example.com", 2 << 30, false},
		{"mailto:a@example.com!3T", "a@example.com", 3 << 40, false},
		{"mailto:a%40b@example.com", "", 0, true}, // decodes to two @
		{"mailto:rep@bücher.example", "rep@xn--bcher-kva.example", 0, false},
		{"mailto:a@example.com?subject=x", "a@example.com", 0, false},
		{"mailto:a@example.com!99999999999999999999", "", 0, true},
		{"mailto:a@example.com!", "", 0, true},
		{"mailto:", "", 0, true},
		{"!10m", "", 0, true},
		{"example.com", "", 0, true},
	}
	for _, tt := range tests {
		u, err := ParseURI(tt.raw)
		if (err != nil) != tt.hasErr {
			t.Errorf("ParseURI(%q) error %v, want error %v", tt.raw, err, tt.hasErr)
			continue
		}
		if err == nil && (u.Address != tt.addr || u.MaxSize != tt.size) {
			t.Errorf("ParseURI(%q) = %q %d, want %q %d", tt.raw, u.Address, u.MaxSize, tt.addr, tt.size)
		}
	}
}

func FuzzParse(f *testing.F) {
	for _, s := range []string{
		"v=DMARC1; p=none; rua=mailto:dmarc-feedback@example.com",
		"v=DMARC1;p=reject;sp=quarantine;np=reject;adkim=s;aspf=s;pct=0;fo=1:d:s;rf=afrf;ri=3600;ruf=mailto:f@example.com!5k;t=y;psd=n",
		"v=DMARC1; p=quarantine; rua=mailto:a@example.com,mailto:b@x.example!10m; pct=25",
		"v=DMARC1", "v=DMARC1;;;", "v=DMARC1; p", "v=DMARC1; =", "v=DMARC1; p=reject; rua=mailto:\xff@\xfe",
		"v=DMARC1; rua=mailto:a@b!1t; ruf=http://x!", "v=spf1 -all",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		r, err := Parse(s)
		if r == nil {
			if !errors.Is(err, ErrNotDMARC) {
				t.Fatalf("nil record with error %v", err)
			}
			return
		}
		invalid := false
		for _, p := range r.Problems {
			if p.Offset < 0 || p.Offset > len(s) {
				t.Fatalf("problem offset %d out of range", p.Offset)
			}
			invalid = invalid || p.Severity == Invalid
		}
		if invalid != (err != nil) {
			t.Fatalf("invalid problems %v but error %v", invalid, err)
		}
		if r.Percent < 0 || r.Percent > 100 {
			t.Fatalf("pct %d", r.Percent)
		}
		if r.PolicyValid() && r.Policy.strength() == 0 {
			t.Fatalf("valid policy %q", r.Policy)
		}
		for _, u := range append(r.RUA, r.RUF...) {
			if u.URL == nil {
				t.Fatalf("URI %q without URL", u.Raw)
			}
		}
	})
}

func BenchmarkParse(b *testing.B) {
	txt := "v=DMARC1; p=quarantine; sp=reject; rua=mailto:dmarc-feedback@example.com,mailto:tld-test@thirdparty.example.net!10m; pct=25; adkim=s; fo=1"
	b.ReportAllocs()
	for b.Loop() {
		if _, err := Parse(txt); err != nil {
			b.Fatal(err)
		}
	}
}
