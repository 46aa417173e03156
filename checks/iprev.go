package checks

import (
	"context"
	"errors"
	"fmt"

	"github.com/hamlet-mail/hamlet/dns"
	"github.com/hamlet-mail/hamlet/engine"
	"github.com/hamlet-mail/hamlet/iprev"
)

// Reverse DNS symbols. RDNS_NONE, RDNS_DNSFAIL, RDNS_FCRDNS_FAIL and
// RDNS_FCRDNS_DNSFAIL are rspamd's names and weights (rspamd scores an
// unconfirmed name through HFILTER_HOSTNAME_UNKNOWN, 2.5, rather than
// through RDNS_FCRDNS_FAIL). rspamd has no pass symbol; RDNS_FCRDNS_PASS
// (weight 0) records the confirmed name in the trail.
const (
	SymRDNSNone          = "RDNS_NONE"
	SymRDNSDNSFail       = "RDNS_DNSFAIL"
	SymRDNSFCrDNSFail    = "RDNS_FCRDNS_FAIL"
	SymRDNSFCrDNSDNSFail = "RDNS_FCRDNS_DNSFAIL"
	SymRDNSFCrDNSPass    = "RDNS_FCRDNS_PASS"
)

// RDNSConfig is the [rdns] section.
type RDNSConfig struct {
	Enabled bool `toml:"enabled"`
	// TrustMTA uses what the front end reports (OpenSMTPD's rdns/fcrdns,
	// Postfix's client_name, rspamd's Hostname header) instead of asking
	// DNS again. Without such a report the check asks DNS.
	TrustMTA bool `toml:"trust_mta"`
	// RejectNoRDNS rejects clients without a PTR record, at connect.
	RejectNoRDNS bool `toml:"reject_no_rdns"`
	// RejectFCrDNSFail rejects clients whose PTR names do not resolve
	// back to them, at connect.
	RejectFCrDNSFail bool `toml:"reject_fcrdns_fail"`
	// Reply texts for the two rejections.
	NoRDNSMessage     string `toml:"no_rdns_message"`
	FCrDNSFailMessage string `toml:"fcrdns_fail_message"`
}

// DefaultRDNSConfig: checked, trusting the MTA, rejecting nothing (many
// small legitimate hosts lack a PTR record).
func DefaultRDNSConfig() RDNSConfig {
	return RDNSConfig{
		Enabled:  true,
		TrustMTA: true,
		// RFC 7372 §3.3: X.7.25 "Reverse DNS validation failed".
		NoRDNSMessage:     "5.7.25 Client host rejected: cannot find your reverse hostname",
		FCrDNSFailMessage: "5.7.25 Client host rejected: your reverse hostname does not resolve to your address",
	}
}

// Validate checks the section.
func (c *RDNSConfig) Validate() error {
	if c.RejectNoRDNS && c.NoRDNSMessage == "" {
		return errors.New("rdns: no_rdns_message must not be empty when reject_no_rdns is on")
	}
	if c.RejectFCrDNSFail && c.FCrDNSFailMessage == "" {
		return errors.New("rdns: fcrdns_fail_message must not be empty when reject_fcrdns_fail is on")
	}
	return nil
}

// IPRev is the connection check for the client's reverse DNS (RFC 8601 §3
// iprev). Its value is an *iprev.Result, used by hfilter, the DNS lists'
// rdns source and Authentication-Results.
type IPRev struct {
	cfg RDNSConfig
	r   dns.Resolver
}

// CheckIPRev is the name of the IPRev check.
const CheckIPRev = "iprev"

var (
	_ engine.Check           = (*IPRev)(nil)
	_ engine.TimeoutSymboler = (*IPRev)(nil)
	_ engine.InboundOnly     = (*IPRev)(nil)
)

// NewIPRev returns the check, or an error for an invalid configuration.
func NewIPRev(cfg RDNSConfig, r dns.Resolver) (*IPRev, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	return &IPRev{cfg: cfg, r: r}, nil
}

// Name implements engine.Check.
func (c *IPRev) Name() string { return CheckIPRev }

// MayForce implements engine.Forcer: only with reject_no_rdns or
// reject_fcrdns_fail.
func (c *IPRev) MayForce() bool { return c.cfg.RejectNoRDNS || c.cfg.RejectFCrDNSFail }

// Phase implements engine.Check: only the client address is needed.
func (c *IPRev) Phase() engine.Phase { return engine.PhaseConnect }

// After implements engine.Check.
func (c *IPRev) After() []string { return nil }

// InboundOnly implements engine.InboundOnly.
func (c *IPRev) InboundOnly() bool { return true }

