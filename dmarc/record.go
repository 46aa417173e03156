package dmarc

import (
	"errors"
	"fmt"
	"net/url"
	"strconv"
	"strings"

	"github.com/hamlet-mail/hamlet/message"
)

// Policy is a requested Mail Receiver policy (RFC 7489 §6.3 "p").
type Policy string

// Policies. The zero value means "not given".
const (
	PolicyNone       Policy = "none"
	PolicyQuarantine Policy = "quarantine"
	PolicyReject     Policy = "reject"
)

// lower returns the next less strict policy (RFC 7489 §6.6.4: a message
// not selected by "pct" gets quarantine instead of reject, none instead of
// quarantine).
func (p Policy) lower() Policy {
	switch p {
	case PolicyReject:
		return PolicyQuarantine
	case PolicyQuarantine:
		return PolicyNone
	}
	return p
}

func (p Policy) strength() int {
	switch p {
	case PolicyReject:
		return 3
	case PolicyQuarantine:
		return 2
	case PolicyNone:
		return 1
	}
	return 0
}

// Alignment is an identifier alignment mode (RFC 7489 §3.1).
type Alignment byte

// Alignment modes.
const (
	Relaxed Alignment = 'r'
	Strict  Alignment = 's'
)

func (a Alignment) String() string {
	if a == Strict {
		return "strict"
	}
	return "relaxed"
}

// URI is one reporting URI of "rua" or "ruf" (RFC 7489 §6.2).
type URI struct {
	Raw     string   // as written, including any "!size" suffix
	URL     *url.URL // the parsed URI
	MaxSize uint64   // the size limit in bytes, 0 when none was given
	// Address is the mailbox of a mailto: URI ("" for other schemes),
	// and Domain its normalised domain.
	Address string
	Domain  string
}

// Severity says whether a Problem made the parser fall back to a default.
type Severity int

// Severities.
const (
	// Warning: legal, or tolerated, but worth telling the domain owner.
	Warning Severity = iota
	// Invalid: the value is not valid; its default is used instead
	// (RFC 7489 §6.3: syntax errors in the remainder of the record are
	// discarded in favour of default values).
	Invalid
)

// Problem is one finding of the record parser, precise enough for a
// domain doctor to show.
type Problem struct {
	Severity Severity
	Tag      string // the tag concerned, "" for the record as a whole
	Value    string // its value as written
	Offset   int    // byte offset of the tag in the record
	Message  string
}

func (p Problem) String() string {
	sev := "warning"
	if p.Severity == Invalid {
		sev = "invalid"
	}
	if p.Tag == "" {
		return fmt.Sprintf("%s at offset %d: %s", sev, p.Offset, p.Message)
	}
	return fmt.Sprintf("%s %s=%q at offset %d: %s", sev, p.Tag, p.Value, p.Offset, p.Message)
}

// ErrNotDMARC means a TXT record is not a DMARC record: it does not begin
// with "v=DMARC1" (RFC 7489 §6.6.3 step 3: such records are discarded).
var ErrNotDMARC = errors.New("dmarc: not a DMARC record")

// SyntaxError lists the Invalid problems of a record that was otherwise
// usable.
type SyntaxError struct {
	Problems []Problem
}

func (e *SyntaxError) Error() string {
	var parts []string
	for _, p := range e.Problems {
		if p.Severity == Invalid {
			parts = append(parts, p.String())
		}
	}
	return "dmarc: record syntax: " + strings.Join(parts, "; ")
}

