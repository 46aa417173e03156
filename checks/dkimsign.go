package checks

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/hamlet-mail/hamlet/dkimkeys"
	"github.com/hamlet-mail/hamlet/engine"
	"github.com/hamlet-mail/hamlet/message"
)

// SymDKIMSigned is rspamd's dkim_signing symbol: the message was signed;
// its options name each signature as "domain:s=selector". No weight.
const SymDKIMSigned = "DKIM_SIGNED"

// DKIMConfig is the [dkim] section. Sign holds one [[dkim.sign]] table
// per signing key:
//
//	[[dkim.sign]]
//	domain = "example.org"
//	selector = "2026a"
//	key = "/etc/hamlet/dkim/example.org.2026a.key"
//	algorithm = "rsa-sha256"      # or "ed25519-sha256"
//	# subdomains = true           # also sign mail from *.example.org
//	# expire = "7d"               # x= (RFC 6376 §3.5)
//	# canonicalization = "relaxed/relaxed"
//	# headers = [...]             # fields to sign
//	# oversign = [...]            # fields signed once more; ["none"]: off
type DKIMConfig struct {
	Sign []dkimkeys.SignKey `toml:"sign"`
}

// Validate checks the signing tables (the key files are read by
// NewDKIMSign).
func (c *DKIMConfig) Validate() error { return dkimkeys.ValidateAll(c.Sign) }

// DKIMSign is the finisher that DKIM-signs outgoing mail (RFC 6376 §5,
// RFC 8463): for a transaction the classifier marked Outbound, each From
// domain that has keys (its own, or a parent's configured with
// subdomains) is signed with every one of them — an RSA and an Ed25519
// signature when both are configured. The field values go to
// Verdict.DKIMSignatures, which the front ends prepend as DKIM-Signature
// fields (milter, OpenSMTPD) or return as "dkim-signature" (/checkv2).
type DKIMSign struct {
	keys *dkimkeys.Set
	log  *slog.Logger
	now  func() time.Time
}

var _ engine.Finisher = (*DKIMSign)(nil)

// NewDKIMSign loads the keys of cfg. An unreadable key file, one that
// group or others may read (the error names the file and says `chmod
// 600`), or a key that does not match its algorithm is an error. With no
// keys configured it returns a finisher that does nothing.
func NewDKIMSign(cfg DKIMConfig, log *slog.Logger) (*DKIMSign, error) {
	if log == nil {
		log = slog.Default()
	}
	set, warnings, err := dkimkeys.Load(cfg.Sign)
	for _, w := range warnings {
		log.Warn(w)
	}
	if err != nil {
		return nil, err
	}
	return &DKIMSign{keys: set, log: log, now: time.Now}, nil
}

// NewDKIMSignKeys returns the finisher for keys already loaded.
func NewDKIMSignKeys(keys *dkimkeys.Set, log *slog.Logger) *DKIMSign {
	if log == nil {
		log = slog.Default()
	}
	return &DKIMSign{keys: keys, log: log, now: time.Now}
}

// Keys returns the signing keys.
func (f *DKIMSign) Keys() *dkimkeys.Set { return f.keys }

// Name implements engine.Finisher.
func (f *DKIMSign) Name() string { return "dkim_sign" }

// Symbols implements engine.Finisher.
func (f *DKIMSign) Symbols() []engine.SymbolDef {
	return []engine.SymbolDef{{Name: SymDKIMSigned, Weight: 0, Description: "Message was DKIM-signed", Group: "dkim"}}
}

// Finish implements engine.Finisher. Mail that will not leave as it is
// (reject, soft reject, greylist, or a rewritten Subject, which would
// break the signature) is not signed.
func (f *DKIMSign) Finish(ctx context.Context, tx *engine.Transaction, _ engine.Results, v *engine.Verdict) error {
	if !tx.Outbound || tx.Message == nil || f.keys.Len() == 0 {
		return nil
	}
	switch v.Action {
	case engine.Reject, engine.SoftReject, engine.Greylist:
		return nil
	}
	if v.SubjectRewrite != "" {
		f.log.Info("dkim: outgoing message not signed: its Subject is rewritten", "queue_id", tx.QueueID)
		return nil
	}
	domains, problem := message.FromDomains(tx.Message)
	if len(domains) == 0 {
		f.log.Info("dkim: outgoing message not signed: no usable From domain", "queue_id", tx.QueueID, "problem", problem)
		return nil
	}
	now := f.now()
	var errs []error
	var opts []string
	for _, d := range domains {
		if err := ctx.Err(); err != nil {
			errs = append(errs, err)
			break
		}
		if len(f.keys.For(d)) == 0 {
			f.log.Debug("dkim: no signing key for the From domain", "queue_id", tx.QueueID, "domain", d)
			continue
		}
		sigs, err := f.keys.SignFor(tx.Message, d, now)
		if err != nil {
			errs = append(errs, err)
		}
		for _, s := range sigs {
			v.DKIMSignatures = append(v.DKIMSignatures, s.Value)
			opts = append(opts, s.Domain+":s="+s.Selector)
		}
	}
	if len(opts) > 0 {
		addSymbol(v, SymDKIMSigned, opts...)
	}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("dkim sign (%d signatures made): %w", len(opts), err)
	}
	return nil
}
