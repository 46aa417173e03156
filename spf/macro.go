package spf

import (
	"fmt"
	"net/netip"
	"strconv"
	"strings"
)

// macroPart is a literal run or one macro-expand of a macro-string
// (RFC 7208 §7.1).
type macroPart struct {
	lit     string // literal text (letter == 0)
	letter  byte   // lower-case macro letter, 0 for a literal
	upper   bool   // upper-case letter: URL-escape the value (§7.3)
	digits  int    // keep this many right-hand parts; 0 = all (§7.3)
	reverse bool   // the "r" transformer (§7.3)
	delims  string // delimiters; "" means "." (§7.1)
	escape  bool   // literal produced by "%%", "%_" or "%-"
}

type macroString []macroPart

// maxMacroDigits caps the DIGIT transformer: a domain has at most 127
// labels, so larger values keep every part anyway.
const maxMacroDigits = 1000

// parseMacroString parses a macro-string (RFC 7208 §7.1). When explain is
// true it parses an explain-string instead: SP is allowed, and so are the
// letters c, r and t, which are only valid in exp text (§7.2).
func parseMacroString(s string, explain bool) (macroString, error) {
	var out macroString
	lit := func(t string, esc bool) {
		if n := len(out); n > 0 && out[n-1].letter == 0 && !esc && !out[n-1].escape {
			out[n-1].lit += t
			return
		}
		out = append(out, macroPart{lit: t, escape: esc})
	}
	for i := 0; i < len(s); {
		c := s[i]
		if c != '%' {
			// macro-literal = %x21-24 / %x26-7E (§7.1); SP only in
			// explain-string.
			if c < 0x21 && !(explain && c == ' ') || c > 0x7e {
				return nil, fmt.Errorf("invalid character 0x%02x in macro-string", c)
			}
			j := i + 1
			for j < len(s) && s[j] != '%' && s[j] > 0x20 && s[j] <= 0x7e {
				j++
			}
			lit(s[i:j], false)
			i = j
			continue
		}
		if i+1 >= len(s) {
			return nil, fmt.Errorf("%% at end of macro-string")
		}
		switch s[i+1] {
		case '%': // §7.1: "%%" is a literal "%"
			lit("%", true)
			i += 2
			continue
		case '_': // "%_" is a single space
			lit(" ", true)
			i += 2
			continue
		case '-': // "%-" is a URL-encoded space
			lit("%20", true)
			i += 2
			continue
		case '{':
		default:
			return nil, fmt.Errorf("invalid macro %q", s[i:i+2])
		}
		end := strings.IndexByte(s[i:], '}')
		if end < 0 {
			return nil, fmt.Errorf("unterminated macro %q", s[i:])
		}
		body := s[i+2 : i+end]
		p, err := parseMacroExpand(body, explain)
		if err != nil {
			return nil, fmt.Errorf("macro %q: %w", s[i:i+end+1], err)
		}
		out = append(out, p)
		i += end + 1
	}
	return out, nil
}

// parseMacroExpand parses the inside of "%{...}": macro-letter
// transformers *delimiter (RFC 7208 §7.1).
func parseMacroExpand(body string, explain bool) (macroPart, error) {
	var p macroPart
	if body == "" {
		return p, fmt.Errorf("missing macro letter")
	}
	l := body[0]
	p.upper = l >= 'A' && l <= 'Z'
	l |= 0x20 // to lower case
	switch l {
	case 's', 'l', 'o', 'd', 'i', 'p', 'h', 'v':
	case 'c', 'r', 't':
		// §7.2: c, r and t are only allowed in exp text.
		if !explain {
			return p, fmt.Errorf("macro letter %q only allowed in explanation", body[0])
		}
	default:
		return p, fmt.Errorf("unknown macro letter %q", body[0])
	}
	p.letter = l
	i := 1
	// transformers = *DIGIT [ "r" ]; §7.3: a DIGIT, if present, must
	// be nonzero.
	if i < len(body) && isDigit(body[i]) {
		n := 0
		for i < len(body) && isDigit(body[i]) {
			n = n*10 + int(body[i]-'0')
			if n > maxMacroDigits {
				n = maxMacroDigits
			}
			i++
		}
		if n == 0 {
			return p, fmt.Errorf("transformer digit must be nonzero")
		}
		p.digits = n
	}
	if i < len(body) && (body[i] == 'r' || body[i] == 'R') {
		p.reverse = true
		i++
	}
	// delimiter = "." / "-" / "+" / "," / "/" / "_" / "="
	for j := i; j < len(body); j++ {
		if strings.IndexByte(".-+,/_=", body[j]) < 0 {
			return p, fmt.Errorf("invalid delimiter %q", body[j])
		}
	}
	p.delims = body[i:]
	return p, nil
}