// Record is a parsed DMARC policy record (RFC 7489 §6.3, RFC 9989 §4.7).
// Absent or invalid tags hold their defaults.
type Record struct {
	Raw string
	// Policy is "p"; "" when missing or invalid (see PolicyValid).
	Policy Policy
	// SubdomainPolicy is "sp"; "" when absent (then p applies).
	SubdomainPolicy Policy
	// NonexistentPolicy is "np" (RFC 9091, RFC 9989); "" when absent
	// (then sp, or p, applies).
	NonexistentPolicy Policy
	// Percent is "pct", 0 to 100, default 100 (RFC 7489 §6.3; removed by
	// RFC 9989, still honoured here as most senders still publish it).
	Percent int
	// PercentSet reports whether "pct" was given.
	PercentSet bool
	// Testing is "t=y" (RFC 9989 §4.7): the policy is being tested and
	// is applied one level lower, as pct=0 was (RFC 7489 §6.6.4).
	Testing  bool
	DKIM     Alignment // "adkim", default relaxed
	SPF      Alignment // "aspf", default relaxed
	RUA, RUF []URI     // valid reporting URIs only
	// FailureOptions is "fo": the options given, default ["0"].
	FailureOptions []string
	// ReportFormats is "rf", default ["afrf"] (removed by RFC 9989).
	ReportFormats []string
	// Interval is "ri" in seconds, default 86400 (removed by RFC 9989).
	Interval uint32
	// PSD is "psd" (RFC 9989 §4.7): 'y', 'n', or 'u' (default).
	PSD byte
	// Unknown lists tags this parser does not know; they are ignored
	// (RFC 7489 §6.3).
	Unknown []string
	// Problems lists every finding, Warnings included.
	Problems []Problem

	pInvalid, spInvalid bool
}

// PolicyValid reports whether the record has a valid "p" and no invalid
// "sp" — the condition of RFC 7489 §6.6.3 step 6.
func (r *Record) PolicyValid() bool {
	return r.Policy != "" && !r.pInvalid && !r.spInvalid
}

// maxRecordLen bounds the work spent on one record: a DNS message, and so
// a TXT record, is at most 64 KiB.
const maxRecordLen = 64 << 10

// Parse parses a DMARC TXT record (its strings already concatenated).
//
// It returns (nil, error wrapping ErrNotDMARC) when txt does not begin
// with the version tag "v=DMARC1" — the version value is case-sensitive
// (RFC 7489 §6.4 writes it as %x44 %x4d %x41 %x52 %x43 %x31), while tag
// names and the keyword values of p, sp, np, adkim, aspf, fo, rf, t and
// psd are compared case-insensitively (ABNF literal strings, RFC 5234
// §2.3). Otherwise it returns a Record; the error is a *SyntaxError when
// some tag was invalid and its default was used (RFC 7489 §6.3), in which
// case the Record is still the one to use. Record.Problems also lists
// warnings that do not make the record invalid.
func Parse(txt string) (*Record, error) {
	r := &Record{
		Raw:            txt,
		Percent:        100,
		DKIM:           Relaxed,
		SPF:            Relaxed,
		FailureOptions: []string{"0"},
		ReportFormats:  []string{"afrf"},
		Interval:       86400,
		PSD:            'u',
	}
	if len(txt) > maxRecordLen {
		return nil, fmt.Errorf("%w: record longer than %d bytes", ErrNotDMARC, maxRecordLen)
	}
	seen := map[string]bool{}
	first := true
	prevTag := ""
	offset := 0
	for _, part := range strings.Split(txt, ";") {
		partOff := offset
		offset += len(part) + 1
		lead := len(part) - len(strings.TrimLeft(part, " \t"))
		item := strings.Trim(part, " \t")
		partOff += lead
		if item == "" {
			if first {
				return nil, fmt.Errorf("%w: empty first tag", ErrNotDMARC)
			}
			continue
		}
		name, value, ok := strings.Cut(item, "=")
		name = strings.TrimRight(name, " \t")
		value = strings.TrimLeft(value, " \t")
		if first {
			// RFC 7489 §6.3, §6.4: the record begins with v=DMARC1.
			if !ok || !strings.EqualFold(name, "v") || value != "DMARC1" {
				return nil, fmt.Errorf("%w: begins with %q", ErrNotDMARC, truncate(item, 40))
			}
			first = false
			prevTag = "v"
			seen["v"] = true
			continue
		}
		lname := strings.ToLower(name)
		if !ok || !validTagName(name) {
			r.add(Invalid, "", item, partOff, "not a tag=value pair")
			continue
		}
		if seen[lname] {
			r.add(Invalid, lname, value, partOff, "tag repeated; the first one is used")
			continue
		}
		seen[lname] = true
		r.tag(lname, value, partOff, prevTag)
		prevTag = lname
	}
	if first {
		return nil, fmt.Errorf("%w: empty record", ErrNotDMARC)
	}
	if !seen["p"] {
		r.pInvalid = true
		r.add(Invalid, "p", "", 0, "required tag p is missing (RFC 7489 §6.3)")
	}
	for _, p := range r.Problems {
		if p.Severity == Invalid {
			return r, &SyntaxError{Problems: r.Problems}
		}
	}
	return r, nil
}

