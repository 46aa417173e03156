package content

import (
	"bytes"
	"compress/zlib"
	"encoding/hex"
	"fmt"
	"io"
	"slices"
	"time"
)

// PDF names rspamd's pdf module looks at (ISO 32000-1): the trailer's
// /Encrypt (§7.6), /JS and /JavaScript actions (§12.6.4.16), /Launch
// actions (§12.6.4.5), the catalog's /OpenAction (§7.7.2). They are read
// from the file as it is and from its FlateDecode (§7.4.4) object
// streams: a PDF 1.5 object stream (§7.5.7) hides the dictionaries of
// its objects, actions included, in compressed form. Names may spell characters as
// #xx (§7.3.5): /J#61vaScript is /JavaScript.
//
// Bounds: the first maxPDFScan bytes are read; at most maxPDFStream
// bytes are inflated per stream (rspamd's max_extraction_size) and the
// message's inflate budget (Limits.MaxInflate) in all; maxPDFObjects
// streams at most; pdfTimeout of time (rspamd's pdf_process_timeout),
// checked between streams.

const (
	maxPDFScan    = 16 << 20
	maxPDFStream  = 512 << 10
	maxPDFObjects = 10000
	// maxPDFTrailer and maxPDFTrailerLines: a trailer past this offset,
	// or with more lines after it, is long (rspamd's max_pdf_trailer and
	// max_pdf_trailer_lines).
	maxPDFTrailer      = 10 << 20
	maxPDFTrailerLines = 100
	pdfTimeout         = time.Second
)

// PDFInfo is what a PDF shows of itself.
type PDFInfo struct {
	Encrypted  bool
	JavaScript bool
	OpenAction bool
	// Launch: a /Launch action (runs a program or opens a file).
	Launch bool
	// Suspicious is rspamd's factor (0–1) for the patterns of its pdf
	// module: netsh and echo commands, names spelt with #xx escapes of
	// ordinary letters.
	Suspicious float64
	// LongTrailer is the bytes from the trailer to the end of the file
	// when the trailer is long (rspamd's long_trailer), else 0.
	LongTrailer int
	// ManyObjects counts the "N G obj" headers in the file when they
	// are more than maxPDFObjects, else 0.
	ManyObjects int
	// Streams counts the FlateDecode object streams inflated; Inflated
	// their decompressed bytes.
	Streams  int
	Inflated int64
	// Exhausted reports that the inflate budget ran out.
	Exhausted bool
	// Timeout is the time spent when the reading stopped at pdfTimeout,
	// else 0.
	Timeout time.Duration
}

// ReadPDF reads a PDF with its own inflate budget of
// DefaultLimits().MaxInflate.
func ReadPDF(b []byte) PDFInfo {
	budget := DefaultLimits().MaxInflate
	r := pdfReader{budget: &budget, now: time.Now}
	return r.read(b)
}

// pdfReader reads one PDF; budget is the message's inflate budget, now
// the clock (a test's).
type pdfReader struct {
	budget *int64
	now    func() time.Time
	info   PDFInfo
	zr     io.ReadCloser
	src    bytes.Reader
	buf    []byte
}

func (r *pdfReader) read(b []byte) PDFInfo {
	start := r.now()
	if len(b) > maxPDFScan {
		b = b[:maxPDFScan]
	}
	r.names(b, true)
	r.suspicious(b)
	r.trailer(b)
	// Each object header has its j: with no more j than the bound, no
	// more objects (bytes.Count of a byte is fast; the headers' count is
	// not).
	if bytes.Count(b, []byte{'j'}) > maxPDFObjects {
		if n := pdfObjects(b); n > maxPDFObjects {
			r.info.ManyObjects = n
		}
	}
	r.streams(b, start)
	return r.info
}

