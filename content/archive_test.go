package content

import (
	"archive/tar"
	"bytes"
	"encoding/base64"
	"encoding/binary"
	"fmt"
	"runtime"
	"slices"
	"strings"
	"testing"
	"time"
	"unicode/utf16"
)

// The archive listers, each on archives the test writes: 7z by the
// layout of 7-Zip's 7zFormat.txt (headers compressed by Debian's xz),
// RAR 4 and 5 by their block layouts (headers only: listing never reads
// the data), gzip and tar by the standard library's writers.

// num7z writes a 7z NUMBER.
func num7z(v uint64) []byte {
	switch {
	case v < 0x80:
		return []byte{byte(v)}
	case v < 0x4000:
		return []byte{0x80 | byte(v>>8), byte(v)}
	}
	b := []byte{0xff, 0, 0, 0, 0, 0, 0, 0, 0}
	binary.LittleEndian.PutUint64(b[1:], v)
	return b
}

func cat(parts ...[]byte) []byte { return bytes.Join(parts, nil) }

type entry7z struct {
	name string
	dir  bool
}

// header7z is a plain 7z header (kHeader …) for files compressed in one
// LZMA folder (coder id 03 01 01), optionally AES-encrypted first.
func header7z(entries []entry7z, aes bool) []byte {
	var streams []entry7z
	for _, e := range entries {
		if !e.dir {
			streams = append(streams, e)
		}
	}
	lzma := cat([]byte{0x23, 0x03, 0x01, 0x01, 0x05}, []byte{0x5d, 0, 0, 1, 0})
	folder := cat([]byte{0x01}, lzma) // one coder
	unpack := cat(num7z(uint64(100 * len(streams))))
	if aes {
		folder = cat([]byte{0x02}, []byte{0x24, 0x06, 0xf1, 0x07, 0x01, 0x02, 0x00, 0x00}, lzma, []byte{0x01, 0x00}) // bind pair
		unpack = cat(num7z(uint64(100*len(streams)+16)), unpack)
	}
	var sub []byte
	sub = append(sub, k7zNumUnpackStream)
	sub = append(sub, num7z(uint64(len(streams)))...)
	if len(streams) > 1 {
		sub = append(sub, k7zSize)
		for range len(streams) - 1 {
			sub = append(sub, num7z(100)...)
		}
	}
	sub = append(sub, k7zCRC, 1)
	sub = append(sub, make([]byte, 4*len(streams))...)
	sub = append(sub, k7zEnd)
	main := cat([]byte{k7zMainStreams, k7zPackInfo, 0, 1, k7zSize, 50, k7zEnd,
		k7zUnpackInfo, k7zFolder, 1, 0}, folder, []byte{k7zCodersUnpack}, unpack, []byte{k7zEnd},
		[]byte{k7zSubStreams}, sub, []byte{k7zEnd})
	if len(streams) == 0 {
		main = nil
	}
	// FilesInfo: empty streams (directories), names.
	bits := make([]byte, (len(entries)+7)/8)
	for i, e := range entries {
		if e.dir {
			bits[i/8] |= 0x80 >> (i % 8)
		}
	}
	var names []byte
	names = append(names, 0) // not external
	for _, e := range entries {
		for _, c := range utf16.Encode([]rune(e.name)) {
			names = binary.LittleEndian.AppendUint16(names, c)
		}
		names = append(names, 0, 0)
	}
	files := cat([]byte{k7zFilesInfo}, num7z(uint64(len(entries))),
		[]byte{k7zEmptyStream}, num7z(uint64(len(bits))), bits,
		[]byte{0x19, 2, 0, 0}, // kDummy, skipped
		[]byte{k7zName}, num7z(uint64(len(names))), names, []byte{k7zEnd})
	return cat([]byte{k7zHeader}, main, files, []byte{k7zEnd})
}

// archive7z puts packed data and a next header after the signature
// header.
func archive7z(packed, next []byte) []byte {
	b := make([]byte, 32)
	copy(b, "7z\xbc\xaf\x27\x1c\x00\x04")
	binary.LittleEndian.PutUint64(b[12:], uint64(len(packed)))
	binary.LittleEndian.PutUint64(b[20:], uint64(len(next)))
	return cat(b, packed, next)
}

