package content

import (
	"bytes"
	"fmt"
	"math"
	"regexp"
	"slices"
	"strings"
	"unicode"

	"golang.org/x/net/idna"
	"golang.org/x/net/publicsuffix"
)

func (a *analysis) html() {
	for _, t := range a.c.Texts {
		h := t.HTML
		if h == nil {
			continue
		}
		n := len(t.Text)
		for _, img := range h.Images {
			size := max(img.Width, 0) + max(img.Height, 0)
			if img.InLink && img.Embedded && size >= 210 {
				switch {
				case n < 1024:
					a.add(SymShortLinkImg1, 1)
				case n < 1536:
					a.add(SymShortLinkImg2, 1)
				case n < 2048:
					a.add(SymShortLinkImg3, 1)
				}
			}
			if n < 50 && !img.InLink && size >= 400 {
				a.add(SymEmptyImage, 1)
			}
		}
		if h.LowContrastText > 0 {
			rate := float64(h.LowContrastText) / float64(n+h.LowContrastText)
			if rate > 0.1 {
				a.add(SymWhiteOnWhite, min(rate, 0.5)*2)
			}
		}
		if b := h.InvisibleBlocks; b > 0 {
			rates := [...]float64{0.05, 0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 1.0}
			a.add(SymManyInvisibleParts, rates[min(b, 10)-1], fmt.Sprint(b))
		}
		if z := h.ZeroFontBlocks; z > 0 {
			rates := [...]float64{0.1, 0.2, 0.2, 0.3, 0.5}
			m := 1.0
			if z <= 5 {
				m = rates[z-1]
			} else if z <= 10 {
				m = rates[4]
			}
			a.add(SymZeroFont, m, fmt.Sprint(z))
		}
		// R_SUSPICIOUS_IMAGES: linked pictures make most of the
		// "words" (a 100×200 picture counts as 3 words).
		var picWords float64
		for _, img := range h.Images {
			if dim := max(img.Width, 0) + max(img.Height, 0); img.InLink && dim > 100 && dim < 3000 {
				picWords += float64(dim) / 100
			}
		}
		if picWords > 0 {
			if rel := picWords / (float64(countWords(t.Text)) + picWords); rel > 0.5 {
				a.add(SymSuspiciousImages, (rel-0.5)*2)
			}
		}
		a.dataURI(t)
		if h.ExternalCSS {
			a.add(SymExtCSS, 1)
		}
		if h.MetaRefresh != "" {
			a.add(SymMetaRefresh, 1)
		}
		for _, l := range h.Links {
			u := l.URL
			if u == nil {
				continue
			}
			if u.Scheme == "http" && len(l.Text) >= 6 && strings.EqualFold(l.Text[:6], "https:") {
				a.add(SymHTTPToHTTPS, 1, u.Host)
			}
			if u.IP.Is4() {
				a.add(SymHTTPToIP, 1)
			}
		}
	}
}

// countWords counts the words of a text as rspamd's get_words_count
// does for a part: runs of letters or digits.
func countWords(s string) int {
	n, in := 0, false
	for _, r := range s {
		w := unicode.IsLetter(r) || unicode.IsDigit(r)
		if w && !in {
			n++
		}
		in = w
	}
	return n
}

// maxDataURIScan bounds the HTML source searched for data: URIs (the
// default max_text).
const maxDataURIScan = 2 << 20

var (
	dataURI     = regexp.MustCompile(`(?i)data:[^/]+/[^; ]+;base64,`)
	dataURIObfu = regexp.MustCompile(`(?i)data:text/(?:plain|html);base64,`)
)

// dataURI is rspamd's HAS_DATA_URI and DATA_URI_OBFU (text or HTML
// hidden in a base64 data: URI) on the HTML source of the part.
func (a *analysis) dataURI(t *Text) {
	body := t.Part.Body
	if len(body) > maxDataURIScan {
		body = body[:maxDataURIScan]
	}
	if !hasDataScheme(body) {
		return
	}
	if dataURI.Match(body) {
		a.add(SymHasDataURI, 1)
	}
	if dataURIObfu.Match(body) {
		a.add(SymDataURIObfu, 1)
	}
}

