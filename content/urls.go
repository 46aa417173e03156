package content

import (
	"net/netip"
	"strconv"
	"strings"
	"unicode/utf8"

	"golang.org/x/net/idna"
	"golang.org/x/net/publicsuffix"
)

// Source says where a URL was found.
type Source int

// Sources of URLs.
const (
	SourceText  Source = iota // in the text (plain, or an HTML part's visible text)
	SourceHref                // an <a>/<area> href
	SourceImage               // an <img> src
	SourceForm                // a <form> action
)

func (s Source) String() string {
	return [...]string{"text", "href", "img", "form"}[s]
}

// Flags describe how a URL is written.
type Flags uint16

// URL flags.
const (
	// FlagUserinfo: the URL has a user part (https://bank.example@evil.example/).
	FlagUserinfo Flags = 1 << iota
	// FlagIP: the host is an IP address (in any notation).
	FlagIP
	// FlagNumeric: the host is an IPv4 address written otherwise than as
	// a dotted quad of decimals (3232235777, 0xc0a80001, 0300.0250.1.1, 1.2.3).
	FlagNumeric
	// FlagPercentHost: the host was percent-encoded.
	FlagPercentHost
	// FlagIDN: the host has non-ASCII labels (or punycode A-labels).
	FlagIDN
	// FlagBadHost: the host is not a valid domain name or address.
	FlagBadHost
	// FlagSchemeless: found as "www.example.com" without a scheme.
	FlagSchemeless
	// FlagBackslash: a backslash stands for a slash (browsers accept it).
	FlagBackslash
	// FlagZeroWidth: the host had zero-width characters (U+200B–U+200D,
	// U+2060, U+FEFF), which IDNA mapping drops: "pay\u200bpal.com" is
	// paypal.com to a browser.
	FlagZeroWidth
)

// URL is a URL found in the message, normalised.
type URL struct {
	// Raw is the URL as written (at most 2048 bytes).
	Raw string
	// Scheme is in lower case ("http" for a schemeless www. URL).
	Scheme string
	// Host is in lower case, IDN labels as A-labels (punycode), no
	// trailing dot; an IP host is its canonical text.
	Host string
	// Unicode is Host with A-labels as U-labels, when that differs.
	Unicode string
	// Domain is the registrable domain of Host (public suffix plus one
	// label), "" for an IP host or a host that is itself a suffix.
	Domain string
	// IP is the address of an IP host.
	IP netip.Addr
	// Path is what follows the host (path, query, fragment), as written.
	Path   string
	Flags  Flags
	Source Source
	// LinkText is the visible text of the first link to it, for
	// SourceHref.
	LinkText string
	// Count is how many times the URL appears (same text, same source);
	// Message.URLs lists each once.
	Count int
	// Displayed is how many of Count were the visible text of an HTML
	// link (rspamd's html_displayed URLs), for SourceText.
	Displayed int
}

// Has reports whether all of f are set.
func (u *URL) Has(f Flags) bool { return u.Flags&f == f }

const maxURLLen = 2048

type urlCollector struct {
	max  int
	c    *Message
	seen map[urlKey]*URL
}

type urlKey struct {
	raw string
	src Source
}

// add parses and keeps one URL from an HTML attribute; it returns nil for
// what is not an absolute http(s)/ftp URL, or past the bound.
func (u *urlCollector) add(raw string, src Source, linkText string) *URL {
	if raw == "" {
		return nil
	}
	if p := u.seen[urlKey{raw, src}]; p != nil {
		p.Count++
		return p
	}
	p := ParseURL(raw)
	if p == nil {
		return nil
	}
	p.Source, p.LinkText = src, linkText
	return u.keep(p)
}

func (u *urlCollector) keep(p *URL) *URL {
	if len(u.c.URLs) >= u.max {
		u.c.exceed(ExceededURLs)
		return nil
	}
	if u.seen == nil {
		u.seen = map[urlKey]*URL{}
	}
	p.Count = 1
	u.seen[urlKey{p.Raw, p.Source}] = p
	u.c.URLs = append(u.c.URLs, p)
	return p
}