// encoded7z is a kEncodedHeader for a header packed at offset 0 by the
// given coder folder.
func encoded7z(folder []byte, packSize int, unpack ...uint64) []byte {
	var us []byte
	for _, u := range unpack {
		us = append(us, num7z(u)...)
	}
	return cat([]byte{k7zEncodedHeader, k7zPackInfo, 0, 1, k7zSize}, num7z(uint64(packSize)),
		[]byte{k7zEnd, k7zUnpackInfo, k7zFolder, 1, 0}, folder, []byte{k7zCodersUnpack}, us,
		[]byte{k7zCRC, 1, 0, 0, 0, 0, k7zEnd, k7zEnd})
}

// lzma7z is 7-Zip's default: the header compressed with LZMA.
func lzma7z(t testing.TB, header []byte) []byte {
	props, stream := xzLZMA(t, header)
	folder := cat([]byte{1, 0x23, 0x03, 0x01, 0x01, 0x05}, props)
	return archive7z(stream, encoded7z(folder, len(stream), uint64(len(header))))
}

// aes7z is what 7z -mhe writes: the header packed by AES-256 then LZMA
// (two coders, one bind pair); the packed bytes are not readable.
func aes7z() []byte {
	folder := cat([]byte{2, 0x24, 0x06, 0xf1, 0x07, 0x01, 0x02, 0, 0}, []byte{0x23, 0x03, 0x01, 0x01, 0x05, 0x5d, 0, 0, 1, 0}, []byte{1, 0})
	return archive7z(make([]byte, 48), encoded7z(folder, 48, 48, 40))
}

type rar4Entry struct {
	name      []byte // as stored
	unicode   bool
	encrypted bool
	dir       bool
}

func rar4Archive(mainFlags uint16, entries ...rar4Entry) []byte {
	out := []byte("Rar!\x1a\x07\x00")
	out = append(out, 0, 0, 0x73, byte(mainFlags), byte(mainFlags>>8), 13, 0, 0, 0, 0, 0, 0, 0)
	for _, e := range entries {
		h := make([]byte, 32+len(e.name))
		h[2] = 0x74
		flags := uint16(0x8000)
		if e.unicode {
			flags |= 0x200
		}
		if e.encrypted {
			flags |= 0x04
		}
		if e.dir {
			flags |= 0xe0
		}
		binary.LittleEndian.PutUint16(h[3:], flags)
		binary.LittleEndian.PutUint16(h[5:], uint16(len(h)))
		binary.LittleEndian.PutUint32(h[7:], 3) // packed size: data follows
		binary.LittleEndian.PutUint32(h[11:], 10)
		binary.LittleEndian.PutUint16(h[26:], uint16(len(e.name)))
		copy(h[32:], e.name)
		out = append(out, h...)
		out = append(out, "abc"...)
	}
	return append(out, 0, 0, 0x7b, 0, 0, 7, 0)
}

// rar4Name encodes a unicode name as WinRAR does: the ASCII fallback,
// NUL, the high byte, then flag bytes choosing per character between
// "low byte", "low byte + high byte" and "both bytes".
func rar4Name(name string) []byte {
	u := utf16.Encode([]rune(name))
	var plain []byte
	for _, c := range u {
		if c < 0x80 {
			plain = append(plain, byte(c))
		} else {
			plain = append(plain, '_')
		}
	}
	high := byte(0)
	for _, c := range u {
		if c >= 0x100 {
			high = byte(c >> 8)
			break
		}
	}
	enc := []byte{high}
	for i := 0; i < len(u); i += 4 {
		var flags byte
		var data []byte
		for j := range 4 {
			var mode byte
			if i+j < len(u) {
				c := u[i+j]
				switch {
				case c < 0x100:
					data = append(data, byte(c))
				case byte(c>>8) == high:
					mode = 1
					data = append(data, byte(c))
				default:
					mode = 2
					data = append(data, byte(c), byte(c>>8))
				}
			}
			flags |= mode << (6 - 2*j)
		}
		enc = append(enc, flags)
		enc = append(enc, data...)
	}
	return cat(plain, []byte{0}, enc)
}

func tarOf(t testing.TB, files ...string) []byte {
	var b bytes.Buffer
	w := tar.NewWriter(&b)
	for _, f := range files {
		h := &tar.Header{Name: f, Mode: 0o644, Size: 4, Typeflag: tar.TypeReg}
		if strings.HasSuffix(f, "/") {
			h.Typeflag, h.Size = tar.TypeDir, 0
		}
		if err := w.WriteHeader(h); err != nil {
			t.Fatal(err)
		}
		if h.Size > 0 {
			w.Write([]byte("data"))
		}
	}
	w.Close()
	return b.Bytes()
}

