package message

import (
	"bytes"
	"strings"
)

// Field is one header field as it appears in the message.
type Field struct {
	// Name is the field name as written (case preserved, no colon).
	Name string
	// Raw is the whole field: name, colon, value with its folding, and the
	// final CRLF.
	Raw []byte
}

// Value returns the field body: everything after the colon, folding kept,
// without the final CRLF.
func (f Field) Value() string {
	i := bytes.IndexByte(f.Raw, ':')
	if i < 0 {
		return ""
	}
	return string(bytes.TrimSuffix(f.Raw[i+1:], []byte("\r\n")))
}

// Unfolded returns the field body with folding CRLFs removed and leading
// and trailing white space trimmed (RFC 5322 §2.2.3).
func (f Field) Unfolded() string {
	v := strings.ReplaceAll(f.Value(), "\r\n", "")
	return strings.TrimSpace(v)
}

// Message is a parsed message.
type Message struct {
	// Raw is the whole message with CRLF line ends.
	Raw []byte
	// Fields are the header fields in order, top first.
	Fields []Field
	// Body is the part of Raw after the empty line that ends the header;
	// it is empty when there is no such line.
	Body []byte
	// HasBody reports whether the header was ended by an empty line.
	HasBody bool
	// Problems lists what was malformed, in words fit for a log line.
	Problems []string
	// Converted reports that bare LF line ends were turned into CRLF (as
	// in files and filter-rspamd's requests; not a malformation).
	Converted bool
}

// Parse splits raw into header fields and body. Bare LF line ends are turned
// into CRLF (the canonical form of RFC 5322 §2.1 that DKIM hashes); raw is
// not modified.
func Parse(raw []byte) *Message {
	m := &Message{}
	data, fixed := toCRLF(raw)
	m.Converted = fixed
	m.Raw = data
	pos := 0
	// An mbox separator line ("From sender date") is not a header field.
	if bytes.HasPrefix(data, []byte("From ")) {
		if i := bytes.Index(data, []byte("\r\n")); i >= 0 {
			pos = i + 2
		}
	}
	if bytes.IndexByte(data, 0) >= 0 {
		m.Problems = append(m.Problems, "NUL byte in message")
	}
	var problem string
	m.Fields, m.Body, m.HasBody, problem = splitHeader(data[pos:])
	if problem != "" {
		m.Problems = append(m.Problems, problem)
	}
	return m
}

// splitHeader splits data (CRLF line ends) into its header fields and the
// body after the empty line. Without an empty line, hasBody is false and
// problem says why; a line that is not a field ends the header and starts
// the body.
func splitHeader(data []byte) (fields []Field, body []byte, hasBody bool, problem string) {
	pos := 0
	for pos < len(data) {
		end := lineEnd(data, pos)
		line := data[pos:end]
		if len(line) == 2 && line[0] == '\r' && line[1] == '\n' { // the empty line
			return fields, data[end:], true, ""
		}
		if line[0] == ' ' || line[0] == '\t' {
			if len(fields) == 0 {
				return nil, data[pos:], false, "continuation line before the first header field"
			}
			// Continuation of the previous field (RFC 5322 §2.2.3).
			f := &fields[len(fields)-1]
			f.Raw = data[pos-len(f.Raw) : end]
			pos = end
			continue
		}
		colon := bytes.IndexByte(line, ':')
		name := ""
		if colon > 0 {
			name = string(bytes.TrimRight(line[:colon], " \t"))
		}
		if colon <= 0 || !validName(name) {
			return fields, data[pos:], false, "header line without a field name; header ends there"
		}
		fields = append(fields, Field{Name: name, Raw: data[pos:end]})
		pos = end
	}
	if len(data) > 0 {
		return fields, nil, false, "no empty line after the header"
	}
	return fields, nil, false, ""
}

// lineEnd returns the offset just past the CRLF that ends the line starting
// at pos, or len(data) when the last line has no CRLF.
func lineEnd(data []byte, pos int) int {
	i := bytes.Index(data[pos:], []byte("\r\n"))
	if i < 0 {
		return len(data)
	}
	return pos + i + 2
}

// validName reports whether s is a field name: printable US-ASCII except
// colon (RFC 5322 §2.2).
func validName(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		if s[i] <= 32 || s[i] >= 127 {
			return false
		}
	}
	return true
}

// toCRLF returns data with every LF not preceded by CR turned into CRLF, and
// whether anything changed. Data already in CRLF form is returned as is.
func toCRLF(data []byte) ([]byte, bool) {
	bare := 0
	for i := 0; ; {
		j := bytes.IndexByte(data[i:], '\n')
		if j < 0 {
			break
		}
		i += j
		if i == 0 || data[i-1] != '\r' {
			bare++
		}
		i++
	}
	if bare == 0 {
		return data, false
	}
	out := make([]byte, 0, len(data)+bare)
	for i, c := range data {
		if c == '\n' && (i == 0 || data[i-1] != '\r') {
			out = append(out, '\r')
		}
		out = append(out, c)
	}
	return out, true
}

// Get returns the fields named name (case-insensitive), top first.
func (m *Message) Get(name string) []Field {
	var out []Field
	for _, f := range m.Fields {
		if strings.EqualFold(f.Name, name) {
			out = append(out, f)
		}
	}
	return out
}

// First returns the unfolded value of the topmost field named name.
func (m *Message) First(name string) (string, bool) {
	for _, f := range m.Fields {
		if strings.EqualFold(f.Name, name) {
			return f.Unfolded(), true
		}
	}
	return "", false
}

// HeaderBytes returns the header section of Raw, fields only (without the
// empty line that ends it).
func (m *Message) HeaderBytes() []byte {
	if len(m.Fields) == 0 {
		return nil
	}
	last := m.Fields[len(m.Fields)-1].Raw
	start := bytesOffset(m.Raw, m.Fields[0].Raw)
	end := bytesOffset(m.Raw, last) + len(last)
	return m.Raw[start:end]
}

// bytesOffset returns the offset of sub, a subslice of whole, in whole.
func bytesOffset(whole, sub []byte) int {
	return cap(whole) - cap(sub)
}
