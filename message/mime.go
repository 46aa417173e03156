package message

import (
	"bytes"
	"encoding/base64"
	"mime"
	"strings"
)

// Limits bound the MIME walk of ParseMIME. A message past a bound is not an
// error: the walk stops descending, splitting or decoding there and names
// the bound in MIME.Exceeded, so that a check can give it a symbol. Zero
// fields take the DefaultLimits value.
type Limits struct {
	// MaxDepth bounds the nesting of multipart and message/rfc822 parts
	// (the top-level part is depth 0).
	MaxDepth int
	// MaxParts bounds the number of parts, containers included.
	MaxParts int
	// MaxDecoded bounds the bytes of transfer-decoded content kept for all
	// parts together (base64 and quoted-printable bodies; 7bit, 8bit and
	// binary bodies are used in place and cost nothing).
	MaxDecoded int64
}

// DefaultLimits are generous for real mail (rspamd-like) and keep a hostile
// message to a small multiple of its size.
func DefaultLimits() Limits {
	return Limits{MaxDepth: 32, MaxParts: 1000, MaxDecoded: 64 << 20}
}

func (l Limits) withDefaults() Limits {
	d := DefaultLimits()
	if l.MaxDepth <= 0 {
		l.MaxDepth = d.MaxDepth
	}
	if l.MaxParts <= 0 {
		l.MaxParts = d.MaxParts
	}
	if l.MaxDecoded <= 0 {
		l.MaxDecoded = d.MaxDecoded
	}
	return l
}

// The bounds of Limits, as named in MIME.Exceeded.
const (
	ExceededDepth   = "depth"
	ExceededParts   = "parts"
	ExceededDecoded = "decoded_size"
)

// MIME is the MIME structure of a message (RFC 2045–2049).
type MIME struct {
	// Root is the message itself as a part: its fields are the message's
	// header fields.
	Root *Part
	// Parts lists every part, Root first, depth first in message order.
	Parts []*Part
	// Exceeded names the Limits the message went past (ExceededDepth, …),
	// each once.
	Exceeded []string
}

// Part is one MIME entity.
type Part struct {
	// Fields are the part's header fields (for Root and for the part of
	// an enclosed message/rfc822, that message's header).
	Fields []Field
	// Type is the media type in lower case ("text/plain"). A part without
	// Content-Type, or whose Content-Type does not parse to a type, gets
	// the default of RFC 2045 §5.2 (text/plain; message/rfc822 inside
	// multipart/digest, RFC 2046 §5.1.5).
	Type string
	// Declared reports that a Content-Type field was present.
	Declared bool
	// Params are the Content-Type parameters (names in lower case,
	// RFC 2231 continuations and charsets decoded).
	Params map[string]string
	// TypeProblem says why a present Content-Type did not parse cleanly
	// ("" when it did).
	TypeProblem string
	// Disposition is the Content-Disposition type in lower case ("inline",
	// "attachment"), "" when absent.
	Disposition string
	// Filename is the disposition's filename, else Content-Type's name
	// parameter, with RFC 2231 and RFC 2047 encodings decoded.
	Filename string
	// Encoding is the Content-Transfer-Encoding in lower case, "7bit" when
	// absent (RFC 2045 §6.1).
	Encoding string
	// Raw is the part's body as written in the message.
	Raw []byte
	// Body is the content after transfer decoding (a subslice of Raw for
	// 7bit, 8bit and binary). It is nil for a multipart and when the
	// MaxDecoded budget ran out (Skipped is then true).
	Body []byte
	// Skipped reports that a bound kept the body from being decoded or a
	// container from being opened.
	Skipped bool
	// Parts are a multipart's children, or the one part of an enclosed
	// message (message/rfc822 and message/global).
	Parts []*Part
	// Parent is nil for Root.
	Parent *Part
	// Depth is 0 for Root.
	Depth int
	// Problems lists what was malformed in this part, in words fit for a
	// log line (bad base64, a multipart that is never closed, …).
	Problems []string
}

// IsMultipart reports whether the part is a multipart/* container.
func (p *Part) IsMultipart() bool { return strings.HasPrefix(p.Type, "multipart/") }

// IsMessage reports whether the part encloses a message.
func (p *Part) IsMessage() bool { return p.Type == "message/rfc822" || p.Type == "message/global" }

// Charset returns the charset parameter in lower case, "" when absent.
func (p *Part) Charset() string { return strings.ToLower(strings.TrimSpace(p.Params["charset"])) }

