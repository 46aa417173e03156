package spf

import (
	"fmt"
	"net/netip"
	"strconv"
	"strings"
)

// Qualifier is the prefix of a directive that gives the result when its
// mechanism matches (RFC 7208 §4.6.2).
type Qualifier byte

// The four qualifiers. A directive without one is QualPass.
const (
	QualPass     Qualifier = '+'
	QualFail     Qualifier = '-'
	QualSoftFail Qualifier = '~'
	QualNeutral  Qualifier = '?'
)

// Code returns the result a matching directive with this qualifier gives
// (RFC 7208 §4.6.2).
func (q Qualifier) Code() Code {
	switch q {
	case QualFail:
		return Fail
	case QualSoftFail:
		return SoftFail
	case QualNeutral:
		return Neutral
	}
	return Pass
}

// MechanismKind names one of the eight mechanisms (RFC 7208 §5).
type MechanismKind int

// The mechanisms of RFC 7208 §5.1-§5.7.
const (
	MechAll MechanismKind = iota + 1
	MechInclude
	MechA
	MechMX
	MechPTR
	MechIP4
	MechIP6
	MechExists
)

var mechNames = map[MechanismKind]string{
	MechAll: "all", MechInclude: "include", MechA: "a", MechMX: "mx",
	MechPTR: "ptr", MechIP4: "ip4", MechIP6: "ip6", MechExists: "exists",
}

func (k MechanismKind) String() string {
	if s, ok := mechNames[k]; ok {
		return s
	}
	return "mechanism?"
}

// CountsLookup reports whether evaluating this mechanism queries DNS and so
// counts against the limit of 10 (RFC 7208 §4.6.4).
func (k MechanismKind) CountsLookup() bool {
	switch k {
	case MechInclude, MechA, MechMX, MechPTR, MechExists:
		return true
	}
	return false
}

// Directive is one qualified mechanism of a record (RFC 7208 §4.6.1).
type Directive struct {
	Qualifier Qualifier
	Kind      MechanismKind
	// Domain is the domain-spec as written ("" when absent, meaning
	// <domain>); it may contain macros (RFC 7208 §7).
	Domain string
	// Network is the ip4 or ip6 network, masked to its prefix length.
	Network netip.Prefix
	// CIDR4 and CIDR6 are the dual CIDR lengths of a and mx
	// (RFC 7208 §5.6); 32 and 128 when not written.
	CIDR4, CIDR6 int
	// Text is the term as it appears in the record.
	Text string

	domain macroString
}

// String returns the directive as written in the record.
func (d *Directive) String() string { return d.Text }

// Modifier is a name=value term (RFC 7208 §4.6.1, §6).
type Modifier struct {
	Name  string // lower case
	Value string // the macro-string as written
	Text  string

	value macroString
}

// Record is a parsed SPF record (RFC 7208 §4.6).
type Record struct {
	// Directives in the order they are evaluated.
	Directives []Directive
	// Redirect and Exp are the redirect= and exp= modifiers, nil when
	// absent (RFC 7208 §6.1, §6.2).
	Redirect *Modifier
	Exp      *Modifier
	// Unknown lists the other modifiers, which evaluation ignores
	// (RFC 7208 §6).
	Unknown []Modifier
	// Text is the record as given to Parse.
	Text string
}

// Lookups returns how many terms of this record (not counting records
// reached through include or redirect) query DNS and so count against the
// limit of 10 in RFC 7208 §4.6.4.
func (r *Record) Lookups() int {
	n := 0
	for i := range r.Directives {
		if r.Directives[i].Kind.CountsLookup() {
			n++
		}
	}
	if r.Redirect != nil {
		n++
	}
	return n
}

// SyntaxError reports a record that does not follow the grammar of
// RFC 7208 §4.6.1 / §12; evaluating such a record gives permerror.
type SyntaxError struct {
	Term string // the offending term ("" for the record as a whole)
	Msg  string
}

func (e *SyntaxError) Error() string {
	if e.Term == "" {
		return "invalid SPF record: " + e.Msg
	}
	return fmt.Sprintf("invalid SPF record: %s in %q", e.Msg, e.Term)
}

// IsSPF reports whether txt is an SPF version 1 record: it starts with
// "v=spf1" (in any case) followed by a space or the end of the record
// (RFC 7208 §4.5).
func IsSPF(txt string) bool {
	const v = "v=spf1"
	if len(txt) < len(v) || !strings.EqualFold(txt[:len(v)], v) {
		return false
	}
	return len(txt) == len(v) || txt[len(v)] == ' '
}

// MaxRecordLength bounds what Parse accepts. A TXT RRset cannot exceed a
// DNS message (64 KiB); anything longer is hostile.
const MaxRecordLength = 65535

