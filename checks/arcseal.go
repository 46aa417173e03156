package checks

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"

	"github.com/hamlet-mail/hamlet/arc"
	"github.com/hamlet-mail/hamlet/dkimkeys"
	"github.com/hamlet-mail/hamlet/engine"
)

// ARCSealConfig is the [arc] section: sealing of inbound mail by hosts
// that forward it or expand lists (RFC 8617 §5.1), off by default.
type ARCSealConfig struct {
	// Seal turns sealing on.
	Seal bool `toml:"seal"`
	// Domain and Selector are d= and s= of the seal; the key's public
	// half is published at Selector._domainkey.Domain as for DKIM.
	Domain   string `toml:"domain"`
	Selector string `toml:"selector"`
	// Key is the private key file (PEM; mode 0600, else refused), RSA or
	// Ed25519.
	Key string `toml:"key"`
}

// Validate checks the section.
func (c *ARCSealConfig) Validate() error {
	if !c.Seal {
		return nil
	}
	switch {
	case strings.TrimSpace(c.Domain) == "":
		return errors.New("domain: must be set when seal is on")
	case strings.TrimSpace(c.Selector) == "":
		return errors.New("selector: must be set when seal is on")
	case strings.TrimSpace(c.Key) == "":
		return errors.New("key: must be set when seal is on")
	}
	return nil
}

// Symbols of the ARC sealer.
const SymARCSigned = "ARC_SIGNED"

// ARCSeal is the finisher that adds the next ARC set (ARC-Seal,
// ARC-Message-Signature, ARC-Authentication-Results) to inbound mail
// that is delivered, after our own Authentication-Results: the AAR
// carries the same results, so that the next hop can trust what we saw
// (RFC 8617 §4.1.1, §5.1). A chain that already failed is not continued
// (§5.1.2).
type ARCSeal struct {
	cfg        ARCSealConfig
	authservID string
	opts       arc.SealOptions
	log        *slog.Logger
}

var _ engine.Finisher = (*ARCSeal)(nil)

// NewARCSeal loads the key; authservID is the AAR's authserv-id.
func NewARCSeal(cfg ARCSealConfig, authservID string, log *slog.Logger) (*ARCSeal, error) {
	if err := cfg.Validate(); err != nil {
		return nil, fmt.Errorf("arc: %w", err)
	}
	if log == nil {
		log = slog.Default()
	}
	signer, err := dkimkeys.ReadKeyFile(cfg.Key)
	if err != nil {
		return nil, fmt.Errorf("arc: %w", err)
	}
	return &ARCSeal{
		cfg: cfg, authservID: authservID, log: log,
		opts: arc.SealOptions{Domain: strings.ToLower(cfg.Domain), Selector: strings.ToLower(cfg.Selector), Signer: signer},
	}, nil
}

// Name implements engine.Finisher.
func (f *ARCSeal) Name() string { return "arc_seal" }

// Symbols implements engine.Finisher.
func (f *ARCSeal) Symbols() []engine.SymbolDef {
	return []engine.SymbolDef{{Name: SymARCSigned, Weight: 0, Group: "arc", Description: "Message was ARC sealed"}}
}

// Finish implements engine.Finisher.
func (f *ARCSeal) Finish(_ context.Context, tx *engine.Transaction, deps engine.Results, v *engine.Verdict) error {
	if tx.Message == nil || !tx.Inbound() {
		return nil
	}
	switch v.Action {
	case engine.Reject, engine.SoftReject, engine.Greylist:
		return nil // not delivered: nothing to seal
	}
	chain, _ := engine.Value[*arc.Result](deps, "arc")
	if chain == nil {
		if len(tx.Message.Get(arc.SealField)) > 0 {
			// The chain was not validated (the arc check timed out):
			// its cv cannot be stated, so no set is added.
			return nil
		}
		chain = &arc.Result{Status: arc.None}
	}
	payload := AuthResultsHeader(f.authservID, tx, deps).String()
	set, err := arc.Seal(tx.Message, chain, payload, f.opts)
	if errors.Is(err, arc.ErrChainFailed) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("arc seal: %w", err)
	}
	fields := set.Fields()
	hs := make([]engine.Header, 0, len(fields)+len(v.AddHeaders))
	for _, fl := range fields {
		hs = append(hs, engine.Header{Name: fl[0], Value: fl[1]})
	}
	// The new set goes on top, above our Authentication-Results.
	v.AddHeaders = append(hs, v.AddHeaders...)
	v.Symbols = append(v.Symbols, engine.ScoredSymbol{Name: SymARCSigned, Description: "Message was ARC sealed",
		Options: []string{fmt.Sprintf("%s:s=%s:i=%d", f.opts.Domain, f.opts.Selector, set.Instance)}})
	return nil
}
