package checks

import (
	"context"
	"fmt"
	"regexp"
	"strconv"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/hamlet-mail/hamlet/engine"
	"github.com/hamlet-mail/hamlet/freemail"
	"github.com/hamlet-mail/hamlet/iprev"
	"github.com/hamlet-mail/hamlet/message"
)

// Header symbols ("headers that lie"): rspamd 3.4's names and default
// weights from rules/headers_checks.lua, rules/misc.lua,
// rules/subject_checks.lua, rules/regexp/headers.lua and the
// forged_recipients, once_received and multimap (freemail) modules.
const (
	CheckHeaders = "headers"

	SymFromNeqEnvfrom       = "FROM_NEQ_ENVFROM"
	SymFromEqEnvfrom        = "FROM_EQ_ENVFROM"
	SymForgedSender         = "FORGED_SENDER"
	SymForgedSenderList     = "FORGED_SENDER_MAILLIST"
	SymForgedRcpts          = "FORGED_RECIPIENTS"
	SymForgedRcptsList      = "FORGED_RECIPIENTS_MAILLIST"
	SymMaillist             = "MAILLIST"
	SymMissingFrom          = "MISSING_FROM"
	SymMultipleFrom         = "MULTIPLE_FROM"
	SymFromInvalid          = "FROM_INVALID"
	SymEnvfromInvalid       = "ENVFROM_INVALID"
	SymFromNoDN             = "FROM_NO_DN"
	SymFromHasDN            = "FROM_HAS_DN"
	SymFromDNEqAddr         = "FROM_DN_EQ_ADDR"
	SymFromNameTitle        = "FROM_NAME_HAS_TITLE"
	SymFromNameSpace        = "FROM_NAME_EXCESS_SPACE"
	SymToEqFrom             = "TO_EQ_FROM"
	SymToDomEqFromDom       = "TO_DOM_EQ_FROM_DOM"
	SymHasReplyTo           = "HAS_REPLYTO"
	SymReplyToUnparseable   = "REPLYTO_UNPARSEABLE"
	SymReplyToEqFrom        = "REPLYTO_EQ_FROM"
	SymReplyToAddrEqFrom    = "REPLYTO_ADDR_EQ_FROM"
	SymReplyToDomEqFromDom  = "REPLYTO_DOM_EQ_FROM_DOM"
	SymReplyToDomNeqFromDom = "REPLYTO_DOM_NEQ_FROM_DOM"
	SymReplyToDNEqFromDN    = "REPLYTO_DN_EQ_FROM_DN"
	SymReplyToEqToAddr      = "REPLYTO_EQ_TO_ADDR"
	SymReplyToTitle         = "REPLYTO_EMAIL_HAS_TITLE"
	SymFreemailFrom         = "FREEMAIL_FROM"
	SymFreemailReplyTo      = "FREEMAIL_REPLYTO"
	SymFreemailEnvfrom      = "FREEMAIL_ENVFROM"
	SymFreemailTo           = "FREEMAIL_TO"
	SymFreemailCc           = "FREEMAIL_CC"
	SymFreemailEnvrcpt      = "FREEMAIL_ENVRCPT"
	SymFreemailReplyNeqFrom = "FREEMAIL_REPLYTO_NEQ_FROM_DOM"
	SymFreemailAFF          = "FREEMAIL_AFF"
	SymMissingMID           = "MISSING_MID"
	SymInvalidMsgID         = "INVALID_MSGID"
	SymMissingDate          = "MISSING_DATE"
	SymInvalidDate          = "INVALID_DATE"
	SymDateInFuture         = "DATE_IN_FUTURE"
	SymDateInPast           = "DATE_IN_PAST"
	SymMissingTo            = "MISSING_TO"
	SymUndiscRcpt           = "R_UNDISC_RCPT"
	SymMissingSubject       = "MISSING_SUBJECT"
	SymEmptySubject         = "EMPTY_SUBJECT"
	SymSubjAllCaps          = "SUBJ_ALL_CAPS"
	SymLongSubj             = "LONG_SUBJ"
	SymMultipleUnique       = "MULTIPLE_UNIQUE_HEADERS"
	SymMVCase               = "MV_CASE"
	SymOnceReceived         = "ONCE_RECEIVED"
	SymOnceReceivedStrict   = "ONCE_RECEIVED_STRICT"
	symRcvdCountPrefix      = "RCVD_COUNT_"
)

