// Package header writes RFC 5322 header field values: one folding
// writer and one set of token and quoting helpers, shared by every
// package that adds a field (DKIM-Signature, ARC-*, Authentication-Results,
// Received-SPF).
//
// Folding follows RFC 5322 §2.2.3: a CRLF followed by a tab is inserted
// only where white space may stand, so a line is at most Width (78)
// characters (§2.1.1) except where one token is longer than a line; a
// token is never split, except by Writer.Base64 for values in which
// folding white space may stand anywhere (a DKIM or ARC b= value, RFC 6376
// §3.5). The package imports nothing of hamlet; it does not parse.
package header

import "strings"

// Width is the line length folding aims at (RFC 5322 §2.1.1: 78
// characters, excluding the CRLF). A folded line starts with a tab,
// counted as 8 columns.
const Width = 78

// fold is what a fold inserts, and indent the column after it.
const (
	fold   = "\r\n\t"
	indent = 8
)

// Writer builds one folded field value word by word.
type Writer struct {
	b     strings.Builder
	col   int
	fresh bool // no word yet on this line (or in the value): no space before the next
}

// NewWriter returns a Writer for the value of the field called name: the
// first line already holds "name: ".
func NewWriter(name string) *Writer {
	return &Writer{col: len(name) + 2, fresh: true}
}

// Word appends s, which is never split: after a space, or on a new line
// when s would pass Width. The first word of the value or of a line
// (after NewLine) has neither.
func (w *Writer) Word(s string) {
	switch {
	case w.fresh:
	case w.col+1+len(s) > Width:
		w.b.WriteString(fold)
		w.col = indent
	default:
		w.b.WriteByte(' ')
		w.col++
	}
	w.fresh = false
	w.b.WriteString(s)
	w.col += len(s)
}

// Append appends s right after what is written, with no space and no
// fold (a ";" that ends the word before it).
func (w *Writer) Append(s string) {
	w.b.WriteString(s)
	w.col += len(s)
}

// NewLine starts a new line: the next word comes after CRLF TAB.
func (w *Writer) NewLine() {
	w.b.WriteString(fold)
	w.col = indent
	w.fresh = true
}

// Base64 appends s right after what is written (the "b=" before it),
// folding inside s so that no line passes Width: base64 values where
// RFC 6376 §3.5 lets folding white space stand between any two
// characters.
func (w *Writer) Base64(s string) {
	for s != "" {
		room := Width - w.col
		if room <= 0 {
			w.b.WriteString(fold)
			w.col = indent
			continue
		}
		n := min(room, len(s))
		w.b.WriteString(s[:n])
		w.col += n
		s = s[n:]
	}
	w.fresh = false
}

// Col is the column the next character would be written at.
func (w *Writer) Col() int { return w.col }

// String returns the value written so far, without final CRLF.
func (w *Writer) String() string { return w.b.String() }

// IsAtext reports whether c is an RFC 5322 §3.2.3 atext character
// (US-ASCII; RFC 6532's UTF-8 octets are the caller's choice).
func IsAtext(c byte) bool {
	return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' ||
		strings.IndexByte("!#$%&'*+-/=?^_`{|}~", c) >= 0
}

// IsDotAtom reports whether s is an RFC 5322 §3.2.3 dot-atom-text.
func IsDotAtom(s string) bool {
	if s == "" || s[0] == '.' || s[len(s)-1] == '.' || strings.Contains(s, "..") {
		return false
	}
	for i := 0; i < len(s); i++ {
		if s[i] != '.' && !IsAtext(s[i]) {
			return false
		}
	}
	return true
}

// IsToken reports whether s is an RFC 2045 §5.1 token: printable US-ASCII
// without space and tspecials.
func IsToken(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c <= ' ' || c >= 0x7f || IsTSpecial(c) {
			return false
		}
	}
	return true
}

// IsTSpecial reports the tspecials of RFC 2045 §5.1, which a token
// cannot hold.
func IsTSpecial(c byte) bool { return strings.IndexByte(`()<>@,;:\"/[]?=`, c) >= 0 }

// Quote writes v as an RFC 5322 §3.2.4 quoted-string: '"' and '\' are
// quoted-pairs; a control character (CR and LF included) becomes
// replacement, so that a value can never break the field. replacement
// is ' ' where the field allows UTF-8 (RFC 6532), '?' where it must stay
// US-ASCII; with '?', octets above 0x7e are replaced too.
func Quote(v string, replacement byte) string {
	var b strings.Builder
	b.Grow(len(v) + 2)
	b.WriteByte('"')
	escape(&b, v, `"\`, replacement)
	b.WriteByte('"')
	return b.String()
}

// CommentText makes text safe inside an RFC 5322 §3.2.2 comment: '(',
// ')' and '\' become quoted-pairs, and a control character becomes
// replacement (see Quote). It returns the text without the parentheses.
func CommentText(text string, replacement byte) string {
	var b strings.Builder
	b.Grow(len(text))
	escape(&b, text, `()\`, replacement)
	return b.String()
}

// escape writes s with the bytes of special as quoted-pairs (RFC 5322
// §3.2.1) and what may not stand in a field replaced.
func escape(b *strings.Builder, s, special string, replacement byte) {
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case strings.IndexByte(special, c) >= 0:
			b.WriteByte('\\')
			b.WriteByte(c)
		case c < ' ' || c == 0x7f || replacement == '?' && c > 0x7e:
			b.WriteByte(replacement)
		default:
			b.WriteByte(c)
		}
	}
}
