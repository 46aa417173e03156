package message

import (
	"bytes"
	"fmt"
	"io"
	"mime"
	"strings"
	"unicode/utf8"

	"golang.org/x/text/encoding"
	"golang.org/x/text/encoding/htmlindex"
	"golang.org/x/text/encoding/ianaindex"
	"golang.org/x/text/transform"
)

// LookupCharset returns the decoder of a MIME charset name (IANA names and
// the WHATWG labels that mail clients use, e.g. "iso-8859-1", "gb2312",
// "ks_c_5601-1987"), or nil when the name is unknown.
func LookupCharset(name string) encoding.Encoding {
	name = strings.ToLower(strings.Trim(strings.TrimSpace(name), `"'`))
	if name == "" {
		return nil
	}
	if e, err := htmlindex.Get(name); err == nil {
		return e
	}
	if e, err := ianaindex.MIME.Encoding(name); err == nil && e != nil {
		return e
	}
	return nil
}

// isUTF8Name reports charsets whose bytes are UTF-8 (US-ASCII included).
func isUTF8Name(cs string) bool {
	switch cs {
	case "", "utf-8", "utf8", "us-ascii", "ascii", "ansi_x3.4-1968", "iso-ir-6", "646", "us":
		return true
	}
	return false
}

// ToUTF8 converts b from charset to UTF-8. ok is false when the charset is
// unknown or b is not valid in it; the text is then still returned, with
// invalid bytes replaced by U+FFFD (or read as windows-1252 when no or an
// ASCII/UTF-8 charset was declared and the bytes are not UTF-8, as mail
// clients do).
func ToUTF8(b []byte, charset string) (text string, ok bool) {
	cs := strings.ToLower(strings.Trim(strings.TrimSpace(charset), `"'`))
	if isUTF8Name(cs) {
		if utf8.Valid(b) {
			return string(b), true
		}
		if cs == "utf-8" || cs == "utf8" {
			return strings.ToValidUTF8(string(b), "\uFFFD"), false
		}
		s, _ := decodeWith(LookupCharset("windows-1252"), b)
		return s, false
	}
	e := LookupCharset(cs)
	if e == nil {
		return strings.ToValidUTF8(string(b), "\uFFFD"), false
	}
	return decodeWith(e, b)
}

func decodeWith(e encoding.Encoding, b []byte) (string, bool) {
	out, _, err := transform.Bytes(e.NewDecoder(), b)
	if err != nil {
		return strings.ToValidUTF8(string(b), "\uFFFD"), false
	}
	// x/text decoders write U+FFFD for invalid input rather than fail.
	return string(out), !bytes.Contains(out, []byte("\uFFFD")) || bytes.Contains(b, []byte("\uFFFD"))
}

var wordDecoder = &mime.WordDecoder{CharsetReader: func(charset string, r io.Reader) (io.Reader, error) {
	e := LookupCharset(charset)
	if e == nil {
		return nil, fmt.Errorf("unknown charset %q", charset)
	}
	return transform.NewReader(r, e.NewDecoder()), nil
}}

// DecodeHeader decodes the encoded words of a header value (RFC 2047) to
// UTF-8. A value that does not decode is returned as it is, made valid
// UTF-8.
func DecodeHeader(v string) string {
	if !strings.Contains(v, "=?") {
		if utf8.ValidString(v) {
			return v
		}
		s, _ := ToUTF8([]byte(v), "")
		return s
	}
	s, err := wordDecoder.DecodeHeader(v)
	if err != nil {
		return strings.ToValidUTF8(v, "\uFFFD")
	}
	return strings.ToValidUTF8(s, "\uFFFD")
}

// Text returns the part's body converted to UTF-8 from its declared
// charset (see ToUTF8); ok is false when the charset is unknown or the
// bytes are not valid in it.
func (p *Part) Text() (text string, ok bool) {
	return ToUTF8(p.Body, p.Charset())
}
