package message

import (
	"errors"
	"fmt"
	"strings"

	"golang.org/x/net/idna"
)

// Address is one mailbox of an address header field (RFC 5322 §3.4).
type Address struct {
	// Name is the display name with quoting and comments removed and
	// RFC 2047 encoded words decoded when possible; "" when absent.
	Name string
	// Local is the local part as written, quotes kept when it was a
	// quoted-string (RFC 5322 §3.4.1).
	Local string
	// Domain is the domain part as written: a dot-atom (possibly with
	// U-labels, RFC 6532 §3.2) or a domain literal in brackets.
	Domain string
	// Group names the group the mailbox was listed in, "" outside a group
	// (RFC 5322 §3.4).
	Group string
}

// String returns the addr-spec local@domain.
func (a Address) String() string { return a.Local + "@" + a.Domain }

// ASCIIDomain returns the mailbox's domain in the form DNS lookups and
// alignment compare: lower case, without trailing dot, U-labels converted
// to A-labels (RFC 5890 §2.3.2.1, IDNA2008 lookup rules via
// golang.org/x/net/idna). Domain literals ("[192.0.2.1]") are refused: they
// name no domain.
func (a Address) ASCIIDomain() (string, error) { return NormalizeDomain(a.Domain) }

// Errors of address parsing and From-domain extraction. They are wrapped,
// so test them with errors.Is.
var (
	// ErrSyntax is wrapped by every parse error of ParseAddressList.
	ErrSyntax = errors.New("address syntax")
	// ErrNoFrom: the message has no From field (RFC 7489 §6.6.1).
	ErrNoFrom = errors.New("no From field")
	// ErrMultipleFrom: the message has more than one From field, which
	// RFC 5322 §3.6 forbids (RFC 7489 §6.6.1).
	ErrMultipleFrom = errors.New("several From fields")
	// ErrMultipleAuthors: one From field lists several mailboxes
	// (RFC 5322 §3.6.2; RFC 7489 §6.6.1 evaluates each domain).
	ErrMultipleAuthors = errors.New("several addresses in From")
	// ErrNoAuthor: the From field holds no mailbox (e.g. an empty group).
	ErrNoAuthor = errors.New("no address in From")
	// ErrBadDomain: a From domain is not a usable DNS name (domain
	// literal, invalid IDN, empty label).
	ErrBadDomain = errors.New("unusable From domain")
)

// maxAddresses bounds how many mailboxes one field may yield, so that a
// hostile header cannot make callers do unbounded DNS work.
const maxAddresses = 1000

// ParseAddressList parses the body of an address header field (From, To,
// Cc, Reply-To, …) as an RFC 5322 §3.4 address-list: mailboxes with or
// without display names, comments, quoted strings, groups, and the
// obsolete syntax of RFC 5322 §4.4 (empty list elements, routes in angle
// addresses, CFWS around the dots of a local part or domain, dots in
// display names). UTF-8 is accepted in atoms and quoted strings
// (RFC 6532 §3.2). Folding (CRLF followed by white space) may be left in.
//
// One deviation from the grammar is accepted because it is common: a
// display name that is itself an unquoted address ("a@b.example
// <c@d.example>"); the address in angle brackets is the mailbox.
//
// A group without members contributes no Address. An error wraps
// ErrSyntax and names the byte offset of the problem.
func ParseAddressList(value string) ([]Address, error) {
	p := &addrParser{s: value}
	out, err := p.addressList()
	if err != nil {
		return nil, err
	}
	return out, nil
}

