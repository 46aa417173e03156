package message

import (
	"errors"
	"fmt"
	"mime"
	"strings"

	"github.com/hamlet-mail/hamlet/message/header"
)

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
