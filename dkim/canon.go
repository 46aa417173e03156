package dkim

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"io"
	"math/bits"
	"strings"
	"sync"
)

// Canon is a canonicalization algorithm (RFC 6376 §3.4).
type Canon int

// The two canonicalization algorithms of RFC 6376 §3.4.
const (
	Simple  Canon = iota // §3.4.1 (header), §3.4.3 (body)
	Relaxed              // §3.4.2 (header), §3.4.4 (body)
)

func (c Canon) String() string {
	if c == Relaxed {
		return "relaxed"
	}
	return "simple"
}

// ParseCanon parses a c= value. RFC 6376 §3.5: "If only one algorithm is
// named, that algorithm is used for the header and "simple" is used for the
// body"; an absent tag (s == "") means simple/simple.
func ParseCanon(s string) (header, body Canon, err error) {
	if s == "" {
		return Simple, Simple, nil
	}
	h, b, hasBody := strings.Cut(s, "/")
	if header, err = parseOneCanon(h); err != nil {
		return 0, 0, err
	}
	if !hasBody {
		return header, Simple, nil
	}
	if body, err = parseOneCanon(b); err != nil {
		return 0, 0, err
	}
	return header, body, nil
}

func parseOneCanon(s string) (Canon, error) {
	switch strings.ToLower(s) {
	case "simple":
		return Simple, nil
	case "relaxed":
		return Relaxed, nil
	}
	return 0, fmt.Errorf("unknown canonicalization %q", s)
}

// AppendCanonicalHeader appends the header field raw (name, colon, value
// with folding, final CRLF) to dst in canonical form, ending with CRLF.
//
// RFC 6376 §3.4.1 "simple": the field is not changed at all.
// RFC 6376 §3.4.2 "relaxed": the field name is lower-cased; the value is
// unfolded, runs of WSP become one SP, WSP at the end of the value and
// around the colon is removed.
func AppendCanonicalHeader(dst []byte, c Canon, raw []byte) []byte {
	if c == Simple {
		dst = append(dst, raw...)
		if !bytes.HasSuffix(raw, crlf) {
			dst = append(dst, crlf...)
		}
		return dst
	}
	colon := bytes.IndexByte(raw, ':')
	if colon < 0 {
		colon = len(raw)
	}
	name := bytes.Trim(raw[:colon], " \t\r\n")
	for _, ch := range name {
		if ch == '\r' || ch == '\n' {
			continue // only in a malformed field without colon
		}
		if ch >= 'A' && ch <= 'Z' {
			ch += 'a' - 'A'
		}
		dst = append(dst, ch)
	}
	dst = append(dst, ':')
	if colon < len(raw) {
		dst = appendRelaxedValue(dst, raw[colon+1:])
	}
	return append(dst, crlf...)
}

// appendRelaxedValue appends v unfolded, with WSP runs reduced to one SP and
// leading and trailing WSP removed (RFC 6376 §3.4.2).
func appendRelaxedValue(dst, v []byte) []byte {
	space := false
	started := false
	for _, ch := range v {
		switch ch {
		case '\r', '\n':
			// Unfolding: CRLF is removed (§3.4.2, "Unfold all header
			// field continuation lines").
		case ' ', '\t':
			space = true
		default:
			if space && started {
				dst = append(dst, ' ')
			}
			space = false
			started = true
			dst = append(dst, ch)
		}
	}
	return dst
}

var crlf = []byte("\r\n")

