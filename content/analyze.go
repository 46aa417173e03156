package content

import (
	"fmt"
	"math"
	"regexp"
	"slices"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/hamlet-mail/hamlet/message"
)

// Finding is one rule that matched, named as rspamd names it.
type Finding struct {
	Symbol string
	// Mult scales the symbol's weight (rspamd's dynamic score); 0 means 1.
	Mult    float64
	Options []string
}

// Symbols of Analyze. The weights are rspamd's defaults (package checks
// declares them; README lists them).
const (
	SymMIMEGood             = "MIME_GOOD"
	SymMIMEBad              = "MIME_BAD"
	SymMIMEUnknown          = "MIME_UNKNOWN"
	SymMIMEHTMLOnly         = "MIME_HTML_ONLY"
	SymMIMEMAMissingText    = "MIME_MA_MISSING_TEXT"
	SymMIMEMAMissingHTML    = "MIME_MA_MISSING_HTML"
	SymMissingMIMEVersion   = "MISSING_MIME_VERSION"
	SymPartsDiffer          = "R_PARTS_DIFFER"
	SymBadCTE7bit           = "R_BAD_CTE_7BIT"
	SymCTECase              = "CTE_CASE"
	SymBrokenContentType    = "BROKEN_CONTENT_TYPE"
	SymMissingCharset       = "R_MISSING_CHARSET"
	SymMixedCharset         = "R_MIXED_CHARSET"
	SymBadAttachment        = "MIME_BAD_ATTACHMENT"
	SymBadExtension         = "MIME_BAD_EXTENSION"
	SymDoubleBadExtension   = "MIME_DOUBLE_BAD_EXTENSION"
	SymArchiveInArchive     = "MIME_ARCHIVE_IN_ARCHIVE"
	SymEncryptedArchive     = "MIME_ENCRYPTED_ARCHIVE"
	SymExeInGenSplitRar     = "MIME_EXE_IN_GEN_SPLIT_RAR"
	SymBadUnicode           = "MIME_BAD_UNICODE"
	SymExecutable           = "MIME_EXE_ATTACHMENT"
	SymHTMLSmuggling        = "MIME_HTML_SMUGGLING"
	SymShortLinkImg1        = "HTML_SHORT_LINK_IMG_1"
	SymShortLinkImg2        = "HTML_SHORT_LINK_IMG_2"
	SymShortLinkImg3        = "HTML_SHORT_LINK_IMG_3"
	SymEmptyImage           = "R_EMPTY_IMAGE"
	SymWhiteOnWhite         = "R_WHITE_ON_WHITE"
	SymZeroFont             = "ZERO_FONT"
	SymManyInvisibleParts   = "MANY_INVISIBLE_PARTS"
	SymExtCSS               = "EXT_CSS"
	SymHTTPToHTTPS          = "HTTP_TO_HTTPS"
	SymHTTPToIP             = "HTTP_TO_IP"
	SymMetaRefresh          = "HTML_META_REFRESH_URL"
	SymPhishing             = "PHISHING"
	SymOmographURL          = "OMOGRAPH_URL"
	SymSuspiciousURL        = "R_SUSPICIOUS_URL"
	SymURLShortener         = "URL_SHORTENER"
	SymURLRedirector        = "URL_REDIRECTOR"
	SymMIMELimit            = "MIME_LIMIT"
	SymGTUBE                = "GTUBE"
	SymEncryptedPGP         = "ENCRYPTED_PGP"
	SymEncryptedSMIME       = "ENCRYPTED_SMIME"
	SymSignedPGP            = "SIGNED_PGP"
	SymSignedSMIME          = "SIGNED_SMIME"
	SymBogusEncrypted       = "BOGUS_ENCRYPTED_AND_TEXT"
	SymPDFEncrypted         = "PDF_ENCRYPTED"
	SymPDFJavaScript        = "PDF_JAVASCRIPT"
	SymPDFSuspicious        = "PDF_SUSPICIOUS"
	SymPDFLongTrailer       = "PDF_LONG_TRAILER"
	SymPDFManyObjects       = "PDF_MANY_OBJECTS"
	SymPDFTimeout           = "PDF_TIMEOUT"
	SymObfuscatedArchive    = "MIME_OBFUSCATED_ARCHIVE"
	SymSuspiciousImages     = "R_SUSPICIOUS_IMAGES"
	SymURLInSubject         = "URL_IN_SUBJECT"
	SymHasDataURI           = "HAS_DATA_URI"
	SymDataURIObfu          = "DATA_URI_OBFU"
	SymZeroWidthSpaceURL    = "ZERO_WIDTH_SPACE_URL"
	SymContentLimit         = "CONTENT_LIMIT"
	SymForgedOutlookHTML    = "FORGED_OUTLOOK_HTML"
	SymURICountOdd          = "URI_COUNT_ODD"
	SymHasAttachment        = "HAS_ATTACHMENT"
	SymURIHiddenPath        = "URI_HIDDEN_PATH"
	SymHasWPURI             = "HAS_WP_URI"
	SymWPCompromised        = "WP_COMPROMISED"
	SymHasOnionURI          = "HAS_ONION_URI"
	SymBitcoinAddr          = "BITCOIN_ADDR"
	SymLeakedPasswordScamRE = "LEAKED_PASSWORD_SCAM_RE"
	SymLeakedPasswordScam   = "LEAKED_PASSWORD_SCAM"
)

