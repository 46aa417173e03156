package content

import (
	"archive/zip"
	"bytes"
	"compress/gzip"
	"encoding/base64"
	"fmt"
	"runtime"
	"slices"
	"strings"
	"testing"
)

// attach builds a multipart/mixed message with a text part and one base64
// attachment.
func attach(name, ctype string, data []byte) string {
	var b strings.Builder
	b.WriteString("From: a@example.org\r\nSubject: files\r\nMIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=\"m\"\r\n\r\n" +
		"--m\r\nContent-Type: text/plain; charset=utf-8\r\n\r\nsee attached\r\n" +
		"--m\r\nContent-Type: " + ctype + "; name=\"" + name + "\"\r\nContent-Disposition: attachment; filename=\"" + name + "\"\r\n" +
		"Content-Transfer-Encoding: base64\r\n\r\n")
	enc := base64.StdEncoding.EncodeToString(data)
	for len(enc) > 76 {
		b.WriteString(enc[:76] + "\r\n")
		enc = enc[76:]
	}
	b.WriteString(enc + "\r\n--m--\r\n")
	return b.String()
}

type zipEntry struct {
	name      string
	data      []byte
	encrypted bool
}

func makeZip(t testing.TB, entries ...zipEntry) []byte {
	var buf bytes.Buffer
	w := zip.NewWriter(&buf)
	for _, e := range entries {
		h := &zip.FileHeader{Name: e.name, Method: zip.Deflate}
		if e.encrypted {
			h.Flags |= 1
		}
		f, err := w.CreateHeader(h)
		if err != nil {
			t.Fatal(err)
		}
		f.Write(e.data)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

func symbols(fs []Finding) []string {
	var out []string
	for _, f := range fs {
		out = append(out, f.Symbol)
	}
	slices.Sort(out)
	return out
}

func finding(fs []Finding, sym string) *Finding {
	for i := range fs {
		if fs[i].Symbol == sym {
			return &fs[i]
		}
	}
	return nil
}

var mz = []byte("MZ\x90\x00\x03\x00\x00\x00\x04\x00\x00\x00\xff\xff\x00\x00")

func TestArchives(t *testing.T) {
	inner := makeZip(t, zipEntry{name: "payload.exe", data: mz})
	tests := []struct {
		name    string
		msg     string
		want    []string // symbols that must be there
		notWant []string
		opt     map[string]string // symbol → an option it must carry
	}{
		{"exe in zip", attach("invoice.zip", "application/zip", makeZip(t, zipEntry{name: "invoice.exe", data: mz})),
			[]string{SymExecutable, SymBadExtension}, []string{SymArchiveInArchive}, map[string]string{SymExecutable: "invoice.exe"}},
		{"invoice.pdf.zip holding an exe", attach("invoice.pdf.zip", "application/zip", makeZip(t, zipEntry{name: "invoice.exe", data: mz})),
			[]string{SymDoubleBadExtension, SymExecutable}, nil, map[string]string{SymDoubleBadExtension: "pdf!=exe"}},
		{"encrypted zip", attach("secret.zip", "application/zip", makeZip(t, zipEntry{name: "a.doc", data: []byte("x"), encrypted: true})),
			[]string{SymEncryptedArchive}, []string{SymExecutable}, nil},
		{"zip in zip, exe inside", attach("a.zip", "application/zip", makeZip(t, zipEntry{name: "b.zip", data: inner})),
			[]string{SymArchiveInArchive, SymExecutable}, nil, map[string]string{SymExecutable: "payload.exe"}},
		{"documents in zip are fine", attach("docs.zip", "application/zip", makeZip(t, zipEntry{name: "a.pdf", data: []byte("%PDF-1.4")}, zipEntry{name: "b.txt", data: []byte("x")})),
			nil, []string{SymExecutable, SymBadExtension, SymDoubleBadExtension, SymEncryptedArchive, SymArchiveInArchive}, nil},
		{"docx is not an archive", attach("report.docx", "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
			makeZip(t, zipEntry{name: "word/document.xml", data: []byte("<w/>")}, zipEntry{name: "x.zip", data: inner})),
			nil, []string{SymArchiveInArchive, SymExecutable}, nil},
		{"rar 5 with an exe", attach("files.rar", "application/x-rar", rar5(t, "setup.exe", false)),
			[]string{SymExecutable}, []string{SymEncryptedArchive}, map[string]string{SymExecutable: "setup.exe"}},
		{"rar 5 encrypted entry", attach("files.rar", "application/x-rar", rar5(t, "notes.txt", true)),
			[]string{SymEncryptedArchive}, nil, nil},
		{"rar 4 split with an exe", attach("files.part.001", "application/octet-stream", rar4(t, "run.exe")),
			[]string{SymExeInGenSplitRar, SymExecutable}, nil, nil},
		{"7z with an LZMA header holding an exe", attach("x.7z", "application/x-7z-compressed", lzma7z(t, header7z([]entry7z{{name: "scan.pdf.exe"}}, false))),
			[]string{SymExecutable, SymDoubleBadExtension}, []string{SymEncryptedArchive}, map[string]string{SymExecutable: "scan.pdf.exe"}},
		{"zip inside a 7z", attach("x.7z", "application/x-7z-compressed", lzma7z(t, header7z([]entry7z{{name: "docs.zip"}}, false))),
			[]string{SymArchiveInArchive}, []string{SymEncryptedArchive}, map[string]string{SymArchiveInArchive: "zip"}},
		{"7z with an unreadable header", attach("x.7z", "application/x-7z-compressed", sevenZ(0x17, nil)),
			[]string{SymEncryptedArchive}, nil, map[string]string{SymEncryptedArchive: "compressed header"}},
		{"7z encrypted header", attach("x.7z", "application/x-7z-compressed", aes7z()),
			[]string{SymEncryptedArchive}, nil, map[string]string{SymEncryptedArchive: "encrypted header"}},
		{"rar 4 unicode name of an exe", attach("a.rar", "application/x-rar", rar4Archive(0, rar4Entry{name: rar4Name("счёт.exe"), unicode: true})),
			[]string{SymExecutable}, nil, map[string]string{SymExecutable: "счёт.exe"}},
		{"gzip of a script", attach("a.gz", "application/gzip", gz(t, "run.vbs", []byte("x"))),
			[]string{SymExecutable}, nil, map[string]string{SymExecutable: "run.vbs"}},
		{"tar.gz with a script", attach("backup.tar.gz", "application/gzip", tgz(t, "run.js")),
			[]string{SymExecutable}, nil, map[string]string{SymExecutable: "run.js"}},
		{"iso image", attach("order.iso", "application/octet-stream", isoImage()),
			[]string{SymBadExtension, SymExecutable}, nil, nil},
		{"lnk named as jpg", attach("photo.jpg", "image/jpeg", []byte("L\x00\x00\x00\x01\x14\x02\x00\x00\x00\x00\x00")),
			[]string{SymBadExtension, SymExecutable, SymBadAttachment}, nil, map[string]string{SymBadExtension: "lnk"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			fs := Analyze(parse(tt.msg))
			got := symbols(fs)
			for _, w := range tt.want {
				if !slices.Contains(got, w) {
					t.Errorf("%s missing from %v", w, got)
				}
			}
			for _, w := range tt.notWant {
				if slices.Contains(got, w) {
					t.Errorf("%s unexpected in %v", w, formatFindings(fs))
				}
			}
			for sym, opt := range tt.opt {
				f := finding(fs, sym)
				if f == nil || !slices.Contains(f.Options, opt) {
					t.Errorf("%s: want option %q, got %+v", sym, opt, f)
				}
			}
		})
	}
}

// rar5 builds a RAR 5 archive of one file entry (headers only).
func rar5(t testing.TB, name string, encrypted bool) []byte {
	vint := func(v uint64) []byte {
		var b []byte
		for {
			c := byte(v & 0x7f)
			v >>= 7
			if v != 0 {
				b = append(b, c|0x80)
			} else {
				return append(b, c)
			}
		}
	}
	header := func(typ uint64, flags uint64, body, extra []byte) []byte {
		var h []byte
		h = append(h, vint(typ)...)
		if len(extra) > 0 {
			flags |= 1
		}
		h = append(h, vint(flags)...)
		if len(extra) > 0 {
			h = append(h, vint(uint64(len(extra)))...)
		}
		h = append(h, body...)
		h = append(h, extra...)
		out := []byte{0, 0, 0, 0} // CRC32, not checked
		out = append(out, vint(uint64(len(h)))...)
		return append(out, h...)
	}
	var file []byte
	file = append(file, vint(0)...)  // file flags
	file = append(file, vint(10)...) // unpacked size
	file = append(file, vint(0)...)  // attributes
	file = append(file, vint(0)...)  // compression
	file = append(file, vint(2)...)  // host OS
	file = append(file, vint(uint64(len(name)))...)
	file = append(file, name...)
	var extra []byte
	if encrypted {
		rec := append(vint(1), 0, 0) // type 1 (encryption), version, flags
		extra = append(vint(uint64(len(rec))), rec...)
	}
	out := []byte("Rar!\x1a\x07\x01\x00")
	out = append(out, header(1, 0, vint(0), nil)...) // main header
	out = append(out, header(2, 0, file, extra)...)
	out = append(out, header(5, 0, vint(0), nil)...)
	return out
}

// rar4 builds a RAR 4 archive of one file entry.
func rar4(t testing.TB, name string) []byte {
	out := []byte("Rar!\x1a\x07\x00")
	out = append(out, 0, 0, 0x73, 0, 0, 13, 0, 0, 0, 0, 0, 0, 0) // main header, 13 bytes
	h := make([]byte, 32+len(name))
	h[2] = 0x74
	flags := uint16(0x8000)
	h[3], h[4] = byte(flags), byte(flags>>8)
	h[5], h[6] = byte(len(h)), byte(len(h)>>8)
	// pack size 0 at 7, unpacked size at 11
	h[11] = 10
	h[26], h[27] = byte(len(name)), 0
	copy(h[32:], name)
	out = append(out, h...)
	return append(out, 0, 0, 0x7b, 0, 0, 7, 0)
}

// sevenZ builds a 7z signature header pointing at a next header that
// starts with id and contains extra.
func sevenZ(id byte, extra []byte) []byte {
	next := append([]byte{id, 0x06, 0x00}, extra...)
	b := make([]byte, 32)
	copy(b, "7z\xbc\xaf\x27\x1c\x00\x04")
	// next header offset 0, size len(next)
	b[20] = byte(len(next))
	return append(b, next...)
}

func tgz(t testing.TB, name string) []byte {
	var tb bytes.Buffer
	hdr := make([]byte, 512)
	copy(hdr, name)
	copy(hdr[100:], "0000644\x00")
	copy(hdr[108:], "0000000\x00")
	copy(hdr[116:], "0000000\x00")
	copy(hdr[124:], "00000000004\x00")
	copy(hdr[136:], "00000000000\x00")
	hdr[156] = '0'
	copy(hdr[257:], "ustar\x0000")
	copy(hdr[148:], "        ")
	sum := 0
	for _, c := range hdr {
		sum += int(c)
	}
	copy(hdr[148:], fmt.Sprintf("%06o\x00 ", sum))
	tb.Write(hdr)
	body := make([]byte, 512)
	copy(body, "x=1;")
	tb.Write(body)
	tb.Write(make([]byte, 1024))
	return gz(t, "backup.tar", tb.Bytes())
}

func isoImage() []byte {
	b := make([]byte, 0x8001+5+10)
	copy(b[0x8001:], "CD001")
	return b
}

// The hostile messages of the issue: each is bounded, says so, and does not
// blow up memory.
func TestHostile(t *testing.T) {
	t.Run("10000 parts", func(t *testing.T) {
		var b strings.Builder
		b.WriteString("Content-Type: multipart/mixed; boundary=x\r\n\r\n")
		for i := range 10000 {
			fmt.Fprintf(&b, "--x\r\nContent-Type: application/octet-stream; name=\"f%d.bin\"\r\n\r\ndata\r\n", i)
		}
		b.WriteString("--x--\r\n")
		c := parse(b.String())
		if len(c.MIME.Parts) > DefaultLimits().MIME.MaxParts || !slices.Contains(c.Exceeded, "parts") {
			t.Fatalf("%d parts, exceeded %v", len(c.MIME.Parts), c.Exceeded)
		}
		if f := finding(Analyze(c), SymMIMELimit); f == nil || !slices.Contains(f.Options, "parts") {
			t.Errorf("MIME_LIMIT(parts) missing: %+v", f)
		}
	})
	t.Run("100 nesting levels", func(t *testing.T) {
		var b strings.Builder
		for i := range 100 {
			fmt.Fprintf(&b, "Content-Type: multipart/mixed; boundary=b%d\r\n\r\n--b%d\r\n", i, i)
		}
		b.WriteString("Content-Type: text/html\r\n\r\n<a href=\"http://deep.example/\">x</a>\r\n")
		for i := 99; i >= 0; i-- {
			fmt.Fprintf(&b, "--b%d--\r\n", i)
		}
		c := parse(b.String())
		if f := finding(Analyze(c), SymMIMELimit); f == nil || !slices.Contains(f.Options, "depth") {
			t.Errorf("MIME_LIMIT(depth) missing: %+v", f)
		}
	})
	t.Run("20 MB single line", func(t *testing.T) {
		line := strings.Repeat("a", 20<<20)
		for _, ct := range []string{"text/plain", "text/html"} {
			msg := "Content-Type: " + ct + "\r\n\r\n" + line[:10] + " http://x.example/ " + line
			c := parse(msg)
			if !c.Texts[0].Truncated || !slices.Contains(c.Exceeded, ExceededText) {
				t.Errorf("%s: not truncated: exceeded %v", ct, c.Exceeded)
			}
			if len(c.URLs) != 1 {
				t.Errorf("%s: %d URLs", ct, len(c.URLs))
			}
			if f := finding(Analyze(c), SymContentLimit); f == nil {
				t.Errorf("%s: CONTENT_LIMIT missing", ct)
			}
		}
	})
	t.Run("zip bomb", func(t *testing.T) {
		// 32 MB of zeros deflate to 32 KB; named .zip, the opener would
		// inflate it to look inside, but it is past the inflate budget.
		zeros := make([]byte, 32<<20)
		layer := makeZip(t, zipEntry{name: "zeros.zip", data: zeros})
		nested := makeZip(t, zipEntry{name: "bomb.zip", data: layer}, zipEntry{name: "bomb2.zip", data: layer})
		outer := makeZip(t, zipEntry{name: "level.zip", data: layer}, zipEntry{name: "nested.zip", data: nested})
		msg := attach("bomb.zip", "application/zip", outer)
		var before, after runtime.MemStats
		runtime.GC()
		runtime.ReadMemStats(&before)
		c := parse(msg)
		fs := Analyze(c)
		runtime.ReadMemStats(&after)
		alloc := after.TotalAlloc - before.TotalAlloc
		if limit := uint64(DefaultLimits().MaxInflate) + 20*uint64(len(msg)); alloc > limit {
			t.Errorf("parsing a %d-byte zip bomb allocated %d bytes (bound %d)", len(msg), alloc, limit)
		}
		if !slices.Contains(c.Exceeded, ExceededInflate) {
			t.Errorf("inflate bound not reached: %v", c.Exceeded)
		}
		if !slices.Contains(symbols(fs), SymArchiveInArchive) {
			t.Errorf("archive in archive not found: %v", symbols(fs))
		}
		t.Logf("zip bomb: message %d bytes, allocated %d bytes, exceeded %v", len(msg), alloc, c.Exceeded)
	})
	t.Run("many URLs", func(t *testing.T) {
		var b strings.Builder
		for i := range 5000 {
			fmt.Fprintf(&b, "http://u%d.example/ http://same.example/ ", i)
		}
		msg := "Content-Type: text/plain\r\n\r\n" + b.String()
		c := parse(msg)
		if len(c.URLs) != DefaultLimits().MaxURLs || !slices.Contains(c.Exceeded, ExceededURLs) {
			t.Errorf("%d URLs, exceeded %v", len(c.URLs), c.Exceeded)
		}
		// A URL written again is counted, not listed again.
		if u := c.URLs[1]; u.Host != "same.example" || u.Count < 500 {
			t.Errorf("second URL %s counted %d times", u.Host, u.Count)
		}
	})
	t.Run("deep HTML", func(t *testing.T) {
		msg := "Content-Type: text/html\r\n\r\n" + strings.Repeat("<div><span style=\"display:none\">", 50000) + "x"
		c := parse(msg)
		if c.Texts[0].HTML.Tags != 100000 || c.Texts[0].HTML.HiddenText != 1 {
			t.Errorf("tags %d", c.Texts[0].HTML.Tags)
		}
	})
	t.Run("malformed charsets", func(t *testing.T) {
		for _, cs := range []string{"x-unknown", "utf-7", "\"utf-8", "iso-2022-jp", "utf-16", "gb18030", strings.Repeat("z", 1000)} {
			msg := "Content-Type: text/plain; charset=" + cs + "\r\n\r\n\x1b$B\xff\xfe\x00\x80abc\r\n"
			c := parse(msg)
			if len(c.Texts) != 1 || !strings.Contains(c.Texts[0].Text, "abc") && cs != "utf-16" && cs != "iso-2022-jp" {
				t.Errorf("charset %q: text %q", cs, c.Texts[0].Text)
			}
		}
	})
}

func gz(t testing.TB, name string, data []byte) []byte {
	var b bytes.Buffer
	w := gzip.NewWriter(&b)
	w.Name = name
	w.Write(data)
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}
