package content

import "bytes"

// PDF names rspamd's pdf module looks at (ISO 32000-1): the trailer's
// /Encrypt (§7.6), /JS and /JavaScript actions (§12.6.4.16), the
// catalog's /OpenAction (§7.7.2). hamlet reads them from the file as it
// is, without inflating object streams: a script inside a compressed
// object stream is not seen.

// maxPDFScan bounds the bytes of a PDF searched.
const maxPDFScan = 16 << 20

// PDFInfo is what a PDF shows of itself.
type PDFInfo struct {
	Encrypted  bool
	JavaScript bool
	OpenAction bool
}

// ReadPDF looks for the names in a PDF file.
func ReadPDF(b []byte) PDFInfo {
	if len(b) > maxPDFScan {
		b = b[:maxPDFScan]
	}
	return PDFInfo{
		Encrypted:  pdfName(b, "/Encrypt"),
		JavaScript: pdfName(b, "/JavaScript") || pdfName(b, "/JS"),
		OpenAction: pdfName(b, "/OpenAction"),
	}
}

// pdfName reports the name n as a whole token: followed by white space,
// a delimiter or the end (so /Encrypt is not /EncryptMetadata, /JS not
// /JSON).
func pdfName(b []byte, n string) bool {
	for i := 0; i < len(b); {
		j := bytes.Index(b[i:], []byte(n))
		if j < 0 {
			return false
		}
		end := i + j + len(n)
		if end == len(b) || pdfDelimiter(b[end]) {
			return true
		}
		i = end
	}
	return false
}

// pdfDelimiter: white space (§7.2.2 Table 1) and delimiters (Table 2).
func pdfDelimiter(c byte) bool {
	switch c {
	case 0, '\t', '\n', '\f', '\r', ' ', '(', ')', '<', '>', '[', ']', '{', '}', '/', '%':
		return true
	}
	return false
}

// pdf is rspamd's PDF_ENCRYPTED, PDF_JAVASCRIPT and PDF_SUSPICIOUS (its
// suspicion factor: 0.1 encrypted, 0.5 more with an /OpenAction, 0.1 a
// script; the symbol past 0.5, at most 1).
func (a *analysis) pdf(at *Attachment, name string) {
	p := ReadPDF(at.Part.Body)
	var factor float64
	if p.Encrypted {
		a.add(SymPDFEncrypted, 1, name)
		factor += 0.1
		if p.OpenAction {
			factor += 0.5
		}
	}
	if p.JavaScript {
		a.add(SymPDFJavaScript, 1, name)
		factor += 0.1
	}
	if factor > 0.5 {
		a.add(SymPDFSuspicious, min(factor, 1), name)
	}
}
