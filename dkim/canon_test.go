package dkim

import (
	"bytes"
	"crypto"
	"fmt"
	"math/rand/v2"
	"strings"
	"testing"

	"github.com/hamlet-mail/hamlet/message"
)

func TestCanonicalHeader(t *testing.T) {
	tests := []struct {
		raw, simple, relaxed string
	}{
		// RFC 6376 §3.4.5 example.
		{"A: X\r\n", "A: X\r\n", "a:X\r\n"},
		{"B : Y\t\r\n\tZ  \r\n", "B : Y\t\r\n\tZ  \r\n", "b:Y Z\r\n"},
		{"Subject:  Is dinner\r\n   ready?  \r\n", "Subject:  Is dinner\r\n   ready?  \r\n", "subject:Is dinner ready?\r\n"},
		{"X-Empty:\r\n", "X-Empty:\r\n", "x-empty:\r\n"},
		{"X-No-CRLF: v", "X-No-CRLF: v\r\n", "x-no-crlf:v\r\n"},
	}
	for _, tc := range tests {
		if got := string(AppendCanonicalHeader(nil, Simple, []byte(tc.raw))); got != tc.simple {
			t.Errorf("simple(%q) = %q, want %q", tc.raw, got, tc.simple)
		}
		if got := string(AppendCanonicalHeader(nil, Relaxed, []byte(tc.raw))); got != tc.relaxed {
			t.Errorf("relaxed(%q) = %q, want %q", tc.raw, got, tc.relaxed)
		}
	}
}

func TestCanonicalBody(t *testing.T) {
	tests := []struct {
		body, simple, relaxed string
	}{
		// RFC 6376 §3.4.5 example.
		{" C \r\nD \t E\r\n\r\n\r\n", " C \r\nD \t E\r\n", " C\r\nD E\r\n"},
		// §3.4.3: an empty body is one CRLF in simple; §3.4.4: empty in relaxed.
		{"", "\r\n", ""},
		{"\r\n", "\r\n", ""},
		{"\r\n\r\n", "\r\n", ""},
		{"  \r\n\t\r\n", "  \r\n\t\r\n", ""},
		{"abc", "abc\r\n", "abc\r\n"},
		{"abc  ", "abc  \r\n", "abc\r\n"},
		{"a\tb  c \t d\r\n", "a\tb  c \t d\r\n", "a b c d\r\n"},
		{"  lead\r\n", "  lead\r\n", " lead\r\n"},
		{"x \r\n \r\n\r\ny\r\n\r\n", "x \r\n \r\n\r\ny\r\n", "x\r\n\r\n\r\ny\r\n"},
		{"a \t\r\nb", "a \t\r\nb\r\n", "a\r\nb\r\n"},
		{"bare\rcr \r\n", "bare\rcr \r\n", "bare\rcr\r\n"},
	}
	for _, tc := range tests {
		var s, r bytes.Buffer
		if n := WriteCanonicalBody(&s, Simple, []byte(tc.body)); s.String() != tc.simple || n != int64(s.Len()) {
			t.Errorf("simple(%q) = %q (n=%d), want %q", tc.body, s.String(), n, tc.simple)
		}
		if n := WriteCanonicalBody(&r, Relaxed, []byte(tc.body)); r.String() != tc.relaxed || n != int64(r.Len()) {
			t.Errorf("relaxed(%q) = %q (n=%d), want %q", tc.body, r.String(), n, tc.relaxed)
		}
		if got := naiveRelaxedBody(tc.body); got != tc.relaxed {
			t.Errorf("naive relaxed(%q) = %q, want %q (test oracle broken)", tc.body, got, tc.relaxed)
		}
	}
}

// naiveRelaxedBody is RFC 6376 §3.4.4 written line by line, the obvious
// way: the oracle for the optimised WriteCanonicalBody.
func naiveRelaxedBody(body string) string {
	lines := bytes.Split([]byte(body), []byte("\r\n"))
	// A body ending in CRLF yields a last empty element that is no line.
	if bytes.HasSuffix([]byte(body), []byte("\r\n")) {
		lines = lines[:len(lines)-1]
	}
	var out [][]byte
	for _, l := range lines {
		var b []byte
		space := false
		for _, c := range l {
			if c == ' ' || c == '\t' {
				space = true
				continue
			}
			if space {
				b = append(b, ' ')
				space = false
			}
			b = append(b, c)
		}
		out = append(out, b)
	}
	for len(out) > 0 && len(out[len(out)-1]) == 0 {
		out = out[:len(out)-1]
	}
	var res []byte
	for _, l := range out {
		res = append(res, l...)
		res = append(res, '\r', '\n')
	}
	return string(res)
}

