package content

import (
	"bytes"
	"math/rand/v2"
	"os"
	"os/exec"
	"slices"
	"strings"
	"testing"

	"github.com/hamlet-mail/hamlet/internal/sharedtest"
)

// xzRaw compresses data with Debian's xz in its raw format (no
// container) with the given filter options, e.g. "--x86", "--lzma2":
// the stream is what a 7z coder chain stores (LZMA2 writes its
// dictionary size in the 7z properties, not in the stream).
func xzRaw(t testing.TB, data []byte, filters ...string) []byte {
	t.Helper()
	xz := sharedtest.Require(t, "xz", "xz-utils")
	cmd := exec.Command(xz, append([]string{"--format=raw", "-c"}, filters...)...)
	cmd.Stdin = bytes.NewReader(data)
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("xz %v: %v", filters, err)
	}
	return out
}

// lzma2Inputs: small, compressible, incompressible (xz stores it in
// uncompressed chunks), and over 2 MiB (several LZMA chunks: an LZMA2
// chunk holds at most 2 MiB unpacked, 64 KiB packed).
func lzma2Inputs() map[string][]byte {
	rnd := rand.New(rand.NewPCG(3, 4))
	random := make([]byte, 200000)
	for i := range random {
		random[i] = byte(rnd.Uint32())
	}
	var big bytes.Buffer
	for i := 0; big.Len() < 3<<20; i++ {
		big.WriteString(strings.Repeat("record ", i%7+1))
		big.WriteByte(byte(rnd.Uint32()))
	}
	return map[string][]byte{
		"one byte": {'x'},
		"text":     []byte(strings.Repeat("The quick brown fox jumps over the lazy dog. ", 500)),
		"random":   random,
		"zeros":    make([]byte, 100000),
		"mixed":    append(append(bytes.Repeat([]byte("abcabcabd"), 3000), random[:70000]...), random[:70000]...),
		"big":      big.Bytes(),
	}
}