// NormalizeDomain returns domain as DMARC and DNS compare it: lower case,
// no trailing dot, A-labels for U-labels. ASCII names are only lower-cased
// and checked for empty or over-long labels (underscores and the like stay
// allowed, as DNS allows them); names with non-ASCII characters go through
// IDNA2008 lookup processing.
func NormalizeDomain(domain string) (string, error) {
	d := strings.TrimSuffix(strings.TrimSpace(domain), ".")
	if d == "" {
		return "", fmt.Errorf("%w: empty domain", ErrBadDomain)
	}
	if strings.HasPrefix(d, "[") {
		return "", fmt.Errorf("%w: domain literal %s", ErrBadDomain, d)
	}
	ascii := true
	for i := 0; i < len(d); i++ {
		if d[i] >= 0x80 {
			ascii = false
			break
		}
	}
	if ascii {
		d = strings.ToLower(d)
	} else {
		a, err := idna.Lookup.ToASCII(d)
		if err != nil {
			return "", fmt.Errorf("%w: %q: %w", ErrBadDomain, domain, err)
		}
		d = a
	}
	if len(d) > 253 {
		return "", fmt.Errorf("%w: name longer than 253 octets", ErrBadDomain)
	}
	for _, l := range strings.Split(d, ".") {
		if l == "" {
			return "", fmt.Errorf("%w: empty label in %q", ErrBadDomain, domain)
		}
		if len(l) > 63 {
			return "", fmt.Errorf("%w: label longer than 63 octets in %q", ErrBadDomain, domain)
		}
		for i := 0; i < len(l); i++ {
			c := l[i]
			if c <= ' ' || c >= 0x7f || c == '@' || c == '[' || c == ']' || c == '\\' || c == '"' {
				return "", fmt.Errorf("%w: invalid character %q in %q", ErrBadDomain, c, domain)
			}
		}
	}
	return d, nil
}

// FromDomains returns the author domains DMARC evaluates (RFC 7489
// §6.6.1, RFC 9989 §4.4): the normalised domains of the From field's
// mailboxes, without duplicates, in order of appearance.
//
// problem is nil for the normal case of one From field with one mailbox.
// Otherwise it wraps one of ErrNoFrom, ErrMultipleFrom,
// ErrMultipleAuthors, ErrNoAuthor, ErrSyntax or ErrBadDomain, and domains
// holds what could still be extracted: with several From fields or several
// mailboxes, every domain found (RFC 7489 §6.6.1 applies DMARC to each and
// keeps the strictest outcome); with an unparsable field, the name after
// its last "@" when that is a usable domain (a best guess at what a reader
// would see, so that a malformed From cannot dodge a domain's policy);
// with an unusable domain, nothing. The caller decides what each case is
// worth.
func FromDomains(m *Message) (domains []string, problem error) {
	fields := m.Get("From")
	if len(fields) == 0 {
		return nil, ErrNoFrom
	}
	var problems []error
	if len(fields) > 1 {
		problems = append(problems, fmt.Errorf("%w (%d)", ErrMultipleFrom, len(fields)))
	}
	seen := map[string]bool{}
	mailboxes := 0
	for _, f := range fields {
		addrs, err := ParseAddressList(f.Value())
		if err != nil {
			problems = append(problems, fmt.Errorf("From: %w", err))
			if d := guessDomain(f.Value()); d != "" && !seen[d] {
				seen[d] = true
				domains = append(domains, d)
			}
			continue
		}
		mailboxes += len(addrs)
		for _, a := range addrs {
			d, err := a.ASCIIDomain()
			if err != nil {
				problems = append(problems, err)
				continue
			}
			if !seen[d] {
				seen[d] = true
				domains = append(domains, d)
			}
		}
	}
	if len(fields) == 1 && mailboxes > 1 {
		problems = append(problems, fmt.Errorf("%w (%d)", ErrMultipleAuthors, mailboxes))
	}
	if mailboxes == 0 && len(problems) == 0 {
		problems = append(problems, ErrNoAuthor)
	}
	return domains, errors.Join(problems...)
}

// guessDomain returns the normalised name after the last "@" of an
// unparsable field body, or "" when there is no usable one. It is a best
// guess at the domain a mail reader would show, so that a malformed From
// cannot dodge that domain's DMARC policy.
func guessDomain(v string) string {
	i := strings.LastIndexByte(v, '@')
	if i < 0 {
		return ""
	}
	rest := v[i+1:]
	end := 0
	for end < len(rest) {
		c := rest[end]
		if c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '.' || c == '_' || c >= 0x80 {
			end++
			continue
		}
		break
	}
	d, err := NormalizeDomain(rest[:end])
	if err != nil || !strings.Contains(d, ".") {
		return ""
	}
	return d
}
