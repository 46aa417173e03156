package store

import (
	"encoding/json"
	"fmt"
	"math"
	"strconv"
	"time"
	"unicode/utf8"
)

// AppendJSON appends r encoded as JSON to dst: byte for byte what
// json.Marshal(r) writes (same fields, order, omissions and escaping, so
// stored records, needles and older readers are unaffected), without
// reflection and with no allocation beyond dst's growth. Recording history
// encodes every scanned message, so this is on the hot path.
func (r *HistoryRecord) AppendJSON(dst []byte) ([]byte, error) {
	_, off := r.Time.Zone()
	if y := r.Time.Year(); y < 0 || y > 9999 || off <= -24*3600 || off >= 24*3600 {
		// json.Marshal's error for a time it cannot write (RFC 3339:
		// a four-digit year, a zone offset under 24 hours).
		_, err := json.Marshal(r)
		if err == nil {
			err = fmt.Errorf("%w: history record time %v", ErrInvalid, r.Time)
		}
		return dst, err
	}
	var err error
	b := append(dst, `{"id":`...)
	b = appendJSONString(b, r.ID)
	b = append(b, `,"time":"`...)
	b = r.Time.AppendFormat(b, time.RFC3339Nano)
	b = append(b, '"')
	b = appendField(b, "queue_id", r.QueueID)
	b = appendField(b, "client_ip", r.ClientIP)
	b = append(b, `,"from":`...)
	b = appendJSONString(b, r.From)
	b = append(b, `,"rcpts":`...)
	b = strconv.AppendInt(b, int64(r.Rcpts), 10)
	b = append(b, `,"action":`...)
	b = appendJSONString(b, r.Action)
	b = append(b, `,"score":`...)
	if b, err = appendJSONFloat(b, r.Score); err != nil {
		return dst, err
	}
	if len(r.Symbols) > 0 {
		b = append(b, `,"symbols":`...)
		b = appendJSONStrings(b, r.Symbols)
	}
	b = appendField(b, "helo", r.Helo)
	b = appendField(b, "host", r.ClientHost)
	if len(r.RcptList) > 0 {
		b = append(b, `,"rcpt":`...)
		b = appendJSONStrings(b, r.RcptList)
	}
	if r.Required != 0 {
		b = append(b, `,"required":`...)
		if b, err = appendJSONFloat(b, r.Required); err != nil {
			return dst, err
		}
	}
	b = appendField(b, "forced_by", r.ForcedBy)
	b = appendField(b, "phase", r.Phase)
	b = appendField(b, "class", r.Class)
	if r.Elapsed != 0 {
		b = append(b, `,"elapsed":`...)
		if b, err = appendJSONFloat(b, r.Elapsed); err != nil {
			return dst, err
		}
	}
	if len(r.Hits) > 0 {
		b = append(b, `,"hits":[`...)
		for i, h := range r.Hits {
			if i > 0 {
				b = append(b, ',')
			}
			b = append(b, `{"s":`...)
			if b, err = appendJSONFloat(b, h.Score); err != nil {
				return dst, err
			}
			b = append(b, `,"w":`...)
			if b, err = appendJSONFloat(b, h.Weight); err != nil {
				return dst, err
			}
			if len(h.Options) > 0 {
				b = append(b, `,"o":`...)
				b = appendJSONStrings(b, h.Options)
			}
			b = append(b, '}')
		}
		b = append(b, ']')
	}
	return append(b, '}'), nil
}

// appendField appends ,"name":"s" unless s is empty (omitempty).
func appendField(b []byte, name, s string) []byte {
	if s == "" {
		return b
	}
	b = append(b, ',', '"')
	b = append(b, name...)
	b = append(b, '"', ':')
	return appendJSONString(b, s)
}

func appendJSONStrings(b []byte, ss []string) []byte {
	b = append(b, '[')
	for i, s := range ss {
		if i > 0 {
			b = append(b, ',')
		}
		b = appendJSONString(b, s)
	}
	return append(b, ']')
}

