// Package content reads the message itself: it turns a message into its
// parsed form (Parse) — MIME tree, text in UTF-8, HTML structure, URLs,
// attachments with their detected types and archive listings — and judges
// that form (Analyze) with rspamd's content rules. It is pure: bytes in,
// findings out; no DNS, no engine, no store.
//
// # The parsed form
//
// Parse is called once per message, by the engine (engine.Transaction's
// Content method parses lazily and shares the result between every check
// of the scan); checks never parse the body again. A *Message is read-only
// once built and safe for concurrent readers.
//
//	c := tx.Content()                 // in a check: *content.Message, nil before DATA
//	c.MIME.Parts                      // every MIME part (message.Part): Type, Params, Filename, Body (decoded)
//	c.Subject                         // Subject with RFC 2047 words decoded
//	for _, t := range c.Texts { t.Text }  // text/plain and text/html parts as UTF-8 (HTML: visible text)
//	t.HTML.Links, t.HTML.Images, t.HTML.Forms   // HTML structure (nil for text/plain)
//	c.URLs                            // each distinct URL of text and HTML once, normalised (Host, Domain, IP, Flags, Count)
//	c.Attachments                     // files: name, declared and detected type, archive listing
//	c.Exceeded                        // bounds the message went past (Limits)
//
// Text is what a reader sees: for text/html, the visible text with tags,
// scripts, styles and comments removed, entities decoded and block
// elements separated by a line break; hidden text (display:none, zero
// font, text in the background colour) is left out of Text and counted in
// HTML.HiddenText. A tokenizer (Bayes), local rules and header checks read
// these fields rather than the raw body.
//
// # Bounds
//
// Every stage is bounded (Limits): MIME depth, parts and decoded bytes
// (message.Limits), bytes of text analysed per part, URLs kept, archive
// entries listed and bytes inflated. Past a bound the stage stops and the
// bound is named in Message.Exceeded (a symbol for the checks), never an
// error, a crash or a stall. Time is linear in the message size.
//
// # What it does not do
//
// It does not run JavaScript, fetch images or follow links, does not
// inflate more than Limits.MaxInflate bytes from an archive, does not
// decrypt anything (a 7z archive whose header is encrypted, or one coded
// otherwise than with LZMA, LZMA2, Copy, BCJ or Delta, keeps its names: Archive.NamesHidden
// says so), and inflates a PDF's FlateDecode streams only within the same
// budget (and 512 KiB a stream).
package content

import (
	"strings"

	"github.com/hamlet-mail/hamlet/message"
)

// Limits bound the analysis. Zero fields take DefaultLimits' value.
type Limits struct {
	MIME message.Limits
	// MaxText bounds the bytes of each text part that are converted,
	// HTML-parsed and searched for URLs.
	MaxText int
	// MaxURLs bounds the URLs kept for the whole message.
	MaxURLs int
	// MaxArchiveFiles bounds the entries listed per archive.
	MaxArchiveFiles int
	// MaxInflate bounds the bytes decompressed from archives (to open an
	// archive inside an archive or a gzip-compressed tar), per message.
	MaxInflate int64
	// MaxArchiveDepth bounds how deep archives inside archives are opened.
	MaxArchiveDepth int
}

// DefaultLimits: rspamd-like generosity, a small multiple of the message
// size at most.
func DefaultLimits() Limits {
	return Limits{MIME: message.DefaultLimits(), MaxText: 2 << 20, MaxURLs: 1000,
		MaxArchiveFiles: 1000, MaxInflate: 16 << 20, MaxArchiveDepth: 3}
}

func (l Limits) withDefaults() Limits {
	d := DefaultLimits()
	if l.MaxText <= 0 {
		l.MaxText = d.MaxText
	}
	if l.MaxURLs <= 0 {
		l.MaxURLs = d.MaxURLs
	}
	if l.MaxArchiveFiles <= 0 {
		l.MaxArchiveFiles = d.MaxArchiveFiles
	}
	if l.MaxInflate <= 0 {
		l.MaxInflate = d.MaxInflate
	}
	if l.MaxArchiveDepth <= 0 {
		l.MaxArchiveDepth = d.MaxArchiveDepth
	}
	return l
}

