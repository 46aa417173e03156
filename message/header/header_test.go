package header

import (
	"strings"
	"testing"
)

// lines splits a folded value, the first line prefixed by "name: ", and
// checks that every fold is CRLF TAB.
func lines(t *testing.T, name, v string) []string {
	t.Helper()
	ls := strings.Split(name+": "+v, "\r\n")
	for _, l := range ls[1:] {
		if !strings.HasPrefix(l, "\t") {
			t.Errorf("fold without tab: %q", l)
		}
	}
	return ls
}

func width(l string) int { return len(l) + 7*strings.Count(l, "\t") }

func TestWriterFolds(t *testing.T) {
	w := NewWriter("DKIM-Signature")
	words := []string{"v=1;", "a=rsa-sha256;", "c=relaxed/relaxed;", "d=example.org;", "s=sel;", "t=1700000000;",
		"h=from:to:subject:date:message-id:reply-to:cc:mime-version;", "bh=" + strings.Repeat("A", 43) + "=;"}
	for _, s := range words {
		w.Word(s)
	}
	w.Word("b=")
	w.Base64(strings.Repeat("Q", 344))
	got := w.String()
	ls := lines(t, "DKIM-Signature", got)
	for _, l := range ls {
		if width(l) > Width {
			t.Errorf("line of %d columns: %q", width(l), l)
		}
	}
	// Nothing but folds was added: the words, in order, are all there.
	flat := strings.ReplaceAll(got, "\r\n\t", " ")
	if want := strings.Join(words, " ") + " b=" + strings.Repeat("Q", 344); strings.ReplaceAll(flat, " ", "") != strings.ReplaceAll(want, " ", "") {
		t.Errorf("content changed:\n%s\n%s", flat, want)
	}
	// Words are never split: each word stands whole on one line.
	for _, s := range words {
		found := false
		for _, l := range ls {
			found = found || strings.Contains(l, s)
		}
		if !found {
			t.Errorf("word %q split across lines", s)
		}
	}
	// The b= value fills each line to Width: 344 characters need
	// ceil((344 - room on the b= line) / 70) more lines.
	if n := strings.Count(got, "\r\n\t"); n < 5 || n > 8 {
		t.Errorf("%d folds", n)
	}
}

func TestWriterLongWordAndNewLine(t *testing.T) {
	w := NewWriter("X")
	long := strings.Repeat("d", 120)
	w.Word("a;")
	w.Word(long)
	w.NewLine()
	w.Word("b")
	w.Append(";")
	want := "a;\r\n\t" + long + "\r\n\tb;"
	if got := w.String(); got != want {
		t.Errorf("got %q, want %q", got, want)
	}
	if w.Col() != 10 {
		t.Errorf("Col = %d, want 10", w.Col())
	}
	// A word that fits stays on the line, with one space.
	w = NewWriter("Authentication-Results")
	w.Word("mx.example.org;")
	w.Word("none")
	if got := w.String(); got != "mx.example.org; none" {
		t.Errorf("got %q", got)
	}
}

func TestTokens(t *testing.T) {
	for _, c := range []struct {
		s               string
		token, dotAtom  bool
		quoted, quotedQ string
		comment         string
	}{
		{"pass", true, true, `"pass"`, `"pass"`, "pass"},
		{"a.b", true, true, `"a.b"`, `"a.b"`, "a.b"},
		{"a@b", false, false, `"a@b"`, `"a@b"`, "a@b"},
		{".a", true, false, `".a"`, `".a"`, ".a"},
		{"a..b", true, false, `"a..b"`, `"a..b"`, "a..b"},
		{"", false, false, `""`, `""`, ""},
		{`say "hi"\now`, false, false, `"say \"hi\"\\now"`, `"say \"hi\"\\now"`, `say "hi"\\now`},
		{"a\r\nb(c)", false, false, "\"a  b(c)\"", "\"a??b(c)\"", `a  b\(c\)`},
		{"ü", false, false, "\"ü\"", `"??"`, "ü"},
		{"x=y", false, true, `"x=y"`, `"x=y"`, "x=y"},
	} {
		if got := IsToken(c.s); got != c.token {
			t.Errorf("IsToken(%q) = %v", c.s, got)
		}
		if got := IsDotAtom(c.s); got != c.dotAtom {
			t.Errorf("IsDotAtom(%q) = %v", c.s, got)
		}
		if got := Quote(c.s, ' '); got != c.quoted {
			t.Errorf("Quote(%q, ' ') = %s, want %s", c.s, got, c.quoted)
		}
		if got := Quote(c.s, '?'); got != c.quotedQ {
			t.Errorf("Quote(%q, '?') = %s, want %s", c.s, got, c.quotedQ)
		}
		if got := CommentText(c.s, ' '); got != c.comment {
			t.Errorf("CommentText(%q) = %s, want %s", c.s, got, c.comment)
		}
	}
}

// FuzzWriter: whatever the words, the value unfolds to the words joined
// by single spaces, no line passes Width unless it holds one word longer
// than a line, and a value never carries a bare CR or LF.
func FuzzWriter(f *testing.F) {
	f.Add("a=b; c=d; " + strings.Repeat("x", 90) + " e")
	f.Add("")
	f.Add("one")
	f.Fuzz(func(t *testing.T, s string) {
		words := strings.Fields(s)
		w := NewWriter("Name")
		for _, x := range words {
			w.Word(x)
		}
		got := w.String()
		if strings.ReplaceAll(got, "\r\n\t", " ") != strings.Join(words, " ") {
			t.Fatalf("words %q written as %q", words, got)
		}
		for _, l := range strings.Split("Name: "+got, "\r\n\t") {
			if width(l) > Width && len(strings.Fields(l)) > 1 && !strings.HasPrefix(l, "Name: ") {
				t.Fatalf("line %q passes %d with a fold possible", l, Width)
			}
		}
	})
}
