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

// ReadPDF looks for the names in a PDF file: one pass per first letter
// (E, J, O are rarer than the slashes PDF dictionaries are full of).
func ReadPDF(b []byte) PDFInfo {
	if len(b) > maxPDFScan {
		b = b[:maxPDFScan]
	}
	return PDFInfo{
		Encrypted:  pdfFind(b, 'E', "Encrypt"),
		JavaScript: pdfFind(b, 'J', "JS", "JavaScript"),
		OpenAction: pdfFind(b, 'O', "OpenAction"),
	}
}

// pdfFind reports one of the names (all beginning with c) after a slash.
func pdfFind(b []byte, c byte, names ...string) bool {
	for i := 1; i < len(b); {
		j := bytes.IndexByte(b[i:], c)
		if j < 0 {
			return false
		}
		i += j
		if b[i-1] == '/' {
			for _, n := range names {
				if pdfName(b[i:], n) {
					return true
				}
			}
		}
		i++
	}
	return false
}

// pdfName reports that b begins with the name n as a whole token:
// followed by white space, a delimiter or the end (so /Encrypt is not
// /EncryptMetadata, /JS not /JSON).
func pdfName(b []byte, n string) bool {
	return len(b) >= len(n) && string(b[:len(n)]) == n && (len(b) == len(n) || pdfDelimiter(b[len(n)]))
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
