package main

import (
	"bytes"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/hamlet-mail/hamlet/controller"
)

// hamlet config check prints every problem of a file (not only the first)
// and exits 2.
func TestConfigCheckAllProblems(t *testing.T) {
	cfg := writeConfig(t, `[scan]
timeout = "0s"
typo = 1
[greylist]
delay = "soon"
[allowlist]
hostnames = ["co.uk"]
`)
	var out, errb bytes.Buffer
	code := run([]string{"config", "check", "-q", "-c", cfg}, nil, &out, &errb)
	if code != exitConfig {
		t.Fatalf("exit %d\n%s", code, errb.String())
	}
	for _, want := range []string{
		cfg + ":2: scan.timeout: must be positive",
		cfg + ":3: scan.typo: unknown option",
		cfg + `:5: greylist.delay: bad duration "soon"`,
		cfg + `:7: allowlist.hostnames: "co.uk" is a public suffix`,
		"4 problem(s)",
	} {
		if !strings.Contains(errb.String(), want) {
			t.Errorf("missing %q in\n%s", want, errb.String())
		}
	}
	// in the order of the file's lines, as an editor shows them
	last := -1
	for _, line := range []string{":2: ", ":3: ", ":5: ", ":7: "} {
		i := strings.Index(errb.String(), cfg+line)
		if i < last {
			t.Errorf("problem at line %s printed before the one above it:\n%s", line, errb.String())
		}
		last = i
	}
	if out.Len() != 0 {
		t.Errorf("-q printed the configuration:\n%s", out.String())
	}
}

// The configuration printed is the one in effect (the file's values over
// the defaults), and is itself a valid file that gives the same output.
func TestConfigCheckPrintsEffective(t *testing.T) {
	cfg := writeConfig(t, "[scan]\ntimeout = \"7s\"\n[senderscore]\ntag_below = 50\n[milter]\nlisten = [\"0.0.0.0:11332\"]\n"+
		"[[rules]]\nname = \"LOCAL_HELO\"\nfield = \"helo\"\nvalues = [\"bad.example\"]\n")
	var out, errb bytes.Buffer
	if code := run([]string{"config", "check", "-c", cfg}, nil, &out, &errb); code != exitOK {
		t.Fatalf("exit %d\n%s", code, errb.String())
	}
	for _, want := range []string{"timeout = \"7s\"", "tag_below = 50", "[greylist]", "max_inflight_bytes = 268435456", "[[rules]]", `name = "LOCAL_HELO"`} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("effective configuration lacks %q:\n%s", want, out.String())
		}
	}
	if !strings.Contains(errb.String(), `warning: milter.listen "0.0.0.0:11332" is not on loopback`) {
		t.Errorf("no exposure warning:\n%s", errb.String())
	}
	again := filepath.Join(t.TempDir(), "effective.toml")
	if err := os.WriteFile(again, out.Bytes(), 0o600); err != nil {
		t.Fatal(err)
	}
	var out2, errb2 bytes.Buffer
	if code := run([]string{"config", "check", "-c", again}, nil, &out2, &errb2); code != exitOK {
		t.Fatalf("the printed configuration does not load: exit %d\n%s", code, errb2.String())
	}
	strip := func(s string) string { _, rest, _ := strings.Cut(s, "\n"); return rest } // the first line names the file
	if strip(out2.String()) != strip(out.String()) {
		t.Errorf("printing the printed configuration differs:\n%s\n----\n%s", out.String(), out2.String())
	}
	// secrets are not printed
	hash, err := controller.HashPassword("s3cret-Pa55")
	if err != nil {
		t.Fatal(err)
	}
	cfg = writeConfig(t, "[controller]\npassword = \""+hash+"\"\n")
	out.Reset()
	errb.Reset()
	if code := run([]string{"config", "check", "-c", cfg}, nil, &out, &errb); code != exitOK {
		t.Fatalf("exit %d\n%s", code, errb.String())
	}
	if strings.Contains(out.String(), hash) || !strings.Contains(out.String(), `password = "(set, not shown)"`) {
		t.Errorf("password shown or not marked set:\n%s", out.String())
	}
	// nor the password of a Redis URL (the output goes into tickets)
	cfg = writeConfig(t, "store = \"redis://:s3cret-Pa55@127.0.0.1:6379/0\"\n")
	out.Reset()
	errb.Reset()
	if code := run([]string{"config", "check", "-c", cfg}, nil, &out, &errb); code != exitOK {
		t.Fatalf("exit %d\n%s", code, errb.String())
	}
	if strings.Contains(out.String(), "s3cret") || !strings.Contains(out.String(), `store = "redis://:xxxxx@127.0.0.1:6379/0"`) {
		t.Errorf("store password shown or store missing:\n%s", out.String())
	}
}

// A clamd socket that does not exist is a warning of config check (which
// the unit runs before every start), and not one when it exists.
func TestConfigCheckWarnsMissingClamdSocket(t *testing.T) {
	dir := t.TempDir()
	sock := filepath.Join(dir, "clamd.ctl")
	cfg := writeConfig(t, "[antivirus]\nclamd = \"unix:"+sock+"\"\n")
	var out, errb bytes.Buffer
	if code := run([]string{"config", "check", "-q", "-c", cfg}, nil, &out, &errb); code != exitOK {
		t.Fatalf("exit %d\n%s", code, errb.String())
	}
	if !strings.Contains(errb.String(), "warning: antivirus.clamd \"unix:"+sock+"\": no socket at "+sock) {
		t.Errorf("no warning for the missing socket:\n%s", errb.String())
	}
	l, err := net.Listen("unix", sock)
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	errb.Reset()
	if code := run([]string{"config", "check", "-q", "-c", cfg}, nil, &out, &errb); code != exitOK || strings.Contains(errb.String(), "antivirus") {
		t.Errorf("exit %d, warning with the socket there:\n%s", code, errb.String())
	}
}