// Parse parses an SPF record, including its version section. It checks
// the whole record, so that a syntax error anywhere is found before any
// evaluation (RFC 7208 §4.6).
func Parse(record string) (*Record, error) {
	if len(record) > MaxRecordLength {
		return nil, &SyntaxError{Msg: fmt.Sprintf("record longer than %d bytes", MaxRecordLength)}
	}
	if !IsSPF(record) {
		return nil, &SyntaxError{Msg: `record does not start with "v=spf1"`}
	}
	// RFC 7208 §3 and §12: the record is US-ASCII; terms are separated
	// by SP only. Any other byte (tab, control, NUL, 8-bit) is an error.
	for i := 0; i < len(record); i++ {
		if c := record[i]; c < 0x20 || c > 0x7e {
			return nil, &SyntaxError{Msg: fmt.Sprintf("invalid byte 0x%02x at offset %d (records are printable US-ASCII)", c, i)}
		}
	}
	r := &Record{Text: record, Directives: make([]Directive, 0, strings.Count(record, " "))}
	for rest := record[len("v=spf1"):]; rest != ""; {
		var term string
		term, rest, _ = strings.Cut(rest, " ")
		if term == "" {
			continue // 1*SP between terms, *SP at the end
		}
		if err := r.addTerm(term); err != nil {
			return nil, err
		}
	}
	return r, nil
}

func isAlpha(c byte) bool { return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' }
func isDigit(c byte) bool { return c >= '0' && c <= '9' }

func (r *Record) addTerm(term string) error {
	// RFC 7208 §4.6.1: a modifier is name "=" value, where name =
	// ALPHA *( ALPHA / DIGIT / "-" / "_" / "." ); the "=" comes right
	// after the name, before any ":" or "/".
	i := 0
	if isAlpha(term[0]) {
		i = 1
		for i < len(term) && (isAlpha(term[i]) || isDigit(term[i]) || strings.IndexByte("-_.", term[i]) >= 0) {
			i++
		}
	}
	if i > 0 && i < len(term) && term[i] == '=' {
		return r.addModifier(term, strings.ToLower(term[:i]), term[i+1:])
	}
	d, err := parseDirective(term)
	if err != nil {
		return err
	}
	r.Directives = append(r.Directives, d)
	return nil
}

func (r *Record) addModifier(term, name, value string) error {
	m := Modifier{Name: name, Value: value, Text: term}
	switch name {
	case "redirect", "exp":
		// RFC 7208 §6.1, §6.2: both take a domain-spec; §6: each may
		// appear at most once.
		ms, err := parseDomainSpec(value)
		if err != nil {
			return &SyntaxError{Term: term, Msg: err.Error()}
		}
		m.value = ms
		slot := &r.Redirect
		if name == "exp" {
			slot = &r.Exp
		}
		if *slot != nil {
			return &SyntaxError{Term: term, Msg: name + " modifier appears more than once"}
		}
		*slot = &m
	default:
		// RFC 7208 §6: unknown modifiers are ignored, but their value
		// must still be a valid macro-string (§4.6.1, §12).
		ms, err := parseMacroString(value, false)
		if err != nil {
			return &SyntaxError{Term: term, Msg: err.Error()}
		}
		m.value = ms
		r.Unknown = append(r.Unknown, m)
	}
	return nil
}

func parseDirective(term string) (Directive, error) {
	d := Directive{Qualifier: QualPass, Text: term, CIDR4: 32, CIDR6: 128}
	rest := term
	// RFC 7208 §4.6.2: qualifier = "+" / "-" / "?" / "~".
	switch rest[0] {
	case '+', '-', '~', '?':
		d.Qualifier = Qualifier(rest[0])
		rest = rest[1:]
	}
	n := 0
	for n < len(rest) && isAlpha(rest[n]) || n > 0 && n < len(rest) && isDigit(rest[n]) {
		n++
	}
	name, args := strings.ToLower(rest[:n]), rest[n:]
	bad := func(msg string) (Directive, error) { return Directive{}, &SyntaxError{Term: term, Msg: msg} }
	// domainArg splits ":" domain-spec off args (required or optional).
	domainArg := func(required bool, cidr bool) (string, error) {
		if !strings.HasPrefix(args, ":") {
			if required {
				return "", fmt.Errorf("%s needs \":\" and a domain", name)
			}
			return "", nil
		}
		spec := args[1:]
		args = ""
		if cidr {
			spec, args = splitCIDR(spec)
		}
		if spec == "" {
			return "", fmt.Errorf("empty domain-spec")
		}
		ms, err := parseDomainSpec(spec)
		if err != nil {
			return "", err
		}
		d.domain = ms
		return spec, nil
	}
	var err error
	switch name {
	case "all": // RFC 7208 §5.1
		d.Kind = MechAll
	case "include": // RFC 7208 §5.2
		d.Kind = MechInclude
		d.Domain, err = domainArg(true, false)
	case "exists": // RFC 7208 §5.7
		d.Kind = MechExists
		d.Domain, err = domainArg(true, false)
	case "ptr": // RFC 7208 §5.5
		d.Kind = MechPTR
		d.Domain, err = domainArg(false, false)
	case "a", "mx": // RFC 7208 §5.3, §5.4, dual-cidr-length §5.6
		d.Kind = MechA
		if name == "mx" {
			d.Kind = MechMX
		}
		if d.Domain, err = domainArg(false, true); err == nil {
			d.CIDR4, d.CIDR6, err = parseDualCIDR(args)
			args = ""
		}
	case "ip4", "ip6": // RFC 7208 §5.6
		d.Kind = MechIP4
		if name == "ip6" {
			d.Kind = MechIP6
		}
		if !strings.HasPrefix(args, ":") {
			return bad(name + ` needs ":" and a network`)
		}
		d.Network, err = parseNetwork(d.Kind, args[1:])
		args = ""
	default:
		if name == "" {
			return bad("invalid term")
		}
		return bad("unknown mechanism " + strconv.Quote(name))
	}
	if err != nil {
		return bad(err.Error())
	}
	if args != "" {
		return bad("unexpected text after " + name)
	}
	return d, nil
}

// splitCIDR splits a trailing dual-cidr-length off a domain-spec: the
// last "/" followed only by digits and "/" starts it (RFC 7208 §5.6).
func splitCIDR(s string) (spec, cidr string) {
	end := len(s)
	// At most two "/"-separated numeric parts, e.g. "/24//64" or "//64".
	i := strings.IndexByte(s, '/')
	for i >= 0 {
		tail := s[i:]
		if isCIDRTail(tail) {
			return s[:i], tail
		}
		j := strings.IndexByte(s[i+1:], '/')
		if j < 0 {
			break
		}
		i += 1 + j
	}
	return s[:end], ""
}

func isCIDRTail(t string) bool {
	// "/" ip4-cidr-length [ "//" ip6-cidr-length ] or "//" ip6-cidr-length,
	// checked here for shape only (digits); parseDualCIDR checks values.
	if strings.HasPrefix(t, "//") {
		return allDigits(t[2:])
	}
	if !strings.HasPrefix(t, "/") {
		return false
	}
	v4, v6, dual := strings.Cut(t[1:], "//")
	return allDigits(v4) && (!dual || allDigits(v6))
}

func allDigits(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		if !isDigit(s[i]) {
			return false
		}
	}
	return true
}

