package dmarcreport

import (
	"archive/zip"
	"bytes"
	"compress/gzip"
	"errors"
	"fmt"
	"io"

	"github.com/hamlet-mail/hamlet/message"
)

// MIME walking bounds: deeper or wider messages are not reports.
const (
	maxMIMEDepth = 8
	maxMIMEParts = 200
)

// Extract finds the aggregate reports in one input: a bare XML document,
// a gzip or zip file holding one, or a mail message carrying any of these
// as an attachment or inline (RFC 7489 §7.2.1.1), MIME-encoded in base64
// or quoted-printable. It returns the reports it could read and an error
// for what it could not (wrapping ErrNotReport, ErrMalformed, ErrTooLarge
// or ErrRefused); both can be non-empty when a message carries several
// attachments.
func Extract(data []byte, lim Limits) ([]*Report, error) {
	lim = lim.WithDefaults()
	if int64(len(data)) > lim.MaxInput {
		return nil, fmt.Errorf("%w: input of %d bytes (limit %d)", ErrTooLarge, len(data), lim.MaxInput)
	}
	x := &extractor{lim: lim}
	switch kind(data) {
	case kindMessage:
		x.message(data)
	default:
		x.payload(data, "", 0)
	}
	if len(x.reports) == 0 && len(x.errs) == 0 {
		return nil, fmt.Errorf("%w: nothing in the input looks like XML, gzip or zip", ErrNotReport)
	}
	return x.reports, errors.Join(x.errs...)
}

type extractor struct {
	lim      Limits
	reports  []*Report
	errs     []error
	inflated int64 // bytes decompressed so far, bounded by lim.MaxXML
}

type dataKind int

const (
	kindUnknown dataKind = iota
	kindXML
	kindGzip
	kindZip
	kindMessage
)

func kind(b []byte) dataKind {
	switch {
	case bytes.HasPrefix(b, []byte{0x1f, 0x8b}):
		return kindGzip
	case bytes.HasPrefix(b, []byte("PK\x03\x04")):
		return kindZip
	}
	t := bytes.TrimLeft(bytes.TrimPrefix(b, []byte("\xef\xbb\xbf")), " \t\r\n")
	if bytes.HasPrefix(t, []byte("<")) {
		return kindXML
	}
	if len(b) == 0 {
		return kindXML // ParseXML says "empty document"
	}
	// A header field name then a colon on the first line, or an mbox
	// separator: a message.
	if bytes.HasPrefix(b, []byte("From ")) {
		return kindMessage
	}
	line, _, _ := bytes.Cut(b, []byte("\n"))
	if i := bytes.IndexByte(line, ':'); i > 0 && bytes.IndexAny(line[:i], " \t") < 0 {
		return kindMessage
	}
	return kindUnknown
}

func (x *extractor) fail(name string, err error) {
	if name != "" {
		err = fmt.Errorf("%s: %w", name, err)
	}
	x.errs = append(x.errs, err)
}

// payload handles decoded content: XML, gzip or zip (depth counts the
// compression layers, at most 2: a gzip inside a zip).
func (x *extractor) payload(b []byte, name string, depth int) {
	if len(x.reports) >= x.lim.MaxReports {
		x.fail(name, fmt.Errorf("%w: more than %d reports in one input", ErrTooLarge, x.lim.MaxReports))
		return
	}
	switch kind(b) {
	case kindXML:
		r, err := ParseXML(b, x.lim)
		if err != nil {
			x.fail(name, err)
			return
		}
		x.reports = append(x.reports, r)
	case kindGzip:
		if depth >= 2 {
			x.fail(name, fmt.Errorf("%w: compressed data nested too deep", ErrRefused))
			return
		}
		out, err := x.gunzip(b)
		if err != nil {
			x.fail(name, err)
			return
		}
		x.payload(out, name, depth+1)
	case kindZip:
		if depth >= 2 {
			x.fail(name, fmt.Errorf("%w: compressed data nested too deep", ErrRefused))
			return
		}
		x.unzip(b, name, depth)
	default:
		x.fail(name, fmt.Errorf("%w: neither XML, gzip nor zip", ErrNotReport))
	}
}

