package content

import (
	"bytes"
	"compress/zlib"
	"fmt"
	"runtime"
	"slices"
	"strings"
	"testing"
	"time"
)

// pdfFile is a small PDF with the given catalog entries and trailer
// entries.
func pdfFile(catalog, trailer string) string {
	return "%PDF-1.7\n1 0 obj\n<< /Type /Catalog /Pages 2 0 R" + catalog + " >>\nendobj\n" +
		"2 0 obj\n<< /Type /Pages /Kids [] /Count 0 >>\nendobj\n" +
		"trailer\n<< /Size 3 /Root 1 0 R" + trailer + " >>\n%%EOF\n"
}

// zlibOf compresses b as a FlateDecode stream is (RFC 1950).
func zlibOf(b []byte) []byte {
	var out bytes.Buffer
	w := zlib.NewWriter(&out)
	w.Write(b)
	w.Close()
	return out.Bytes()
}

// flateObject is object n: a FlateDecode stream of data with the extra
// dictionary entries.
func flateObject(n int, dict string, data []byte) string {
	z := zlibOf(data)
	return fmt.Sprintf("%d 0 obj\n<< /Length %d /Filter /FlateDecode%s >>\nstream\n%s\nendstream\nendobj\n", n, len(z), dict, z)
}

const objStm = " /Type /ObjStm /N 1 /First 4"

// objStmPDF is a PDF 1.5 whose catalog and the objects are in an object
// stream (§7.5.7), as Acrobat and most tools write them: nothing of
// them shows in the file uncompressed.
func objStmPDF(objects ...string) string {
	var offsets, body strings.Builder
	for i, o := range objects {
		fmt.Fprintf(&offsets, "%d %d ", i+1, body.Len())
		body.WriteString(o + "\n")
	}
	stm := offsets.String() + body.String()
	return "%PDF-1.7\n" + flateObject(10, fmt.Sprintf(" /Type /ObjStm /N %d /First %d", len(objects), offsets.Len()), []byte(stm)) +
		"trailer\n<< /Size 11 /Root 1 0 R >>\nstartxref\n0\n%%EOF\n"
}

// flags is the part of PDFInfo the table compares.
type pdfFlags struct{ Encrypted, JavaScript, OpenAction, Launch bool }

func flagsOf(p PDFInfo) pdfFlags {
	return pdfFlags{p.Encrypted, p.JavaScript, p.OpenAction, p.Launch}
}