// parseCIDRLength parses a CIDR length: "0" or a number without leading
// zero, at most max (RFC 7208 §5.6, ip4-cidr-length / ip6-cidr-length).
func parseCIDRLength(s string, max int) (int, error) {
	if !allDigits(s) || len(s) > 3 || (len(s) > 1 && s[0] == '0') {
		return 0, fmt.Errorf("invalid CIDR length %q", s)
	}
	n, _ := strconv.Atoi(s)
	if n > max {
		return 0, fmt.Errorf("CIDR length /%d exceeds %d", n, max)
	}
	return n, nil
}

// parseDualCIDR parses "" / "/n" / "/n//m" / "//m" (RFC 7208 §5.6:
// dual-cidr-length = [ ip4-cidr-length ] [ "/" ip6-cidr-length ]).
func parseDualCIDR(s string) (c4, c6 int, err error) {
	c4, c6 = 32, 128
	if s == "" {
		return c4, c6, nil
	}
	if !strings.HasPrefix(s, "/") {
		return 0, 0, fmt.Errorf("invalid CIDR %q", s)
	}
	v4, v6, dual := s[1:], "", false
	if strings.HasPrefix(s, "//") {
		v4, v6, dual = "", s[2:], true
	} else if i := strings.Index(v4, "//"); i >= 0 {
		v4, v6, dual = v4[:i], v4[i+2:], true
	}
	if !dual || v4 != "" {
		if c4, err = parseCIDRLength(v4, 32); err != nil {
			return 0, 0, err
		}
	}
	if dual {
		if c6, err = parseCIDRLength(v6, 128); err != nil {
			return 0, 0, err
		}
	}
	return c4, c6, nil
}

// parseNetwork parses ip4-network [ ip4-cidr-length ] or the ip6
// equivalent (RFC 7208 §5.6).
func parseNetwork(kind MechanismKind, s string) (netip.Prefix, error) {
	addr, cidr, hasCIDR := strings.Cut(s, "/")
	max := 32
	if kind == MechIP6 {
		max = 128
	}
	bits := max
	if hasCIDR {
		var err error
		if bits, err = parseCIDRLength(cidr, max); err != nil {
			return netip.Prefix{}, err
		}
	}
	ip, err := netip.ParseAddr(addr)
	if err != nil || ip.Zone() != "" {
		return netip.Prefix{}, fmt.Errorf("invalid %s address %q", kind, addr)
	}
	// RFC 7208 §5.6: ip4-network is a dotted quad; ip6-network is an
	// IPv6 address (which may be written with an embedded IPv4 part).
	if kind == MechIP4 && !ip.Is4() || kind == MechIP6 && !ip.Is6() {
		return netip.Prefix{}, fmt.Errorf("invalid %s address %q", kind, addr)
	}
	return ip.Prefix(bits)
}
