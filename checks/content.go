package checks

import (
	"context"
	"fmt"

	"github.com/hamlet-mail/hamlet/content"
	"github.com/hamlet-mail/hamlet/engine"
	"github.com/hamlet-mail/hamlet/message"
)

// CheckContent is the name of the content check.
const CheckContent = "content"

// ContentConfig is the [content] section: the content rules and the
// bounds of the parsing every body check shares.
type ContentConfig struct {
	Enabled bool `toml:"enabled"`
	// MaxDepth, MaxParts and MaxDecoded bound the MIME walk: nesting,
	// parts, and decoded bytes kept (base64/quoted-printable).
	MaxDepth   int   `toml:"max_depth"`
	MaxParts   int   `toml:"max_parts"`
	MaxDecoded int64 `toml:"max_decoded"`
	// MaxText bounds the bytes of each text part analysed (charset,
	// HTML, URLs); MaxURLs the URLs kept per message.
	MaxText int `toml:"max_text"`
	MaxURLs int `toml:"max_urls"`
	// MaxArchiveFiles bounds the entries listed per archive, MaxInflate
	// the bytes decompressed from archives per message, MaxArchiveDepth
	// how deep archives in archives are opened.
	MaxArchiveFiles int   `toml:"max_archive_files"`
	MaxInflate      int64 `toml:"max_inflate"`
	MaxArchiveDepth int   `toml:"max_archive_depth"`
}

// DefaultContentConfig is on, with content.DefaultLimits.
func DefaultContentConfig() ContentConfig {
	l := content.DefaultLimits()
	return ContentConfig{Enabled: true, MaxDepth: l.MIME.MaxDepth, MaxParts: l.MIME.MaxParts,
		MaxDecoded: l.MIME.MaxDecoded, MaxText: l.MaxText, MaxURLs: l.MaxURLs,
		MaxArchiveFiles: l.MaxArchiveFiles, MaxInflate: l.MaxInflate, MaxArchiveDepth: l.MaxArchiveDepth}
}

// Validate checks the section.
func (c *ContentConfig) Validate() error {
	for _, f := range []struct {
		name string
		v    int64
	}{{"max_depth", int64(c.MaxDepth)}, {"max_parts", int64(c.MaxParts)}, {"max_decoded", c.MaxDecoded},
		{"max_text", int64(c.MaxText)}, {"max_urls", int64(c.MaxURLs)}, {"max_archive_files", int64(c.MaxArchiveFiles)},
		{"max_inflate", c.MaxInflate}, {"max_archive_depth", int64(c.MaxArchiveDepth)}} {
		if f.v <= 0 {
			return fmt.Errorf("content: %s must be positive, not %d", f.name, f.v)
		}
	}
	return nil
}

// Limits returns the parsing bounds of the section (for engine.Options).
func (c *ContentConfig) Limits() content.Limits {
	return content.Limits{MIME: message.Limits{MaxDepth: c.MaxDepth, MaxParts: c.MaxParts, MaxDecoded: c.MaxDecoded},
		MaxText: c.MaxText, MaxURLs: c.MaxURLs, MaxArchiveFiles: c.MaxArchiveFiles, MaxInflate: c.MaxInflate,
		MaxArchiveDepth: c.MaxArchiveDepth}
}

