package engine

import (
	"context"
	"net/netip"
	"strings"
	"sync"
	"time"

	"github.com/hamlet-mail/hamlet/content"
	"github.com/hamlet-mail/hamlet/message"
)

// Phase is how far an SMTP transaction has got. Each phase adds inputs
// that checks may need.
type Phase int

// The phases of an SMTP transaction, in order.
const (
	PhaseConnect Phase = iota // client address (and the MTA's idea of its name)
	PhaseHelo                 // HELO/EHLO name
	PhaseMail                 // envelope sender (MAIL FROM)
	PhaseRcpt                 // envelope recipients (RCPT TO)
	PhaseData                 // the message itself
)

var phaseNames = [...]string{"connect", "helo", "mail", "rcpt", "data"}

func (p Phase) String() string {
	if p >= 0 && int(p) < len(phaseNames) {
		return phaseNames[p]
	}
	return "phase?"
}

// FCrDNS is what the front end already knows about the client's reverse
// DNS (RFC 8601 §3 "iprev"), so that checks need not ask DNS again.
type FCrDNS int

// States of forward-confirmed reverse DNS as reported by an MTA.
const (
	FCrDNSUnknown   FCrDNS = iota // the front end did not say
	FCrDNSPass                    // a PTR name resolves back to the client IP
	FCrDNSFail                    // PTR names exist but none resolves back
	FCrDNSNone                    // no PTR record
	FCrDNSTempError               // the MTA's lookup failed temporarily
)

// Transaction is what is known about one SMTP transaction. Front ends fill
// it phase by phase; checks receive a copy taken when they start and must
// not modify it.
type Transaction struct {
	QueueID string // the MTA's queue id, "" before it is known
	MTAName string // the name of the MTA host, when given
	// Time is when the message arrived; zero means now. Replaying old
	// mail sets it, so that date checks judge the message as it came in.
	Time time.Time

	ClientIP netip.Addr // invalid when unknown (e.g. a local submission)
	// ClientPTR is the client's reverse name as the front end knows it
	// ("" when unknown). RDNS says whether that name is confirmed.
	ClientPTR string
	RDNS      FCrDNS
	Helo      string

	AuthUser string   // SMTP AUTH identity, "" when not authenticated
	MailFrom string   // envelope sender without angle brackets; "" is <>
	Rcpts    []string // envelope recipients without angle brackets

	// Message is the message, nil before PhaseData. Checks that read the
	// body use Content, its parsed form, rather than parse it again.
	Message *message.Message

	// Local is true for clients in local_networks: the host itself and its
	// LAN. Outbound is true for mail the host's own users send (an
	// authenticated client or one in the outbound networks). Allowlisted
	// is true when the client matched an allowlist entry. All three skip
	// the inbound connection checks and greylisting.
	Local       bool
	Outbound    bool
	Allowlisted bool

	// parsed holds Message's parsed form, shared by every copy of the
	// transaction a scan hands out.
	parsed *parsedContent
}

// parsedContent parses a message once, when first asked.
type parsedContent struct {
	msg  *message.Message
	lim  content.Limits
	once sync.Once
	c    *content.Message
}

func (p *parsedContent) get() *content.Message {
	p.once.Do(func() { p.c = content.Parse(p.msg, p.lim) })
	return p.c
}

// Content returns the parsed form of Message (MIME tree, texts in UTF-8,
// HTML, URLs, attachments: see package content), or nil before PhaseData.
// Within a scan the message is parsed once, by the first check that asks,
// and every check and finisher shares the result; it must not be
// modified. A Transaction made outside a scan (a unit test) parses on
// each call.
func (t *Transaction) Content() *content.Message {
	if t.Message == nil {
		return nil
	}
	if t.parsed != nil && t.parsed.msg == t.Message {
		return t.parsed.get()
	}
	return content.Parse(t.Message, content.Limits{})
}

// attachContent gives t a parse-once holder for its current Message.
func (t *Transaction) attachContent(lim content.Limits) {
	switch {
	case t.Message == nil:
		t.parsed = nil
	case t.parsed == nil || t.parsed.msg != t.Message:
		t.parsed = &parsedContent{msg: t.Message, lim: lim}
	}
}

// Inbound reports whether connection checks and greylisting apply.
func (t *Transaction) Inbound() bool { return !t.Local && !t.Outbound && !t.Allowlisted }

// SenderDomain returns the domain of the envelope sender, or of the HELO
// name when the sender is null (RFC 7208 §2.4), in lower case.
func (t *Transaction) SenderDomain() string {
	if t.MailFrom == "" {
		return strings.ToLower(strings.TrimSuffix(t.Helo, "."))
	}
	if i := strings.LastIndexByte(t.MailFrom, '@'); i >= 0 {
		return strings.ToLower(strings.TrimSuffix(t.MailFrom[i+1:], "."))
	}
	return ""
}

func (t *Transaction) clone() *Transaction {
	c := *t
	c.Rcpts = append([]string(nil), t.Rcpts...)
	return &c
}

// Action is what the policy tells the MTA to do with the message. The
// names are rspamd's, so that /checkv2 clients understand them.
type Action int

// Actions, from mildest to hardest. The order matters: a forced action
// only replaces a milder one.
const (
	NoAction Action = iota
	Greylist
	AddHeader
	RewriteSubject
	SoftReject
	Reject
)

var actionNames = [...]string{"no action", "greylist", "add header", "rewrite subject", "soft reject", "reject"}

func (a Action) String() string {
	if a >= 0 && int(a) < len(actionNames) {
		return actionNames[a]
	}
	return "action?"
}