func truncate(s string, n int) string {
	if len(s) > n {
		return s[:n] + "…"
	}
	return s
}

func validTagName(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '_') {
			return false
		}
	}
	return true
}

func (r *Record) add(sev Severity, tag, value string, off int, msg string) {
	r.Problems = append(r.Problems, Problem{Severity: sev, Tag: tag, Value: value, Offset: off, Message: msg})
}

func parsePolicy(v string) (Policy, bool) {
	switch strings.ToLower(v) {
	case "none":
		return PolicyNone, true
	case "quarantine":
		return PolicyQuarantine, true
	case "reject":
		return PolicyReject, true
	}
	return "", false
}

// tag interprets one tag (RFC 7489 §6.3, RFC 9989 §4.7).
func (r *Record) tag(name, value string, off int, prev string) {
	bad := func(msg string) { r.add(Invalid, name, value, off, msg) }
	switch name {
	case "p":
		if prev != "v" {
			// RFC 7489 §6.4's ABNF puts p right after v; RFC 9989
			// dropped that order, so it is only a warning.
			r.add(Warning, name, value, off, "p does not directly follow v (RFC 7489 §6.4)")
		}
		p, ok := parsePolicy(value)
		if !ok {
			r.pInvalid = true
			bad("must be none, quarantine or reject")
			return
		}
		r.Policy = p
	case "sp":
		p, ok := parsePolicy(value)
		if !ok {
			r.spInvalid = true
			bad("must be none, quarantine or reject")
			return
		}
		r.SubdomainPolicy = p
	case "np":
		p, ok := parsePolicy(value)
		if !ok {
			bad("must be none, quarantine or reject; ignored")
			return
		}
		r.NonexistentPolicy = p
	case "pct":
		n, err := strconv.Atoi(value)
		if err != nil || n < 0 || n > 100 || value == "" || value[0] == '+' || value[0] == '-' {
			bad("must be an integer from 0 to 100; 100 used")
			return
		}
		r.Percent, r.PercentSet = n, true
		r.add(Warning, name, value, off, "pct is removed by RFC 9989 (t=y replaces pct=0)")
	case "t":
		switch strings.ToLower(value) {
		case "y":
			r.Testing = true
		case "n":
		default:
			bad("must be y or n")
		}
	case "psd":
		switch v := strings.ToLower(value); v {
		case "y", "n", "u":
			r.PSD = v[0]
		default:
			bad("must be y, n or u")
		}
	case "adkim", "aspf":
		var a Alignment
		switch strings.ToLower(value) {
		case "r":
			a = Relaxed
		case "s":
			a = Strict
		default:
			bad("must be r or s; r used")
			return
		}
		if name == "adkim" {
			r.DKIM = a
		} else {
			r.SPF = a
		}
	case "rua", "ruf":
		uris := r.uriList(name, value, off)
		if name == "rua" {
			r.RUA = uris
		} else {
			r.RUF = uris
		}
	case "fo":
		var opts []string
		for _, o := range strings.Split(value, ":") {
			o = strings.ToLower(strings.Trim(o, " \t"))
			switch o {
			case "0", "1", "d", "s":
				opts = append(opts, o)
			default:
				bad(fmt.Sprintf("unknown failure option %q (0, 1, d, s); 0 used", o))
				return
			}
		}
		r.FailureOptions = opts
	case "rf":
		var fmts []string
		for _, f := range strings.Split(value, ":") {
			f = strings.ToLower(strings.Trim(f, " \t"))
			if f != "afrf" {
				bad(fmt.Sprintf("unknown report format %q (afrf); afrf used", f))
				return
			}
			fmts = append(fmts, f)
		}
		r.ReportFormats = fmts
	case "ri":
		n, err := strconv.ParseUint(value, 10, 32)
		if err != nil || value[0] == '+' {
			bad("must be a 32-bit unsigned integer; 86400 used")
			return
		}
		r.Interval = uint32(n)
	default:
		r.Unknown = append(r.Unknown, name)
		r.add(Warning, name, value, off, "unknown tag ignored (RFC 7489 §6.3)")
	}
}