// rcvdBuckets are rspamd's RCVD_COUNT_* names by the least count they
// stand for.
var rcvdBuckets = []struct {
	min  int
	name string
	desc string
}{
	{0, "ZERO", "Message has no Received headers"},
	{1, "ONE", "Message has one Received header"},
	{2, "TWO", "Message has two Received headers"},
	{3, "THREE", "Message has 3-5 Received headers"},
	{5, "FIVE", "Message has 5-7 Received headers"},
	{7, "SEVEN", "Message has 7-11 Received headers"},
	{12, "TWELVE", "Message has 12 or more Received headers"},
}

// uniqueHeaders are the fields RFC 5322 §3.6 allows once (plus the MIME
// ones), with rspamd's multiplier of MULTIPLE_UNIQUE_HEADERS for each.
var uniqueHeaders = []struct {
	name string
	mult float64
}{
	{"Content-Type", 1.0}, {"Content-Transfer-Encoding", 1.0}, {"Date", 0.1},
	{"From", 1.0}, {"Sender", 1.0}, {"Reply-To", 1.0}, {"To", 0.2}, {"Cc", 0.1},
	{"Bcc", 0.1}, {"Message-ID", 0.7}, {"In-Reply-To", 0.7}, {"References", 0.3},
	{"Subject", 0.7},
}

var (
	// rspamd's R_UNDISC_RCPT: "undisclosed-recipients:;" and its variants,
	// not "Undisclosed Recipient <user@example.org>".
	undiscRE = regexp.MustCompile(`(?i)^[<"]?undisclosed[- ]recipients?\b.*:`)
	// rspamd's sane Message-Id (INVALID_MSGID when neither this nor a
	// comment matches).
	saneMsgIDRE    = regexp.MustCompile(`^<?[^<>\\ \t\n\r\x0b\x{80}-\x{10FFFF}]+@[^<>\\ \t\n\r\x0b\x{80}-\x{10FFFF}]+>?\s*$`)
	msgIDCommentRE = regexp.MustCompile(`\(.*\)`)
	// rspamd strips reply and forward prefixes before judging a Subject.
	subjPrefixRE = regexp.MustCompile(`(?i)^(?:(?:Re|Fwd|Fw|Aw|Antwort|Sv):\s*)+(.+)$`)
	// FROM_NAME_HAS_TITLE.
	titleRE = regexp.MustCompile(`^(mrs?|dr)[.\s]`)
)

// rspamd's date window: DATE_IN_PAST beyond a day, DATE_IN_FUTURE beyond
// two hours.
const (
	datePastLimit   = 24 * time.Hour
	dateFutureLimit = 2 * time.Hour
	// maxForgedRcpts bounds the recipients compared (rspamd trims at 100).
	maxForgedRcpts = 100
)

// HeadersConfig is the [headers] section.
type HeadersConfig struct {
	Enabled bool `toml:"enabled"`
	// FreemailFile, when set, replaces the shipped freemail domain list
	// (one domain a line, "#" comments).
	FreemailFile string `toml:"freemail_file"`
	// FreemailDomains are added to the list in use.
	FreemailDomains []string `toml:"freemail_domains"`
}

// DefaultHeadersConfig has the checks on with the shipped freemail list.
func DefaultHeadersConfig() HeadersConfig { return HeadersConfig{Enabled: true} }

// Validate checks the section, reading the freemail file if one is named.
func (c *HeadersConfig) Validate() error {
	_, err := c.freemail()
	return err
}

func (c *HeadersConfig) freemail() (*freemail.Set, error) {
	set := freemail.Default()
	if c.FreemailFile != "" {
		s, err := freemail.Load(c.FreemailFile)
		if err != nil {
			return nil, fmt.Errorf("headers: freemail_file: %w", err)
		}
		set = s
	}
	for _, d := range c.FreemailDomains {
		if err := set.Add(d); err != nil {
			return nil, fmt.Errorf("headers: freemail_domains: %w", err)
		}
	}
	return set, nil
}