// budget returns how many more bytes may be decompressed.
func (x *extractor) budget() int64 { return x.lim.MaxXML - x.inflated }

// readBounded reads r up to the remaining budget; more is ErrTooLarge.
func (x *extractor) readBounded(r io.Reader, what string) ([]byte, error) {
	left := x.budget()
	b, err := io.ReadAll(io.LimitReader(r, left+1))
	if int64(len(b)) > left {
		return nil, fmt.Errorf("%w: %s inflates beyond %d bytes (a zip bomb?): refused", ErrTooLarge, what, x.lim.MaxXML)
	}
	x.inflated += int64(len(b))
	return b, err
}

func (x *extractor) gunzip(b []byte) ([]byte, error) {
	zr, err := gzip.NewReader(bytes.NewReader(b))
	if err != nil {
		return nil, fmt.Errorf("%w: gzip: %w", ErrMalformed, err)
	}
	// One member only: some reporters append padding or a second,
	// empty member; what follows the first member is ignored.
	zr.Multistream(false)
	out, err := x.readBounded(zr, "gzip data")
	if err != nil && !(errors.Is(err, io.ErrUnexpectedEOF) && len(out) > 0) {
		if errors.Is(err, ErrTooLarge) {
			return nil, err
		}
		return nil, fmt.Errorf("%w: gzip: %w", ErrMalformed, err)
	}
	return out, nil
}

func (x *extractor) unzip(b []byte, name string, depth int) {
	zr, err := zip.NewReader(bytes.NewReader(b), int64(len(b)))
	if err != nil {
		x.fail(name, fmt.Errorf("%w: zip: %w", ErrMalformed, err))
		return
	}
	if len(zr.File) > x.lim.MaxReports {
		x.fail(name, fmt.Errorf("%w: zip of %d files (limit %d)", ErrTooLarge, len(zr.File), x.lim.MaxReports))
		return
	}
	for _, f := range zr.File {
		if f.FileInfo().IsDir() {
			continue
		}
		fname := name + ":" + f.Name
		if name == "" {
			fname = f.Name
		}
		// The declared size can lie; readBounded stops at the budget
		// anyway, but an honest bomb is refused without inflating a byte.
		if f.UncompressedSize64 > uint64(x.budget()) {
			x.fail(fname, fmt.Errorf("%w: zip entry of %d bytes uncompressed (limit %d): refused", ErrTooLarge, f.UncompressedSize64, x.lim.MaxXML))
			return
		}
		rc, err := f.Open()
		if err != nil {
			x.fail(fname, fmt.Errorf("%w: zip: %w", ErrMalformed, err))
			continue
		}
		out, err := x.readBounded(rc, "zip entry")
		rc.Close()
		if err != nil {
			if !errors.Is(err, ErrTooLarge) {
				err = fmt.Errorf("%w: zip: %w", ErrMalformed, err)
			}
			x.fail(fname, err)
			return
		}
		x.payload(out, fname, depth+1)
	}
}

// message walks a mail message's MIME tree (package message's parse,
// shared with the content checks) and takes every leaf that holds XML,
// gzip or zip.
func (x *extractor) message(b []byte) {
	m := message.Parse(b)
	mm := message.ParseMIME(m, message.Limits{MaxDepth: maxMIMEDepth, MaxParts: maxMIMEParts, MaxDecoded: x.lim.MaxInput})
	for _, ex := range mm.Exceeded {
		x.fail("", fmt.Errorf("%w: MIME bound %s reached", ErrRefused, ex))
	}
	for _, p := range mm.Parts {
		if p.IsMultipart() || (p.IsMessage() && len(p.Parts) > 0) {
			continue
		}
		if p.Body == nil {
			continue
		}
		k := kind(p.Body)
		looksXML := k == kindXML && bytes.Contains(p.Body, []byte("feedback"))
		if k == kindGzip || k == kindZip || looksXML {
			x.payload(p.Body, p.Filename, 0)
		}
	}
}
