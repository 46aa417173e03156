package authres

import (
	"errors"
	"fmt"
	"sort"
	"strings"

	"github.com/hamlet-mail/hamlet/message"
	"github.com/hamlet-mail/hamlet/message/header"
)

// ErrSyntax is wrapped by every parse error.
var ErrSyntax = errors.New("authres: syntax")

// maxResults bounds the resinfos read from one field.
const maxResults = 256

// Parse reads an Authentication-Results field body (RFC 8601 §2.2):
// authserv-id, optional version, then "; none" or resinfos with method
// (and method version), result, reason, comments and properties. Folding
// may be left in.
//
// It is lenient where the world is: property values that are not
// tokens are read up to the next white space, comment or semicolon
// (header.b=ab/c+d= is common unquoted), empty property values are kept,
// and a trailing semicolon is accepted. On a syntax error it returns the
// Header read so far (AuthServID set if it could be read) and an error
// wrapping ErrSyntax with the byte offset.
func Parse(value string) (*Header, error) {
	p := &parser{s: value}
	h := &Header{}
	if err := p.skipCFWS(nil); err != nil {
		return h, err
	}
	id, err := p.value()
	if err != nil {
		return h, p.errorf("authserv-id: %v", err)
	}
	h.AuthServID = id
	if err := p.skipCFWS(nil); err != nil {
		return h, err
	}
	if c := p.peek(); c >= '0' && c <= '9' {
		start := p.pos
		for !p.eof() && p.peek() >= '0' && p.peek() <= '9' {
			p.pos++
		}
		h.Version = p.s[start:p.pos]
		if err := p.skipCFWS(nil); err != nil {
			return h, err
		}
	}
	none := false
	for {
		if err := p.skipCFWS(nil); err != nil {
			return h, err
		}
		if p.eof() {
			break
		}
		if p.peek() != ';' {
			return h, p.errorf("expected ';', found %q", p.peek())
		}
		p.pos++
		if err := p.skipCFWS(nil); err != nil {
			return h, err
		}
		if p.eof() {
			break // trailing semicolon
		}
		start := p.pos
		kw := p.keyword()
		if kw == "" {
			return h, p.errorf("expected a method, found %q", p.peek())
		}
		if err := p.skipCFWS(nil); err != nil {
			return h, err
		}
		if strings.EqualFold(kw, "none") && p.peek() != '=' && p.peek() != '/' {
			// no-result (RFC 8601 §2.2)
			none = true
			continue
		}
		if none {
			return h, p.errorf("result after none")
		}
		if len(h.Results) >= maxResults {
			return h, p.errorf("more than %d results", maxResults)
		}
		p.pos = start
		r, err := p.resinfo()
		if err != nil {
			return h, err
		}
		h.Results = append(h.Results, r)
	}
	return h, nil
}

// ParseAuthServID reads only the authserv-id at the start of a field
// body.
func ParseAuthServID(value string) (string, error) {
	p := &parser{s: value}
	if err := p.skipCFWS(nil); err != nil {
		return "", err
	}
	id, err := p.value()
	if err != nil {
		return "", p.errorf("authserv-id: %v", err)
	}
	return id, nil
}

// Own returns the positions (1-based, counted among the message's
// Authentication-Results fields, top first) of the fields whose
// authserv-id is one of ids, compared case-insensitively and without a
// trailing dot. RFC 8601 §5: a receiver removes such fields, which claim
// to come from inside its trust boundary but arrived from outside. A field
// whose authserv-id cannot be read is listed too, since it cannot be shown
// not to claim ours. Positions are in descending order, so that removing
// them one after another does not shift those still to remove.
func Own(m *message.Message, ids ...string) []int {
	norm := func(s string) string { return strings.ToLower(strings.TrimSuffix(strings.TrimSpace(s), ".")) }
	want := map[string]bool{}
	for _, id := range ids {
		if id = norm(id); id != "" {
			want[id] = true
		}
	}
	var out []int
	for i, f := range m.Get(FieldName) {
		id, err := ParseAuthServID(f.Value())
		if err != nil || want[norm(id)] {
			out = append(out, i+1)
		}
	}
	sort.Sort(sort.Reverse(sort.IntSlice(out)))
	return out
}

type parser struct {
	s   string
	pos int
}

func (p *parser) errorf(format string, args ...any) error {
	return fmt.Errorf("%w at offset %d: %s", ErrSyntax, p.pos, fmt.Sprintf(format, args...))
}

func (p *parser) eof() bool { return p.pos >= len(p.s) }

func (p *parser) peek() byte {
	if p.pos < len(p.s) {
		return p.s[p.pos]
	}
	return 0
}

