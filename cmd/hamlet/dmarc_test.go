package main

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/hamlet-mail/hamlet/internal/sharedtest"
)

// TestDMARCImportReport: `hamlet dmarc import` of a Maildir holding the
// sample report mails says what it stored, a second import finds only
// duplicates, and `hamlet dmarc report` prints the domain's sources.
func TestDMARCImportReport(t *testing.T) {
	dir := filepath.Join(sharedtest.Dir(t, "conformance/dmarc/parsedmarc-samples"), "aggregate")
	md := t.TempDir()
	for _, s := range []string{"cur", "new", "tmp"} {
		os.Mkdir(filepath.Join(md, s), 0o700)
	}
	emls, _ := filepath.Glob(filepath.Join(dir, "*.eml"))
	for _, f := range emls {
		b, _ := os.ReadFile(f)
		os.WriteFile(filepath.Join(md, "cur", filepath.Base(f)+":2,S"), b, 0o600)
	}
	data := t.TempDir()
	var out, errb bytes.Buffer
	if code := run([]string{"dmarc", "import", "--data", data, md}, nil, &out, &errb); code != exitOK {
		t.Fatalf("import: exit %d\n%s%s", code, out.String(), errb.String())
	}
	if !strings.Contains(out.String(), "3 inputs read") || !strings.Contains(out.String(), "3 new reports (3 records, 3 messages), 0 duplicates, 0 refused") {
		t.Errorf("import summary:\n%s", out.String())
	}
	out.Reset()
	if code := run([]string{"dmarc", "import", "--data", data, "--json", md}, nil, &out, &errb); code != exitOK {
		t.Fatalf("second import: exit %d\n%s", code, errb.String())
	}
	var res struct{ Reports, Duplicates, Inputs int }
	if err := json.Unmarshal(out.Bytes(), &res); err != nil || res.Reports != 0 || res.Duplicates != 3 || res.Inputs != 3 {
		t.Errorf("second import: %+v %v\n%s", res, err, out.String())
	}
	out.Reset()
	// The mimecast report is of 2023-08-30; --since reaches back to it.
	if code := run([]string{"dmarc", "report", "--data", data, "--no-ptr", "ab.id.au", "--since", "3000d"}, nil, &out, &errb); code != exitOK {
		t.Fatalf("report: exit %d\n%s", code, errb.String())
	}
	for _, want := range []string{"DMARC reports for ab.id.au", "1 reports, 1 messages", "Mimecast", "All sources (1)"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("report lacks %q:\n%s", want, out.String())
		}
	}
	out.Reset()
	if code := run([]string{"dmarc", "report", "--data", data, "--no-ptr", "ab.id.au"}, nil, &out, &errb); code != exitOK || !strings.Contains(out.String(), "no reports in this period") {
		t.Errorf("last 7 days: exit %d\n%s", code, out.String())
	}
	out.Reset()
	if code := run([]string{"dmarc", "domains", "--data", data}, nil, &out, &errb); code != exitOK || out.String() != "ab.id.au\nborschow.com\ntwlnet.com\n" {
		t.Errorf("domains: exit %d %q", code, out.String())
	}
}

// TestDMARCImportSamples: `hamlet dmarc import` of both sample
// directories as they are (XML, gzip, zip, mails) reads every file: the
// two broken ones are refused with the file's name and why, and one
// sample repeats another's report id (a duplicate, stored once).
func TestDMARCImportSamples(t *testing.T) {
	root := sharedtest.Dir(t, "conformance/dmarc/parsedmarc-samples")
	dirs := []string{filepath.Join(root, "aggregate"), filepath.Join(root, "aggregate_invalid")}
	var files int
	for _, d := range dirs {
		fs, _ := os.ReadDir(d)
		files += len(fs)
	}
	var out, errb bytes.Buffer
	code := run(append([]string{"dmarc", "import", "--data", t.TempDir(), "--json"}, dirs...), nil, &out, &errb)
	var res struct {
		Reports, Duplicates, Inputs int
		Errors                      []string
	}
	if err := json.Unmarshal(out.Bytes(), &res); code != exitOK || err != nil {
		t.Fatalf("import: exit %d, %v\n%s%s", code, err, out.String(), errb.String())
	}
	t.Logf("hamlet dmarc import of the parsedmarc samples: %d/%d inputs read, %d reports, %d duplicates, %d refused",
		res.Inputs, files, res.Reports, res.Duplicates, len(res.Errors))
	if res.Inputs != files || res.Reports+res.Duplicates+len(res.Errors) != files || res.Duplicates != 1 || len(res.Errors) != 2 {
		t.Errorf("import: %+v of %d files", res, files)
	}
	for _, e := range res.Errors {
		if !strings.Contains(e, "malformed report") || !(strings.Contains(e, "invalid_xml.xml") || strings.Contains(e, "empty.xml")) {
			t.Errorf("refusal %q does not say which file and why", e)
		}
	}
}