// text finds the URLs written in a text; linkText, for an HTML part's
// visible text, is the text of its links (a URL in it is Displayed).
func (u *urlCollector) text(s, linkText string) {
	for _, raw := range FindURLs(s, 4*u.max) {
		d := 0
		if linkText != "" && strings.Contains(linkText, raw) {
			d = 1
		}
		if p := u.seen[urlKey{raw, SourceText}]; p != nil {
			p.Count++
			p.Displayed += d
			continue
		}
		p := ParseURL(raw)
		if p == nil {
			continue
		}
		p.Source = SourceText
		p.Displayed = d
		if u.keep(p) == nil {
			return
		}
	}
}

// FindURLs returns up to max URLs written in s: scheme://… for http,
// https and ftp (any case) and schemeless www.… names. It runs in time
// linear in len(s).
func FindURLs(s string, max int) []string {
	var out []string
	f := urlFinder{s: s}
	pos := 0
	for pos < len(s) && len(out) < max {
		start := f.next(pos)
		if start < 0 {
			break
		}
		end := start
		for end < len(s) && end-start < maxURLLen && urlChar(s[end]) {
			end++
		}
		// Trailing punctuation belongs to the sentence.
		for end > start && strings.IndexByte(".,;:!?)]}'\"", s[end-1]) >= 0 {
			if s[end-1] == ')' && strings.Count(s[start:end], "(") >= strings.Count(s[start:end], ")") {
				break
			}
			end--
		}
		cand := s[start:end]
		if k := strings.Index(cand, "://"); k < 0 || k+3 < len(cand) {
			if len(cand) > len("www.") {
				out = append(out, cand)
			}
		}
		if end <= start {
			end = start + 1
		}
		pos = end
	}
	return out
}

// urlFinder finds URL starts: "scheme://" (http, https, ftp, hxxp) and a
// word-initial "www." (any case). It keeps the next "://" and "www." it
// found, so that the text is searched once whatever the number of URLs.
type urlFinder struct {
	s                   string
	scheme, www         int // next candidate, valid when ≥ the search start
	schemeDone, wwwDone bool
	searched            bool
}

func (f *urlFinder) next(pos int) int {
	if !f.searched {
		f.searched = true
		f.scheme, f.www = f.findScheme(0), f.findWWW(0)
	}
	for {
		for !f.schemeDone && f.scheme < pos {
			f.scheme = f.findScheme(f.scheme + 1)
		}
		for !f.wwwDone && f.www < pos {
			f.www = f.findWWW(f.www + 1)
		}
		var j int
		isScheme := false
		switch {
		case !f.schemeDone && (f.wwwDone || f.scheme <= f.www):
			j, isScheme = f.scheme, true
		case !f.wwwDone:
			j = f.www
		default:
			return -1
		}
		if isScheme {
			f.scheme = f.findScheme(j + 1)
			k := j
			for k > pos && isAlpha(f.s[k-1]) && j-k < 5 {
				k--
			}
			switch strings.ToLower(f.s[k:j]) {
			case "http", "https", "ftp", "hxxp", "hxxps":
				if k == 0 || !isAlnum(f.s[k-1]) {
					return k
				}
			}
			continue
		}
		f.www = f.findWWW(j + 1)
		if j == 0 || !urlWordChar(f.s[j-1]) {
			return j
		}
	}
}

func (f *urlFinder) findScheme(from int) int {
	if from < len(f.s) {
		if i := strings.Index(f.s[from:], "://"); i >= 0 {
			return from + i
		}
	}
	f.schemeDone = true
	return len(f.s)
}

// findWWW finds the next "www." (any case) starting at or after from.
func (f *urlFinder) findWWW(from int) int {
	for p := from + 3; p < len(f.s); {
		i := strings.IndexByte(f.s[p:], '.')
		if i < 0 {
			break
		}
		j := p + i // the dot
		if j-3 >= from && strings.EqualFold(f.s[j-3:j], "www") && j+1 < len(f.s) {
			return j - 3
		}
		p = j + 1
	}
	f.wwwDone = true
	return len(f.s)
}