// TimeoutSymbol implements engine.TimeoutSymboler: RFC 8601 §3
// temperror, which never rejects.
func (c *IPRev) TimeoutSymbol() engine.Symbol {
	return engine.Symbol{Name: SymRDNSDNSFail, Options: []string{"timeout"}}
}

// Symbols implements engine.Check.
func (c *IPRev) Symbols() []engine.SymbolDef {
	return []engine.SymbolDef{
		{Name: SymRDNSNone, Weight: 2.0, Group: "hfilter", Description: "Cannot resolve reverse DNS for sender's IP"},
		{Name: SymRDNSDNSFail, Weight: 0.0, Group: "hfilter", Description: "PTR verification DNS error"},
		{Name: SymRDNSFCrDNSFail, Weight: 0.0, Group: "hfilter", Description: "PTR name does not resolve back to the sender's IP"},
		{Name: SymRDNSFCrDNSDNSFail, Weight: 0.0, Group: "hfilter", Description: "FCrDNS verification DNS error"},
		{Name: SymRDNSFCrDNSPass, Weight: 0.0, Group: "hfilter", Description: "PTR name resolves back to the sender's IP"},
	}
}

// Run implements engine.Check.
func (c *IPRev) Run(ctx context.Context, tx *engine.Transaction, _ engine.Results) engine.Result {
	if !c.cfg.Enabled || !tx.Inbound() || !tx.ClientIP.IsValid() {
		return engine.Result{}
	}
	var res iprev.Result
	if c.cfg.TrustMTA && tx.RDNS != engine.FCrDNSUnknown {
		res = fromMTA(tx)
	} else {
		res = iprev.Verify(ctx, c.r, tx.ClientIP)
	}
	return engine.Result{Symbols: []engine.Symbol{c.symbol(res)}, Value: &res}
}

// fromMTA turns what the front end reported into an iprev result.
func fromMTA(tx *engine.Transaction) iprev.Result {
	res := iprev.Result{IP: tx.ClientIP.Unmap()}
	ptr := dns.Normalize(tx.ClientPTR)
	if ptr != "" && ptr != "unknown" {
		res.Names = []string{ptr}
	}
	switch tx.RDNS {
	case engine.FCrDNSPass:
		res.Status, res.Name = iprev.Pass, ptr
	case engine.FCrDNSFail:
		res.Status = iprev.Fail
		res.Err = errors.New("iprev: MTA reports the PTR name does not resolve back")
	case engine.FCrDNSNone:
		res.Status = iprev.PermError
		res.Names = nil
		res.Err = errors.New("iprev: MTA reports no PTR record")
	default:
		res.Status, res.PTRFailed = iprev.TempError, true
		res.Err = errors.New("iprev: MTA reports a temporary DNS failure")
	}
	return res
}

func (c *IPRev) symbol(res iprev.Result) engine.Symbol {
	ip := res.IP.String()
	switch res.Status {
	case iprev.Pass:
		return engine.Symbol{Name: SymRDNSFCrDNSPass, Options: []string{res.Name}}
	case iprev.Fail:
		s := engine.Symbol{Name: SymRDNSFCrDNSFail, Options: append([]string{ip}, firstN(res.Names, 3)...)}
		if c.cfg.RejectFCrDNSFail {
			s.Force, s.Message = engine.Reject, c.cfg.FCrDNSFailMessage
		}
		return s
	case iprev.PermError:
		s := engine.Symbol{Name: SymRDNSNone, Options: []string{ip}}
		if c.cfg.RejectNoRDNS {
			s.Force, s.Message = engine.Reject, c.cfg.NoRDNSMessage
		}
		return s
	default:
		name := SymRDNSFCrDNSDNSFail
		if res.PTRFailed {
			name = SymRDNSDNSFail
		}
		opts := []string{ip}
		if k := dns.KindOf(res.Err); k != 0 {
			opts = append(opts, k.String())
		}
		return engine.Symbol{Name: name, Options: opts}
	}
}

func firstN(s []string, n int) []string {
	if len(s) > n {
		return append(append([]string(nil), s[:n]...), fmt.Sprintf("+%d", len(s)-n))
	}
	return s
}

// rdnsState returns what is known of the client's reverse DNS: the iprev
// check's result when it ran, else the front end's report. known is false
// when neither says anything.
func rdnsState(tx *engine.Transaction, deps engine.Results) (res iprev.Result, known bool) {
	if r, ok := engine.Value[*iprev.Result](deps, CheckIPRev); ok && r != nil {
		return *r, true
	}
	if tx.RDNS != engine.FCrDNSUnknown {
		return fromMTA(tx), true
	}
	return iprev.Result{}, false
}
