package content

import (
	"bytes"
	"path"
	"strings"
	"time"

	"github.com/hamlet-mail/hamlet/message"
)

// Attachment is a part meant as a file.
type Attachment struct {
	Part *message.Part
	// Filename is the name the sender gave ("" when none).
	Filename string
	// Declared is the declared media type in lower case.
	Declared string
	// Detected is the type found from the content's first bytes (see
	// Detect), "" when not recognised or the body was not decoded.
	Detected string
	// Size is the decoded size in bytes.
	Size int
	// Archive is the listing of a zip, rar, 7z, gzip or tar attachment,
	// nil for other files.
	Archive *Archive
	// PDF is what a PDF attachment (by its content) shows of itself,
	// nil for other files.
	PDF *PDFInfo
}

// Detected types (Detect).
const (
	TypeExe     = "exe" // PE (MZ): .exe .scr .com .pif .dll .cpl
	TypeELF     = "elf" // ELF executable
	TypeMachO   = "macho"
	TypeZip     = "zip" // zip, also docx/xlsx/jar/apk (see Archive)
	TypeRar     = "rar"
	Type7z      = "7z"
	TypeGzip    = "gz"
	TypeTar     = "tar"
	TypeCab     = "cab"
	TypeISO     = "iso" // ISO 9660 image
	TypeVHD     = "vhd" // VHD/VHDX disk image
	TypeLnk     = "lnk" // Windows shortcut
	TypeOLE     = "ole" // Office 97 / MSI container
	TypePDF     = "pdf"
	TypeRTF     = "rtf"
	TypeHTML    = "html" // HTML document (HTML smuggling)
	TypeScript  = "script"
	TypePNG     = "png"
	TypeGIF     = "gif"
	TypeJPEG    = "jpeg"
	TypeBZip2   = "bz2"
	TypeXZ      = "xz"
	TypeJavaCls = "class"
)

// Detect recognises a file's type from its first bytes (and, for ISO
// 9660 and tar, from the magic at its fixed offset).
func Detect(b []byte) string {
	has := func(off int, magic string) bool {
		return len(b) >= off+len(magic) && string(b[off:off+len(magic)]) == magic
	}
	switch {
	case has(0, "MZ"):
		return TypeExe
	case has(0, "\x7fELF"):
		return TypeELF
	case has(0, "\xcf\xfa\xed\xfe"), has(0, "\xce\xfa\xed\xfe"):
		return TypeMachO
	case has(0, "\xca\xfe\xba\xbe"):
		return TypeJavaCls
	case has(0, "PK\x03\x04"), has(0, "PK\x05\x06"), has(0, "PK\x07\x08"):
		return TypeZip
	case has(0, "Rar!\x1a\x07"):
		return TypeRar
	case has(0, "7z\xbc\xaf\x27\x1c"):
		return Type7z
	case has(0, "\x1f\x8b"):
		return TypeGzip
	case has(0, "BZh"):
		return TypeBZip2
	case has(0, "\xfd7zXZ\x00"):
		return TypeXZ
	case has(0, "MSCF"):
		return TypeCab
	case has(0, "\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"):
		return TypeOLE
	case has(0, "L\x00\x00\x00\x01\x14\x02\x00"):
		return TypeLnk
	case has(0, "conectix"), has(0, "vhdxfile"):
		return TypeVHD
	case has(0x8001, "CD001"), has(0x8801, "CD001"), has(0x9001, "CD001"):
		return TypeISO
	case has(257, "ustar"):
		return TypeTar
	case has(0, "%PDF-"):
		return TypePDF
	case has(0, "{\\rtf"):
		return TypeRTF
	case has(0, "\x89PNG"):
		return TypePNG
	case has(0, "GIF8"):
		return TypeGIF
	case has(0, "\xff\xd8\xff"):
		return TypeJPEG
	case has(0, "#!"):
		return TypeScript
	}
	head := b
	if len(head) > 1024 {
		head = head[:1024]
	}
	head = bytes.TrimLeft(head, "\xef\xbb\xbf \t\r\n")
	lower := bytes.ToLower(head)
	for _, p := range []string{"<!doctype html", "<html", "<script", "<head", "<body", "<svg", "<iframe"} {
		if bytes.HasPrefix(lower, []byte(p)) {
			return TypeHTML
		}
	}
	return ""
}

// newAttachment describes p and opens it when it is an archive.
func newAttachment(p *message.Part, lim Limits, inflate *int64, c *Message) *Attachment {
	a := &Attachment{Part: p, Filename: p.Filename, Declared: p.Type, Size: len(p.Body)}
	a.Detected = Detect(p.Body)
	if format := archiveFormat(a.Detected, a.Filename); format != "" && p.Body != nil {
		o := &opener{lim: lim, inflate: inflate, c: c}
		a.Archive = o.open(format, p.Body, 0)
	}
	if a.Detected == TypePDF {
		r := pdfReader{budget: inflate, now: time.Now}
		info := r.read(p.Body)
		a.PDF = &info
		if info.Exhausted {
			c.exceed(ExceededInflate)
		}
	}
	return a
}

// Ext returns the lower-case extension of a file name, without the dot
// ("" when none). Trailing dots and spaces, which Windows drops, are
// ignored.
func Ext(name string) string {
	name = strings.TrimRight(name, ". \t")
	e := path.Ext(strings.ReplaceAll(name, "\\", "/"))
	return strings.ToLower(strings.TrimPrefix(e, "."))
}
