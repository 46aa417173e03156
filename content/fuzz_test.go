package content

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/hamlet-mail/hamlet/message"
)

func addGolden(f *testing.F) {
	seeds, _ := filepath.Glob("testdata/golden/*.eml")
	for _, s := range seeds {
		if b, err := os.ReadFile(s); err == nil {
			f.Add(string(b))
		}
	}
}

// FuzzExtractHTML: any input gives valid UTF-8 text of bounded length, and
// no more links, images and forms than tags.
func FuzzExtractHTML(f *testing.F) {
	f.Add(`<html><body><p>a<b>b</b></p><a href="http://x.example/">x</a><img src=cid:1 width=300 height=200></body></html>`)
	f.Add(`<div style="display:none"><span style="font-size:0">h</span></div><font color=#fff>w</font>`)
	f.Add(`<style>@import url(x.css)</style><script>document.write("<a href=x>")</script><a href="`)
	f.Add(`</a></b></div><div><div><div>`)
	f.Add(`<meta http-equiv=refresh content="0;url=http://x/"><form action=http://f.example/><input type=password>`)
	addGolden(f)
	f.Fuzz(func(t *testing.T, doc string) {
		h := ExtractHTML(doc)
		if !utf8.ValidString(h.Text) {
			t.Fatalf("text is not UTF-8: %q", h.Text)
		}
		// An invalid byte becomes U+FFFD (3 bytes).
		if len(h.Text) > 3*len(doc)+h.Tags*2+8 {
			t.Fatalf("text %d bytes from a %d-byte document", len(h.Text), len(doc))
		}
		for _, l := range h.Links {
			if len(l.Text) > maxLinkText {
				t.Fatalf("link text of %d bytes", len(l.Text))
			}
		}
		if len(h.Images)+len(h.Links)+len(h.Forms) > h.Tags {
			t.Fatalf("%d images, %d links, %d forms from %d tags", len(h.Images), len(h.Links), len(h.Forms), h.Tags)
		}
	})
}

// FuzzURLs: every URL found is a substring of the text and parses to a
// lower-case host without white space; ParseURL never panics.
func FuzzURLs(f *testing.F) {
	f.Add("see http://3232235777/ and https://a@b.example/x, www.c.example.")
	f.Add("http://[::1]/ http://%41.example hxxp://x.example http:\\\\evil.example\\ http://xn--pypal-4ve.com/")
	f.Add("http://bücher.example/ http://0x7f.1/ http://0300.0250.0.1/ http://1.2.3.4.5/ http://a..b/")
	f.Add(strings.Repeat("http://", 100))
	addGolden(f)
	f.Fuzz(func(t *testing.T, s string) {
		for _, raw := range FindURLs(s, 100) {
			if !strings.Contains(s, raw) {
				t.Fatalf("found %q, not in the text", raw)
			}
			u := ParseURL(raw)
			if u == nil {
				continue
			}
			if u.Host != strings.ToLower(u.Host) && u.Flags&FlagBadHost == 0 {
				t.Fatalf("host %q not lower case", u.Host)
			}
			if strings.ContainsAny(u.Host, " \t\r\n") && u.Flags&FlagBadHost == 0 {
				t.Fatalf("host %q has white space", u.Host)
			}
			if u.Domain != "" && !strings.HasSuffix(u.Host, u.Domain) {
				t.Fatalf("domain %q is not a suffix of host %q", u.Domain, u.Host)
			}
			if u.IP.IsValid() != (u.Flags&FlagIP != 0) {
				t.Fatalf("IP %v but flags %b", u.IP, u.Flags)
			}
		}
		ParseURL(s)
		linkTextURL(s)
	})
}

