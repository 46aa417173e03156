package checks

import (
	"context"
	"strings"

	"github.com/hamlet-mail/hamlet/dns"
	"github.com/hamlet-mail/hamlet/engine"
	"github.com/hamlet-mail/hamlet/spf"
)

// SPF symbols, with rspamd's names.
const (
	SymSPFAllow    = "R_SPF_ALLOW"
	SymSPFFail     = "R_SPF_FAIL"
	SymSPFSoftFail = "R_SPF_SOFTFAIL"
	SymSPFNeutral  = "R_SPF_NEUTRAL"
	SymSPFNA       = "R_SPF_NA"
	SymSPFDNSFail  = "R_SPF_DNSFAIL"
	SymSPFPermFail = "R_SPF_PERMFAIL"
)

// SPF is the check that evaluates the sender's SPF policy (RFC 7208) at
// MAIL FROM: the envelope sender's domain, or the HELO name for a null
// sender. It emits one of rspamd's R_SPF_* symbols and returns the
// *spf.Result as its value for DMARC and Authentication-Results.
//
// Options follow rspamd's: for a matched directive, the qualifier and
// mechanism ("+ip4:192.0.2.0/24", "-all", "+include:_spf.example.net"),
// then the domain; for none, temperror and permerror, the domain and the
// reason.
type SPF struct {
	checker spf.Checker
}

var (
	_ engine.Check           = (*SPF)(nil)
	_ engine.TimeoutSymboler = (*SPF)(nil)
	_ engine.InboundOnly     = (*SPF)(nil)
)

// NewSPF returns the SPF check using resolver for its lookups, with RFC
// 7208's default limits.
func NewSPF(resolver dns.Resolver) *SPF {
	return &SPF{checker: spf.Checker{Resolver: resolver}}
}

// Name implements engine.Check.
func (c *SPF) Name() string { return "spf" }

// Phase implements engine.Check: SPF needs the client address, the HELO
// name and MAIL FROM.
func (c *SPF) Phase() engine.Phase { return engine.PhaseMail }

// After implements engine.Check.
func (c *SPF) After() []string { return nil }

// MayForce implements engine.Forcer: SPF only scores (DMARC decides).
func (c *SPF) MayForce() bool { return false }

// InboundOnly implements engine.InboundOnly: like rspamd, SPF symbols are
// not scored for local networks and authenticated senders, whose own
// domain's policy need not list the submission path.
func (c *SPF) InboundOnly() bool { return true }

// Symbols implements engine.Check with rspamd's default weights.
func (c *SPF) Symbols() []engine.SymbolDef {
	return []engine.SymbolDef{
		{Name: SymSPFAllow, Weight: -0.2, Group: "spf", Description: "SPF verification allows sending"},
		{Name: SymSPFFail, Weight: 1.0, Group: "spf", Description: "SPF verification failed"},
		{Name: SymSPFSoftFail, Weight: 0.0, Group: "spf", Description: "SPF verification soft-failed"},
		{Name: SymSPFNeutral, Weight: 0.0, Group: "spf", Description: "SPF policy is neutral"},
		{Name: SymSPFNA, Weight: 0.0, Group: "spf", Description: "Missing SPF record"},
		{Name: SymSPFDNSFail, Weight: 0.0, Group: "spf", Description: "SPF DNS failure"},
		{Name: SymSPFPermFail, Weight: 0.0, Group: "spf", Description: "SPF record is malformed or persistent DNS error"},
	}
}

// TimeoutSymbol implements engine.TimeoutSymboler: a check the engine
// stopped waiting for is a DNS failure (RFC 7208 §2.6.6 temperror).
func (c *SPF) TimeoutSymbol() engine.Symbol {
	return engine.Symbol{Name: SymSPFDNSFail, Options: []string{"timeout"}}
}

// Run implements engine.Check. Without a valid client address there is
// nothing to check: no symbol and no value.
func (c *SPF) Run(ctx context.Context, tx *engine.Transaction, _ engine.Results) engine.Result {
	if !tx.ClientIP.IsValid() {
		return engine.Result{}
	}
	res := c.checker.Check(ctx, spf.Args{
		IP: tx.ClientIP, MailFrom: tx.MailFrom, Helo: tx.Helo, Receiver: tx.MTAName,
	})
	return engine.Result{Symbols: []engine.Symbol{spfSymbol(res)}, Value: res}
}

var spfSymbols = map[spf.Code]string{
	spf.Pass: SymSPFAllow, spf.Fail: SymSPFFail, spf.SoftFail: SymSPFSoftFail,
	spf.Neutral: SymSPFNeutral, spf.None: SymSPFNA, spf.TempError: SymSPFDNSFail,
	spf.PermError: SymSPFPermFail,
}

var spfQualifiers = map[spf.Code]string{spf.Pass: "+", spf.Fail: "-", spf.SoftFail: "~", spf.Neutral: "?"}

func spfSymbol(res *spf.Result) engine.Symbol {
	sym := engine.Symbol{Name: spfSymbols[res.Code]}
	var opts []string
	switch res.Code {
	case spf.Pass, spf.Fail, spf.SoftFail, spf.Neutral:
		m := res.Mechanism
		if m != "" && m != "default" && strings.IndexByte("+-~?", m[0]) < 0 {
			m = spfQualifiers[res.Code] + m
		}
		opts = append(opts, m, res.Domain)
	default:
		opts = append(opts, res.Domain, res.Problem)
	}
	for _, o := range opts {
		if o != "" {
			sym.Options = append(sym.Options, o)
		}
	}
	if res.Code == spf.Fail && res.Explanation != "" {
		// RFC 7208 §8.4: the explanation may be returned in the SMTP
		// rejection, should a policy reject on this symbol.
		sym.Message = res.Explanation
	}
	return sym
}