// Headers judges what the header says against itself and the envelope:
// From vs MAIL FROM, Reply-To vs From, recipients vs RCPT TO, freemail,
// Message-Id, Date, Subject, Received count. It needs only the header and
// runs at DATA, after the iprev check when that is registered (for
// ONCE_RECEIVED's host name).
type Headers struct {
	free  *freemail.Set
	after []string
	now   func() time.Time
}

var (
	_ engine.Check  = (*Headers)(nil)
	_ engine.Forcer = (*Headers)(nil)
)

// NewHeaders returns the check.
func NewHeaders(cfg HeadersConfig, withIPRev bool) (*Headers, error) {
	set, err := cfg.freemail()
	if err != nil {
		return nil, err
	}
	h := &Headers{free: set, now: time.Now}
	if withIPRev {
		h.after = []string{CheckIPRev}
	}
	return h, nil
}

// WithClock makes the check judge dates against now instead of the time
// of the scan (tests; replaying old mail).
func (c *Headers) WithClock(now func() time.Time) *Headers { c.now = now; return c }

// Name implements engine.Check.
func (c *Headers) Name() string { return CheckHeaders }

// Phase implements engine.Check.
func (c *Headers) Phase() engine.Phase { return engine.PhaseData }

// After implements engine.Check.
func (c *Headers) After() []string { return c.after }

// MayForce implements engine.Forcer: header symbols only score.
func (c *Headers) MayForce() bool { return false }