// WriteCanonicalBody writes body in canonical form c to w and returns the
// number of bytes written. w is typically a hash.Hash (whose Write never
// fails); large unchanged stretches are written in one call.
//
// RFC 6376 §3.4.3 "simple": trailing empty lines are removed; a body that
// is then empty, or does not end in CRLF, gets one CRLF.
// RFC 6376 §3.4.4 "relaxed": WSP at line ends is removed, other runs of
// WSP become one SP, trailing empty lines are removed, and a non-empty body
// is ended with CRLF; an empty body stays empty.
func WriteCanonicalBody(w io.Writer, c Canon, body []byte) int64 {
	if c == Simple {
		end := len(body)
		for end >= 4 && string(body[end-4:end]) == "\r\n\r\n" {
			end -= 2
		}
		b := body[:end]
		if len(b) == 0 || (len(b) == 2 && b[0] == '\r' && b[1] == '\n') {
			w.Write(crlf)
			return 2
		}
		w.Write(b)
		n := int64(len(b))
		if !bytes.HasSuffix(b, crlf) {
			w.Write(crlf)
			n += 2
		}
		return n
	}
	// Relaxed: find where the meaningful content ends. Trailing CRLFs and
	// the WSP of trailing lines and of the last line's end are dropped.
	end := len(body)
	for end > 0 {
		if end >= 2 && body[end-2] == '\r' && body[end-1] == '\n' {
			end -= 2
		} else if isWSP(body[end-1]) {
			end--
		} else {
			break
		}
	}
	if end == 0 {
		return 0
	}
	n := writeRelaxedLines(w, body[:end])
	w.Write(crlf)
	return n + 2
}

// writeRelaxedLines writes b (which does not end in WSP or CRLF) with the
// relaxed rules applied. Output differs from input only at a TAB, at two
// or more SPs in a row, and at WSP before a CRLF; everything between such
// places is passed on as a slice of b. Each kind of place has its own
// search, kept one step ahead: TABs with the vectorised bytes.IndexByte,
// an SP before an SP or CR eight bytes at a time (nextPair).
func writeRelaxedLines(w io.Writer, b []byte) int64 {
	out := batchPool.Get().(*batcher)
	out.w, out.n = w, 0
	defer func() {
		out.w = nil
		batchPool.Put(out)
	}()
	// Next TAB and next SP followed by SP or CR at or after p; -1: none
	// left, -2: not searched yet.
	nextTab, nextPairAt := -2, -2
	run := 0 // start of the pending unchanged stretch
	for p := 0; ; {
		if nextTab != -1 && nextTab < p {
			nextTab = indexByteFrom(b, p, '\t')
		}
		if nextPairAt != -1 && nextPairAt < p {
			nextPairAt = nextPair(b, p)
		}
		e := nextTab
		if e < 0 || (nextPairAt >= 0 && nextPairAt < e) {
			e = nextPairAt
		}
		if e < 0 {
			break
		}
		// The WSP run around e: [first, last). Only SPs can precede e
		// in the run: a TAB or an SP pair there would have come first.
		first := e
		for first > p && b[first-1] == ' ' {
			first--
		}
		last := e
		for last < len(b) && isWSP(b[last]) {
			last++
		}
		// §3.4.4 b: WSP at the end of a line is removed; §3.4.4 a:
		// elsewhere a run of WSP becomes one SP. (b does not end in
		// WSP, so a run is always followed by something.) A run that
		// starts with an SP keeps that SP as the one: the unchanged
		// stretch then ends one byte later, one write instead of two.
		switch {
		case last+1 < len(b) && b[last] == '\r' && b[last+1] == '\n':
			out.write(b[run:first])
		case b[first] == ' ':
			out.write(b[run : first+1])
		default:
			out.write(b[run:first])
			out.write(space)
		}
		run, p = last, last
	}
	out.write(b[run:])
	out.flush()
	return out.n
}

func indexByteFrom(b []byte, from int, c byte) int {
	i := bytes.IndexByte(b[from:], c)
	if i < 0 {
		return -1
	}
	return from + i
}