// appendJSONFloat writes f as encoding/json does (RFC 8259 section 6 has
// no NaN or infinity: those are errors).
func appendJSONFloat(b []byte, f float64) ([]byte, error) {
	if math.IsNaN(f) || math.IsInf(f, 0) {
		return b, &json.UnsupportedValueError{Str: strconv.FormatFloat(f, 'g', -1, 64)}
	}
	if b, ok := appendShortDecimal(b, f); ok {
		return b, nil
	}
	format := byte('f')
	if abs := math.Abs(f); abs != 0 && (abs < 1e-6 || abs >= 1e21) {
		format = 'e'
	}
	b = strconv.AppendFloat(b, f, format, -1, 64)
	if format == 'e' {
		// e-09 → e-9, as encoding/json writes it.
		if n := len(b); n >= 4 && b[n-4] == 'e' && b[n-3] == '-' && b[n-2] == '0' {
			b[n-2] = b[n-1]
			b = b[:n-1]
		}
	}
	return b, nil
}

// pow10 are the scales appendShortDecimal tries.
var pow10 = [...]float64{1, 10, 100, 1e3, 1e4, 1e5, 1e6}

// appendShortDecimal writes f when it has at most six decimals and
// |f| < 1e6, the scores, weights and scan times of most records, as
// strconv's shortest form does, without its general algorithm: the
// fewest decimals d such that the decimal n/10^d reads back as f. (That
// string is the shortest, and the only one of its length: the decimals
// of that length lie 10^-d apart, far more than f's rounding interval.)
// It reports false for any other f, and for -0 (which is "-0").
func appendShortDecimal(b []byte, f float64) ([]byte, bool) {
	if f == 0 {
		if math.Signbit(f) {
			return b, false
		}
		return append(b, '0'), true
	}
	if !(math.Abs(f) < 1e6) {
		return b, false
	}
	for d, p := range pow10 {
		x := math.Round(f * p)
		if x/p != f {
			continue
		}
		n := int64(x)
		if n < 0 {
			b, n = append(b, '-'), -n
		}
		if d == 0 {
			return strconv.AppendInt(b, n, 10), true
		}
		scale := int64(p)
		frac := n % scale
		if frac%10 == 0 {
			return b, false // a shorter form exists: not this one
		}
		b = strconv.AppendInt(b, n/scale, 10)
		b = append(b, '.')
		for s := scale / 10; s > frac; s /= 10 {
			b = append(b, '0')
		}
		return strconv.AppendInt(b, frac, 10), true
	}
	return b, false
}

const hexDigits = "0123456789abcdef"

// jsonPlain tells the ASCII bytes a JSON string holds as they are (one
// look-up per byte instead of six comparisons: options are most of a
// record's bytes).
var jsonPlain = func() (t [256]bool) {
	for c := 0x20; c < utf8.RuneSelf; c++ {
		t[c] = c != '"' && c != '\\' && c != '<' && c != '>' && c != '&'
	}
	return t
}()

// appendJSONString writes s as a JSON string (RFC 8259 section 7) with
// encoding/json's escaping: HTML characters, U+2028/U+2029 and controls
// as \u escapes, invalid UTF-8 as U+FFFD.
func appendJSONString(b []byte, s string) []byte {
	b = append(b, '"')
	start := 0
	for i := 0; i < len(s); {
		c := s[i]
		if jsonPlain[c] {
			i++
			continue
		}
		if c < utf8.RuneSelf {
			b = append(b, s[start:i]...)
			switch c {
			case '\\', '"':
				b = append(b, '\\', c)
			case '\b':
				b = append(b, '\\', 'b')
			case '\f':
				b = append(b, '\\', 'f')
			case '\n':
				b = append(b, '\\', 'n')
			case '\r':
				b = append(b, '\\', 'r')
			case '\t':
				b = append(b, '\\', 't')
			default:
				b = append(b, '\\', 'u', '0', '0', hexDigits[c>>4], hexDigits[c&0xF])
			}
			i++
			start = i
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && size == 1 {
			b = append(b, s[start:i]...)
			b = append(b, `\ufffd`...)
			i++
			start = i
			continue
		}
		if r == '\u2028' || r == '\u2029' {
			b = append(b, s[start:i]...)
			b = append(b, '\\', 'u', '2', '0', '2', hexDigits[r&0xF])
			i += size
			start = i
			continue
		}
		i += size
	}
	b = append(b, s[start:]...)
	return append(b, '"')
}
