package checks

import (
	"context"

	"github.com/hamlet-mail/hamlet/dkim"
	"github.com/hamlet-mail/hamlet/dns"
	"github.com/hamlet-mail/hamlet/engine"
)

// DKIM symbols, with rspamd's names.
const (
	SymDKIMAllow    = "R_DKIM_ALLOW"
	SymDKIMReject   = "R_DKIM_REJECT"
	SymDKIMTempFail = "R_DKIM_TEMPFAIL"
	SymDKIMPermFail = "R_DKIM_PERMFAIL"
	SymDKIMNA       = "R_DKIM_NA"
)

// DKIM is the data-phase check that verifies the message's DKIM
// signatures (RFC 6376, RFC 8463, RFC 8301) and returns the []dkim.Result
// as its value, one per signature, for DMARC and Authentication-Results.
//
// Symbols follow rspamd's dkim module: each signature adds its
// "domain:s=selector" to the options of the symbol for its result —
// R_DKIM_ALLOW (pass), R_DKIM_REJECT (fail), R_DKIM_TEMPFAIL (temperror),
// R_DKIM_PERMFAIL (permerror, and "policy": rsa-sha1 or a short key, RFC
// 8301) — so a message with a good and a bad signature gets both.
// R_DKIM_NA: no signature. Signatures beyond the verification bound add
// nothing. A failing signature whose key is in testing mode (t=y) gives
// R_DKIM_PERMFAIL, not R_DKIM_REJECT (RFC 6376 §3.6.1).
type DKIM struct {
	r    dns.Resolver
	opts dkim.Options
}

var (
	_ engine.Check           = (*DKIM)(nil)
	_ engine.TimeoutSymboler = (*DKIM)(nil)
	_ engine.InboundOnly     = (*DKIM)(nil)
)

// NewDKIM returns the DKIM check using r for key lookups.
func NewDKIM(r dns.Resolver) *DKIM { return &DKIM{r: r} }

// Name implements engine.Check.
func (c *DKIM) Name() string { return "dkim" }

// MayForce implements engine.Forcer: DKIM only scores (DMARC decides).
func (c *DKIM) MayForce() bool { return false }

// Phase implements engine.Check: DKIM needs the message.
func (c *DKIM) Phase() engine.Phase { return engine.PhaseData }

// After implements engine.Check.
func (c *DKIM) After() []string { return nil }

// InboundOnly implements engine.InboundOnly: like rspamd (check_local,
// check_authed off), signatures of the host's own users are not scored.
func (c *DKIM) InboundOnly() bool { return true }

// TimeoutSymbol implements engine.TimeoutSymboler: key lookups that did
// not answer in time are a temporary failure (RFC 6376 §6.1.2).
func (c *DKIM) TimeoutSymbol() engine.Symbol {
	return engine.Symbol{Name: SymDKIMTempFail, Options: []string{"timeout"}}
}

// Symbols implements engine.Check with rspamd's default weights.
func (c *DKIM) Symbols() []engine.SymbolDef {
	return []engine.SymbolDef{
		{Name: SymDKIMAllow, Weight: -0.2, Group: "dkim", Description: "DKIM verification succeed"},
		{Name: SymDKIMReject, Weight: 1.0, Group: "dkim", Description: "DKIM verification failed"},
		{Name: SymDKIMTempFail, Weight: 0.0, Group: "dkim", Description: "DKIM verification soft-failed"},
		{Name: SymDKIMPermFail, Weight: 0.0, Group: "dkim", Description: "DKIM verification hard-failed (invalid)"},
		{Name: SymDKIMNA, Weight: 0.0, Group: "dkim", Description: "Missing DKIM signature"},
	}
}

// Run implements engine.Check.
func (c *DKIM) Run(ctx context.Context, tx *engine.Transaction, _ engine.Results) engine.Result {
	if tx.Message == nil {
		return engine.Result{}
	}
	opts := c.opts
	results := dkim.Verify(ctx, c.r, tx.Message, &opts)
	return engine.Result{Symbols: dkimSymbols(results), Value: results}
}

var dkimSymbolFor = map[dkim.Status]string{
	dkim.StatusPass:      SymDKIMAllow,
	dkim.StatusFail:      SymDKIMReject,
	dkim.StatusTempError: SymDKIMTempFail,
	dkim.StatusPermError: SymDKIMPermFail,
	dkim.StatusPolicy:    SymDKIMPermFail,
	dkim.StatusNeutral:   SymDKIMPermFail,
}

// dkimSymbols groups the results by symbol, in the order first seen.
func dkimSymbols(results []dkim.Result) []engine.Symbol {
	var syms []engine.Symbol
	index := map[string]int{}
	for _, r := range results {
		if r.Skipped {
			continue
		}
		name := dkimSymbolFor[r.Status]
		if name == "" {
			continue
		}
		if name == SymDKIMReject && r.Testing {
			// RFC 6376 §3.6.1 t=y: "Verifiers MUST NOT treat messages
			// from Signers in testing mode differently from unsigned
			// email, even should the signature fail to verify": no
			// R_DKIM_REJECT score, the unscored PERMFAIL instead.
			name = SymDKIMPermFail
		}
		i, ok := index[name]
		if !ok {
			i = len(syms)
			index[name] = i
			syms = append(syms, engine.Symbol{Name: name})
		}
		opt := r.Domain + ":s=" + r.Selector
		if r.Domain == "" {
			opt = "unknown"
		}
		syms[i].Options = append(syms[i].Options, opt)
	}
	if len(syms) == 0 {
		return []engine.Symbol{{Name: SymDKIMNA}}
	}
	return syms
}
