package rspamdhttp

import (
	"math"
	"strconv"
	"unicode/utf8"
)

// jsonWriter appends compact JSON the way rspamd's UCL emitter writes it
// (UCL_EMIT_JSON_COMPACT): no white space, keys in insertion order, and
// numbers formatted as rspamd_fstring_emit_append_double does. Clients
// that compare replies byte for byte, or parse the numbers with sscanf,
// see what they saw from rspamd.
type jsonWriter struct {
	b        []byte
	first    []bool // per open container: nothing written in it yet
	afterKey bool   // a key was written; its value needs no separator
}

// sep writes the comma before a key or array element when needed.
func (w *jsonWriter) sep() {
	if w.afterKey {
		w.afterKey = false
		return
	}
	if n := len(w.first); n > 0 {
		if !w.first[n-1] {
			w.b = append(w.b, ',')
		}
		w.first[n-1] = false
	}
}

func (w *jsonWriter) beginObject() { w.sep(); w.b = append(w.b, '{'); w.first = append(w.first, true) }
func (w *jsonWriter) beginArray()  { w.sep(); w.b = append(w.b, '['); w.first = append(w.first, true) }
func (w *jsonWriter) endObject()   { w.b = append(w.b, '}'); w.first = w.first[:len(w.first)-1] }
func (w *jsonWriter) endArray()    { w.b = append(w.b, ']'); w.first = w.first[:len(w.first)-1] }

// key writes an object key and its colon; exactly one value follows.
func (w *jsonWriter) key(k string) {
	w.sep()
	w.str(k)
	w.b = append(w.b, ':')
	w.afterKey = true
}

func (w *jsonWriter) stringValue(s string) { w.sep(); w.str(s) }

func (w *jsonWriter) boolValue(v bool) { w.sep(); w.b = strconv.AppendBool(w.b, v) }

func (w *jsonWriter) intValue(v int) { w.sep(); w.b = strconv.AppendInt(w.b, int64(v), 10) }

// floatValue formats v as rspamd does: an integral value with one decimal
// ("15.0"), any other with six ("5.200000"), NaN and infinities as null.
func (w *jsonWriter) floatValue(v float64) { w.sep(); w.b = appendRspamdDouble(w.b, v) }

func appendRspamdDouble(b []byte, v float64) []byte {
	switch {
	case math.IsNaN(v) || math.IsInf(v, 0):
		return append(b, "null"...)
	case v == math.Trunc(v) && math.Abs(v) < 1<<31:
		return strconv.AppendFloat(b, v, 'f', 1, 64)
	default:
		return strconv.AppendFloat(b, v, 'f', 6, 64)
	}
}

// str writes s as a JSON string. Escapes follow UCL's
// ucl_elt_string_write_json (\n \r \b \t \f \\ \" and \u000B for VT);
// other control characters are written as \u00XX, and invalid UTF-8 is
// replaced by U+FFFD so that the reply is always valid JSON (RFC 8259
// §8.1).
func (w *jsonWriter) str(s string) {
	b := append(w.b, '"')
	for i := 0; i < len(s); {
		// Copy the run of bytes that need no escaping at once.
		j := i
		for j < len(s) && s[j] >= 0x20 && s[j] < utf8.RuneSelf && s[j] != '"' && s[j] != '\\' {
			j++
		}
		b = append(b, s[i:j]...)
		if i = j; i == len(s) {
			break
		}
		c := s[i]
		if c < utf8.RuneSelf {
			switch c {
			case '"':
				b = append(b, '\\', '"')
			case '\\':
				b = append(b, '\\', '\\')
			case '\n':
				b = append(b, '\\', 'n')
			case '\r':
				b = append(b, '\\', 'r')
			case '\b':
				b = append(b, '\\', 'b')
			case '\t':
				b = append(b, '\\', 't')
			case '\f':
				b = append(b, '\\', 'f')
			case '\v':
				b = append(b, `\u000B`...)
			default:
				if c < 0x20 {
					const hex = "0123456789abcdef"
					b = append(b, '\\', 'u', '0', '0', hex[c>>4], hex[c&0xf])
				} else {
					b = append(b, c)
				}
			}
			i++
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && size == 1 {
			b = append(b, "\uFFFD"...)
		} else {
			b = append(b, s[i:i+size]...)
		}
		i += size
	}
	w.b = append(b, '"')
}
