package message

import (
	"bytes"
	"os"
	"path/filepath"
	"testing"

	"github.com/hamlet-mail/hamlet/internal/sharedtest"
)

func TestParse(t *testing.T) {
	tests := []struct {
		name      string
		in        string
		fields    []string // names
		body      string
		hasBody   bool
		problems  int
		firstFrom string
	}{
		{"simple", "From: a@example.org\r\nSubject: hi\r\n\r\nbody\r\n", []string{"From", "Subject"}, "body\r\n", true, 0, "a@example.org"},
		{"folded", "Subject: a\r\n  b\r\nFrom: x@y\r\n\r\n", []string{"Subject", "From"}, "", true, 0, "x@y"},
		{"bare LF", "From: a@b\nSubject: s\n\nline\n", []string{"From", "Subject"}, "line\r\n", true, 0, "a@b"},
		{"header only", "From: a@b\r\nSubject: s\r\n", []string{"From", "Subject"}, "", false, 1, "a@b"},
		{"empty", "", nil, "", false, 0, ""},
		{"no header", "\r\nbody only\r\n", nil, "body only\r\n", true, 0, ""},
		{"garbage line ends header", "From: a@b\r\nthis is not a header\r\nmore\r\n", []string{"From"}, "this is not a header\r\nmore\r\n", false, 1, "a@b"},
		{"mbox From_ line", "From sender@x Mon Jan  1 00:00:00 2024\nFrom: a@b\n\nx\n", []string{"From"}, "x\r\n", true, 0, "a@b"},
		{"leading continuation", " folded\r\nFrom: a@b\r\n\r\n", nil, " folded\r\nFrom: a@b\r\n\r\n", false, 1, ""},
		{"binary", "From: a@b\r\n\r\n\x00\xff\xfe", []string{"From"}, "\x00\xff\xfe", true, 1, "a@b"},
		{"space before colon", "Subject : x\r\n\r\n", []string{"Subject"}, "", true, 0, ""},
		{"truncated mid-field", "From: a@b\r\nSubj", []string{"From"}, "Subj", false, 1, "a@b"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m := Parse([]byte(tt.in))
			var names []string
			for _, f := range m.Fields {
				names = append(names, f.Name)
			}
			if len(names) != len(tt.fields) {
				t.Fatalf("fields = %q, want %q", names, tt.fields)
			}
			for i := range names {
				if names[i] != tt.fields[i] {
					t.Fatalf("fields = %q, want %q", names, tt.fields)
				}
			}
			if string(m.Body) != tt.body || m.HasBody != tt.hasBody {
				t.Errorf("body = %q (has %v), want %q (%v)", m.Body, m.HasBody, tt.body, tt.hasBody)
			}
			if len(m.Problems) != tt.problems {
				t.Errorf("problems = %q, want %d", m.Problems, tt.problems)
			}
			if from, _ := m.First("from"); from != tt.firstFrom {
				t.Errorf("From = %q, want %q", from, tt.firstFrom)
			}
		})
	}
}

func TestFieldValues(t *testing.T) {
	m := Parse([]byte("Subject: hello\r\n\tworld \r\nX: y\r\n\r\n"))
	f := m.Get("SUBJECT")[0]
	if string(f.Raw) != "Subject: hello\r\n\tworld \r\n" {
		t.Errorf("raw = %q", f.Raw)
	}
	if f.Value() != " hello\r\n\tworld " || f.Unfolded() != "hello\tworld" {
		t.Errorf("value = %q unfolded = %q", f.Value(), f.Unfolded())
	}
	if got := string(m.HeaderBytes()); got != "Subject: hello\r\n\tworld \r\nX: y\r\n" {
		t.Errorf("header bytes = %q", got)
	}
}

// TestLossless checks that fields and body put back together give the
// CRLF form of the input.
func TestLossless(t *testing.T) {
	in := "Received: from x\r\n by y\r\nFrom: a@b\r\n\r\nbody\r\n.\r\n"
	m := Parse([]byte(in))
	var b bytes.Buffer
	for _, f := range m.Fields {
		b.Write(f.Raw)
	}
	b.WriteString("\r\n")
	b.Write(m.Body)
	if b.String() != in {
		t.Fatalf("reassembled %q", b.String())
	}
}

// TestCorpus parses every message of the shared SpamAssassin fixtures: each
// must give at least one header field or a problem, and lose nothing.
func TestCorpus(t *testing.T) {
	dir := sharedtest.Dir(t, "corpus/spamassassin-testdata")
	n := 0
	err := filepath.Walk(dir, func(path string, info os.FileInfo, err error) error {
		if err != nil || info.IsDir() {
			return err
		}
		switch filepath.Base(path) {
		case "LICENSE", "NOTICE", "SOURCE.md":
			return nil
		}
		raw, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		m := Parse(raw)
		n++
		if len(m.Fields) == 0 && len(m.Problems) == 0 && len(bytes.TrimSpace(raw)) > 0 {
			t.Errorf("%s: no fields and no problem reported", path)
		}
		if len(m.Raw) < len(raw) {
			t.Errorf("%s: parsed message shorter than input", path)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if n < 100 {
		t.Fatalf("only %d corpus messages found", n)
	}
	t.Logf("parsed %d corpus messages", n)
}

func FuzzParse(f *testing.F) {
	for _, s := range []string{
		"", "\r\n", "From: a@b\r\n\r\nx", "From: a\n b\n\nbody", " x\r\n", "a:b\r\n\r", "From ",
		"From x\r\nA: b\r\n\r\n", "X:\r\n\r\n\r\n", "\x00:\x00\r\n", "A: b\r\n\tc\r\n d\r\n\r\n",
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, raw []byte) {
		m := Parse(raw)
		var total int
		for _, fl := range m.Fields {
			if len(fl.Raw) == 0 || fl.Name == "" {
				t.Fatalf("empty field %+v", fl)
			}
			total += len(fl.Raw)
			_ = fl.Unfolded()
		}
		if total+len(m.Body) > len(m.Raw) {
			t.Fatalf("fields (%d) and body (%d) exceed message (%d)", total, len(m.Body), len(m.Raw))
		}
		if m.HasBody && !bytes.HasSuffix(m.Raw[:len(m.Raw)-len(m.Body)], []byte("\r\n\r\n")) && total > 0 {
			t.Fatalf("body does not follow an empty line")
		}
		_ = m.HeaderBytes()
	})
}