// Options tune Analyze with what other checks know.
type Options struct {
	// Trusted are domains authenticated for this message (the From
	// domain after a DMARC pass): a link to one of them, whatever its
	// text, is not PHISHING (rspamd's DMARC exclusion).
	Trusted []string
}

// Analyze applies the content rules to c.
func Analyze(c *Message) []Finding { return AnalyzeWith(c, Options{}) }

// AnalyzeWith is Analyze with opt.
func AnalyzeWith(c *Message, opt Options) []Finding {
	a := &analysis{c: c, idx: map[string]int{}}
	for _, d := range opt.Trusted {
		if r := RegistrableDomain(strings.ToLower(strings.TrimSuffix(d, "."))); r != "" {
			a.trusted = append(a.trusted, r)
		}
	}
	a.limits()
	a.mime()
	a.crypto()
	a.texts()
	a.attachments()
	a.html()
	a.urls()
	a.uriCountOdd()
	a.hasAttachment()
	a.urlPaths()
	a.scams()
	return a.out
}

type analysis struct {
	c       *Message
	trusted []string // registrable domains authenticated for the message
	out     []Finding
	idx     map[string]int // symbol → index in out
}

// add records a finding; a symbol found again keeps the largest
// multiplier and gathers the options (at most 10, no duplicates), as
// rspamd does for a symbol inserted several times.
func (a *analysis) add(sym string, mult float64, opts ...string) {
	if mult == 0 {
		mult = 1
	}
	if i, ok := a.idx[sym]; ok {
		f := &a.out[i]
		if math.Abs(mult) > math.Abs(f.Mult) {
			f.Mult = mult
		}
		for _, o := range opts {
			if len(f.Options) < 10 && !slices.Contains(f.Options, o) {
				f.Options = append(f.Options, o)
			}
		}
		return
	}
	a.idx[sym] = len(a.out)
	a.out = append(a.out, Finding{Symbol: sym, Mult: mult, Options: append([]string(nil), opts...)})
}

func (a *analysis) limits() {
	for _, e := range a.c.Exceeded {
		switch e {
		case "depth", "parts", "decoded_size":
			a.add(SymMIMELimit, 1, e)
		default:
			a.add(SymContentLimit, 1, e)
		}
	}
}