func list(format string, data []byte, lim Limits) *Archive {
	budget := lim.MaxInflate
	o := &opener{lim: lim, inflate: &budget, c: &Message{}}
	return o.open(format, data, 0)
}

func TestArchiveListing(t *testing.T) {
	docs := []entry7z{{name: "docs", dir: true}, {name: "docs/invoice.pdf"}, {name: "docs/счёт.exe"}}
	plainHeader := header7z(docs, false)
	copyFolder := []byte{1, 0x01, 0x00} // one coder: Copy
	tests := []struct {
		name      string
		format    string
		data      []byte
		files     []string // "name" or "name/" for a directory, "*name" encrypted
		hidden    bool
		encrypted bool
		problem   string // a substring of Problem
	}{
		{"7z plain header", Type7z, archive7z(nil, plainHeader), []string{"docs/", "docs/invoice.pdf", "docs/счёт.exe"}, false, false, ""},
		{"7z LZMA header (7-Zip's default)", Type7z, lzma7z(t, plainHeader), []string{"docs/", "docs/invoice.pdf", "docs/счёт.exe"}, false, false, ""},
		{"7z copy-coded header", Type7z, archive7z(plainHeader, encoded7z(copyFolder, len(plainHeader), uint64(len(plainHeader)))),
			[]string{"docs/", "docs/invoice.pdf", "docs/счёт.exe"}, false, false, ""},
		{"7z encrypted entries, names in clear", Type7z, lzma7z(t, header7z([]entry7z{{name: "a.scr"}}, true)), []string{"*a.scr"}, false, true, ""},
		{"7z encrypted header (-mhe)", Type7z, aes7z(),
			nil, true, true, ""},
		{"7z corrupt LZMA header", Type7z, archive7z(bytes.Repeat([]byte{0x5a}, 30), encoded7z(cat([]byte{1, 0x23, 0x03, 0x01, 0x01, 0x05}, []byte{0x5d, 0, 0, 1, 0}), 30, 500)),
			nil, true, false, "corrupt compressed header"},
		{"7z LZMA header of size 0", Type7z, archive7z(bytes.Repeat([]byte{0x5a}, 30), encoded7z(cat([]byte{1, 0x23, 0x03, 0x01, 0x01, 0x05}, []byte{0x5d, 0, 0, 1, 0}), 30, 0)),
			nil, true, false, "empty encoded header"},
		{"7z copy-coded header of size 0", Type7z, archive7z(plainHeader, encoded7z(copyFolder, len(plainHeader), 0)), nil, true, false, "empty encoded header"},
		{"7z header larger than the bound", Type7z, archive7z(make([]byte, 10), encoded7z(copyFolder, 10, max7zHeader+1)), nil, true, false, "too large"},
		{"7z header outside the data", Type7z, archive7z(nil, plainHeader)[:40], nil, true, false, "outside"},
		{"7z empty archive", Type7z, archive7z(nil, nil), nil, false, false, ""},
		{"rar 4", TypeRar, rar4Archive(0, rar4Entry{name: []byte("docs"), dir: true}, rar4Entry{name: []byte(`docs\run.exe`)}), []string{"docs/", `docs\run.exe`}, false, false, ""},
		{"rar 4 unicode names", TypeRar, rar4Archive(0, rar4Entry{name: rar4Name("счёт.exe"), unicode: true}, rar4Entry{name: rar4Name("日本語.pdf"), unicode: true},
			rar4Entry{name: rar4Name("café.js"), unicode: true}), []string{"счёт.exe", "日本語.pdf", "café.js"}, false, false, ""},
		{"rar 4 unicode name, run of plain bytes", TypeRar, rar4Archive(0, rar4Entry{name: []byte("abc.exe\x00\x00\xc0\x05"), unicode: true}), []string{"abc.exe"}, false, false, ""},
		{"rar 4 encrypted entry", TypeRar, rar4Archive(0, rar4Entry{name: []byte("a.txt"), encrypted: true}), []string{"*a.txt"}, false, true, ""},
		{"rar 4 encrypted headers", TypeRar, rar4Archive(0x80), nil, true, true, ""},
		{"rar 4 truncated", TypeRar, rar4Archive(0, rar4Entry{name: []byte("a.exe")})[:30], nil, false, false, "truncated"},
		{"rar 5", TypeRar, rar5(t, "setup.exe", false), []string{"setup.exe"}, false, false, ""},
		{"rar 5 encrypted entry", TypeRar, rar5(t, "notes.txt", true), []string{"*notes.txt"}, false, true, ""},
		{"rar unknown signature", TypeRar, []byte("Rar!\x1a\x07\x02\x00"), nil, true, false, "unknown signature"},
		{"gzip member name", TypeGzip, gz(t, "report.pdf.exe", mz), []string{"report.pdf.exe"}, false, false, ""},
		{"gzip without a name", TypeGzip, gz(t, "", []byte("x")), []string{"(unnamed)"}, false, false, ""},
		{"gzip broken", TypeGzip, []byte("\x1f\x8b\x09"), nil, false, false, "gzip"},
		{"tar", TypeTar, tarOf(t, "bin/", "bin/run.sh", "readme.txt"), []string{"bin/", "bin/run.sh", "readme.txt"}, false, false, ""},
		{"tar broken", TypeTar, bytes.Repeat([]byte("x"), 600), nil, false, false, "tar"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			a := list(tt.format, tt.data, DefaultLimits())
			var got []string
			for _, f := range a.Files {
				n := f.Name
				if f.Dir && !strings.HasSuffix(n, "/") {
					n += "/"
				}
				if f.Encrypted {
					n = "*" + n
				}
				got = append(got, n)
			}
			if !slices.Equal(got, tt.files) {
				t.Errorf("files %q, want %q", got, tt.files)
			}
			if a.NamesHidden != tt.hidden || a.Encrypted != tt.encrypted {
				t.Errorf("hidden %v encrypted %v, want %v %v (problem %q)", a.NamesHidden, a.Encrypted, tt.hidden, tt.encrypted, a.Problem)
			}
			if tt.problem == "" && a.Problem != "" || !strings.Contains(a.Problem, tt.problem) {
				t.Errorf("problem %q, want %q", a.Problem, tt.problem)
			}
		})
	}
}