// Symbols implements engine.Check.
func (c *Headers) Symbols() []engine.SymbolDef {
	g := "headers"
	defs := []engine.SymbolDef{
		{Name: SymFromNeqEnvfrom, Weight: 0, Group: g, Description: "From address is different to the envelope"},
		{Name: SymFromEqEnvfrom, Weight: 0, Group: g, Description: "From address is the same as the envelope"},
		{Name: SymForgedSender, Weight: 0.3, Group: g, Description: "Sender is forged (different From: header and smtp MAIL FROM: addresses)"},
		{Name: SymForgedSenderList, Weight: 0, Group: g, Description: "Sender is not the same as MAIL FROM: envelope, but a message is from a maillist"},
		{Name: SymForgedRcpts, Weight: 2.0, Group: g, Description: "Recipients are not the same as RCPT TO: mail command"},
		{Name: SymForgedRcptsList, Weight: 0, Group: g, Description: "Recipients are not the same as RCPT TO: mail command, but a message from a maillist"},
		{Name: SymMaillist, Weight: -0.2, Group: g, Description: "Message seems to be from maillist"},
		{Name: SymMissingFrom, Weight: 2.0, Group: g, Description: "Missing From: header"},
		{Name: SymMultipleFrom, Weight: 8.0, Group: g, Description: "Multiple addresses in From"},
		{Name: SymFromInvalid, Weight: 2.0, Group: g, Description: "From header does not have a valid format"},
		{Name: SymEnvfromInvalid, Weight: 2.0, Group: g, Description: "Envelope from does not have a valid format"},
		{Name: SymFromNoDN, Weight: 0, Group: g, Description: "From header does not have a display name"},
		{Name: SymFromHasDN, Weight: 0, Group: g, Description: "From header has a display name"},
		{Name: SymFromDNEqAddr, Weight: 1.0, Group: g, Description: "From header display name is the same as the address"},
		{Name: SymFromNameTitle, Weight: 1.0, Group: g, Description: "From header display name has a title (Mr/Mrs/Dr)"},
		{Name: SymFromNameSpace, Weight: 1.0, Group: g, Description: "From header display name contains excess whitespace"},
		{Name: SymToEqFrom, Weight: 0, Group: g, Description: "To address matches the From address"},
		{Name: SymToDomEqFromDom, Weight: 0, Group: g, Description: "To domain is the same as the From domain"},
		{Name: SymHasReplyTo, Weight: 0, Group: g, Description: "Has Reply-To header"},
		{Name: SymReplyToUnparseable, Weight: 1.0, Group: g, Description: "Reply-To header could not be parsed"},
		{Name: SymReplyToEqFrom, Weight: 0, Group: g, Description: "Reply-To header is identical to From header"},
		{Name: SymReplyToAddrEqFrom, Weight: 0, Group: g, Description: "Reply-To header is identical to SMTP From"},
		{Name: SymReplyToDomEqFromDom, Weight: 0, Group: g, Description: "Reply-To domain matches the From domain"},
		{Name: SymReplyToDomNeqFromDom, Weight: 0, Group: g, Description: "Reply-To domain does not match the From domain"},
		{Name: SymReplyToDNEqFromDN, Weight: 0, Group: g, Description: "Reply-To display name matches From"},
		{Name: SymReplyToEqToAddr, Weight: 5.0, Group: g, Description: "Reply-To is the same as the To address"},
		{Name: SymReplyToTitle, Weight: 2.0, Group: g, Description: "Reply-To header has title"},
		{Name: SymFreemailFrom, Weight: 0, Group: g, Description: "From is a Freemail address"},
		{Name: SymFreemailReplyTo, Weight: 0, Group: g, Description: "Reply-To is a Freemail address"},
		{Name: SymFreemailEnvfrom, Weight: 0, Group: g, Description: "Envelope From is a Freemail address"},
		{Name: SymFreemailTo, Weight: 0, Group: g, Description: "To is a Freemail address"},
		{Name: SymFreemailCc, Weight: 0, Group: g, Description: "Cc is a Freemail address"},
		{Name: SymFreemailEnvrcpt, Weight: 0, Group: g, Description: "Envelope Recipient is a Freemail address"},
		{Name: SymFreemailReplyNeqFrom, Weight: 3.0, Group: g, Description: "Freemail From and Reply-To, but to different Freemail services"},
		{Name: SymFreemailAFF, Weight: 4.0, Group: g, Description: "Message exhibits strong characteristics of advance fee fraud (AFF a/k/a '419' spam) involving freemail addresses"},
		{Name: SymMissingMID, Weight: 2.5, Group: g, Description: "Message id is missing"},
		{Name: SymInvalidMsgID, Weight: 1.7, Group: g, Description: "Message id is incorrect"},
		{Name: SymMissingDate, Weight: 1.0, Group: g, Description: "Message date is missing"},
		{Name: SymInvalidDate, Weight: 1.5, Group: g, Description: "Malformed date header"},
		{Name: SymDateInFuture, Weight: 4.0, Group: g, Description: "Message date is in future"},
		{Name: SymDateInPast, Weight: 1.0, Group: g, Description: "Message date is in past"},
		{Name: SymMissingTo, Weight: 2.0, Group: g, Description: "To header is missing"},
		{Name: SymUndiscRcpt, Weight: 3.0, Group: g, Description: "Recipients are absent or undisclosed"},
		{Name: SymMissingSubject, Weight: 2.0, Group: g, Description: "Subject header is missing"},
		{Name: SymEmptySubject, Weight: 1.0, Group: g, Description: "Subject header is empty"},
		{Name: SymSubjAllCaps, Weight: 3.0, Group: "subject", Description: "All capital letters in subject"},
		{Name: SymLongSubj, Weight: 3.0, Group: "subject", Description: "Subject is too long"},
		{Name: SymMultipleUnique, Weight: 7.0, Group: g, Description: "Repeated unique headers"},
		{Name: SymMVCase, Weight: 0.5, Group: g, Description: "Mime-Version .vs. MIME-Version"},
		{Name: SymOnceReceived, Weight: 0.1, Group: g, Description: "One received header in a message"},
		{Name: SymOnceReceivedStrict, Weight: 4.0, Group: g, Description: "One received header with 'bad' patterns inside"},
	}
	for _, b := range rcvdBuckets {
		defs = append(defs, engine.SymbolDef{Name: symRcvdCountPrefix + b.name, Weight: 0, Group: g, Description: b.desc})
	}
	return append(defs, muaSymbols...)
}

// addr is a parsed mailbox with the forms the rules compare.
type addr struct {
	addr   string // local@domain as written
	lower  string // lower-cased addr-spec
	domain string // lower-cased domain as written
	name   string
}

func newAddr(a message.Address) addr {
	s := a.String()
	return addr{addr: s, lower: strings.ToLower(s), domain: strings.ToLower(strings.TrimSuffix(a.Domain, ".")), name: a.Name}
}

