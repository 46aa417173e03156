package checks

import (
	"context"
	"errors"
	"net/netip"
	"slices"
	"strings"
	"testing"

	"github.com/hamlet-mail/hamlet/arc"
	"github.com/hamlet-mail/hamlet/dkim"
	"github.com/hamlet-mail/hamlet/dmarc"
	"github.com/hamlet-mail/hamlet/dns"
	"github.com/hamlet-mail/hamlet/dns/dnstest"
	"github.com/hamlet-mail/hamlet/engine"
	"github.com/hamlet-mail/hamlet/message"
	"github.com/hamlet-mail/hamlet/spf"
)

// dmarcDeps is a fake engine.Results: the values of finished checks.
type dmarcDeps map[string]any

func (d dmarcDeps) Get(name string) (any, bool) { v, ok := d[name]; return v, ok }

func dmarcMock() *dnstest.Mock {
	return &dnstest.Mock{
		TXT: map[string][]string{
			"_dmarc.bank.example":  {"v=DMARC1; p=reject; rua=mailto:d@bank.example"},
			"_dmarc.shop.example":  {"v=DMARC1; p=quarantine"},
			"_dmarc.blog.example":  {"v=DMARC1; p=none"},
			"_dmarc.half.example":  {"v=DMARC1; p=reject; pct=50"},
			"_dmarc.bad.example":   {"v=DMARC1; p=maybe"},
			"_dmarc.multi.example": {"v=DMARC1; p=none", "v=DMARC1; p=reject"},
		},
		Fail: map[string]dns.Kind{"TXT _dmarc.down.example": dns.ServFail},
	}
}

func msg(header string) *message.Message {
	return message.Parse([]byte(header + "Subject: hi\r\n\r\nbody\r\n"))
}

func spfRes(code spf.Code, domain string) *spf.Result {
	return &spf.Result{Code: code, Domain: domain, Identity: spf.IdentityMailFrom, MailFrom: "bounce@" + domain}
}

func dkimRes(status dkim.Status, domain string) dkim.Result {
	return dkim.Result{Status: status, Domain: domain, Selector: "s1", HeaderB: "AbCdEfGh"}
}

// arcChain builds a validated ARC result whose sets were sealed by
// sealers (instance 1 first), each AAR saying aar[i].
func arcChain(status arc.Status, sealers, aar []string) *arc.Result {
	r := &arc.Result{Status: status}
	for i, s := range sealers {
		r.Sets = append(r.Sets, arc.Set{Instance: i + 1, AuthResults: aar[i], SealSig: &dkim.Signature{Domain: s, Selector: "arc"}})
	}
	if status == arc.Pass {
		r.OldestPass = 1
	}
	return r
}

