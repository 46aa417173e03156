package message

import (
	"bytes"
	"fmt"
	"slices"
	"strings"
	"testing"
)

const multipartMsg = "From: a@example.org\r\n" +
	"Subject: =?utf-8?q?caf=C3=A9?=\r\n" +
	"MIME-Version: 1.0\r\n" +
	"Content-Type: multipart/mixed; boundary=\"outer\"\r\n" +
	"\r\n" +
	"preamble\r\n" +
	"--outer\r\n" +
	"Content-Type: multipart/alternative; boundary=inner\r\n" +
	"\r\n" +
	"--inner\r\n" +
	"Content-Type: text/plain; charset=iso-8859-1\r\n" +
	"Content-Transfer-Encoding: quoted-printable\r\n" +
	"\r\n" +
	"caf=E9 soft=\r\nbreak\r\n" +
	"--inner\r\n" +
	"Content-Type: text/html; charset=utf-8\r\n" +
	"Content-Transfer-Encoding: base64\r\n" +
	"\r\n" +
	"PHA+aGVsbG88L3A+\r\n" +
	"--inner--\r\n" +
	"--outer\r\n" +
	"Content-Type: application/pdf; name=\"=?utf-8?b?cmVwb3J0LnBkZg==?=\"\r\n" +
	"Content-Disposition: attachment; filename*=utf-8''r%C3%A9sum%C3%A9.pdf\r\n" +
	"Content-Transfer-Encoding: base64\r\n" +
	"\r\n" +
	"JVBERi0xLjQK\r\n" +
	"--outer\r\n" +
	"Content-Type: message/rfc822\r\n" +
	"\r\n" +
	"Subject: inner\r\n" +
	"\r\n" +
	"enclosed body\r\n" +
	"--outer--\r\n" +
	"epilogue\r\n"

func TestParseMIMETree(t *testing.T) {
	m := ParseMIME(Parse([]byte(multipartMsg)), Limits{})
	var got []string
	for _, p := range m.Parts {
		got = append(got, fmt.Sprintf("%d:%s", p.Depth, p.Type))
	}
	want := []string{"0:multipart/mixed", "1:multipart/alternative", "2:text/plain", "2:text/html",
		"1:application/pdf", "1:message/rfc822", "2:text/plain"}
	if !slices.Equal(got, want) {
		t.Fatalf("parts\n got %v\nwant %v", got, want)
	}
	if len(m.Exceeded) != 0 {
		t.Errorf("exceeded %v", m.Exceeded)
	}
	plain := m.Parts[2]
	// The CRLF before a delimiter belongs to the delimiter (RFC 2046 §5.1.1).
	if txt, ok := plain.Text(); !ok || txt != "café softbreak" {
		t.Errorf("qp text %q ok=%v", txt, ok)
	}
	if string(m.Parts[3].Body) != "<p>hello</p>" {
		t.Errorf("base64 body %q", m.Parts[3].Body)
	}
	pdf := m.Parts[4]
	if pdf.Filename != "résumé.pdf" || pdf.Disposition != "attachment" || !pdf.IsAttachment() {
		t.Errorf("attachment: filename %q disposition %q", pdf.Filename, pdf.Disposition)
	}
	if string(pdf.Body) != "%PDF-1.4\n" {
		t.Errorf("pdf body %q", pdf.Body)
	}
	inner := m.Parts[6]
	if s, _ := inner.Header("Subject"); s != "inner" || string(inner.Body) != "enclosed body" {
		t.Errorf("enclosed message: subject %q body %q", s, inner.Body)
	}
	if inner.Parent != m.Parts[5] || m.Parts[5].Parent != m.Root {
		t.Error("parents wrong")
	}
	for _, p := range m.Parts {
		if len(p.Problems) > 0 {
			t.Errorf("%s: problems %v", p.Type, p.Problems)
		}
	}
}

