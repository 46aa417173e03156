package checks

import (
	"context"
	"log/slog"
	"time"

	"github.com/hamlet-mail/hamlet/dmarc"
	"github.com/hamlet-mail/hamlet/engine"
	"github.com/hamlet-mail/hamlet/greylist"
	"github.com/hamlet-mail/hamlet/spf"
)

// Greylist symbols.
const (
	SymGreylist      = "GREYLIST"
	SymGreylistError = "GREYLIST_ERROR"
)

// GreylistTimeout bounds one greylisting decision: a store that does not
// answer by then counts as failed, and the mail is accepted.
const GreylistTimeout = 5 * time.Second

// Greylist is the finisher that applies selective greylisting where the
// score is known, at the end of DATA, in every front end. It acts only on
// a verdict whose action is engine.Greylist (the policy's greylist band:
// greylist <= score < the next threshold) and behaves as rspamd's greylist
// module does:
//
//   - greylisted: the action becomes soft reject, the reply the configured
//     message (front ends answer it with 451 4.7.1), and the symbol
//     GREYLIST carries the options "greylisted" and the time (RFC 1123,
//     UTC) from which a retry passes;
//   - passed (a retry after the delay, a known triplet, an allowlisted
//     sender): GREYLIST with "pass" and the reason, and the action goes
//     down to "no action" — rspamd's greylist_set "downgrades" greylist to
//     no action once the message may pass, since "greylist" itself means
//     nothing to an MTA;
//   - not inbound (local, outbound or allowlisted clients): no greylisting,
//     the action goes down to "no action", no symbol;
//   - the store failed: fail open — "no action", GREYLIST_ERROR with the
//     error, a warning log line, and the greylister's error metric.
//
// GREYLIST and GREYLIST_ERROR weigh 0: they explain, they do not score.
type Greylist struct {
	g *greylist.Greylister
	// spfDomain returns the SPF-authenticated domain, "" if SPF did not pass.
	spfDomain func(tx *engine.Transaction, deps engine.Results) string
	// authDomains returns further authenticated domains (DMARC pass).
	authDomains func(tx *engine.Transaction, deps engine.Results) []string
	log         *slog.Logger
}

var _ engine.Finisher = (*Greylist)(nil)

// NewGreylist builds the finisher. spfDomain extracts the domain SPF
// authenticated from the finished checks' results (SPFPassDomain does it
// for the "spf" check's *spf.Result); nil keys every message by client
// network.
// Stateful implements engine.Stateful: a decision records the triplet,
// so a dry scan skips greylisting.
func (f *Greylist) Stateful() bool { return true }

func NewGreylist(g *greylist.Greylister, spfDomain func(*engine.Transaction, engine.Results) string, log *slog.Logger) *Greylist {
	if log == nil {
		log = slog.Default()
	}
	return &Greylist{g: g, spfDomain: spfDomain, log: log}
}

// WithAuthDomains sets the function that returns the domains, beyond
// SPF's, that the message is authenticated for (DMARCPassDomains reads the
// "dmarc" check): an admin's "domain:" allowlist entry matching one of
// them skips greylisting. It returns f.
func (f *Greylist) WithAuthDomains(fn func(*engine.Transaction, engine.Results) []string) *Greylist {
	f.authDomains = fn
	return f
}

// DMARCPassDomains returns, when the "dmarc" check passed, the From
// domain (RFC 7489 §3.1: an aligned SPF or DKIM pass
// authenticates it) and the aligned DKIM d= domain; otherwise nil.
func DMARCPassDomains(_ *engine.Transaction, deps engine.Results) []string {
	o, ok := engine.Value[*DMARCOutcome](deps, CheckDMARC)
	if !ok || o == nil || o.Result.Status != dmarc.StatusPass {
		return nil
	}
	ds := []string{o.Result.FromDomain}
	if d := o.Result.AlignedDKIM; d != "" && d != o.Result.FromDomain {
		ds = append(ds, d)
	}
	return ds
}

// SPFPassDomain returns the domain of the "spf" check's result when it is
// pass (RFC 7208 §2.6.3: the client is authorized for that domain), else "".
func SPFPassDomain(_ *engine.Transaction, deps engine.Results) string {
	r, ok := engine.Value[*spf.Result](deps, "spf")
	if !ok || r == nil || r.Code != spf.Pass {
		return ""
	}
	return r.Domain
}

// Name implements engine.Finisher.
func (f *Greylist) Name() string { return "greylist" }

// Symbols implements engine.Finisher.
func (f *Greylist) Symbols() []engine.SymbolDef {
	return []engine.SymbolDef{
		{Name: SymGreylist, Weight: 0, Group: "greylist", Description: "Greylisting: greylisted until a time, or passed"},
		{Name: SymGreylistError, Weight: 0, Group: "greylist", Description: "Greylisting skipped: its store failed (mail accepted)"},
	}
}

// Finish implements engine.Finisher.
func (f *Greylist) Finish(ctx context.Context, tx *engine.Transaction, deps engine.Results, v *engine.Verdict) error {
	if v.Action != engine.Greylist {
		return nil
	}
	if !tx.Inbound() {
		v.Action, v.Reply = engine.NoAction, ""
		return nil
	}
	req := greylist.Request{ClientIP: tx.ClientIP, MailFrom: tx.MailFrom, Rcpts: tx.Rcpts}
	if tx.RDNS == engine.FCrDNSPass {
		req.PTR = tx.ClientPTR
	}
	if f.spfDomain != nil {
		req.SPFDomain = f.spfDomain(tx, deps)
	}
	if f.authDomains != nil {
		req.AuthDomains = f.authDomains(tx, deps)
	}
	ctx, cancel := context.WithTimeout(ctx, GreylistTimeout)
	defer cancel()
	d := f.g.Decide(ctx, req)
	switch d.Outcome {
	case greylist.Greylisted:
		v.Action = engine.SoftReject
		v.Reply = replyText(f.g.Config().Message)
		addSymbol(v, SymGreylist, "greylisted", d.Until.UTC().Format(time.RFC1123))
	case greylist.Pass:
		v.Action, v.Reply = engine.NoAction, ""
		opts := []string{"pass", d.Reason}
		if d.Allow.Key != "" {
			opts = append(opts, d.Allow.Key)
		}
		addSymbol(v, SymGreylist, opts...)
	default:
		v.Action, v.Reply = engine.NoAction, ""
		addSymbol(v, SymGreylistError, d.Err.Error())
		f.log.Warn("greylisting failed, mail accepted", "queue_id", tx.QueueID, "client", tx.ClientIP, "err", d.Err)
	}
	return nil
}

// replyText puts the enhanced status code 4.7.1 (RFC 3463 §3.8: delivery
// not authorized, message refused; RFC 6647 describes greylisting's 4xx)
// before the configured text unless it starts with a 4.x.x code itself;
// front ends prefix the 451.
func replyText(msg string) string {
	if len(msg) > 2 && msg[0] == '4' && msg[1] == '.' {
		return msg
	}
	return "4.7.1 " + msg
}

func addSymbol(v *engine.Verdict, name string, opts ...string) {
	v.Symbols = append(v.Symbols, engine.ScoredSymbol{Name: name, Options: opts})
}