func TestReadPDF(t *testing.T) {
	catalog := "<< /Type /Catalog /Pages 2 0 R /OpenAction 3 0 R >>"
	tests := []struct {
		name string
		pdf  string
		want pdfFlags
	}{
		{"plain", pdfFile("", ""), pdfFlags{}},
		{"encrypted", pdfFile("", " /Encrypt 5 0 R /ID [<a><b>]"), pdfFlags{Encrypted: true}},
		{"encrypted, opens with an action", pdfFile(" /OpenAction 4 0 R", " /Encrypt 5 0 R"), pdfFlags{Encrypted: true, OpenAction: true}},
		{"javascript action", pdfFile(" /OpenAction << /S /JavaScript /JS (app.alert\\(1\\)) >>", ""), pdfFlags{JavaScript: true, OpenAction: true}},
		{"/JS at the very end", "%PDF-1.4\n/JS", pdfFlags{JavaScript: true}},
		{"names that only begin the same", pdfFile(" /EncryptMetadata false /JSON 1 /OpenActions 2 /Launcher 3", ""), pdfFlags{}},
		{"launch action", pdfFile(" /OpenAction << /S /Launch /F (cmd.exe) >>", ""), pdfFlags{OpenAction: true, Launch: true}},
		{"names spelt with # escapes", pdfFile(" /Op#65nAction << /S /J#61vaScript /J#53 (x) >>", ""), pdfFlags{JavaScript: true, OpenAction: true}},
		{"# outside a name", pdfFile(" /Title (#4A#53 #4c) /X [#4A]", ""), pdfFlags{}},
		{"script in an object stream", objStmPDF(catalog, "<< /Type /Pages /Kids [] /Count 0 >>",
			"<< /Type /Action /S /JavaScript /JS (app.launchURL\\('http://x.example/'\\)) >>"), pdfFlags{JavaScript: true, OpenAction: true}},
		{"launch in an object stream", objStmPDF(catalog, "<< /Type /Pages >>", "<< /S /Launch /Win << /F (cmd.exe) /P (/c calc) >> >>"),
			pdfFlags{OpenAction: true, Launch: true}},
		{"escaped names in an object stream", objStmPDF("<< /S /J#61vaScript /JS 4 0 R >>"), pdfFlags{JavaScript: true}},
		{"stream with CRLF after the keyword", "%PDF-1.5\n" + strings.Replace(flateObject(1, objStm, []byte("<< /JS (x) >>")), "stream\n", "stream\r\n", 1), pdfFlags{JavaScript: true}},
		{"object stream type spelt with an escape", "%PDF-1.5\n" + flateObject(1, " /Type /Obj#53tm", []byte("<< /JS (x) >>")), pdfFlags{JavaScript: true}},
		{"a stream without FlateDecode is not inflated", "%PDF-1.5\n" + strings.Replace(flateObject(1, objStm, []byte("<< /JS (x) >>")), "/FlateDecode", "/LZWDecode", 1), pdfFlags{}},
		{"a stream that is not an object stream is not inflated", "%PDF-1.5\n" + flateObject(1, "", []byte("<< /JS (x) >>")), pdfFlags{}},
		{"an /Encrypt inside a stream is not the trailer's", "%PDF-1.5\n" + flateObject(1, objStm, []byte("/Encrypt 3 0 R")), pdfFlags{}},
		{"damaged zlib data", "%PDF-1.5\n1 0 obj\n<< /Type /ObjStm /Filter /FlateDecode >>\nstream\nx\x9c\xff\xff\xff\nendstream\nendobj\n", pdfFlags{}},
		{"truncated stream", "%PDF-1.5\n" + flateObject(1, objStm, []byte("<< /S /JavaScript >>"))[:75], pdfFlags{}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := flagsOf(ReadPDF([]byte(tt.pdf))); got != tt.want {
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

// TestPDFSuspicious: rspamd's pattern factor.
func TestPDFSuspicious(t *testing.T) {
	tests := []struct {
		name string
		pdf  string
		want float64
	}{
		{"plain", pdfFile("", ""), 0},
		{"netsh once", pdfFile(" /Title (netsh firewall set opmode disable)", ""), 0.5},
		{"netsh twice", pdfFile(" /A (netsh a) /B (netsh b)", ""), 1},
		{"echo once", pdfFile(" /Title (echo hello)", ""), 0},
		{"echo three times", pdfFile(" /A (echo a > x.vbs & echo b >> x.vbs & echo c)", ""), 1},
		{"legal escapes (space, #)", pdfFile(" /A#20B#23C /D#20E#20F /G#20H /I#20J /K#20L /M#20N /O#20P /Q#20R /S#20T /U#20V", ""), 0},
		{"ten escaped letters", pdfFile(" /J#61va /J#61vb /J#61vc /J#61vd /J#61ve /J#61vf /J#61vg /J#61vh /J#61vi /J#61vj", ""), 0},
		{"twelve escaped letters, far apart", pdfFile(strings.Repeat(" /J#61vaScriptCode", 12), ""), 1},
		{"a name spelt in ten escapes, close together", pdfFile(" /#4A#61#76#61#53#63#72#69#70#74", ""), 0.5},
		{"eleven, close together", pdfFile(" /#4A#61#76#61#53#63 /#4A#61#76#61#53", ""), 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := ReadPDF([]byte(tt.pdf)).Suspicious; got != tt.want {
				t.Errorf("factor %v, want %v", got, tt.want)
			}
		})
	}
}

// TestPDFStructure: the trailer and object counts behind PDF_LONG_TRAILER
// and PDF_MANY_OBJECTS.
func TestPDFStructure(t *testing.T) {
	short := pdfFile("", "")
	if p := ReadPDF([]byte(short)); p.LongTrailer != 0 || p.ManyObjects != 0 {
		t.Errorf("short file: trailer %d, %d objects, want 0, 0", p.LongTrailer, p.ManyObjects)
	}
	long := short + strings.Repeat("% padding\n", 120)
	if p := ReadPDF([]byte(long)); p.LongTrailer != len(long)-strings.LastIndex(long, "\ntrailer") {
		t.Errorf("trailer with 120 more lines: LongTrailer %d", p.LongTrailer)
	}
	// rspamd stops at an /Encrypt line: the lines after it do not count.
	enc := strings.Replace(long, "/Root 1 0 R", "/Root 1 0 R\n/Encrypt 5 0 R", 1)
	if p := ReadPDF([]byte(enc)); p.LongTrailer != 0 || !p.Encrypted {
		t.Errorf("encrypted trailer: LongTrailer %d, encrypted %v", p.LongTrailer, p.Encrypted)
	}
	// "trailer" in text is not the keyword.
	if p := ReadPDF([]byte("%PDF-1.4\n(the\ntrailer is here)" + strings.Repeat("\n", 200))); p.LongTrailer != 0 {
		t.Errorf("text 'trailer': LongTrailer %d", p.LongTrailer)
	}
	var many strings.Builder
	many.WriteString("%PDF-1.4\n")
	for i := range maxPDFObjects + 1 {
		fmt.Fprintf(&many, "%d 0 obj\n<< >>\nendobj\n", i+1)
	}
	if p := ReadPDF([]byte(many.String())); p.ManyObjects != maxPDFObjects+1 {
		t.Errorf("%d objects counted, want %d", p.ManyObjects, maxPDFObjects+1)
	}
	// As many j, fewer objects: not many.
	if p := ReadPDF([]byte(strings.ReplaceAll(many.String(), "endobj", "endobj jj"))); p.ManyObjects != maxPDFObjects+1 {
		t.Errorf("%d objects counted, want %d", p.ManyObjects, maxPDFObjects+1)
	}
	few := strings.Replace(many.String(), " 0 obj", " 0 ob", maxPDFObjects/2)
	if p := ReadPDF([]byte(few)); p.ManyObjects != 0 {
		t.Errorf("%d objects counted in a file of %d", p.ManyObjects, maxPDFObjects/2+1)
	}
	// A long trailer far from the end: found across the search windows.
	far := short + strings.Repeat("% a padding line after the trailer, of 64 bytes or so..........\n", 200)
	if p := ReadPDF([]byte(far)); p.LongTrailer != len(far)-strings.LastIndex(far, "\ntrailer") {
		t.Errorf("trailer 12 KB before the end: LongTrailer %d", p.LongTrailer)
	}
	if n := pdfObjects([]byte("12 0 obj\n 7 0 obj<< x1 0 obj 0 obj endobj 3 obj 4 0 objx")); n != 2 {
		t.Errorf("%d object headers, want 2", n)
	}
}

// TestPDFBomb: a PDF zip-bomb costs bounded memory and inflate budget.
// One stream of 64 MiB of zeros inflates maxPDFStream; 100 of them stop
// at the message's budget.
func TestPDFBomb(t *testing.T) {
	zeros := make([]byte, 64<<20)
	one := flateObject(1, objStm, zeros)
	if p := ReadPDF([]byte("%PDF-1.5\n" + one)); p.Inflated != maxPDFStream || p.Exhausted {
		t.Errorf("one bomb stream: %d bytes inflated (exhausted %v), want %d", p.Inflated, p.Exhausted, maxPDFStream)
	}
	var b strings.Builder
	b.WriteString("%PDF-1.5\n")
	for range 100 {
		b.WriteString(one)
	}
	pdf := []byte(b.String())
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	budget := int64(4 << 20)
	r := pdfReader{budget: &budget, now: time.Now}
	p := r.read(pdf)
	runtime.ReadMemStats(&after)
	alloc := after.TotalAlloc - before.TotalAlloc
	t.Logf("%d-byte PDF of 100 bomb streams: %d inflated in %d streams, %d KB allocated", len(pdf), p.Inflated, p.Streams, alloc>>10)
	if !p.Exhausted || p.Inflated != 4<<20 || budget != 0 {
		t.Errorf("exhausted %v, inflated %d, budget left %d; want the 4 MiB budget spent", p.Exhausted, p.Inflated, budget)
	}
	if alloc > 3*maxPDFStream {
		t.Errorf("allocated %d bytes, more than three times a stream's bound", alloc)
	}
	// Through Parse: the inflate bound is named (CONTENT_LIMIT).
	c := parse(attach("a.pdf", "application/pdf", pdf))
	if !slices.Contains(c.Exceeded, ExceededInflate) {
		t.Errorf("Exceeded %v, want %s", c.Exceeded, ExceededInflate)
	}
}

// TestPDFTimeout: past pdfTimeout the streams are left; PDF_TIMEOUT
// says how long it took. The clock is the test's: each reading of it
// advances 300 ms.
func TestPDFTimeout(t *testing.T) {
	var b strings.Builder
	b.WriteString("%PDF-1.5\n")
	for i := range 10 {
		b.WriteString(flateObject(i+1, objStm, []byte("<< /Type /Page >>")))
	}
	b.WriteString(flateObject(11, objStm, []byte("<< /S /JavaScript /JS (x) >>")))
	clock := time.Unix(0, 0)
	budget := DefaultLimits().MaxInflate
	r := pdfReader{budget: &budget, now: func() time.Time { clock = clock.Add(300 * time.Millisecond); return clock }}
	p := r.read([]byte(b.String()))
	if p.Timeout != 1200*time.Millisecond || p.Streams != 3 || p.JavaScript {
		t.Errorf("timeout %v after %d streams (script seen %v), want 1.2s after 3, the script unseen", p.Timeout, p.Streams, p.JavaScript)
	}
	fs := analyzePDF(t, p)
	if !slices.Contains(fs, "PDF_TIMEOUT [a.pdf:1.200]") {
		t.Errorf("findings %v", fs)
	}
}

// TestPDFFindings: the symbols and rspamd's factor from what a PDF shows.
func TestPDFFindings(t *testing.T) {
	tests := []struct {
		name string
		p    PDFInfo
		want []string
	}{
		{"nothing", PDFInfo{}, nil},
		{"encrypted", PDFInfo{Encrypted: true}, []string{"PDF_ENCRYPTED [a.pdf]"}},
		{"encrypted with an open action", PDFInfo{Encrypted: true, OpenAction: true}, []string{"PDF_ENCRYPTED [a.pdf]", "PDF_SUSPICIOUS(0.60) [a.pdf]"}},
		{"script", PDFInfo{JavaScript: true}, []string{"PDF_JAVASCRIPT [a.pdf]"}},
		{"script and netsh", PDFInfo{JavaScript: true, Suspicious: 0.5}, []string{"PDF_JAVASCRIPT [a.pdf]", "PDF_SUSPICIOUS(0.60) [a.pdf]"}},
		{"launch", PDFInfo{Launch: true}, nil},
		{"launch with a script", PDFInfo{Launch: true, JavaScript: true}, []string{"PDF_JAVASCRIPT [a.pdf]", "PDF_SUSPICIOUS(0.60) [a.pdf]"}},
		{"launch on opening", PDFInfo{Launch: true, OpenAction: true}, []string{"PDF_SUSPICIOUS [a.pdf]"}},
		{"long trailer", PDFInfo{LongTrailer: 2000}, []string{"PDF_LONG_TRAILER [a.pdf:2000]"}},
		{"many objects", PDFInfo{ManyObjects: 10001}, []string{"PDF_MANY_OBJECTS [a.pdf:10001]"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := analyzePDF(t, tt.p); !slices.Equal(got, tt.want) {
				t.Errorf("%q, want %q", got, tt.want)
			}
		})
	}
}

func analyzePDF(t *testing.T, p PDFInfo) []string {
	t.Helper()
	a := &analysis{c: &Message{}, idx: map[string]int{}}
	a.pdf(&Attachment{PDF: &p}, "a.pdf")
	var out []string
	for _, f := range a.out {
		s := f.Symbol
		if f.Mult != 1 {
			s += fmt.Sprintf("(%.2f)", f.Mult)
		}
		out = append(out, s+" ["+strings.Join(f.Options, ", ")+"]")
	}
	return out
}

// FuzzReadPDF: no panic; the inflate budget holds; a name found is in
// the input or in a stream of it.
func FuzzReadPDF(f *testing.F) {
	f.Add(pdfFile(" /OpenAction << /S /JavaScript /JS (x) >>", " /Encrypt 5 0 R"))
	f.Add("/JS")
	f.Add(objStmPDF("<< /S /Launch /F (x) >>", "<< /J#61vaScript 1 >>"))
	f.Add("%PDF-1.5\n1 0 obj\n<< /Type /ObjStm /Filter /FlateDecode >>\nstream\r\n" + string(zlibOf([]byte("/JS (x)"))) + "\nendstream\n")
	f.Fuzz(func(t *testing.T, s string) {
		budget := int64(1 << 20)
		r := pdfReader{budget: &budget, now: time.Now}
		p := r.read([]byte(s))
		if budget < 0 || p.Inflated > 1<<20 {
			t.Fatalf("budget %d left, %d inflated", budget, p.Inflated)
		}
		hidden := strings.Contains(s, "stream") || strings.Contains(s, "#")
		if p.Encrypted && !strings.Contains(s, "/Encrypt") && !strings.Contains(s, "#") ||
			p.OpenAction && !strings.Contains(s, "/OpenAction") && !hidden ||
			p.JavaScript && !strings.Contains(s, "/JS") && !strings.Contains(s, "/JavaScript") && !hidden {
			t.Fatalf("%+v from %q", p, s)
		}
		if p.Suspicious < 0 || p.Suspicious > 1 {
			t.Fatalf("factor %v", p.Suspicious)
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

// BenchmarkReadPDFStreams: a 100 KB PDF 1.5 as written today: its
// objects in one object stream (inflated), the pages' contents in 50
// FlateDecode streams of 8 KB each, compressed to about 100 KB in all
// (not inflated).
func BenchmarkReadPDFStreams(b *testing.B) {
	page := bytes.Repeat([]byte("BT /F1 12 Tf 72 712 Td (Quarterly report, page one) Tj ET\n"), 140)
	var objs []string
	for i := range 60 {
		objs = append(objs, fmt.Sprintf("<< /Type /Page /Parent 2 0 R /Contents %d 0 R /Resources << /Font << /F1 5 0 R >> >> >>", 100+i))
	}
	var s strings.Builder
	s.WriteString(objStmPDF(objs...))
	for i := 0; s.Len() < 100<<10; i++ {
		s.WriteString(flateObject(100+i, "", append(page, fmt.Sprint(i)...)))
		s.WriteString(strings.Repeat("% filler to a 2 KB object on the wire\n", 40))
	}
	pdf := []byte(s.String())
	b.SetBytes(int64(len(pdf)))
	b.ReportAllocs()
	for b.Loop() {
		if ReadPDF(pdf).Streams != 1 {
			b.Fatal("object stream not read")
		}
	}
}

// hostilePDFs are files shaped to make a PDF reader work per byte: the
// stream keyword over and over (bare, and after a dictionary's end),
// object streams without endstream, and runs of # after a slash and a
// space (in no name).
func hostilePDFs(size int) map[string][]byte {
	fill := func(p string) []byte { return bytes.Repeat([]byte(p), size/len(p)+1)[:size] }
	return map[string][]byte{
		"stream":        fill("stream"),
		"dict-stream":   fill(">stream\n"),
		"no-endstream":  fill("1 0 obj <</Type/ObjStm/Filter/FlateDecode>>stream\nxx"),
		"hash-run":      fill("/ " + strings.Repeat("#", 126)),
		"escaped-names": fill("/#41"),
	}
}

// TestPDFHostile: the hostile shapes are read to the end without a false
// finding, and a real object stream after a flood of stream keywords that
// follow no dictionary is still read (they do not count against
// maxPDFObjects).
func TestPDFHostile(t *testing.T) {
	for name, b := range hostilePDFs(1 << 20) {
		p := ReadPDF(b)
		if p.JavaScript || p.Launch || p.OpenAction || p.Encrypted || p.Streams != 0 {
			t.Errorf("%s: %+v", name, p)
		}
	}
	js := objStmPDF("<< /S /JavaScript /JS (app.alert(1)) >>")
	for _, flood := range []string{"stream ", "endstream\n", "(stream)\n"} {
		pdf := strings.Repeat(flood, 2*maxPDFObjects) + js
		if p := ReadPDF([]byte(pdf)); !p.JavaScript || p.Streams != 1 {
			t.Errorf("after %d × %q: %+v, want the object stream's /JS", 2*maxPDFObjects, flood, p)
		}
	}
	// Names after a # that is in no name are still read: the scan skips
	// to the next slash, not past it.
	for _, s := range []string{"/a b#20c /J#61vaScript 1", "#### /J#61vaScript", "/ ###/J#53 1"} {
		if p := ReadPDF([]byte(s)); !p.JavaScript {
			t.Errorf("%q: no /JavaScript found", s)
		}
	}
}

// TestPDFEndstream: the remembered endstream search answers as
// bytes.Index would, from any offset, in increasing order as streams
// asks.
func TestPDFEndstream(t *testing.T) {
	b := []byte("a stream\nxendstream b stream\nendstream\nc stream\nno end")
	var e pdfEnd
	for d := 0; d <= len(b); d++ {
		want := bytes.Index(b[d:], []byte("endstream"))
		if want >= 0 {
			want += d
		}
		if got := e.find(b, d); got != want {
			t.Fatalf("find(%d) = %d, want %d", d, got, want)
		}
	}
}

// BenchmarkReadPDFHostile: 1 MiB of each hostile shape (a 16 MiB file
// of "stream" took 14 s, of ">stream\n" 6 s and a # run 2 s before the
// bounds of streams and names).
func BenchmarkReadPDFHostile(b *testing.B) {
	for name, pdf := range hostilePDFs(1 << 20) {
		b.Run(name, func(b *testing.B) {
			b.SetBytes(int64(len(pdf)))
			for b.Loop() {
				ReadPDF(pdf)
			}
		})
	}
}