func TestParseMIMEMalformed(t *testing.T) {
	tests := []struct {
		name    string
		in      string
		types   []string
		problem string // substring of some part's problem, "" for none
	}{
		{"no content-type", "Subject: x\r\n\r\nhello\r\n", []string{"text/plain"}, ""},
		{"no boundary param", "Content-Type: multipart/mixed\r\n\r\nhello\r\n", []string{"multipart/mixed"}, "without a boundary"},
		{"boundary never used", "Content-Type: multipart/mixed; boundary=b\r\n\r\nhello\r\n", []string{"multipart/mixed"}, "without its boundary"},
		{"not closed", "Content-Type: multipart/mixed; boundary=b\r\n\r\n--b\r\n\r\none\r\n--b\r\n\r\ntwo\r\n",
			[]string{"multipart/mixed", "text/plain", "text/plain"}, "close delimiter"},
		{"longer boundary is not ours", "Content-Type: multipart/mixed; boundary=b\r\n\r\n--b\r\n\r\none\r\n--bb\r\nstill one\r\n--b--\r\n",
			[]string{"multipart/mixed", "text/plain"}, ""},
		{"empty part", "Content-Type: multipart/mixed; boundary=b\r\n\r\n--b\r\n--b\r\n\r\nx\r\n--b--\r\n",
			[]string{"multipart/mixed", "text/plain", "text/plain"}, ""},
		{"bad content-type params", "Content-Type: text/html; charset=\"utf-8; x\r\n\r\n<p>x</p>\r\n", []string{"text/html"}, ""},
		{"garbage content-type", "Content-Type: garbage\r\n\r\nx\r\n", []string{"text/plain"}, ""},
		{"broken base64", "Content-Transfer-Encoding: base64\r\n\r\naGVsbG8*!!gd29ybGQ=\r\n", []string{"text/plain"}, "invalid base64"},
		{"broken qp", "Content-Transfer-Encoding: quoted-printable\r\n\r\na=ZZb\r\n", []string{"text/plain"}, "invalid quoted-printable"},
		{"digest defaults to message", "Content-Type: multipart/digest; boundary=d\r\n\r\n--d\r\n\r\nSubject: s\r\n\r\nb\r\n--d--\r\n",
			[]string{"multipart/digest", "message/rfc822", "text/plain"}, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m := ParseMIME(Parse([]byte(tt.in)), Limits{})
			var types []string
			var problems []string
			for _, p := range m.Parts {
				types = append(types, p.Type)
				problems = append(problems, p.Problems...)
			}
			if !slices.Equal(types, tt.types) {
				t.Errorf("types %v, want %v", types, tt.types)
			}
			joined := strings.Join(problems, "; ")
			if tt.problem == "" && joined != "" {
				t.Errorf("problems %q, want none", joined)
			}
			if tt.problem != "" && !strings.Contains(joined, tt.problem) {
				t.Errorf("problems %q, want %q", joined, tt.problem)
			}
		})
	}
}

func TestDecodeBase64Lenient(t *testing.T) {
	for _, tt := range []struct {
		in, want string
		clean    bool
	}{
		{"aGVsbG8=", "hello", true},
		{"aGVs\r\nbG8=\r\n", "hello", true},
		{"aGVsbG8=aGVsbG8=", "hellohello", true},
		{"aGVs*bG8", "hello", false},
		{"aGVsbG8-_w", "hello>\xff", true}, // base64url letters
		{"a", "", false},
	} {
		got, clean := DecodeBase64([]byte(tt.in))
		if string(got) != tt.want || clean != tt.clean {
			t.Errorf("DecodeBase64(%q) = %q, %v; want %q, %v", tt.in, got, clean, tt.want, tt.clean)
		}
	}
}

func TestDecodeQP(t *testing.T) {
	for _, tt := range []struct {
		in, want string
		clean    bool
	}{
		{"a=3Db", "a=b", true},
		{"a=3db", "a=b", true},
		{"soft=\r\nbreak", "softbreak", true},
		{"soft= \t\r\nbreak", "softbreak", true},
		{"lf=\nbreak", "lfbreak", true},
		{"end=", "end", true},
		{"bad=zz", "bad=zz", false},
		{"short=4", "short=4", false},
	} {
		got, clean := DecodeQP([]byte(tt.in))
		if string(got) != tt.want || clean != tt.clean {
			t.Errorf("DecodeQP(%q) = %q, %v; want %q, %v", tt.in, got, clean, tt.want, tt.clean)
		}
	}
}

func TestToUTF8(t *testing.T) {
	for _, tt := range []struct {
		in, cs, want string
		ok           bool
	}{
		{"caf\xe9", "iso-8859-1", "café", true},
		{"caf\xc3\xa9", "utf-8", "café", true},
		{"caf\xe9", "utf-8", "caf\uFFFD", false},
		{"caf\xe9", "", "café", false},
		{"caf\xe9", "us-ascii", "café", false},
		{"\x82\xa0", "shift_jis", "あ", true},
		{"\xc4\xe3\xba\xc3", "gb2312", "你好", true},
		{"\xf0\xd2\xc9\xd7\xc5\xd4", "koi8-r", "Привет", true},
		{"abc", "x-no-such-charset", "abc", false},
		{"\x1b$B$\"\x1b(B", "iso-2022-jp", "あ", true},
	} {
		got, ok := ToUTF8([]byte(tt.in), tt.cs)
		if got != tt.want || ok != tt.ok {
			t.Errorf("ToUTF8(%q, %q) = %q, %v; want %q, %v", tt.in, tt.cs, got, ok, tt.want, tt.ok)
		}
	}
}

