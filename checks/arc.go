package checks

import (
	"context"
	"strconv"

	"github.com/hamlet-mail/hamlet/arc"
	"github.com/hamlet-mail/hamlet/dns"
	"github.com/hamlet-mail/hamlet/engine"
)

// ARC symbols, with rspamd's names.
const (
	SymARCAllow   = "ARC_ALLOW"
	SymARCReject  = "ARC_REJECT"
	SymARCInvalid = "ARC_INVALID"
	SymARCDNSFail = "ARC_DNSFAIL"
	SymARCNA      = "ARC_NA"
)

// ARC is the data-phase check that validates the message's Authenticated
// Received Chain (RFC 8617 §5.2) and returns the *arc.Result as its value,
// for DMARC's trusted-sealer override and Authentication-Results.
//
// Symbols: ARC_ALLOW (cv=pass; option "sealer:s=selector:i=N" of the
// newest seal, as rspamd writes it), ARC_REJECT (a signature or key did not
// verify, or the newest seal says cv=fail), ARC_INVALID (broken structure:
// missing, duplicated or malformed ARC fields), ARC_DNSFAIL (a key lookup
// failed temporarily), ARC_NA (no ARC sets).
type ARC struct {
	r dns.Resolver
}

var (
	_ engine.Check           = (*ARC)(nil)
	_ engine.TimeoutSymboler = (*ARC)(nil)
	_ engine.InboundOnly     = (*ARC)(nil)
)

// NewARC returns the ARC check using r for key lookups.
func NewARC(r dns.Resolver) *ARC { return &ARC{r: r} }

// Name implements engine.Check.
func (c *ARC) Name() string { return "arc" }

// MayForce implements engine.Forcer: ARC only scores.
func (c *ARC) MayForce() bool { return false }

// Phase implements engine.Check: ARC needs the message.
func (c *ARC) Phase() engine.Phase { return engine.PhaseData }

// After implements engine.Check.
func (c *ARC) After() []string { return nil }

// InboundOnly implements engine.InboundOnly: the chain only matters for
// mail arriving from outside (rspamd's arc module skips authenticated and
// local senders too).
func (c *ARC) InboundOnly() bool { return true }

// TimeoutSymbol implements engine.TimeoutSymboler.
func (c *ARC) TimeoutSymbol() engine.Symbol {
	return engine.Symbol{Name: SymARCDNSFail, Options: []string{"timeout"}}
}

// Symbols implements engine.Check with rspamd's default weights.
func (c *ARC) Symbols() []engine.SymbolDef {
	return []engine.SymbolDef{
		{Name: SymARCAllow, Weight: -1.0, Group: "arc", Description: "ARC checks success"},
		{Name: SymARCReject, Weight: 1.0, Group: "arc", Description: "ARC checks failed"},
		{Name: SymARCInvalid, Weight: 0.5, Group: "arc", Description: "ARC structure invalid"},
		{Name: SymARCDNSFail, Weight: 0.0, Group: "arc", Description: "ARC DNS error"},
		{Name: SymARCNA, Weight: 0.0, Group: "arc", Description: "ARC signature absent"},
	}
}

// Run implements engine.Check.
func (c *ARC) Run(ctx context.Context, tx *engine.Transaction, _ engine.Results) engine.Result {
	if tx.Message == nil {
		return engine.Result{}
	}
	res := arc.Validate(ctx, c.r, tx.Message)
	return engine.Result{Symbols: []engine.Symbol{arcSymbol(res)}, Value: res}
}

func arcSymbol(res *arc.Result) engine.Symbol {
	switch {
	case res.Status == arc.None:
		return engine.Symbol{Name: SymARCNA}
	case res.Status == arc.Pass:
		n := res.Instances()
		d, s := res.Sealer(n)
		return engine.Symbol{Name: SymARCAllow, Options: []string{d + ":s=" + s + ":i=" + strconv.Itoa(n)}}
	case res.Failure == arc.FailDNS:
		return engine.Symbol{Name: SymARCDNSFail, Options: []string{res.Reason}}
	case res.Failure == arc.FailStructure:
		return engine.Symbol{Name: SymARCInvalid, Options: []string{res.Reason}}
	}
	return engine.Symbol{Name: SymARCReject, Options: []string{res.Reason}}
}