// The bounds of Limits as named in Message.Exceeded, beside
// message.ExceededDepth, message.ExceededParts and message.ExceededDecoded.
const (
	ExceededText         = "text_size"
	ExceededURLs         = "urls"
	ExceededArchiveFiles = "archive_files"
	ExceededInflate      = "inflate_size"
)

// Message is the parsed form of a message.
type Message struct {
	// Msg is the message it was parsed from.
	Msg *message.Message
	// MIME is the MIME tree.
	MIME *message.MIME
	// Subject is the first Subject field, unfolded, encoded words
	// decoded to UTF-8.
	Subject string
	// Texts are the text/plain and text/html parts that are not
	// attachments, in message order.
	Texts []*Text
	// URLs are the URLs found in the texts and in the HTML attributes
	// (href, src, action), in order of first appearance, each distinct
	// one (same text, same source) once with its Count, at most
	// Limits.MaxURLs.
	URLs []*URL
	// Attachments are the parts meant as files.
	Attachments []*Attachment
	// Exceeded names the bounds the message went past, each once.
	Exceeded []string
}

// Text is a text part.
type Text struct {
	Part *message.Part
	// Text is the content in UTF-8: the part's text, or an HTML part's
	// visible text.
	Text string
	// Charset is the declared charset in lower case ("" when none).
	Charset string
	// CharsetOK is false when the charset is unknown or the bytes are
	// not valid in it.
	CharsetOK bool
	// HTML is the structure of a text/html part, nil for text/plain.
	HTML *HTML
	// Truncated reports that only Limits.MaxText bytes were analysed.
	Truncated bool
}

// IsHTML reports whether the part is text/html.
func (t *Text) IsHTML() bool { return t.HTML != nil }

// Parse builds the parsed form of m within lim. It never fails.
func Parse(m *message.Message, lim Limits) *Message {
	lim = lim.withDefaults()
	c := &Message{Msg: m}
	c.MIME = message.ParseMIME(m, lim.MIME)
	c.Exceeded = append(c.Exceeded, c.MIME.Exceeded...)
	if s, ok := c.MIME.Root.Header("Subject"); ok {
		c.Subject = message.DecodeHeader(s)
	}
	u := &urlCollector{max: lim.MaxURLs, c: c}
	inflate := lim.MaxInflate
	for _, p := range c.MIME.Parts {
		if p.IsMultipart() || (p.IsMessage() && len(p.Parts) > 0) {
			continue
		}
		if p.IsAttachment() {
			a := newAttachment(p, lim, &inflate, c)
			c.Attachments = append(c.Attachments, a)
			continue
		}
		if p.Type != "text/plain" && p.Type != "text/html" && !strings.HasPrefix(p.Type, "text/") {
			continue
		}
		c.Texts = append(c.Texts, c.text(p, lim, u))
	}
	return c
}

func (c *Message) exceed(what string) {
	for _, e := range c.Exceeded {
		if e == what {
			return
		}
	}
	c.Exceeded = append(c.Exceeded, what)
}

// text converts and analyses one text part.
func (c *Message) text(p *message.Part, lim Limits, u *urlCollector) *Text {
	t := &Text{Part: p, Charset: p.Charset()}
	body := p.Body
	if len(body) > lim.MaxText {
		body = body[:lim.MaxText]
		t.Truncated = true
		c.exceed(ExceededText)
	}
	s, ok := message.ToUTF8(body, t.Charset)
	if t.Truncated {
		// The cut may have split a character.
		s = strings.ToValidUTF8(s, "")
	}
	t.CharsetOK = ok
	if p.Type == "text/html" {
		t.HTML = ExtractHTML(s)
		t.Text = t.HTML.Text
		for i := range t.HTML.Links {
			l := &t.HTML.Links[i]
			l.URL = u.add(l.Href, SourceHref, l.Text)
		}
		for i := range t.HTML.Images {
			u.add(t.HTML.Images[i].Src, SourceImage, "")
		}
		for i := range t.HTML.Forms {
			u.add(t.HTML.Forms[i].Action, SourceForm, "")
		}
		var links strings.Builder
		for _, l := range t.HTML.Links {
			links.WriteString(l.Text)
			links.WriteByte('\n')
		}
		u.text(t.Text, links.String())
		return t
	}
	t.Text = s
	u.text(s, "")
	return t
}