// hasDataScheme reports "data:" in any letter case, without copying
// the body.
func hasDataScheme(b []byte) bool {
	for i := 0; ; {
		j := bytes.IndexByte(b[i:], ':')
		if j < 0 {
			return false
		}
		i += j
		if i >= 4 && bytes.EqualFold(b[i-4:i], []byte("data")) {
			return true
		}
		i++
	}
}

// shorteners are URL shortening services: the link's target is hidden.
var shorteners = map[string]bool{
	"bit.ly": true, "bitly.com": true, "tinyurl.com": true, "t.co": true, "goo.gl": true, "ow.ly": true,
	"is.gd": true, "buff.ly": true, "rebrand.ly": true, "cutt.ly": true, "shorturl.at": true, "rb.gy": true,
	"tiny.cc": true, "s.id": true, "t.ly": true, "bl.ink": true, "lnkd.in": true, "qrco.de": true,
	"shorte.st": true, "adf.ly": true, "bit.do": true, "v.gd": true, "x.co": true, "soo.gd": true,
	"clck.ru": true, "u.to": true, "surl.li": true, "urlz.fr": true, "tiny.one": true, "shorturl.asia": true,
	"n9.cl": true, "2no.co": true, "cli.re": true, "ouo.io": true, "gg.gg": true, "short.gy": true,
}

// IsShortener reports a URL shortening service's domain.
func IsShortener(domain string) bool { return shorteners[domain] }

// redirectTarget returns the URL a redirector link carries in its query
// (google.com/url?q=…, ?url=…, ?u=…), or nil.
func redirectTarget(u *URL) *URL {
	q := u.Path
	i := strings.IndexByte(q, '?')
	if i < 0 {
		return nil
	}
	q = q[i+1:]
	for kv := range strings.SplitSeq(q, "&") {
		k, v, ok := strings.Cut(kv, "=")
		if !ok {
			continue
		}
		switch strings.ToLower(k) {
		case "q", "url", "u", "redirect", "redirect_url", "target", "dest", "destination", "link", "goto", "to", "r":
		default:
			continue
		}
		if d, ok := percentDecode(strings.ReplaceAll(v, "+", " ")); ok {
			v = d
		}
		if t := ParseURL(v); t != nil && t.Scheme != "" && t.Flags&FlagSchemeless == 0 && t.Domain != "" && t.Domain != u.Domain {
			return t
		}
	}
	return nil
}

func (a *analysis) urls() {
	seenHost := map[string]bool{}
	for _, u := range a.c.URLs {
		if u.Flags&FlagZeroWidth != 0 {
			a.add(SymZeroWidthSpaceURL, 1, u.Host)
		}
		if u.Flags&(FlagNumeric|FlagPercentHost) != 0 || u.Flags&FlagBackslash != 0 && !strings.Contains(u.Path, "\\") ||
			u.Flags&FlagUserinfo != 0 && userinfoTrick(u.Raw) {
			a.add(SymSuspiciousURL, 1, u.Host)
		} else if u.Flags&FlagIP != 0 && u.Source != SourceText {
			a.add(SymSuspiciousURL, 0.5, u.Host)
		}
		if shorteners[u.Domain] {
			a.add(SymURLShortener, 1, u.Host)
		}
		if u.Source != SourceText {
			if t := redirectTarget(u); t != nil {
				a.add(SymURLRedirector, 1, u.Host+"->"+t.Host)
			}
		}
		if u.Flags&FlagIDN != 0 && !seenHost[u.Host] {
			seenHost[u.Host] = true
			if spoofedHost(u.Host) {
				a.add(SymOmographURL, 0.5, hostDisplay(u))
			}
		}
	}
	for _, t := range a.c.Texts {
		if t.HTML == nil {
			continue
		}
		for _, l := range t.HTML.Links {
			a.phishing(l)
		}
	}
	a.subjectURL()
}