// IsAttachment reports whether the part is meant as a file: a disposition
// of attachment, or a filename, or a leaf that is neither text nor an
// enclosed message.
func (p *Part) IsAttachment() bool {
	if p.IsMultipart() || (p.IsMessage() && len(p.Parts) > 0) {
		return false
	}
	if p.Disposition == "attachment" || p.Filename != "" {
		return true
	}
	return !strings.HasPrefix(p.Type, "text/") && p.Parent != nil
}

// Header returns the unfolded value of the part's first field named name.
func (p *Part) Header(name string) (string, bool) {
	for _, f := range p.Fields {
		if strings.EqualFold(f.Name, name) {
			return f.Unfolded(), true
		}
	}
	return "", false
}

// ParseMIME walks m's MIME structure within lim. It never fails: what is
// malformed is in each Part's Problems, and a bound reached is in
// MIME.Exceeded. Time and memory are linear in the message size (times
// MaxDepth at worst); decoded bodies cost at most MaxDecoded.
func ParseMIME(m *Message, lim Limits) *MIME {
	w := &walker{lim: lim.withDefaults(), mime: &MIME{}}
	w.mime.Root = w.part(m.Fields, m.Body, nil, 0, "text/plain")
	return w.mime
}

type walker struct {
	lim     Limits
	mime    *MIME
	decoded int64
}

func (w *walker) exceed(what string) {
	for _, e := range w.mime.Exceeded {
		if e == what {
			return
		}
	}
	w.mime.Exceeded = append(w.mime.Exceeded, what)
}

func (w *walker) part(fields []Field, raw []byte, parent *Part, depth int, defType string) *Part {
	p := &Part{Fields: fields, Raw: raw, Parent: parent, Depth: depth}
	w.mime.Parts = append(w.mime.Parts, p)
	p.parseFields(defType)
	switch {
	case p.IsMultipart():
		boundary := p.Params["boundary"]
		if boundary == "" {
			p.Problems = append(p.Problems, "multipart without a boundary parameter")
			w.decode(p)
			return p
		}
		if depth >= w.lim.MaxDepth {
			w.exceed(ExceededDepth)
			p.Skipped = true
			return p
		}
		childType := "text/plain"
		if p.Type == "multipart/digest" {
			childType = "message/rfc822"
		}
		bodies, problem := splitMultipart(raw, boundary)
		if problem != "" {
			p.Problems = append(p.Problems, problem)
		}
		for _, b := range bodies {
			if len(w.mime.Parts) >= w.lim.MaxParts {
				w.exceed(ExceededParts)
				p.Skipped = true
				break
			}
			f, body, _, prob := splitHeader(b)
			c := w.part(f, body, p, depth+1, childType)
			if prob != "" {
				c.Problems = append(c.Problems, prob)
			}
			p.Parts = append(p.Parts, c)
		}
	case p.IsMessage():
		w.decode(p)
		if p.Body == nil {
			return p
		}
		if depth >= w.lim.MaxDepth {
			w.exceed(ExceededDepth)
			p.Skipped = true
			return p
		}
		if len(w.mime.Parts) >= w.lim.MaxParts {
			w.exceed(ExceededParts)
			p.Skipped = true
			return p
		}
		inner, _ := toCRLF(p.Body)
		f, body, _, prob := splitHeader(inner)
		c := w.part(f, body, p, depth+1, "text/plain")
		if prob != "" {
			c.Problems = append(c.Problems, prob)
		}
		p.Parts = append(p.Parts, c)
	default:
		w.decode(p)
	}
	return p
}

// parseFields reads Content-Type, Content-Disposition and
// Content-Transfer-Encoding.
func (p *Part) parseFields(defType string) {
	p.Type = defType
	p.Encoding = "7bit"
	for _, f := range p.Fields {
		switch strings.ToLower(f.Name) {
		case "content-type":
			if p.Declared {
				continue // the first one counts
			}
			p.Declared = true
			t, params, problem := parseMediaType(f.Unfolded())
			p.Params, p.TypeProblem = params, problem
			if t != "" && strings.Contains(t, "/") {
				p.Type = t
			} else if problem == "" {
				p.TypeProblem = "Content-Type without type/subtype"
			}
		case "content-disposition":
			if p.Disposition != "" {
				continue
			}
			d, params, _ := parseMediaType(f.Unfolded())
			p.Disposition = d
			if fn := params["filename"]; fn != "" {
				p.Filename = DecodeHeader(fn)
			}
		case "content-transfer-encoding":
			p.Encoding = strings.ToLower(strings.TrimSpace(f.Unfolded()))
		}
	}
	if p.Filename == "" && p.Params["name"] != "" {
		p.Filename = DecodeHeader(p.Params["name"])
	}
	if p.Params == nil {
		p.Params = map[string]string{}
	}
}