// mimeTypeScores are rspamd's mime_types map entries that are not neutral.
var mimeTypeScores = map[string]float64{
	"multipart/alternative": -1, "multipart/mixed": -1, "multipart/related": -1, "text/plain": -1,
	"multipart/encrypted": -2, "multipart/signed": -2,
	"multipart/appledouble": 2, "multipart/byteranges": 2, "multipart/example": 2, "multipart/form-data": 2,
	"multipart/header-set": 2, "multipart/voice-message": 2, "multipart/x-mixed-replace": 2,
}

// crypto is rspamd's check of the children of multiparts (RFC 3156
// PGP/MIME, RFC 8551 S/MIME): ENCRYPTED_PGP / ENCRYPTED_SMIME and
// SIGNED_PGP / SIGNED_SMIME by the parts' types, and
// BOGUS_ENCRYPTED_AND_TEXT when a message has both an encrypted part and
// a text part a reader sees (text beside "encrypted" content).
func (a *analysis) crypto() {
	text := map[*message.Part]bool{}
	for _, t := range a.c.Texts {
		text[t.Part] = true
	}
	var seenText bool
	var opts []string
	for _, p := range a.c.MIME.Parts {
		if !p.IsMultipart() {
			continue
		}
		for _, c := range p.Parts {
			if text[c] {
				seenText = true
				continue
			}
			sub, ok := strings.CutPrefix(c.Type, "application/")
			if !ok {
				continue
			}
			switch {
			case strings.Contains(sub, "pkcs7-mime"):
				a.add(SymEncryptedSMIME, 1)
				opts = append(opts, "smime part")
			case strings.Contains(sub, "pkcs7-signature"):
				a.add(SymSignedSMIME, 1)
			case strings.Contains(sub, "pgp-encrypted"):
				a.add(SymEncryptedPGP, 1)
				opts = append(opts, "pgp part")
			case strings.Contains(sub, "pgp-signature"):
				a.add(SymSignedPGP, 1)
			}
		}
	}
	if seenText && len(opts) > 0 {
		a.add(SymBogusEncrypted, 1, opts...)
	}
}

func (a *analysis) mime() {
	root := a.c.MIME.Root
	multipart := false
	for _, p := range a.c.MIME.Parts {
		if p.IsMultipart() {
			multipart = true
		}
		if v, ok := mimeTypeScores[p.Type]; ok {
			if v < 0 {
				a.add(SymMIMEGood, -v, p.Type)
			} else {
				a.add(SymMIMEBad, v, p.Type)
			}
		}
		if p.Declared && p.TypeProblem != "" && !strings.HasPrefix(p.Type, "text/") {
			a.add(SymBrokenContentType, 1)
		}
		if p.IsMultipart() && p.Params["boundary"] == "" {
			a.add(SymBrokenContentType, 1)
		}
		if p.Declared && p.TypeProblem != "" && p.Type == "text/plain" && !strings.Contains(p.TypeProblem, "param") {
			// A Content-Type that is no type at all ("text plain",
			// "BINARY"): read as text/plain (RFC 2045 §5.2), and broken,
			// as rspamd's parser marks it.
			a.add(SymMIMEUnknown, 1, "broken content type")
			a.add(SymBrokenContentType, 1)
		}
		for _, f := range p.Fields {
			if strings.EqualFold(f.Name, "Content-Transfer-Encoding") {
				v := strings.TrimSpace(f.Unfolded())
				if v == "7BIT" || v == "8BIT" || v == "7Bit" || v == "8Bit" {
					a.add(SymCTECase, 1)
				}
			}
		}
		if p.Type == "multipart/alternative" {
			var text, html bool
			for _, c := range p.Parts {
				text = text || c.Type == "text/plain"
				html = html || c.Type == "text/html"
				if c.IsMultipart() {
					for _, cc := range c.Parts {
						html = html || cc.Type == "text/html"
						text = text || cc.Type == "text/plain"
					}
				}
			}
			if !text {
				a.add(SymMIMEMAMissingText, 1)
			}
			if !html {
				a.add(SymMIMEMAMissingHTML, 1)
			}
		}
	}
	// rspamd's CHECK_MIME: MIME fields (Content-Type or
	// Content-Transfer-Encoding) in a message that does not say it is MIME
	// (RFC 2045 §4 requires MIME-Version). A multipart body without its
	// Content-Type field cannot be, so multipart counts as well.
	if _, ok := root.Header("MIME-Version"); !ok {
		_, ct := root.Header("Content-Type")
		_, cte := root.Header("Content-Transfer-Encoding")
		if multipart || ct || cte {
			a.add(SymMissingMIMEVersion, 1)
		}
	}
}