// subjectURL is rspamd's URL_IN_SUBJECT: a URL in the Subject, × 1 when
// the Subject is only the URL, × 0.1 for a schemeless one (www.…), else
// × 0.25.
func (a *analysis) subjectURL() {
	s := strings.TrimSpace(a.c.Subject)
	if s == "" || len(s) > 4096 {
		return
	}
	for _, raw := range FindURLs(s, 4) {
		u := ParseURL(raw)
		if u == nil || u.Host == "" || u.Flags&FlagBadHost != 0 {
			continue
		}
		switch {
		case u.Flags&FlagSchemeless != 0:
			a.add(SymURLInSubject, 0.1, u.Host)
		case raw == s:
			a.add(SymURLInSubject, 1, u.Host)
		default:
			a.add(SymURLInSubject, 0.25, u.Host)
		}
		return
	}
}

// userinfoTrick: a user part that looks like a host name
// (https://www.bank.example@evil.example/).
func userinfoTrick(raw string) bool {
	i := strings.Index(raw, "://")
	if i < 0 {
		return false
	}
	auth := raw[i+3:]
	if j := strings.IndexAny(auth, "/?#\\"); j >= 0 {
		auth = auth[:j]
	}
	at := strings.LastIndexByte(auth, '@')
	if at < 0 {
		return false
	}
	user := auth[:at]
	return strings.Contains(user, ".") || strings.Count(auth, "@") > 1
}

// linkTextURL reads the visible text of a link as a URL when it shows
// one: "https://bank.example/login", "www.bank.example", "bank.example".
func linkTextURL(text string) *URL {
	text = strings.TrimSpace(text)
	if text == "" || len(text) > 512 || strings.ContainsAny(text, " \t\n") {
		return nil
	}
	if u := ParseURL(text); u != nil {
		return u
	}
	// A bare domain: labels with a dot and a known public suffix.
	if !strings.Contains(text, ".") || strings.Contains(text, "@") {
		return nil
	}
	u := ParseURL("http://" + text)
	if u == nil || u.Domain == "" || u.Flags&FlagBadHost != 0 {
		return nil
	}
	// Only a real TLD makes the text a domain ("e.g." or "v1.2" is not).
	if !knownSuffix(u.Host) {
		return nil
	}
	return u
}

// knownSuffix reports a host under a public suffix the list knows.
func knownSuffix(host string) bool {
	suffix, icann := publicsuffix.PublicSuffix(host)
	return icann || strings.Contains(suffix, ".")
}

// phishing compares the domain a link shows with the one it goes to
// (rspamd's phishing module, without its external feeds).
func (a *analysis) phishing(l Link) {
	href := l.URL
	if href == nil || href.Domain == "" && !href.IP.IsValid() {
		return
	}
	shown := linkTextURL(l.Text)
	if shown == nil || shown.Domain == "" {
		return
	}
	target := href
	if t := redirectTarget(href); t != nil {
		target = t
	}
	td, sd := target.Domain, shown.Domain
	if target.IP.IsValid() {
		td = target.Host
	}
	if td == sd || slices.Contains(a.trusted, td) {
		return
	}
	if spoofedPair(shown, target) {
		a.add(SymOmographURL, 1, shown.Host+"->"+target.Host)
		a.add(SymPhishing, 1, shown.Host+"->"+target.Host)
		return
	}
	w := phishWeight(td, sd, target.IP.IsValid())
	if w > 0 {
		a.add(SymPhishing, w, shown.Host+"->"+target.Host)
	}
}

