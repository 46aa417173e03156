package checks

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/hamlet-mail/hamlet/arc"
	"github.com/hamlet-mail/hamlet/authres"
	"github.com/hamlet-mail/hamlet/dkim"
	"github.com/hamlet-mail/hamlet/dmarc"
	"github.com/hamlet-mail/hamlet/dns"
	"github.com/hamlet-mail/hamlet/engine"
	"github.com/hamlet-mail/hamlet/message"
	"github.com/hamlet-mail/hamlet/spf"
)

// DMARC symbols, with rspamd's names.
const (
	SymDMARCAllow      = "DMARC_POLICY_ALLOW"
	SymDMARCReject     = "DMARC_POLICY_REJECT"
	SymDMARCQuarantine = "DMARC_POLICY_QUARANTINE"
	SymDMARCSoftFail   = "DMARC_POLICY_SOFTFAIL"
	SymDMARCNA         = "DMARC_NA"
	SymDMARCBadPolicy  = "DMARC_BAD_POLICY"
	SymDMARCDNSFail    = "DMARC_DNSFAIL"
)

// CheckDMARC is the name of the DMARC check.
const CheckDMARC = "dmarc"

// Names of the checks DMARC and Authentication-Results read (kept
// unexported here so that the files of those checks can own the exported
// names).
const (
	dmarcDepSPF  = "spf"
	dmarcDepDKIM = "dkim"
	dmarcDepARC  = "arc"
)

// DMARCConfig is the [dmarc] section.
type DMARCConfig struct {
	Enabled bool `toml:"enabled"`
	// Reject makes a failing message whose domain asks p=reject (after
	// pct sampling) be rejected, whatever its score. Off, the failure
	// only scores (DMARC_POLICY_REJECT).
	Reject bool `toml:"reject"`
	// RejectMessage is the SMTP reply text of that rejection; the From
	// domain is appended in parentheses.
	RejectMessage string `toml:"reject_message"`
	// TrustedARCSealers are the ARC sealer domains (ARC-Seal d=) whose
	// word is taken, RFC 8617 §7.2: a message failing DMARC is not
	// rejected when a valid chain's newest sets come from such sealers and
	// one of their ARC-Authentication-Results says dmarc=pass for the
	// same From domain (a mailing list or forwarder that saw the original
	// authentication). Needs the "arc" check.
	TrustedARCSealers []string `toml:"trusted_arc_sealers"`
}

// DefaultDMARCConfig: evaluated, p=reject enforced, no trusted sealers.
func DefaultDMARCConfig() DMARCConfig {
	return DMARCConfig{
		Enabled: true,
		Reject:  true,
		// RFC 7372 §3.2: X.7.1 "Delivery not authorized, message
		// refused"; the wording is the one large receivers use.
		RejectMessage: "5.7.1 Unauthenticated email is not accepted due to the sender domain's DMARC policy",
	}
}

// Validate checks the section.
func (c *DMARCConfig) Validate() error {
	if c.Reject && strings.TrimSpace(c.RejectMessage) == "" {
		return errors.New("dmarc: reject_message must not be empty when reject is on")
	}
	for i, s := range c.TrustedARCSealers {
		d, err := message.NormalizeDomain(s)
		if err != nil {
			return fmt.Errorf("dmarc: trusted_arc_sealers[%d] %q: %w", i, s, err)
		}
		c.TrustedARCSealers[i] = d
	}
	return nil
}

// DMARCOutcome is the DMARC check's value, for Authentication-Results,
// reports and the UI.
type DMARCOutcome struct {
	// Result is the strictest result over the author domains
	// (dmarc.Strictest); its Status is none when the From field gave no
	// usable domain.
	Result dmarc.Result
	// All holds one result per author domain, in From order.
	All []dmarc.Result
	// FromProblem is message.FromDomains's problem (several From fields,
	// several authors, unparsable From…), nil normally.
	FromProblem error
	// ARCOverride names the trusted sealer whose ARC result kept a
	// p=reject failure from being rejected ("" when none did).
	ARCOverride string
	// Enforced reports that the check forced a rejection.
	Enforced bool
}

