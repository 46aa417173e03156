package content

import (
	"crypto/sha256"
	"regexp"
	"strconv"
	"strings"

	"golang.org/x/net/publicsuffix"
)

// More of rspamd's default rules on the URLs, the MIME structure and
// the text (rules/misc.lua, bitcoin.lua, regexp/misc.lua,
// regexp/compromised_hosts.lua, composites.conf).

// uriCountOdd is rspamd's URI_COUNT_ODD: a multipart/alternative message
// whose URLs are odd in number. The two alternatives carry the same
// links, so each appears twice; an odd count is one alternative saying
// something the other does not. Counted as rspamd 3.4 counts (each case
// checked against it): every appearance in text, href or image, not the
// visible text of an HTML link, not a form's action; a URL in text only
// with a known top-level domain (rspamd does not find example.test or
// www.host.example in text; it does in an href). rspamd's own count is
// not fully reproduced: it finds some messages even that this finds odd
// (golden 60: a URL in both alternatives and one more link).
func (a *analysis) uriCountOdd() {
	if a.c.MIME == nil || a.c.MIME.Root == nil || a.c.MIME.Root.Type != "multipart/alternative" {
		return
	}
	n := 0
	for _, u := range a.c.URLs {
		switch u.Source {
		case SourceText:
			if u.IP.IsValid() || knownTLD(u.Host) {
				n += u.Count - u.Displayed
			}
		case SourceHref, SourceImage:
			n += u.Count
		}
	}
	if n%2 == 1 {
		a.add(SymURICountOdd, 1, strconv.Itoa(n))
	}
}

// knownTLD reports a host under a top-level domain of the public
// suffix list's ICANN section.
func knownTLD(host string) bool {
	tld := host[strings.LastIndexByte(host, '.')+1:]
	_, icann := publicsuffix.PublicSuffix(tld)
	return icann
}

// hasAttachment is rspamd's HAS_ATTACHMENT: a part of several whose
// Content-Disposition is attachment.
func (a *analysis) hasAttachment() {
	if a.c.MIME == nil || len(a.c.MIME.Parts) < 2 {
		return
	}
	for _, p := range a.c.MIME.Parts {
		if p.Disposition == "attachment" {
			a.add(SymHasAttachment, 1)
			return
		}
	}
}

// onionRE is rspamd's HAS_ONION_URI pattern (a v2 or v3 hidden service
// name, 16 or 56 characters, both have 16).
var onionRE = regexp.MustCompile(`(?i)[a-z0-9]{16}\.onion?`)

// urlPaths applies rspamd's rules on URL paths: URI_HIDDEN_PATH (a
// segment that is a UNIX hidden name, ".x…", or "/../"; the
// /.well-known/ of RFC 8615 is not hidden), HAS_WP_URI (a WordPress
// "/wp-…/" path), WP_COMPROMISED (rspamd's pattern
// "/wp-(content|includes)…/" with more after the word), HAS_ONION_URI.
func (a *analysis) urlPaths() {
	for _, u := range a.c.URLs {
		path := u.Path
		if i := strings.IndexAny(path, "?#"); i >= 0 {
			path = path[:i]
		}
		if hiddenPath(path) {
			a.add(SymURIHiddenPath, 1, u.Host)
		}
		if wpPath(path, false) {
			a.add(SymHasWPURI, 1)
			if wpPath(path, true) {
				a.add(SymWPCompromised, 1, u.Host)
			}
		}
		if strings.Contains(u.Host, ".onio") && onionRE.MatchString(u.Host) {
			a.add(SymHasOnionURI, 1, u.Host)
		}
	}
}

// hiddenPath reports a path segment beginning with a dot and a letter
// or digit, or a "..", other than .well-known.
func hiddenPath(path string) bool {
	for seg := range strings.SplitSeq(path, "/") {
		if seg == ".." {
			return true
		}
		if len(seg) >= 2 && seg[0] == '.' && isAlnum(seg[1]) {
			l := strings.ToLower(seg)
			if l != ".well-known" && l != ".well_known" {
				return true
			}
		}
	}
	return false
}

// wpPath: a segment "wp-X" with X not empty, and more segments after it
// (rspamd's /\/wp-[^\/]+\//); compromised, X is content… or includes…
// with more letters (rspamd's /\/wp-(?:content|includes)[^\/]+\//).
func wpPath(path string, compromised bool) bool {
	segs := strings.Split(path, "/")
	for i, seg := range segs[:len(segs)-1] {
		l := strings.ToLower(seg)
		if !strings.HasPrefix(l, "wp-") || len(l) == 3 || i == 0 && !strings.HasPrefix(path, "/") {
			continue
		}
		if !compromised {
			return true
		}
		rest := l[3:]
		for _, w := range []string{"content", "includes"} {
			if strings.HasPrefix(rest, w) && len(rest) > len(w) {
				return true
			}
		}
	}
	return false
}