// phishWeight follows rspamd: compare the registrable labels only
// (brand.co.uk and brand.com are the same brand); very similar names weigh
// most (paypa1 for paypal), unrelated ones less.
func phishWeight(td, sd string, numeric bool) float64 {
	l1, l2 := td, sd
	if !numeric {
		if i := strings.IndexByte(td, '.'); i > 0 {
			l1 = td[:i]
		}
		if i := strings.IndexByte(sd, '.'); i > 0 {
			l2 = sd[:i]
		}
	}
	if l1 == l2 {
		return 0
	}
	d := 2 * float64(levenshtein(l1, l2, 64)) / float64(len(l1)+len(l2))
	switch {
	case d <= 0.3:
		return 1
	case d <= 1:
		return math.Tanh(3 * (1 - d + 0.1))
	}
	if isASCII(td) != isASCII(sd) {
		return 1
	}
	return 0.5
}

func levenshtein(a, b string, limit int) int {
	if len(a) > limit {
		a = a[:limit]
	}
	if len(b) > limit {
		b = b[:limit]
	}
	prev := make([]int, len(b)+1)
	cur := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			c := 1
			if a[i-1] == b[j-1] {
				c = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+c)
		}
		prev, cur = cur, prev
	}
	return prev[len(b)]
}

// latinLookalike: Cyrillic and Greek letters drawn like Latin ones.
var latinLookalike = map[rune]rune{
	'а': 'a', 'в': 'b', 'е': 'e', 'к': 'k', 'м': 'm', 'н': 'h', 'о': 'o', 'р': 'p', 'с': 'c', 'т': 't',
	'у': 'y', 'х': 'x', 'і': 'i', 'ј': 'j', 'ѕ': 's', 'ԁ': 'd', 'ԛ': 'q', 'ԝ': 'w', 'һ': 'h', 'ӏ': 'l',
	'ɡ': 'g', 'ο': 'o', 'α': 'a', 'ν': 'v', 'ρ': 'p', 'τ': 't', 'υ': 'u', 'ι': 'i', 'κ': 'k', 'χ': 'x',
	'ε': 'e', 'ѡ': 'w', 'ү': 'y', 'ԍ': 'g', 'ո': 'n', 'ս': 'u', 'օ': 'o',
}

// skeleton maps look-alike letters to Latin.
func skeleton(s string) string {
	return strings.Map(func(r rune) rune {
		if l, ok := latinLookalike[r]; ok {
			return l
		}
		return r
	}, s)
}

// spoofedHost reports a host name with a label that mixes Latin with
// Cyrillic or Greek letters, or a label wholly of look-alike letters under
// a Latin TLD (xn--pypal-4ve.com, "pаypal" with a Cyrillic а).
func spoofedHost(host string) bool {
	uni, err := idna.Punycode.ToUnicode(host)
	if err != nil {
		return false
	}
	labels := strings.Split(uni, ".")
	tldLatin := isASCII(labels[len(labels)-1])
	for _, l := range labels {
		var seen [4]bool
		allLook := true
		letters := 0
		for _, r := range l {
			if !unicode.IsLetter(r) {
				continue
			}
			letters++
			seen[scriptOf(r)] = true
			if _, ok := latinLookalike[r]; !ok {
				allLook = false
			}
		}
		if seen[scriptLatin] && (seen[scriptCyrillic] || seen[scriptGreek]) {
			return true
		}
		if tldLatin && letters > 0 && allLook && (seen[scriptCyrillic] || seen[scriptGreek]) {
			return true
		}
	}
	return false
}

// spoofedPair: the shown host and the target differ but look the same.
func spoofedPair(shown, target *URL) bool {
	s, t := hostUnicode(shown), hostUnicode(target)
	return s != t && skeleton(s) == skeleton(t)
}

func hostUnicode(u *URL) string {
	if u.Unicode != "" {
		return u.Unicode
	}
	return u.Host
}

func hostDisplay(u *URL) string {
	if u.Unicode != "" {
		return u.Unicode
	}
	return u.Host
}