// ContentSymbols are the symbols of the content check: rspamd's names and
// default weights, and hamlet's own where rspamd has none (MIME_EXE_ATTACHMENT,
// MIME_HTML_SMUGGLING, URL_SHORTENER, URL_REDIRECTOR, MIME_LIMIT,
// CONTENT_LIMIT).
var ContentSymbols = []engine.SymbolDef{
	{Name: content.SymMIMEGood, Weight: -0.1, Group: "mime_types", Description: "Known content-type"},
	{Name: content.SymMIMEBad, Weight: 1.0, Group: "mime_types", Description: "Known bad content-type"},
	{Name: content.SymMIMEUnknown, Weight: 0.1, Group: "mime_types", Description: "Missing or unknown content-type"},
	{Name: content.SymBadAttachment, Weight: 4.0, Group: "mime_types", Description: "Invalid attachment mime type"},
	{Name: content.SymBadExtension, Weight: 2.0, Group: "mime_types", Description: "Bad extension"},
	{Name: content.SymDoubleBadExtension, Weight: 3.0, Group: "mime_types", Description: "Bad extension cloaking"},
	{Name: content.SymArchiveInArchive, Weight: 5.0, Group: "mime_types", Description: "Archive within another archive"},
	{Name: content.SymEncryptedArchive, Weight: 2.0, Group: "mime_types", Description: "Encrypted archive in a message"},
	{Name: content.SymExeInGenSplitRar, Weight: 5.0, Group: "mime_types", Description: "EXE file in RAR archive with generic split extension (e.g. .001)"},
	{Name: content.SymBadUnicode, Weight: 2.0, Group: "mime_types", Description: "Filename with known obscured unicode characters"},
	{Name: content.SymObfuscatedArchive, Weight: 8.0, Group: "mime_types", Description: "Archive has files with clear obfuscation signs"},
	{Name: content.SymExecutable, Weight: 4.0, Group: "mime_types", Description: "Executable or script attachment (also inside an archive); [force] it to reject"},
	{Name: content.SymHTMLSmuggling, Weight: 4.0, Group: "mime_types", Description: "HTML attachment that builds a file in the browser (HTML smuggling)"},
	{Name: content.SymMIMEHTMLOnly, Weight: 0.2, Group: "headers", Description: "Message has only an HTML part"},
	{Name: content.SymMIMEMAMissingText, Weight: 2.0, Group: "headers", Description: "MIME multipart/alternative missing text/plain part"},
	{Name: content.SymMIMEMAMissingHTML, Weight: 1.0, Group: "headers", Description: "MIME multipart/alternative missing text/html part"},
	{Name: content.SymMissingMIMEVersion, Weight: 2.0, Group: "headers", Description: "MIME-Version header is missing in MIME message"},
	{Name: content.SymPartsDiffer, Weight: 1.0, Group: "body", Description: "Text and HTML parts differ"},
	{Name: content.SymBadCTE7bit, Weight: 3.5, Group: "headers", Description: "Detects bad Content-Transfer-Encoding for text parts"},
	{Name: content.SymCTECase, Weight: 0.5, Group: "headers", Description: "[78]Bit .vs. [78]bit"},
	{Name: content.SymBrokenContentType, Weight: 1.5, Group: "headers", Description: "Message has part with broken content type"},
	{Name: content.SymMissingCharset, Weight: 0.5, Group: "headers", Description: "Charset header is missing"},
	{Name: content.SymMixedCharset, Weight: 5.0, Group: "headers", Description: "Mixed characters in a message"},
	{Name: content.SymShortLinkImg1, Weight: 2.0, Group: "html", Description: "Short HTML part (0..1K) with a link to an image"},
	{Name: content.SymShortLinkImg2, Weight: 1.0, Group: "html", Description: "Short HTML part (1K..1.5K) with a link to an image"},
	{Name: content.SymShortLinkImg3, Weight: 0.5, Group: "html", Description: "Short HTML part (1.5K..2K) with a link to an image"},
	{Name: content.SymEmptyImage, Weight: 2.0, Group: "html", Description: "Message contains empty parts and image"},
	{Name: content.SymWhiteOnWhite, Weight: 4.0, Group: "html", Description: "Message contains low contrast text"},
	{Name: content.SymZeroFont, Weight: 1.0, Group: "html", Description: "Zero sized font used"},
	{Name: content.SymManyInvisibleParts, Weight: 1.0, Group: "html", Description: "Many parts are visually hidden"},
	{Name: content.SymExtCSS, Weight: 1.0, Group: "html", Description: "Message contains external CSS reference"},
	{Name: content.SymHTTPToHTTPS, Weight: 0.5, Group: "html", Description: "The anchor text contains a distinct scheme compared to the target URL"},
	{Name: content.SymHTTPToIP, Weight: 1.0, Group: "html", Description: "HTML anchor points to an IP address"},
	{Name: content.SymMetaRefresh, Weight: 5.0, Group: "html", Description: "Has HTML Meta refresh URL"},
	{Name: content.SymSuspiciousImages, Weight: 5.0, Group: "html", Description: "Message contains many suspicious messages"},
	{Name: content.SymHasDataURI, Weight: 0, Group: "html", Description: "Has Data URI encoding"},
	{Name: content.SymDataURIObfu, Weight: 2.0, Group: "html", Description: "Uses Data URI encoding to obfuscate plain or HTML in base64"},
	{Name: content.SymPhishing, Weight: 4.0, Group: "phishing", Description: "Phished URL"},
	{Name: content.SymOmographURL, Weight: 5.0, Group: "url", Description: "URL contains both latin and non-latin characters"},
	{Name: content.SymSuspiciousURL, Weight: 5.0, Group: "url", Description: "A message has been identified to contain an obfuscated or suspicious URL"},
	{Name: content.SymZeroWidthSpaceURL, Weight: 7.0, Group: "url", Description: "Zero width space in url"},
	{Name: content.SymURLInSubject, Weight: 4.0, Group: "subject", Description: "URL found in Subject"},
	{Name: content.SymForgedOutlookHTML, Weight: 5.0, Group: "headers", Description: "Forged outlook HTML signature"},
	{Name: content.SymURLShortener, Weight: 0.5, Group: "url", Description: "Message links to a URL shortener (the target is hidden)"},
	{Name: content.SymURLRedirector, Weight: 0.1, Group: "url", Description: "Message links through a redirector to another domain"},
	{Name: content.SymPDFEncrypted, Weight: 0.3, Group: "content", Description: "There is an encrypted PDF in the message"},
	{Name: content.SymPDFJavaScript, Weight: 0.1, Group: "content", Description: "There is an PDF with JavaScript in the message"},
	{Name: content.SymPDFSuspicious, Weight: 4.5, Group: "content", Description: "There is an PDF with suspicious properties in the message"},
	{Name: content.SymURICountOdd, Weight: 1.0, Group: "url", Description: "Odd number of URIs in multipart/alternative message"},
	{Name: content.SymHasAttachment, Weight: 0, Group: "body", Description: "Message contains attachments"},
	{Name: content.SymURIHiddenPath, Weight: 1.0, Group: "compromised_hosts", Description: "Message contains URI with a hidden path"},
	{Name: content.SymHasWPURI, Weight: 0, Group: "compromised_hosts", Description: "Contains WordPress URIs"},
	{Name: content.SymWPCompromised, Weight: 0, Group: "compromised_hosts", Description: "URL that is pointing to a compromised WordPress installation"},
	{Name: content.SymHasOnionURI, Weight: 0, Group: "experimental", Description: "Contains .onion hidden service URI"},
	{Name: content.SymBitcoinAddr, Weight: 0, Group: "scams", Description: "Message has a valid bitcoin wallet address"},
	{Name: content.SymLeakedPasswordScamRE, Weight: 0, Group: "scams", Description: "Contains BTC wallet address and malicious regexps"},
	{Name: content.SymLeakedPasswordScam, Weight: 7.0, Group: "scams", Description: "Contains BTC wallet address and scam patterns"},
	{Name: content.SymPDFLongTrailer, Weight: 0.2, Group: "content", Description: "There is an PDF with a long trailer"},
	{Name: content.SymPDFManyObjects, Weight: 0, Group: "content", Description: "There is a PDF file with too many objects"},
	{Name: content.SymPDFTimeout, Weight: 0, Group: "content", Description: "There is a PDF file that caused timeout in processing"},
	{Name: content.SymEncryptedPGP, Weight: -0.5, Group: "mime_types", Description: "Message is encrypted with pgp"},
	{Name: content.SymEncryptedSMIME, Weight: -0.5, Group: "mime_types", Description: "Message is encrypted with smime"},
	{Name: content.SymSignedPGP, Weight: -2.0, Group: "mime_types", Description: "Message is signed with pgp"},
	{Name: content.SymSignedSMIME, Weight: -2.0, Group: "mime_types", Description: "Message is signed with smime"},
	{Name: content.SymBogusEncrypted, Weight: 10.0, Group: "mime_types", Description: "Bogus mix of encrypted and text/html payloads"},
	{Name: content.SymGTUBE, Weight: 0, Group: "content", Description: "Test pattern (GTUBE) in a text part; forces reject, as in rspamd"},
	{Name: content.SymMIMELimit, Weight: 2.0, Group: "content", Description: "MIME structure past a bound (depth, parts or decoded size); not all of it was read"},
	{Name: content.SymContentLimit, Weight: 0.5, Group: "content", Description: "Content past a bound (text size, URLs, archive entries or inflated size); not all of it was read"},
}

