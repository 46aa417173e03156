package message

import (
	"os"
	"path/filepath"
	"testing"
)

// FuzzParseMIME walks arbitrary messages: no panic, the bounds hold, every
// part lies inside the message, and parents and depths agree.
func FuzzParseMIME(f *testing.F) {
	f.Add([]byte(multipartMsg))
	f.Add([]byte("Content-Type: multipart/mixed; boundary=b\r\n\r\n--b\r\n--b\r\n\r\nx\r\n--b--"))
	f.Add([]byte("Content-Type: message/rfc822\r\n\r\nContent-Type: message/rfc822\r\n\r\nSubject: x\r\n\r\ny"))
	f.Add([]byte("Content-Transfer-Encoding: base64\r\n\r\n====aGVsbG8=*\r\n"))
	f.Add([]byte("Content-Transfer-Encoding: quoted-printable\r\n\r\n=\r\n=4=\n==41"))
	if seeds, _ := filepath.Glob("../content/testdata/golden/*.eml"); len(seeds) > 0 {
		for _, s := range seeds {
			if b, err := os.ReadFile(s); err == nil {
				f.Add(b)
			}
		}
	}
	lim := Limits{MaxDepth: 8, MaxParts: 50, MaxDecoded: 1 << 16}
	f.Fuzz(func(t *testing.T, raw []byte) {
		m := Parse(raw)
		mime := ParseMIME(m, lim)
		if len(mime.Parts) > lim.MaxParts || mime.Root == nil || mime.Parts[0] != mime.Root {
			t.Fatalf("%d parts (bound %d)", len(mime.Parts), lim.MaxParts)
		}
		var decoded int64
		for _, p := range mime.Parts {
			if p.Depth > lim.MaxDepth {
				t.Fatalf("depth %d past %d", p.Depth, lim.MaxDepth)
			}
			if p.Parent != nil && p.Depth != p.Parent.Depth+1 {
				t.Fatalf("depth %d under a parent of depth %d", p.Depth, p.Parent.Depth)
			}
			if p.Encoding == "base64" || p.Encoding == "quoted-printable" {
				decoded += int64(len(p.Body))
			}
			if p.Type == "" || p.Params == nil {
				t.Fatalf("part without type or params: %+v", p)
			}
			p.Text()
		}
		if decoded > lim.MaxDecoded {
			t.Fatalf("decoded %d past %d", decoded, lim.MaxDecoded)
		}
	})
}
