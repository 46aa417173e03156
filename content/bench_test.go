package content

import (
	"runtime"
	"testing"

	"github.com/hamlet-mail/hamlet/internal/samplemail"
	"github.com/hamlet-mail/hamlet/message"
)

func benchContent(b *testing.B, raw []byte) {
	b.SetBytes(int64(len(raw)))
	b.ReportAllocs()
	for b.Loop() {
		c := Parse(message.Parse(raw), Limits{})
		Analyze(c)
	}
}

// BenchmarkContent10KB: parse and analyse a 10 KB text+HTML message.
func BenchmarkContent10KB(b *testing.B) { benchContent(b, samplemail.News10KB()) }

// BenchmarkContent100KBAttachment: a 100 KB message with a PDF attachment.
func BenchmarkContent100KBAttachment(b *testing.B) { benchContent(b, samplemail.Attachment(100<<10)) }

// BenchmarkContent50MB reports the bytes allocated to parse and analyse a
// 50 MB message (a 50 MB base64 attachment) as a multiple of its size.
func BenchmarkContent50MB(b *testing.B) {
	raw := samplemail.Attachment(50 << 20)
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
	raw := samplemail.Attachment(50 << 20)
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