func newDMARC(t *testing.T, cfg DMARCConfig) *DMARC {
	t.Helper()
	c, err := NewDMARC(cfg, dmarcMock())
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func TestDMARCCheck(t *testing.T) {
	def := DefaultDMARCConfig()
	trusting := DefaultDMARCConfig()
	trusting.TrustedARCSealers = []string{"Lists.Example.ORG"}
	scoreOnly := DefaultDMARCConfig()
	scoreOnly.Reject = false
	listAAR := "lists.example.org; spf=pass smtp.mailfrom=bank.example; dkim=pass header.d=bank.example; dmarc=pass header.from=bank.example"

	tests := []struct {
		name    string
		cfg     DMARCConfig
		rand    int // the random source's answer (for pct)
		from    string
		deps    dmarcDeps
		symbol  string
		options []string
		force   engine.Action
		status  dmarc.Status
		arc     string
	}{
		{name: "pass by aligned SPF", cfg: def, from: "From: Bank <info@bank.example>\r\n",
			deps:   dmarcDeps{"spf": spfRes(spf.Pass, "mail.bank.example"), "dkim": []dkim.Result{}},
			symbol: SymDMARCAllow, options: []string{"bank.example", "reject"}, status: dmarc.StatusPass},
		{name: "pass by aligned DKIM", cfg: def, from: "From: info@bank.example\r\n",
			deps:   dmarcDeps{"spf": spfRes(spf.Fail, "bank.example"), "dkim": []dkim.Result{dkimRes(dkim.StatusPass, "bank.example")}},
			symbol: SymDMARCAllow, options: []string{"bank.example", "reject"}, status: dmarc.StatusPass},
		{name: "reject forced", cfg: def, from: "From: info@bank.example\r\n",
			deps:   dmarcDeps{"spf": spfRes(spf.Pass, "evil.example"), "dkim": []dkim.Result{dkimRes(dkim.StatusPass, "evil.example")}},
			symbol: SymDMARCReject, options: []string{"bank.example : SPF pass for evil.example not aligned (relaxed), DKIM pass for evil.example not aligned (relaxed)", "reject"},
			force: engine.Reject, status: dmarc.StatusFail},
		{name: "reject only scored", cfg: scoreOnly, from: "From: info@bank.example\r\n",
			deps:   dmarcDeps{"spf": spfRes(spf.Fail, "bank.example")},
			symbol: SymDMARCReject, options: []string{"bank.example : SPF fail for bank.example, no DKIM signature", "reject"}, status: dmarc.StatusFail},
		{name: "missing spf and dkim values", cfg: def, from: "From: info@bank.example\r\n", deps: dmarcDeps{},
			symbol: SymDMARCReject, options: []string{"bank.example : no SPF result, no DKIM signature", "reject"}, force: engine.Reject, status: dmarc.StatusFail},
		{name: "skipped signatures ignored", cfg: def, from: "From: info@bank.example\r\n",
			deps:   dmarcDeps{"dkim": []dkim.Result{{Status: dkim.StatusPass, Domain: "bank.example", Skipped: true}}},
			symbol: SymDMARCReject, force: engine.Reject, status: dmarc.StatusFail},
		{name: "quarantine not forced", cfg: def, from: "From: a@shop.example\r\n", deps: dmarcDeps{},
			symbol: SymDMARCQuarantine, options: []string{"shop.example : no SPF result, no DKIM signature", "quarantine"}, status: dmarc.StatusFail},
		{name: "p=none softfail", cfg: def, from: "From: a@news.blog.example\r\n", deps: dmarcDeps{},
			symbol: SymDMARCSoftFail, options: []string{"blog.example : no SPF result, no DKIM signature", "none"}, status: dmarc.StatusFail},
		{name: "pct sampled out", cfg: def, rand: 70, from: "From: a@half.example\r\n", deps: dmarcDeps{},
			symbol: SymDMARCQuarantine, status: dmarc.StatusFail},
		{name: "pct selected", cfg: def, rand: 10, from: "From: a@half.example\r\n", deps: dmarcDeps{},
			symbol: SymDMARCReject, force: engine.Reject, status: dmarc.StatusFail},
		{name: "no record", cfg: def, from: "From: a@nothing.example\r\n", deps: dmarcDeps{},
			symbol: SymDMARCNA, options: []string{"nothing.example"}, status: dmarc.StatusNone},
		{name: "several records", cfg: def, from: "From: a@multi.example\r\n", deps: dmarcDeps{},
			symbol: SymDMARCBadPolicy, options: []string{"multi.example : Multiple policies defined in DNS"}, status: dmarc.StatusNone},
		{name: "dns failure", cfg: def, from: "From: a@down.example\r\n", deps: dmarcDeps{},
			symbol: SymDMARCDNSFail, status: dmarc.StatusTempError},
		{name: "aligned temperror", cfg: def, from: "From: a@bank.example\r\n",
			deps:   dmarcDeps{"dkim": []dkim.Result{dkimRes(dkim.StatusTempError, "bank.example")}},
			symbol: SymDMARCDNSFail, status: dmarc.StatusTempError},
		{name: "bad policy", cfg: def, from: "From: a@bad.example\r\n", deps: dmarcDeps{},
			symbol: SymDMARCBadPolicy, status: dmarc.StatusPermError},
		{name: "no From", cfg: def, from: "To: a@b.example\r\n", deps: dmarcDeps{},
			symbol: SymDMARCNA, options: []string{"No From header"}, status: dmarc.StatusNone},
		{name: "unparsable From", cfg: def, from: "From: just a name\r\n", deps: dmarcDeps{},
			symbol: SymDMARCNA, options: []string{"Unparsable From header"}, status: dmarc.StatusNone},
		{name: "unparsable From, domain guessed", cfg: def, from: "From: \"info@bank.example\r\n", deps: dmarcDeps{},
			symbol: SymDMARCReject, options: []string{"bank.example : no SPF result, no DKIM signature", "reject", "Unparsable From header"},
			force: engine.Reject, status: dmarc.StatusFail},
		{name: "empty group From", cfg: def, from: "From: undisclosed-recipients:;\r\n", deps: dmarcDeps{},
			symbol: SymDMARCNA, options: []string{"No domain in From header"}, status: dmarc.StatusNone},
		// A second From cannot dodge the first domain's policy.
		{name: "duplicate From strictest", cfg: def, from: "From: a@blog.example\r\nFrom: b@bank.example\r\n",
			deps:   dmarcDeps{"spf": spfRes(spf.Pass, "blog.example")},
			symbol: SymDMARCReject, force: engine.Reject, status: dmarc.StatusFail},
		{name: "two authors strictest", cfg: def, from: "From: a@blog.example, b@bank.example\r\n",
			deps:   dmarcDeps{"spf": spfRes(spf.Pass, "blog.example")},
			symbol: SymDMARCReject, force: engine.Reject, status: dmarc.StatusFail},
		// ARC from a trusted sealer
		{name: "trusted ARC vouches", cfg: trusting, from: "From: info@bank.example\r\n",
			deps:   dmarcDeps{"spf": spfRes(spf.Pass, "lists.example.org"), "arc": arcChain(arc.Pass, []string{"lists.example.org"}, []string{listAAR})},
			symbol: SymDMARCReject, status: dmarc.StatusFail, arc: "lists.example.org"},
		{name: "ARC from untrusted sealer", cfg: trusting, from: "From: info@bank.example\r\n",
			deps:   dmarcDeps{"arc": arcChain(arc.Pass, []string{"other.example"}, []string{strings.Replace(listAAR, "lists.example.org", "other.example", 1)})},
			symbol: SymDMARCReject, force: engine.Reject, status: dmarc.StatusFail},
		{name: "untrusted sealer after trusted one", cfg: trusting, from: "From: info@bank.example\r\n",
			deps:   dmarcDeps{"arc": arcChain(arc.Pass, []string{"lists.example.org", "other.example"}, []string{listAAR, "other.example; dmarc=fail header.from=bank.example"})},
			symbol: SymDMARCReject, force: engine.Reject, status: dmarc.StatusFail},
		{name: "trusted sealer saw dmarc fail", cfg: trusting, from: "From: info@bank.example\r\n",
			deps:   dmarcDeps{"arc": arcChain(arc.Pass, []string{"lists.example.org"}, []string{"lists.example.org; dmarc=fail header.from=bank.example"})},
			symbol: SymDMARCReject, force: engine.Reject, status: dmarc.StatusFail},
		{name: "trusted sealer vouched for another domain", cfg: trusting, from: "From: info@bank.example\r\n",
			deps:   dmarcDeps{"arc": arcChain(arc.Pass, []string{"lists.example.org"}, []string{"lists.example.org; dmarc=pass header.from=evil.example"})},
			symbol: SymDMARCReject, force: engine.Reject, status: dmarc.StatusFail},
		{name: "broken chain", cfg: trusting, from: "From: info@bank.example\r\n",
			deps:   dmarcDeps{"arc": arcChain(arc.Fail, []string{"lists.example.org"}, []string{listAAR})},
			symbol: SymDMARCReject, force: engine.Reject, status: dmarc.StatusFail},
		{name: "two trusted sets, older vouches", cfg: trusting, from: "From: info@bank.example\r\n",
			deps:   dmarcDeps{"arc": arcChain(arc.Pass, []string{"lists.example.org", "lists.example.org"}, []string{listAAR, "lists.example.org; dmarc=fail header.from=bank.example"})},
			symbol: SymDMARCReject, status: dmarc.StatusFail, arc: "lists.example.org"},
		{name: "ARC ignored without trusted sealers", cfg: def, from: "From: info@bank.example\r\n",
			deps:   dmarcDeps{"arc": arcChain(arc.Pass, []string{"lists.example.org"}, []string{listAAR})},
			symbol: SymDMARCReject, force: engine.Reject, status: dmarc.StatusFail},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := newDMARC(t, tt.cfg)
			rnd := tt.rand
			c.eval.Rand = func(n int) int { return rnd % n }
			tx := &engine.Transaction{ClientIP: netip.MustParseAddr("192.0.2.1"), Message: msg(tt.from)}
			res := c.Run(context.Background(), tx, tt.deps)
			if len(res.Symbols) != 1 {
				t.Fatalf("symbols %+v, want one", res.Symbols)
			}
			s := res.Symbols[0]
			if s.Name != tt.symbol {
				t.Fatalf("symbol %s %q, want %s", s.Name, s.Options, tt.symbol)
			}
			if tt.options != nil && !slices.Equal(s.Options, tt.options) {
				t.Errorf("options %q, want %q", s.Options, tt.options)
			}
			if s.Force != tt.force {
				t.Errorf("force %v, want %v", s.Force, tt.force)
			}
			out, ok := res.Value.(*DMARCOutcome)
			if !ok {
				t.Fatalf("value %T", res.Value)
			}
			if s.Force == engine.Reject && (!strings.HasPrefix(s.Message, "5.7.1 ") || !strings.Contains(s.Message, "("+out.Result.FromDomain+")")) {
				t.Errorf("reject message %q", s.Message)
			}
			if out.Result.Status != tt.status {
				t.Errorf("status %s, want %s", out.Result.Status, tt.status)
			}
			if out.ARCOverride != tt.arc {
				t.Errorf("ARC override %q, want %q", out.ARCOverride, tt.arc)
			}
			if tt.arc != "" && !slices.Contains(s.Options, "arc:"+tt.arc) {
				t.Errorf("options %q lack the ARC override", s.Options)
			}
			if out.Enforced != (tt.force == engine.Reject) {
				t.Errorf("Enforced %v", out.Enforced)
			}
		})
	}
}