// parseAddrs returns the mailboxes of every field named name, and whether
// some field did not parse.
func parseAddrs(m *message.Message, name string) ([]addr, bool) {
	var out []addr
	bad := false
	for _, f := range m.Get(name) {
		list, err := message.ParseAddressList(f.Value())
		if err != nil {
			bad = true
			continue
		}
		for _, a := range list {
			out = append(out, newAddr(a))
		}
	}
	return out, bad
}

// Run implements engine.Check.
func (c *Headers) Run(ctx context.Context, tx *engine.Transaction, deps engine.Results) engine.Result {
	m := tx.Message
	if m == nil {
		return engine.Result{}
	}
	var syms []engine.Symbol
	add := func(name string, opts ...string) {
		syms = append(syms, engine.Symbol{Name: name, Options: opts})
	}
	has := func(name string) bool {
		for _, s := range syms {
			if s.Name == name {
				return true
			}
		}
		return false
	}
	maillist := isMaillist(m)
	if maillist {
		add(SymMaillist)
	}

	// From.
	fromVal, hasFrom := m.First("From")
	from, fromBad := parseAddrs(m, "From")
	switch {
	case !hasFrom || fromVal == "":
		add(SymMissingFrom)
	case fromBad || len(from) == 0:
		add(SymFromInvalid)
	}
	if len(from) > 1 {
		opts := make([]string, 0, len(from))
		for _, a := range from {
			opts = append(opts, a.addr)
		}
		add(SymMultipleFrom, opts...)
	}
	var from1 *addr
	if len(from) > 0 {
		from1 = &from[0]
		if _, err := message.NormalizeDomain(from1.domain); err != nil && !has(SymFromInvalid) {
			add(SymFromInvalid)
		}
		n := strings.TrimSpace(from1.name)
		switch {
		case n == "":
			add(SymFromNoDN)
		case strings.EqualFold(n, from1.addr):
			add(SymFromDNEqAddr)
		default:
			add(SymFromHasDN)
			ln := strings.ToLower(n)
			if t := titleRE.FindStringSubmatch(ln); t != nil {
				add(SymFromNameTitle, t[1])
			}
			if strings.Contains(ln, "  ") || strings.Contains(ln, "\t") {
				add(SymFromNameSpace)
			}
		}
	}

	// Envelope sender against From.
	env := strings.ToLower(tx.MailFrom)
	if tx.MailFrom != "" {
		if _, err := message.ParseAddressList("<" + tx.MailFrom + ">"); err != nil {
			add(SymEnvfromInvalid)
		}
	}
	if from1 != nil && env != "" {
		if env == from1.lower {
			add(SymFromEqEnvfrom)
		} else {
			add(SymFromNeqEnvfrom, from1.addr, tx.MailFrom)
		}
	}
	if env != "" && (from1 == nil || from1.lower != env) {
		// forged_recipients: the sender check.
		fa := ""
		if from1 != nil {
			fa = from1.addr
		}
		if maillist {
			add(SymForgedSenderList, fa, tx.MailFrom)
		} else {
			add(SymForgedSender, fa, tx.MailFrom)
		}
	}

	// Recipients.
	to, _ := parseAddrs(m, "To")
	cc, _ := parseAddrs(m, "Cc")
	mimeRcpts := append(append([]addr(nil), to...), cc...)
	if from1 != nil && len(mimeRcpts) == 1 {
		switch {
		case mimeRcpts[0].lower == from1.lower:
			add(SymToEqFrom)
		case mimeRcpts[0].domain != "" && mimeRcpts[0].domain == from1.domain:
			add(SymToDomEqFromDom)
		}
	}
	if opts := forgedRecipients(tx, m, mimeRcpts); opts != nil {
		if maillist {
			add(SymForgedRcptsList, opts...)
		} else {
			add(SymForgedRcpts, opts...)
		}
	}
	if toVals := m.Get("To"); len(toVals) == 0 {
		add(SymMissingTo)
	} else if undiscRE.MatchString(message.DecodeHeader(toVals[0].Unfolded())) {
		add(SymUndiscRcpt)
	}

	// Reply-To.
	replyTo := c.replyTo(m, from1, mimeRcpts, maillist, add)

	// Freemail.
	var freeFrom, freeReply string
	if from1 != nil && c.free.Contains(from1.domain) {
		freeFrom = from1.domain
		add(SymFreemailFrom, freeFrom)
	}
	if replyTo != nil && c.free.Contains(replyTo.domain) {
		freeReply = replyTo.domain
		add(SymFreemailReplyTo, freeReply)
	}
	if d := domainOf(tx.MailFrom); d != "" && c.free.Contains(d) {
		add(SymFreemailEnvfrom, d)
	}
	for _, set := range []struct {
		sym   string
		addrs []addr
	}{{SymFreemailTo, to}, {SymFreemailCc, cc}} {
		for _, a := range set.addrs {
			if c.free.Contains(a.domain) {
				add(set.sym, a.domain)
				break
			}
		}
	}
	for _, r := range tx.Rcpts {
		if d := domainOf(r); d != "" && c.free.Contains(d) {
			add(SymFreemailEnvrcpt, d)
			break
		}
	}
	if freeFrom != "" && freeReply != "" && freeFrom != freeReply {
		add(SymFreemailReplyNeqFrom)
	}
	if (freeFrom != "" || freeReply != "" || has(SymFreemailEnvfrom)) && has(SymUndiscRcpt) &&
		(has(SymFromNameTitle) || has(SymFreemailReplyNeqFrom)) {
		add(SymFreemailAFF)
	}

	// Message-Id.
	if mid, ok := m.First("Message-ID"); !ok {
		add(SymMissingMID)
	} else if !saneMsgIDRE.MatchString(mid) && !msgIDCommentRE.MatchString(mid) {
		add(SymInvalidMsgID)
	}

	// The mail client, the Message-Id, the display name.
	muaChecks(m, tx, from1, mimeRcpts, add)

	// Date.
	c.date(m, tx, add)

	// Subject.
	subjectSymbols(m, &syms)

	// Repeated unique fields, Mime-Version case.
	var repeated []string
	var mult float64
	for _, u := range uniqueHeaders {
		if len(m.Get(u.name)) > 1 {
			repeated = append(repeated, u.name)
			mult = max(mult, u.mult)
		}
	}
	if len(repeated) > 0 {
		syms = append(syms, engine.Symbol{Name: SymMultipleUnique, Options: repeated, Multiplier: mult})
	}
	for _, f := range m.Fields {
		if f.Name == "Mime-Version" {
			add(SymMVCase)
			break
		}
	}

	// Received.
	nrcvd := len(m.Get("Received"))
	bucket := rcvdBuckets[0].name
	for _, b := range rcvdBuckets {
		if nrcvd >= b.min {
			bucket = b.name
		}
	}
	add(symRcvdCountPrefix+bucket, strconv.Itoa(nrcvd))
	if nrcvd <= 1 && tx.Inbound() && tx.ClientIP.IsValid() {
		syms = append(syms, onceReceived(tx, deps)...)
	}
	return engine.Result{Symbols: syms}
}