// DMARC is the data-phase check that applies the From domain's DMARC
// policy (RFC 7489, RFC 9989) to the SPF and DKIM results of the "spf" and
// "dkim" checks. Symbols and options follow rspamd's dmarc module:
//
//   - DMARC_POLICY_ALLOW [record domain, policy]
//   - DMARC_POLICY_REJECT / _QUARANTINE / _SOFTFAIL
//     ["<record domain> : <reasons>", policy, and "sampled_out" when pct
//     or t=y lowered the disposition]
//   - DMARC_NA [why]: no From, no usable domain, no record
//   - DMARC_DNSFAIL ["<domain> : <reason>"]: temperror
//   - DMARC_BAD_POLICY ["<domain> : <reason>"]: permerror, and several
//     records (whose result is none)
//
// Several From fields, or several authors in one, are all evaluated and
// the strictest result kept (RFC 7489 §6.6.1), so that adding a second
// From cannot dodge a domain's policy. Whether a failing p=reject rejects
// is configuration (DMARCConfig.Reject, TrustedARCSealers), not library.
type DMARC struct {
	cfg     DMARCConfig
	r       dns.Resolver
	eval    dmarc.Evaluator
	trusted map[string]bool
}

var (
	_ engine.Check           = (*DMARC)(nil)
	_ engine.TimeoutSymboler = (*DMARC)(nil)
	_ engine.InboundOnly     = (*DMARC)(nil)
)

// NewDMARC returns the check, or an error for an invalid configuration.
func NewDMARC(cfg DMARCConfig, r dns.Resolver) (*DMARC, error) {
	cfg.TrustedARCSealers = append([]string(nil), cfg.TrustedARCSealers...)
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	c := &DMARC{cfg: cfg, r: r, trusted: map[string]bool{}}
	for _, s := range cfg.TrustedARCSealers {
		c.trusted[s] = true
	}
	return c, nil
}

// Name implements engine.Check.
func (c *DMARC) Name() string { return CheckDMARC }

// Phase implements engine.Check: DMARC needs the From field.
func (c *DMARC) Phase() engine.Phase { return engine.PhaseData }

// After implements engine.Check: spf and dkim, and arc when trusted
// sealers are configured.
func (c *DMARC) After() []string {
	if len(c.trusted) > 0 {
		return []string{dmarcDepSPF, dmarcDepDKIM, dmarcDepARC}
	}
	return []string{dmarcDepSPF, dmarcDepDKIM}
}

// InboundOnly implements engine.InboundOnly: like rspamd, DMARC is not
// scored for local networks and authenticated senders.
func (c *DMARC) InboundOnly() bool { return true }

// TimeoutSymbol implements engine.TimeoutSymboler.
func (c *DMARC) TimeoutSymbol() engine.Symbol {
	return engine.Symbol{Name: SymDMARCDNSFail, Options: []string{"timeout"}}
}

// Symbols implements engine.Check with rspamd's default weights
// (conf/scores.d/policies_group.conf; DMARC_BAD_POLICY and DMARC_DNSFAIL
// have no score there, hence 0).
func (c *DMARC) Symbols() []engine.SymbolDef {
	return []engine.SymbolDef{
		{Name: SymDMARCAllow, Weight: -0.5, Group: "dmarc", Description: "DMARC permit policy"},
		{Name: SymDMARCReject, Weight: 2.0, Group: "dmarc", Description: "DMARC reject policy"},
		{Name: SymDMARCQuarantine, Weight: 1.5, Group: "dmarc", Description: "DMARC quarantine policy"},
		{Name: SymDMARCSoftFail, Weight: 0.1, Group: "dmarc", Description: "DMARC failed"},
		{Name: SymDMARCNA, Weight: 0.0, Group: "dmarc", Description: "No DMARC record"},
		{Name: SymDMARCBadPolicy, Weight: 0.0, Group: "dmarc", Description: "DMARC policy was invalid or multiple policies found in DNS"},
		{Name: SymDMARCDNSFail, Weight: 0.0, Group: "dmarc", Description: "DMARC DNS failure"},
	}
}

// dmarcInput collects the SPF and DKIM outcomes of the finished checks.
func dmarcInput(deps engine.Results) dmarc.Input {
	var in dmarc.Input
	if r, ok := engine.Value[*spf.Result](deps, dmarcDepSPF); ok && r != nil {
		in.SPF = dmarc.SPFInput{Domain: r.Domain, Result: string(r.Code)}
	}
	if rs, ok := engine.Value[[]dkim.Result](deps, dmarcDepDKIM); ok {
		for _, r := range rs {
			if r.Skipped {
				continue
			}
			in.DKIM = append(in.DKIM, dmarc.DKIMInput{Domain: r.Domain, Selector: r.Selector, Result: string(r.Status)})
		}
	}
	return in
}

