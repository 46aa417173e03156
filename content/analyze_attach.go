package content

import (
	"bytes"
	"fmt"
	"strings"
	"unicode"
	"unicode/utf8"
)

// badExtensions are rspamd's mime_types bad_extensions with their badness
// (the multiplier of MIME_BAD_EXTENSION / MIME_DOUBLE_BAD_EXTENSION).
var badExtensions = map[string]float64{
	"cue": 2, "exe": 1, "iso": 4, "jar": 2, "txz": 2, "zpaq": 2, "htm": 1, "html": 1, "shtm": 1, "shtml": 1,
	"ace": 4, "arj": 2, "aspx": 1, "asx": 2, "cab": 3, "dll": 4, "dqy": 2, "iqy": 2, "mht": 2, "mhtml": 2,
	"oqy": 2, "rdp": 2, "rqy": 2, "sfx": 2, "slk": 2, "vst": 2, "vss": 2, "wim": 2,
	"ade": 4, "adp": 4, "cmd": 4, "cpl": 4, "ins": 4, "isp": 4, "js": 4, "jse": 4, "lib": 4, "mde": 4,
	"msc": 4, "msi": 4, "msp": 4, "mst": 4, "nsh": 4, "pif": 4, "sct": 4, "shb": 4, "sys": 4, "vb": 4,
	"vbe": 4, "vbs": 4, "vxd": 4, "wsc": 4, "wsh": 4,
	"app": 4, "asp": 4, "bas": 4, "bat": 4, "chm": 4, "cnt": 4, "com": 4, "csh": 4, "diagcab": 4, "fxp": 4,
	"gadget": 4, "grp": 4, "hlp": 4, "hpj": 4, "hta": 4, "htc": 4, "inf": 4, "its": 4, "jnlp": 4,
	"library-ms": 4, "lnk": 4, "ksh": 4, "mad": 4, "maf": 4, "mag": 4, "mam": 4, "maq": 4, "mar": 4,
	"mas": 4, "mat": 4, "mau": 4, "mav": 4, "maw": 4, "mcf": 4, "mda": 4, "mdb": 4, "mdt": 4, "mdw": 4,
	"mdz": 4, "msh": 4, "msh1": 4, "msh2": 4, "mshxml": 4, "msh1xml": 4, "msh2xml": 4, "msu": 4, "ops": 4,
	"osd": 4, "pcd": 4, "pl": 4, "plg": 4, "prf": 4, "prg": 4, "printerexport": 4, "ps1": 4, "ps1xml": 4,
	"ps2": 4, "ps2xml": 4, "psc1": 4, "psc2": 4, "psd1": 4, "psdm1": 4, "pst": 4, "pyc": 4, "pyo": 4,
	"pyw": 4, "pyz": 4, "pyzw": 4, "reg": 4, "scf": 4, "scr": 4, "search-ms": 4, "shs": 4, "theme": 4,
	"url": 4, "vbp": 4, "vhd": 4, "vhdx": 4, "vsmacros": 4, "vsw": 4, "webpnp": 4, "website": 4, "ws": 4,
	"wsf": 4, "xbap": 4, "xll": 4, "xnk": 4,
}

// badArchiveExtensions: what should not be alone in an archive.
var badArchiveExtensions = map[string]float64{
	"chm": 4, "docx": 0.1, "hta": 4, "iso": 4, "jar": 3, "js": 0.5, "lnk": 4, "pdf": 0.1,
	"pptx": 0.1, "vbs": 4, "wsf": 4, "xlsx": 0.1,
}

var archiveExtensions = map[string]bool{
	"7z": true, "ace": true, "alz": true, "arj": true, "bz2": true, "cab": true, "egg": true, "lz": true,
	"rar": true, "txz": true, "xz": true, "zip": true, "zpaq": true,
}

// archiveExceptions are zip files that are documents, not archives.
var archiveExceptions = map[string]bool{
	"docx": true, "odp": true, "ods": true, "odt": true, "pptx": true, "vsdx": true, "xlsx": true,
	"docm": true, "xlsm": true, "pptm": true, "epub": true, "apk": false,
}

// executableExtensions run code when opened on a desktop (Windows mostly):
// MIME_EXE_ATTACHMENT, the symbol to [force] a reject on.
var executableExtensions = map[string]bool{
	"exe": true, "scr": true, "com": true, "pif": true, "bat": true, "cmd": true, "js": true, "jse": true,
	"vbs": true, "vbe": true, "wsf": true, "wsh": true, "wsc": true, "hta": true, "lnk": true, "ps1": true,
	"psm1": true, "jar": true, "msi": true, "msp": true, "iso": true, "img": true, "vhd": true, "vhdx": true,
	"cpl": true, "dll": true, "reg": true, "scf": true, "msc": true, "application": true, "appx": true,
	"appxbundle": true, "msix": true, "gadget": true, "inf": true, "sct": true, "url": true, "xll": true,
	"chm": true, "apk": true, "dmg": true, "pkg": true, "sh": true, "elf": true, "bin": true,
}

