package content

import (
	"runtime"
	"strings"
	"testing"

	"github.com/hamlet-mail/hamlet/message"
)

// message10KB is a multipart/alternative newsletter of about 10 KB: text
// and HTML with links and images.
func message10KB() []byte {
	var text, html strings.Builder
	for i := 0; text.Len() < 4000; i++ {
		text.WriteString("Our weekly news: the shop opens a new branch, see https://shop.example.org/news/item?id=42 for details.\r\n")
	}
	html.WriteString("<html><head><style>p{margin:0}</style></head><body>")
	for html.Len() < 5000 {
		html.WriteString(`<p>Our weekly news: the shop opens a new branch, <a href="https://shop.example.org/news/item?id=42">read more</a>.</p>` +
			`<img src="https://img.example.org/logo.png" width="120" height="40" alt="logo">` + "\r\n")
	}
	html.WriteString("</body></html>\r\n")
	return []byte("From: News <news@example.org>\r\nTo: bob@example.net\r\nSubject: =?utf-8?q?Weekly_news_=E2=80=94_caf=C3=A9?=\r\n" +
		"MIME-Version: 1.0\r\nContent-Type: multipart/alternative; boundary=\"alt\"\r\n\r\n" +
		"--alt\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n" + text.String() +
		"--alt\r\nContent-Type: text/html; charset=utf-8\r\n\r\n" + html.String() + "--alt--\r\n")
}

// messageAttachment is a text message with a base64 PDF attachment, about
// size bytes in all.
func messageAttachment(size int) []byte {
	var b strings.Builder
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

func benchContent(b *testing.B, raw []byte) {
	b.SetBytes(int64(len(raw)))
	b.ReportAllocs()
	for b.Loop() {
		c := Parse(message.Parse(raw), Limits{})
		Analyze(c)
	}
}

// BenchmarkContent10KB: parse and analyse a 10 KB text+HTML message.
func BenchmarkContent10KB(b *testing.B) { benchContent(b, message10KB()) }

// BenchmarkContent100KBAttachment: a 100 KB message with a PDF attachment.
func BenchmarkContent100KBAttachment(b *testing.B) { benchContent(b, messageAttachment(100<<10)) }

// BenchmarkContent50MB reports the bytes allocated to parse and analyse a
// 50 MB message (a 50 MB base64 attachment) as a multiple of its size.
func BenchmarkContent50MB(b *testing.B) {
	raw := messageAttachment(50 << 20)
	b.SetBytes(int64(len(raw)))
	var ms runtime.MemStats
	var total uint64
	for b.Loop() {
		runtime.ReadMemStats(&ms)
		before := ms.TotalAlloc
		c := Parse(message.Parse(raw), Limits{})
		Analyze(c)
		runtime.ReadMemStats(&ms)
		total += ms.TotalAlloc - before
	}
	b.ReportMetric(float64(total)/float64(b.N)/float64(len(raw)), "alloc/size")
}

// The memory of a scan is a small multiple of the message: a 50 MB
// message allocates at most twice its size (the decoded attachment, 3/4
// of its base64, is most of it).
func TestContentMemory50MB(t *testing.T) {
	if testing.Short() {
		t.Skip("50 MB message")
	}
	raw := messageAttachment(50 << 20)
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	c := Parse(message.Parse(raw), Limits{})
	fs := Analyze(c)
	runtime.ReadMemStats(&after)
	alloc := after.TotalAlloc - before.TotalAlloc
	ratio := float64(alloc) / float64(len(raw))
	t.Logf("50 MB message: %d bytes allocated, %.2f× its size, findings %v", alloc, ratio, symbols(fs))
	if ratio > 2 {
		t.Errorf("allocated %.2f× the message size", ratio)
	}
	if len(c.Attachments) != 1 || c.Attachments[0].Size < 30<<20 || c.Attachments[0].Detected != TypePDF {
		t.Errorf("attachment not decoded: %+v", c.Attachments)
	}
}
