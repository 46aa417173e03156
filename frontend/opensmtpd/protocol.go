// Package opensmtpd is hamlet's OpenSMTPD front end: a filter run by smtpd
// as `filter "hamlet" proc-exec "hamlet opensmtpd"`, speaking the filter
// protocol of smtpd-filters(7), versions 0.4 to 0.7 (OpenSMTPD 6.6 to 7.x).
//
// The filter does not scan by itself. Each SMTP session is handed, phase by
// phase, to the running `hamlet serve` over the milter protocol (the
// address of its [milter] listen), so that statistics, history and
// greylisting state live in one daemon whichever front end saw the
// message. When the daemon cannot be reached or fails, on_error applies:
// "tempfail" (451 4.7.1, the default) or "accept". The filter itself never
// exits on bad input: smtpd stops when its filter exits.
//
// This package does not use the junk decision (smtpd 6.8 dies on junk at
// commit) nor the report decision (smtpd before 7.6 dies on it): tagging is
// done with the headers hamlet adds.
package opensmtpd

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
)

// Version is a filter protocol version ("0.6").
type Version struct{ Major, Minor int }

// ParseVersion parses "MAJOR.MINOR".
func ParseVersion(s string) (Version, error) {
	a, b, ok := strings.Cut(s, ".")
	if !ok {
		return Version{}, fmt.Errorf("protocol version %q: no dot", s)
	}
	ma, err1 := strconv.Atoi(a)
	mi, err2 := strconv.Atoi(b)
	if err1 != nil || err2 != nil || ma < 0 || mi < 0 {
		return Version{}, fmt.Errorf("protocol version %q: not numeric", s)
	}
	return Version{ma, mi}, nil
}

// AtLeast reports whether v ≥ major.minor (compared as numbers, never as
// strings: "0.10" is later than "0.9").
func (v Version) AtLeast(major, minor int) bool {
	return v.Major > major || v.Major == major && v.Minor >= minor
}

func (v Version) String() string { return fmt.Sprintf("%d.%d", v.Major, v.Minor) }

// Kinds of input lines.
const (
	KindConfig = "config"
	KindReport = "report"
	KindFilter = "filter"
)

// Line is one parsed input line from smtpd.
type Line struct {
	Kind string // KindConfig, KindReport or KindFilter

	// config|Key|Value
	Key, Value string

	// report|VERSION|TIME|SUBSYSTEM|EVENT|SESSION|PARAMS...
	// filter|VERSION|TIME|SUBSYSTEM|PHASE|SESSION|TOKEN|PARAMS...
	Version   Version
	Time      string
	Subsystem string
	Event     string // report event or filter phase
	Session   string
	Token     string // filter requests only
	// Params is everything after the fixed prefix, unsplit: only the
	// event knows how many fields it has, and its last field may contain
	// '|' (smtpd-filters(7), PROTOCOL).
	Params string
}

// ErrBadLine is wrapped by the errors of ParseLine.
var ErrBadLine = errors.New("opensmtpd: malformed line")

// ParseLine parses one line (without its newline).
func ParseLine(s string) (Line, error) {
	kind, rest, ok := strings.Cut(s, "|")
	if !ok {
		return Line{}, fmt.Errorf("%w: no field separator", ErrBadLine)
	}
	switch kind {
	case KindConfig:
		k, v, _ := strings.Cut(rest, "|")
		if k == "" {
			return Line{}, fmt.Errorf("%w: config line without key", ErrBadLine)
		}
		return Line{Kind: kind, Key: k, Value: v}, nil
	case KindReport, KindFilter:
	default:
		return Line{}, fmt.Errorf("%w: unknown stream %q", ErrBadLine, kind)
	}
	n := 6 // version, time, subsystem, event, session, params
	if kind == KindFilter {
		n = 7 // + token
	}
	f := strings.SplitN(rest, "|", n)
	if len(f) < n-1 {
		return Line{}, fmt.Errorf("%w: %d fields, want at least %d", ErrBadLine, len(f)+1, n)
	}
	v, err := ParseVersion(f[0])
	if err != nil {
		return Line{}, fmt.Errorf("%w: %w", ErrBadLine, err)
	}
	l := Line{Kind: kind, Version: v, Time: f[1], Subsystem: f[2], Event: f[3], Session: f[4]}
	if l.Event == "" || !isHex(l.Session) {
		return Line{}, fmt.Errorf("%w: bad event %q or session id %q", ErrBadLine, l.Event, l.Session)
	}
	if kind == KindFilter {
		l.Token = f[5]
		if !isHex(l.Token) {
			return Line{}, fmt.Errorf("%w: bad token %q", ErrBadLine, l.Token)
		}
	}
	if len(f) == n {
		l.Params = f[n-1]
	}
	return l, nil
}