// names finds the names that matter, by one pass per first letter (E,
// J, O are rarer than the slashes PDF dictionaries are full of), one by
// the u of /Launch and one for the # escapes. raw is false for inflated streams: the
// suspicious-pattern count is rspamd's, of the file as it is.
func (r *pdfReader) names(b []byte, raw bool) {
	p := &r.info
	if raw {
		p.Encrypted = p.Encrypted || pdfFind(b, 'E', "Encrypt")
	}
	p.JavaScript = p.JavaScript || pdfFind(b, 'J', "JS", "JavaScript")
	p.OpenAction = p.OpenAction || pdfFind(b, 'O', "OpenAction")
	for i := 0; !p.Launch; i++ {
		// By its u: an L begins every /Length.
		if i = pdfKeyword(b, i, "/Launch", 3); i < 0 {
			break
		}
		p.Launch = i+7 == len(b) || pdfDelimiter(b[i+7])
	}
	encoded, close := 0, 0
	last := -1
	for i := 0; i < len(b); {
		j := bytes.IndexByte(b[i:], '#')
		if j < 0 {
			break
		}
		i += j
		start := bytes.LastIndexByte(b[max(0, i-127):i], '/')
		if start >= 0 {
			start += max(0, i-127) + 1
		}
		if start < 0 || pdfNameBroken(b[start:i]) {
			// This # is in no name, and neither is any other before
			// the next slash (the same slash is too far or the same
			// delimiter lies between): skip to it, rather than look
			// back and forth again for each # (a run of them took
			// seconds).
			k := bytes.IndexByte(b[i:], '/')
			if k < 0 {
				break
			}
			i += k
			continue
		}
		end := i
		for end < len(b) && !pdfDelimiter(b[end]) {
			end++
		}
		name, plain := pdfDecodeName(b[start:end], start)
		for _, at := range plain {
			encoded++
			if last >= 0 && at-last < 8 {
				close++
			}
			last = at
		}
		switch string(name) {
		case "Encrypt":
			p.Encrypted = p.Encrypted || raw
		case "JS", "JavaScript":
			p.JavaScript = true
		case "OpenAction":
			p.OpenAction = true
		case "Launch":
			p.Launch = true
		}
		i = max(end, i+1)
	}
	if raw {
		// rspamd: more than 10 escaped letters add a tenth each, and
		// half more when they come close together (a name spelt
		// escape after escape).
		if encoded > 10 {
			p.Suspicious += float64(encoded) / 10
		}
		if close > 4 && encoded-close < 5 {
			p.Suspicious += 0.5
		}
	}
}

// pdfNameBroken reports bytes between a slash and a # that cannot be in
// one name (so the # is not in a name).
func pdfNameBroken(b []byte) bool {
	for _, c := range b {
		if pdfDelimiter(c) {
			return true
		}
	}
	return false
}

// pdfDecodeName decodes the #xx escapes of a name (§7.3.5) and returns
// the offsets (from base) of the escapes that spell an ordinary
// character, which needs none: the obfuscation rspamd counts. A legal
// escape is of a character outside ! to ~, of a delimiter or of #.
func pdfDecodeName(n []byte, base int) (name []byte, plain []int) {
	name = make([]byte, 0, len(n))
	for i := 0; i < len(n); i++ {
		if n[i] == '#' && i+2 < len(n) {
			var d [1]byte
			if _, err := hex.Decode(d[:], n[i+1:i+3]); err == nil {
				v := d[0]
				if v > 0x20 && v < 0x7f && v != '#' && !pdfDelimiter(v) {
					plain = append(plain, base+i)
				}
				name = append(name, v)
				i += 2
				continue
			}
		}
		name = append(name, n[i])
	}
	return name, plain
}

// suspicious adds rspamd's command patterns: each "netsh " half, and
// "echo " more than once half each. One pass over the letter h, rarer
// in PDF dictionaries than the first letters.
func (r *pdfReader) suspicious(b []byte) {
	p := &r.info
	netsh, echo := 0, 0
	for i := 0; ; i++ {
		j := bytes.IndexByte(b[i:], 'h')
		if j < 0 {
			break
		}
		i += j
		if i+1 >= len(b) || !isPDFSpace(b[i+1]) && (i+2 >= len(b) || !isPDFSpace(b[i+2])) {
			continue
		}
		switch {
		case i >= 4 && string(b[i-4:i+1]) == "netsh" && isPDFSpace(b[i+1]):
			netsh++
		case i >= 2 && i+2 < len(b) && string(b[i-2:i+2]) == "echo" && isPDFSpace(b[i+2]):
			echo++
		}
	}
	p.Suspicious += 0.5 * float64(netsh)
	if echo > 1 {
		p.Suspicious += float64(echo) / 2
	}
	p.Suspicious = min(p.Suspicious, 1)
}