// replyTo runs rspamd's CHECK_REPLYTO rules and returns the first Reply-To
// mailbox, nil when there is none.
func (c *Headers) replyTo(m *message.Message, from1 *addr, rcpts []addr, maillist bool, add func(string, ...string)) *addr {
	fields := m.Get("Reply-To")
	if len(fields) == 0 {
		return nil
	}
	list, err := message.ParseAddressList(fields[0].Value())
	if err != nil || len(list) == 0 || list[0].Local == "" {
		add(SymReplyToUnparseable)
		return nil
	}
	rt := newAddr(list[0])
	add(SymHasReplyTo, rt.addr)
	if from1 == nil {
		return &rt
	}
	if fromFields := m.Get("From"); len(fromFields) > 0 && fromFields[0].Value() == fields[0].Value() {
		add(SymReplyToEqFrom)
		return &rt
	}
	if t := titleRE.FindStringSubmatch(strings.ToLower(strings.TrimSpace(from1.name))); t != nil && strings.HasPrefix(rt.lower, t[1]) {
		add(SymReplyToTitle)
	}
	switch {
	case rt.lower == from1.lower:
		add(SymReplyToAddrEqFrom)
	case rt.domain != "" && from1.domain != "" && rt.domain == from1.domain:
		add(SymReplyToDomEqFromDom)
	case rt.domain != "" && from1.domain != "":
		if len(rcpts) > 0 && rcpts[0].lower == rt.lower {
			// Mailing lists and automatic submissions do that (rspamd
			// knows lists by their List-Unsubscribe only; isMaillist
			// also by the older list managers' Sender).
			if !maillist && !hasAny(m, "List-Unsubscribe", "X-To-Get-Off-This-List", "X-List", "Auto-Submitted") {
				add(SymReplyToEqToAddr)
			}
		} else {
			add(SymReplyToDomNeqFromDom, rt.domain, from1.domain)
		}
	}
	if rt.name != "" && from1.name != "" && strings.EqualFold(rt.name, from1.name) {
		add(SymReplyToDNEqFromDN)
	}
	return &rt
}

