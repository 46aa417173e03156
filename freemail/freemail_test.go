package freemail

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestDefault(t *testing.T) {
	s := Default()
	if s.Len() < 100 {
		t.Fatalf("shipped list has %d domains, want at least 100", s.Len())
	}
	for _, tc := range []struct {
		domain string
		want   bool
	}{
		{"gmail.com", true},
		{"GMail.COM.", true},
		{"yahoo.co.uk", true},
		{"mail.ru", true},
		{"example.com", false},
		{"mx.gmail.com", false}, // exact match, as rspamd's email:domain filter
		{"gmail.com.evil.example", false},
		{"", false},
		{"[192.0.2.1]", false},
	} {
		if got := s.Contains(tc.domain); got != tc.want {
			t.Errorf("Contains(%q) = %v, want %v", tc.domain, got, tc.want)
		}
	}
}

func TestParse(t *testing.T) {
	s, err := Parse(strings.NewReader("# comment\n\nExample.ORG  # trailing\nbücher.example\n"), "t")
	if err != nil {
		t.Fatal(err)
	}
	if s.Len() != 2 || !s.Contains("example.org") || !s.Contains("xn--bcher-kva.example") || !s.Contains("BÜCHER.example") {
		t.Fatalf("parsed set wrong: %v", s.domains)
	}
	if s.Contains("gmail.com") {
		t.Error("a file's list replaces the shipped one")
	}
	for _, bad := range []string{"localhost\n", "a..b\n", "[1.2.3.4]\n"} {
		if _, err := Parse(strings.NewReader(bad), "bad.txt"); err == nil || !strings.Contains(err.Error(), "bad.txt:1") {
			t.Errorf("Parse(%q) error = %v, want one naming bad.txt:1", bad, err)
		}
	}
}

func TestLoad(t *testing.T) {
	p := filepath.Join(t.TempDir(), "free.txt")
	if err := os.WriteFile(p, []byte("corp-free.example\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	s, err := Load(p)
	if err != nil || !s.Contains("corp-free.example") {
		t.Fatalf("Load: %v %v", s, err)
	}
	if _, err := Load(filepath.Join(t.TempDir(), "missing")); err == nil {
		t.Error("Load of a missing file did not fail")
	}
}

func TestZeroSet(t *testing.T) {
	var s *Set
	if s.Contains("gmail.com") || s.Len() != 0 {
		t.Error("nil set not empty")
	}
	var z Set
	if err := z.Add("a.example"); err != nil || !z.Contains("a.example") {
		t.Errorf("zero Set Add: %v", err)
	}
}
