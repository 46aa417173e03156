package content

import (
	"strings"
	"testing"
)

// pdfFile is a small PDF with the given catalog entries and trailer
// entries.
func pdfFile(catalog, trailer string) string {
	return "%PDF-1.7\n1 0 obj\n<< /Type /Catalog /Pages 2 0 R" + catalog + " >>\nendobj\n" +
		"2 0 obj\n<< /Type /Pages /Kids [] /Count 0 >>\nendobj\n" +
		"trailer\n<< /Size 3 /Root 1 0 R" + trailer + " >>\n%%EOF\n"
}

func TestReadPDF(t *testing.T) {
	tests := []struct {
		name string
		pdf  string
		want PDFInfo
	}{
		{"plain", pdfFile("", ""), PDFInfo{}},
		{"encrypted", pdfFile("", " /Encrypt 5 0 R /ID [<a><b>]"), PDFInfo{Encrypted: true}},
		{"encrypted, opens with an action", pdfFile(" /OpenAction 4 0 R", " /Encrypt 5 0 R"), PDFInfo{Encrypted: true, OpenAction: true}},
		{"javascript action", pdfFile(" /OpenAction << /S /JavaScript /JS (app.alert\\(1\\)) >>", ""), PDFInfo{JavaScript: true, OpenAction: true}},
		{"/JS at the very end", "%PDF-1.4\n/JS", PDFInfo{JavaScript: true}},
		{"names that only begin the same", pdfFile(" /EncryptMetadata false /JSON 1 /OpenActions 2", ""), PDFInfo{}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := ReadPDF([]byte(tt.pdf)); got != tt.want {
				t.Errorf("%+v, want %+v", got, tt.want)
			}
		})
	}
	// Past maxPDFScan, the rest is not read.
	big := strings.Repeat(" ", maxPDFScan) + "/Encrypt 1 0 R"
	if ReadPDF([]byte(big)).Encrypted {
		t.Error("read past the bound")
	}
}

// FuzzReadPDF: no panic; a name found is in the input.
func FuzzReadPDF(f *testing.F) {
	f.Add(pdfFile(" /OpenAction << /S /JavaScript /JS (x) >>", " /Encrypt 5 0 R"))
	f.Add("/JS")
	f.Fuzz(func(t *testing.T, s string) {
		p := ReadPDF([]byte(s))
		if p.Encrypted && !strings.Contains(s, "/Encrypt") || p.OpenAction && !strings.Contains(s, "/OpenAction") || p.JavaScript && !strings.Contains(s, "/JS") && !strings.Contains(s, "/JavaScript") {
			t.Fatalf("%+v from %q", p, s)
		}
	})
}

// BenchmarkReadPDF: the PDF names of a 100 KB PDF dense in dictionaries
// (the engine benchmark's attachment, decoded).
func BenchmarkReadPDF(b *testing.B) {
	pdf := []byte(strings.Repeat("%PDF-1.4\n%\xc7\xec\x8f\xa2\n5 0 obj\n<</Length 6 0 R/Filter /FlateDecode", 100<<10/57))
	b.SetBytes(int64(len(pdf)))
	for b.Loop() {
		ReadPDF(pdf)
	}
}