// uriList parses dmarc-urilist (RFC 7489 §6.4): comma-separated URIs,
// each optionally followed by "!" and a size with a k/m/g/t unit. Invalid
// URIs are reported and left out.
func (r *Record) uriList(name, value string, off int) []URI {
	var out []URI
	for _, raw := range strings.Split(value, ",") {
		raw = strings.Trim(raw, " \t")
		u, err := ParseURI(raw)
		if err != nil {
			r.add(Invalid, name, raw, off, err.Error())
			continue
		}
		if u.URL.Scheme != "mailto" {
			r.add(Warning, name, raw, off, "only mailto: URIs are used for reports")
		}
		out = append(out, u)
	}
	return out
}

// ParseURI parses one dmarc-uri (RFC 7489 §6.4): an absolute URI with an
// optional "!size" suffix. For mailto: URIs the address must be a single
// mailbox with a usable domain.
func ParseURI(raw string) (URI, error) {
	u := URI{Raw: raw}
	s := raw
	if i := strings.LastIndexByte(s, '!'); i >= 0 {
		size, err := parseSize(s[i+1:])
		if err != nil {
			return u, fmt.Errorf("bad size limit %q: %w", s[i+1:], err)
		}
		u.MaxSize = size
		s = s[:i]
	}
	if s == "" {
		return u, errors.New("empty URI")
	}
	pu, err := url.Parse(s)
	if err != nil {
		return u, fmt.Errorf("not a URI: %w", err)
	}
	if pu.Scheme == "" {
		return u, errors.New("URI without scheme")
	}
	pu.Scheme = strings.ToLower(pu.Scheme)
	u.URL = pu
	if pu.Scheme == "mailto" {
		addr := pu.Opaque
		if addr == "" {
			addr = pu.Path
		}
		if i := strings.IndexByte(addr, '?'); i >= 0 {
			addr = addr[:i]
		}
		if a, err := url.PathUnescape(addr); err == nil {
			addr = a
		}
		list, err := message.ParseAddressList(addr)
		if err != nil || len(list) != 1 {
			return u, fmt.Errorf("mailto: URI without one valid address")
		}
		d, err := list[0].ASCIIDomain()
		if err != nil {
			return u, fmt.Errorf("mailto: %w", err)
		}
		u.Address = list[0].Local + "@" + d
		u.Domain = d
	}
	return u, nil
}

func parseSize(s string) (uint64, error) {
	if s == "" {
		return 0, errors.New("empty")
	}
	mult := uint64(1)
	switch s[len(s)-1] {
	case 'k', 'K':
		mult = 1 << 10
	case 'm', 'M':
		mult = 1 << 20
	case 'g', 'G':
		mult = 1 << 30
	case 't', 'T':
		mult = 1 << 40
	}
	if mult != 1 {
		s = s[:len(s)-1]
	}
	if s == "" || s[0] == '+' {
		return 0, errors.New("no digits")
	}
	n, err := strconv.ParseUint(s, 10, 64)
	if err != nil {
		return 0, err
	}
	if n > (1<<64-1)/mult {
		return 0, errors.New("too large")
	}
	return n * mult, nil
}
