package message

import (
	"errors"
	"fmt"
	"mime"
	"strings"

	"golang.org/x/net/idna"

	"github.com/hamlet-mail/hamlet/message/header"
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

// addrParser is a recursive-descent parser over one field body.
type addrParser struct {
	s   string
	pos int
}

func (p *addrParser) errorf(format string, args ...any) error {
	return fmt.Errorf("%w at offset %d: %s", ErrSyntax, p.pos, fmt.Sprintf(format, args...))
}

func (p *addrParser) eof() bool { return p.pos >= len(p.s) }

func (p *addrParser) peek() byte {
	if p.pos < len(p.s) {
		return p.s[p.pos]
	}
	return 0
}

// skipCFWS skips folding white space and comments (RFC 5322 §3.2.2).
// Comments nest and may contain quoted-pairs.
func (p *addrParser) skipCFWS() error {
	for p.pos < len(p.s) {
		switch c := p.s[p.pos]; c {
		case ' ', '\t', '\r', '\n':
			p.pos++
		case '(':
			if err := p.comment(); err != nil {
				return err
			}
		default:
			return nil
		}
	}
	return nil
}

func (p *addrParser) comment() error {
	start := p.pos
	depth := 0
	for p.pos < len(p.s) {
		c := p.s[p.pos]
		p.pos++
		switch c {
		case '\\':
			if p.pos < len(p.s) {
				p.pos++
			}
		case '(':
			depth++
		case ')':
			depth--
			if depth == 0 {
				return nil
			}
		}
	}
	p.pos = start
	return p.errorf("unterminated comment")
}

// isAtext reports whether c may appear in an atom (RFC 5322 §3.2.3,
// extended by RFC 6532 §3.2 to UTF-8 octets).
func isAtext(c byte) bool { return c >= 0x80 || header.IsAtext(c) }

type tokKind int

const (
	tokAtom tokKind = iota
	tokQuoted
	tokDot
)

type token struct {
	kind tokKind
	text string // atom text, quoted-string content (unescaped), or "."
	raw  string // as written
	// spaceBefore reports CFWS between this token and the previous one.
	spaceBefore bool
}

// words reads atoms, quoted strings and dots up to the next special
// character (the phrase of a display name, or a local part).
func (p *addrParser) words() ([]token, error) {
	var toks []token
	for {
		before := p.pos
		if err := p.skipCFWS(); err != nil {
			return nil, err
		}
		space := p.pos > before
		if p.eof() {
			return toks, nil
		}
		c := p.s[p.pos]
		switch {
		case c == '"':
			t, err := p.quoted()
			if err != nil {
				return nil, err
			}
			t.spaceBefore = space
			toks = append(toks, t)
		case c == '.':
			p.pos++
			toks = append(toks, token{kind: tokDot, text: ".", raw: ".", spaceBefore: space})
		case isAtext(c):
			start := p.pos
			for p.pos < len(p.s) && isAtext(p.s[p.pos]) {
				p.pos++
			}
			a := p.s[start:p.pos]
			toks = append(toks, token{kind: tokAtom, text: a, raw: a, spaceBefore: space})
		default:
			return toks, nil
		}
	}
}

// quoted reads a quoted-string (RFC 5322 §3.2.4), folding allowed inside.
func (p *addrParser) quoted() (token, error) {
	start := p.pos
	p.pos++ // opening quote
	var b strings.Builder
	for p.pos < len(p.s) {
		c := p.s[p.pos]
		switch c {
		case '\\':
			p.pos++
			if p.pos >= len(p.s) {
				p.pos = start
				return token{}, p.errorf("unterminated quoted string")
			}
			b.WriteByte(p.s[p.pos])
			p.pos++
		case '"':
			p.pos++
			return token{kind: tokQuoted, text: b.String(), raw: p.s[start:p.pos]}, nil
		case '\r', '\n':
			p.pos++ // folding inside a quoted string is removed (§3.2.4)
		default:
			b.WriteByte(c)
			p.pos++
		}
	}
	p.pos = start
	return token{}, p.errorf("unterminated quoted string")
}

// addressList parses address-list / obs-addr-list (RFC 5322 §3.4, §4.4).
func (p *addrParser) addressList() ([]Address, error) {
	var out []Address
	for {
		if err := p.skipCFWS(); err != nil {
			return nil, err
		}
		if p.eof() {
			break
		}
		if p.peek() == ',' { // obs-addr-list: empty element
			p.pos++
			continue
		}
		addrs, err := p.address(false)
		if err != nil {
			return nil, err
		}
		out = append(out, addrs...)
		if len(out) > maxAddresses {
			return nil, p.errorf("more than %d addresses", maxAddresses)
		}
		if err := p.skipCFWS(); err != nil {
			return nil, err
		}
		if p.eof() {
			break
		}
		if p.peek() != ',' {
			return nil, p.errorf("unexpected %q after address", p.peek())
		}
		p.pos++
	}
	return out, nil
}

// address parses one address: a mailbox or a group (RFC 5322 §3.4).
func (p *addrParser) address(inGroup bool) ([]Address, error) {
	start := p.pos
	toks, err := p.words()
	if err != nil {
		return nil, err
	}
	switch p.peek() {
	case ':':
		if len(toks) == 0 {
			return nil, p.errorf("group without a display name")
		}
		if inGroup {
			return nil, p.errorf("group inside group")
		}
		p.pos++
		return p.group(phrase(toks))
	case '<':
		a, err := p.angleAddr()
		if err != nil {
			return nil, err
		}
		a.Name = phrase(toks)
		return []Address{a}, nil
	case '@':
		local, err := localPart(toks)
		if err != nil {
			return nil, p.errorf("%v", err)
		}
		p.pos++
		dom, err := p.domain()
		if err != nil {
			return nil, err
		}
		if err := p.skipCFWS(); err != nil {
			return nil, err
		}
		if p.peek() == '<' {
			// Lenient: "a@b <c@d>" — the first address is a display
			// name written without quotes.
			nameEnd := p.pos
			a, err := p.angleAddr()
			if err != nil {
				return nil, err
			}
			a.Name = strings.TrimSpace(p.s[start:nameEnd])
			return []Address{a}, nil
		}
		return []Address{{Local: local, Domain: dom}}, nil
	}
	if p.eof() || p.peek() == ',' || p.peek() == ';' {
		if len(toks) == 0 {
			return nil, p.errorf("empty address")
		}
		return nil, p.errorf("address %q has no @domain", strings.TrimSpace(p.s[start:p.pos]))
	}
	return nil, p.errorf("unexpected %q in address", p.peek())
}

// group parses the rest of a group after its colon: an optional
// mailbox-list and the closing semicolon (RFC 5322 §3.4; obs-group-list
// allows empty elements).
func (p *addrParser) group(name string) ([]Address, error) {
	var out []Address
	for {
		if err := p.skipCFWS(); err != nil {
			return nil, err
		}
		if p.eof() {
			// A missing ";" at the very end is tolerated.
			return out, nil
		}
		switch p.peek() {
		case ';':
			p.pos++
			return out, nil
		case ',':
			p.pos++
			continue
		}
		addrs, err := p.address(true)
		if err != nil {
			return nil, err
		}
		for _, a := range addrs {
			a.Group = name
			out = append(out, a)
		}
		if len(out) > maxAddresses {
			return nil, p.errorf("more than %d addresses", maxAddresses)
		}
		if err := p.skipCFWS(); err != nil {
			return nil, err
		}
		switch p.peek() {
		case ',':
			p.pos++
		case ';':
		default:
			if !p.eof() {
				return nil, p.errorf("unexpected %q in group %q", p.peek(), name)
			}
		}
	}
}

// angleAddr parses "<" [obs-route] addr-spec ">" (RFC 5322 §3.4, §4.4).
func (p *addrParser) angleAddr() (Address, error) {
	p.pos++ // '<'
	if err := p.skipCFWS(); err != nil {
		return Address{}, err
	}
	if p.peek() == '@' || p.peek() == ',' {
		// obs-route: obs-domain-list ":" — the route is ignored.
		for {
			if err := p.skipCFWS(); err != nil {
				return Address{}, err
			}
			switch p.peek() {
			case ',':
				p.pos++
				continue
			case '@':
				p.pos++
				if _, err := p.domain(); err != nil {
					return Address{}, err
				}
				continue
			case ':':
				p.pos++
			default:
				return Address{}, p.errorf("bad route in angle address")
			}
			break
		}
	}
	toks, err := p.words()
	if err != nil {
		return Address{}, err
	}
	if p.peek() != '@' {
		if p.peek() == '>' && len(toks) == 0 {
			return Address{}, p.errorf("empty angle address <>")
		}
		return Address{}, p.errorf("angle address without @domain")
	}
	local, err := localPart(toks)
	if err != nil {
		return Address{}, p.errorf("%v", err)
	}
	p.pos++
	dom, err := p.domain()
	if err != nil {
		return Address{}, err
	}
	if err := p.skipCFWS(); err != nil {
		return Address{}, err
	}
	if p.peek() != '>' {
		return Address{}, p.errorf("missing > after address")
	}
	p.pos++
	return Address{Local: local, Domain: dom}, nil
}

// domain parses dot-atom / domain-literal / obs-domain (RFC 5322 §3.4.1,
// §4.4) and returns it without CFWS.
func (p *addrParser) domain() (string, error) {
	if err := p.skipCFWS(); err != nil {
		return "", err
	}
	if p.peek() == '[' {
		start := p.pos
		for p.pos < len(p.s) {
			c := p.s[p.pos]
			p.pos++
			switch c {
			case '\\':
				p.pos++
			case '[':
				if p.pos-1 != start {
					return "", p.errorf("'[' inside domain literal")
				}
			case ']':
				return p.s[start:p.pos], nil
			}
		}
		p.pos = start
		return "", p.errorf("unterminated domain literal")
	}
	var b strings.Builder
	wantAtom := true
	for {
		if err := p.skipCFWS(); err != nil {
			return "", err
		}
		if p.eof() {
			break
		}
		c := p.s[p.pos]
		if wantAtom {
			if !isAtext(c) {
				break
			}
			start := p.pos
			for p.pos < len(p.s) && isAtext(p.s[p.pos]) {
				p.pos++
			}
			b.WriteString(p.s[start:p.pos])
			wantAtom = false
			continue
		}
		if c != '.' {
			break
		}
		// A trailing dot before the end is not a dot-atom; a lone dot
		// after the last label is tolerated and dropped below.
		p.pos++
		b.WriteByte('.')
		wantAtom = true
	}
	d := b.String()
	if d == "" {
		return "", p.errorf("missing domain after @")
	}
	if wantAtom {
		// "user@example.com." — an FQDN written with its root dot.
		d = strings.TrimSuffix(d, ".")
		if d == "" || strings.HasSuffix(d, ".") {
			return "", p.errorf("empty label in domain")
		}
	}
	return d, nil
}

// localPart rebuilds a local part from tokens: dot-atom, quoted-string or
// obs-local-part (words separated by dots, CFWS allowed around them).
func localPart(toks []token) (string, error) {
	if len(toks) == 0 {
		return "", errors.New("empty local part")
	}
	var b strings.Builder
	wantWord := true
	for _, t := range toks {
		if t.kind == tokDot {
			if wantWord {
				return "", errors.New("empty word in local part")
			}
			b.WriteByte('.')
			wantWord = true
			continue
		}
		if !wantWord {
			return "", errors.New("space inside local part")
		}
		b.WriteString(t.raw)
		wantWord = false
	}
	if wantWord {
		return "", errors.New("local part ends with a dot")
	}
	return b.String(), nil
}

// phrase turns display-name tokens into text: words joined by single
// spaces, dots kept (obs-phrase), RFC 2047 encoded words decoded.
func phrase(toks []token) string {
	var b strings.Builder
	for i, t := range toks {
		if i > 0 && t.spaceBefore {
			b.WriteByte(' ')
		}
		b.WriteString(t.text)
	}
	s := b.String()
	if strings.Contains(s, "=?") {
		var dec mime.WordDecoder
		if d, err := dec.DecodeHeader(s); err == nil {
			s = d
		}
	}
	return s
}
