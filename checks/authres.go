package checks

import (
	"context"
	"errors"
	"strings"

	"github.com/hamlet-mail/hamlet/arc"
	"github.com/hamlet-mail/hamlet/authres"
	"github.com/hamlet-mail/hamlet/dkim"
	"github.com/hamlet-mail/hamlet/engine"
	"github.com/hamlet-mail/hamlet/iprev"
	"github.com/hamlet-mail/hamlet/spf"
)

// AuthResConfig configures the Authentication-Results finisher.
type AuthResConfig struct {
	Enabled bool `toml:"enabled"`
	// AuthServID is our authserv-id (RFC 8601 §2.5); the configuration
	// defaults it to the host name.
	AuthServID string `toml:"authserv_id"`
	// TrustedIDs are further authserv-ids inside our trust boundary
	// (e.g. the other MX hosts of a cluster): incoming fields claiming
	// them are removed too.
	TrustedIDs []string `toml:"trusted_ids"`
	// Outbound adds the field to mail that is not inbound (local and
	// authenticated senders) too; forged fields are removed from all mail
	// regardless.
	Outbound bool `toml:"outbound"`
}

// DefaultAuthResConfig returns the defaults with authservID (the host
// name) as authserv-id.
func DefaultAuthResConfig(authservID string) AuthResConfig {
	return AuthResConfig{Enabled: true, AuthServID: authservID}
}

// Validate checks the section.
func (c *AuthResConfig) Validate() error {
	if c.Enabled && strings.TrimSpace(c.AuthServID) == "" {
		return errors.New("authentication_results: authserv_id must not be empty")
	}
	return nil
}

// AuthResults is the finisher that writes one Authentication-Results
// field (RFC 8601) with our authserv-id, carrying the iprev, spf, dkim,
// dmarc and arc results of the checks of those names, and removes the
// incoming fields that claim our authserv-id (RFC 8601 §5). Removals are
// listed in engine.Verdict.RemoveHeaders by position, highest first.
// Methods whose check did not run are left out.
type AuthResults struct {
	cfg AuthResConfig
}

var _ engine.Finisher = (*AuthResults)(nil)

// NewAuthResults returns the finisher, or an error for an invalid
// configuration.
func NewAuthResults(cfg AuthResConfig) (*AuthResults, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	return &AuthResults{cfg: cfg}, nil
}

// Name implements engine.Finisher.
func (f *AuthResults) Name() string { return "authentication_results" }

// Symbols implements engine.Finisher: it emits none.
func (f *AuthResults) Symbols() []engine.SymbolDef { return nil }

// Finish implements engine.Finisher.
func (f *AuthResults) Finish(_ context.Context, tx *engine.Transaction, deps engine.Results, v *engine.Verdict) error {
	if !f.cfg.Enabled || tx.Message == nil {
		return nil
	}
	ids := append([]string{f.cfg.AuthServID}, f.cfg.TrustedIDs...)
	for _, i := range authres.Own(tx.Message, ids...) {
		v.RemoveHeaders = append(v.RemoveHeaders, engine.HeaderRemoval{Name: authres.FieldName, Index: i})
	}
	if !tx.Inbound() && !f.cfg.Outbound {
		return nil
	}
	h := AuthResultsHeader(f.cfg.AuthServID, tx, deps)
	v.AddHeaders = append(v.AddHeaders, engine.Header{Name: authres.FieldName, Value: h.Fold()})
	return nil
}

// AuthResultsHeader builds the Authentication-Results header from the values of the
// finished checks: iprev (*iprev.Result), spf (*spf.Result), dkim
// ([]dkim.Result; "dkim=none" when the check ran and found no
// signature), dmarc (*DMARCOutcome) and arc (*arc.Result).
func AuthResultsHeader(authservID string, tx *engine.Transaction, deps engine.Results) authres.Header {
	h := authres.Header{AuthServID: authservID}
	if r, ok := engine.Value[*iprev.Result](deps, CheckIPRev); ok && r != nil {
		ip := ""
		if r.IP.IsValid() {
			ip = r.IP.String()
		}
		h.Results = append(h.Results, authres.IPRev(string(r.Status), ip, r.Name))
	}
	if r, ok := engine.Value[*spf.Result](deps, dmarcDepSPF); ok && r != nil {
		var res authres.Result
		if r.Identity == spf.IdentityHelo || r.MailFrom == "" {
			res = authres.SPF(string(r.Code), "", r.Helo)
		} else {
			res = authres.SPF(string(r.Code), r.MailFrom, "")
		}
		if r.Problem != "" && (r.Code == spf.TempError || r.Code == spf.PermError) {
			res.Reason = r.Problem
		}
		h.Results = append(h.Results, res)
	}
	if v, ran := deps.Get(dmarcDepDKIM); ran {
		rs, _ := v.([]dkim.Result)
		n := 0
		for _, r := range rs {
			if r.Skipped {
				continue
			}
			n++
			h.Results = append(h.Results, authres.DKIM(authres.DKIMInfo{
				Result: string(r.Status), Reason: r.Reason, Domain: r.Domain,
				Selector: r.Selector, Signature: r.HeaderB,
			}))
		}
		if n == 0 {
			h.Results = append(h.Results, authres.Result{Method: "dkim", Result: "none"})
		}
	}
	if o, ok := engine.Value[*DMARCOutcome](deps, CheckDMARC); ok && o != nil {
		r := o.Result
		res := authres.DMARC(string(r.Status), r.FromDomain, string(r.Policy), r.RecordDomain, string(r.Disposition))
		if o.ARCOverride != "" {
			res.Comment = strings.TrimSpace(res.Comment + " arc-override=" + o.ARCOverride)
		}
		h.Results = append(h.Results, res)
	}
	if r, ok := engine.Value[*arc.Result](deps, dmarcDepARC); ok && r != nil {
		ip := ""
		if tx.ClientIP.IsValid() {
			ip = tx.ClientIP.Unmap().String()
		}
		h.Results = append(h.Results, authres.ARC(string(r.Status), r.OldestPass, ip))
	}
	return h
}