// Each lister stops at MaxArchiveFiles and says so.
func TestArchiveListingBound(t *testing.T) {
	var e7 []entry7z
	var r4 []rar4Entry
	var tf []string
	for i := range 50 {
		n := "f" + strings.Repeat("x", i%7) + ".txt"
		e7 = append(e7, entry7z{name: n})
		r4 = append(r4, rar4Entry{name: []byte(n)})
		tf = append(tf, n)
	}
	lim := DefaultLimits()
	lim.MaxArchiveFiles = 10
	for format, data := range map[string][]byte{
		Type7z: lzma7z(t, header7z(e7, false)), TypeRar: rar4Archive(0, r4...), TypeTar: tarOf(t, tf...),
	} {
		a := list(format, data, lim)
		if len(a.Files) != 10 || !a.Truncated {
			t.Errorf("%s: %d files, truncated %v", format, len(a.Files), a.Truncated)
		}
	}
}

// Many 7z attachments whose encoded headers claim 4 MiB each: the
// message's inflate budget stops the decoding (CONTENT_LIMIT), and the
// memory stays a small multiple of the budget.
func TestSevenZipHeaderBudget(t *testing.T) {
	bogus := archive7z(bytes.Repeat([]byte{0x5a}, 64), encoded7z(cat([]byte{1, 0x23, 0x03, 0x01, 0x01, 0x05}, []byte{0x5d, 0, 0, 1, 0}), 64, max7zHeader))
	var b strings.Builder
	b.WriteString("From: a@example.org\r\nSubject: files\r\nMIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=\"m\"\r\n\r\n")
	for i := range 200 {
		fmt.Fprintf(&b, "--m\r\nContent-Type: application/x-7z-compressed\r\nContent-Disposition: attachment; filename=\"%d.7z\"\r\n"+
			"Content-Transfer-Encoding: base64\r\n\r\n%s\r\n", i, base64.StdEncoding.EncodeToString(bogus))
	}
	b.WriteString("--m--\r\n")
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	c := parse(b.String())
	fs := Analyze(c)
	runtime.ReadMemStats(&after)
	if !slices.Contains(c.Exceeded, ExceededInflate) {
		t.Errorf("inflate budget not reached: %v", c.Exceeded)
	}
	if !slices.Contains(symbols(fs), SymContentLimit) {
		t.Errorf("no %s in %v", SymContentLimit, symbols(fs))
	}
	alloc := after.TotalAlloc - before.TotalAlloc
	t.Logf("200 × 7z claiming %d-byte headers: %d MB allocated", max7zHeader, alloc>>20)
	if lim := uint64(3 * DefaultLimits().MaxInflate); alloc > lim {
		t.Errorf("allocated %d bytes, more than 3× the inflate budget", alloc)
	}
}