// parseMediaType parses a Content-Type or Content-Disposition value
// (RFC 2045 §5.1, RFC 2183, RFC 2231). It is lenient: a value the strict
// parser refuses still gives its type and the parameters that can be read.
func parseMediaType(v string) (string, map[string]string, string) {
	t, params, err := mime.ParseMediaType(v)
	if err == nil {
		return t, params, ""
	}
	// Lenient fallback: type up to ';', then name=value pairs.
	problem := err.Error()
	params = map[string]string{}
	head, rest, _ := strings.Cut(v, ";")
	t = strings.ToLower(strings.TrimSpace(head))
	if i := strings.IndexAny(t, " \t\"()<>@,:\\[]?="); i >= 0 {
		t = t[:i]
	}
	for rest != "" {
		var item string
		if i := indexUnquoted(rest, ';'); i >= 0 {
			item, rest = rest[:i], rest[i+1:]
		} else {
			item, rest = rest, ""
		}
		k, val, ok := strings.Cut(item, "=")
		if !ok {
			continue
		}
		k = strings.ToLower(strings.TrimSpace(k))
		k = strings.TrimSuffix(k, "*")
		val = strings.TrimSpace(val)
		if len(val) >= 2 && val[0] == '"' && val[len(val)-1] == '"' {
			val = strings.ReplaceAll(val[1:len(val)-1], `\"`, `"`)
		} else {
			val = strings.Trim(val, `"`)
		}
		if k != "" {
			if _, dup := params[k]; !dup {
				params[k] = val
			}
		}
	}
	return t, params, problem
}

func indexUnquoted(s string, c byte) int {
	q := false
	for i := 0; i < len(s); i++ {
		switch {
		case s[i] == '"':
			q = !q
		case s[i] == '\\' && q:
			i++
		case s[i] == c && !q:
			return i
		}
	}
	return -1
}

// splitMultipart returns the bodies between the delimiter lines of
// boundary (RFC 2046 §5.1.1), without preamble and epilogue. problem is
// set when there is no delimiter or no close delimiter.
func splitMultipart(body []byte, boundary string) ([][]byte, string) {
	delim := []byte("--" + boundary)
	var bodies [][]byte
	start := -1 // where the current part's body starts
	pos := 0
	for pos <= len(body) {
		// A delimiter starts a line: at the very start or after CRLF.
		var at int // index of the CRLF before the delimiter, or -2 at the start
		if pos == 0 && bytes.HasPrefix(body, delim) {
			at = -2
		} else {
			i := indexCRLFDelim(body[pos:], delim)
			if i < 0 {
				break
			}
			at = pos + i
		}
		dstart := at + 2
		if at == -2 {
			dstart = 0
		}
		after := dstart + len(delim)
		closing := bytes.HasPrefix(body[after:], []byte("--"))
		e := after
		if closing {
			e += 2
		}
		// The rest of the delimiter line may only be white space.
		le := lineEnd(body, e)
		if !blankLine(body[e:le]) && !closing {
			pos = after // not a delimiter (a longer boundary)
			continue
		}
		if start >= 0 {
			end := at
			if at < start {
				end = start
			}
			bodies = append(bodies, body[start:end])
		}
		if closing {
			return bodies, ""
		}
		start = le
		pos = le
		if le == len(body) {
			break
		}
		if le >= 2 && body[le-2] == '\r' {
			// The CRLF ending this delimiter line may also begin the
			// next delimiter (an empty part).
			pos = le - 2
		}
	}
	if start < 0 {
		return nil, "multipart body without its boundary"
	}
	if start < len(body) {
		bodies = append(bodies, body[start:])
	}
	return bodies, "multipart without its close delimiter"
}

func indexCRLFDelim(b, delim []byte) int {
	off := 0
	for {
		i := bytes.Index(b[off:], delim)
		if i < 0 {
			return -1
		}
		j := off + i
		if j >= 2 && b[j-2] == '\r' && b[j-1] == '\n' {
			return j - 2
		}
		off = j + 1
	}
}