func TestBodyHashLimit(t *testing.T) {
	body := []byte("hello world\r\nsecond line\r\n")
	full, n := BodyHash(crypto.SHA256, Simple, body, -1)
	if n != int64(len(body)) {
		t.Fatalf("canonical length %d", n)
	}
	part, n2 := BodyHash(crypto.SHA256, Simple, body, 5)
	want, _ := BodyHash(crypto.SHA256, Simple, []byte("hello"), -1)
	_ = want
	h := crypto.SHA256.New()
	h.Write([]byte("hello"))
	if !bytes.Equal(part, h.Sum(nil)) || n2 != n {
		t.Errorf("l=5 hash or length wrong")
	}
	if bytes.Equal(full, part) {
		t.Error("limit ignored")
	}
}

func TestRemoveSignatureValue(t *testing.T) {
	tests := []struct{ in, want string }{
		{"DKIM-Signature: a=x; b=abc\r\n def; bh=xyz\r\n", "DKIM-Signature: a=x; b=; bh=xyz"},
		{"DKIM-Signature: a=x; bh=xyz; b=abc\r\n", "DKIM-Signature: a=x; bh=xyz; b="},
		{"DKIM-Signature: b = abc ;a=1\r\n", "DKIM-Signature: b =;a=1"},
	}
	for _, tc := range tests {
		if got := string(RemoveSignatureValue([]byte(tc.in))); got != tc.want {
			t.Errorf("RemoveSignatureValue(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
}

func TestNextEvent(t *testing.T) {
	for _, tc := range []struct {
		s    string
		want bool
	}{
		{"", false}, {" ", false}, {"a b c d e f g h i j", false},
		{"abcdefg  hij", true}, {"abcdefgh  ij", true}, {"abcdef  ", true},
		{"0123456 789abcd  ", true}, {"0123456\t", true}, {"01234567890123\tx", true},
		{" a b c d e f g h i j k l m n o p", false}, {"aaaaaaa aaaaaaa aaaaaaa ", false},
		{"abcdefg \r\n", true}, {"ab \rc", true}, {"abcdefgh\r\n", false}, {"0123456 \r\n", true}, {"\t\r\n", true},
	} {
		if got := nextEvent([]byte(tc.s), 0) >= 0; got != tc.want {
			t.Errorf("nextEvent(%q) found=%v", tc.s, got)
		}
	}
}

// TestNextPairNaive compares nextPair with a byte-by-byte search on
// random strings over the bytes its word test treats specially (SP, CR,
// TAB, LF, NUL whose borrow crosses lanes, 0x01 and '!' that the cheap
// zero test can flag falsely), from every start offset.
func TestNextPairNaive(t *testing.T) {
	naive := func(b []byte, from int) int {
		for i := from; i+1 < len(b); i++ {
			if b[i] == ' ' && (b[i+1] == ' ' || b[i+1] == '\r') {
				return i
			}
		}
		return -1
	}
	alphabet := []byte(" \r\t\n\x00\x01!a")
	rng := rand.New(rand.NewPCG(1, 2))
	for n := 0; n < 3000; n++ {
		b := make([]byte, rng.IntN(70))
		for i := range b {
			b[i] = alphabet[rng.IntN(len(alphabet))]
			if rng.IntN(3) == 0 {
				b[i] = 'a' // sparser candidates: longer word-wise runs
			}
		}
		for from := 0; from <= len(b); from++ {
			if got, want := nextPair(b, from), naive(b, from); got != want {
				t.Fatalf("nextPair(%q, %d) = %d, want %d", b, from, got, want)
			}
		}
	}
}

// TestRelaxedBodyAttachment: a text part with changed lines, then a
// base64 part (thousands of bytes with nothing to change), then a
// trailing space. The long unchanged stretch must come out after the text
// before it, not ahead of it (the batcher's direct write once overtook
// what it had buffered).
func TestRelaxedBodyAttachment(t *testing.T) {
	var b strings.Builder
	b.WriteString("Hello  there, \r\n\tsee the attachment.\r\n\r\n--b\r\nContent-Transfer-Encoding: base64\r\n\r\n")
	for i := 0; i < 100; i++ { // 7.8 KB of base64 lines
		b.WriteString(strings.Repeat(string(rune('A'+i%26)), 76) + "\r\n")
	}
	b.WriteString("--b-- \r\n")
	body := b.String()
	want := naiveRelaxedBody(body)
	var r bytes.Buffer
	if n := WriteCanonicalBody(&r, Relaxed, []byte(body)); r.String() != want || n != int64(len(want)) {
		t.Fatalf("relaxed body wrong (n=%d, %d bytes, want %d); starts %q", n, r.Len(), len(want), r.String()[:min(r.Len(), 60)])
	}
	h := crypto.SHA256.New()
	h.Write([]byte(want))
	if sum, _ := BodyHash(crypto.SHA256, Relaxed, []byte(body), -1); !bytes.Equal(sum, h.Sum(nil)) {
		t.Fatal("relaxed body hash is not the hash of the canonical body")
	}
}

// TestRelaxedBodyRandom compares relaxed body canonicalization with the
// line-by-line oracle on random bodies dense in the bytes it treats
// specially, long enough for the word-wise search and the batcher's
// direct writes to be used.
func TestRelaxedBodyRandom(t *testing.T) {
	alphabet := []byte(" \r\n\t\x00\x01!a")
	rng := rand.New(rand.NewPCG(3, 4))
	for n := 0; n < 2000; n++ {
		size := rng.IntN(300)
		if n%100 == 0 {
			size = 5000 + rng.IntN(20000) // pieces over the batcher's direct-write size
		}
		b := make([]byte, size)
		dense := rng.IntN(4)
		for i := range b {
			b[i] = 'a'
			if rng.IntN(4) <= dense && (size < 5000 || rng.IntN(500) == 0) {
				b[i] = alphabet[rng.IntN(len(alphabet))]
			}
		}
		var r bytes.Buffer
		got := WriteCanonicalBody(&r, Relaxed, b)
		if want := naiveRelaxedBody(string(b)); r.String() != want || got != int64(len(want)) {
			i := 0
			for i < min(r.Len(), len(want)) && r.String()[i] == want[i] {
				i++
			}
			t.Fatalf("relaxed body of %d bytes: %d bytes (n=%d), oracle %d; first difference at output byte %d: %q vs %q",
				len(b), r.Len(), got, len(want), i, r.String()[i:min(r.Len(), i+20)], want[i:min(len(want), i+20)])
		}
	}
}

// TestSelectFieldsPaths checks that the indexed path of SelectFields (big
// inputs) and the direct one (small inputs) pick the same fields.
func TestSelectFieldsPaths(t *testing.T) {
	var raw strings.Builder
	names := []string{"From", "To", "X-A", "x-b", "Received"}
	for i := 0; i < 300; i++ {
		fmt.Fprintf(&raw, "%s: value %d\r\n", names[i%len(names)], i)
	}
	raw.WriteString("\r\n")
	msg := message.Parse([]byte(raw.String()))
	var h []string
	for i := 0; i < 90; i++ {
		h = append(h, strings.ToUpper(names[(i*7)%len(names)]))
	}
	h = append(h, "missing", "x-a")
	big := SelectFields(msg.Fields, h, nil) // 92 names × 300 fields: indexed
	small := selectSmall(make([][]byte, len(h)), msg.Fields, h, nil)
	for i := range h {
		if !bytes.Equal(big[i], small[i]) {
			t.Fatalf("name %d (%s): %q vs %q", i, h[i], big[i], small[i])
		}
	}
	// Bottom-up: the first "From" is the last From field.
	if got := string(SelectFields(msg.Fields, []string{"from"}, nil)[0]); got != "From: value 295\r\n" {
		t.Errorf("first from = %q", got)
	}
}