func TestLZMA2(t *testing.T) {
	for name, data := range lzma2Inputs() {
		t.Run(name, func(t *testing.T) {
			stream := xzRaw(t, data, "--lzma2=preset=6")
			got, err := lzma2Decode(stream, len(data))
			if err != nil || !bytes.Equal(got, data) {
				t.Fatalf("decode: %v, %d of %d bytes, equal %v", err, len(got), len(data), bytes.Equal(got, data))
			}
			// The bound is the caller's: a smaller one is an error.
			if len(data) > 10 {
				if _, err := lzma2Decode(stream, len(data)-1); err == nil {
					t.Error("decoded past the bound")
				}
			}
			if len(stream) > 20 {
				if got, err := lzma2Decode(stream[:len(stream)/2], len(data)); err == nil && bytes.Equal(got, data) {
					t.Fatal("half a stream decoded whole")
				}
				bad := bytes.Clone(stream)
				bad[len(bad)/3] ^= 0x55
				lzma2Decode(bad, len(data))
			}
		})
	}
	for name, s := range map[string][]byte{
		"empty":                      {},
		"no end byte":                {0x01, 0x00, 0x00, 'x'},
		"bad control":                {0x05, 0x00},
		"no dictionary reset first":  {0x02, 0x00, 0x00, 'x', 0x00},
		"LZMA chunk without props":   {0x80, 0x00, 0x00, 0x00, 0x04, 0, 0, 0, 0, 0, 0x00},
		"lc+lp > 4":                  {0xe0, 0x00, 0x00, 0x00, 0x04, 8 + 9*4, 0, 0, 0, 0, 0, 0x00},
		"packed size past the input": {0xe0, 0x00, 0x00, 0xff, 0xff, 0x5d, 0, 0, 0, 0, 0},
	} {
		if _, err := lzma2Decode(s, 100); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
	if got, err := lzma2Decode([]byte{0x01, 0x00, 0x02, 'a', 'b', 'c', 0x02, 0x00, 0x00, 'd', 0x00}, 10); err != nil || string(got) != "abcd" {
		t.Errorf("uncompressed chunks: %q, %v", got, err)
	}
}

// TestBCJX86: xz's x86 filter undone; the input is x86-64 machine code
// (a program of this system) and bytes made to hold many E8/E9.
func TestBCJX86(t *testing.T) {
	exe, err := os.ReadFile(sharedtest.Require(t, "xz", "xz-utils"))
	if err != nil {
		t.Fatal(err)
	}
	rnd := rand.New(rand.NewPCG(5, 6))
	calls := make([]byte, 100000)
	for i := range calls {
		switch rnd.IntN(4) {
		case 0:
			calls[i] = 0xe8 | byte(rnd.IntN(2))
		case 1:
			calls[i] = []byte{0, 0xff}[rnd.IntN(2)]
		default:
			calls[i] = byte(rnd.Uint32())
		}
	}
	for name, data := range map[string][]byte{"program": exe[:min(len(exe), 1<<20)], "branches": calls, "short": {0xe8, 1, 2, 3}} {
		t.Run(name, func(t *testing.T) {
			stream := xzRaw(t, data, "--x86", "--lzma2=preset=1")
			got, err := lzma2Decode(stream, len(data))
			if err != nil {
				t.Fatal(err)
			}
			if len(data) > 1000 && bytes.Equal(got, data) {
				t.Fatal("the filter changed nothing: not a test of it")
			}
			bcjX86Decode(got)
			if i := firstDiff(got, data); i >= 0 {
				t.Fatalf("differs at %d of %d", i, len(data))
			}
		})
	}
}

func TestDelta(t *testing.T) {
	data := lzma2Inputs()["mixed"]
	for _, dist := range []string{"1", "4", "256"} {
		stream := xzRaw(t, data, "--delta=dist="+dist, "--lzma2=preset=1")
		got, err := lzma2Decode(stream, len(data))
		if err != nil {
			t.Fatal(err)
		}
		d := 0
		for _, c := range dist {
			d = d*10 + int(c-'0')
		}
		deltaDecode(got, d)
		if i := firstDiff(got, data); i >= 0 {
			t.Fatalf("dist %s: differs at %d", dist, i)
		}
	}
}

func firstDiff(a, b []byte) int {
	for i := range min(len(a), len(b)) {
		if a[i] != b[i] {
			return i
		}
	}
	if len(a) != len(b) {
		return min(len(a), len(b))
	}
	return -1
}

// FuzzLZMA2: no panic, the bound holds.
func FuzzLZMA2(f *testing.F) {
	f.Add([]byte{0x01, 0x00, 0x02, 'a', 'b', 'c', 0x00}, 10)
	f.Add([]byte{0xe0, 0x00, 0x04, 0x00, 0x05, 0x5d, 0x00, 0x20, 0x90, 0x00, 0x00, 0x00}, 100)
	f.Fuzz(func(t *testing.T, b []byte, size int) {
		size = min(max(size, 0), 1<<20)
		if out, _ := lzma2Decode(b, size); len(out) > size {
			t.Fatalf("%d bytes out, bound %d", len(out), size)
		}
	})
}

// FuzzFilters: the filters keep the length and never panic.
func FuzzFilters(f *testing.F) {
	f.Add([]byte{0xe8, 0, 0, 0, 0, 0xe9, 1, 2, 3, 0xff}, 1)
	f.Fuzz(func(t *testing.T, b []byte, dist int) {
		n := len(b)
		bcjX86Decode(b)
		deltaDecode(b, min(max(dist, 1), 256))
		if len(b) != n {
			t.Fatal("length changed")
		}
	})
}

// Coders of 7z folders as 7-Zip lists them: flags (id size, 0x20 when
// properties follow), id, properties.
var (
	coder7zLZMA2 = []byte{0x21, 0x21, 0x01, 0x18} // dictionary 2^(0x18/2+12) = 16 MiB
	coder7zBCJ   = []byte{0x04, 0x03, 0x03, 0x01, 0x03}
)

func coder7zDelta(dist int) []byte { return []byte{0x21, 0x03, 0x01, byte(dist - 1)} }

// filtered7z is a 7z whose header went through a filter coder and then
// a compressor (xz in raw format with xzArgs, as 7-Zip's coders write
// the same streams): the folder lists the filter first, its input bound
// to the compressor's output (bind pair in 0 ← out 1), the compressor
// fed by the packed stream.
func filtered7z(t testing.TB, header, filter, compressor []byte, xzArgs ...string) []byte {
	stream := xzRaw(t, header, xzArgs...)
	folder := cat([]byte{2}, filter, compressor, []byte{0, 1})
	n := uint64(len(header))
	return archive7z(stream, encoded7z(folder, len(stream), n, n))
}

// TestSevenZipFilteredHeaders: headers coded otherwise than 7-Zip's
// default (LZMA), as py7zr, 7-Zip with -m0=LZMA2 -mf=BCJ and others
// write them; the names are listed all the same.
func TestSevenZipFilteredHeaders(t *testing.T) {
	// è (E8 00) then Ā (00 01): the x86 filter converts the "call"
	// this makes in the UTF-16 names.
	entries := []entry7z{{name: "bills", dir: true}, {name: "bills/relevè\u0100\u0100.pdf"}, {name: "bills/facturé\u0100\u0100.exe"}}
	header := header7z(entries, false)
	if got, _ := lzma2Decode(xzRaw(t, header, "--x86", "--lzma2=preset=1"), len(header)); bytes.Equal(got, header) {
		t.Fatal("the x86 filter does not change this header: not a test of it")
	}
	want := []string{"bills/", "bills/relevè\u0100\u0100.pdf", "bills/facturé\u0100\u0100.exe"}
	lzma1 := []byte{0x23, 0x03, 0x01, 0x01, 0x05, 0x5d, 0x00, 0x00, 0x80, 0x00} // lc 3 lp 0 pb 2, 8 MiB (xz's preset 6)
	tests := []struct {
		name    string
		data    []byte
		files   []string
		problem string
	}{
		{"LZMA2", archive7z(xzRaw(t, header, "--lzma2=preset=6"), encoded7z(cat([]byte{1}, coder7zLZMA2), len(xzRaw(t, header, "--lzma2=preset=6")), uint64(len(header)))), want, ""},
		{"BCJ + LZMA2", filtered7z(t, header, coder7zBCJ, coder7zLZMA2, "--x86", "--lzma2=preset=6"), want, ""},
		{"BCJ + LZMA", filtered7z(t, header, coder7zBCJ, lzma1, "--x86", "--lzma1=preset=6"), want, ""},
		{"Delta + LZMA2", filtered7z(t, header, coder7zDelta(2), coder7zLZMA2, "--delta=dist=2", "--lzma2=preset=6"), want, ""},
		{"Delta + LZMA", filtered7z(t, header, coder7zDelta(4), lzma1, "--delta=dist=4", "--lzma1=preset=6"), want, ""},
		{"bind pair to no coder", archive7z(make([]byte, 40), encoded7z(cat([]byte{2}, coder7zBCJ, []byte{1, 0x00}, []byte{0, 7}), 40, 40, 40)), nil, "bad header coders"},
		{"ARM filter", filtered7z(t, header, []byte{0x04, 0x03, 0x03, 0x05, 0x01}, coder7zLZMA2, "--arm", "--lzma2=preset=6"), nil, "unsupported header coder"},
		{"corrupt LZMA2", archive7z(bytes.Repeat([]byte{0xe0}, 40), encoded7z(cat([]byte{1}, coder7zLZMA2), 40, 400)), nil, "corrupt compressed header"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			budget := DefaultLimits().MaxInflate
			o := &opener{lim: DefaultLimits(), inflate: &budget, c: &Message{}}
			a := o.open(Type7z, tt.data, 0)
			var got []string
			for _, f := range a.Files {
				n := f.Name
				if f.Dir {
					n += "/"
				}
				got = append(got, n)
			}
			if !slices.Equal(got, tt.files) || !strings.Contains(a.Problem, tt.problem) || (tt.problem != "") != a.NamesHidden {
				t.Errorf("files %q problem %q hidden %v; want %q, %q", got, a.Problem, a.NamesHidden, tt.files, tt.problem)
			}
		})
	}
}