// pdfKeyword finds the keyword kw from i on by its letter at pivot (a
// letter rarer than its first), -1 when none.
func pdfKeyword(b []byte, i int, kw string, pivot int) int {
	for i+pivot < len(b) {
		j := bytes.IndexByte(b[i+pivot:], kw[pivot])
		if j < 0 {
			return -1
		}
		at := i + j
		if at+len(kw) <= len(b) && string(b[at:at+len(kw)]) == kw {
			return at
		}
		i = at + 1
	}
	return -1
}

func isPDFSpace(c byte) bool {
	switch c {
	case 0, '\t', '\n', '\f', '\r', ' ':
		return true
	}
	return false
}

// trailer measures the last trailer as rspamd does: past maxPDFTrailer,
// or followed by more than maxPDFTrailerLines lines before an /Encrypt,
// it is long.
func (r *pdfReader) trailer(b []byte) {
	// The last one, searched forward (IndexByte is fast where LastIndex
	// compares at every byte) in windows from the end: it is near the
	// end but in a long trailer.
	pos := -1
	const window = 4096
	for end := len(b); end > 0 && pos < 0; end -= window {
		from := max(0, end-window)
		for i := from; ; {
			j := pdfKeyword(b[:min(len(b), end+len("\ntrailer\r\n"))], i, "\ntrailer", 3)
			if j < 0 || j >= end {
				break
			}
			i = j + len("\ntrailer")
			if rest := b[i:]; bytes.HasPrefix(rest, []byte("\n")) || bytes.HasPrefix(rest, []byte("\r\n")) {
				pos = j
			}
		}
	}
	if pos < 0 {
		return
	}
	if pos > maxPDFTrailer {
		r.info.LongTrailer = len(b) - pos
		return
	}
	rest := b[pos+1:]
	for lines := 0; len(rest) > 0; lines++ {
		line := rest
		if i := bytes.IndexByte(rest, '\n'); i >= 0 {
			line, rest = rest[:i], rest[i+1:]
		} else {
			rest = nil
		}
		if bytes.Contains(line, []byte("/Encrypt ")) {
			return
		}
		if lines >= maxPDFTrailerLines {
			r.info.LongTrailer = len(b) - pos
			return
		}
	}
}

// pdfObjects counts object headers "N G obj" (§7.3.10).
func pdfObjects(b []byte) int {
	n := 0
	for i := 0; ; {
		at := pdfKeyword(b, i, "obj", 2)
		if at < 0 {
			return n
		}
		i = at + 3
		if i < len(b) && !isPDFSpace(b[i]) && b[i] != '<' {
			continue
		}
		if pdfObjectHeader(b[:at]) {
			n++
		}
	}
}

// pdfObjectHeader reports that b ends with "N G " before an obj keyword.
func pdfObjectHeader(b []byte) bool {
	k := len(b)
	for pass := 0; pass < 2; pass++ {
		s := k
		for k > 0 && isPDFSpace(b[k-1]) {
			k--
		}
		if k == s {
			return false
		}
		d := k
		for k > 0 && b[k-1] >= '0' && b[k-1] <= '9' {
			k--
		}
		if k == d {
			return false
		}
	}
	return k == 0 || isPDFSpace(b[k-1])
}