// Run implements engine.Check.
func (c *DMARC) Run(ctx context.Context, tx *engine.Transaction, deps engine.Results) engine.Result {
	if !c.cfg.Enabled || tx.Message == nil {
		return engine.Result{}
	}
	out := &DMARCOutcome{}
	domains, problem := message.FromDomains(tx.Message)
	out.FromProblem = problem
	if len(domains) == 0 {
		why := "No domain in From header"
		switch {
		case errors.Is(problem, message.ErrNoFrom):
			why = "No From header"
		case errors.Is(problem, message.ErrSyntax):
			why = "Unparsable From header"
		}
		out.Result = dmarc.Result{Status: dmarc.StatusNone, Err: problem, Reasons: []string{why}}
		return engine.Result{Symbols: []engine.Symbol{{Name: SymDMARCNA, Options: []string{why}}}, Value: out}
	}
	in := dmarcInput(deps)
	for _, d := range domains {
		in.FromDomain = d
		out.All = append(out.All, c.eval.Evaluate(ctx, c.r, in))
	}
	out.Result = dmarc.Strictest(out.All...)
	sym := c.symbol(out, tx, deps)
	if problem != nil {
		sym.Options = append(sym.Options, fromProblemOption(problem))
	}
	return engine.Result{Symbols: []engine.Symbol{sym}, Value: out}
}

func fromProblemOption(p error) string {
	switch {
	case errors.Is(p, message.ErrMultipleFrom):
		return "Duplicate From header"
	case errors.Is(p, message.ErrMultipleAuthors):
		return "Multiple From addresses"
	case errors.Is(p, message.ErrSyntax):
		return "Unparsable From header"
	}
	return "From header problem"
}

func (c *DMARC) symbol(out *DMARCOutcome, tx *engine.Transaction, deps engine.Results) engine.Symbol {
	res := out.Result
	dom := res.RecordDomain
	if dom == "" {
		dom = res.FromDomain
	}
	withReason := dom + " : " + strings.Join(res.Reasons, ", ")
	switch res.Status {
	case dmarc.StatusPass:
		return engine.Symbol{Name: SymDMARCAllow, Options: []string{dom, string(res.Policy)}}
	case dmarc.StatusNone:
		if errors.Is(res.Err, dmarc.ErrMultipleRecords) {
			// rspamd reports this as a bad policy; the result stays
			// "none" (RFC 7489 §6.6.3 step 6).
			return engine.Symbol{Name: SymDMARCBadPolicy, Options: []string{dom + " : Multiple policies defined in DNS"}}
		}
		return engine.Symbol{Name: SymDMARCNA, Options: []string{dom}}
	case dmarc.StatusTempError:
		return engine.Symbol{Name: SymDMARCDNSFail, Options: []string{withReason}}
	case dmarc.StatusPermError:
		return engine.Symbol{Name: SymDMARCBadPolicy, Options: []string{withReason}}
	}
	name := SymDMARCSoftFail
	switch res.Disposition {
	case dmarc.PolicyReject:
		name = SymDMARCReject
	case dmarc.PolicyQuarantine:
		name = SymDMARCQuarantine
	}
	sym := engine.Symbol{Name: name, Options: []string{withReason, string(res.Policy)}}
	if res.SampledOut {
		sym.Options = append(sym.Options, "sampled_out")
	}
	if res.Disposition != dmarc.PolicyReject || !c.cfg.Reject {
		return sym
	}
	if sealer := c.arcVouches(res.FromDomain, deps); sealer != "" {
		// RFC 8617 §7.2, RFC 7489 §6.7: a local policy override for a
		// trusted intermediary.
		out.ARCOverride = sealer
		sym.Options = append(sym.Options, "arc:"+sealer)
		return sym
	}
	out.Enforced = true
	sym.Force = engine.Reject
	sym.Message = c.cfg.RejectMessage + " (" + res.FromDomain + ")"
	return sym
}

// arcVouches returns the trusted sealer whose ARC-Authentication-Results
// say dmarc=pass for from, or "". Only a chain that validated counts, and
// only the newest sets, as long as each of them is from a trusted sealer:
// a set added after an untrusted hop could describe a message that hop
// changed.
func (c *DMARC) arcVouches(from string, deps engine.Results) string {
	if len(c.trusted) == 0 {
		return ""
	}
	res, ok := engine.Value[*arc.Result](deps, dmarcDepARC)
	if !ok || res == nil || res.Status != arc.Pass {
		return ""
	}
	for i := res.Instances(); i >= 1; i-- {
		sealer, _ := res.Sealer(i)
		sealer = strings.ToLower(strings.TrimSuffix(sealer, "."))
		if !c.trusted[sealer] {
			return ""
		}
		h, err := authres.Parse(res.Sets[i-1].AuthResults)
		if err != nil && h.AuthServID == "" {
			continue
		}
		for _, r := range h.Results {
			if !strings.EqualFold(r.Method, "dmarc") || !strings.EqualFold(r.Result, "pass") {
				continue
			}
			hf, err := message.NormalizeDomain(r.Prop("header", "from"))
			if err == nil && hf == from {
				return sealer
			}
		}
	}
	return ""
}