// FuzzAnalyze runs the whole content stage on arbitrary messages within
// small bounds: no panic, bounds hold.
func FuzzAnalyze(f *testing.F) {
	addGolden(f)
	lim := Limits{MIME: message.Limits{MaxDepth: 6, MaxParts: 40, MaxDecoded: 1 << 16}, MaxText: 1 << 14,
		MaxURLs: 20, MaxArchiveFiles: 20, MaxInflate: 1 << 16, MaxArchiveDepth: 2}
	f.Fuzz(func(t *testing.T, raw string) {
		c := Parse(message.Parse([]byte(raw)), lim)
		if len(c.URLs) > lim.MaxURLs {
			t.Fatalf("%d URLs", len(c.URLs))
		}
		for _, a := range c.Attachments {
			if a.Archive != nil && len(a.Archive.Files) > lim.MaxArchiveFiles {
				t.Fatalf("%d archive entries", len(a.Archive.Files))
			}
		}
		for _, fd := range Analyze(c) {
			if fd.Symbol == "" || fd.Mult < 0 && fd.Symbol != SymMIMEGood {
				t.Fatalf("finding %+v", fd)
			}
		}
	})
}

// fuzzLister checks one archive lister on arbitrary bytes: no panic, the
// entry bound and the inflate budget hold.
func fuzzLister(f *testing.F, format string, seeds ...[]byte) {
	for _, s := range seeds {
		f.Add(s)
	}
	lim := DefaultLimits()
	lim.MaxArchiveFiles, lim.MaxInflate = 20, 1<<16
	f.Fuzz(func(t *testing.T, data []byte) {
		budget := lim.MaxInflate
		o := &opener{lim: lim, inflate: &budget, c: &Message{}}
		a := o.open(format, data, 0)
		if len(a.Files) > lim.MaxArchiveFiles {
			t.Fatalf("%d entries", len(a.Files))
		}
		if budget < 0 {
			t.Fatalf("inflate budget overspent: %d", budget)
		}
		for _, e := range a.Files {
			if e.Nested != nil && len(e.Nested.Files) > lim.MaxArchiveFiles {
				t.Fatalf("%d nested entries", len(e.Nested.Files))
			}
		}
	})
}

func Fuzz7z(f *testing.F) {
	h := header7z([]entry7z{{name: "d", dir: true}, {name: "d/a.exe"}, {name: "b.txt"}}, false)
	fuzzLister(f, Type7z, archive7z(nil, h), aes7z(), lzma7z(f, h),
		archive7z(h, encoded7z([]byte{1, 0x01, 0x00}, len(h), uint64(len(h)))), lzma7z(f, header7z([]entry7z{{name: "x"}}, true)),
		filtered7z(f, h, coder7zBCJ, coder7zLZMA2, "--x86", "--lzma2=preset=1"), filtered7z(f, h, coder7zDelta(3), coder7zLZMA2, "--delta=dist=3", "--lzma2=preset=1"))
}

func FuzzRar(f *testing.F) {
	fuzzLister(f, TypeRar, rar5(f, "setup.exe", false), rar5(f, "a.txt", true),
		rar4Archive(0, rar4Entry{name: rar4Name("счёт.exe"), unicode: true}, rar4Entry{name: []byte("d"), dir: true}),
		rar4Archive(0x80), rar4Archive(0, rar4Entry{name: []byte("abc.exe\x00\x00\xc0\x05"), unicode: true}))
}

func FuzzGzip(f *testing.F) {
	fuzzLister(f, TypeGzip, gz(f, "a.exe", mz), gz(f, "a.tar", tarOf(f, "x.js")), gz(f, "", nil))
}

func FuzzTar(f *testing.F) {
	fuzzLister(f, TypeTar, tarOf(f, "bin/", "bin/a.sh", "b"))
}

func FuzzZip(f *testing.F) {
	inner := makeZip(f, zipEntry{name: "payload.exe", data: mz})
	fuzzLister(f, TypeZip, makeZip(f, zipEntry{name: "a.zip", data: inner}, zipEntry{name: "b.txt", data: []byte("x"), encrypted: true}))
}

// FuzzLZMA: the decoder never panics nor writes past its bound.
func FuzzLZMA(f *testing.F) {
	props, stream := xzLZMA(f, []byte(strings.Repeat("hamlet reads 7z headers ", 40)))
	f.Add(props, stream, 2000)
	f.Fuzz(func(t *testing.T, props, stream []byte, size int) {
		size = max(0, size%(1<<16))
		out, _ := lzmaDecode(props, stream, size)
		if len(out) > size {
			t.Fatalf("%d bytes out for a bound of %d", len(out), size)
		}
	})
}