// ParseAction parses an action name as rspamd writes it ("add header") or
// as configuration keys write it ("add_header").
func ParseAction(s string) (Action, bool) {
	s = strings.ReplaceAll(strings.ToLower(strings.TrimSpace(s)), "_", " ")
	for i, n := range actionNames {
		if n == s {
			return Action(i), true
		}
	}
	return NoAction, false
}

// SymbolDef declares a symbol a check may emit, with its default weight.
// The configuration's [symbols] table overrides the weight.
type SymbolDef struct {
	Name        string
	Weight      float64
	Description string
	Group       string // e.g. "spf", "dkim", "hfilter", "rbl"
}

// Symbol is one finding of a check.
type Symbol struct {
	Name    string
	Options []string // details shown beside the symbol, e.g. a domain
	// Multiplier scales the configured weight (rspamd's dynamic score),
	// e.g. a reputation symbol that weighs more as the reputation falls.
	// Zero means 1.
	Multiplier float64
	// Force, when not NoAction, forces at least this action whatever the
	// score: a hard rule such as "no rDNS means reject".
	Force Action
	// Message is the SMTP reply text to use when Force applies.
	Message string

	// unweighted and hidden are what a composite took (Composition):
	// the symbol scores nothing, or is not listed in the verdict.
	unweighted, hidden bool
}

// Result is what a check returns: its symbols, and a value for the checks
// and finishers that depend on it (e.g. an *spf.Result for DMARC).
type Result struct {
	Symbols []Symbol
	Value   any
}

// Check is one unit of scanning. The engine starts it as soon as the
// transaction reaches Phase and every check named in After has finished.
// Run must honour ctx's deadline; on a DNS timeout it returns its
// *_DNSFAIL-style symbol rather than blocking.
type Check interface {
	Name() string
	Phase() Phase
	After() []string
	Symbols() []SymbolDef
	Run(ctx context.Context, tx *Transaction, deps Results) Result
}

// Results gives access to the values of finished checks by name.
type Results interface {
	// Get returns the Value of the named check's Result; ok is false when
	// the check did not run, timed out or returned no value.
	Get(name string) (value any, ok bool)
}

// Value returns the named check's value as a T.
func Value[T any](r Results, name string) (T, bool) {
	var zero T
	if r == nil {
		return zero, false
	}
	v, ok := r.Get(name)
	if !ok {
		return zero, false
	}
	t, ok := v.(T)
	return t, ok
}

// Finisher runs after the policy has scored a complete message, in the
// order registered, and may edit the verdict: greylisting (turns a greylist
// action into a soft reject or lets it pass), Authentication-Results,
// DKIM signing and ARC sealing. A Finisher that fails returns an error; the
// engine logs it and goes on with the verdict as it is.
type Finisher interface {
	Name() string
	Symbols() []SymbolDef
	Finish(ctx context.Context, tx *Transaction, deps Results, v *Verdict) error
}

// Composer adds symbols that depend on the symbols of every check, as
// rspamd's composites do ("DMARC_POLICY_REJECT & !R_DKIM_ALLOW"). The
// engine calls it for a final verdict with the symbols of the finished
// checks, in verdict order, before the policy scores them; it returns
// the symbols to add and what to take from those present, and must not
// block. It is not called for early verdicts, where "!X" could hold only
// because X's check has not run yet.
type Composer interface {
	Compose(tx *Transaction, syms []Symbol) Composition
}

// Composition is what a Composer makes of a verdict's symbols.
type Composition struct {
	// Add are the symbols to add (declared by one of the checks' Symbols).
	Add []Symbol
	// Remove says, by name, what to take from symbols present (rspamd's
	// composite policies). The engine never takes a symbol that forces
	// an action (its own Force or the policy's force for its name): such
	// a symbol only loses its weight, and stays listed with its action.
	Remove map[string]Removal
}

// Removal is what a composite takes from a symbol.
type Removal uint8

const (
	// RemoveWeight: the symbol stays listed and scores nothing.
	RemoveWeight Removal = 1 << iota
	// RemoveSymbol: the symbol is not listed; its weight still counts
	// unless RemoveWeight is set too.
	RemoveSymbol
)

// Header is a header field to add.
type Header struct {
	Name  string
	Value string // unfolded or folded with CRLF + WSP; no final CRLF
}

// Verdict is the outcome of scanning a transaction.
type Verdict struct {
	Action        Action
	Score         float64
	RequiredScore float64 // the reject threshold
	Symbols       []ScoredSymbol
	// ForcedBy names the symbol whose Force set the action, if any.
	ForcedBy string
	// Reply is the SMTP reply text for reject and soft reject actions.
	Reply string
	// AddHeaders are prepended to the message, in order.
	AddHeaders []Header
	// RemoveHeaders lists field names whose every instance is removed
	// (e.g. forged Authentication-Results of our own authserv-id are
	// instead listed in RemoveHeader with their index).
	RemoveHeaders []HeaderRemoval
	// SubjectRewrite is the new Subject for the rewrite subject action.
	SubjectRewrite string
	// DKIMSignatures are complete DKIM-Signature field values to prepend.
	DKIMSignatures []string
	// Phase is the phase the verdict was given at; early verdicts come
	// before PhaseData.
	Phase Phase
	// Final is false for an early verdict.
	Final bool
	// Errors lists checks or finishers that failed or timed out.
	Errors []string
}

// HeaderRemoval removes the Index-th (1-based, top first) field called
// Name; Index 0 removes all of them.
type HeaderRemoval struct {
	Name  string
	Index int
}

// ScoredSymbol is a symbol with its resolved weight and score.
type ScoredSymbol struct {
	Name        string
	Score       float64 // weight × multiplier
	Weight      float64
	Description string
	Options     []string
}