// TestSevenZipSubstreamBomb: folders × substreams per folder is what a
// header's CRC vector counts; each factor is bounded (max7zItems) but
// their product was not, so a 53 KB header of 4096 folders with 65536
// substreams each made the lister loop 2^28 times and allocate a 256 MB
// bit vector. The total is bounded like every other count.
func TestSevenZipSubstreamBomb(t *testing.T) {
	const folders = 4096
	var fs, unpack, nums []byte
	for range folders {
		fs = append(fs, 1, 0x01, 0x00) // one coder: Copy
		unpack = append(unpack, 1)
		nums = append(nums, num7z(max7zItems)...)
	}
	main := cat([]byte{k7zMainStreams, k7zPackInfo, 0, 1, k7zSize, 1, k7zEnd,
		k7zUnpackInfo, k7zFolder}, num7z(folders), []byte{0}, fs, []byte{k7zCodersUnpack}, unpack, []byte{k7zEnd},
		[]byte{k7zSubStreams, k7zNumUnpackStream}, nums, []byte{k7zCRC, 1, k7zEnd, k7zEnd})
	data := archive7z(nil, cat([]byte{k7zHeader}, main, []byte{k7zEnd}))
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	start := time.Now()
	budget := DefaultLimits().MaxInflate
	o := &opener{lim: DefaultLimits(), inflate: &budget, c: &Message{}}
	a := o.open(Type7z, data, 0)
	took := time.Since(start)
	runtime.ReadMemStats(&after)
	alloc := after.TotalAlloc - before.TotalAlloc
	t.Logf("%d-byte header: %d KB allocated, %v, problem %q", len(data), alloc>>10, took, a.Problem)
	if alloc > 16<<20 {
		t.Errorf("listing a %d-byte 7z header allocated %d MB", len(data), alloc>>20)
	}
	if a.Problem == "" {
		t.Errorf("no problem reported for %d×%d substreams", folders, max7zItems)
	}
}

// TestRar5HugeNameLength: a RAR 5 file header whose name length is a
// 10-byte vint of 2^63 (negative as an int) passed the bounds check and
// panicked slicing the name; such a header is skipped.
func TestRar5HugeNameLength(t *testing.T) {
	body := []byte{2, 0, 0, 0, 0, 0, 0} // file header: flags, size, attributes, compression, host OS
	body = append(body, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x01)
	body = append(body, "a.exe"...)
	data := cat([]byte("Rar!\x1a\x07\x01\x00"), []byte{0, 0, 0, 0, byte(len(body))}, body)
	for _, fflags := range []byte{0, 6} { // 6: mtime and CRC fields past the header's end
		data[15] = fflags
		budget := DefaultLimits().MaxInflate
		o := &opener{lim: DefaultLimits(), inflate: &budget, c: &Message{}}
		a := o.open(TypeRar, data, 0)
		if len(a.Files) != 0 {
			t.Errorf("flags %d: files %+v from a header whose name does not fit", fflags, a.Files)
		}
	}
}

// TestRar4UnicodeAsUnrar: RAR 4 unicode names decode as unrar decodes
// them (EncodeFileName::Decode): a copy run goes on past the OEM name's
// NUL into the field (so "xyz" then a corrected copy of three bytes is
// what WinRAR extracts, not "xyz" alone: a lister that stopped at the NUL
// could be shown a name without its ".exe"), an operation short of bytes
// leaves them to the next one, and the name ends at its first NUL.
func TestRar4UnicodeAsUnrar(t *testing.T) {
	for _, c := range []struct {
		field []byte
		want  string
	}{
		// high 0, flags 00 00 00 11: x, y, z, then copy 3 bytes of the
		// field from position 3 (0x00, 0x03, 'x') each + 0x2e.
		{[]byte("ab\x00\x00\x03xyz\x81\x2e"), "xyz.1\u00a6"},
		// flags 10 11 ..: a two-byte character with one byte left does
		// not take it; the copy run then reads it as its length (0: two
		// bytes copied, "ab").
		{[]byte("abcdef\x00\x00\xb0\x00"), "ab"},
		// a corrected copy without its correction byte copies nothing:
		// the OEM name stands.
		{[]byte("abc\x00\x00\xc0\x81"), "abc"},
		// flags 00 00: 'x', NUL: the name ends at the NUL.
		{[]byte("q\x00\x00\x00x\x00"), "x"},
		{rar4Name("счёт.exe"), "счёт.exe"},
	} {
		if got := rar4Unicode(c.field); got != c.want {
			t.Errorf("rar4Unicode(%q) = %q, want %q", c.field, got, c.want)
		}
	}
}