// GTUBEPattern is the Generic Test for Unsolicited Bulk Email
// (SpamAssassin's, which rspamd also honours): a message carrying it is
// spam by definition, for testing a filter end to end.
const GTUBEPattern = "XJS*C4JDBQADN1.NSBN3*2IDNEN*GTUBE-STANDARD-ANTI-UBE-TEST-EMAIL*C.34X"

// maxGTUBEText is rspamd's bound: only a text part of at most 8 KiB is
// searched for the pattern (a test message is short; a long text quoting
// it is not one).
const maxGTUBEText = 8 << 10

func (a *analysis) texts() {
	var plain, html *Text
	nplain, nhtml := 0, 0
	for _, t := range a.c.Texts {
		p := t.Part
		if len(t.Text) > len(GTUBEPattern) && len(t.Text) <= maxGTUBEText && strings.Contains(t.Text, GTUBEPattern) {
			a.add(SymGTUBE, 1)
		}
		if t.IsHTML() {
			nhtml++
			if html == nil {
				html = t
			}
		} else if p.Type == "text/plain" {
			nplain++
			if plain == nil {
				plain = t
			}
		}
		// 8-bit bytes under a 7bit (or absent) encoding: RFC 2045 §2.7.
		if p.Encoding != "8bit" && p.Encoding != "binary" && p.Encoding != "base64" && p.Encoding != "quoted-printable" && has8bit(p.Raw) {
			mult, opts := 1.0, []string{p.Encoding}
			if t.Charset == "utf-8" {
				mult = 0.3
				opts = append(opts, "utf8")
			}
			a.add(SymBadCTE7bit, mult, opts...)
		}
		if p.Declared && t.Charset == "" && has8bit(p.Body) {
			a.add(SymMissingCharset, 1)
		}
	}
	if nhtml > 0 && nplain == 0 {
		a.add(SymMIMEHTMLOnly, 1)
		if nhtml == 1 && a.forgedOutlookHTML() {
			a.add(SymForgedOutlookHTML, 1)
		}
	}
	if plain != nil && html != nil && plain.Part.Parent != nil && plain.Part.Parent == html.Part.Parent &&
		plain.Part.Parent.Type == "multipart/alternative" {
		if nd, words := wordDistance(plain.Text, html.Text); nd >= 0.5 {
			mult := nd - 0.5
			if words > 30 {
				mult *= 2
			}
			if mult > 0 {
				a.add(SymPartsDiffer, mult, fmt.Sprintf("%.1f%%", 100*nd))
			}
		}
	}
	mixed, words := 0, 0
	for _, t := range a.c.Texts {
		m, w := mixedScriptWords(t.Text, 20000)
		mixed += m
		words += w
	}
	if mixed >= 2 && float64(mixed) > 0.1*float64(words) {
		a.add(SymMixedCharset, 1, fmt.Sprintf("%d/%d words", mixed, words))
	}
}

// outlookMailerRE and yahooGroupsRE are rspamd's FORGED_OUTLOOK_HTML
// patterns (rules/regexp/headers.lua).
var (
	outlookMailerRE = regexp.MustCompile(`^Microsoft Outlook\b`)
	yahooGroupsRE   = regexp.MustCompile(`from \[\S+\] by \S+\.(?:groups|scd|dcn)\.yahoo\.com with NNFMP`)
)