// parseDomainSpec parses a domain-spec: a macro-string whose end is a
// macro-expand or "." toplabel [ "." ] (RFC 7208 §7.1, §4.6.1).
func parseDomainSpec(s string) (macroString, error) {
	if s == "" {
		return nil, fmt.Errorf("empty domain-spec")
	}
	ms, err := parseMacroString(s, false)
	if err != nil {
		return nil, err
	}
	last := ms[len(ms)-1]
	if last.letter != 0 || last.escape {
		return ms, nil // domain-end = macro-expand
	}
	t := strings.TrimSuffix(last.lit, ".")
	dot := strings.LastIndexByte(t, '.')
	if dot < 0 || !validToplabel(t[dot+1:]) {
		return nil, fmt.Errorf("domain-spec %q does not end in a valid top-level label", s)
	}
	return ms, nil
}

// validToplabel implements toplabel = ( *alphanum ALPHA *alphanum ) /
// ( 1*alphanum "-" *( alphanum / "-" ) alphanum ) (RFC 7208 §7.1): a label
// that is not all digits.
func validToplabel(l string) bool {
	if l == "" || l[0] == '-' || l[len(l)-1] == '-' {
		return false
	}
	nonDigit := false
	for i := 0; i < len(l); i++ {
		c := l[i]
		switch {
		case isAlpha(c):
			nonDigit = true
		case c == '-':
			nonDigit = true
		case isDigit(c):
		default:
			return false
		}
	}
	return nonDigit
}

// macroEnv holds the values the macro letters stand for (RFC 7208 §7.2).
type macroEnv struct {
	sender       string // <sender>, "s"
	local        string // "l"
	senderDomain string // "o"
	domain       string // <domain>, "d"
	ip           netip.Addr
	helo         string // "h"
	receiver     string // "r"
	now          func() int64
	// validated returns the "p" value, looking it up on first use.
	validated func() string
}

func (e *macroEnv) value(letter byte) string {
	switch letter {
	case 's':
		return e.sender
	case 'l':
		return e.local
	case 'o':
		return e.senderDomain
	case 'd':
		return e.domain
	case 'i':
		// §7.3: IPv4 in dotted form; IPv6 as dot-separated nibbles.
		if e.ip.Is4() {
			return e.ip.String()
		}
		return nibbles(e.ip)
	case 'c':
		// §7.2: the SMTP client IP in its usual text form.
		return e.ip.String()
	case 'v':
		// §7.2: "in-addr" for IPv4, "ip6" for IPv6.
		if e.ip.Is4() {
			return "in-addr"
		}
		return "ip6"
	case 'h':
		return e.helo
	case 'p':
		if e.validated != nil {
			return e.validated()
		}
		return "unknown"
	case 'r':
		// §7.2: the receiving host's domain, "unknown" when not known.
		if e.receiver == "" {
			return "unknown"
		}
		return e.receiver
	case 't':
		if e.now != nil {
			return strconv.FormatInt(e.now(), 10)
		}
		return "0"
	}
	return ""
}

func nibbles(ip netip.Addr) string {
	const hex = "0123456789abcdef"
	a := ip.As16()
	b := make([]byte, 0, 63)
	for i, x := range a {
		if i > 0 {
			b = append(b, '.')
		}
		b = append(b, hex[x>>4], '.', hex[x&0xf])
	}
	return string(b)
}

// expand expands ms in env (RFC 7208 §7.3).
func (ms macroString) expand(env *macroEnv) string {
	if len(ms) == 1 && ms[0].letter == 0 {
		return ms[0].lit
	}
	var b strings.Builder
	for i := range ms {
		p := &ms[i]
		if p.letter == 0 {
			b.WriteString(p.lit)
			continue
		}
		v := env.value(p.letter)
		if p.digits > 0 || p.reverse || p.delims != "" {
			v = transform(v, p)
		}
		if p.upper {
			// §7.3: upper-case macros are URL-escaped (RFC 3986).
			v = urlEscape(v)
		}
		b.WriteString(v)
	}
	return b.String()
}

// transform splits v on the delimiters, optionally reverses, keeps the
// right-most digits parts and joins them with "." (RFC 7208 §7.3).
func transform(v string, p *macroPart) string {
	delims := p.delims
	if delims == "" {
		delims = "."
	}
	parts := splitAny(v, delims)
	if p.reverse {
		for i, j := 0, len(parts)-1; i < j; i, j = i+1, j-1 {
			parts[i], parts[j] = parts[j], parts[i]
		}
	}
	if p.digits > 0 && p.digits < len(parts) {
		parts = parts[len(parts)-p.digits:]
	}
	return strings.Join(parts, ".")
}

func splitAny(s, delims string) []string {
	var out []string
	start := 0
	for i := 0; i < len(s); i++ {
		if strings.IndexByte(delims, s[i]) >= 0 {
			out = append(out, s[start:i])
			start = i + 1
		}
	}
	return append(out, s[start:])
}

func urlEscape(s string) string {
	const hex = "0123456789ABCDEF"
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		c := s[i]
		// RFC 3986 §2.3 unreserved characters stay as they are.
		if isAlpha(c) || isDigit(c) || c == '-' || c == '.' || c == '_' || c == '~' {
			b.WriteByte(c)
			continue
		}
		b.WriteByte('%')
		b.WriteByte(hex[c>>4])
		b.WriteByte(hex[c&0xf])
	}
	return b.String()
}