// skipCFWS skips white space, folding and comments (RFC 5322 §3.2.2),
// appending the text of each comment to comments when it is not nil.
func (p *parser) skipCFWS(comments *[]string) error {
	for !p.eof() {
		switch p.peek() {
		case ' ', '\t', '\r', '\n':
			p.pos++
		case '(':
			start := p.pos
			depth := 0
			var b strings.Builder
		loop:
			for {
				if p.eof() {
					p.pos = start
					return p.errorf("unterminated comment")
				}
				c := p.s[p.pos]
				p.pos++
				switch c {
				case '\\':
					if !p.eof() {
						b.WriteByte(p.s[p.pos])
						p.pos++
					}
					continue
				case '(':
					depth++
					if depth == 1 {
						continue
					}
				case ')':
					depth--
					if depth == 0 {
						break loop
					}
				case '\r', '\n':
					continue
				}
				b.WriteByte(c)
			}
			if comments != nil {
				*comments = append(*comments, strings.TrimSpace(b.String()))
			}
		default:
			return nil
		}
	}
	return nil
}

// keyword reads a Keyword (RFC 8601 §2.2: ldh-str; underscores
// tolerated).
func (p *parser) keyword() string {
	start := p.pos
	for !p.eof() {
		c := p.peek()
		if c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '_' {
			p.pos++
			continue
		}
		break
	}
	return p.s[start:p.pos]
}

// value reads a value: a token or a quoted-string (RFC 2045 §5.1).
func (p *parser) value() (string, error) {
	if p.peek() == '"' {
		return p.quoted()
	}
	start := p.pos
	for !p.eof() {
		c := p.peek()
		if c <= ' ' || c == 0x7f || header.IsTSpecial(c) {
			break
		}
		p.pos++
	}
	if p.pos == start {
		if p.eof() {
			return "", errors.New("missing value")
		}
		return "", fmt.Errorf("unexpected %q", p.peek())
	}
	return p.s[start:p.pos], nil
}

func (p *parser) quoted() (string, error) {
	start := p.pos
	p.pos++
	var b strings.Builder
	for !p.eof() {
		c := p.s[p.pos]
		p.pos++
		switch c {
		case '\\':
			if !p.eof() {
				b.WriteByte(p.s[p.pos])
				p.pos++
			}
		case '"':
			return b.String(), nil
		case '\r', '\n':
		default:
			b.WriteByte(c)
		}
	}
	p.pos = start
	return "", errors.New("unterminated quoted string")
}

// pvalue reads a property value leniently: a quoted-string (possibly the
// local part of an address followed by "@domain"), or a run of characters
// up to white space, a comment or a semicolon.
func (p *parser) pvalue() (string, error) {
	var b strings.Builder
	if p.peek() == '"' {
		q, err := p.quoted()
		if err != nil {
			return "", p.errorf("%v", err)
		}
		if p.peek() != '@' {
			return q, nil
		}
		b.WriteString(quote(q))
	}
	for !p.eof() {
		c := p.peek()
		if c == ' ' || c == '\t' || c == '\r' || c == '\n' || c == '(' || c == ';' {
			break
		}
		b.WriteByte(c)
		p.pos++
	}
	return b.String(), nil
}

// resinfo reads methodspec [reasonspec] *propspec (RFC 8601 §2.2).
func (p *parser) resinfo() (Result, error) {
	var r Result
	var comments []string
	r.Method = p.keyword()
	if err := p.skipCFWS(&comments); err != nil {
		return r, err
	}
	if p.peek() == '/' {
		p.pos++
		if err := p.skipCFWS(&comments); err != nil {
			return r, err
		}
		r.Version = p.keyword()
		if r.Version == "" {
			return r, p.errorf("missing method version")
		}
		if err := p.skipCFWS(&comments); err != nil {
			return r, err
		}
	}
	if p.peek() != '=' {
		return r, p.errorf("expected '=' after method %q", r.Method)
	}
	p.pos++
	if err := p.skipCFWS(&comments); err != nil {
		return r, err
	}
	r.Result = p.keyword()
	if r.Result == "" {
		return r, p.errorf("missing result for method %q", r.Method)
	}
	for {
		if err := p.skipCFWS(&comments); err != nil {
			return r, err
		}
		if p.eof() || p.peek() == ';' {
			break
		}
		name := p.keyword()
		if name == "" {
			return r, p.errorf("expected a property, found %q", p.peek())
		}
		if err := p.skipCFWS(&comments); err != nil {
			return r, err
		}
		if strings.EqualFold(name, "reason") && p.peek() == '=' {
			p.pos++
			if err := p.skipCFWS(&comments); err != nil {
				return r, err
			}
			v, err := p.value()
			if err != nil {
				return r, p.errorf("reason: %v", err)
			}
			r.Reason = v
			continue
		}
		if p.peek() != '.' {
			return r, p.errorf("expected '.' after ptype %q", name)
		}
		p.pos++
		if err := p.skipCFWS(&comments); err != nil {
			return r, err
		}
		prop := p.keyword()
		if prop == "" {
			return r, p.errorf("missing property after %q.", name)
		}
		if err := p.skipCFWS(&comments); err != nil {
			return r, err
		}
		if p.peek() != '=' {
			return r, p.errorf("expected '=' after %s.%s", name, prop)
		}
		p.pos++
		if err := p.skipCFWS(&comments); err != nil {
			return r, err
		}
		v, err := p.pvalue()
		if err != nil {
			return r, err
		}
		r.Props = append(r.Props, Prop{Type: name, Property: prop, Value: v})
	}
	r.Comment = strings.Join(comments, " ")
	return r, nil
}
