package checks

import (
	"context"
	"net/netip"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/hamlet-mail/hamlet/dns"
	"github.com/hamlet-mail/hamlet/dns/dnstest"
	"github.com/hamlet-mail/hamlet/engine"
	"github.com/hamlet-mail/hamlet/spf"
)

func spfMock() *dnstest.Mock {
	return &dnstest.Mock{
		TXT: map[string][]string{
			"pass.example":      {"v=spf1 ip4:192.0.2.0/24 -all"},
			"fail.example":      {"v=spf1 ip4:198.51.100.1 -all exp=why.fail.example"},
			"why.fail.example":  {"%{i} is not a mail server of %{d}"},
			"soft.example":      {"v=spf1 ~all"},
			"neutral.example":   {"v=spf1 ?all"},
			"perm.example":      {"v=spf1 ip4:192.0.2.1/40"},
			"temp.example":      {"v=spf1 include:down.example -all"},
			"mail.helo.example": {"v=spf1 a -all"},
		},
		A:    map[string][]string{"mail.helo.example": {"192.0.2.7"}},
		Fail: map[string]dns.Kind{"TXT down.example": dns.ServFail},
	}
}

func TestSPFCheck(t *testing.T) {
	c := NewSPF(spfMock())
	ip := netip.MustParseAddr("192.0.2.7")
	tests := []struct {
		name     string
		tx       engine.Transaction
		symbol   string
		options  []string
		code     spf.Code
		message  string
		identity spf.Identity
	}{
		{"pass", engine.Transaction{ClientIP: ip, MailFrom: "a@pass.example", Helo: "x.example"},
			SymSPFAllow, []string{"+ip4:192.0.2.0/24", "pass.example"}, spf.Pass, "", spf.IdentityMailFrom},
		{"fail", engine.Transaction{ClientIP: ip, MailFrom: "a@fail.example"},
			SymSPFFail, []string{"-all", "fail.example"}, spf.Fail, "192.0.2.7 is not a mail server of fail.example", spf.IdentityMailFrom},
		{"softfail", engine.Transaction{ClientIP: ip, MailFrom: "a@soft.example"},
			SymSPFSoftFail, []string{"~all", "soft.example"}, spf.SoftFail, "", spf.IdentityMailFrom},
		{"neutral", engine.Transaction{ClientIP: ip, MailFrom: "a@neutral.example"},
			SymSPFNeutral, []string{"?all", "neutral.example"}, spf.Neutral, "", spf.IdentityMailFrom},
		{"none", engine.Transaction{ClientIP: ip, MailFrom: "a@none.example"},
			SymSPFNA, []string{"none.example"}, spf.None, "", spf.IdentityMailFrom},
		{"permerror", engine.Transaction{ClientIP: ip, MailFrom: "a@perm.example"},
			SymSPFPermFail, []string{"perm.example"}, spf.PermError, "", spf.IdentityMailFrom},
		{"temperror", engine.Transaction{ClientIP: ip, MailFrom: "a@temp.example"},
			SymSPFDNSFail, []string{"temp.example"}, spf.TempError, "", spf.IdentityMailFrom},
		{"null sender uses HELO", engine.Transaction{ClientIP: ip, Helo: "mail.helo.example"},
			SymSPFAllow, []string{"+a", "mail.helo.example"}, spf.Pass, "", spf.IdentityHelo},
		{"IPv6 client", engine.Transaction{ClientIP: netip.MustParseAddr("2001:db8::1"), MailFrom: "a@pass.example"},
			SymSPFFail, []string{"-all", "pass.example"}, spf.Fail, "pass.example does not designate 2001:db8::1 as permitted sender", spf.IdentityMailFrom},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			tx := tc.tx
			res := c.Run(context.Background(), &tx, nil)
			if len(res.Symbols) != 1 {
				t.Fatalf("symbols %+v, want one", res.Symbols)
			}
			s := res.Symbols[0]
			if s.Name != tc.symbol {
				t.Errorf("symbol %s, want %s (options %q)", s.Name, tc.symbol, s.Options)
			}
			// The first options are fixed; errors add the reason after.
			if len(s.Options) < len(tc.options) || !slices.Equal(s.Options[:len(tc.options)], tc.options) {
				t.Errorf("options %q, want prefix %q", s.Options, tc.options)
			}
			switch tc.code {
			case spf.None, spf.PermError, spf.TempError:
				if len(s.Options) != 2 || s.Options[1] == "" {
					t.Errorf("options %q lack the reason", s.Options)
				}
			}
			if s.Message != tc.message {
				t.Errorf("message %q, want %q", s.Message, tc.message)
			}
			r, ok := res.Value.(*spf.Result)
			if !ok {
				t.Fatalf("value is %T, want *spf.Result", res.Value)
			}
			if r.Code != tc.code || r.Identity != tc.identity {
				t.Errorf("result %s/%s, want %s/%s", r.Code, r.Identity, tc.code, tc.identity)
			}
			// DMARC reads the value back through engine.Value.
			got, ok := engine.Value[*spf.Result](spfDeps{"spf": res.Value}, "spf")
			if !ok || got != r {
				t.Errorf("engine.Value did not return the result")
			}
		})
	}
}

type spfDeps map[string]any

func (d spfDeps) Get(name string) (any, bool) { v, ok := d[name]; return v, ok }

func TestSPFCheckNoClientIP(t *testing.T) {
	m := spfMock()
	c := NewSPF(m)
	res := c.Run(context.Background(), &engine.Transaction{MailFrom: "a@pass.example"}, nil)
	if len(res.Symbols) != 0 || res.Value != nil {
		t.Errorf("without a client IP: %+v", res)
	}
	if m.Queries() != 0 {
		t.Errorf("%d DNS queries without a client IP", m.Queries())
	}
}

func TestSPFCheckDeadline(t *testing.T) {
	m := spfMock()
	m.Delay = time.Hour
	c := NewSPF(m)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Millisecond)
	defer cancel()
	res := c.Run(ctx, &engine.Transaction{ClientIP: netip.MustParseAddr("192.0.2.7"), MailFrom: "a@pass.example"}, nil)
	if len(res.Symbols) != 1 || res.Symbols[0].Name != SymSPFDNSFail {
		t.Fatalf("symbols %+v, want R_SPF_DNSFAIL", res.Symbols)
	}
	if !strings.Contains(strings.Join(res.Symbols[0].Options, " "), "timeout") {
		t.Errorf("options %q do not say timeout", res.Symbols[0].Options)
	}
}

func TestSPFCheckDefinition(t *testing.T) {
	c := NewSPF(spfMock())
	if c.Name() != "spf" || c.Phase() != engine.PhaseMail || len(c.After()) != 0 || !c.InboundOnly() {
		t.Errorf("definition: %s %s %v %v", c.Name(), c.Phase(), c.After(), c.InboundOnly())
	}
	want := map[string]float64{
		SymSPFAllow: -0.2, SymSPFFail: 1.0, SymSPFSoftFail: 0, SymSPFNeutral: 0,
		SymSPFNA: 0, SymSPFDNSFail: 0, SymSPFPermFail: 0,
	}
	defs := c.Symbols()
	if len(defs) != len(want) {
		t.Errorf("%d symbols, want %d", len(defs), len(want))
	}
	for _, d := range defs {
		w, ok := want[d.Name]
		if !ok || d.Weight != w || d.Group != "spf" || d.Description == "" {
			t.Errorf("symbol %+v", d)
		}
	}
	if ts := c.TimeoutSymbol(); ts.Name != SymSPFDNSFail {
		t.Errorf("timeout symbol %s", ts.Name)
	}
}