func TestDecodeHeader(t *testing.T) {
	for in, want := range map[string]string{
		"plain":                             "plain",
		"=?utf-8?q?caf=C3=A9?=":             "café",
		"=?ISO-8859-1?B?Y2Fm6Q==?= au lait": "café au lait",
		"=?koi8-r?b?8NLJ18XU?=":             "Привет",
		"=?x-unknown?q?abc?=":               "=?x-unknown?q?abc?=",
		"raw \xe9":                          "raw é",
	} {
		if got := DecodeHeader(in); got != want {
			t.Errorf("DecodeHeader(%q) = %q, want %q", in, got, want)
		}
	}
}

// Hostile structures stay within the bounds and say so.
func TestParseMIMEBounds(t *testing.T) {
	t.Run("10000 parts", func(t *testing.T) {
		var b bytes.Buffer
		b.WriteString("Content-Type: multipart/mixed; boundary=x\r\n\r\n")
		for range 10000 {
			b.WriteString("--x\r\nContent-Type: text/plain\r\n\r\npart\r\n")
		}
		b.WriteString("--x--\r\n")
		m := ParseMIME(Parse(b.Bytes()), Limits{})
		if len(m.Parts) != DefaultLimits().MaxParts {
			t.Errorf("%d parts, want the bound %d", len(m.Parts), DefaultLimits().MaxParts)
		}
		if !slices.Contains(m.Exceeded, ExceededParts) {
			t.Errorf("exceeded %v", m.Exceeded)
		}
	})
	t.Run("100 nesting levels", func(t *testing.T) {
		var b bytes.Buffer
		for i := range 100 {
			fmt.Fprintf(&b, "Content-Type: multipart/mixed; boundary=b%d\r\n\r\n--b%d\r\n", i, i)
		}
		b.WriteString("\r\ndeep\r\n")
		for i := 99; i >= 0; i-- {
			fmt.Fprintf(&b, "--b%d--\r\n", i)
		}
		m := ParseMIME(Parse(b.Bytes()), Limits{})
		maxDepth := 0
		for _, p := range m.Parts {
			maxDepth = max(maxDepth, p.Depth)
		}
		if maxDepth != DefaultLimits().MaxDepth {
			t.Errorf("depth %d, want the bound %d", maxDepth, DefaultLimits().MaxDepth)
		}
		if !slices.Contains(m.Exceeded, ExceededDepth) {
			t.Errorf("exceeded %v", m.Exceeded)
		}
	})
	t.Run("nested messages", func(t *testing.T) {
		inner := "Subject: leaf\r\n\r\nleaf\r\n"
		for range 100 {
			inner = "Content-Type: message/rfc822\r\n\r\n" + inner
		}
		m := ParseMIME(Parse([]byte(inner)), Limits{})
		if !slices.Contains(m.Exceeded, ExceededDepth) || len(m.Parts) != DefaultLimits().MaxDepth+1 {
			t.Errorf("%d parts, exceeded %v", len(m.Parts), m.Exceeded)
		}
	})
	t.Run("decoded budget", func(t *testing.T) {
		chunk := strings.Repeat("QUFBQUFBQUFB", 100) + "\r\n"
		var b bytes.Buffer
		b.WriteString("Content-Type: multipart/mixed; boundary=x\r\n\r\n")
		for range 10 {
			b.WriteString("--x\r\nContent-Transfer-Encoding: base64\r\n\r\n" + chunk)
		}
		b.WriteString("--x--\r\n")
		m := ParseMIME(Parse(b.Bytes()), Limits{MaxDecoded: 2500})
		decoded, skipped := 0, 0
		for _, p := range m.Parts[1:] {
			decoded += len(p.Body)
			if p.Skipped {
				skipped++
			}
		}
		if decoded > 2500 || skipped == 0 || !slices.Contains(m.Exceeded, ExceededDecoded) {
			t.Errorf("decoded %d, skipped %d, exceeded %v", decoded, skipped, m.Exceeded)
		}
	})
}