func isAlpha(c byte) bool { return 'a' <= c|0x20 && c|0x20 <= 'z' }
func isAlnum(c byte) bool { return isAlpha(c) || '0' <= c && c <= '9' }

// urlWordChar: characters that make "www." part of a longer word.
func urlWordChar(c byte) bool {
	return isAlnum(c) || c == '.' || c == '-' || c == '/' || c == '@' || c == '_'
}

// urlChar: what may appear in a URL written in text (RFC 3986 §2 plus
// non-ASCII bytes of IRIs, and backslash for browsers' sake).
func urlChar(c byte) bool {
	if c >= 0x80 {
		return true
	}
	if isAlnum(c) {
		return true
	}
	return strings.IndexByte("-._~:/?#[]@!$&'()*+,;=%\\", c) >= 0
}

// ParseURL parses and normalises an absolute http(s) or ftp URL, or a
// schemeless "www." one; it returns nil for anything else (relative
// links, mailto:, javascript:). It is lenient as browsers are: the host
// may be percent-encoded, an IPv4 address in decimal, hex or octal, an
// IDN, and backslashes may stand for slashes.
func ParseURL(raw string) *URL {
	raw = strings.TrimSpace(raw)
	if len(raw) > maxURLLen {
		raw = raw[:maxURLLen]
	}
	u := &URL{Raw: raw}
	rest := raw
	if i := strings.IndexByte(rest, ':'); i > 0 && i <= 5 && len(rest) > i+1 && (rest[i+1] == '/' || rest[i+1] == '\\') {
		scheme := strings.ToLower(rest[:i])
		switch scheme {
		case "http", "https", "ftp":
		case "hxxp", "hxxps":
			scheme = "http" + strings.TrimPrefix(scheme, "hxxp")
		default:
			return nil
		}
		u.Scheme = scheme
		rest = rest[i+1:]
		// "http:/\host", "http:\\host", "http:///host": browsers skip
		// any mix of slashes and backslashes.
		n := 0
		for n < len(rest) && (rest[n] == '/' || rest[n] == '\\') {
			if rest[n] == '\\' {
				u.Flags |= FlagBackslash
			}
			n++
		}
		rest = rest[n:]
	} else if len(rest) > 4 && strings.EqualFold(rest[:4], "www.") {
		u.Scheme = "http"
		u.Flags |= FlagSchemeless
	} else {
		return nil
	}
	end := strings.IndexAny(rest, "/?#\\")
	if end < 0 {
		end = len(rest)
	}
	authority := rest[:end]
	u.Path = rest[end:]
	if strings.Contains(u.Path, "\\") {
		u.Flags |= FlagBackslash
	}
	if at := strings.LastIndexByte(authority, '@'); at >= 0 {
		u.Flags |= FlagUserinfo
		authority = authority[at+1:]
	}
	host := authority
	if strings.HasPrefix(host, "[") {
		if i := strings.IndexByte(host, ']'); i > 0 {
			host = host[1:i]
			if a, err := netip.ParseAddr(host); err == nil {
				u.IP, u.Host = a, a.String()
				u.Flags |= FlagIP
				return u
			}
			u.Flags |= FlagBadHost
			u.Host = strings.ToLower(host)
			return u
		}
	}
	if i := strings.LastIndexByte(host, ':'); i >= 0 {
		host = host[:i]
	}
	if strings.Contains(host, "%") {
		if d, ok := percentDecode(host); ok {
			host = d
			u.Flags |= FlagPercentHost
		}
	}
	host = strings.TrimSuffix(strings.ToLower(host), ".")
	// Full-width dots and the ideographic full stop are dots to browsers.
	if !isASCII(host) {
		host = strings.NewReplacer("\u3002", ".", "\uff0e", ".", "\uff61", ".").Replace(host)
	}
	if host == "" {
		return nil
	}
	if a, numeric, ok := parseIPv4(host); ok {
		u.IP, u.Host = a, a.String()
		u.Flags |= FlagIP
		if numeric {
			u.Flags |= FlagNumeric
		}
		return u
	}
	if !isASCII(host) && strings.ContainsAny(host, "\u200b\u200c\u200d\u2060\ufeff") {
		u.Flags |= FlagZeroWidth
	}
	if !isASCII(host) || strings.Contains(host, "xn--") {
		u.Flags |= FlagIDN
		a, err := idna.Lookup.ToASCII(host)
		if err != nil {
			a, err = idna.Punycode.ToASCII(host)
		}
		if err != nil {
			u.Flags |= FlagBadHost
			u.Host = host
			return u
		}
		u.Host = a
		if uni, err := idna.Punycode.ToUnicode(a); err == nil && uni != a {
			u.Unicode = uni
		}
	} else {
		u.Host = host
	}
	if !validHost(u.Host) {
		u.Flags |= FlagBadHost
		return u
	}
	u.Domain = RegistrableDomain(u.Host)
	return u
}

