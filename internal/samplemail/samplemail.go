// Package samplemail builds the messages that the content benchmarks
// share: a 10 KB text+HTML newsletter and a message with a base64 PDF
// attachment of a given size.
package samplemail

import "strings"

// News10KB is a multipart/alternative newsletter of about 10 KB: text and
// HTML with 40 links and 40 images.
func News10KB() []byte {
	var text, html strings.Builder
	for text.Len() < 4000 {
		text.WriteString("Our weekly news: the shop opens a new branch, see https://shop.example.org/news/item?id=42 for details.\r\n")
	}
	html.WriteString("<html><head><style>p{margin:0}</style></head><body>")
	for html.Len() < 5000 {
		html.WriteString(`<p>Our weekly news: the shop opens a new branch, <a href="https://shop.example.org/news/item?id=42">read more</a>.</p>` +
			`<img src="https://img.example.org/logo.png" width="120" height="40" alt="logo">` + "\r\n")
	}
	html.WriteString("</body></html>\r\n")
	return []byte("From: News <news@example.org>\r\nTo: bob@example.net\r\nSubject: =?utf-8?q?Weekly_news_=E2=80=94_caf=C3=A9?=\r\n" +
		"Message-ID: <1@example.org>\r\nDate: Thu, 26 Nov 2026 12:00:00 +0000\r\n" +
		"MIME-Version: 1.0\r\nContent-Type: multipart/alternative; boundary=\"alt\"\r\n\r\n" +
		"--alt\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n" + text.String() +
		"--alt\r\nContent-Type: text/html; charset=utf-8\r\n\r\n" + html.String() + "--alt--\r\n")
}

// Attachment is a text message with a base64 PDF attachment, about size
// bytes in all.
func Attachment(size int) []byte {
	var b strings.Builder
	b.Grow(size + 1024)
	b.WriteString("From: a@example.org\r\nTo: b@example.net\r\nSubject: report\r\nMIME-Version: 1.0\r\n" +
		"Content-Type: multipart/mixed; boundary=\"mix\"\r\n\r\n--mix\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n" +
		strings.Repeat("Please find the report attached, see https://example.org/report.\r\n", 20) +
		"--mix\r\nContent-Type: application/pdf\r\nContent-Disposition: attachment; filename=\"report.pdf\"\r\n" +
		"Content-Transfer-Encoding: base64\r\n\r\n")
	line := "JVBERi0xLjQKJcfsj6IKNSAwIG9iago8PC9MZW5ndGggNiAwIFIvRmlsdGVyIC9GbGF0ZURlY29k\r\n"
	for b.Len() < size {
		b.WriteString(line)
	}
	b.WriteString("--mix--\r\n")
	return []byte(b.String())
}