// scams is rspamd's BITCOIN_ADDR (a valid Bitcoin address in a text:
// base58check P2PKH/P2SH, 1… 3… and Litecoin's L… M…, or bech32 bc1…)
// and the sextortion composite LEAKED_PASSWORD_SCAM: BITCOIN_ADDR with
// R_MIXED_CHARSET, R_EMPTY_IMAGE or LEAKED_PASSWORD_SCAM_RE (the words
// password, wallet, victim, webcam, masturbation…, text not valid in
// its charset, data: images, a List-Unsubscribe or
// X-PHP-Originating-Script field). Run after the other rules.
func (a *analysis) scams() {
	var addr string
	for _, t := range a.c.Texts {
		if addr = bitcoinAddress(t.Text); addr != "" {
			break
		}
	}
	if addr == "" {
		return
	}
	a.add(SymBitcoinAddr, 1, addr)
	re := false
	for _, t := range a.c.Texts {
		if !t.CharsetOK {
			re = true
		}
		l := strings.ToLower(t.Text)
		for _, w := range []string{"victim", "prey", "webcam", "masturbation", "masturbating", "masturbrating", "onanism", "solitary"} {
			re = re || strings.Contains(l, w)
		}
		for w := range strings.FieldsFuncSeq(l, func(r rune) bool { return !(r >= 'a' && r <= 'z') }) {
			re = re || w == "password" || w == "passphrase" || w == "wallet"
		}
	}
	if _, ok := a.idx[SymHasDataURI]; ok {
		re = true
	}
	if root := a.c.MIME.Root; root != nil {
		for _, f := range []string{"List-Unsubscribe", "X-PHP-Originating-Script"} {
			if _, ok := root.Header(f); ok {
				re = true
			}
		}
	}
	if re {
		a.add(SymLeakedPasswordScamRE, 1)
	}
	_, mixed := a.idx[SymMixedCharset]
	_, empty := a.idx[SymEmptyImage]
	if re || mixed || empty {
		a.add(SymLeakedPasswordScam, 1, addr)
	}
}

// bitcoinAddress returns the first valid Bitcoin address among the
// words of s, "" when none. A word is a run of letters, digits and _
// (a regular expression's \b); only those of 26 to 35 base58
// characters beginning with 1, 3, L or M, or bc1 and 14 or more bech32
// characters, are decoded. Linear in len(s).
func bitcoinAddress(s string) string {
	for i := 0; i < len(s); {
		if !isWord(s[i]) {
			i++
			continue
		}
		j := i
		for j < len(s) && isWord(s[j]) {
			j++
		}
		w := s[i:j]
		i = j
		switch {
		case len(w) >= 26 && len(w) <= 35 && strings.IndexByte("13LM", w[0]) >= 0 && base58Check(w):
			return w
		case len(w) >= 3+14 && strings.HasPrefix(w, "bc1") && bech32Valid(w):
			return w
		}
	}
	return ""
}

func isWord(c byte) bool { return isAlnum(c) || c == '_' }

const base58Alphabet = "123456789ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz"

// base58Check decodes w into a 25-byte version + hash + checksum and
// checks that the checksum is the first 4 bytes of the double SHA-256
// of the rest.
func base58Check(w string) bool {
	var b [25]byte
	for k := 0; k < len(w); k++ {
		d := strings.IndexByte(base58Alphabet, w[k])
		if d < 0 {
			return false
		}
		acc := uint32(d)
		for i := len(b) - 1; i >= 0; i-- {
			acc += 58 * uint32(b[i])
			b[i] = byte(acc)
			acc >>= 8
		}
		if acc != 0 {
			return false // more than 25 bytes
		}
	}
	h := sha256.Sum256(b[:21])
	h = sha256.Sum256(h[:])
	return string(h[:4]) == string(b[21:])
}

const bech32Charset = "qpzry9x8gf2tvdw0s3jn54khce6mua7l"

// bech32Valid checks a bech32 address's checksum (BIP 173): the
// polymod of the expanded human-readable part and the data is 1.
func bech32Valid(w string) bool {
	sep := strings.LastIndexByte(w, '1')
	if sep < 1 || sep+7 > len(w) {
		return false
	}
	gen := [5]uint32{0x3b6a57b2, 0x26508e6d, 0x1ea119fa, 0x3d4233dd, 0x2a1462b3}
	chk := uint32(1)
	step := func(v uint32) {
		top := chk >> 25
		chk = (chk&0x1ffffff)<<5 ^ v
		for i := range gen {
			if top>>i&1 != 0 {
				chk ^= gen[i]
			}
		}
	}
	hrp := w[:sep]
	for k := 0; k < len(hrp); k++ {
		step(uint32(hrp[k]) >> 5)
	}
	step(0)
	for k := 0; k < len(hrp); k++ {
		step(uint32(hrp[k]) & 31)
	}
	for k := sep + 1; k < len(w); k++ {
		d := strings.IndexByte(bech32Charset, w[k])
		if d < 0 {
			return false
		}
		step(uint32(d))
	}
	return chk == 1
}