// detectedExt maps Detect's executable and image types to the extension
// that checks them.
var detectedExt = map[string]string{
	TypeExe: "exe", TypeELF: "elf", TypeMachO: "bin", TypeLnk: "lnk", TypeISO: "iso", TypeVHD: "vhd",
	TypeCab: "cab", TypeJavaCls: "jar",
}

// extensionMap: extensions that must come with one of these types
// (rspamd's extension_map); another declared type is MIME_BAD_ATTACHMENT.
var extensionMap = map[string][]string{
	"html": {"text/html"}, "htm": {"text/html"}, "shtm": {"text/html"}, "shtml": {"text/html"},
	"txt": {"message/disposition-notification", "text/plain", "text/rfc822-headers"},
	"pdf": {"application/octet-stream", "application/pdf", "application/x-pdf"},
}

// obscuringRunes hide a file's real extension: bidirectional overrides
// ("invoice\u202Efdp.exe" shows as "invoiceexe.pdf") and invisible spaces.
func obscuredRune(r rune) bool {
	switch {
	case r >= 0x202A && r <= 0x202E, r >= 0x2066 && r <= 0x2069, r >= 0x200B && r <= 0x200F, r == 0xFEFF, r == 0x061C:
		return true
	}
	return false
}

// obfuscatedName reports an archive entry name with a control character
// or a zero-width space, as rspamd flags obfuscated archive files.
func obfuscatedName(name string) bool {
	for _, r := range name {
		if unicode.IsControl(r) || r >= 0x200B && r <= 0x200D || r == 0xFEFF {
			return true
		}
	}
	return false
}

// splitExt returns the last two extensions (lower case) and the number
// of dot-separated parts.
func splitExt(name string) (ext, ext2 string, parts int) {
	name = strings.TrimRight(name, ". \t")
	if i := strings.LastIndexAny(name, "/\\"); i >= 0 {
		name = name[i+1:]
	}
	p := strings.Split(name, ".")
	parts = len(p)
	if parts > 1 {
		ext = strings.ToLower(strings.TrimSpace(p[parts-1]))
	}
	if parts > 2 {
		ext2 = strings.ToLower(strings.TrimSpace(p[parts-2]))
	}
	return ext, ext2, parts
}

func allDigits(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}

// extLike: the next-to-last part is an extension, not a number or a date.
func extLike(e string) bool {
	e = strings.TrimRight(e, "])")
	return len(e) > 0 && len(e) <= 4 && !allDigits(e)
}

func (a *analysis) attachments() {
	for _, at := range a.c.Attachments {
		a.attachment(at)
		// rspamd reads an inline part of text content as a text part
		// whatever its declared type (gtube.txt as
		// application/octet-stream): the test pattern counts there too.
		if b := at.Part.Body; at.Part.Disposition != "attachment" && len(b) > len(GTUBEPattern) && len(b) <= maxGTUBEText &&
			utf8.Valid(b) && bytes.Contains(b, []byte(GTUBEPattern)) {
			a.add(SymGTUBE, 1)
		}
	}
}

func (a *analysis) attachment(at *Attachment) {
	name := at.Filename
	det := detectedExt[at.Detected]
	if name != "" {
		a.filename(name, at.Declared, false, det, 1)
	} else if det != "" {
		a.filename("detected."+det, "", false, "", 1)
	}
	ext := Ext(name)
	if executableExtensions[ext] || det != "" && executableExtensions[det] {
		a.add(SymExecutable, 1, displayName(name, det))
	}
	// Content that is not what the declared type says: an executable
	// sent as a document or image.
	if det != "" && executableExtensions[det] && (strings.HasPrefix(at.Declared, "image/") ||
		strings.HasPrefix(at.Declared, "text/") || at.Declared == "application/pdf" || strings.Contains(at.Declared, "document")) {
		a.add(SymBadAttachment, 1, at.Declared+":"+det)
	}
	if at.Detected == TypePDF {
		a.pdf(at, displayName(name, "pdf"))
	}
	if at.Detected == TypeHTML || ext == "htm" || ext == "html" || ext == "shtml" || ext == "svg" || ext == "xhtml" {
		if smuggling(at.Part.Body) {
			a.add(SymHTMLSmuggling, 1, displayName(name, "html"))
		}
	}
	if at.Archive == nil || archiveExceptions[ext] {
		return
	}
	arch := at.Archive
	switch {
	case arch.Encrypted && !arch.NamesHidden:
		a.add(SymEncryptedArchive, 1, name)
	case arch.NamesHidden && arch.Encrypted:
		a.add(SymEncryptedArchive, 1, "encrypted header", name)
	case arch.NamesHidden:
		a.add(SymEncryptedArchive, 0.5, "compressed header", name)
	}
	splitRar := arch.Format == TypeRar && len(ext) == 3 && allDigits(ext)
	n := len(arch.Files)
	for _, f := range arch.Files {
		if f.Encrypted {
			a.add(SymEncryptedArchive, 1, f.Name)
		}
		if obfuscatedName(f.Name) {
			a.add(SymObfuscatedArchive, 1, "obfuscated archive", name)
		}
		if f.Dir {
			continue
		}
		fext := Ext(f.Name)
		if splitRar && fext == "exe" {
			a.add(SymExeInGenSplitRar, 1, f.Name)
		} else {
			a.filename(f.Name, "", true, "", n)
		}
		a.archiveExecutables(f, 0)
	}
	if n == 1 {
		// invoice.pdf.zip holding invoice.exe: the name promised a pdf.
		_, ext2, _ := splitExt(name)
		enc := Ext(arch.Files[0].Name)
		if ext2 != "" && badExtensions[enc] > 0 && !allDigits(ext2) && enc != ext2 {
			a.add(SymDoubleBadExtension, 2, ext2+"!="+enc)
		}
	}
}