// RegistrableDomain returns the public suffix of host plus one label
// (golang.org/x/net/publicsuffix, private section included), "" when host
// is itself a public suffix or has a single label.
func RegistrableDomain(host string) string {
	if !strings.Contains(host, ".") {
		return ""
	}
	d, err := publicsuffix.EffectiveTLDPlusOne(host)
	if err != nil {
		return ""
	}
	return d
}

func isASCII(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] >= utf8.RuneSelf {
			return false
		}
	}
	return true
}

// validHost: LDH labels of 1–63 bytes (underscores tolerated), at least
// two labels, a TLD that is not all digits.
func validHost(h string) bool {
	if len(h) > 253 || !strings.Contains(h, ".") {
		return false
	}
	labels := strings.Split(h, ".")
	for _, l := range labels {
		if l == "" || len(l) > 63 {
			return false
		}
		for i := 0; i < len(l); i++ {
			c := l[i]
			if !isAlnum(c) && c != '-' && c != '_' {
				return false
			}
		}
	}
	tld := labels[len(labels)-1]
	for i := 0; i < len(tld); i++ {
		if !('0' <= tld[i] && tld[i] <= '9') {
			return true
		}
	}
	return false
}

func percentDecode(s string) (string, bool) {
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] == '%' && i+2 < len(s) {
			if v, err := strconv.ParseUint(s[i+1:i+3], 16, 8); err == nil {
				b.WriteByte(byte(v))
				i += 2
				continue
			}
		}
		b.WriteByte(s[i])
	}
	return b.String(), true
}

// parseIPv4 reads host as browsers read an IPv4 address (WHATWG URL
// "IPv4 parser", inet_aton): one to four parts, each decimal, 0x-hex or
// 0-octal, the last filling the remaining bytes. numeric is true when it
// is not a plain dotted quad of decimals.
func parseIPv4(host string) (a netip.Addr, numeric bool, ok bool) {
	if host == "" {
		return a, false, false
	}
	for i := 0; i < len(host); i++ {
		c := host[i]
		if !(isAlnum(c) || c == '.') {
			return a, false, false
		}
	}
	parts := strings.Split(host, ".")
	if len(parts) > 4 {
		return a, false, false
	}
	vals := make([]uint64, 0, 4)
	for _, p := range parts {
		if p == "" {
			return a, false, false
		}
		base := 10
		digits := p
		switch {
		case len(p) > 2 && (p[:2] == "0x" || p[:2] == "0X"):
			base, digits = 16, p[2:]
			numeric = true
		case len(p) > 1 && p[0] == '0':
			base, digits = 8, p[1:]
			numeric = true
		}
		v, err := strconv.ParseUint(digits, base, 64)
		if err != nil {
			return a, false, false
		}
		vals = append(vals, v)
	}
	if len(vals) != 4 {
		numeric = true
	}
	var n uint64
	for i, v := range vals[:len(vals)-1] {
		if v > 255 {
			return a, false, false
		}
		n |= v << (8 * (3 - i))
	}
	last := vals[len(vals)-1]
	if last >= 1<<(8*(5-len(vals))) {
		return a, false, false
	}
	n |= last
	return netip.AddrFrom4([4]byte{byte(n >> 24), byte(n >> 16), byte(n >> 8), byte(n)}), numeric, true
}