// date runs rspamd's DATE_CB: the Date field against the time the message
// arrives (tx.Time when the front end gave it).
func (c *Headers) date(m *message.Message, tx *engine.Transaction, add func(string, ...string)) {
	v, ok := m.First("Date")
	if !ok || v == "" {
		add(SymMissingDate)
		return
	}
	d, err := message.ParseDate(v)
	if err != nil {
		add(SymInvalidDate)
		return
	}
	now := tx.Time
	if now.IsZero() {
		now = c.now()
	}
	switch diff := now.Sub(d); {
	case diff > datePastLimit:
		add(SymDateInPast, strconv.Itoa(int(diff/time.Hour)))
	case -diff > dateFutureLimit:
		add(SymDateInFuture, strconv.Itoa(int(-diff/time.Hour)))
	}
}

// subjectSymbols runs rspamd's subject rules on the decoded Subject.
func subjectSymbols(m *message.Message, syms *[]engine.Symbol) {
	fields := m.Get("Subject")
	if len(fields) == 0 {
		*syms = append(*syms, engine.Symbol{Name: SymMissingSubject})
		return
	}
	s := strings.TrimSpace(message.DecodeHeader(fields[0].Unfolded()))
	if s == "" {
		*syms = append(*syms, engine.Symbol{Name: SymEmptySubject})
		return
	}
	if p := subjPrefixRE.FindStringSubmatch(s); p != nil {
		s = p[1]
	}
	n := utf8.RuneCountInString(s)
	linear := func(rate float64) float64 { return min(rate*float64(n), 1) }
	if allCaps(s) {
		*syms = append(*syms, engine.Symbol{Name: SymSubjAllCaps, Options: []string{strconv.Itoa(n)}, Multiplier: linear(1.0 / 40)})
	}
	if n > 200 {
		*syms = append(*syms, engine.Symbol{Name: SymLongSubj, Options: []string{strconv.Itoa(n)}, Multiplier: linear(1.0 / 400)})
	}
}

// allCaps reports whether s has upper-case letters and no lower-case ones
// (rspamd's util.is_uppercase).
func allCaps(s string) bool {
	upper := 0
	for _, r := range s {
		switch {
		case unicode.IsUpper(r):
			upper++
		case unicode.IsLower(r):
			return false
		}
	}
	return upper > 0
}

