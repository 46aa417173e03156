package dkim

import (
	"errors"
	"fmt"
	"strings"
)

// Tag is one tag=value pair of a tag list.
type Tag struct {
	Name  string
	Value string // surrounding white space removed; inner folding kept
}

// TagList is a parsed tag list, in the order written.
type TagList []Tag

// Get returns the value of the tag called name (tag names are
// case-sensitive, RFC 6376 §3.2) and whether it is present.
func (l TagList) Get(name string) (string, bool) {
	for _, t := range l {
		if t.Name == name {
			return t.Value, true
		}
	}
	return "", false
}

// Has reports whether the tag called name is present.
func (l TagList) Has(name string) bool {
	_, ok := l.Get(name)
	return ok
}

// ErrTagSyntax is wrapped by every tag-list syntax error.
var ErrTagSyntax = errors.New("tag-list syntax error")

// ParseTagList parses a tag=value list as used by DKIM-Signature fields,
// DKIM key records and the ARC header fields.
//
// RFC 6376 §3.2:
//
//	tag-list  =  tag-spec *( ";" tag-spec ) [ ";" ]
//	tag-spec  =  [FWS] tag-name [FWS] "=" [FWS] tag-value [FWS]
//	tag-name  =  ALPHA *ALNUMPUNC
//	tag-value =  [ tval *( 1*(WSP / FWS) tval ) ]
//	tval      =  1*VALCHAR          ; VALCHAR = %x21-3A / %x3C-7E
//
// "Tags with duplicate names MUST NOT occur within a single tag-list; if a
// tag name does occur more than once, the entire tag-list is invalid."
// A trailing semicolon is allowed; an empty list element elsewhere is not.
func ParseTagList(s string) (TagList, error) {
	parts := strings.Split(s, ";")
	out := make(TagList, 0, len(parts))
	for i, p := range parts {
		if isFWSOnly(p) {
			if i == len(parts)-1 && i > 0 {
				break // the optional final ";"
			}
			return nil, fmt.Errorf("%w: empty tag-spec", ErrTagSyntax)
		}
		eq := strings.IndexByte(p, '=')
		if eq < 0 {
			return nil, fmt.Errorf("%w: %q has no '='", ErrTagSyntax, trimFWS(p))
		}
		name := trimFWS(p[:eq])
		if !validTagName(name) {
			return nil, fmt.Errorf("%w: invalid tag name %q", ErrTagSyntax, name)
		}
		value := trimFWS(p[eq+1:])
		if err := checkTagValue(value); err != nil {
			return nil, fmt.Errorf("%w: tag %s: %v", ErrTagSyntax, name, err)
		}
		for _, t := range out {
			if t.Name == name {
				return nil, fmt.Errorf("%w: duplicate tag %q", ErrTagSyntax, name)
			}
		}
		out = append(out, Tag{Name: name, Value: value})
	}
	return out, nil
}

func isWSP(c byte) bool { return c == ' ' || c == '\t' }

func isFWSByte(c byte) bool { return c == ' ' || c == '\t' || c == '\r' || c == '\n' }

func isFWSOnly(s string) bool {
	for i := 0; i < len(s); i++ {
		if !isFWSByte(s[i]) {
			return false
		}
	}
	return true
}

func trimFWS(s string) string {
	i, j := 0, len(s)
	for i < j && isFWSByte(s[i]) {
		i++
	}
	for j > i && isFWSByte(s[j-1]) {
		j--
	}
	return s[i:j]
}

func validTagName(s string) bool {
	if s == "" || !isAlpha(s[0]) {
		return false
	}
	for i := 1; i < len(s); i++ {
		c := s[i]
		if !isAlpha(c) && !(c >= '0' && c <= '9') && c != '_' {
			return false
		}
	}
	return true
}

func isAlpha(c byte) bool { return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' }

// checkTagValue checks the tag-value production: VALCHARs separated by
// white space, where a line break must be followed by WSP (folding).
func checkTagValue(v string) error {
	for i := 0; i < len(v); i++ {
		c := v[i]
		switch {
		case c == '\r':
			if i+2 >= len(v) || v[i+1] != '\n' || !isWSP(v[i+2]) {
				return errors.New("line break that is not folding white space")
			}
			i++
		case c == '\n':
			return errors.New("bare LF")
		case isWSP(c):
		case c >= 0x21 && c <= 0x7e && c != ';':
		case c >= 0x80:
			// RFC 6376 §3.2 is ASCII; RFC 8616 (EAI) allows UTF-8 in
			// some values, which we pass through for the tag's own
			// parser to judge.
		default:
			return fmt.Errorf("invalid character %#x", c)
		}
	}
	return nil
}

// stripFWS removes all white space, for base64 values (b=, bh=, p=)
// where RFC 6376 §3.5 allows FWS anywhere.
func stripFWS(s string) string {
	if !strings.ContainsAny(s, " \t\r\n") {
		return s
	}
	var b strings.Builder
	b.Grow(len(s))
	for i := 0; i < len(s); i++ {
		if !isFWSByte(s[i]) {
			b.WriteByte(s[i])
		}
	}
	return b.String()
}