// streams inflates the FlateDecode object streams and reads their names.
//
// The work is bounded by the file's size times a constant: a "stream"
// that is not the keyword after a dictionary costs a few bytes; at most
// maxPDFObjects keywords after a dictionary have it looked at (4 KiB
// back at most; a PDF of more objects is ManyObjects, and rspamd stops
// there too); the endstream search resumes where the last one ended. A
// file of "stream" or ">stream\n" repeated took seconds, the time bound
// being checked only between inflated streams.
func (r *pdfReader) streams(b []byte, start time.Time) {
	p := &r.info
	end := pdfEnd{} // the last endstream search
	for i, n := 0, 0; n < maxPDFObjects; {
		kw := pdfKeyword(b, i, "stream", 5)
		if kw < 0 {
			return
		}
		i = kw + len("stream")
		d, ok := streamStart(b, kw)
		if !ok {
			continue
		}
		n++
		if !objStmDict(b, kw) {
			continue
		}
		data := b[d:]
		if e := end.find(b, d); e >= 0 {
			data = b[d:e]
		}
		if *r.budget <= 0 {
			p.Exhausted = true
			return
		}
		if spent := r.now().Sub(start); spent > pdfTimeout {
			p.Timeout = spent
			return
		}
		out := r.inflate(data)
		if out == nil {
			continue
		}
		p.Streams++
		r.names(out, false)
	}
}

// streamStart returns where the data of the stream whose keyword is at
// kw begins: after the keyword's end of line (§7.3.8.1). ok is false for
// a "stream" that is not the keyword after a dictionary.
func streamStart(b []byte, kw int) (d int, ok bool) {
	k := kw
	for k > 0 && isPDFSpace(b[k-1]) {
		k--
	}
	if k == 0 || b[k-1] != '>' {
		return 0, false
	}
	d = kw + len("stream")
	switch {
	case bytes.HasPrefix(b[d:], []byte("\r\n")):
		d += 2
	case d < len(b) && (b[d] == '\n' || b[d] == '\r'):
		d++
	default:
		return 0, false
	}
	return d, true
}

// pdfEnd remembers the last search for "endstream": at is the first one
// at or after from (-1: none), so a search from a later offset up to at
// has its answer without reading the file again.
type pdfEnd struct {
	searched bool
	from, at int
}

// find returns the offset of the first "endstream" at or after d, -1
// when there is none.
func (e *pdfEnd) find(b []byte, d int) int {
	if e.searched && d >= e.from && (e.at < 0 || d <= e.at) {
		return e.at
	}
	at := bytes.Index(b[d:], []byte("endstream"))
	if at >= 0 {
		at += d
	}
	*e = pdfEnd{searched: true, from: d, at: at}
	return at
}

// objStmDict reports that the dictionary before the stream keyword at
// kw (back to its object header, at most 4 KiB) is an object stream's
// (/Type /ObjStm, §7.5.7) with the FlateDecode filter, names spelt with
// # escapes or not. Only object streams hold dictionaries, and so
// actions: page contents, images and fonts, the bulk of a PDF, are not
// inflated (rspamd inflates the same).
func objStmDict(b []byte, kw int) bool {
	from := max(0, kw-4096)
	dict := b[from:kw]
	for k := len(dict); k > 0; {
		j := bytes.LastIndexByte(dict[:k], 'j')
		if j < 2 {
			break
		}
		if string(dict[j-2:j+1]) == "obj" {
			dict = dict[j+1:]
			break
		}
		k = j
	}
	if bytes.IndexByte(dict, '#') >= 0 {
		var out []byte
		for i := 0; i < len(dict); i++ {
			var d [1]byte
			if dict[i] == '#' && i+2 < len(dict) {
				if _, err := hex.Decode(d[:], dict[i+1:i+3]); err == nil {
					out = append(out, d[0])
					i += 2
					continue
				}
			}
			out = append(out, dict[i])
		}
		dict = out
	}
	return hasName(dict, "ObjStm") && (hasName(dict, "FlateDecode") || hasName(dict, "Fl"))
}

// hasName reports the name /n in b.
func hasName(b []byte, n string) bool {
	for i := 0; ; {
		j := bytes.Index(b[i:], []byte("/"+n))
		if j < 0 {
			return false
		}
		i += j + 1
		if pdfName(b[i:], n) {
			return true
		}
	}
}

