package authres

import (
	"strings"

	"github.com/hamlet-mail/hamlet/dns/dnsname"
	"github.com/hamlet-mail/hamlet/message/header"
)

// maxLine is the line length folding aims at (RFC 5322 §2.1.1).
const maxLine = header.Width

// isDomainName reports whether s is a domain-name as a pvalue may carry it
// unquoted (RFC 8601 §2.2 refers to RFC 6376 §3.5, which takes RFC 5321's
// Domain: LDH labels, no underscore, one label allowed). Anything else,
// underscores and U-labels included, is written as a quoted-string, which
// every reader accepts.
func isDomainName(s string) bool { return dnsname.Rules{}.Valid(s) }

// quoteValue writes v as a value of RFC 8601 §2.2 (an RFC 2045 token or
// a quoted-string), for the authserv-id and reason. Control characters
// (CR, LF included) become spaces so that a value cannot break the field.
func quoteValue(v string) string {
	if header.IsToken(v) {
		return v
	}
	return quote(v)
}

// quotePValue writes a property value (RFC 8601 §2.2 pvalue): a token as
// is, an address [local-part] "@" domain-name as is when its local part
// is a dot-atom, anything else as a quoted-string.
func quotePValue(v string) string {
	if header.IsToken(v) {
		return v
	}
	if i := strings.LastIndexByte(v, '@'); i >= 0 {
		local, dom := v[:i], v[i+1:]
		if (local == "" || header.IsDotAtom(local)) && isDomainName(dom) {
			return v
		}
	}
	return quote(v)
}

// quote writes v as a quoted-string, control characters as spaces (the
// field may carry UTF-8, RFC 8601 §2.2 / RFC 6532).
func quote(v string) string { return header.Quote(v, ' ') }

// comment formats text as an RFC 5322 comment, escaping parentheses and
// backslashes.
func comment(text string) string { return "(" + header.CommentText(text, ' ') + ")" }

// keyword returns s if it is a Keyword (RFC 8601 §2.2, RFC 5321 ldh-str
// with underscores tolerated), else a sanitised form, so that a bad
// method or result name from a caller cannot break the field.
func keyword(s string) string {
	ok := s != ""
	for i := 0; i < len(s) && ok; i++ {
		c := s[i]
		ok = c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '_'
	}
	if ok {
		return s
	}
	out := strings.Map(func(r rune) rune {
		if r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '-' || r == '_' {
			return r
		}
		return '_'
	}, s)
	if out == "" {
		return "unknown"
	}
	return out
}

// pieces returns the words of one resinfo, to be joined by spaces.
func (r Result) pieces() []string {
	m := keyword(r.Method)
	if r.Version != "" {
		m += "/" + keyword(r.Version)
	}
	out := []string{m + "=" + keyword(r.Result)}
	if r.Comment != "" {
		out = append(out, comment(r.Comment))
	}
	if r.Reason != "" {
		out = append(out, "reason="+quoteValue(r.Reason))
	}
	for _, p := range r.Props {
		out = append(out, keyword(p.Type)+"."+keyword(p.Property)+"="+quotePValue(p.Value))
	}
	return out
}

func (h Header) id() string {
	id := quoteValue(h.AuthServID)
	if h.Version != "" {
		id += " " + keyword(h.Version)
	}
	return id
}

// String returns the field body on one line, without the field name:
// "authserv-id; method=result prop=value; …" or "authserv-id; none".
func (h Header) String() string {
	var b strings.Builder
	b.WriteString(h.id())
	if len(h.Results) == 0 {
		b.WriteString("; none")
		return b.String()
	}
	for _, r := range h.Results {
		b.WriteString("; ")
		b.WriteString(strings.Join(r.pieces(), " "))
	}
	return b.String()
}

// Fold returns the field body folded for a field named FieldName: each
// resinfo starts a new line indented by a tab, and a resinfo longer than
// 78 characters is folded between its words. The result has CRLF + TAB
// folds, no leading space and no final CRLF; a word longer than a line is
// left whole (RFC 5322 §2.1.1 allows up to 998).
func (h Header) Fold() string {
	w := header.NewWriter(FieldName)
	w.Word(h.id())
	w.Append(";")
	if len(h.Results) == 0 {
		w.Append(" none")
		return w.String()
	}
	for i, r := range h.Results {
		w.NewLine()
		pieces := r.pieces()
		for j, p := range pieces {
			if j == len(pieces)-1 && i < len(h.Results)-1 {
				p += ";"
			}
			w.Word(p)
		}
	}
	return w.String()
}