// Fields splits Params into at most n fields; the last one keeps any '|'.
func (l Line) Fields(n int) []string {
	f := strings.SplitN(l.Params, "|", n)
	for len(f) < n {
		f = append(f, "")
	}
	return f
}

func isHex(s string) bool {
	if s == "" || len(s) > 16 {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !('0' <= c && c <= '9' || 'a' <= c && c <= 'f' || 'A' <= c && c <= 'F') {
			return false
		}
	}
	return true
}

// LinkConnect is the link-connect report: rdns|fcrdns|src|dest.
type LinkConnect struct {
	RDNS   string // "" or "<unknown>" without a PTR name
	FCrDNS string // "pass", "fail" or "error"
	Src    string // "addr:port", "[v6]:port" or "unix:/path"
	Dest   string
}

// ParseLinkConnect reads a link-connect report's parameters.
func ParseLinkConnect(l Line) LinkConnect {
	f := l.Fields(4)
	return LinkConnect{RDNS: f[0], FCrDNS: f[1], Src: f[2], Dest: f[3]}
}

// ParseLinkAuth reads a link-auth report: username|result before protocol
// 0.7, result|username from 0.7 on (OpenSMTPD 7.4 moved the field that may
// contain '|' last).
func ParseLinkAuth(l Line) (user, result string) {
	if l.Version.AtLeast(0, 7) {
		f := l.Fields(2)
		return f[1], f[0]
	}
	i := strings.LastIndexByte(l.Params, '|')
	if i < 0 {
		return l.Params, ""
	}
	return l.Params[:i], l.Params[i+1:]
}

// ParseTxAddress reads tx-mail and tx-rcpt: msgid|address|result in 0.5,
// msgid|result|address from 0.6 on.
func ParseTxAddress(l Line) (msgid, result, addr string) {
	if l.Version.AtLeast(0, 6) {
		f := l.Fields(3)
		return f[0], f[1], f[2]
	}
	f := l.Fields(2)
	i := strings.LastIndexByte(f[1], '|')
	if i < 0 {
		return f[0], "", f[1]
	}
	return f[0], f[1][i+1:], f[1][:i]
}

// Result formats a filter-result line. Protocol 0.4 put the token before
// the session id; 0.5 and later put the session first.
func Result(v Version, session, token, decision string) string {
	if !v.AtLeast(0, 5) {
		return "filter-result|" + token + "|" + session + "|" + decision
	}
	return "filter-result|" + session + "|" + token + "|" + decision
}

// DataLine formats a filter-dataline line.
func DataLine(v Version, session, token, line string) string {
	if !v.AtLeast(0, 5) {
		return "filter-dataline|" + token + "|" + session + "|" + line
	}
	return "filter-dataline|" + session + "|" + token + "|" + line
}

// ParseSrc parses a link-connect or connect src into an IP address string
// ("" for unix sockets and "local").
func ParseSrc(src string) string {
	if src == "" || src == "local" || strings.HasPrefix(src, "unix:") {
		return ""
	}
	if strings.HasPrefix(src, "[") {
		if i := strings.IndexByte(src, ']'); i > 0 {
			return src[1:i]
		}
	}
	// "a.b.c.d:port", or an IPv6 address with a port after its last colon
	// when it has more than one colon and no brackets.
	if strings.Count(src, ":") == 1 {
		return src[:strings.IndexByte(src, ':')]
	}
	return src
}