// archiveExecutables flags executables in an archive entry and in the
// archives inside it.
func (a *analysis) archiveExecutables(f ArchiveFile, depth int) {
	if executableExtensions[Ext(f.Name)] {
		a.add(SymExecutable, 1, f.Name)
	}
	if f.Nested == nil || depth > 8 {
		return
	}
	for _, g := range f.Nested.Files {
		if g.Encrypted {
			a.add(SymEncryptedArchive, 1, g.Name)
		}
		a.archiveExecutables(g, depth+1)
	}
}

func displayName(name, det string) string {
	if name != "" {
		return name
	}
	return "(" + det + ")"
}

// filename applies rspamd's file name rules to one name: an attachment's
// (archive false) or an archive entry's (archive true, nfiles entries).
func (a *analysis) filename(name, ct string, archive bool, det string, nfiles int) {
	for i, r := range name {
		if obscuredRune(r) {
			a.add(SymBadUnicode, 1, fmt.Sprintf("0x%x after %s", r, name[:i]))
			break
		}
	}
	if strings.Contains(name, "%") {
		if d, ok := percentDecode(name); ok {
			name = d
		}
	}
	ext, ext2, parts := splitExt(name)
	if det != "" && ext != det {
		// The content is of another type than the name says: judge the
		// real type too.
		a.filename("detected."+det, "", false, "", 1)
	}
	if ext == "" {
		return
	}
	table := func(e string) float64 {
		if archive {
			if nfiles < 2 {
				if v, ok := badArchiveExtensions[e]; ok {
					return v
				}
			}
		}
		return badExtensions[e]
	}
	check := func(m1, m2 float64) {
		if m1 == 0 && m2 == 0 {
			return
		}
		if parts > 2 && extLike(ext2) {
			a.add(SymDoubleBadExtension, max(m1, m2), "."+ext2+"."+ext)
			return
		}
		if m1 > 0 {
			a.add(SymBadExtension, m1, ext)
		}
	}
	s1 := table(ext)
	if archive {
		var s2 float64
		if ext2 != "" {
			s2 = table(ext2)
		}
		check(s1, s2)
		if archiveExtensions[ext] {
			a.add(SymArchiveInArchive, 1, ext)
		}
	} else {
		if ext2 != "" {
			s2 := table(ext2)
			if det != "" && det == ext {
				check(s1, 0)
			} else {
				check(s1, s2)
			}
			if archiveExtensions[ext2] && !allDigits(ext) {
				a.add(SymArchiveInArchive, 1, "."+ext2+"."+ext)
			}
		} else {
			check(s1, 0)
		}
	}
	if want, ok := extensionMap[ext]; ok && ct != "" && ct != "application/octet-stream" {
		found := false
		for _, w := range want {
			found = found || w == ct
		}
		if !found {
			a.add(SymBadAttachment, 1, ext+":"+ct)
		}
	}
}

// smuggling reports an HTML document that builds a file in the browser
// (HTML smuggling): a script that decodes an embedded blob and offers it
// as a download.
func smuggling(b []byte) bool {
	if len(b) > 4<<20 {
		b = b[:4<<20]
	}
	l := bytes.ToLower(b)
	if !bytes.Contains(l, []byte("<script")) {
		return false
	}
	n := 0
	for _, k := range []string{"atob(", "new blob(", "createobjecturl", "mssaveoropenblob", ".download", "uint8array", "fromcharcode"} {
		if bytes.Contains(l, []byte(k)) {
			n++
		}
	}
	return n >= 2
}