// nextPair returns the index, at or after from, of the first SP followed
// by an SP or a CR, or -1. It looks at sixteen bytes per round (SWAR), as
// two words x and, loaded one byte further on, y: lane j of y is the byte
// after lane j of x. One zero-byte test finds the candidates, lanes where
// x is SP and y is at most 0x20 (x^SP is zero and y-1 has none of the
// top three bits): every SP before an SP or a CR is one, and so are a few
// other pairs (SP before TAB, LF or a control character) that are ruled
// out byte-wise, as are the false flags of the cheap zero test (see
// hasZero) and of the borrow a NUL byte in y passes on to the lane above.
// Neither can hide a real pair: a zero lane is always flagged, and a
// borrow turns an SP or CR in y into 0x1e or 0x0b, still below 0x20.
func nextPair(b []byte, from int) int {
	const (
		lo     = 0x0101010101010101
		spaces = 0x20 * lo
		top3   = 0xe0 * lo
	)
	i := from
	for i+17 <= len(b) {
		w := (*[17]byte)(b[i : i+17]) // one bounds check for four loads
		x0 := binary.LittleEndian.Uint64(w[0:])
		y0 := binary.LittleEndian.Uint64(w[1:])
		x1 := binary.LittleEndian.Uint64(w[8:])
		y1 := binary.LittleEndian.Uint64(w[9:])
		m0 := hasZero(x0 ^ spaces | (y0-lo)&top3)
		m1 := hasZero(x1 ^ spaces | (y1-lo)&top3)
		if m0|m1 == 0 {
			i += 16
			continue
		}
		for ; m0 != 0; m0 &= m0 - 1 {
			if k := i + bits.TrailingZeros64(m0)/8; isPair(b[k], b[k+1]) {
				return k
			}
		}
		for ; m1 != 0; m1 &= m1 - 1 {
			if k := i + 8 + bits.TrailingZeros64(m1)/8; isPair(b[k], b[k+1]) {
				return k
			}
		}
		i += 16
	}
	for ; i+1 < len(b); i++ {
		if isPair(b[i], b[i+1]) {
			return i
		}
	}
	return -1
}

// isPair reports whether c, d is an SP followed by an SP or a CR.
func isPair(c, d byte) bool { return c == ' ' && (d == ' ' || d == '\r') }

// hasZero returns a word whose high bit is set in the lowest zero byte of
// y and possibly in higher bytes (after a zero byte, a byte 0x01 is also
// flagged); zero when y has no zero byte.
func hasZero(y uint64) uint64 {
	const lo, hi = 0x0101010101010101, 0x8080808080808080
	return (y - lo) &^ y & hi
}

// nextEvent returns the index, at or after from, of the first place where
// relaxed body canonicalization may change something: a TAB, or an SP
// followed by an SP or a CR; -1 if there is none.
func nextEvent(b []byte, from int) int {
	e := indexByteFrom(b, from, '\t')
	if p := nextPair(b, from); p >= 0 && (e < 0 || p < e) {
		e = p
	}
	return e
}

// batcher gathers the many short pieces of a rewritten body into large
// writes: a hash's Write has a fixed cost per call that would otherwise
// dominate for bodies with many changed lines. Long pieces go straight
// through.
type batcher struct {
	w   io.Writer
	buf []byte
	n   int64
}

var batchPool = sync.Pool{New: func() any { return &batcher{buf: make([]byte, 0, 16<<10)} }}

func (b *batcher) write(p []byte) {
	b.n += int64(len(p))
	if len(p) >= cap(b.buf)/4 {
		// What is buffered comes first: flush it before a long piece
		// goes straight through.
		b.flush()
		b.w.Write(p)
		return
	}
	if len(b.buf)+len(p) > cap(b.buf) {
		b.flush()
	}
	b.buf = append(b.buf, p...)
}

func (b *batcher) flush() {
	if len(b.buf) > 0 {
		b.w.Write(b.buf)
		b.buf = b.buf[:0]
	}
}

var space = []byte{' '}

// limitWriter passes at most limit bytes on to w (all when limit < 0) and
// counts everything offered to it.
type limitWriter struct {
	w     io.Writer
	limit int64
	total int64
}

func (l *limitWriter) Write(p []byte) (int, error) {
	l.total += int64(len(p))
	if l.limit < 0 {
		return l.w.Write(p)
	}
	if l.limit == 0 {
		return len(p), nil
	}
	q := p
	if int64(len(q)) > l.limit {
		q = q[:l.limit]
	}
	l.limit -= int64(len(q))
	l.w.Write(q)
	return len(p), nil
}