// inflate decompresses one zlib stream within maxPDFStream and the
// budget; the output is r.buf, reused for the next stream. nil when the
// data is not zlib.
func (r *pdfReader) inflate(data []byte) []byte {
	r.src.Reset(data)
	var err error
	if r.zr == nil {
		r.zr, err = zlib.NewReader(&r.src)
	} else {
		err = r.zr.(zlib.Resetter).Reset(&r.src, nil)
	}
	if err != nil {
		return nil
	}
	limit := min(int64(maxPDFStream), *r.budget)
	r.buf = r.buf[:0]
	lr := io.LimitReader(r.zr, limit)
	for {
		if len(r.buf) == cap(r.buf) {
			// Grow by doubling, to the bound and no further.
			r.buf = slices.Grow(r.buf, min(max(cap(r.buf), 4096), int(limit)-len(r.buf)+1))
		}
		m, err := lr.Read(r.buf[len(r.buf):cap(r.buf)])
		r.buf = r.buf[:len(r.buf)+m]
		if err != nil {
			break
		}
	}
	n := int64(len(r.buf))
	*r.budget -= n
	r.info.Inflated += n
	if n == limit && limit < maxPDFStream {
		r.info.Exhausted = true
	}
	return r.buf
}

// pdf is rspamd's PDF_ENCRYPTED, PDF_JAVASCRIPT, PDF_SUSPICIOUS (its
// suspicion factor: 0.1 encrypted, 0.5 more with an /OpenAction, 0.1 a
// script, the pattern factor; hamlet's: 0.5 a /Launch action, 0.5 more
// when the file has an /OpenAction; the symbol past 0.5, at most 1),
// PDF_LONG_TRAILER, PDF_MANY_OBJECTS and PDF_TIMEOUT.
func (a *analysis) pdf(at *Attachment, name string) {
	p := at.PDF
	if p == nil {
		return
	}
	factor := p.Suspicious
	if p.Encrypted {
		a.add(SymPDFEncrypted, 1, name)
		factor += 0.1
		if p.OpenAction {
			factor += 0.5
		}
	}
	if p.JavaScript {
		a.add(SymPDFJavaScript, 1, name)
		factor += 0.1
	}
	if p.Launch {
		factor += 0.5
		if p.OpenAction {
			factor += 0.5
		}
	}
	if factor > 0.5 {
		a.add(SymPDFSuspicious, min(factor, 1), name)
	}
	if p.LongTrailer > 0 {
		a.add(SymPDFLongTrailer, 1, fmt.Sprintf("%s:%d", name, p.LongTrailer))
	}
	if p.ManyObjects > 0 {
		a.add(SymPDFManyObjects, 1, fmt.Sprintf("%s:%d", name, p.ManyObjects))
	}
	if p.Timeout > 0 {
		a.add(SymPDFTimeout, 1, fmt.Sprintf("%s:%.3f", name, p.Timeout.Seconds()))
	}
}

// pdfDelimiter: white space (§7.2.2 Table 1) and delimiters (Table 2).
func pdfDelimiter(c byte) bool {
	switch c {
	case 0, '\t', '\n', '\f', '\r', ' ', '(', ')', '<', '>', '[', ']', '{', '}', '/', '%':
		return true
	}
	return false
}

// pdfFind reports one of the names (all beginning with c) after a slash.
func pdfFind(b []byte, c byte, names ...string) bool {
	for i := 1; i < len(b); {
		j := bytes.IndexByte(b[i:], c)
		if j < 0 {
			return false
		}
		i += j
		if b[i-1] == '/' {
			for _, n := range names {
				if pdfName(b[i:], n) {
					return true
				}
			}
		}
		i++
	}
	return false
}

// pdfName reports that b begins with the name n as a whole token:
// followed by white space, a delimiter or the end (so /Encrypt is not
// /EncryptMetadata, /JS not /JSON).
func pdfName(b []byte, n string) bool {
	return len(b) >= len(n) && string(b[:len(n)]) == n && (len(b) == len(n) || pdfDelimiter(b[len(n)]))
}
