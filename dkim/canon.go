package dkim

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"io"
	"math/bits"
	"sync"
	"strings"
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
// places is passed on as a slice of b, without copying. The places are
// found eight bytes at a time (nextEvent) and line ends with the
// vectorised bytes.IndexByte.
func writeRelaxedLines(w io.Writer, b []byte) int64 {
	out := batchPool.Get().(*batcher)
	out.w, out.n = w, 0
	defer func() {
		out.w = nil
		batchPool.Put(out)
	}()
	run := 0 // start of the pending unchanged stretch
	flush := func(to int) {
		if to > run {
			out.write(b[run:to])
		}
	}
	pos := 0
	for pos < len(b) {
		// Find the CRLF ending this line; a bare LF is line content.
		end, next := len(b), len(b)
		for from := pos; from < len(b); {
			i := bytes.IndexByte(b[from:], '\n')
			if i < 0 {
				break
			}
			if j := from + i; j > pos && b[j-1] == '\r' {
				end, next = j-1, j+1
				break
			}
			from += i + 1
		}
		stop := end // the line without its trailing WSP (§3.4.4 b)
		for stop > pos && isWSP(b[stop-1]) {
			stop--
		}
		// §3.4.4 a: a WSP run that is not a single SP becomes one SP.
		for p := pos; ; {
			e := nextEvent(b[p:stop])
			if e < 0 {
				break
			}
			e += p
			first := e
			for first > p && b[first-1] == ' ' {
				first--
			}
			last := e
			for last < stop && isWSP(b[last]) {
				last++
			}
			flush(first)
			out.write(space)
			run, p = last, last
		}
		if stop < end {
			flush(stop)
			run = end
		}
		pos = next
	}
	flush(len(b))
	out.flush()
	return out.n
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
	if len(b.buf)+len(p) > cap(b.buf) {
		b.flush()
	}
	if len(p) >= cap(b.buf)/4 {
		b.w.Write(p)
		return
	}
	b.buf = append(b.buf, p...)
}

func (b *batcher) flush() {
	if len(b.buf) > 0 {
		b.w.Write(b.buf)
		b.buf = b.buf[:0]
	}
}

// nextEvent returns the index of the first TAB or of the first SP of two
// in a row in s, or -1. It looks at eight bytes at a time (SWAR), words
// overlapping by one byte so that a pair across a boundary is seen.
func nextEvent(s []byte) int {
	const (
		spaces = 0x2020202020202020
		tabs   = 0x0909090909090909
	)
	i := 0
	for ; i+8 <= len(s); i += 7 {
		x := binary.LittleEndian.Uint64(s[i:])
		sp := zeroMask(x ^ spaces)
		if ev := (sp & (sp >> 8)) | zeroMask(x^tabs); ev != 0 {
			return i + bits.TrailingZeros64(ev)/8
		}
	}
	for ; i < len(s); i++ {
		if s[i] == '\t' || (s[i] == ' ' && i+1 < len(s) && s[i+1] == ' ') {
			return i
		}
	}
	return -1
}

// hasTabOrDoubleSpace reports whether line holds a TAB or two SPs in a row.
func hasTabOrDoubleSpace(line []byte) bool { return nextEvent(line) >= 0 }

// zeroMask returns a word with the high bit set in exactly the bytes of y
// that are zero.
func zeroMask(y uint64) uint64 {
	const low7 = 0x7f7f7f7f7f7f7f7f
	return ^(((y & low7) + low7) | y | low7)
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