// Content runs the content rules (package content) on the parsed form of
// the message that the engine shares between checks.
type Content struct {
	afterDMARC bool
}

var (
	_ engine.Check  = (*Content)(nil)
	_ engine.Forcer = (*Content)(nil)
)

// NewContent builds the check.
func NewContent(cfg ContentConfig) (*Content, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	return &Content{}, nil
}

func (*Content) Name() string        { return CheckContent }
func (*Content) Phase() engine.Phase { return engine.PhaseData }
func (c *Content) After() []string {
	if c.afterDMARC {
		return []string{CheckDMARC}
	}
	return nil
}

// WithDMARC makes the check wait for the "dmarc" check, so that a link to
// the From domain of a message that passed DMARC is not PHISHING, as in
// rspamd. Use it when the dmarc check is registered. It returns c.
func (c *Content) WithDMARC() *Content {
	c.afterDMARC = true
	return c
}
func (*Content) Symbols() []engine.SymbolDef { return ContentSymbols }

// MayForce implements engine.Forcer: GTUBE forces reject (the content
// check runs once the message is in, so this holds no earlier verdict).
func (*Content) MayForce() bool { return true }

// Run implements engine.Check. Its Value is the []content.Finding.
func (*Content) Run(ctx context.Context, tx *engine.Transaction, deps engine.Results) engine.Result {
	c := tx.Content()
	if c == nil {
		return engine.Result{}
	}
	findings := content.AnalyzeWith(c, content.Options{Trusted: DMARCPassDomains(tx, deps)})
	syms := make([]engine.Symbol, 0, len(findings))
	for _, f := range findings {
		s := engine.Symbol{Name: f.Symbol, Options: f.Options, Multiplier: f.Mult}
		if f.Symbol == content.SymGTUBE {
			s.Force = engine.Reject
		}
		syms = append(syms, s)
	}
	return engine.Result{Symbols: syms, Value: findings}
}
