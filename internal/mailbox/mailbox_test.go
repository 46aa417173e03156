package mailbox

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

func collect(t *testing.T, stdin string, paths ...string) []Message {
	t.Helper()
	var out []Message
	err := Walk(paths, strings.NewReader(stdin), func(m Message) error {
		out = append(out, m)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func write(t *testing.T, path, text string) {
	t.Helper()
	os.MkdirAll(filepath.Dir(path), 0o755)
	if err := os.WriteFile(path, []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
}

func TestMbox(t *testing.T) {
	box := "From a@example.org Mon Mar  2 10:00:00 2026\nSubject: one\n\nbody 1\n>From the start\n\n" +
		"From b@example.org Mon Mar  2 10:00:01 2026\nSubject: two\n\nFrom here on not a separator\n\n" +
		"From c@example.org Mon Mar  2 10:00:02 2026\r\nSubject: three\r\n\r\nlast\r\n"
	p := filepath.Join(t.TempDir(), "box")
	write(t, p, box)
	ms := collect(t, "", p)
	if len(ms) != 3 {
		t.Fatalf("%d messages, want 3", len(ms))
	}
	want := []string{
		"Subject: one\n\nbody 1\nFrom the start\n",
		"Subject: two\n\nFrom here on not a separator\n",
		"Subject: three\r\n\r\nlast\r\n",
	}
	for i, m := range ms {
		if string(m.Raw) != want[i] {
			t.Errorf("message %d = %q, want %q", i+1, m.Raw, want[i])
		}
	}
	if ms[1].Source != p+"#2" {
		t.Errorf("source %q", ms[1].Source)
	}
	// From stdin too.
	if ms := collect(t, box, "-"); len(ms) != 3 {
		t.Errorf("stdin mbox: %d messages", len(ms))
	}
}

func TestMaildirAndDirs(t *testing.T) {
	root := t.TempDir()
	md := filepath.Join(root, "Maildir")
	write(t, filepath.Join(md, "cur", "1:2,S"), "Subject: a\n\nx\n")
	write(t, filepath.Join(md, "new", "2"), "Subject: b\n\nx\n")
	write(t, filepath.Join(md, "tmp", "3"), "Subject: in delivery\n\nx\n")
	write(t, filepath.Join(md, "dovecot-uidlist"), "3 V1 N2\n")
	write(t, filepath.Join(md, "dovecot.index.log"), "binary")
	write(t, filepath.Join(md, ".Junk", "cur", "4"), "Subject: junk\n\nx\n")
	write(t, filepath.Join(md, ".Junk", "maildirfolder"), "")
	names := func(ms []Message) []string {
		var s []string
		for _, m := range ms {
			s = append(s, strings.TrimPrefix(m.Source, root+"/"))
		}
		return s
	}
	if got := names(collect(t, "", md)); !slices.Equal(got, []string{"Maildir/cur/1:2,S", "Maildir/new/2"}) {
		t.Errorf("Maildir: %v", got)
	}
	// Its Junk folder when named.
	if got := names(collect(t, "", filepath.Join(md, ".Junk"))); !slices.Equal(got, []string{"Maildir/.Junk/cur/4"}) {
		t.Errorf(".Junk: %v", got)
	}
	// A plain directory tree, and a single file.
	write(t, filepath.Join(root, "plain", "x", "m1.eml"), "Subject: p\n\nx\n")
	write(t, filepath.Join(root, "plain", "README.md"), "not mail")
	if got := names(collect(t, "", filepath.Join(root, "plain"), filepath.Join(md, "new", "2"))); !slices.Equal(got, []string{"plain/x/m1.eml", "Maildir/new/2"}) {
		t.Errorf("dirs and files: %v", got)
	}
	if err := Walk([]string{filepath.Join(root, "nosuch")}, nil, func(Message) error { return nil }); err == nil {
		t.Error("a missing path is not an error")
	}
}

func TestStop(t *testing.T) {
	p := filepath.Join(t.TempDir(), "box")
	write(t, p, "From a Mon Mar  2 10:00:00 2026\nS: 1\n\nFrom b Mon Mar  2 10:00:00 2026\nS: 2\n")
	n := 0
	err := Walk([]string{p}, nil, func(Message) error { n++; return ErrStop })
	if err != nil || n != 1 {
		t.Errorf("ErrStop: %v after %d", err, n)
	}
}

func FuzzMbox(f *testing.F) {
	f.Add("From a Mon Mar  2 10:00:00 2026\nx\n\nFrom b Mon Mar  2 10:00:00 2026\n>From c\n")
	f.Add("From \n\n\n\nFrom ")
	f.Fuzz(func(t *testing.T, s string) {
		total := 0
		readStream("fuzz", strings.NewReader(s), func(m Message) error {
			total += len(m.Raw)
			return nil
		})
		if total > len(s) {
			t.Fatalf("messages hold %d bytes of a %d-byte mbox", total, len(s))
		}
	})
}