func TestDMARCCheckDetails(t *testing.T) {
	c := newDMARC(t, DefaultDMARCConfig())
	c.eval.Rand = func(int) int { return 99 }
	tx := &engine.Transaction{Message: msg("From: a@half.example\r\n")}
	res := c.Run(context.Background(), tx, dmarcDeps{})
	if s := res.Symbols[0]; !slices.Contains(s.Options, "sampled_out") || s.Options[1] != "reject" {
		t.Errorf("sampled out options %q", s.Options)
	}
	tx = &engine.Transaction{Message: msg("From: a@blog.example\r\nFrom: b@bank.example\r\n")}
	res = c.Run(context.Background(), tx, dmarcDeps{})
	out := res.Value.(*DMARCOutcome)
	if !errors.Is(out.FromProblem, message.ErrMultipleFrom) || len(out.All) != 2 || out.Result.FromDomain != "bank.example" {
		t.Errorf("outcome %+v", out)
	}
	if !slices.Contains(res.Symbols[0].Options, "Duplicate From header") {
		t.Errorf("options %q", res.Symbols[0].Options)
	}
	// nothing to do before DATA, or when disabled
	if r := c.Run(context.Background(), &engine.Transaction{}, dmarcDeps{}); len(r.Symbols) != 0 || r.Value != nil {
		t.Errorf("no message: %+v", r)
	}
	off := DefaultDMARCConfig()
	off.Enabled = false
	if r := newDMARC(t, off).Run(context.Background(), tx, dmarcDeps{}); len(r.Symbols) != 0 {
		t.Errorf("disabled: %+v", r)
	}
}

