package spf

import (
	"net/netip"
	"strings"

	"github.com/hamlet-mail/hamlet/message/header"
)

// Code is an SPF result (RFC 7208 §2.6).
type Code string

// The seven results of RFC 7208 §2.6.
const (
	None      Code = "none"      // §2.6.1: no record, or no valid domain
	Neutral   Code = "neutral"   // §2.6.2: the domain asserts nothing
	Pass      Code = "pass"      // §2.6.3: the client is authorized
	Fail      Code = "fail"      // §2.6.4: the client is not authorized
	SoftFail  Code = "softfail"  // §2.6.5: probably not authorized
	TempError Code = "temperror" // §2.6.6: transient (DNS) error
	PermError Code = "permerror" // §2.6.7: the record could not be interpreted
)

// Identity is which identity was checked (RFC 7208 §2.3, §2.4).
type Identity string

// The two identities RFC 7208 defines for SMTP.
const (
	IdentityMailFrom Identity = "mailfrom"
	IdentityHelo     Identity = "helo"
)

// Result is the outcome of an SPF evaluation, with what is needed to
// explain it (a Received-SPF header, an Authentication-Results entry, a
// domain doctor's report).
type Result struct {
	Code     Code
	Identity Identity
	// Domain is the domain whose policy was evaluated: the MAIL FROM
	// domain, or the HELO name (RFC 7208 §4.1 <domain>).
	Domain string
	// Sender is <sender> as used for macros: the MAIL FROM address, or
	// "postmaster@" + HELO for the HELO identity (RFC 7208 §4.3).
	Sender string

	IP       netip.Addr // the client address checked (IPv4-mapped unmapped)
	Helo     string     // the HELO/EHLO name given
	MailFrom string     // the envelope sender given ("" for <>)
	Receiver string     // the receiving host, for the header and %{r}

	// Mechanism is the directive that decided the result as written in
	// its record (e.g. "ip4:192.0.2.0/24", "include:_spf.example.net",
	// "-all"), "default" when no directive matched (RFC 7208 §4.7), and ""
	// when no record was evaluated to its end.
	Mechanism string
	// Record is the SPF record of Domain ("" if none was found).
	Record string
	// Explanation is the explanation string for a fail: from exp=, or
	// the checker's default (RFC 7208 §6.2).
	Explanation string
	// Problem says why the result is none, temperror or permerror.
	Problem string
	// Err is the underlying error for temperror and permerror results
	// (a *SyntaxError, a *dns.Error, ErrTooManyLookups, ...).
	Err error

	// Lookups counts the terms that caused DNS queries (include, a, mx,
	// ptr, exists, redirect), the quantity limited to 10 by RFC 7208
	// §4.6.4. VoidLookups counts those whose answer was empty or NXDOMAIN
	// (limited to 2). Queries counts every DNS query made, including
	// record lookups and the address lookups of mx and ptr.
	Lookups     int
	VoidLookups int
	Queries     int
	// VoidTerms are the terms counted in VoidLookups, as written.
	VoidTerms []string
}

// Comment returns the human-readable text of the Received-SPF comment
// (RFC 7208 §9.1), without parentheses.
func (r *Result) Comment() string {
	var b strings.Builder
	if r.Receiver != "" {
		b.WriteString(r.Receiver)
		b.WriteString(": ")
	}
	who := r.Sender
	if who == "" {
		who = r.Domain
	}
	ip := r.IP.String()
	switch r.Code {
	case Pass:
		b.WriteString("domain of " + who + " designates " + ip + " as permitted sender")
	case Fail:
		b.WriteString("domain of " + who + " does not designate " + ip + " as permitted sender")
	case SoftFail:
		b.WriteString("transitioning domain of " + who + " does not designate " + ip + " as permitted sender")
	case Neutral:
		b.WriteString(ip + " is neither permitted nor denied by domain of " + who)
	case None:
		b.WriteString("domain of " + who + " does not designate permitted sender hosts")
	case TempError:
		b.WriteString("temporary error in processing domain of " + r.Domain)
		if r.Problem != "" {
			b.WriteString(": " + r.Problem)
		}
	case PermError:
		b.WriteString("permanent error in processing domain of " + r.Domain)
		if r.Problem != "" {
			b.WriteString(": " + r.Problem)
		}
	}
	return b.String()
}

// ReceivedSPF returns the value of a Received-SPF header field for r
// (RFC 7208 §9.1), unfolded, e.g.
//
//	pass (mx.example.org: domain of a@example.com designates 192.0.2.1 as permitted sender) client-ip=192.0.2.1; envelope-from="a@example.com"; helo=mail.example.com; receiver=mx.example.org; mechanism="ip4:192.0.2.0/24"; identity=mailfrom
func (r *Result) ReceivedSPF() string {
	var b strings.Builder
	b.WriteString(string(r.Code))
	b.WriteString(" (")
	b.WriteString(commentEscape(r.Comment()))
	b.WriteString(")")
	kv := func(k, v string) {
		b.WriteString(" ")
		b.WriteString(k)
		b.WriteString("=")
		b.WriteString(kvValue(v))
		b.WriteString(";")
	}
	// RFC 7208 §9.1 key-value-list; the order is free.
	if r.IP.IsValid() {
		kv("client-ip", r.IP.String())
	}
	if r.MailFrom != "" {
		kv("envelope-from", r.MailFrom)
	}
	if r.Helo != "" {
		kv("helo", r.Helo)
	}
	if r.Receiver != "" {
		kv("receiver", r.Receiver)
	}
	if r.Mechanism != "" && r.Code != PermError && r.Code != TempError {
		kv("mechanism", r.Mechanism)
	}
	if r.Problem != "" && (r.Code == PermError || r.Code == TempError) {
		kv("problem", r.Problem)
	}
	if r.Identity != "" {
		kv("identity", string(r.Identity))
	}
	return strings.TrimSuffix(b.String(), ";")
}

// Header returns the complete "Received-SPF: ..." field, unfolded and
// without final CRLF.
func (r *Result) Header() string { return "Received-SPF: " + r.ReceivedSPF() }

// commentEscape makes s safe inside an RFC 5322 comment of a US-ASCII
// field: parentheses and backslashes are quoted, anything not printable
// becomes '?'.
func commentEscape(s string) string { return header.CommentText(s, '?') }

// kvValue writes v as a dot-atom when it is one, else as a quoted-string
// (RFC 7208 §9.1, RFC 5322 §3.2.3, §3.2.4).
func kvValue(v string) string {
	if header.IsDotAtom(v) {
		return v
	}
	return header.Quote(v, '?')
}