// forgedOutlookHTML: an X-Mailer of Outlook on a message whose one text
// part is HTML, which Outlook never sends alone (it adds a plain-text
// alternative), unless Yahoo Groups rewrote it.
func (a *analysis) forgedOutlookHTML() bool {
	m := a.c.Msg
	if m == nil {
		return false
	}
	outlook := false
	for _, f := range m.Get("X-Mailer") {
		outlook = outlook || outlookMailerRE.MatchString(strings.TrimSpace(f.Unfolded()))
	}
	if !outlook {
		return false
	}
	for _, f := range m.Get("Received") {
		if yahooGroupsRE.MatchString(f.Unfolded()) {
			return false
		}
	}
	return true
}

func has8bit(b []byte) bool {
	for _, c := range b {
		if c >= 0x80 {
			return true
		}
	}
	return false
}

// wordDistance is the share of words the two texts do not have in common
// (1 - |A∩B| / |A∪B| over word multisets), and the number of words.
func wordDistance(x, y string) (float64, int) {
	a, b := wordCounts(x), wordCounts(y)
	inter, union := 0, 0
	for w, n := range a {
		m := b[w]
		inter += min(n, m)
		union += max(n, m)
	}
	for w, m := range b {
		if _, ok := a[w]; !ok {
			union += m
		}
	}
	if union == 0 {
		return 0, 0
	}
	return 1 - float64(inter)/float64(union), union
}

// wordCounts counts the words of s (letters and digits, case folded) by
// a 64-bit FNV-1a hash, at most 5000 words.
func wordCounts(s string) map[uint64]int {
	m := make(map[uint64]int, 64)
	const offset, prime = 14695981039346656037, 1099511628211
	h, in, n := uint64(offset), false, 0
	for i := 0; i < len(s); {
		c := s[i]
		var word bool
		var r rune
		if c < utf8.RuneSelf {
			r, word = rune(c|0x20), isAlnum(c)
			if !isAlpha(c) {
				r = rune(c)
			}
			i++
		} else {
			var size int
			r, size = utf8.DecodeRuneInString(s[i:])
			i += size
			if word = unicode.IsLetter(r) || unicode.IsDigit(r); word {
				r = unicode.ToLower(r)
			}
		}
		if word {
			h = (h ^ uint64(r)) * prime
			in = true
			continue
		}
		if in {
			m[h]++
			if n++; n >= 5000 {
				return m
			}
			h, in = offset, false
		}
	}
	if in {
		m[h]++
	}
	return m
}

// script classes for mixed-script detection.
const (
	scriptOther = iota
	scriptLatin
	scriptCyrillic
	scriptGreek
)

func scriptOf(r rune) int {
	switch {
	case r < 0x80:
		if 'a' <= r|0x20 && r|0x20 <= 'z' {
			return scriptLatin
		}
		return scriptOther
	case unicode.Is(unicode.Latin, r):
		return scriptLatin
	case unicode.Is(unicode.Cyrillic, r):
		return scriptCyrillic
	case unicode.Is(unicode.Greek, r):
		return scriptGreek
	}
	return scriptOther
}

// mixedScriptWords counts words (letters only, 3 or more) that mix Latin
// with Cyrillic or Greek letters, the trick of text written to fool
// filters ("Vіagra" with a Cyrillic і); it reads at most max words.
func mixedScriptWords(s string, max int) (mixed, words int) {
	if isASCII(s) {
		return 0, 0 // Latin only
	}
	for w := range strings.FieldsFuncSeq(s, func(r rune) bool { return !unicode.IsLetter(r) }) {
		if words >= max {
			break
		}
		if utf8.RuneCountInString(w) < 3 {
			continue
		}
		words++
		var seen [4]bool
		for _, r := range w {
			seen[scriptOf(r)] = true
		}
		if seen[scriptLatin] && (seen[scriptCyrillic] || seen[scriptGreek]) {
			mixed++
		}
	}
	return mixed, words
}