func TestDMARCCheckDefinition(t *testing.T) {
	c := newDMARC(t, DefaultDMARCConfig())
	if c.Name() != "dmarc" || c.Phase() != engine.PhaseData || !c.InboundOnly() {
		t.Errorf("name %q phase %v", c.Name(), c.Phase())
	}
	if !slices.Equal(c.After(), []string{"spf", "dkim"}) {
		t.Errorf("After = %v", c.After())
	}
	trusting := DefaultDMARCConfig()
	trusting.TrustedARCSealers = []string{"lists.example.org"}
	if !slices.Equal(newDMARC(t, trusting).After(), []string{"spf", "dkim", "arc"}) {
		t.Error("arc not a dependency with trusted sealers")
	}
	// rspamd's defaults (conf/scores.d/policies_group.conf).
	want := map[string]float64{
		SymDMARCAllow: -0.5, SymDMARCReject: 2.0, SymDMARCQuarantine: 1.5, SymDMARCSoftFail: 0.1,
		SymDMARCNA: 0, SymDMARCBadPolicy: 0, SymDMARCDNSFail: 0,
	}
	defs := c.Symbols()
	if len(defs) != len(want) {
		t.Fatalf("%d symbols, want %d", len(defs), len(want))
	}
	for _, d := range defs {
		if w, ok := want[d.Name]; !ok || w != d.Weight || d.Group != "dmarc" || d.Description == "" {
			t.Errorf("symbol %+v", d)
		}
	}
	if ts := c.TimeoutSymbol(); ts.Name != SymDMARCDNSFail {
		t.Errorf("timeout symbol %+v", ts)
	}
	bad := DefaultDMARCConfig()
	bad.RejectMessage = " "
	if _, err := NewDMARC(bad, dmarcMock()); err == nil {
		t.Error("empty reject message accepted")
	}
	bad = DefaultDMARCConfig()
	bad.TrustedARCSealers = []string{"[192.0.2.1]"}
	if _, err := NewDMARC(bad, dmarcMock()); err == nil || !strings.Contains(err.Error(), "trusted_arc_sealers[0]") {
		t.Errorf("bad sealer: %v", err)
	}
}