// forgedRecipients runs the recipient half of rspamd's forged_recipients:
// a To/Cc address matching no RCPT TO (by address, or by domain as
// aliases rewrite local parts), together with a RCPT TO whose domain no
// To/Cc names. It returns the symbol's options ("m:" header addresses,
// "s:" envelope ones), nil when the recipients agree.
func forgedRecipients(tx *engine.Transaction, m *message.Message, mime []addr) []string {
	if len(tx.Rcpts) == 0 || len(mime) == 0 {
		return nil
	}
	smtp := tx.Rcpts
	if len(smtp) > maxForgedRcpts {
		smtp = smtp[:maxForgedRcpts]
	}
	if len(mime) > maxForgedRcpts {
		mime = mime[:maxForgedRcpts]
	}
	auser := strings.ToLower(tx.AuthUser)
	delivered, _ := m.First("Delivered-To")
	delivered = strings.ToLower(delivered)
	type rcpt struct {
		addr, domain string
		matched      bool
	}
	byAddr := map[string]*rcpt{}
	domains := map[string]bool{}    // envelope domains
	domainSeen := map[string]bool{} // envelope domains a header address matched
	rcpts := make([]*rcpt, 0, len(smtp))
	for _, r := range smtp {
		if r == "" {
			continue
		}
		l := strings.ToLower(r)
		x := &rcpt{addr: r, domain: domainOf(r)}
		x.matched = (auser != "" && auser == l) || l == strings.ToLower(tx.MailFrom)
		byAddr[l] = x
		domains[x.domain] = true
		rcpts = append(rcpts, x)
	}
	var opts []string
	mimeUnmatched := false
	for _, a := range mime {
		if s, ok := byAddr[a.lower]; ok {
			s.matched = true
			continue
		}
		if a.lower == delivered || (auser != "" && a.lower == auser) {
			continue
		}
		if domains[a.domain] {
			domainSeen[a.domain] = true
			continue
		}
		mimeUnmatched = true
		opts = append(opts, "m:"+a.addr)
	}
	smtpUnmatched := false
	for _, r := range rcpts {
		if !r.matched && !domainSeen[r.domain] {
			smtpUnmatched = true
			opts = append(opts, "s:"+r.addr)
		}
	}
	if mimeUnmatched && smtpUnmatched {
		return opts
	}
	return nil
}

// onceReceived runs rspamd's once_received module for a message with at
// most one Received field: ONCE_RECEIVED unless the client's host name
// looks like a mail server ("mail"), ONCE_RECEIVED_STRICT when it looks
// like an end user's line ("static", "dynamic").
func onceReceived(tx *engine.Transaction, deps engine.Results) []engine.Symbol {
	name := ""
	if res, known := rdnsState(tx, deps); known && res.Status == iprev.Pass {
		name = strings.ToLower(res.Name)
	} else if !known {
		name = strings.ToLower(tx.ClientPTR)
	}
	if strings.Contains(name, "mail") {
		return nil
	}
	out := []engine.Symbol{{Name: SymOnceReceived}}
	for _, bad := range []string{"static", "dynamic"} {
		if strings.Contains(name, bad) {
			out = append(out, engine.Symbol{Name: SymOnceReceivedStrict, Options: []string{bad}})
			break
		}
	}
	return out
}

// isMaillist reports whether the message comes from a mailing list,
// which explains a From or To that differs from the envelope and a
// Reply-To of the list: RFC 2919 List-Id with one of the RFC 2369 List-*
// fields, or the mark of the list managers older than those fields
// (Majordomo, LISTSERV, SmartList, distribute): Precedence list or bulk
// and a Sender or Errors-To of the list's own owner or request address
// (owner-L@D, L-owner@D, L-request@D) for a list L@D in To or Cc.
func isMaillist(m *message.Message) bool {
	if _, ok := m.First("List-Id"); ok && hasAny(m, "List-Unsubscribe", "List-Post", "List-Archive", "List-Help", "List-Subscribe", "List-Owner") {
		return true
	}
	if p, _ := m.First("Precedence"); !strings.EqualFold(strings.TrimSpace(p), "list") && !strings.EqualFold(strings.TrimSpace(p), "bulk") {
		return false
	}
	var admins []addr
	for _, name := range []string{"Sender", "Errors-To"} {
		a, _ := parseAddrs(m, name)
		admins = append(admins, a...)
	}
	if len(admins) == 0 {
		return false
	}
	to, _ := parseAddrs(m, "To")
	cc, _ := parseAddrs(m, "Cc")
	for _, l := range append(to, cc...) {
		local, _, ok := strings.Cut(l.lower, "@")
		if !ok || local == "" {
			continue
		}
		for _, a := range admins {
			alocal, _, _ := strings.Cut(a.lower, "@")
			if a.domain == l.domain && (alocal == "owner-"+local || alocal == local+"-owner" || alocal == local+"-request") {
				return true
			}
		}
	}
	return false
}

func hasAny(m *message.Message, names ...string) bool {
	for _, n := range names {
		if _, ok := m.First(n); ok {
			return true
		}
	}
	return false
}