func blankLine(b []byte) bool {
	for _, c := range b {
		if c != ' ' && c != '\t' && c != '\r' && c != '\n' {
			return false
		}
	}
	return true
}

// decode transfer-decodes p's body within the budget.
func (w *walker) decode(p *Part) {
	switch p.Encoding {
	case "base64", "quoted-printable":
	default:
		// 7bit, 8bit, binary and unknown encodings (RFC 2045 §6.4: an
		// unknown one is treated as opaque data).
		p.Body = p.Raw
		return
	}
	est := int64(len(p.Raw))
	if p.Encoding == "base64" {
		est = est / 4 * 3
	}
	if w.decoded+est > w.lim.MaxDecoded {
		w.exceed(ExceededDecoded)
		p.Skipped = true
		return
	}
	var clean bool
	if p.Encoding == "base64" {
		p.Body, clean = DecodeBase64(p.Raw)
		if !clean {
			p.Problems = append(p.Problems, "invalid base64")
		}
	} else {
		p.Body, clean = DecodeQP(p.Raw)
		if !clean {
			p.Problems = append(p.Problems, "invalid quoted-printable")
		}
	}
	w.decoded += int64(len(p.Body))
}

var b64val = func() (t [256]byte) {
	for i := range t {
		t[i] = 0xff
	}
	for i, c := range "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/" {
		t[c] = byte(i)
	}
	// base64url letters, as some senders write.
	t['-'], t['_'] = 62, 63
	return t
}()

// DecodeBase64 decodes base64 content (RFC 2045 §6.8) leniently: line
// breaks and white space are skipped, other characters are skipped and
// make clean false, padding ends a group and decoding goes on after it.
func DecodeBase64(src []byte) (out []byte, clean bool) {
	dst := make([]byte, len(src)/4*3+3)
	if n, err := base64.StdEncoding.Decode(dst, src); err == nil {
		return dst[:n], true
	}
	clean = true
	n := 0
	var acc uint32
	k := 0
	flush := func() {
		switch k {
		case 2:
			dst[n] = byte(acc >> 4)
			n++
		case 3:
			dst[n], dst[n+1] = byte(acc>>10), byte(acc>>2)
			n += 2
		case 1:
			clean = false
		}
		acc, k = 0, 0
	}
	for _, c := range src {
		v := b64val[c]
		if v == 0xff {
			switch c {
			case '=':
				flush()
			case '\r', '\n', ' ', '\t':
			default:
				clean = false
			}
			continue
		}
		acc = acc<<6 | uint32(v)
		k++
		if k == 4 {
			dst[n], dst[n+1], dst[n+2] = byte(acc>>16), byte(acc>>8), byte(acc)
			n += 3
			acc, k = 0, 0
		}
	}
	flush()
	return dst[:n], clean
}

func unhex(c byte) (byte, bool) {
	switch {
	case '0' <= c && c <= '9':
		return c - '0', true
	case 'a' <= c && c <= 'f':
		return c - 'a' + 10, true
	case 'A' <= c && c <= 'F':
		return c - 'A' + 10, true
	}
	return 0, false
}

// DecodeQP decodes quoted-printable content (RFC 2045 §6.7) leniently: a
// '=' that starts no valid escape is kept as written and makes clean false;
// soft line breaks ("=" at a line end, white space allowed before the
// break) are removed.
func DecodeQP(src []byte) (out []byte, clean bool) {
	clean = true
	dst := make([]byte, 0, len(src))
	for i := 0; i < len(src); i++ {
		c := src[i]
		if c != '=' {
			dst = append(dst, c)
			continue
		}
		if i+2 < len(src) {
			if h, ok := unhex(src[i+1]); ok {
				if l, ok := unhex(src[i+2]); ok {
					dst = append(dst, h<<4|l)
					i += 2
					continue
				}
			}
		}
		// Soft line break: "=" then optional white space then CRLF/LF.
		j := i + 1
		for j < len(src) && (src[j] == ' ' || src[j] == '\t') {
			j++
		}
		if j == len(src) {
			i = j - 1
			continue
		}
		if src[j] == '\n' {
			i = j
			continue
		}
		if src[j] == '\r' && j+1 < len(src) && src[j+1] == '\n' {
			i = j + 1
			continue
		}
		clean = false
		dst = append(dst, c)
	}
	return dst, clean
}
